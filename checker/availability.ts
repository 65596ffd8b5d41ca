import type { Op } from '../probes/history.ts';

/**
 * Availability figures of one probe around one fault, as DESIGN.md defines them.
 *
 * Terms (all times on the run's monotonic clock, ms):
 * - *fault*: the moment the fault was injected (`faultAt`).
 * - *failure*: an operation whose outcome is `fail` or `unknown` (the client was not served),
 *   observed at its completion time, with `tComplete >= faultAt`.
 * - *success after the fault*: an `ok` operation invoked at or after `faultAt`.
 * - *stable success*: the first success after the fault that no failure follows. A failure
 *   completing at the same instant as a success counts as following it (a clock tie never
 *   shortens a measured outage). With `stableMs`, the history must also go on for at least that
 *   long after it (to the last write's completion): a success seen just before the probe stopped
 *   proves nothing.
 *
 * Figures:
 * - detection time: fault -> completion of the first failure.
 * - unavailability window: from the first failure (its invocation, or the fault if it was
 *   invoked before) to the first success after the last failure (its completion).
 * - failover time: fault -> completion of the stable success.
 * - outages: how many separate runs of consecutive failures there were (more than one: flapping).
 *
 * With no failure at all, detection and the window are null and failover time is the first
 * success after the fault. With no stable success, `recovered` is false and failover and the
 * window's end are null. `stableForMs` says how long the recovery was seen to hold.
 */
export interface AvailabilityFigures {
  faultAt: number;
  detectionMs: number | null;
  window: { start: number; end: number | null } | null;
  unavailabilityMs: number | null;
  failoverMs: number | null;
  recoveredAt: number | null;
  recovered: boolean;
  /** From the stable success to the last write's completion; null without one. */
  stableForMs: number | null;
  outages: number;
  failuresAfterFault: number;
  unknownAfterFault: number;
}

export function availability(
  history: readonly Op[],
  faultAt: number,
  probe?: string,
  stableMs = 0,
): AvailabilityFigures {
  const ops = byCompletion(
    history.filter((o) => o.op === 'write' && (probe === undefined || o.probe === probe)),
  );

  let firstFailure: Op | undefined;
  let lastFailureAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let unknown = 0;
  let outages = 0;
  let inOutage = false;
  for (const o of ops) {
    if (o.outcome !== 'ok') {
      if (o.tComplete < faultAt) continue;
      failures++;
      if (o.outcome === 'unknown') unknown++;
      firstFailure ??= o;
      lastFailureAt = Math.max(lastFailureAt, o.tComplete);
      if (!inOutage) outages++;
      inOutage = true;
    } else if (o.tInvoke >= faultAt) {
      inOutage = false;
    }
  }

  let stable: Op | undefined;
  for (const o of ops) {
    if (o.outcome === 'ok' && o.tInvoke >= faultAt && o.tComplete > lastFailureAt) {
      stable = o;
      break;
    }
  }
  const stableForMs = stable ? ops.at(-1)!.tComplete - stable.tComplete : null;
  if (stableForMs !== null && stableForMs < stableMs) stable = undefined;

  const recoveredAt = stable ? stable.tComplete : null;
  const window = firstFailure ? { start: Math.max(firstFailure.tInvoke, faultAt), end: recoveredAt } : null;
  return {
    faultAt,
    detectionMs: firstFailure ? firstFailure.tComplete - faultAt : null,
    window,
    unavailabilityMs: window && window.end !== null ? window.end - window.start : null,
    failoverMs: recoveredAt === null ? null : recoveredAt - faultAt,
    recoveredAt,
    recovered: stable !== undefined,
    stableForMs,
    outages,
    failuresAfterFault: failures,
    unknownAfterFault: unknown,
  };
}

/** The operations ordered by completion time; a probe's own history is already in order. */
function byCompletion(ops: Op[]): Op[] {
  for (let i = 1; i < ops.length; i++) {
    if (ops[i]!.tComplete < ops[i - 1]!.tComplete) {
      return ops.sort((a, b) => a.tComplete - b.tComplete);
    }
  }
  return ops;
}
