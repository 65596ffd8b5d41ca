import type { HistoryInput } from '../core/history.ts';
import type { AvailabilityFigures } from '../core/result.ts';
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
 *
 * A window holds what happens from its fault's injection (`injectedAt`: the harness began to
 * apply it), so nothing the fault caused is put on the fault before it; its figures are
 * measured from the fault's applied instant (`from`: the provider said it was done, or the
 * injection when that is not known), so the time the provider took is not the system's.
 */
export interface FaultWindow {
  /** The index of the fault that opened it. */
  fault: number;
  /** Where its figures are measured from: its fault's applied instant. */
  from: number;
  /** Its fault's injection: the window holds what completes from here on. */
  injectedAt: number;
  /** Exclusive: the next window's injection; null for the last window. */
  until: number | null;
  /** Every applied fault injected inside it (the opening one first). */
  faults: number[];
}

export interface WindowedFault {
  index: number;
  tInject: number;
  /** When the provider said it was applied; absent or null when not known (then `tInject`). */
  tApplied?: number | null;
  measured: boolean;
  status: 'applied' | 'skipped';
}

/** When a fault took effect, as far as the harness knows: its applied instant, else its injection. */
export function appliedAt(f: Pick<WindowedFault, 'tInject' | 'tApplied'>): number {
  return f.tApplied !== null && f.tApplied !== undefined && f.tApplied >= f.tInject ? f.tApplied : f.tInject;
}

/**
 * `recoveredBy(window, t)`: whether the stack had recovered (stably) from the window before `t`;
 * without it every measured fault opens its own window.
 */
export function faultWindows(
  faults: readonly WindowedFault[],
  recoveredBy?: (window: FaultWindow, t: number) => boolean,
): FaultWindow[] {
  const applied = faults
    .filter((f) => f.status === 'applied')
    .sort((a, b) => a.tInject - b.tInject || a.index - b.index);
  const out: FaultWindow[] = [];
  for (const f of applied) {
    if (!f.measured) continue;
    const prev = out.at(-1);
    if (prev && recoveredBy && !recoveredBy(prev, f.tInject)) continue;
    if (prev) prev.until = f.tInject;
    out.push({ fault: f.index, from: appliedAt(f), injectedAt: f.tInject, until: null, faults: [] });
  }
  for (const f of applied) windowAt(out, f.tInject)?.faults.push(f.index);
  return out;
}

/** The window a time falls in (from its injection on), or undefined (before the first window). */
export function windowAt(windows: readonly FaultWindow[], t: number): FaultWindow | undefined {
  return windows.find((w) => t >= w.injectedAt && (w.until === null || t < w.until));
}

/** A probe's availability figures in a window, measured from its applied instant. */
export function windowAvailability(
  history: HistoryInput,
  w: Pick<FaultWindow, 'from' | 'injectedAt'>,
  probe: string,
  stableMs: number,
  until: number | null,
): AvailabilityFigures {
  return availability(history, w.from, probe, stableMs, until, w.injectedAt);
}

/**
 * The windows of a run, with "recovered" as the checker judges it: every probe's writes
 * succeeded stably (for `stableMs`) after the earlier fault and before the later one.
 */
export function measurementWindows(
  faults: readonly WindowedFault[],
  history: HistoryInput,
  probes: readonly string[],
  stableMs: number,
): FaultWindow[] {
  return faultWindows(faults, (w, t) =>
    probes.every((p) => windowAvailability(history, w, p, stableMs, t).recovered),
  );
}
