/**
 * The measurement windows of a run. Every fault that was applied and is measured opens a window
 * at its injection; the window closes when the next one opens (the last stays open). A fault
 * with `measure: false` opens none: it belongs to the window it falls in, or, before the first
 * window, is a preparation outside every window. A fault that hit nothing opens none either.
 */
export interface FaultWindow {
  /** The fault's index in the scenario's fault list. */
  fault: number;
  from: number;
  /** Exclusive; null for the last window. */
  until: number | null;
}

export interface WindowedFault {
  index: number;
  tInject: number;
  measured: boolean;
  status: 'applied' | 'skipped' | 'failed';
}

export function faultWindows(faults: readonly WindowedFault[]): FaultWindow[] {
  const opening = faults
    .filter((f) => f.measured && f.status === 'applied')
    .sort((a, b) => a.tInject - b.tInject || a.index - b.index);
  return opening.map((f, i) => ({
    fault: f.index,
    from: f.tInject,
    until: opening[i + 1]?.tInject ?? null,
  }));
}

/** The window a time falls in, or undefined (before the first window). */
export function windowAt(windows: readonly FaultWindow[], t: number): FaultWindow | undefined {
  return windows.find((w) => t >= w.from && (w.until === null || t < w.until));
}
