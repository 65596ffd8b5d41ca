import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { dockerClient } from '../../infra/local/docker.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

/**
 * The Patroni system on real containers (Postgres 15 under Patroni 3.0.2, etcd 3.4, HAProxy 2.6):
 * each scenario's key claim. Each run takes about a minute: the leader key's ttl is 20 s.
 */
const run = (name: string, keepStack = false) =>
  runScenario({
    loaded: loadScenario(name),
    provider: new LocalProvider(),
    runsDir: tempRunsDir(),
    keepStack,
  });
const none = { containers: 0, networks: 0 };
const RUN_MS = 240_000;
const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;

const nodeAfter = (r: RunResult, name: string) => r.systems[0]!.after!.nodes.find((n) => n.name === name);
const probe = (r: RunResult, name: string) => r.probes.find((p) => p.name === name)!;
const patroniEvents = (r: RunResult, type: string, after = r.faults[0]!.tInject) =>
  r.timeline.filter((e) => e.source.startsWith('patroni:') && e.type === type && e.t > after);

/** The rows of a probe's table, read by this test's own client straight from a node of a kept stack. */
async function storedRows(runId: string, node: string, table: string): Promise<Set<number>> {
  const info = await dockerClient().getContainer(`chaos-${runId}-${node}`).inspect();
  const port = Number(info.NetworkSettings.Ports?.['5432/tcp']?.[0]?.HostPort);
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const rows = (await client.query(`SELECT seq FROM ${table}`)).rows as { seq: string }[];
    return new Set(rows.map((r) => Number(r.seq)));
  } finally {
    await client.end();
  }
}

describe.skipIf(!ready.ok)(`Patroni with etcd and HAProxy on real containers${skipReason}`, () => {
  it(
    'leader kill (async): one failover after the key runs out; HAProxy later than multi-host; an independent read-back agrees with the lost-write count',
    async () => {
      const r = await run('patroni-primary-kill', true);
      try {
        expect(r.error).toBeUndefined();
        expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
        const s = r.systems[0]!;
        expect(s.leadership).toHaveLength(1);
        const { from, to, promotedAt } = s.leadership[0]!;
        expect(from).toBe('patroni-a');
        expect(['patroni-b', 'patroni-c']).toContain(to);
        // Patroni's own decision, on the new leader, named on the timeline.
        expect(promotedAt).not.toBeNull();
        expect(patroniEvents(r, 'promoted-self').map((e) => e.node)).toEqual([to]);
        const other = to === 'patroni-b' ? 'patroni-c' : 'patroni-b';
        expect(nodeAfter(r, other)).toMatchObject({ role: 'replica', following: to, linkUp: true });
        expect(nodeAfter(r, 'patroni-haproxy')).toMatchObject({ following: to });
        // Nobody moves while the dead leader's key lives: ttl (20 s) after its last renewal, at
        // most loop_wait (5 s) before the kill.
        const faultAt = r.faults[0]!.tApplied!;
        expect(s.leadership[0]!.t - faultAt).toBeGreaterThan(15_000 - 1000);
        const haproxy = probe(r, 'via-haproxy').windows[0]!.availability.failoverMs!;
        const multi = probe(r, 'via-multihost').windows[0]!.availability.failoverMs!;
        expect(multi).toBeGreaterThan(14_000);
        // HAProxy waits for `rise` passed checks of the new leader's OPTIONS /primary.
        expect(haproxy).toBeGreaterThan(multi);

        // The independent read-back: this test's own client lists the rows on the final leader
        // and counts the acknowledged writes missing from them, probe by probe.
        const history = await readHistory(r.runDir);
        for (const p of r.probes) {
          const rows = await storedRows(r.runId, to, `chaos_${p.name.replace(/-/g, '_')}`);
          const acked = history.filter((o) => o.probe === p.name && o.op === 'write' && o.outcome === 'ok');
          const lost = acked
            .filter((o) => !rows.has(o.seq))
            .map((o) => o.seq)
            .sort((x, y) => x - y);
          expect(acked.length).toBeGreaterThan(200);
          expect(lost.length, `${p.name}: lost ${lost.join(',')}`).toBe(p.writes!.lost);
          expect(lost).toEqual(p.writes!.lostSeqs);
          expect(p.readBack).toEqual({ node: to, size: rows.size });
        }
      } finally {
        await new LocalProvider().forceTeardown(r.runId);
      }
      expect(await leftovers(r.runId)).toEqual(none);
    },
    RUN_MS,
  );

  it(
    'leader kill with synchronous_mode: only the synchronous replica takes over; zero acknowledged writes lost',
    async () => {
      const r = await run('patroni-primary-kill-sync');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      for (const p of r.probes) {
        expect(p.writes!.lost).toBe(0);
        expect(p.writes!.acknowledged).toBeGreaterThan(200);
      }
      expect(r.systems[0]!.leadership).toHaveLength(1);
      const to = r.systems[0]!.leadership[0]!.to;
      // The one that promoted was the synchronous standby before the kill.
      expect(r.systems[0]!.before!.nodes.find((n) => n.name === to)?.role).toBe('sync_standby');
      expect(await leftovers(r.runId)).toEqual(none);
    },
    RUN_MS,
  );

  it.skipIf(noPartition !== undefined)(
    `leader cut off from its replicas but not from etcd, for longer than ttl: Patroni keeps it, no outage, zero leader changes${noPartition ? ` (skipped: ${noPartition})` : ''}`,
    async () => {
      const r = await run('patroni-primary-isolated');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      expect(r.faults[0]).toMatchObject({ action: 'partition', nodes: ['patroni-a'] });
      expect(r.systems[0]!.leadership).toEqual([]);
      expect(patroniEvents(r, 'promoted-self')).toEqual([]);
      for (const p of r.probes) {
        expect(p.windows[0]!.availability.outage).toBe(false);
        expect([p.writes!.failed, p.writes!.unknown, p.writes!.lost]).toEqual([0, 0, 0]);
      }
      expect(r.systems[0]!.after!.leader).toBe('patroni-a');
      expect(r.systems[0]!.convergence?.converged).toBe(true);
      expect(await leftovers(r.runId)).toEqual(none);
    },
    RUN_MS,
  );

  it(
    "the leader's AZ powered off: etcd keeps a majority, one failover; the old leader boots, rewinds and follows",
    async () => {
      const r = await run('patroni-az-power');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      expect(r.faults[0]!.nodes.sort()).toEqual(['etcd-a', 'patroni-a']);
      const s = r.systems[0]!;
      expect(s.leadership).toHaveLength(1);
      const to = s.leadership[0]!.to;
      expect(nodeAfter(r, 'patroni-a')).toMatchObject({ reachable: true, following: to, linkUp: true });
      expect(nodeAfter(r, 'etcd-a')).toMatchObject({ reachable: true, linkUp: true });
      const a = r.timeline.filter((e) => e.source === 'patroni:patroni-a' && e.t > r.faults[0]!.tReverted!);
      expect(a.map((e) => e.type)).toContain('following-leader');
      expect(a.some((e) => e.type === 'rewinding' || e.type === 'crash-recovery')).toBe(true);
      expect(s.convergence?.converged).toBe(true);
      expect(await leftovers(r.runId)).toEqual(none);
    },
    RUN_MS,
  );
});
