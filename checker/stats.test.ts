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
});
