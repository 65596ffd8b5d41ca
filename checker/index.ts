import type { TimelineEvent } from '../core/events.ts';
import { type HistoryInput, opLog } from '../core/history.ts';
import type { Expectations, FormerLeaderWrites } from '../core/result.ts';
import type { AvailabilityFigures } from './availability.ts';
import {
  type ConvergenceFigures,
  type ExpectationResult,
  type WindowFigures,
  judgeExpectations,
  judgeOneLeader,
} from './expectations.ts';
import { writesByFormerLeader } from './former-leader.ts';
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
  history: HistoryInput;
  probe: string;
  /** The measurement windows (checker/windows.ts); empty when no fault was applied. */
  windows: readonly FaultWindow[];
  readBack: ReadonlySet<number> | null;
  expect: Expectations;
  /** How long a recovery must be seen to hold before it counts (the scenario's recovery.stableMs). */
  stableMs: number;
  systems: readonly { name: string; convergence: ConvergenceFigures | null }[];
  /**
   * The leader record of the probe's system and the run's events, to judge one leader at a time
   * (checker/former-leader.ts); absent for a probe whose system has no leader.
   */
  leadership?: { system: string; record: string; events: readonly TimelineEvent[] } | undefined;
}

export interface CheckResult {
  verdict: Verdict;
  windows: WindowFigures[];
  writes: WriteFigures | null;
  /** Present when the input had a leader record: null when the record's history is unknown. */
  writesByFormerLeader?: FormerLeaderWrites | null;
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
    const history = opLog(input.history);
    const writes = checkWrites(history, input.readBack, input.probe);
    const windows = input.windows.map((w) => ({
      fault: w.fault,
      availability: windowAvailability(history, w, input.probe, input.stableMs, w.until),
    }));
    const expectations = judgeExpectations({
      expect: input.expect,
      probe: input.probe,
      windows,
      writes,
      systems: input.systems,
    });
    // One leader at a time: only for a probe whose system has a leader record.
    let formerLeader: { writesByFormerLeader: FormerLeaderWrites | null } | undefined;
    const lead = input.leadership;
    if (lead) {
      const f = writesByFormerLeader(history, input.probe, lead.events, lead.record);
      formerLeader = { writesByFormerLeader: f };
      expectations.push(judgeOneLeader(input.expect, input.probe, lead.system, lead.record, f));
    }
    if (windows.length === 0) {
      return {
        verdict: combine(['unknown', ...expectations.map((e) => e.verdict)]),
        windows,
        writes,
        ...formerLeader,
        expectations,
        error: 'no fault was applied: there is no failover to judge',
      };
    }
    return {
      verdict: combine(expectations.map((e) => e.verdict)),
      windows,
      writes,
      ...formerLeader,
      expectations,
    };
  } catch (err) {
    return { verdict: 'unknown', windows: [], writes: null, expectations: [], error: String(err) };
  }
}
