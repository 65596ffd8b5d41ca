import type { Scenario } from '../scenarios/schema.ts';
import type { AvailabilityFigures } from './availability.ts';
import type { Verdict } from './verdict.ts';
import type { WriteFigures } from './writes.ts';

export interface ExpectationResult {
  name: string;
  expected: string;
  actual: string;
  verdict: Verdict;
}

const ms = (v: number | null) => (v === null ? 'none' : `${Math.round(v)} ms`);

/** Each expectation of a scenario, judged against the figures. Absent ones are not judged. */
export function judgeExpectations(
  expect: Scenario['expect'],
  availability: AvailabilityFigures,
  writes: WriteFigures,
): ExpectationResult[] {
  const out: ExpectationResult[] = [];
  if (expect.recovered) {
    out.push({
      name: 'recovered',
      expected: 'writes succeed again, with no failure after',
      actual: availability.recovered ? `yes, ${ms(availability.failoverMs)} after the fault` : 'never',
      verdict: availability.recovered ? 'pass' : 'fail',
    });
  }
  if (expect.maxFailoverMs !== undefined) {
    const v = availability.failoverMs;
    out.push({
      name: 'failover time',
      expected: `<= ${expect.maxFailoverMs} ms`,
      actual: v === null ? 'never recovered' : ms(v),
      verdict: v !== null && v <= expect.maxFailoverMs ? 'pass' : 'fail',
    });
  }
  if (expect.maxUnavailabilityMs !== undefined) {
    const v = availability.window === null ? 0 : availability.unavailabilityMs;
    out.push({
      name: 'unavailability window',
      expected: `<= ${expect.maxUnavailabilityMs} ms`,
      actual: v === null ? 'still open' : ms(v),
      verdict: v !== null && v <= expect.maxUnavailabilityMs ? 'pass' : 'fail',
    });
  }
  const lostKnown = writes.valid !== 'unknown';
  if (expect.maxLostWrites !== undefined) {
    out.push({
      name: 'lost acknowledged writes',
      expected: `<= ${expect.maxLostWrites}`,
      actual: lostKnown ? String(writes.lost) : 'unknown (no read-back)',
      verdict: !lostKnown ? 'unknown' : writes.lost <= expect.maxLostWrites ? 'pass' : 'fail',
    });
  }
  if (expect.lostWrites !== undefined) {
    out.push({
      name: 'lost acknowledged writes (exact)',
      expected: `= ${expect.lostWrites}`,
      actual: lostKnown ? String(writes.lost) : 'unknown (no read-back)',
      verdict: !lostKnown ? 'unknown' : writes.lost === expect.lostWrites ? 'pass' : 'fail',
    });
  }
  return out;
}
