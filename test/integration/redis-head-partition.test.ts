import { describe, expect, it } from 'vitest';
import { runScenario } from '../../engine/runner.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;

describe.skipIf(!ready.ok || noPartition !== undefined)(
  `redis-head-partition: no split brain${skipReason}${noPartition ? ` (skipped: ${noPartition})` : ''}`,
  () => {
    it('the head moves exactly once, the cut-off head steps down and rejoins at the tail, loss stays within the window', async () => {
      const r = await runScenario({
        loaded: loadScenario('redis-head-partition'),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
      });
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const redis = r.systems[0]!;
      // Exactly one move of the head record, and one promotion, for one fault.
      expect(redis.leadership.map((l) => [l.from, l.to])).toEqual([['redis-a', 'redis-b']]);
      expect(r.timeline.filter((e) => e.type === 'became-head' && e.t > r.faults[0]!.tInject)).toHaveLength(
        1,
      );
      // The old head stepped down while cut off, and rejoined only once it could reach the tail.
      const a = r.timeline.filter((e) => e.source === 'agent:redis-a').map((e) => e.type);
      expect(a).toContain('stepped-down');
      expect(redis.after!.members).toEqual(['redis-b', 'redis-c', 'redis-a']);
      expect(redis.convergence?.converged).toBe(true);

      // Every lost write was acknowledged by the old head, before it stepped down.
      const p = r.probes[0]!;
      const stepDown = r.timeline.find((e) => e.source === 'agent:redis-a' && e.type === 'stepped-down')!.t;
      const history = await readHistory(r.runDir);
      const bySeq = new Map(history.map((o) => [o.seq, o]));
      expect(p.writes!.lost).toBeGreaterThan(0);
      for (const seq of p.writes!.lostSeqs) {
        const o = bySeq.get(seq)!;
        expect(o.node).toBe('redis-a');
        expect(o.tComplete).toBeLessThanOrEqual(stepDown + 50);
        expect(o.tInvoke).toBeGreaterThanOrEqual(r.faults[0]!.tInject - 50);
      }
      // Within the window's bound: (partition -> step-down) x the rate asked for (the pacer never
      // goes faster on average; a busy machine makes it slower).
      const windowMs = stepDown - r.faults[0]!.tInject;
      expect(windowMs).toBeLessThan(2000);
      expect(p.writes!.lost).toBeLessThanOrEqual(
        Math.ceil((windowMs / 1000) * p.rate.requestedHz! * 1.05) + 10,
      );
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    });
  },
);
