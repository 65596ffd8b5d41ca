import { describe, expect, it } from 'vitest';
import { sleep } from '../core/clock.ts';
import { agentRuntime, stepped } from './runtime.ts';

function runtime(stuckMs: number) {
  const lines: Record<string, unknown>[] = [];
  let stuck = 0;
  const rt = agentRuntime('test agent', () => 'n1', {
    stuckMs,
    write: (l) => lines.push(JSON.parse(l)),
    onStuck: () => stuck++,
  });
  return { rt, lines, types: () => lines.map((l) => l.type), stuck: () => stuck };
}

describe('agent runtime: a call that hangs restarts the agent, named on the timeline', () => {
  it('reports a call still in flight after stuckMs, once, and gives up on the process', async () => {
    const { rt, lines, types, stuck } = runtime(100);
    const r = await rt.step('query pg-a: SELECT 1', () => sleep(400).then(() => 42));
    expect(r).toBe(42);
    expect(types()).toEqual(['agent-stuck']);
    expect(lines[0]).toMatchObject({ node: 'n1', step: 'query pg-a: SELECT 1' });
    expect(lines[0]!.forMs).toBeGreaterThanOrEqual(100);
    expect(stuck()).toBe(1);
  });

  it('says nothing of quick calls, and passes a failure through', async () => {
    const { rt, types, stuck } = runtime(200);
    for (let i = 0; i < 5; i++) await rt.step('fast', () => sleep(60));
    await expect(rt.step('fails', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await sleep(300);
    expect(types()).toEqual([]);
    expect(stuck()).toBe(0);
  });

  it('counts running time: a process whose timers stood still (docker pause) is not hung', async () => {
    const { rt, types } = runtime(200);
    // A synchronous block stands for a frozen process: no timer fires while it lasts, and the
    // watchdog's single late look counts once.
    await rt.step('query while frozen', async () => {
      const until = performance.now() + 600;
      while (performance.now() < until) {}
      await sleep(20);
    });
    expect(types()).toEqual([]);
  });

  it('stepped() names each method call after its object and first argument', async () => {
    const { rt, lines } = runtime(50);
    const registry = {
      base: 'x',
      async get(name: string) {
        await sleep(200);
        return `${this.base}:${name}`;
      },
    };
    const s = stepped(rt.step, 'registry', registry);
    expect(await s.get('pg-writer')).toBe('x:pg-writer');
    expect(s.base).toBe('x');
    expect(lines[0]).toMatchObject({ type: 'agent-stuck', step: 'registry get pg-writer' });
  });
});
