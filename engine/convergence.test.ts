import { describe, expect, it } from 'vitest';
import { MonotonicClock, sleep } from '../core/clock.ts';
import type { NodeState, SystemState } from '../core/result.ts';
import { ConvergenceWatcher, lagOf } from './convergence.ts';

const whole: SystemState = { leader: 'a', members: ['a', 'b'], nodes: [] };
const broken: SystemState = { leader: 'a', members: ['a'], nodes: [] };
const violations = (s: SystemState) => (s.members.length === 2 ? [] : ['b is out']);

describe('convergence watcher', () => {
  it('a state seen whole before the last revert does not count: it must hold for settleMs after it', async () => {
    const clock = new MonotonicClock();
    let state = whole;
    const w = new ConvergenceWatcher(clock, async () => state, violations);
    w.start();
    await sleep(300); // whole since the start
    const since = clock.now();
    setTimeout(() => {
      state = broken; // the node restarted by the revert answers, outside the system
    }, 100);
    setTimeout(() => {
      state = whole; // and rejoins
    }, 900);
    const c = await w.waitConverged(5000, 600, 0, since);
    await w.stop();
    expect(c.converged).toBe(true);
    expect(c.at!).toBeGreaterThan(since + 600);
    expect(c.violations).toEqual([]);
  });

  it('no time to look is no convergence, and says why', async () => {
    const clock = new MonotonicClock();
    const w = new ConvergenceWatcher(clock, async () => whole, violations);
    w.start();
    await sleep(100);
    const c = await w.waitConverged(0, 1000, 0, clock.now());
    await w.stop();
    expect(c.converged).toBe(false);
    expect(c.violations[0]).toMatch(/not seen whole for 1000 ms after the last fault or revert/);
  });
});

describe('replication lag in a snapshot', () => {
  const node = (name: string, extra: Partial<NodeState> = {}): NodeState => ({
    name,
    az: 'a',
    reachable: true,
    ...extra,
  });
  it('takes the lag a node reports, or how far its offset is behind the leader’s', () => {
    expect(
      lagOf({
        leader: 'redis-a',
        members: ['redis-a', 'redis-b', 'redis-c'],
        nodes: [
          node('redis-a', { offset: 10_000 }),
          node('redis-b', { offset: 7_000 }),
          node('redis-c', { offset: 10_200 }), // read a moment later than the head: not ahead
          node('redis-d', { offset: 1, reachable: false }),
        ],
      }),
    ).toEqual({ 'redis-b': 3000, 'redis-c': 0 });
    expect(
      lagOf({
        leader: 'pg-a',
        members: ['pg-a', 'pg-b'],
        nodes: [node('pg-a'), node('pg-b', { lag: 168 })],
      }),
    ).toEqual({ 'pg-b': 168 });
    // No leader offset: nothing to compare with.
    expect(lagOf({ leader: null, members: [], nodes: [node('redis-b', { offset: 5 })] })).toEqual({});
  });
});
