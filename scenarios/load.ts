import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import {
  ZodArray,
  ZodDefault,
  ZodDiscriminatedUnion,
  ZodEffects,
  type ZodIssue,
  ZodObject,
  ZodOptional,
  type ZodRawShape,
  type ZodTypeAny,
} from 'zod';
import { ScenarioError, UsageError } from '../core/errors.ts';
import { notTextReason, parseJson } from '../core/text-file.ts';
import { type Scenario, scenarioSchema } from './schema.ts';
import { SECRET_MASK, isSecretField } from './secrets.ts';

export const BUILTIN_DIR = dirname(fileURLToPath(import.meta.url));
const EXTENSIONS = ['.yaml', '.yml', '.json'];

/** A scenario file by its name: YAML or JSON, but not the JSON Schema beside them (scenario.schema.json). */
export const isScenarioFileName = (f: string) =>
  EXTENSIONS.includes(extname(f)) && !f.endsWith('.schema.json');

export interface LoadedScenario {
  scenario: Scenario;
  /** The file it came from. */
  file: string;
}

/** The built-in scenarios: every YAML or JSON file in scenarios/. */
export function listScenarios(dir = BUILTIN_DIR): LoadedScenario[] {
  return readdirSync(dir)
    .filter(isScenarioFileName)
    .sort()
    .map((f) => loadScenarioFile(join(dir, f)));
}

/**
 * Run-time parameters: `path=value` pairs set into the scenario before it is validated
 * (`probes.0.rateHz=500`, `faults.0.durationMs=8000`, `stack.pg.replication=sync`). The path is
 * dot-separated, a number indexes a list; the value is read as YAML (`500` a number, `true` a
 * boolean, `[a, b]` a list, anything else a string). Later pairs win.
 */
export type Overrides = readonly (readonly [path: string, value: string])[];

/** Parses `--set path=value`; `where` names the flag for the error. */
export function parseOverride(text: string, where = '--set'): readonly [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0)
    throw new UsageError('BAD_OVERRIDE', `${where} ${JSON.stringify(text)} is not path=value`, {
      hint: 'for example --set probes.0.rateHz=500 or --set faults.0.durationMs=8000',
    });
  return [text.slice(0, eq).trim(), text.slice(eq + 1)] as const;
}

