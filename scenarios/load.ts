import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { ZodIssue } from 'zod';
import { ScenarioError, UsageError } from '../engine/errors.ts';
import { type Scenario, scenarioSchema } from './schema.ts';

export const BUILTIN_DIR = dirname(fileURLToPath(import.meta.url));
const EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface LoadedScenario {
  scenario: Scenario;
  /** The file it came from. */
  file: string;
}

/** The built-in scenarios: every YAML or JSON file in scenarios/. */
export function listScenarios(dir = BUILTIN_DIR): LoadedScenario[] {
  return readdirSync(dir)
    .filter((f) => EXTENSIONS.includes(extname(f)))
    .sort()
    .map((f) => loadScenarioFile(join(dir, f)));
}

/** A scenario by built-in name (`redis-head-kill`) or by path to a file. */
export function loadScenario(nameOrPath: string, dir = BUILTIN_DIR): LoadedScenario {
  const looksLikePath = nameOrPath.includes('/') || EXTENSIONS.includes(extname(nameOrPath));
  if (looksLikePath) {
    const file = resolve(nameOrPath);
    if (!existsSync(file)) {
      throw new UsageError('SCENARIO_FILE_NOT_FOUND', `scenario file ${file} does not exist`, {
        hint: 'check the path, or give a built-in name from `chaos list`',
      });
    }
    return loadScenarioFile(file);
  }
  for (const ext of EXTENSIONS) {
    const file = join(dir, nameOrPath + ext);
    if (existsSync(file)) return loadScenarioFile(file);
  }
  const known = readdirSync(dir)
    .filter((f) => EXTENSIONS.includes(extname(f)))
    .map((f) => basename(f, extname(f)));
  throw new UsageError('UNKNOWN_SCENARIO', `unknown scenario '${nameOrPath}'; known: ${known.join(', ')}`, {
    hint: 'run `chaos list`, or give a path to a scenario file',
  });
}

export function loadScenarioFile(file: string): LoadedScenario {
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ScenarioError(
      'SCENARIO_SYNTAX',
      `${file}: cannot parse: ${(err as Error).message.split('\n')[0]}`,
      {
        hint: 'fix the YAML/JSON syntax at the position given',
        cause: err,
      },
    );
  }
  return { scenario: validateScenario(raw, file), file };
}

export function validateScenario(raw: unknown, file: string): Scenario {
  const parsed = scenarioSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  // A misspelt field shows up twice: as an unknown key and as a missing one. Name the unknown
  // key first, with the missing one as the suggestion.
  const issues = [...parsed.error.issues].sort(
    (x, y) => Number(y.code === 'unrecognized_keys') - Number(x.code === 'unrecognized_keys'),
  );
  const first = issues[0]!;
  if (first.code === 'unrecognized_keys') {
    const missing = issues
      .filter(
        (i) =>
          i.code === 'invalid_type' && i.received === 'undefined' && i.path.length === first.path.length + 1,
      )
      .filter((i) => first.path.every((p, k) => i.path[k] === p))
      .map((i) => String(i.path.at(-1)));
    if (missing.length) {
      throw new ScenarioError(
        'SCENARIO_INVALID',
        `${file}: ${describeIssue(first)}; did you mean '${missing[0]}'?`,
        {
          hint: 'see scenarios/schema.ts for every field and its meaning',
        },
      );
    }
  }
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw new ScenarioError('SCENARIO_INVALID', `${file}: ${describeIssue(first)}${more}`, {
    hint: 'see scenarios/schema.ts for every field and its meaning',
  });
}

function describeIssue(issue: ZodIssue): string {
  const at = issue.path.length
    ? issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
        .join('')
        .slice(1)
    : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')} in ${at}`;
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return `field '${at}' is required`;
  return `field '${at}': ${issue.message}`;
}
