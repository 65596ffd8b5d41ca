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
    expect(pause?.tReverted).toBeGreaterThan(pause!.tApplied);

    const after = result.topology.after!;
    expect(after.head).toBe('redis-b');
    expect(after.chain).toEqual(['redis-b', 'redis-c', 'redis-a']);
    const byName = Object.fromEntries(after.nodes.map((n) => [n.name, n]));
    expect(byName['redis-b']).toMatchObject({ role: 'master' });
    expect(byName['redis-c']).toMatchObject({ role: 'slave', master: 'redis-b', linkUp: true });
    expect(byName['redis-a']).toMatchObject({ role: 'slave', master: 'redis-c' });
    expect(after.nodes.filter((n) => n.role === 'master')).toHaveLength(1);

    const aEvents = result.timeline.filter((e) => e.source === 'agent:redis-a').map((e) => e.type);
    expect(aEvents).toContain('removed-from-chain');
    expect(aEvents).toContain('rejoined');
    // Paused, not killed: the writes sent to the frozen head time out, so they are unknown.
    expect(result.figures.writes?.unknown).toBeGreaterThan(0);
    expect(result.figures.writes?.lost).toBe(0);
    expect(await leftovers(result.runId)).toEqual({ containers: 0, networks: 0 });
  });
});
