import type { Op } from '../core/history.ts';
import type { AvailabilityFigures } from '../core/result.ts';

/**
 * Availability figures of one probe in the window of one fault, as DESIGN.md defines them.
 *
 * Terms (all times on the run's monotonic clock, ms):
 * - *injection*: when the harness began to apply the fault (`injectedAt`).
 * - *fault*: the moment the fault took effect, as far as the harness knows: when the provider
 *   said it was applied (`faultAt`; the injection when that is not known). Every figure is
 *   measured from here, so the time a provider takes to carry a fault out (a stop that waits
 *   for the container, a freeze that waits for the disk to flush) is not counted as the
 *   system's; `applyLagMs` is that time, a figure of its own.
 * - *window*: from the injection to `until` (the next measured fault's injection; open for the
 *   last one). Only operations that complete inside it count, so two faults never share
 *   figures; one that completes while the fault is being applied is the fault's, not the one
 *   before's.
 * - *failure*: an operation whose outcome is `fail` or `unknown` (the client was not served),
 *   observed at its completion time.
 * - *success after the fault*: an `ok` operation invoked at or after `faultAt`.
 * - *outage*: the window holds at least one failure. Without one, the probe saw no outage:
 *   detection, unavailability and failover are null, and the window counts as recovered as long
 *   as a write succeeded in it.
 * - *stable success*: the first success after the fault that no failure in the window follows.
 *   A failure completing at the same instant as a success counts as following it (a clock tie
 *   never shortens a measured outage). With `stableMs`, the window must also go on for at least
 *   that long after it (to its last write's completion): a success seen just before the probe
 *   stopped, or just before the next fault, proves nothing.
 *
 * Figures:
 * - detection time: fault -> completion of the first failure (0 when it completed while the
 *   fault was being applied: the fault had already taken effect).
 * - unavailability window: from the earliest invocation of a failure (or the fault, if that
 *   failure was invoked before it) to the stable success (its completion). With several
 *   operations in flight the failure that completes first need not be the one sent first: a
 *   write sent earlier may hang until its timeout while a later one fails at once; the service
 *   was already unavailable to the earlier one.
 * - failover time: fault -> completion of the stable success.
 * - outages: how many separate runs of consecutive failures there were (more than one: flapping).
 * - longest stall: the longest stretch of the window in which no write was acknowledged, from the
 *   fault (or a later acknowledgement) to the next acknowledgement, or to the window's last write when
 *   no acknowledgement came after it. It sees what failures do not: a
 *   frozen disk that holds every commit for 1.5 s and then lets them all through.
 */

export function availability(
  history: readonly Op[],
  faultAt: number,
  probe?: string,
  stableMs = 0,
  until: number | null = null,
  injectedAt = faultAt,
): AvailabilityFigures {
  const end = until ?? Number.POSITIVE_INFINITY;
  const opens = Math.min(injectedAt, faultAt);
  const ops = byCompletion(
    history.filter(
      (o) =>
        o.op === 'write' &&
        !o.cutByProbe &&
        (probe === undefined || o.probe === probe) &&
        o.tComplete >= opens &&
        o.tComplete < end,
    ),
  );
  let firstFailure: Op | undefined;
  let earliestFailureInvoke = Number.POSITIVE_INFINITY;
  let lastFailureAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let unknown = 0;
  let outages = 0;
  let inOutage = false;
  let successes = 0;
  for (const o of ops) {
    if (o.outcome !== 'ok') {
      failures++;
      if (o.outcome === 'unknown') unknown++;
      firstFailure ??= o;
      earliestFailureInvoke = Math.min(earliestFailureInvoke, o.tInvoke);
      lastFailureAt = Math.max(lastFailureAt, o.tComplete);
      if (!inOutage) outages++;
      inOutage = true;
    } else if (o.tInvoke >= faultAt) {
      successes++;
      inOutage = false;
    }
  }
  let longestStallMs: number | null = null;
  let lastAck = faultAt;
  for (const o of ops) {
    if (o.outcome !== 'ok') continue;
    // An acknowledgement while the fault was being applied ends no stall of the fault's.
    longestStallMs = Math.max(longestStallMs ?? 0, o.tComplete - lastAck);
    lastAck = Math.max(lastAck, o.tComplete);
  }
  // A stall still open when the window's writes end counts up to the last write seen in it (a
  // window with no acknowledgement at all is one stall, its worst case, not a missing figure).
  const lastSeen = ops.at(-1)?.tComplete;
  if (lastSeen !== undefined && lastSeen > lastAck)
    longestStallMs = Math.max(longestStallMs ?? 0, lastSeen - lastAck);
  const base = {
    faultAt,
    injectedAt: opens,
    applyLagMs: faultAt - opens,
    until,
    operations: ops.length,
    failures,
    unknown,
    outages,
    longestStallMs,
  };
  if (!firstFailure) {
    return {
      ...base,
      outage: false,
      detectionMs: null,
      window: null,
      unavailabilityMs: null,
      failoverMs: null,
      recoveredAt: null,
      recovered: successes > 0,
      stableForMs: null,
    };
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
  const window = { start: Math.max(earliestFailureInvoke, faultAt), end: recoveredAt };
  return {
    ...base,
    outage: true,
    detectionMs: Math.max(0, firstFailure.tComplete - faultAt),
    window,
    unavailabilityMs: window.end !== null ? window.end - window.start : null,
    failoverMs: recoveredAt === null ? null : recoveredAt - faultAt,
    recoveredAt,
    recovered: stable !== undefined,
    stableForMs,
  };
}

/** The operations ordered by completion time; a probe's own history is mostly in order. */
function byCompletion(ops: Op[]): Op[] {
  for (let i = 1; i < ops.length; i++) {
    if (ops[i]!.tComplete < ops[i - 1]!.tComplete) {
      return ops.sort((a, b) => a.tComplete - b.tComplete);
    }
  }
  return ops;
}

export type { AvailabilityFigures };
