import { describe, expect, it } from 'vitest';
import type { Op, Outcome } from '../core/history.ts';
import { checkWrites } from './writes.ts';

const w = (seq: number, outcome: Outcome): Op => ({
  probe: 'w',
  op: 'write',
  seq,
  tInvoke: seq,
  tComplete: seq + 1,
  outcome,
});

describe('checkWrites', () => {
  it('names every lost acknowledged write', () => {
    const h = [w(1, 'ok'), w(2, 'ok'), w(3, 'ok'), w(4, 'ok')];
    const f = checkWrites(h, new Set([1, 3]));
    expect(f.lost).toBe(2);
    expect(f.lostSeqs).toEqual([2, 4]);
    expect(f.verdict).toBe('fail');
    expect(f.acknowledged).toBe(4);
  });

  it('nothing lost when every acknowledged write is read back', () => {
    const f = checkWrites([w(1, 'ok'), w(2, 'fail')], new Set([1]));
    expect(f.lost).toBe(0);
    expect(f.verdict).toBe('pass');
    expect(f.failed).toBe(1);
    expect(f.failedButPresent).toBe(0);
  });

  it('unknown writes are never lost nor kept: reported on their own', () => {
    const f = checkWrites([w(1, 'ok'), w(2, 'unknown'), w(3, 'unknown')], new Set([1, 2]));
    expect(f.lost).toBe(0);
    expect(f.unknown).toBe(2);
    expect(f.unknownRecovered).toBe(1);
    expect(f.unknownAbsent).toBe(1);
    expect(f.verdict).toBe('pass');
  });

  it('flags failed writes that are present, and values nobody wrote', () => {
    const f = checkWrites([w(1, 'fail'), w(2, 'ok')], new Set([1, 2, 99]));
    expect(f.failedButPresentSeqs).toEqual([1]);
    expect(f.unexpectedValues).toEqual([99]);
    expect(f.verdict).toBe('fail');
  });

  it('without a read-back nothing can be said', () => {
    const f = checkWrites([w(1, 'ok')], null);
    expect(f.verdict).toBe('unknown');
    expect(f.lost).toBeNull();
    expect(f.unknownAbsent).toBeNull();
    expect(f.readBackSize).toBeNull();
  });

  it('ignores reads and other probes', () => {
    const h: Op[] = [{ ...w(1, 'ok'), probe: 'x' }, { ...w(2, 'ok'), op: 'read' }, w(3, 'ok')];
    const f = checkWrites(h, new Set([3]), 'w');
    expect(f.attempted).toBe(1);
    expect(f.unexpected).toBe(0);
  });
});
