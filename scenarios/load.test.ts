import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChaosError } from '../core/errors.ts';
import { listScenarios, loadScenario } from './load.ts';
import { expectationsFor } from './schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'chaos-scenarios-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const minimal = `name: tiny
stack: { redis: { nodes: 3 } }
probes: [{ kind: redis-writer }]
faults: [{ action: kill, target: redis:head }]
`;

function errorOf(fn: () => unknown): ChaosError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ChaosError) return err;
    throw err;
  }
  throw new Error('expected a ChaosError');
}

describe('scenarios', () => {
  it('every built-in scenario is valid', () => {
    const all = listScenarios();
    expect(all.map((l) => l.scenario.name)).toContain('redis-head-kill');
  });

  it('fills in defaults', () => {
    const { scenario } = loadScenario(file('tiny.yaml', minimal));
    expect(scenario.stack.redis.failoverThresholdMs).toBe(1000);
    expect(scenario.probes[0]!.rateHz).toBe(200);
    expect(scenario.expect.recovered).toBe(true);
    expect(scenario.stack.redis.azs).toEqual(['a', 'b', 'c']);
  });

  it('a misspelt field names the field and the file', () => {
    const p = file('typo.yaml', minimal.replace('faults: [{ action: kill', 'faults: [{ actoin: kill'));
    const err = errorOf(() => loadScenario(p));
    expect(err.code).toBe('SCENARIO_INVALID');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain(p);
    expect(err.message).toContain("'actoin'");
    expect(err.message).toContain('faults[0]');
  });

  it('suggests the nearest field for a typo in an optional field, and lists several problems', () => {
    const p = file(
      'many.yaml',
      minimal
        .replace('redis: { nodes: 3 }', 'redis: { nodes: 3, failoverThreshold: 500 }')
        .replace('kind: redis-writer', 'kind: redis-writer, rateHZ: 5'),
    );
    const err = errorOf(() => loadScenario(p));
    expect(err.message).toContain(
      "unknown field 'failoverThreshold' in stack.redis; did you mean 'failoverThresholdMs'?",
    );
    expect(err.message).toContain("unknown field 'rateHZ' in probes[0]; did you mean 'rateHz'?");
  });

  it("a probe's typo is matched against its own kind's fields; another kind's field lists this kind's", () => {
    const pg = (field: string) =>
      `name: t\nstack:\n  pg: { nodes: 3 }\nprobes:\n  - { kind: pg-writer, ${field}: 500 }\nfaults:\n  - { at: 0, action: kill, target: pg:primary }\n`;
    const typo = errorOf(() => loadScenario(file('pg-typo.yaml', pg('statementTimeoutMS'))));
    expect(typo.message).toContain(
      "unknown field 'statementTimeoutMS' in probes[0]; did you mean 'statementTimeoutMs'?",
    );
    const other = errorOf(() => loadScenario(file('pg-other.yaml', pg('commandTimeoutMs'))));
    expect(other.message).toContain(
      "unknown field 'commandTimeoutMs' in probes[0]; a pg-writer has name, rateHz",
    );
    expect(other.message).toContain('statementTimeoutMs');
    expect(other.message).not.toContain("did you mean 'commandTimeoutMs'");
  });

  it('a bad value names the field and what is allowed', () => {
    const err = errorOf(() =>
      loadScenario(file('enum.yaml', minimal.replace('action: kill', 'action: nuke'))),
    );
    expect(err.message).toMatch(/faults\[0\]\.action/);
    expect(err.message).toMatch(/kill/);
  });

  it('a bad target says what a target looks like', () => {
    const err = errorOf(() => loadScenario(file('target.yaml', minimal.replace('redis:head', 'redis:heda'))));
    expect(err.message).toMatch(/faults\[0\]\.target.*redis:head/);
  });

  it('a partition needs `from`', () => {
    const err = errorOf(() =>
      loadScenario(file('part.yaml', minimal.replace('action: kill', 'action: partition'))),
    );
    expect(err.message).toMatch(/faults\[0\]\.from/);
  });

  it('a YAML syntax error says where', () => {
    const err = errorOf(() => loadScenario(file('syntax.yaml', 'name: [unclosed\n')));
    expect(err.code).toBe('SCENARIO_SYNTAX');
    expect(err.message).toContain('syntax.yaml');
  });

  it('an unknown name lists the known ones', () => {
    const err = errorOf(() => loadScenario('redis-head-klil'));
    expect(err.code).toBe('UNKNOWN_SCENARIO');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('redis-head-kill');
  });

  it('a missing file is a usage error', () => {
    expect(errorOf(() => loadScenario('./nope.yaml')).code).toBe('SCENARIO_FILE_NOT_FOUND');
  });

  it('an AZ given twice is a configuration error, not a Docker name conflict later', () => {
    const err = errorOf(() =>
      loadScenario(file('azs.yaml', minimal.replace('nodes: 3', 'nodes: 3, azs: [a, a]'))),
    );
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/field 'stack\.redis\.azs': each AZ may appear once/);
  });

  it('bounds every duration to 24 h, and the waits together too', () => {
    const long = errorOf(() => loadScenario(file('long.yaml', `${minimal}observeMs: 9999999999\n`)));
    expect(long.message).toMatch(/field 'observeMs': at most 24 h/);
    const sum = errorOf(() =>
      loadScenario(file('sum.yaml', `${minimal}observeMs: 80000000\nrecovery: { timeoutMs: 80000000 }\n`)),
    );
    expect(sum.message).toMatch(/waits add up to \d+ ms .* more than 24 h/);
  });

  it('refuses a failover threshold the run could never see, and a steady state too short to judge', () => {
    const slow = errorOf(() =>
      loadScenario(
        file(
          'slow.yaml',
          `${minimal.replace('nodes: 3', 'nodes: 3, failoverThresholdMs: 30000')}observeMs: 1000\nrecovery: { timeoutMs: 5000 }\n`,
        ),
      ),
    );
    expect(slow.message).toMatch(
      /field 'stack\.redis\.failoverThresholdMs': 30000 ms is not shorter than the time the run waits/,
    );
    const short = errorOf(() =>
      loadScenario(
        file(
          'short.yaml',
          `${minimal.replace('kind: redis-writer', 'kind: redis-writer, rateHz: 5')}steadyState: { durationMs: 2000 }\n`,
        ),
      ),
    );
    expect(short.message).toMatch(
      /field 'steadyState\.durationMs': 2000 ms at 5 writes\/s gives 10 writes for probe writes, too few/,
    );
    const web = 'stack: { web: {}, pg: {} }\nfaults: [{ action: kill, target: "web:head" }]\n';
    const ramp = errorOf(() =>
      loadScenario(
        file(
          'ramp.yaml',
          `name: ramp\n${web}probes: [{ kind: k6-http, name: http, rampUpMs: 5000 }]\nsteadyState: { durationMs: 5000 }\n`,
        ),
      ),
    );
    expect(ramp.message).toMatch(
      /field 'probes\[0\]\.rampUpMs': probe http ramps up over 5000 ms, but the steady state lasts 5000 ms: the first fault would land on the ramp or just after it/,
    );
    const ok = loadScenario(
      file('ramp-ok.yaml', `name: ramp\n${web}probes: [{ kind: k6-http, name: http, rampUpMs: 1000 }]\n`),
    );
    expect(ok.scenario.probes[0]).toMatchObject({ rampUpMs: 1000 });
  });

  it('loss expectations: a bound or an exact count or any, not two at once', () => {
    const both = errorOf(() =>
      loadScenario(file('both.yaml', `${minimal}expect: { maxLostWrites: 3, lostWrites: 2 }\n`)),
    );
    expect(both.message).toMatch(/either maxLostWrites .* or lostWrites/);
    expect(
      loadScenario(file('any.yaml', `${minimal}expect: { lostWrites: any }\n`)).scenario.expect.lostWrites,
    ).toBe('any');
  });

  it('a folder given as the scenario file says so', () => {
    const err = errorOf(() => loadScenario(dir + '/'));
    expect(err.code).toBe('SCENARIO_IS_A_FOLDER');
    expect(err.exitCode).toBe(2);
  });

  it('targets must name a system of the stack and one of its roles', () => {
    const role = errorOf(() =>
      loadScenario(file('role.yaml', minimal.replace('redis:head', 'redis:primary'))),
    );
    expect(role.message).toMatch(/'primary' is not a role of redis; its targets: redis:head, redis:second/);
    const sys = errorOf(() => loadScenario(file('sys.yaml', minimal.replace('redis:head', 'pgx:primary'))));
    expect(sys.message).toMatch(/'pgx' is not a system/);
    const node = errorOf(() =>
      loadScenario(file('node.yaml', minimal.replace('redis:head', 'node:redis-z'))),
    );
    expect(node.message).toMatch(/node:redis-z names no node; the stack has redis-a, redis-b, redis-c/);
  });

  it("several probes: each named once, each expecting its own loss over the scenario's", () => {
    const two = `name: two
stack: { redis: { nodes: 3 } }
probes:
  - { kind: redis-writer, name: a }
  - { kind: redis-writer, name: b, expect: { lostWrites: any } }
faults: [{ action: kill, target: redis:head }]
expect: { maxFailoverMs: 3000 }
`;
    const { scenario } = loadScenario(file('two.yaml', two));
    const [a, b] = scenario.probes;
    const ea = expectationsFor(scenario, a!);
    expect(ea.maxFailoverMs).toBe(3000);
    expect(ea.lostWrites).toBeUndefined();
    const eb = expectationsFor(scenario, b!);
    expect([eb.maxFailoverMs, eb.lostWrites, eb.maxLostWrites]).toEqual([3000, 'any', undefined]);
    const dup = errorOf(() => loadScenario(file('dup.yaml', two.replace('name: b', 'name: a'))));
    expect(dup.message).toMatch(/two probes are named 'a'/);
  });
});

