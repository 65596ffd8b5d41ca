import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodeOfRun } from '../../core/errors.ts';
import { runScenario } from '../../engine/runner.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const fixture = (name: string) => loadScenario(join(import.meta.dirname, `../fixtures/${name}.yaml`));
const run = (name: string) =>
  runScenario({ loaded: fixture(name), provider: new LocalProvider(), runsDir: tempRunsDir() });

describe.skipIf(!ready.ok)(`each fault is judged on its own, and the stack must heal${skipReason}`, () => {
  it('two head kills 3 s apart: two windows, each with its own failover within 3 s, each promotion its own time', async () => {
    const r = await run('redis-double-kill');
    expect(r.error).toBeUndefined();
    expect(r.verdict).toBe('pass');
    const windows = r.probes[0]!.windows;
    expect(windows.map((w) => w.fault)).toEqual([0, 1]);
    for (const w of windows) {
      expect(w.availability.outage).toBe(true);
      expect(w.availability.failoverMs!).toBeLessThanOrEqual(3000);
      expect(w.availability.until === null || w.availability.recoveredAt! < w.availability.until).toBe(true);
    }
    const moves = r.systems[0]!.leadership;
    expect(moves.map((m) => [m.from, m.to, m.fault])).toEqual([
      ['redis-a', 'redis-b', 0],
      ['redis-b', 'redis-c', 1],
    ]);
    // Each promotion came after its own fault, not the first one's.
    expect(moves[1]!.promotedAt!).toBeGreaterThan(r.faults[1]!.tInject);
    expect(r.expectations.filter((e) => e.name === 'failover time').map((e) => e.verdict)).toEqual([
      'pass',
      'pass',
    ]);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  });

  it('two kills of the head at once: the second has nothing left to hit and is recorded as skipped', async () => {
    const r = await run('redis-overlapping-kill');
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('completed');
    expect(exitCodeOfRun(r)).toBe(0);
    expect(r.faults.map((f) => f.status)).toEqual(['applied', 'skipped']);
    expect(r.faults[1]!.reason).toMatch(/redis-a is already down \(killed by fault #1\)/);
    expect(r.timeline.some((e) => e.type === 'fault-skipped')).toBe(true);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  });

  it("two faults at once are judged together in one window, not each with the other's figures", async () => {
    const r = await run('redis-head-and-tail');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const windows = r.probes[0]!.windows;
    expect(windows.map((w) => w.fault)).toEqual([0]);
    expect(windows[0]!.availability.recovered).toBe(true);
    expect(r.systems[0]!.leadership.map((l) => [l.to, l.fault])).toEqual([['redis-b1', 0]]);
    expect(r.systems[0]!.after!.members).toEqual(['redis-b1', 'redis-c1']);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  });

  it('killing the tail: no outage is reported as none, and the chain record lets the dead tail go', async () => {
    const r = await run('redis-tail-kill');
    expect(r.error).toBeUndefined();
    expect(r.verdict).toBe('pass');
    const a = r.probes[0]!.windows[0]!.availability;
    expect(a.outage).toBe(false);
    expect(a.failoverMs).toBeNull();
    const redis = r.systems[0]!;
    expect(redis.leadership).toEqual([]);
    expect(redis.after!.members).toEqual(['redis-a', 'redis-b']);
    expect(redis.convergence?.converged).toBe(true);
    // What the system did instead is on the record, in the fault's window.
    expect(redis.actions.some((x) => x.fault === 0 && x.node === 'redis-b')).toBe(true);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  });

  it('a stopped head that comes back: one master at the end, and the old head back in the chain', async () => {
    const r = await run('redis-head-stop');
    expect(r.error).toBeUndefined();
    const redis = r.systems[0]!;
    const full = r.expectations.find((e) => e.name === 'full redundancy')!;
    // Either the stack healed, or the run fails and says which invariant broke: never a silent pass.
    if (redis.convergence?.converged) {
      expect(r.verdict).toBe('pass');
      const after = redis.after!;
      expect(after.nodes.filter((n) => n.reachable && n.role === 'master').map((n) => n.name)).toEqual([
        'redis-b',
      ]);
      expect(after.members).toEqual(['redis-b', 'redis-c', 'redis-a']);
    } else {
      expect(r.verdict).toBe('fail');
      expect(full.verdict).toBe('fail');
      expect(full.actual).toMatch(/redis-a/);
    }
    expect(redis.convergence?.converged, full.actual).toBe(true);
    const [stop] = r.faults;
    expect(stop!.tReverted! - stop!.tInject).toBeGreaterThanOrEqual(3000);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  });
});

describe.skipIf(!ready.ok)(`several writes in flight${skipReason}`, () => {
  it('each slot is its own process, one operation at a time; the achieved rate is reported and judged honestly', async () => {
    const r = await run('redis-concurrent');
    expect(r.error).toBeUndefined();
    expect(r.verdict).toBe('pass');
    const { readHistory } = await import('./docker.ts');
    const writes = (await readHistory(r.runDir)).filter((o) => o.op === 'write');
    const byProcess = new Map<number, typeof writes>();
    for (const o of writes) byProcess.set(o.process!, [...(byProcess.get(o.process!) ?? []), o]);
    expect([...byProcess.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const ops of byProcess.values()) {
      for (let i = 1; i < ops.length; i++)
        expect(ops[i]!.tInvoke).toBeGreaterThanOrEqual(ops[i - 1]!.tComplete);
    }
    expect(new Set(writes.map((o) => o.seq)).size).toBe(writes.length);
    const p = r.probes[0]!;
    expect(p.settings.inFlight).toBe(4);
    expect(p.rate.requestedHz).toBe(3000);
    expect(p.rate.shortfall).toBe(p.rate.achievedHz < 2700);
    expect(r.warnings.some((w) => w.includes('asked for 3000 writes/s'))).toBe(p.rate.shortfall);
    expect(p.writes!.lost!).toBeLessThanOrEqual(30);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  });
});
