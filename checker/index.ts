import type { Op } from '../core/history.ts';
import type { Expectations } from '../core/result.ts';
import type { AvailabilityFigures } from './availability.ts';
import {
  type ConvergenceFigures,
  type ExpectationResult,
  type WindowFigures,
  judgeExpectations,
} from './expectations.ts';
import { type Verdict, combine } from './verdict.ts';
import { type FaultWindow, windowAvailability } from './windows.ts';
import { type WriteFigures, checkWrites } from './writes.ts';

export type {
  AvailabilityFigures,
  ConvergenceFigures,
  ExpectationResult,
  Verdict,
  WindowFigures,
  WriteFigures,
};

export interface CheckInput {
  history: readonly Op[];
  probe: string;
  /** The measurement windows (checker/windows.ts); empty when no fault was applied. */
  windows: readonly FaultWindow[];
  readBack: ReadonlySet<number> | null;
  expect: Expectations;
  /** How long a recovery must be seen to hold before it counts (the scenario's recovery.stableMs). */
  stableMs: number;
  systems: readonly { name: string; convergence: ConvergenceFigures | null }[];
}

export interface CheckResult {
  verdict: Verdict;
  windows: WindowFigures[];
  writes: WriteFigures | null;
  expectations: ExpectationResult[];
  /** Set when the checker itself failed or had nothing to judge: the verdict is then unknown. */
  error?: string;
}

/**
 * The verdict of a run: pure, over the history, the fault windows, the read-back and the
 * systems' convergence. Verdicts compose: fail beats unknown beats pass. An exception inside the
 * checker becomes an unknown verdict with the error, never a crash.
 */
export function check(input: CheckInput): CheckResult {
  try {
    const writes = checkWrites(input.history, input.readBack, input.probe);
    const windows = input.windows.map((w) => ({
      fault: w.fault,
      availability: windowAvailability(input.history, w, input.probe, input.stableMs, w.until),
    }));
    const expectations = judgeExpectations({
      expect: input.expect,
      probe: input.probe,
      windows,
      writes,
      systems: input.systems,
    });
    if (windows.length === 0) {
      return {
        verdict: combine(['unknown', ...expectations.map((e) => e.verdict)]),
        windows,
        writes,
        expectations,
        error: 'no fault was applied: there is no failover to judge',
      };
    }
    return { verdict: combine(expectations.map((e) => e.verdict)), windows, writes, expectations };
  } catch (err) {
    return { verdict: 'unknown', windows: [], writes: null, expectations: [], error: String(err) };
  }
}