describe('run-time parameters', () => {
  it('--set and --vars set fields before validation; later pairs win; mistakes name the path', async () => {
    const { applyOverrides, parseOverride, readVarsFile } = await import('./load.ts');
    const raw = {
      name: 'x',
      probes: [{ kind: 'redis-writer', rateHz: 100 }],
      stack: { redis: { nodes: 3 } },
    };
    const out = applyOverrides(
      raw,
      [
        parseOverride('probes.0.rateHz=500'),
        parseOverride('stack.redis.replication=sync'),
        parseOverride('probes.0.rateHz=600'),
        parseOverride('faults=[]'),
      ],
      'f.yaml',
    ) as typeof raw & { faults: unknown[] };
    expect(out.probes[0]!.rateHz).toBe(600);
    expect((out.stack.redis as Record<string, unknown>).replication).toBe('sync');
    expect(out.faults).toEqual([]);
    expect(raw.probes[0]!.rateHz).toBe(100); // the original is untouched
    expect(() => parseOverride('rateHz')).toThrow(/is not path=value/);
    expect(() => applyOverrides(raw, [parseOverride('probes.rateHz=1')], 'f.yaml')).toThrow(
      /probes is a list in f.yaml; index it with a number/,
    );
    expect(() => applyOverrides(raw, [parseOverride('probes.5.rateHz=1')], 'f.yaml')).toThrow(
      /probes has 1 entries/,
    );
    expect(() => applyOverrides(raw, [parseOverride('name.x=1')], 'f.yaml')).toThrow(/name is a value/);
    const vars = file('vars.yaml', 'probes.0.rateHz: 50\nstack.redis.nodes: 4\n');
    expect(readVarsFile(vars)).toEqual([
      ['probes.0.rateHz', '50'],
      ['stack.redis.nodes', '4'],
    ]);
    expect(() => readVarsFile(file('list.yaml', '- a\n'))).toThrow(/is not a YAML mapping/);
  });
});
