import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ZodTypeDef } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import { MAX_DURATION_MS, MS_DESCRIPTION } from '../core/durations.ts';
import { FAULTS, FAULT_ACTIONS } from '../core/faults.ts';
import { SYSTEMS } from '../systems/index.ts';
import { scenarioSchema } from './schema.ts';

/**
 * The scenario format's two generated views, both from the zod schema (scenarios/schema.ts and
 * each system's spec, assembled from the systems' registration), where every field's meaning is
 * written once, as its `.describe()`:
 * - the JSON Schema (`chaos schema`, scenarios/scenario.schema.json) that editors check scenario
 *   files against as they are typed;
 * - the field reference page (docs/scenarios.md).
 * `npm run schema` writes both; a test fails when either is not what this module makes now.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
export const SCHEMA_FILE = join(HERE, 'scenario.schema.json');
export const DOCS_FILE = join(HERE, '..', 'docs', 'scenarios.md');
export const REGENERATE = 'npm run schema';

/** A JSON Schema node, as far as this module reads one. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  discriminator?: { propertyName: string };
  [keyword: string]: unknown;
}

/**
 * The scenario format as a JSON Schema (draft-07): every object strict (`additionalProperties:
 * false`, so an editor flags a misspelt field), defaults shown, probes a union on `kind`. What
 * one field cannot say of another (a partition needs `from`, a target must name a role of a
 * system of the stack) is left to `chaos validate`, which checks all of it.
 */
export function scenarioJsonSchema(): JsonSchema {
  const generated = zodToJsonSchema(scenarioSchema, {
    // Inline every field: a reader (or an editor's hover) sees each one where it is.
    $refStrategy: 'none',
    // A refinement checks what a file holds; the schema of what is written is its input.
    effectStrategy: 'input',
    postProcess: (schema, def) => {
      // A union on `kind`: exactly one probe kind matches, picked by its `kind`.
      if (schema && 'anyOf' in schema && isDiscriminatedUnion(def)) {
        const { anyOf, ...rest } = schema as JsonSchema;
        return {
          type: 'object',
          ...rest,
          oneOf: anyOf,
          discriminator: { propertyName: def.discriminator },
        } as never;
      }
      return schema;
    },
  }) as JsonSchema;
  const { $schema, ...body } = generated;
  const stack = body.properties?.stack;
  // The stack's refinement (at least one system), which no field says on its own.
  if (stack) stack.minProperties = 1;
  return { $schema, title: 'chaos-harness scenario', ...body };
}

function isDiscriminatedUnion(def: ZodTypeDef): def is ZodTypeDef & { discriminator: string } {
  return (def as { typeName?: string }).typeName === 'ZodDiscriminatedUnion';
}

