import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../engine/runner.ts';
import { processKillUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const run = (nameOrFile: string) =>
  runScenario({ loaded: loadScenario(nameOrFile), provider: new LocalProvider(), runsDir: tempRunsDir() });
const noKill = ready.ok ? processKillUnsupportedReason() : undefined;
const none = { containers: 0, networks: 0 };

describe.skipIf(!ready.ok || noKill !== undefined)(
  `a process killed inside a node${skipReason}${noKill ? ` (skipped: ${noKill})` : ''}`,
  () => {
    it("the head's agent killed: the chain keeps serving, nothing moves, and the agent's restart is on the timeline", async () => {
      const r = await run('redis-agent-kill');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      expect(r.probes[0]!.windows[0]!.availability.outage).toBe(false);
      const redis = r.systems[0]!;
      expect(redis.leadership).toEqual([]);
      expect(redis.after!.members).toEqual(['redis-a', 'redis-b', 'redis-c']);
      const a = r.timeline
        .filter((e) => e.source === 'agent:redis-a' && e.t > r.faults[0]!.tInject)
        .map((e) => e.type);
      expect(a).toContain('agent-started');
      expect(a).toContain('resumed');
      expect(await leftovers(r.runId)).toEqual(none);
    });

    it("a standby's agent stopped cleanly is not restarted: it says so on the timeline, and the stack is not fully redundant", async () => {
      const r = await run(join(import.meta.dirname, '../fixtures/pg-agent-term.yaml'));
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('fail');
      const failed = r.expectations.filter((e) => e.verdict !== 'pass');
      expect(failed.map((e) => e.name)).toEqual(['full redundancy']);
      expect(r.systems[0]!.convergence?.violations).toEqual([
        "pg-b's agent exited (code 0) and was not restarted: nothing watches this node or fails over to it",
      ]);
      expect(r.probes[0]!.windows[0]!.availability.outage).toBe(false);
      const exited = r.timeline.filter((e) => e.type === 'agent-exited');
      expect(exited).toHaveLength(1);
      expect(exited[0]).toMatchObject({ source: 'agent:pg-b', node: 'pg-b', data: { exitCode: 0 } });
      expect(exited[0]!.t).toBeGreaterThan(r.faults[0]!.tInject);
      expect(r.systems[0]!.actions.map((a) => `${a.node} ${a.type}`)).toContain('pg-b agent-exited');
      expect(await leftovers(r.runId)).toEqual(none);
    });

    it("the primary's agent stopped cleanly: its supervisor fences the primary at the lease's deadline, before the standby promotes; nothing acknowledged is lost", async () => {
      const r = await run(join(import.meta.dirname, '../fixtures/pg-primary-agent-term.yaml'));
      expect(r.error).toBeUndefined();
      // Before the dead-man switch the old primary served on beside the new one: 41 writes lost,
      // 30 of them acknowledged by pg-a after the writer record had moved to pg-b.
      const failed = r.expectations.filter((e) => e.verdict !== 'pass').map((e) => e.name);
      expect(failed).toEqual(['full redundancy']);
      expect(r.probes[0]!.writes?.lost).toBe(0);
      const pg = r.systems[0]!;
      expect(pg.leadership.map((l) => [l.from, l.to])).toEqual([['pg-a', 'pg-b']]);
      const at = (source: string, type: string) =>
        r.timeline.find((e) => e.source === source && e.type === type && e.t > r.faults[0]!.tInject)?.t;
      const fenced = at('pg:pg-a', 'watchdog-fenced');
      const promoted = at('agent:pg-b', 'became-primary');
      expect(fenced).toBeDefined();
      expect(promoted).toBeGreaterThan(fenced!);
      expect(pg.convergence?.violations).toContain(
        "pg-a's agent exited (code 0) and was not restarted: nothing watches this node or fails over to it",
      );
      expect(await leftovers(r.runId)).toEqual(none);
    });

    it("the head's server killed: it comes back empty and read-only, hands the head over once, rejoins at the tail", async () => {
      const r = await run(join(import.meta.dirname, '../fixtures/redis-server-kill.yaml'));
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const redis = r.systems[0]!;
      expect(redis.leadership.map((l) => [l.from, l.to])).toEqual([['redis-a', 'redis-b']]);
      expect(redis.after!.members).toEqual(['redis-b', 'redis-c', 'redis-a']);
      const types = r.timeline.map((e) => `${e.source} ${e.type}`);
      expect(types).toContain('redis:redis-a server-restarted');
      expect(types).toContain('agent:redis-a local-server-restarted');
      expect(await leftovers(r.runId)).toEqual(none);
    });
  },
);

describe.skipIf(!ready.ok)(`an availability zone loses power, on the mixed stack${skipReason}`, () => {
  it('both systems fail over once, each probe has its own figures, the zone comes back as followers', async () => {
    const r = await run('az-drop-power');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    expect(r.faults[0]).toMatchObject({ action: 'drop-az', status: 'applied' });
    expect([...r.faults[0]!.nodes].sort()).toEqual(['pg-a', 'redis-a']);
    for (const p of r.probes) expect(p.windows[0]!.availability.recovered).toBe(true);
    const [redis, pg] = r.systems;
    expect(redis!.leadership).toHaveLength(1);
    expect(pg!.leadership).toHaveLength(1);
    expect(redis!.after!.members.at(-1)).toBe('redis-a');
    expect(pg!.after!.nodes.find((n) => n.name === 'pg-a')).toMatchObject({ role: 'standby', linkUp: true });
    expect(r.systems.every((s) => s.convergence?.converged)).toBe(true);
    expect(await leftovers(r.runId)).toEqual(none);
  });
});
