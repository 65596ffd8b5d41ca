import type { Op } from '../probes/history.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { type AvailabilityFigures, availability } from './availability.ts';
import { type ExpectationResult, judgeExpectations } from './expectations.ts';
import { type Verdict, combine } from './verdict.ts';
import { type WriteFigures, checkWrites } from './writes.ts';

export type { AvailabilityFigures, ExpectationResult, Verdict, WriteFigures };

export interface CheckInput {
  history: readonly Op[];
  probe: string;
  /** When the measured fault was injected; null if no fault was injected. */
  faultAt: number | null;
  readBack: ReadonlySet<number> | null;
  expect: Scenario['expect'];
  /** How long a recovery must be seen to hold before it counts (the scenario's recovery.stableMs). */
  stableMs: number;
}

export interface CheckResult {
  verdict: Verdict;
  availability: AvailabilityFigures | null;
  writes: WriteFigures | null;
  expectations: ExpectationResult[];
  /** Set when the checker itself failed: the verdict is then unknown, never a crash. */
  error?: string;
}

/** The verdict of a run: pure, over the history, the fault time and the read-back. */
export function check(input: CheckInput): CheckResult {
  try {
    const writes = checkWrites(input.history, input.readBack, input.probe);
    if (input.faultAt === null) {
      return {
        verdict: 'unknown',
        availability: null,
        writes,
        expectations: [],
        error: 'no fault was injected',
      };
    }
    const avail = availability(input.history, input.faultAt, input.probe, input.stableMs);
    const expectations = judgeExpectations(input.expect, avail, writes);
    return {
      verdict: combine(expectations.map((e) => e.verdict)),
      availability: avail,
      writes,
      expectations,
    };
  } catch (err) {
    return { verdict: 'unknown', availability: null, writes: null, expectations: [], error: String(err) };
  }
}
