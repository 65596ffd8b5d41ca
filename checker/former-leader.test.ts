import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../core/events.ts';
import type { Op } from '../core/history.ts';
import { judgeOneLeader } from './expectations.ts';
import { formerLeaderSpans, writesByFormerLeader } from './former-leader.ts';

/** A set of the leader record, as the registry reports it. */
const set = (t: number, previous: string | null, value: string, name = 'redis-head'): TimelineEvent => ({
  t,
  source: 'registry',
  type: 'record-set',
  data: { name, value, previous },
});

/** An acknowledged (or not) write of probe `w`, served by `node`, sent at `tInvoke`. */
const write = (seq: number, tInvoke: number, node: string, outcome: Op['outcome'] = 'ok'): Op => ({
  probe: 'w',
  op: 'write',
  seq,
  tInvoke,
  tComplete: tInvoke + 5,
  outcome,
  node,
});

const former = (history: Op[], events: TimelineEvent[]) =>
  writesByFormerLeader(history, 'w', events, 'redis-head');

describe('writes by a former leader (one leader at a time)', () => {
  // Provisioning names redis-a; at 1000 the record moves to redis-b.
  const events = [set(10, null, 'redis-a'), set(1000, 'redis-a', 'redis-b')];

  it('a write to the old leader sent before the move is not evidence, even if acknowledged after it', () => {
    const h = [
      write(1, 500, 'redis-a'),
      write(2, 995, 'redis-a'),
      { ...write(3, 998, 'redis-a'), tComplete: 1400 },
    ];
    expect(former(h, events)).toEqual({ record: 'redis-head', count: 0, nodes: [] });
  });

  it('a write to the old leader sent after the move is evidence, named by node and seq', () => {
    const h = [
      write(1, 500, 'redis-a'),
      write(2, 1001, 'redis-a'),
      write(3, 1002, 'redis-b'), // the new leader: fine
      write(4, 1500, 'redis-a'),
    ];
    expect(former(h, events)).toEqual({
      record: 'redis-head',
      count: 2,
      nodes: [{ node: 'redis-a', count: 2, seqs: [2, 4] }],
    });
  });

  it('a write sent at the very instant of the move is not evidence (a clock tie goes to the node)', () => {
    expect(former([write(1, 1000, 'redis-a')], events)?.count).toBe(0);
  });

  it('only acknowledged writes count: a failed or unknown one at the old leader is not evidence', () => {
    const h = [write(1, 1100, 'redis-a', 'fail'), write(2, 1200, 'redis-a', 'unknown')];
    expect(former(h, events)?.count).toBe(0);
  });

  it('once the record names the node again, its writes are no longer evidence', () => {
    const back = [...events, set(2000, 'redis-b', 'redis-a')];
    const h = [
      write(1, 1500, 'redis-a'), // between the move away and the move back: evidence
      write(2, 2000, 'redis-a'), // at the move back: not
      write(3, 2500, 'redis-a'), // after it: the leader again
      write(4, 2100, 'redis-b'), // now redis-b is the former leader
    ];
    expect(former(h, back)).toEqual({
      record: 'redis-head',
      count: 2,
      nodes: [
        { node: 'redis-a', count: 1, seqs: [1] },
        { node: 'redis-b', count: 1, seqs: [4] },
      ],
    });
    // And a third move away from it opens a new span.
    const again = [...back, set(3000, 'redis-a', 'redis-c')];
    expect(former([write(5, 3500, 'redis-a'), write(6, 2500, 'redis-a')], again)?.nodes).toEqual([
      { node: 'redis-a', count: 1, seqs: [5] },
    ]);
  });

  it('no record events at all: nothing can be said (null, not zero)', () => {
    const h = [write(1, 1500, 'redis-a')];
    expect(former(h, [])).toBeNull();
    // Another system's record is no history of this one.
    expect(former(h, [set(10, null, 'pg-a', 'pg-writer'), set(900, 'pg-a', 'pg-b', 'pg-writer')])).toBeNull();
    expect(judgeOneLeader({}, 'w', 'redis', 'redis-head', null)).toMatchObject({
      name: 'one leader at a time',
      value: null,
      verdict: 'unknown',
      actual: 'unknown (no history of the redis-head record in the events)',
    });
  });

  it('only the record provisioning set: no move, no evidence', () => {
    expect(former([write(1, 1500, 'redis-a')], [set(10, null, 'redis-a')])).toEqual({
      record: 'redis-head',
      count: 0,
      nodes: [],
    });
  });

  it('judges a node the record never named not at all (a web head behind a load balancer)', () => {
    const h = [write(1, 1500, 'web-a'), write(2, 1600, 'haproxy')];
    expect(former(h, events)?.count).toBe(0);
  });

  it("ignores other probes' writes and reads", () => {
    const h: Op[] = [
      { ...write(1, 1500, 'redis-a'), probe: 'other' },
      { ...write(2, 1500, 'redis-a'), op: 'read' },
    ];
    expect(former(h, events)?.count).toBe(0);
  });

  it('reads the order from the events, whatever order they arrive in, and tells who was left without `previous`', () => {
    const shuffled: TimelineEvent[] = [
      { ...set(1000, null, 'redis-b'), data: { name: 'redis-head', value: 'redis-b', version: 2 } },
      { ...set(10, null, 'redis-a'), data: { name: 'redis-head', value: 'redis-a', version: 1 } },
    ];
    expect(formerLeaderSpans(shuffled, 'redis-head')).toEqual(
      new Map([['redis-a', [{ from: 1000, until: Number.POSITIVE_INFINITY }]]]),
    );
    // Two sets at one instant: the version says which came last.
    const tie = [
      {
        ...set(1000, 'redis-b', 'redis-a'),
        data: { name: 'redis-head', value: 'redis-a', previous: 'redis-b', version: 3 },
      },
      {
        ...set(1000, 'redis-a', 'redis-b'),
        data: { name: 'redis-head', value: 'redis-b', previous: 'redis-a', version: 2 },
      },
      set(10, null, 'redis-a'),
    ];
    // a -> b -> a at 1000: redis-a leads after it, redis-b is the former leader.
    expect(former([write(1, 1500, 'redis-a'), write(2, 1500, 'redis-b')], tie)?.nodes).toEqual([
      { node: 'redis-b', count: 1, seqs: [2] },
    ]);
  });
});

