import type { Op } from '../core/history.ts';
import { availability } from './availability.ts';

/**
 * The measurement windows of a run. A measured, applied fault opens a window at its injection;
 * the window closes when the next one opens (the last stays open). A fault does not open a
 * window of its own, and belongs to the one it falls in, when:
 * - it is not measured (`measure: false`): before the first window it is a preparation outside
 *   every window;
 * - it hit nothing (skipped);
 * - it came while the stack had not yet recovered from the faults before it (faults injected
 *   together, or one on top of an outage): their figures cannot be told apart, so they are
 *   judged together.
 */
export interface FaultWindow {
  /** The index of the fault that opened it. */
  fault: number;
  from: number;
  /** Exclusive; null for the last window. */
  until: number | null;
  /** Every applied fault injected inside it (the opening one first). */
  faults: number[];
}

export interface WindowedFault {
  index: number;
  tInject: number;
  measured: boolean;
  status: 'applied' | 'skipped';
}

/**
 * `recoveredBy(from, t)`: whether the stack had recovered (stably) from the window opened at
 * `from` before `t`; without it every measured fault opens its own window.
 */
export function faultWindows(
  faults: readonly WindowedFault[],
  recoveredBy?: (from: number, t: number) => boolean,
): FaultWindow[] {
  const applied = faults
    .filter((f) => f.status === 'applied')
    .sort((a, b) => a.tInject - b.tInject || a.index - b.index);
  const out: FaultWindow[] = [];
  for (const f of applied) {
    if (!f.measured) continue;
    const prev = out.at(-1);
    if (prev && recoveredBy && !recoveredBy(prev.from, f.tInject)) continue;
    if (prev) prev.until = f.tInject;
    out.push({ fault: f.index, from: f.tInject, until: null, faults: [] });
  }
  for (const f of applied) windowAt(out, f.tInject)?.faults.push(f.index);
  return out;
}

/** The window a time falls in, or undefined (before the first window). */
export function windowAt(windows: readonly FaultWindow[], t: number): FaultWindow | undefined {
  return windows.find((w) => t >= w.from && (w.until === null || t < w.until));
}

/**
 * The windows of a run, with "recovered" as the checker judges it: every probe's writes
 * succeeded stably (for `stableMs`) after the earlier fault and before the later one.
 */
export function measurementWindows(
  faults: readonly WindowedFault[],
  history: readonly Op[],
  probes: readonly string[],
  stableMs: number,
): FaultWindow[] {
  return faultWindows(faults, (from, t) =>
    probes.every((p) => availability(history, from, p, stableMs, t).recovered),
  );
}
