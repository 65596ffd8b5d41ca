import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../core/events.ts';
import { judgeLeaderChangeCount } from './expectations.ts';
import { leadershipChanges } from './leadership.ts';

const moved = (t: number, previous: string | null, value: string): TimelineEvent => ({
  t,
  source: 'registry',
  type: 'record-set',
  data: { name: 'redis-head', previous, value },
});
const promoted = (t: number, node: string): TimelineEvent => ({
  t,
  source: `agent:${node}`,
  type: 'became-head',
  node,
});
const source = { record: 'redis-head', promotedType: 'became-head' };

describe('leadership changes', () => {
  it('pairs each move of the endpoint record with its own promotion, in its own window', () => {
    const events = [
      moved(10, null, 'redis-a'), // provisioning: not a change
      promoted(1150, 'redis-b'),
      moved(1162, 'redis-a', 'redis-b'),
      promoted(4390, 'redis-c'),
      moved(4401, 'redis-b', 'redis-c'),
    ];
    const windows = [
      { fault: 0, from: 0, injectedAt: 0, until: 3000, faults: [0] },
      { fault: 1, from: 3000, injectedAt: 3000, until: null, faults: [1] },
    ];
    expect(leadershipChanges(events, source, windows)).toEqual([
      { t: 1162, from: 'redis-a', to: 'redis-b', promotedAt: 1150, fault: 0 },
      { t: 4401, from: 'redis-b', to: 'redis-c', promotedAt: 4390, fault: 1 },
    ]);
  });

  it('does not credit a move with a promotion from across another move', () => {
    const events = [
      promoted(100, 'redis-b'),
      moved(110, 'redis-a', 'redis-b'),
      moved(900, 'redis-b', 'redis-a'),
      moved(2000, 'redis-a', 'redis-b'), // no new became-head for this one
    ];
    const changes = leadershipChanges(events, source, []);
    expect(changes.map((c) => c.promotedAt)).toEqual([100, null, null]);
    expect(changes.every((c) => c.fault === null)).toBe(true);
  });

  it('pairs a promotion that comes after the claim of the record (Postgres claims, then promotes)', () => {
    const events = [moved(2405, 'pg-a', 'pg-b'), { ...promoted(2450, 'pg-b'), type: 'became-primary' }];
    const changes = leadershipChanges(events, { record: 'redis-head', promotedType: 'became-primary' }, []);
    expect(changes[0]?.promotedAt).toBe(2450);
  });
});

describe('leader changes over the run', () => {
  const change = (from: string, to: string) => ({ t: 0, from, to, promotedAt: null, fault: 0 });
  it('passes only on the exact count: 0 for a fault the stack must ride out, 1 for one it must not', () => {
    expect(judgeLeaderChangeCount('pg', [], 0)).toMatchObject({ verdict: 'pass', value: 0 });
    const one = [change('pg-a', 'pg-b')];
    expect(judgeLeaderChangeCount('pg', one, 0)).toMatchObject({
      verdict: 'fail',
      value: 1,
      actual: '1: pg-a -> pg-b',
    });
    expect(judgeLeaderChangeCount('pg', one, 1).verdict).toBe('pass');
    expect(judgeLeaderChangeCount('pg', [], 1).verdict).toBe('fail');
    expect(judgeLeaderChangeCount('pg', [...one, change('pg-b', 'pg-a')], 1).verdict).toBe('fail');
  });
});