describe('the expectation one leader at a time', () => {
  const figures = {
    record: 'redis-head',
    count: 8,
    nodes: [
      { node: 'redis-a', count: 7, seqs: [101, 102, 103, 104, 105, 106, 107] },
      { node: 'redis-b', count: 1, seqs: [300] },
    ],
  };

  it('fails on any write by a former leader unless declared, naming the nodes, counts and first seqs', () => {
    const e = judgeOneLeader({}, 'w', 'redis', 'redis-head', figures);
    expect(e).toMatchObject({
      name: 'one leader at a time',
      scope: { probe: 'w', system: 'redis' },
      threshold: 0,
      value: 8,
      verdict: 'fail',
      actual:
        '8 acknowledged by a former leader: redis-a 7 (seq 101, 102, 103, 104, 105 … (2 more)); redis-b 1 (seq 300)',
    });
    expect(e.expected).toMatch(
      /<= 0 writes acknowledged by a node after the redis-head record moved away from it/,
    );
    const none = judgeOneLeader({}, 'w', 'redis', 'redis-head', {
      record: 'redis-head',
      count: 0,
      nodes: [],
    });
    expect(none).toMatchObject({ value: 0, actual: '0', verdict: 'pass' });
  });

  it('lets a scenario declare a bound, or any', () => {
    expect(judgeOneLeader({ writesByFormerLeader: 8 }, 'w', 'redis', 'redis-head', figures).verdict).toBe(
      'pass',
    );
    expect(judgeOneLeader({ writesByFormerLeader: 7 }, 'w', 'redis', 'redis-head', figures).verdict).toBe(
      'fail',
    );
    expect(
      judgeOneLeader({ writesByFormerLeader: 'any' }, 'w', 'redis', 'redis-head', figures),
    ).toMatchObject({
      verdict: 'pass',
      threshold: 'any',
      value: 8,
    });
  });
});
