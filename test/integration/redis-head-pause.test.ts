import { describe, expect, it } from 'vitest';
import { runScenario } from '../../engine/runner.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

describe.skipIf(!ready.ok)(`redis-head-pause on real containers${skipReason}`, () => {
  it('the frozen head is replaced, and when it thaws it rejoins at the tail: one head, one chain', async () => {
    const result = await runScenario({
      loaded: loadScenario('redis-head-pause'),
      provider: new LocalProvider(),
      runsDir: tempRunsDir(),
    });
    expect(result.error).toBeUndefined();
    expect(result.verdict).toBe('pass');
    const [pause] = result.faults;
    // Reverted when due: 3 s after the injection, not at the end of the observe window.
    expect(pause!.tReverted! - pause!.tInject).toBeGreaterThanOrEqual(3000);
    expect(pause!.tReverted! - pause!.tInject).toBeLessThan(3500);

    const [redis] = result.systems;
    const after = redis!.after!;
    expect(after.leader).toBe('redis-b');
    expect(after.members).toEqual(['redis-b', 'redis-c', 'redis-a']);
    const byName = Object.fromEntries(after.nodes.map((n) => [n.name, n]));
    expect(byName['redis-b']).toMatchObject({ role: 'master' });
    expect(byName['redis-c']).toMatchObject({ role: 'replica', following: 'redis-b', linkUp: true });
    expect(byName['redis-a']).toMatchObject({ role: 'replica', following: 'redis-c' });
    expect(after.nodes.filter((n) => n.role === 'master')).toHaveLength(1);
    expect(redis!.leadership.map((l) => l.to)).toEqual(['redis-b']);
    expect(redis!.convergence?.converged).toBe(true);

    const aEvents = result.timeline.filter((e) => e.source === 'agent:redis-a').map((e) => e.type);
    expect(aEvents).toContain('removed-from-chain');
    // Paused, not killed: the writes sent to the frozen head time out, so they are unknown.
    const p = result.probes[0]!;
    expect(p.writes?.unknown).toBeGreaterThan(0);
    expect(p.writes?.lost).toBe(0);
    expect(await leftovers(result.runId)).toEqual({ containers: 0, networks: 0 });
  });
});
