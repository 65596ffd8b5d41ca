import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { findK6 } from '../../probes/k6/binary.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

/**
 * The Postgres cases of issue 13, each a built-in scenario: what the lease-holding agents keep
 * where threshold agents lost acknowledged writes. Each passes with zero loss and the leader
 * changes the lease model predicts.
 */
const run = (name: string) =>
  runScenario({ loaded: loadScenario(name), provider: new LocalProvider(), runsDir: tempRunsDir() });
const none = { containers: 0, networks: 0 };
const events = (r: RunResult, node: string, type: string) =>
  r.timeline.filter((e) => e.source === `agent:${node}` && e.type === type);
const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;
const noK6 = await findK6().then(
  () => undefined,
  (err: Error) => err.message,
);

describe.skipIf(!ready.ok || noPartition !== undefined)(
  `Postgres by lease on real containers${skipReason}${noPartition ? ` (skipped: ${noPartition})` : ''}`,
  () => {
    it('pg-primary-isolated: a primary cut off from its standbys keeps its lease: no failover, no outage, nothing lost', async () => {
      const r = await run('pg-primary-isolated');
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      expect(r.systems[0]!.leadership).toEqual([]);
      expect(r.probes[0]!.writes!.lost).toBe(0);
      expect(r.probes[0]!.windows[0]!.availability.outage).toBe(false);
      expect(r.timeline.filter((e) => e.type === 'failover-decision')).toEqual([]);
      expect(await leftovers(r.runId)).toEqual(none);
    });

    it('pg-sync-restarted-standby: the lagging standby waits for the restarted one, which is ahead by its replayed WAL and promotes; nothing lost', async () => {
      const r = await run('pg-sync-restarted-standby');
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      expect(r.systems[0]!.leadership.map((l) => [l.from, l.to])).toEqual([['pg-a', 'pg-b']]);
      expect(events(r, 'pg-c', 'failover-withheld')[0]?.data?.reason).toMatch(
        /synchronous replication: pg-b may hold acknowledged commits/,
      );
      expect(events(r, 'pg-c', 'failover-decision')).toEqual([]);
      expect(r.probes[0]!.writes!.lost).toBe(0);
      expect(r.probes[0]!.writes!.acknowledged).toBeGreaterThan(500);
      expect(await leftovers(r.runId)).toEqual(none);
    });

    it('pg-sync-four-nodes: with the zone of the primary and the only up-to-date standby off, nobody promotes; nothing lost', async () => {
      const r = await run('pg-sync-four-nodes');
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      for (const n of ['pg-b1', 'pg-c1']) {
        expect(events(r, n, 'failover-withheld')[0]?.data?.reason, n).toMatch(
          /pg-a2 may hold acknowledged commits/,
        );
        expect(events(r, n, 'failover-decision'), n).toEqual([]);
      }
      expect(r.probes[0]!.writes!.lost).toBe(0);
      // Whoever leads at the end is in AZ a: the zone that held every acknowledged commit.
      expect(['pg-a1', 'pg-a2']).toContain(r.systems[0]!.after!.leader);
      expect(await leftovers(r.runId)).toEqual(none);
    });

    it.skipIf(noK6 !== undefined)(
      `fullstack-az-leaders${noK6 ? ` (skipped: ${noK6})` : ''}: the zone of every leader off under k6 load; each system fails over once on its own, nothing lost, one leader at a time`,
      async () => {
        const r = await run('fullstack-az-leaders');
        expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
        for (const system of ['redis', 'pg'])
          expect(r.systems.find((s) => s.name === system)!.leadership, system).toHaveLength(1);
        for (const p of r.probes) {
          expect(p.writes!.lost, p.name).toBe(0);
          expect(p.windows[0]!.availability.recovered, p.name).toBe(true);
          if (p.writesByFormerLeader) expect(p.writesByFormerLeader.count, p.name).toBe(0);
        }
        expect(await leftovers(r.runId)).toEqual(none);
      },
    );

    it.skipIf(noK6 !== undefined)(
      `web-pg-primary-kill${noK6 ? ` (skipped: ${noK6})` : ''}: the web tier recovers within a few seconds of the pg probe (nothing on the path waits on DNS)`,
      async () => {
        const r = await run('web-pg-primary-kill');
        expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
        const failover = (probe: string) =>
          r.probes.find((p) => p.name === probe)!.windows[0]!.availability.failoverMs!;
        expect(failover('http') - failover('orders')).toBeLessThan(3000);
        for (const p of r.probes) expect(p.writes!.lost, p.name).toBe(0);
        expect(await leftovers(r.runId)).toEqual(none);
      },
    );
  },
);