/** The JSON Schema as written to scenarios/scenario.schema.json and printed by `chaos schema`. */
export function scenarioJsonSchemaText(): string {
  return `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// The field reference page

/** A scenario to start from, shown at the top of the page (a test checks that it is valid). */
export const WORKED_EXAMPLE = `# yaml-language-server: $schema=../scenarios/scenario.schema.json
name: my-redis-head-kill
description: Kill the head of a 3-node Redis chain under load; nothing acknowledged may be lost.
stack:
  redis:
    nodes: 3
    failoverThresholdMs: 1000
probes:
  - kind: redis-writer
    name: writes
    rateHz: 200
steadyState:
  durationMs: 2000
faults:
  - at: 0
    action: kill
    target: redis:head
observeMs: 4000
expect:
  maxFailoverMs: 3000
  maxLostWrites: 0
`;

const UNITS: [RegExp, string][] = [
  [/(Ms|Millis)$/, 'ms'],
  [/Hz$/, 'Hz'],
  [/KBps$/, 'kB/s'],
  [/Bytes$/, 'bytes'],
  [/^percent$/, '%'],
  [/Ratio$/, 'share, 0 to 1'],
];

/** A field's unit: durations (the `ms()` helper, at most 24 h, or a name in Ms) and the names' suffixes. */
export function unitOf(name: string, schema: JsonSchema): string {
  if (schema.maximum === MAX_DURATION_MS) return 'ms';
  return UNITS.find(([re]) => re.test(name))?.[1] ?? '';
}

/** A field's description, or none where the field says only what its helper says. */
export function meaningOf(schema: JsonSchema): string | undefined {
  const d = schema.description;
  return d && d !== MS_DESCRIPTION ? d : undefined;
}

const code = (v: unknown) => `\`${typeof v === 'string' && v !== '' ? v : JSON.stringify(v)}\``;

function range(s: JsonSchema): string {
  const max = s.maximum === MAX_DURATION_MS ? undefined : s.maximum;
  if (s.minimum !== undefined && max !== undefined) return ` ${s.minimum} to ${max}`;
  if (s.minimum !== undefined) return ` ≥ ${s.minimum}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

/** A schema's type in a few words: `integer 2 to 12`, `` `off` | `everysec` ``, `list of ...`. */
export function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return code(s.const);
  if (s.discriminator) return `one of the kinds below, by \`${s.discriminator.propertyName}\``;
  if (s.enum) return s.enum.map(code).join(' \\| ');
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(' or ');
  const type = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  switch (type) {
    case 'integer':
    case 'number':
      return `${type}${range(s)}`;
    case 'string':
      return s.pattern ? `string matching ${code(s.pattern)}` : 'string';
    case 'array': {
      const n =
        s.minItems !== undefined && s.maxItems !== undefined
          ? ` (${s.minItems} to ${s.maxItems})`
          : s.minItems
            ? ` (at least ${s.minItems})`
            : '';
      return `list${n} of ${s.items ? typeOf(s.items) : 'values'}`;
    }
    case 'object':
      if (s.properties) return 'mapping (below)';
      if (typeof s.additionalProperties === 'object')
        return `mapping of name to ${typeOf(s.additionalProperties)}`;
      return 'mapping';
    default:
      return type ?? 'any';
  }
}

function defaultOf(s: JsonSchema, required: boolean): string {
  if (required) return '**required**';
  if (s.default === undefined) return '—';
  if (typeof s.default === 'object' && s.default !== null && !Array.isArray(s.default))
    return Object.keys(s.default).length ? code(s.default) : 'its fields’ defaults';
  return code(s.default);
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const cellKeepingPipes = (text: string) => text.replace(/\n/g, ' ');

interface Row {
  path: string;
  schema: JsonSchema;
  required: boolean;
}

/** The fields of an object schema, with the fields of nested objects after their own row. */
export function fieldRows(object: JsonSchema, prefix = '', skip: readonly string[] = []): Row[] {
  const rows: Row[] = [];
  for (const [name, schema] of Object.entries(object.properties ?? {})) {
    if (skip.includes(name)) continue;
    const path = `${prefix}${name}`;
    rows.push({ path, schema, required: object.required?.includes(name) ?? false });
    if (schema.properties) rows.push(...fieldRows(schema, `${path}.`));
  }
  return rows;
}

function table(rows: Row[]): string {
  const lines = ['| field | type | default | unit | meaning |', '|---|---|---|---|---|'];
  for (const { path, schema, required } of rows) {
    const name = path.split('.').at(-1)!;
    lines.push(
      `| \`${path}\` | ${cellKeepingPipes(typeOf(schema))} | ${cell(defaultOf(schema, required))} | ${unitOf(name, schema)} | ${cell(meaningOf(schema) ?? '*(not described yet)*')} |`,
    );
  }
  return lines.join('\n');
}

function section(title: string, text: string[]): string {
  return [`## ${title}`, '', ...text].join('\n');
}

/** The field reference page, docs/scenarios.md. */
export function scenarioReference(schema: JsonSchema = scenarioJsonSchema()): string {
  const top = schema.properties ?? {};
  const topRows = fieldRows({ ...schema, properties: top }).filter((r) => !r.path.includes('.'));
  const part = (name: string) => fieldRows(top[name] ?? {}, `${name}.`);
  const faultStep = top.faults?.items ?? {};
  const probeKinds = top.probes?.items?.oneOf ?? [];
  const stack = top.stack?.properties ?? {};

  const out: string[] = [];
  out.push(
    '# Scenario field reference',
    '',
    `<!-- Generated from the zod schema (scenarios/schema.ts, systems/*/spec.ts) by \`${REGENERATE}\`: edit the descriptions there, not this page. -->`,
    '',
    'A scenario is a YAML (or JSON) file: the stack to bring up, the probes that write to it, the faults',
    'to inject on a schedule, and what the run must show. `chaos run FILE` runs it and `chaos validate FILE`',
    'checks it without running anything. This page lists every field, from the same schema the harness',
    'validates with; `chaos schema` prints that schema as JSON Schema (also in',
    '[`scenarios/scenario.schema.json`](../scenarios/scenario.schema.json)), so an editor with a YAML',
    'language server flags a misspelt field and shows each field’s meaning as you type, given this first line:',
    '',
    '```yaml',
    `# yaml-language-server: $schema=${relative(dirname(DOCS_FILE), SCHEMA_FILE)}`,
    '```',
    '',
    '(a path relative to the scenario file, or the schema’s URL). The JSON Schema checks each field on its own;',
    '`chaos validate` also checks what fields say of each other: a target against the stack’s roles,',
    'a field that only one action takes, waits that cannot work together.',
    '',
    section('A worked example', [
      'Kill the head of a Redis chain while a probe writes 200 times a second; the run passes if writes',
      'succeed again within 3 s of the kill and no acknowledged write is lost. Every field left out takes',
      'its default (below).',
      '',
      '```yaml',
      WORKED_EXAMPLE.trimEnd(),
      '```',
      '',
      '- `stack.redis`: the system to bring up (one key per system: ' +
        SYSTEMS.map((s) => `\`${s.name}\``).join(', ') +
        ').',
      '- `probes`: the clients that write during the run; `kind` picks the system and the client.',
      '- `steadyState`: 2 s of writes before the fault, to show the stack was healthy.',
      '- `faults`: `kill` the node that `redis:head` names at the moment of injection, 0 ms after the steady state.',
      '- `observeMs`, `expect`: watch 4 s after the fault, then judge: failover within 3000 ms, nothing lost.',
      '',
      'Units: durations are whole milliseconds (fields ending in `Ms`, at most 24 h: 86400000), rates are',
      'per second (Hz). In the tables, **required** marks a field the file must give; `—` a field that is',
      'absent unless given (its meaning says what that means).',
    ]),
    '',
    section('The scenario', [
      table(topRows),
      '',
      '### `steadyState`',
      '',
      meaningOf(top.steadyState ?? {}) ?? '',
      '',
      table(part('steadyState')),
      '',
      '### `recovery`',
      '',
      meaningOf(top.recovery ?? {}) ?? '',
      '',
      table(part('recovery')),
      '',
      '### `abort`',
      '',
      meaningOf(top.abort ?? {}) ?? '',
      '',
      table(part('abort')),
      '',
      '### `expect`',
      '',
      meaningOf(top.expect ?? {}) ?? '',
      '',
      table(part('expect')),
    ]),
    '',
    section('Faults', [
      meaningOf(faultStep) ?? '',
      'Each entry of `faults:` has these fields; those marked “only” apply to one action.',
      '',
      table(fieldRows(faultStep, '')),
      '',
      '### Actions',
      '',
      '| action | what it does | reverted after `durationMs` |',
      '|---|---|---|',
      ...FAULT_ACTIONS.map(
        (a) => `| \`${a}\` | ${cell(FAULTS[a].does)} | ${FAULTS[a].revertible ? 'yes' : 'no, never'} |`,
      ),
      ...SYSTEMS.flatMap((s) =>
        Object.entries(s.steps ?? {}).map(
          ([a, step]) =>
            `| \`${a}\` | runbook step of \`${s.name}\`: ${cell(step.does)}; not measured on its own unless \`measure: true\` | no |`,
        ),
      ),
      '',
      '### Targets',
      '',
      '`target` (and `from`) name what a fault hits, resolved against the live stack at the moment of injection.',
      '',
      '| target | what it names |',
      '|---|---|',
      ...SYSTEMS.flatMap((s) =>
        Object.entries(s.roles).map(([role, what]) => `| \`${s.name}:${role}\` | ${cell(what)} |`),
      ),
      '| `node:NAME` | one node by name (`node:redis-b`, `node:pg-a`) |',
      '| `az:LETTER` | every node of every system in that AZ (`az:a`) |',
    ]),
    '',
    section('Stack', [
      `${meaningOf(top.stack ?? {}) ?? ''} Each system’s fields:`,
      '',
      ...Object.entries(stack).flatMap(([name, spec]) => [
        `### \`stack.${name}\``,
        '',
        meaningOf(spec) ?? '',
        '',
        table(fieldRows(spec, '')),
        '',
      ]),
    ]),
    section('Probes', [
      `${meaningOf(top.probes ?? {}) ?? ''} The fields of each kind:`,
      '',
      ...probeKinds.flatMap((p) => {
        const kind = String(p.properties?.kind?.const);
        const system = SYSTEMS.find((s) => s.probes.some((d) => d.kind === kind))?.name;
        return [
          `### \`kind: ${kind}\``,
          '',
          [meaningOf(p.properties?.kind ?? {}) ?? meaningOf(p), `Needs \`stack.${system}\`.`]
            .filter(Boolean)
            .join(' '),
          '',
          table(fieldRows(p, '', ['kind', 'expect'])),
          '',
        ];
      }),
      'Every probe also takes `expect`: its own expectations, over the scenario’s, with the fields of',
      '[`expect`](#expect) that judge a probe (`recovered`, `maxFailoverMs`, `maxUnavailabilityMs`,',
      '`maxLostWrites`, `lostWrites`, `failedButPresent`, `writesByFormerLeader`).',
    ]),
  );
  return `${out.join('\n')}\n`;
}

/** Writes scenarios/scenario.schema.json and docs/scenarios.md; returns the files written. */
export function writeGenerated(): string[] {
  const schema = scenarioJsonSchema();
  writeFileSync(SCHEMA_FILE, `${JSON.stringify(schema, null, 2)}\n`);
  mkdirSync(dirname(DOCS_FILE), { recursive: true });
  writeFileSync(DOCS_FILE, scenarioReference(schema));
  return [SCHEMA_FILE, DOCS_FILE];
}

// `npm run schema` (tsx scenarios/json-schema.ts): regenerate both files.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const f of writeGenerated()) process.stdout.write(`wrote ${relative(process.cwd(), f)}\n`);
}
