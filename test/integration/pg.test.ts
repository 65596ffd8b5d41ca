import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { chaos, leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

const run = (nameOrFile: string) =>
  runScenario({ loaded: loadScenario(nameOrFile), provider: new LocalProvider(), runsDir: tempRunsDir() });
const fixture = (name: string) => join(import.meta.dirname, `../fixtures/${name}.yaml`);
const byName = (r: RunResult, system = 'pg') =>
  Object.fromEntries(r.systems.find((s) => s.name === system)!.after!.nodes.map((n) => [n.name, n]));
const none = { containers: 0, networks: 0 };

describe.skipIf(!ready.ok)(`Postgres streaming replication on real containers${skipReason}`, () => {
  it('async primary kill: one promotion, the writer record moves, the other standby follows, loss within its bound', async () => {
    const r = await run('pg-primary-kill');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const pg = r.systems[0]!;
    expect(pg.leadership).toHaveLength(1);
    const { from, to } = pg.leadership[0]!;
    expect(from).toBe('pg-a');
    expect(['pg-b', 'pg-c']).toContain(to);
    expect(r.timeline.filter((e) => e.type === 'became-primary')).toHaveLength(1);
    const other = to === 'pg-b' ? 'pg-c' : 'pg-b';
    expect(byName(r)[to]).toMatchObject({ reachable: true, role: 'primary' });
    expect(byName(r)[other]).toMatchObject({ reachable: true, role: 'standby', following: to, linkUp: true });
    expect(pg.after!.leader).toBe(to);
    expect(pg.convergence?.converged).toBe(true);
    expect(r.probes[0]!.readBack).toMatchObject({ node: to });
    expect(await leftovers(r.runId)).toEqual(none);
  });

  it('the old primary, restarted after a power loss, comes back as a standby of the new one, not a second primary', async () => {
    const r = await run(fixture('pg-primary-stop'));
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const pg = r.systems[0]!;
    const to = pg.leadership[0]!.to;
    expect(byName(r)['pg-a']).toMatchObject({
      reachable: true,
      role: 'standby',
      following: to,
      linkUp: true,
    });
    expect(pg.after!.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual([to]);
    const a = r.timeline.filter((e) => e.source === 'pg:pg-a').map((e) => e.type);
    expect(a).toContain('restarted-as');
    expect(a.some((t) => t === 'rewound' || t === 'base-backup')).toBe(true);
    expect(r.timeline.find((e) => e.source === 'pg:pg-a' && e.type === 'restarted-as')?.data).toMatchObject({
      role: 'standby',
    });
    expect(await leftovers(r.runId)).toEqual(none);
  });

  it('a frozen primary that thaws is fenced, stopped, rewound and started as a standby of the new one', async () => {
    // Its lease ran out while it was frozen (the agent with it): when it thaws, either its lease
    // keeper's timer fires first (fenced-self: the supervisor stops the server at once and waits
    // for a role), or its agent's check does (the lease is another's: fenced, then stopped to
    // rejoin), or the supervisor's dead-man switch does (watchdog-fenced: the deadline the agent
    // armed has passed with the server still a primary).
    const r = await run(fixture('pg-primary-pause'));
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const to = r.systems[0]!.leadership[0]!.to;
    const a = r.timeline.filter((e) => e.node === 'pg-a').map((e) => e.type);
    expect(
      (a.includes('fenced-self') && a.includes('waiting-for-role')) ||
        (a.includes('fenced') && a.includes('stopped-to-rejoin')) ||
        (a.includes('watchdog-fenced') && a.includes('waiting-for-role')),
      a.join(' '),
    ).toBe(true);
    expect(a.some((t) => t === 'rewound' || t === 'base-backup')).toBe(true);
    expect(byName(r)['pg-a']).toMatchObject({
      reachable: true,
      role: 'standby',
      following: to,
      linkUp: true,
    });
    expect(await leftovers(r.runId)).toEqual(none);
  });

  it.skipIf(partitionUnsupportedReason() !== undefined)(
    'a known loss: exactly the INSERTs the cut-off primary acknowledged are reported lost, named; the run fails (exit 1)',
    async () => {
      const runsDir = tempRunsDir();
      const json = join(runsDir, 'r.json');
      const c = await chaos([
        'run',
        fixture('pg-known-loss'),
        '--quiet',
        '--runs-dir',
        runsDir,
        '--json',
        json,
      ]);
      expect(c.code, c.stderr).toBe(1);
      expect(c.stdout).toMatch(/✘ lost acknowledged writes +\d+ +expected <= 0/);
      const { readFileSync } = await import('node:fs');
      const r = JSON.parse(readFileSync(json, 'utf8')) as RunResult;
      const [cut, kill] = r.faults;
      const history = await readHistory(r.runDir);
      const atRisk = history
        .filter(
          (o) =>
            o.op === 'write' &&
            o.outcome === 'ok' &&
            o.tInvoke >= cut!.tApplied! &&
            o.tComplete <= kill!.tInject,
        )
        .map((o) => o.seq);
      expect(atRisk.length).toBeGreaterThanOrEqual(8);
      const w = r.probes[0]!.writes!;
      expect(w.lostSeqs).toEqual(atRisk);
      expect(w.unexpected).toBe(0);
      expect(r.systems[0]!.leadership).toHaveLength(1);
      expect(await leftovers(r.runId)).toEqual(none);
    },
  );

  it('synchronous replication: zero lost acknowledged writes', async () => {
    const r = await run('pg-primary-kill-sync');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    expect(r.probes[0]!.writes!.lost).toBe(0);
    expect(r.probes[0]!.writes!.acknowledged).toBeGreaterThan(200);
    expect(await leftovers(r.runId)).toEqual(none);
  });

  it('manual promotion by the runbook: nothing promotes until the operator does, 8 s later', async () => {
    const r = await run('pg-primary-kill-manual');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const [kill, promote] = r.faults;
    expect(promote).toMatchObject({ action: 'promote', status: 'applied', measured: false, nodes: ['pg-b'] });
    const move = r.systems[0]!.leadership[0]!;
    expect(move.to).toBe('pg-b');
    expect(move.t).toBeGreaterThanOrEqual(promote!.tInject);
    expect(r.probes[0]!.windows[0]!.availability.failoverMs!).toBeGreaterThan(8000);
    expect(r.timeline.filter((e) => e.type === 'promotion-left-to-operator').length).toBeGreaterThan(0);
    expect(kill!.action).toBe('kill');
    expect(await leftovers(r.runId)).toEqual(none);
  });

  it('the mixed stack: the Redis probe fails over while the Postgres probe sees no outage at all', async () => {
    const r = await run('stack-head-kill');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const cache = r.probes.find((p) => p.name === 'cache')!;
    const orders = r.probes.find((p) => p.name === 'orders')!;
    expect(cache.windows[0]!.availability.outage).toBe(true);
    expect(orders.windows[0]!.availability.outage).toBe(false);
    expect(orders.writes!.failed + orders.writes!.unknown).toBe(0);
    expect(r.systems.map((s) => [s.name, s.leadership.length])).toEqual([
      ['redis', 1],
      ['pg', 0],
    ]);
    expect(r.systems.every((s) => s.convergence?.converged)).toBe(true);
    expect(await leftovers(r.runId)).toEqual(none);
  });
});
