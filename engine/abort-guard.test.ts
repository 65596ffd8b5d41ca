import { describe, expect, it } from 'vitest';
import type { Op } from '../core/history.ts';
import { AbortGuard, recentFailureRatio } from './abort-guard.ts';

const op = (t: number, outcome: Op['outcome'], probe = 'p', extra: Partial<Op> = {}): Op => ({
  probe,
  op: 'write',
  seq: t,
  tInvoke: t - 1,
  tComplete: t,
  outcome,
  ...extra,
});

describe('abort guard', () => {
  it('the ratio counts failed and unknown writes of the last second, not reads, other probes or cut ones', () => {
    const ops = [
      op(100, 'ok'),
      op(1500, 'fail'),
      op(1600, 'unknown'),
      op(1700, 'ok'),
      op(1800, 'fail', 'other'),
      op(1900, 'unknown', 'p', { cutByProbe: true }),
      { ...op(1950, 'fail'), op: 'read' as const },
    ];
    expect(recentFailureRatio(ops, 'p', 2000)).toEqual({ ratio: 2 / 3, count: 3 });
    expect(recentFailureRatio(ops, 'p', 5000)).toBeNull();
  });

  it('halts once the ratio has stayed above the bound for forMs, and only once', () => {
    const ops: Op[] = [];
    let now = 0;
    const breaches: string[] = [];
    const g = new AbortGuard(
      { maxFailureRatio: 0.5, forMs: 2000 },
      ['p'],
      () => ops,
      () => now,
      (b) => breaches.push(`${b.probe}@${now}`),
    );
    for (; now <= 10_000; now += 250) {
      // healthy until 3 s, failing from then on
      ops.push(op(now, now < 3000 ? 'ok' : 'fail'));
      g.look();
    }
    // Above from the first look where the last second is mostly failures (3500), for 2000 ms.
    expect(breaches).toEqual(['p@5500']);
  });

  it('a dip below the bound starts the count again; no completed write says nothing', () => {
    const ops: Op[] = [];
    let now = 0;
    const breaches: number[] = [];
    const g = new AbortGuard(
      { maxFailureRatio: 0.5, forMs: 1500 },
      ['p'],
      () => ops,
      () => now,
      () => breaches.push(now),
    );
    const step = (outcome: Op['outcome'] | null) => {
      now += 250;
      if (outcome) ops.push(op(now, outcome));
      g.look();
    };
    for (let i = 0; i < 4; i++) step('fail'); // above since 250
    for (let i = 0; i < 5; i++) step('ok'); // back below
    expect(breaches).toEqual([]);
    for (let i = 0; i < 4; i++) step('fail');
    for (let i = 0; i < 8; i++) step(null); // nothing completes: no look can judge, the state holds
    expect(breaches).toEqual([]);
    step('fail'); // the next failure finds it above for long enough
    expect(breaches).toEqual([now]);
  });
});
