import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SYSTEMS } from '../systems/index.ts';
import {
  DOCS_FILE,
  type JsonSchema,
  REGENERATE,
  SCHEMA_FILE,
  WORKED_EXAMPLE,
  fieldRows,
  meaningOf,
  scenarioJsonSchema,
  scenarioReference,
} from './json-schema.ts';
import { BUILTIN_DIR, isScenarioFileName, loadScenarioFile, validateScenario } from './load.ts';

const ROOT = resolve(BUILTIN_DIR, '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');
const yamlIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));

/** Every scenario file the project ships: the built-in ones and the test fixtures (not suites). */
const SCENARIO_FILES = [
  ...readdirSync(BUILTIN_DIR)
    .filter(isScenarioFileName)
    .sort()
    .map((f) => join(BUILTIN_DIR, f)),
  ...yamlIn(FIXTURES),
  ...yamlIn(join(FIXTURES, 'aws')),
];

const schema = scenarioJsonSchema();
// A JSON Schema validator of its own, not zod: strict about the schema itself, and `discriminator`
// picks the probe kind by `kind` as an editor does.
const ajv = new Ajv({ allErrors: true, strict: true, discriminator: true, allowUnionTypes: true });
const validate = ajv.compile(schema);

const minimal = {
  name: 'tiny',
  stack: { redis: { nodes: 3 } },
  probes: [{ kind: 'redis-writer', rateHz: 100 }],
  faults: [{ action: 'kill', target: 'redis:head' }],
};

function errorsOf(doc: unknown): ErrorObject[] {
  return validate(doc) ? [] : [...(validate.errors ?? [])];
}

