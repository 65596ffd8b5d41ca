import { describe, expect, it } from 'vitest';
import { runScenario } from '../../engine/runner.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;

describe.skipIf(!ready.ok || noPartition !== undefined)(
  `redis-link-cut: one link cut, nobody takes over${skipReason}${noPartition ? ` (skipped: ${noPartition})` : ''}`,
  () => {
    it('the head keeps its lease and its clients: the second withholds, nothing is lost, the head does not move', async () => {
      const r = await runScenario({
        loaded: loadScenario('redis-link-cut'),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
      });
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const [cut] = r.faults;
      expect(cut).toMatchObject({
        action: 'partition',
        nodes: ['redis-a'],
        peers: ['redis-b'],
        status: 'applied',
      });

      const redis = r.systems[0]!;
      expect(redis.leadership).toEqual([]);
      expect(redis.after!.members).toEqual(['redis-a', 'redis-b', 'redis-c']);
      expect(redis.after!.leader).toBe('redis-a');
      expect(redis.convergence?.converged).toBe(true);
      const after = (source: string, type: string) =>
        r.timeline.filter((e) => e.source === source && e.type === type && e.t > cut!.tInject);
      // The second sees its master gone past the threshold, with the tail as witness: only the
      // head's lease holds it back, once per episode.
      const withheld = after('agent:redis-b', 'failover-withheld');
      expect(withheld).toHaveLength(1);
      expect(String(withheld[0]!.data?.reason)).toMatch(/the head's lease runs: redis-a holds it/);
      for (const type of [
        'failover-decision',
        'became-head',
        'fenced-self',
        'stepped-down',
        'removed-from-chain',
      ])
        expect(
          r.timeline.filter((e) => e.type === type && e.t > cut!.tInject),
          type,
        ).toEqual([]);
      // The head acknowledged writes all through the cut, and every one of them is kept.
      const p = r.probes[0]!;
      expect(p.writes!.lost).toBe(0);
      expect(p.writes!.acknowledged).toBeGreaterThan(4000);
      expect(p.readBack).toMatchObject({ node: 'redis-a' });
      expect(r.expectations.find((e) => e.name === 'leader changes over the run')).toMatchObject({
        verdict: 'pass',
        value: 0,
      });
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    });
  },
);