/** The `path: value` pairs of a --vars file (a YAML mapping). */
export function readVarsFile(file: string): Overrides {
  const abs = resolve(file);
  if (!existsSync(abs))
    throw new UsageError('VARS_NOT_FOUND', `--vars file ${abs} does not exist`, { hint: 'check the path' });
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(abs, 'utf8'));
  } catch (err) {
    throw new UsageError(
      'VARS_SYNTAX',
      `--vars ${abs}: cannot parse: ${(err as Error).message.split('\n')[0]}`,
      {
        hint: 'a --vars file is a YAML mapping of path: value, e.g. `probes.0.rateHz: 500`',
      },
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new UsageError('VARS_NOT_A_MAPPING', `--vars ${abs} is not a YAML mapping of path: value`, {
      hint: 'for example `probes.0.rateHz: 500` on its own line',
    });
  return Object.entries(raw as Record<string, unknown>).map(
    ([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)] as const,
  );
}

/** Sets each override into the raw scenario (a copy); a path that crosses a value is an error. */
export function applyOverrides(raw: unknown, overrides: Overrides, file: string): unknown {
  if (!overrides.length) return raw;
  const out = structuredClone(raw) as Record<string, unknown>;
  for (const [path, text] of overrides) {
    const keys = path.split('.');
    if (keys.some((k) => k === ''))
      throw new UsageError('BAD_OVERRIDE', `--set ${path}: an empty part in the path`, {
        hint: 'parts are separated by single dots',
      });
    let at: Record<string, unknown> | unknown[] = out;
    keys.forEach((k, i) => {
      const last = i === keys.length - 1;
      const container = at as Record<string, unknown>;
      if (Array.isArray(at) && !/^\d+$/.test(k))
        throw new UsageError(
          'BAD_OVERRIDE',
          `--set ${path}: ${keys.slice(0, i).join('.')} is a list in ${file}; index it with a number`,
          {
            hint: `for example ${keys.slice(0, i).join('.')}.0.${k}`,
          },
        );
      if (Array.isArray(at) && Number(k) > at.length)
        throw new UsageError(
          'BAD_OVERRIDE',
          `--set ${path}: ${keys.slice(0, i).join('.')} has ${at.length} entries in ${file}`,
          {
            hint: `indexes go from 0 to ${at.length - 1}`,
          },
        );
      if (last) {
        container[k] = parseYaml(text) as unknown;
        return;
      }
      const next = container[k];
      if (next === undefined) container[k] = {};
      else if (next === null || typeof next !== 'object')
        throw new UsageError(
          'BAD_OVERRIDE',
          `--set ${path}: ${keys.slice(0, i + 1).join('.')} is a value (${isSecretField(k) ? SECRET_MASK : JSON.stringify(next)}) in ${file}, not a mapping`,
          {
            hint: 'set the value itself, or a field of a mapping',
          },
        );
      at = container[k] as Record<string, unknown>;
    });
  }
  return out;
}

/** A scenario by built-in name (`redis-head-kill`) or by path to a file, with run-time parameters. */
export function loadScenario(
  nameOrPath: string,
  dir = BUILTIN_DIR,
  overrides: Overrides = [],
): LoadedScenario {
  const looksLikePath = nameOrPath.includes('/') || EXTENSIONS.includes(extname(nameOrPath));
  if (looksLikePath) {
    const file = resolve(nameOrPath);
    if (!existsSync(file)) {
      throw new UsageError('SCENARIO_FILE_NOT_FOUND', `scenario file ${file} does not exist`, {
        hint: 'check the path, or give a built-in name from `chaos list`',
      });
    }
    return loadScenarioFile(file, overrides);
  }
  for (const ext of EXTENSIONS) {
    const file = join(dir, nameOrPath + ext);
    if (existsSync(file)) return loadScenarioFile(file, overrides);
  }
  const known = readdirSync(dir)
    .filter(isScenarioFileName)
    .map((f) => basename(f, extname(f)));
  throw new UsageError('UNKNOWN_SCENARIO', `unknown scenario '${nameOrPath}'; known: ${known.join(', ')}`, {
    hint: 'run `chaos list`, or give a path to a scenario file',
  });
}

export function loadScenarioFile(file: string, overrides: Overrides = []): LoadedScenario {
  const raw = readScenarioRaw(file);
  const label = overrides.length ? `${file} (with ${overrides.map(([p]) => p).join(', ')} set)` : file;
  return { scenario: validateScenario(applyOverrides(raw, overrides, file), label), file };
}

/** A scenario file's content as data: a mapping, or an error saying why it is none. */
function readScenarioRaw(file: string): Record<string, unknown> {
  if (statSync(file).isDirectory()) {
    throw new UsageError('SCENARIO_IS_A_FOLDER', `${file} is a folder, not a scenario file`, {
      hint: 'give a YAML or JSON file inside it, or a built-in name from `chaos list`',
    });
  }
  const bytes = readFileSync(file);
  const notText = notTextReason(bytes);
  if (notText)
    throw new ScenarioError('SCENARIO_NOT_TEXT', `${file}: ${notText}`, {
      hint: 'a scenario is a YAML or JSON mapping (name:, stack:, probes:, faults:); `chaos list` names the built-in ones to copy',
    });
  let raw: unknown;
  try {
    const text = bytes.toString('utf8');
    raw = extname(file) === '.json' ? parseJson(text) : parseYaml(text);
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
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ScenarioError(
      'SCENARIO_NOT_A_MAPPING',
      `${file}: a scenario is a mapping of fields (name:, stack:, probes:, faults:), and this file holds ${Array.isArray(raw) ? 'a list' : raw === null ? 'nothing' : `a ${typeof raw}`}`,
      { hint: 'start from a built-in scenario (`chaos list`, scenarios/*.yaml)' },
    );
  return raw as Record<string, unknown>;
}

export function validateScenario(raw: unknown, file: string): Scenario {
  const parsed = scenarioSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = problemLines(parsed.error.issues, raw);
  const shown = lines.slice(0, 3).join('; ');
  const more = lines.length > 3 ? ` (and ${lines.length - 3} more)` : '';
  throw new ScenarioError('SCENARIO_INVALID', `${file}: ${shown}${more}`, {
    hint: 'see docs/scenarios.md for every field and its meaning (`chaos schema` for editors)',
  });
}

/**
 * Every problem of a scenario file, one sentence each (for `chaos validate`): what cannot be read
 * at all, or each field the schema refuses. Empty when it is valid.
 */
export function scenarioProblems(file: string): string[] {
  let raw: unknown;
  try {
    raw = readScenarioRaw(file);
  } catch (err) {
    return [(err as Error).message];
  }
  const parsed = scenarioSchema.safeParse(raw);
  return parsed.success ? [] : problemLines(parsed.error.issues, raw).map((l) => `${file}: ${l}`);
}

function problemLines(all: readonly ZodIssue[], raw: unknown): string[] {
  // A misspelt field shows up twice: as an unknown key and as a required one missing. Say the
  // unknown key with its suggestion, and drop the "required" issue it explains.
  const issues = [...all].sort(
    (x, y) => Number(y.code === 'unrecognized_keys') - Number(x.code === 'unrecognized_keys'),
  );
  const explained = new Set<ZodIssue>();
  const lines: string[] = [];
  for (const issue of issues) {
    if (explained.has(issue)) continue;
    if (issue.code === 'unrecognized_keys') {
      const missing = issues.filter(
        (i) =>
          i.code === 'invalid_type' &&
          i.received === 'undefined' &&
          i.path.length === issue.path.length + 1 &&
          issue.path.every((p, k) => i.path[k] === p),
      );
      for (const m of missing) explained.add(m);
      const known = knownFields(issue.path, raw);
      const kind = kindAt(issue.path, raw);
      // A field another kind has (a redis-writer's commandTimeoutMs on a pg-writer) is no typo:
      // list what this kind has instead of guessing by spelling.
      const elsewhere = kind ? new Set(knownFields(issue.path)) : new Set<string>();
      const suggestions = issue.keys
        .filter((k) => !elsewhere.has(k))
        .map((k) => closest(k, known))
        .filter((k): k is string => k !== undefined);
      lines.push(
        describeIssue(issue) +
          (suggestions.length
            ? `; did you mean ${suggestions.map((k) => `'${k}'`).join(', ')}?`
            : kind
              ? `; a ${kind} has ${known.filter((k) => k !== 'kind').join(', ')}`
              : ''),
      );
    } else {
      lines.push(describeIssue(issue));
    }
  }
  return lines;
}

/** The value of the raw scenario at a path, if there is one. */
function rawAt(raw: unknown, path: readonly (string | number)[]): unknown {
  let v = raw;
  for (const p of path)
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** The `kind` of the object at a path (a probe's), where it names one. */
function kindAt(path: readonly (string | number)[], raw: unknown): string | undefined {
  const kind = (rawAt(raw, path) as { kind?: unknown } | undefined)?.kind;
  return typeof kind === 'string' ? kind : undefined;
}

/**
 * The field names the schema allows at a path of the scenario (an object's keys). Where the
 * schema is a union by `kind` (probes), the option the raw object's kind names: a pg-writer's
 * fields, not every probe's.
 */
function knownFields(path: (string | number)[], raw?: unknown): string[] {
  let s: ZodTypeAny | undefined = unwrap(scenarioSchema);
  for (const [i, p] of path.entries()) {
    if (s instanceof ZodDiscriminatedUnion) s = optionFor(s, path.slice(0, i), raw);
    if (s === undefined) return [];
    if (s instanceof ZodDiscriminatedUnion) return unionFields(s, path.slice(i));
    if (s instanceof ZodObject) s = unwrap(s.shape[p as string]);
    else if (s instanceof ZodArray) s = unwrap(s.element);
    else return [];
  }
  if (s instanceof ZodDiscriminatedUnion) s = optionFor(s, path, raw);
  if (s instanceof ZodDiscriminatedUnion) return unionFields(s, []);
  return s instanceof ZodObject ? Object.keys(s.shape) : [];
}

/** The option of a union by `kind` that the raw object at `path` names, or the union itself. */
function optionFor(
  u: ZodDiscriminatedUnion<string, ZodObject<ZodRawShape>[]>,
  path: readonly (string | number)[],
  raw: unknown,
): ZodTypeAny {
  const kind = kindAt(path, raw);
  return (kind !== undefined && u.optionsMap.get(kind)) || u;
}

/** The fields any option of a union allows at a path (a probe of any kind). */
function unionFields(
  u: ZodDiscriminatedUnion<string, ZodObject<ZodRawShape>[]>,
  rest: (string | number)[],
): string[] {
  const out = new Set<string>();
  for (const option of u.options) {
    let s: ZodTypeAny | undefined = option;
    for (const p of rest) s = s instanceof ZodObject ? unwrap(s.shape[p as string]) : undefined;
    if (s instanceof ZodObject) for (const k of Object.keys(s.shape)) out.add(k);
  }
  return [...out];
}

function unwrap(schema: ZodTypeAny | undefined): ZodTypeAny | undefined {
  let s = schema;
  for (;;) {
    if (s instanceof ZodDefault) s = s._def.innerType;
    else if (s instanceof ZodOptional) s = s.unwrap();
    else if (s instanceof ZodEffects) s = s.innerType();
    else return s;
  }
}

/** The known name nearest to a misspelt one (edit distance at most a third of its length). */
function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
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
  if (issue.path.length === 0) return issue.message;
  return `field '${at}': ${issue.message}`;
}
