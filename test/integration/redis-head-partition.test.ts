import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;

const fromAgent = (r: RunResult, node: string, type: string) =>
  r.timeline.filter((e) => e.source === `agent:${node}` && e.type === type && e.t > r.faults[0]!.tInject);

describe.skipIf(!ready.ok || noPartition !== undefined)(
  `redis-head-partition: the head's lease${skipReason}${noPartition ? ` (skipped: ${noPartition})` : ''}`,
  () => {
    it('the head cut off from both replicas, not from the registry, keeps its lease: nobody takes over, nothing is lost', async () => {
      const r = await runScenario({
        loaded: loadScenario('redis-head-partition'),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
      });
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const redis = r.systems[0]!;
      expect(redis.leadership).toEqual([]);
      expect(redis.after!.members).toEqual(['redis-a', 'redis-b', 'redis-c']);
      expect(redis.convergence?.converged).toBe(true);
      const withheld = fromAgent(r, 'redis-b', 'failover-withheld');
      expect(withheld).toHaveLength(1);
      expect(String(withheld[0]!.data?.reason)).toMatch(/the head's lease runs: redis-a holds it/);
      expect(fromAgent(r, 'redis-a', 'fenced-self')).toEqual([]);
      expect(fromAgent(r, 'redis-a', 'stepped-down')).toEqual([]);
      const p = r.probes[0]!;
      expect(p.writes!.lost).toBe(0);
      expect(p.writes!.acknowledged).toBeGreaterThan(8000);
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    });

    it('the head cut off from its replicas and the registry fences itself by lease - margin after its last renewal: the loss is bounded and declared, one move, never two heads', async () => {
      const r = await runScenario({
        loaded: loadScenario('redis-head-isolated'),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
      });
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const [cut] = r.faults;
      expect(cut!.method).toMatch(/against redis-b, redis-c, the registry/);
      const spec = loadScenario('redis-head-isolated').scenario.stack.redis!;
      const deadlineMs = spec.failoverThresholdMs - spec.leaseMarginMs;

      // The old head fenced itself, once, from its lease's timer: its last renewal was sent before
      // the cut, and the fence ran within lease - margin of it (plus the timer's and the fence's
      // own few ms).
      const fenced = fromAgent(r, 'redis-a', 'fenced-self');
      expect(fenced).toHaveLength(1);
      const f = fenced[0]!;
      const data = f.data as { lastRenewedAgoMs: number; fenceTookMs: number; reason: string };
      expect(data.reason).toBe('no lease renewal before its deadline');
      const timerAt = f.t - data.fenceTookMs;
      const lastRenewal = timerAt - data.lastRenewedAgoMs;
      expect(lastRenewal).toBeLessThanOrEqual(cut!.tApplied! + 20);
      expect(data.lastRenewedAgoMs).toBeGreaterThanOrEqual(deadlineMs - 5);
      expect(f.t - lastRenewal).toBeLessThanOrEqual(deadlineMs + 100);
      expect(f.t - cut!.tInject).toBeLessThanOrEqual(deadlineMs + 100);

      // The second took over once the registry let the lease go, after the fence: one move.
      const redis = r.systems[0]!;
      expect(redis.leadership.map((l) => [l.from, l.to])).toEqual([['redis-a', 'redis-b']]);
      const [promoted] = fromAgent(r, 'redis-b', 'became-head');
      expect(promoted!.t).toBeGreaterThan(f.t);
      const expired = r.timeline.find(
        (e) => e.source === 'registry' && e.type === 'lease-expired' && e.data?.holder === 'redis-a',
      );
      if (expired) expect(expired.t).toBeGreaterThan(f.t);
      // After the heal it follows the chain record: outside it, it rejoins at the tail.
      expect(fromAgent(r, 'redis-a', 'stepped-down')[0]!.data).toMatchObject({ fenced: true });
      expect(redis.after!.members).toEqual(['redis-b', 'redis-c', 'redis-a']);
      expect(redis.convergence?.converged).toBe(true);

      // Every lost write was acknowledged by the old head between the cut and its fence, and none
      // after the head record moved away from it.
      const p = r.probes[0]!;
      const history = await readHistory(r.runDir);
      const bySeq = new Map(history.map((o) => [o.seq, o]));
      expect(p.writes!.lost).toBeGreaterThan(0);
      for (const seq of p.writes!.lostSeqs) {
        const o = bySeq.get(seq)!;
        expect(o.node).toBe('redis-a');
        expect(o.tInvoke).toBeGreaterThanOrEqual(cut!.tInject - 50);
        expect(o.tComplete).toBeLessThanOrEqual(f.t + 20);
      }
      const lastOkOnA = history.filter((o) => o.outcome === 'ok' && o.node === 'redis-a').at(-1)!;
      expect(lastOkOnA.tComplete).toBeLessThanOrEqual(f.t + 20);
      // Bounded by the lease: (last renewal + lease - margin - cut) x the rate asked for.
      expect(p.writes!.lost).toBeLessThanOrEqual(
        Math.ceil((deadlineMs / 1000) * p.rate.requestedHz! * 1.05) + 50,
      );
      expect(r.expectations.find((e) => e.name === 'lost acknowledged writes')).toMatchObject({
        verdict: 'pass',
      });
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    });
  },
);
