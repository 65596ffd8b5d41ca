import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chaos } from './docker.ts';

const OK = `name: ok
stack:
  redis: { nodes: 3 }
probes:
  - { kind: redis-writer }
faults:
  - { at: 0, action: kill, target: redis:head }
`;

/** Ten ways a scenario file can be wrong, each with what its one line must say. */
const BROKEN: [string, string | Buffer, RegExp][] = [
  ['empty.yaml', '', /the file is empty/],
  ['binary.yaml', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2]), /binary/],
  ['list.yaml', '- a\n- b\n', /this file holds a list/],
  ['syntax.json', '{"name": "x",\n "stack": {,}\n}', /line 2, column 12/],
  ['yaml-syntax.yaml', 'name: x\nstack: [\n', /cannot parse/],
  [
    'typo.yaml',
    OK.replace('kind: redis-writer', 'kind: redis-writer, rateHZ: 5'),
    /unknown field 'rateHZ' in probes\[0\]; did you mean 'rateHz'\?/,
  ],
  [
    'other-kind.yaml',
    OK.replace('kind: redis-writer', 'kind: redis-writer, statementTimeoutMs: 5'),
    /a redis-writer has name, rateHz/,
  ],
  ['target.yaml', OK.replace('redis:head', 'redis:boss'), /faults\[0\]\.target/],
  ['action.yaml', OK.replace('action: kill', 'action: nuke'), /faults\[0\]\.action/],
  ['system.yaml', OK.replace('redis: { nodes: 3 }', 'mysql: { nodes: 3 }'), /mysql/],
];

describe('chaos validate', () => {
  it('the built-in scenarios are valid: exit 0', async () => {
    const r = await chaos(['validate', 'scenarios/']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+ files checked: no problem$/m);
  });

  it('ten broken files: each problem one line naming the file, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-validate-'));
    for (const [name, content] of BROKEN) writeFileSync(join(dir, name), content);
    writeFileSync(join(dir, 'ok.yaml'), OK);
    const r = await chaos(['validate', dir]);
    expect(r.code).toBe(2);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^11 files checked: \d+ problems in 10 files$/);
    expect(lines.filter((l) => l.startsWith(join(dir, 'ok.yaml')))).toEqual([]);
    for (const [name, , says] of BROKEN) {
      const mine = lines.filter((l) => l.startsWith(`${join(dir, name)}: `));
      // A system the stack has not also leaves its probe and its fault pointing nowhere: each its line.
      expect(mine.length, name).toBeGreaterThanOrEqual(1);
      expect(
        mine.some((l) => says.test(l)),
        `${name}: ${mine.join(' | ')}`,
      ).toBe(true);
    }
  });

  it('--provider aws: what AWS cannot carry out, before anything is created', async () => {
    const r = await chaos(['validate', 'scenarios/redis-head-pause.yaml', '--provider', 'aws']);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/fault #1 \(pause redis:head\): not on AWS: FIS cannot pause a node/);
    expect(r.stdout).toMatch(/headRecordTtlMs': 500 ms; on AWS .* whole seconds/);
    expect(r.stdout).toMatch(
      /call Route 53 about \d+ times a second .* raise stack\.redis\.checkIntervalMs to at least \d+ ms/,
    );
  });

  it('--provider aws: a fault past the default blast radius, and the override that allows it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-validate-'));
    const scenario = (extra: string) => {
      const file = join(dir, `s${extra.length}.yaml`);
      writeFileSync(
        file,
        `name: two-zones
stack: { pg: { nodes: 3, checkIntervalMs: 2000, failoverThresholdMs: 5000 } }
probes: [{ kind: pg-writer, name: w }]
faults: [{ at: 0, action: stop, target: 'pg:standby', durationMs: 60000${extra} }]
`,
      );
      return file;
    };
    const refused = await chaos(['validate', scenario(''), '--provider', 'aws']);
    expect(refused.stdout).toMatch(
      /touches 2 zones .* under the default limits .*aws\.blastRadius\.maxAzs: 2/,
    );
    const allowed = await chaos([
      'validate',
      scenario(', aws: { blastRadius: { maxAzs: 2, maxNodeFraction: 0.67 } }'),
      '--provider',
      'aws',
    ]);
    expect(allowed.stdout, allowed.stdout).not.toMatch(/blast|touches/);
  });
});
