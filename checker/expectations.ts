import type { Scenario } from '../scenarios/schema.ts';
import type { AvailabilityFigures } from './availability.ts';
import type { Verdict } from './verdict.ts';
import type { WriteFigures } from './writes.ts';

/**
 * One expectation judged: `threshold` and `value` are the machine-readable pair (ms or a
 * count; null value when there is nothing to measure), `expected` and `actual` say the same for
 * a person.
 */
export interface ExpectationResult {
  name: string;
  threshold: number | boolean;
  value: number | boolean | null;
  expected: string;
  actual: string;
  verdict: Verdict;
}

const ms = (v: number) => `${Math.round(v)} ms`;

/**
 * Each expectation of a scenario, judged against the figures; absent ones are not judged. A
 * read-back that holds values no write attempted always fails the run: the history and the data
 * disagree, so no other figure can be trusted.
 */
export function judgeExpectations(
  expect: Scenario['expect'],
  availability: AvailabilityFigures,
  writes: WriteFigures,
): ExpectationResult[] {
  const out: ExpectationResult[] = [];
  if (expect.recovered) {
    const a = availability;
    out.push({
      name: 'recovered',
      threshold: true,
      value: a.recovered,
      expected: 'writes succeed again and keep succeeding',
      actual: a.recovered
        ? `yes, ${ms(a.failoverMs!)} after the fault`
        : a.stableForMs !== null
          ? `not for long enough (${ms(a.stableForMs)} without a failure)`
          : 'never',
      verdict: a.recovered ? 'pass' : 'fail',
    });
  }
  const atMost = (name: string, max: number, value: number | null, unit: 'ms' | '', missing: string) => {
    const show = (v: number) => (unit === 'ms' ? ms(v) : String(v));
    out.push({
      name,
      threshold: max,
      value,
      expected: `<= ${show(max)}`,
      actual: value === null ? missing : show(value),
      verdict:
        value === null
          ? missing.startsWith('unknown')
            ? 'unknown'
            : 'fail'
          : value <= max
            ? 'pass'
            : 'fail',
    });
  };
  if (expect.maxFailoverMs !== undefined) {
    atMost('failover time', expect.maxFailoverMs, availability.failoverMs, 'ms', 'never recovered');
  }
  if (expect.maxUnavailabilityMs !== undefined) {
    const v = availability.window === null ? 0 : availability.unavailabilityMs;
    atMost('unavailability window', expect.maxUnavailabilityMs, v, 'ms', 'still open');
  }
  if (expect.maxLostWrites !== undefined) {
    atMost('lost acknowledged writes', expect.maxLostWrites, writes.lost, '', 'unknown (no read-back)');
  }
  if (expect.lostWrites !== undefined) {
    out.push({
      name: 'lost acknowledged writes (exact)',
      threshold: expect.lostWrites,
      value: writes.lost,
      expected: `= ${expect.lostWrites}`,
      actual: writes.lost === null ? 'unknown (no read-back)' : String(writes.lost),
      verdict: writes.lost === null ? 'unknown' : writes.lost === expect.lostWrites ? 'pass' : 'fail',
    });
  }
  if (writes.unexpected > 0) {
    out.push({
      name: 'read-back integrity',
      threshold: 0,
      value: writes.unexpected,
      expected: 'every value read back was written by the probe',
      actual: `${writes.unexpected} values nobody wrote`,
      verdict: 'fail',
    });
  }
  return out;
}
