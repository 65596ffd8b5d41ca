import { describe, expect, it } from 'vitest';
import type { Op } from '../probes/history.ts';
import { check } from './index.ts';
import { combine } from './verdict.ts';

const ok = (seq: number, t: number): Op => ({
  probe: 'w',
  op: 'write',
  seq,
  tInvoke: t,
  tComplete: t + 1,
  outcome: 'ok',
});
const failed = (seq: number, t: number): Op => ({
  probe: 'w',
  op: 'write',
  seq,
  tInvoke: t,
  tComplete: t + 1,
  outcome: 'fail',
});

describe('verdicts', () => {
  it('compose: fail beats unknown beats pass', () => {
    expect(combine([])).toBe('pass');
    expect(combine(['pass', 'unknown'])).toBe('unknown');
    expect(combine(['unknown', 'fail', 'pass'])).toBe('fail');
  });
});

describe('check', () => {
  const history = [ok(1, 0), failed(2, 100), failed(3, 200), ok(4, 1500), ok(5, 1600)];

  it('passes when every expectation holds', () => {
    const r = check({
      history,
      probe: 'w',
      faultAt: 50,
      readBack: new Set([1, 4, 5]),
      expect: { recovered: true, maxFailoverMs: 2000, maxLostWrites: 0 },
      stableMs: 0,
    });
    expect(r.verdict).toBe('pass');
    expect(r.expectations.map((e) => e.verdict)).toEqual(['pass', 'pass', 'pass']);
  });

  it('fails when failover is too slow or a write is lost', () => {
    const r = check({
      history,
      probe: 'w',
      faultAt: 50,
      readBack: new Set([1, 4]),
      expect: { recovered: true, maxFailoverMs: 1000, maxLostWrites: 0 },
      stableMs: 0,
    });
    expect(r.verdict).toBe('fail');
    expect(r.expectations.find((e) => e.name === 'failover time')?.actual).toBe('1451 ms');
    expect(r.expectations.find((e) => e.name === 'lost acknowledged writes')?.actual).toBe('1');
  });

  it('is unknown, not passing, when the read-back is missing', () => {
    const r = check({
      history,
      probe: 'w',
      faultAt: 50,
      readBack: null,
      expect: { recovered: true, maxLostWrites: 0 },
      stableMs: 0,
    });
    expect(r.verdict).toBe('unknown');
  });

  it('turns an exception inside the checker into unknown with the error', () => {
    const broken = [null] as unknown as Op[];
    const r = check({
      history: broken,
      probe: 'w',
      faultAt: 0,
      readBack: new Set(),
      expect: { recovered: true },
      stableMs: 0,
    });
    expect(r.verdict).toBe('unknown');
    expect(r.error).toMatch(/TypeError/);
  });
});
