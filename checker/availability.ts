import {
  CUT_BY_PROBE,
  type ChunkBounds,
  type HistoryInput,
  OK,
  OUTCOME_MASK,
  type OpChunk,
  type OpLog,
  UNKNOWN,
  opLog,
} from '../core/history.ts';
import type { AvailabilityFigures } from '../core/result.ts';
import { isWriteOf, probeIndex } from './columns.ts';

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
  history: HistoryInput,
  faultAt: number,
  probe?: string,
  stableMs = 0,
  until: number | null = null,
  injectedAt = faultAt,
): AvailabilityFigures {
  const end = until ?? Number.POSITIVE_INFINITY;
  const opens = Math.min(injectedAt, faultAt);
  const ops = windowOps(opLog(history), probe, opens, end);
  const n = ops.length;
  const { tInvoke, tComplete, outcome } = ops;
  let firstFailure = -1;
  let earliestFailureInvoke = Number.POSITIVE_INFINITY;
  let lastFailureAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let unknown = 0;
  let outages = 0;
  let inOutage = false;
  let successes = 0;
  for (let i = 0; i < n; i++) {
    if (outcome[i] !== OK) {
      failures++;
      if (outcome[i] === UNKNOWN) unknown++;
      if (firstFailure < 0) firstFailure = i;
      earliestFailureInvoke = Math.min(earliestFailureInvoke, tInvoke[i]!);
      lastFailureAt = Math.max(lastFailureAt, tComplete[i]!);
      if (!inOutage) outages++;
      inOutage = true;
    } else if (tInvoke[i]! >= faultAt) {
      successes++;
      inOutage = false;
    }
  }
  let longestStallMs: number | null = null;
  let lastAck = faultAt;
  for (let i = 0; i < n; i++) {
    // An acknowledgement while the fault was being applied ends no stall of the fault's, and
    // begins none: with nothing seen after the applied instant there is no stall to give.
    if (outcome[i] !== OK || tComplete[i]! < faultAt) continue;
    longestStallMs = Math.max(longestStallMs ?? 0, tComplete[i]! - lastAck);
    lastAck = Math.max(lastAck, tComplete[i]!);
  }
  // A stall still open when the window's writes end counts up to the last write seen in it (a
  // window with no acknowledgement at all is one stall, its worst case, not a missing figure).
  const lastSeen = n > 0 ? tComplete[n - 1]! : undefined;
  if (lastSeen !== undefined && lastSeen > lastAck)
    longestStallMs = Math.max(longestStallMs ?? 0, lastSeen - lastAck);
  const base = {
    faultAt,
    injectedAt: opens,
    applyLagMs: faultAt - opens,
    until,
    operations: n,
    failures,
    unknown,
    outages,
    longestStallMs,
  };
  if (firstFailure < 0) {
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
  let stable = -1;
  for (let i = 0; i < n; i++) {
    if (outcome[i] === OK && tInvoke[i]! >= faultAt && tComplete[i]! > lastFailureAt) {
      stable = i;
      break;
    }
  }
  const stableForMs = stable >= 0 ? tComplete[n - 1]! - tComplete[stable]! : null;
  if (stableForMs !== null && stableForMs < stableMs) stable = -1;
  const recoveredAt = stable >= 0 ? tComplete[stable]! : null;
  const window = { start: Math.max(earliestFailureInvoke, faultAt), end: recoveredAt };
  return {
    ...base,
    outage: true,
    detectionMs: Math.max(0, tComplete[firstFailure]! - faultAt),
    window,
    unavailabilityMs: window.end !== null ? window.end - window.start : null,
    failoverMs: recoveredAt === null ? null : recoveredAt - faultAt,
    recoveredAt,
    recovered: stable >= 0,
    stableForMs,
  };
}

/**
 * The probe's writes (not cut short by the probe) that complete in [from, end), in columns,
 * ordered by completion (stably: a tie keeps the order they were recorded in); a probe's own
 * history is mostly in order, so most windows need no sort.
 */
function windowOps(log: OpLog, probe: string | undefined, from: number, end: number) {
  const pid = probeIndex(log, probe);
  const inRange = (c: ChunkBounds) => c.maxComplete >= from && c.minComplete < end;
  const counts = (c: OpChunk, i: number) => {
    const t = c.tComplete[i]!;
    return t >= from && t < end && isWriteOf(c, i, pid) && (c.flags[i]! & CUT_BY_PROBE) === 0;
  };
  // One pass, into columns that grow (doubling) as they fill.
  let cap = 4096;
  let tInvoke = new Float64Array(cap);
  let tComplete = new Float64Array(cap);
  let outcome = new Uint8Array(cap);
  let n = 0;
  for (const c of log.scan(inRange)) {
    for (let i = 0; i < c.length; i++) {
      if (!counts(c, i)) continue;
      if (n === cap) {
        cap *= 2;
        const ti = new Float64Array(cap);
        const tc = new Float64Array(cap);
        const oc = new Uint8Array(cap);
        ti.set(tInvoke);
        tc.set(tComplete);
        oc.set(outcome);
        tInvoke = ti;
        tComplete = tc;
        outcome = oc;
      }
      tInvoke[n] = c.tInvoke[i]!;
      tComplete[n] = c.tComplete[i]!;
      outcome[n++] = c.flags[i]! & OUTCOME_MASK;
    }
  }
  tInvoke = tInvoke.subarray(0, n);
  tComplete = tComplete.subarray(0, n);
  outcome = outcome.subarray(0, n);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) if (tComplete[i]! < tComplete[i - 1]!) sorted = false;
  if (sorted) return { length: n, tInvoke, tComplete, outcome };
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => tComplete[a]! - tComplete[b]! || a - b);
  return {
    length: n,
    tInvoke: Float64Array.from(order, (i) => tInvoke[i]!),
    tComplete: Float64Array.from(order, (i) => tComplete[i]!),
    outcome: Uint8Array.from(order, (i) => outcome[i]!),
  };
}

export type { AvailabilityFigures };
