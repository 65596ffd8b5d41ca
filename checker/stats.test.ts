import { describe, expect, it } from 'vitest';
import type { Op, Outcome } from '../core/history.ts';
import { outcomeSeries, probeStats } from './stats.ts';

const op = (seq: number, tInvoke: number, tComplete: number, outcome: Outcome): Op => ({
  probe: 'w',
  op: 'write',
  seq,
  tInvoke,
  tComplete,
  outcome,
});

describe('probe statistics', () => {
  const h = [
    op(1, 0, 1, 'ok'),
    op(2, 10, 12, 'ok'),
    op(3, 20, 520, 'unknown'),
    op(4, 600, 601, 'fail'),
    op(5, 1000, 1004, 'ok'),
  ];

  it('counts outcomes, throughput and latency of acknowledged writes', () => {
    const s = probeStats(h, 'w');
    expect(s).toMatchObject({ attempted: 5, ok: 3, fail: 1, unknown: 1 });
    expect(s.okPerSec).toBeCloseTo(3000 / 1004, 6);
    expect(s.latencyMs).toEqual({ p50: 2, p99: 4, max: 4 });
  });

  it('limits to a window of invocation times', () => {
    expect(probeStats(h, 'w', 0, 100)).toMatchObject({ attempted: 3, ok: 2, unknown: 1 });
    expect(probeStats(h, 'w', 5000).latencyMs).toBeNull();
  });

  it('buckets outcomes by completion time', () => {
    const s = outcomeSeries(h, 'w', 250);
    expect(s.start).toBe(0);
    expect(s.counts).toEqual([
      [2, 0, 0],
      [0, 0, 0],
      [0, 1, 1],
      [0, 0, 0],
      [1, 0, 0],
    ]);
    expect(outcomeSeries([], 'w').counts).toEqual([]);
  });

  it('buckets the same whatever order the completions were recorded in', () => {
    // Concurrent writers record out of completion order: a later write first, then ones that
    // completed before the first bucket it opened, then one far after (the buckets grow).
    const shuffled = [h[3]!, h[4]!, h[0]!, h[2]!, h[1]!, op(6, 90_000, 90_100, 'ok')];
    const s = outcomeSeries(shuffled, 'w', 250);
    expect(s.start).toBe(0);
    expect(s.counts.slice(0, 5)).toEqual(outcomeSeries(h, 'w', 250).counts);
    expect(s.counts).toHaveLength(Math.floor(90_100 / 250) + 1);
    expect(s.counts.at(-1)).toEqual([1, 0, 0]);
    expect(s.counts.slice(5, -1).every(([a, b, c]) => a + b + c === 0)).toBe(true);
    // Buckets that start below zero and above.
    const early = outcomeSeries([op(1, 700, 760, 'ok'), op(2, -900, -600, 'fail')], 'w', 250);
    expect(early.start).toBe(-750);
    expect(early.counts).toEqual([
      [0, 1, 0],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [1, 0, 0],
    ]);
  });
});
