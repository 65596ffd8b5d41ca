import { describe, expect, it } from 'vitest';
import { sleep } from '../../core/clock.ts';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { loopVolumeUnsupportedReason } from '../../infra/local/loop-volumes.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { cutZone, removeZoneRules, zoneCutUnsupportedReason } from '../../infra/local/zones.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { hostLeftovers, leftovers, ready, runIdOf, skipReason, start, tempRunsDir } from './docker.ts';

const run = (name: string) =>
  runScenario({ loaded: loadScenario(name), provider: new LocalProvider(), runsDir: tempRunsDir() });
const nodesOf = (r: RunResult, system: string) =>
  Object.fromEntries(r.systems.find((s) => s.name === system)!.after!.nodes.map((n) => [n.name, n]));
const none = { containers: 0, networks: 0 };
const clean = { mounts: 0, loops: 0, dir: false, rules: 0 };

/** Where loop devices and fsfreeze can be had, the freeze must be the real one. */
const loopReason = loopVolumeUnsupportedReason();
const expectedMethod = loopReason ? /^cgroup freezer/ : /^fsfreeze --freeze/;
const zoneReason = zoneCutUnsupportedReason();

describe.skipIf(!ready.ok)(`a frozen volume, on real containers${skipReason}`, () => {
  it(`pg-volume-freeze: commits stall for the freeze and go through; no promotion, nothing failed or lost${loopReason ? ` (cgroup fallback: ${loopReason})` : ''}`, async () => {
    const r = await run('pg-volume-freeze');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    expect(r.faults[0]!.method).toMatch(expectedMethod);
    expect(r.systems[0]!.leadership).toEqual([]);
    const a = r.probes[0]!.windows[0]!.availability;
    expect(a.outage).toBe(false);
    // The freeze lasts 1500 ms: the stall is that long (less the write already in flight).
    expect(a.longestStallMs).toBeGreaterThan(1200);
    expect(a.longestStallMs).toBeLessThan(2500);
    expect(r.probes[0]!.writes?.lost).toBe(0);
    expect(await leftovers(r.runId)).toEqual(none);
    expect(await hostLeftovers(r.runId)).toEqual(clean);
  });

  it('pg-volume-freeze-long: the frozen primary stops renewing and fences itself, a standby promotes, the old primary rejoins as a standby', async () => {
    const r = await run('pg-volume-freeze-long');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    expect(r.faults[0]!.method).toMatch(expectedMethod);
    const [move] = r.systems[0]!.leadership;
    expect(move).toMatchObject({ from: 'pg-a' });
    // Frozen, it commits nothing and stops renewing its lease: it fences itself (its server
    // stopped at once) before its lease runs out and before the new primary takes the lease.
    const fenced = r.timeline.find((e) => e.source === 'agent:pg-a' && e.type === 'fenced-self');
    const taken = r.timeline.find(
      (e) => e.source === 'registry' && e.type === 'lease-acquired' && e.data?.holder === move!.to,
    );
    expect(fenced?.t).toBeLessThan(taken!.t);
    expect(fenced!.t).toBeLessThan(r.faults[0]!.tReverted!);
    expect(nodesOf(r, 'pg')['pg-a']).toMatchObject({ reachable: true, role: 'standby', following: move!.to });
    expect(r.probes[0]!.writes?.lost).toBe(0);
    expect(await leftovers(r.runId)).toEqual(none);
    expect(await hostLeftovers(r.runId)).toEqual(clean);
  });

  it('redis-volume-freeze (appendfsync always): the head hangs, its replica takes over, nothing acknowledged is lost', async () => {
    const r = await run('redis-volume-freeze');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    expect(r.faults[0]!.method).toMatch(expectedMethod);
    expect(r.systems[0]!.leadership.map((m) => m.from)).toEqual(['redis-a']);
    expect(r.systems[0]!.after!.members.at(-1)).toBe('redis-a');
    expect(r.probes[0]!.writes?.lost).toBe(0);
    expect(await leftovers(r.runId)).toEqual(none);
    expect(await hostLeftovers(r.runId)).toEqual(clean);
  });

  for (const signals of [['SIGINT'], ['SIGINT', 'SIGINT']] as NodeJS.Signals[][]) {
    it.skipIf(loopReason !== undefined)(
      `${signals.join(' + ')} while a volume is frozen: exit 130, nothing frozen, mounted, attached or running is left`,
      async () => {
        const chaos = start(['run', 'pg-volume-freeze-long', '--runs-dir', tempRunsDir()]);
        await chaos.when('fault-applied');
        await sleep(1000);
        // The check below sees what it must not find afterwards: the run's volumes, frozen.
        const during = await hostLeftovers(runIdOf(chaos.stderr())!);
        expect(during).toMatchObject({ dir: true, rules: 0 });
        expect(during.mounts).toBeGreaterThanOrEqual(3);
        expect(during.loops).toBeGreaterThanOrEqual(3);
        for (const sig of signals) {
          chaos.child.kill(sig);
          await sleep(100);
        }
        expect(await chaos.exited, chaos.stderr()).toBe(130);
        const runId = runIdOf(chaos.stderr())!;
        expect(await leftovers(runId)).toEqual(none);
        expect(await hostLeftovers(runId)).toEqual(clean);
      },
    );
  }
});

describe.skipIf(!ready.ok || zoneReason !== undefined)(
  `an AZ cut off by network, on real containers${skipReason || (zoneReason ? ` (skipped: ${zoneReason})` : '')}`,
  () => {
    it('a cut is five host rules tagged with the run, removed by its revert and by cleanup', async () => {
      const id = `test${process.pid}`;
      const revert = await cutZone(id, '10.254.3.0/24');
      expect((await hostLeftovers(id)).rules).toBe(5);
      await revert();
      expect((await hostLeftovers(id)).rules).toBe(0);
      await cutZone(id, '10.254.3.0/24');
      expect(await removeZoneRules(id)).toBe(5);
      expect((await hostLeftovers(id)).rules).toBe(0);
    });

    it('az-drop-network on the mixed stack: each system fails over once, the old leaders rejoin as followers, no rule is left', async () => {
      const r = await run('az-drop-network');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      expect(r.faults[0]!.method).toMatch(/^iptables DROP between AZ a/);
      expect(r.faults[0]!.nodes.sort()).toEqual(['pg-a', 'redis-a']);
      const redis = r.systems.find((s) => s.name === 'redis')!;
      const pg = r.systems.find((s) => s.name === 'pg')!;
      expect(redis.leadership.map((m) => m.from)).toEqual(['redis-a']);
      expect(pg.leadership.map((m) => m.from)).toEqual(['pg-a']);
      // Cut off but running: the old leaders are followers now, not second leaders.
      expect(redis.after!.members).toContain('redis-a');
      expect(redis.after!.leader).not.toBe('redis-a');
      expect(nodesOf(r, 'pg')['pg-a']).toMatchObject({ role: 'standby', following: pg.after!.leader });
      // Per-probe figures: each probe saw its own outage and recovery.
      for (const p of r.probes) expect(p.windows[0]!.availability.recovered, p.name).toBe(true);
      expect(await leftovers(r.runId)).toEqual(none);
      expect(await hostLeftovers(r.runId)).toEqual(clean);
    });
  },
);