describe('the JSON Schema of scenarios', () => {
  it.each(SCENARIO_FILES.map((f) => [f.slice(ROOT.length + 1), f]))('accepts %s', (_, file) => {
    const doc = parseYaml(readFileSync(file, 'utf8'));
    expect(errorsOf(doc)).toEqual([]);
    // ...and so does the loader, first line and all.
    expect(loadScenarioFile(file).scenario.name).toBe(doc.name);
  });

  it('covers the built-in scenarios and the fixtures', () => {
    expect(SCENARIO_FILES.filter((f) => f.startsWith(BUILTIN_DIR)).length).toBeGreaterThan(30);
    expect(SCENARIO_FILES.filter((f) => f.startsWith(FIXTURES)).length).toBeGreaterThan(10);
    expect(SCENARIO_FILES.some((f) => f.endsWith('.schema.json'))).toBe(false);
  });

  it('accepts a minimal scenario', () => {
    expect(errorsOf(minimal)).toEqual([]);
  });

  it('rejects a misspelt field, at the top, in a system and in a probe', () => {
    const top = errorsOf({ ...minimal, observMs: 4000 });
    expect(top).toContainEqual(
      expect.objectContaining({
        keyword: 'additionalProperties',
        params: { additionalProperty: 'observMs' },
      }),
    );
    const inStack = errorsOf({ ...minimal, stack: { redis: { nodes: 3, failoverThreshold: 500 } } });
    expect(inStack).toContainEqual(
      expect.objectContaining({
        instancePath: '/stack/redis',
        params: { additionalProperty: 'failoverThreshold' },
      }),
    );
    const inProbe = errorsOf({ ...minimal, probes: [{ kind: 'redis-writer', rateHZ: 5 }] });
    expect(inProbe).toContainEqual(
      expect.objectContaining({ instancePath: '/probes/0', params: { additionalProperty: 'rateHZ' } }),
    );
    const inFault = errorsOf({ ...minimal, faults: [{ actoin: 'kill', target: 'redis:head' }] });
    expect(inFault.map((e) => e.params)).toContainEqual({ additionalProperty: 'actoin' });
    expect(errorsOf({ ...minimal, stack: { redis: {}, mysql: {} } }).map((e) => e.params)).toContainEqual({
      additionalProperty: 'mysql',
    });
  });

  it("rejects a wrong kind, and a field of another probe's kind", () => {
    const wrongKind = errorsOf({ ...minimal, probes: [{ kind: 'redis-writr' }] });
    expect(wrongKind).toContainEqual(
      expect.objectContaining({ keyword: 'discriminator', instancePath: '/probes/0' }),
    );
    // a pg-writer's field on a redis-writer: the kind picks the branch, the branch refuses the field
    const otherKinds = errorsOf({ ...minimal, probes: [{ kind: 'redis-writer', statementTimeoutMs: 500 }] });
    expect(otherKinds.map((e) => e.params)).toContainEqual({ additionalProperty: 'statementTimeoutMs' });
    expect(errorsOf({ ...minimal, faults: [{ action: 'explode', target: 'redis:head' }] })).toContainEqual(
      expect.objectContaining({ keyword: 'enum', instancePath: '/faults/0/action' }),
    );
  });

  it('rejects a missing required field, a wrong type and a value out of range', () => {
    const { faults: _, ...noFaults } = minimal;
    expect(errorsOf(noFaults)).toContainEqual(
      expect.objectContaining({ keyword: 'required', params: { missingProperty: 'faults' } }),
    );
    expect(errorsOf({ ...minimal, probes: [{ rateHz: 5 }] })).toContainEqual(
      expect.objectContaining({ keyword: 'discriminator', params: expect.objectContaining({ tag: 'kind' }) }),
    );
    expect(errorsOf({ ...minimal, faults: [{ action: 'kill' }] })).toContainEqual(
      expect.objectContaining({ keyword: 'required', params: { missingProperty: 'target' } }),
    );
    expect(errorsOf({ ...minimal, observeMs: 'soon' })).toContainEqual(
      expect.objectContaining({ keyword: 'type', instancePath: '/observeMs' }),
    );
    expect(errorsOf({ ...minimal, observeMs: 86_400_001 })).toContainEqual(
      expect.objectContaining({ keyword: 'maximum', instancePath: '/observeMs' }),
    );
    expect(errorsOf({ ...minimal, stack: { redis: { nodes: 1 } } })).toContainEqual(
      expect.objectContaining({ keyword: 'minimum', instancePath: '/stack/redis/nodes' }),
    );
    expect(errorsOf({ ...minimal, stack: {} })).toContainEqual(
      expect.objectContaining({ keyword: 'minProperties', instancePath: '/stack' }),
    );
  });

  it('is built from the registration: every system a key of the stack, every probe kind a branch', () => {
    const stack = schema.properties?.stack as JsonSchema;
    expect(Object.keys(stack.properties ?? {})).toEqual(expect.arrayContaining(SYSTEMS.map((s) => s.name)));
    expect(stack.required ?? []).toEqual([]);
    expect(stack.additionalProperties).toBe(false);
    const probes = (schema.properties?.probes as JsonSchema).items as JsonSchema;
    expect(probes.discriminator).toEqual({ propertyName: 'kind' });
    expect(probes.oneOf?.map((p) => p.properties?.kind?.const)).toEqual(
      SYSTEMS.flatMap((s) => s.probes.map((p) => p.kind)),
    );
    for (const p of probes.oneOf ?? []) expect(p.required).toContain('kind');
  });

  it('closes every object, so an editor flags a typo anywhere', () => {
    const open: string[] = [];
    const walk = (s: JsonSchema, at: string) => {
      if (s.properties && s.additionalProperties !== false) open.push(at);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${at}/${k}`);
      if (s.items) walk(s.items, `${at}/items`);
      for (const [i, v] of (s.oneOf ?? s.anyOf ?? []).entries()) walk(v, `${at}/${i}`);
    };
    walk(schema, '#');
    expect(open).toEqual([]);
  });

  it('shows the defaults, and the meaning of fields', () => {
    const redis = (schema.properties?.stack as JsonSchema).properties?.redis as JsonSchema;
    expect(redis.properties?.nodes?.default).toBe(3);
    expect(redis.properties?.azs?.default).toEqual(['a', 'b', 'c']);
    expect(schema.properties?.observeMs?.default).toBe(5000);
    expect(schema.properties?.observeMs?.description).toMatch(/ms/);
    expect(redis.description).toMatch(/Redis/);
  });

  it('describes every field, but those listed here as not described yet', () => {
    const notYet = new Set<string>([]);
    const rows = fieldRows(schema);
    const probes = (schema.properties?.probes as JsonSchema).items?.oneOf ?? [];
    for (const p of probes) rows.push(...fieldRows(p, `probes.${p.properties?.kind?.const}.`, ['expect']));
    const undescribed = rows.filter((r) => !meaningOf(r.schema)).map((r) => r.path);
    expect(undescribed.filter((p) => !notYet.has(p))).toEqual([]);
  });
});

describe('the generated files are current', () => {
  it(`scenarios/scenario.schema.json is what the schema makes now (run \`${REGENERATE}\`)`, () => {
    const file = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as unknown;
    expect(file, `scenarios/scenario.schema.json is stale: run \`${REGENERATE}\``).toEqual(schema);
  });

  it(`docs/scenarios.md is what the schema makes now (run \`${REGENERATE}\`)`, () => {
    const page = readFileSync(DOCS_FILE, 'utf8');
    expect(page === scenarioReference(schema), `docs/scenarios.md is stale: run \`${REGENERATE}\``).toBe(
      true,
    );
  });
});

describe('the field reference page', () => {
  const page = scenarioReference(schema);

  it('names every field of the scenario, of every system and of every probe kind, with a table each', () => {
    for (const name of Object.keys(schema.properties ?? {})) expect(page).toContain(`| \`${name}\` |`);
    for (const s of SYSTEMS) {
      expect(page).toContain(`### \`stack.${s.name}\``);
      for (const p of s.probes) expect(page).toContain(`### \`kind: ${p.kind}\``);
      for (const role of Object.keys(s.roles)) expect(page).toContain(`\`${s.name}:${role}\``);
    }
    expect(page).toContain('| `faults` |');
    expect(page).toContain('| `delayMs` | integer 1 to 60000 | — | ms |');
    expect(page).toContain('| `promote` |');
    expect(page).toContain('| `steadyState.durationMs` | integer ≥ 0 | `2000` | ms |');
  });

  it('starts with a worked example that is a valid scenario, for the loader and for the JSON Schema', () => {
    expect(page.indexOf(WORKED_EXAMPLE.trimEnd())).toBeGreaterThan(0);
    expect(page.indexOf('## A worked example')).toBeLessThan(page.indexOf('## The scenario'));
    const raw = parseYaml(WORKED_EXAMPLE);
    expect(errorsOf(raw)).toEqual([]);
    expect(validateScenario(raw, 'the worked example').name).toBe('my-redis-head-kill');
  });
});

describe('the first line of every scenario file', () => {
  it.each(SCENARIO_FILES.map((f) => [f.slice(ROOT.length + 1), f]))(
    '%s points an editor at scenarios/scenario.schema.json',
    (_, file) => {
      const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
      expect(m, `${file}: its first line should be # yaml-language-server: $schema=<path>`).not.toBeNull();
      expect(resolve(dirname(file), m![1]!)).toBe(SCHEMA_FILE);
    },
  );
});
