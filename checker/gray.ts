import { FAULTS, type FaultAction } from '../core/faults.ts';
import {
  CUT_BY_PROBE,
  type ChunkBounds,
  type HistoryInput,
  OK,
  OUTCOME_MASK,
  type Op,
  type OpChunk,
  TIMED_OUT,
  TIMEOUT_ERROR,
  opLog,
} from '../core/history.ts';
import type {
  FalseFailover,
  FaultLatency,
  FaultRecord,
  LeadershipChange,
  PhaseLatency,
} from '../core/result.ts';
import { FloatList, isWriteOf, probeIndex, quantiles } from './columns.ts';

/**
 * Figures for gray failures, where the node never goes down and the question is how slow and
 * how wrong the stack became: latency before, during and after each fault, and leader changes
 * made while every node was up.
 */

/** An operation that got no answer in time (a timeout), as the probes word it. */
export function isTimeout(o: Pick<Op, 'outcome' | 'error'>): boolean {
  return o.outcome !== 'ok' && TIMEOUT_ERROR.test(o.error ?? '');
}

/** A probe's writes invoked in [from, to): latency of the acknowledged, the rest counted by kind. */
export function phaseLatency(
  history: HistoryInput,
  probe: string,
  from: number,
  to: number | null,
  /** Leave out what was acknowledged after this (a write in flight when the fault went away). */
  completedBy: number | null = null,
): PhaseLatency {
  const log = opLog(history);
  const pid = probeIndex(log, probe);
  const end = to ?? Number.POSITIVE_INFINITY;
  let ok = 0;
  let timeouts = 0;
  let errors = 0;
  // What counts, by invocation: a write of the probe's, not cut short, invoked in [from, end),
  // and not acknowledged after `completedBy` (then it was in flight when the fault went away:
  // its latency is neither the fault's nor the after's).
  const inRange = (c: ChunkBounds) => pid >= 0 && c.maxInvoke >= from && c.minInvoke < end;
  const counts = (c: OpChunk, i: number) => {
    const f = c.flags[i]!;
    if (c.probe[i] !== pid || !isWriteOf(c, i, pid) || f & CUT_BY_PROBE) return false;
    const tInvoke = c.tInvoke[i]!;
    if (tInvoke < from || tInvoke >= end) return false;
    return completedBy === null || (f & OUTCOME_MASK) !== OK || c.tComplete[i]! <= completedBy;
  };
  const lat = new FloatList();
  for (const c of log.scan(inRange)) {
    for (let i = 0; i < c.length; i++) {
      if (!counts(c, i)) continue;
      const f = c.flags[i]!;
      if ((f & OUTCOME_MASK) === OK) {
        ok++;
        lat.push(c.tComplete[i]! - c.tInvoke[i]!);
      } else if (f & TIMED_OUT) timeouts++;
      else errors++;
    }
  }
  const q = quantiles(lat.values(), [0.5, 0.99]);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    from,
    to,
    operations: ok + timeouts + errors,
    ok,
    timeouts,
    errors,
    latencyMs: q ? { p50: round(q.at[0]!), p99: round(q.at[1]!), max: round(q.max) } : null,
  };
}

/**
 * Latency before, during and after each applied fault: before runs from the previous fault's
 * revert (or its injection, or `start`) to this injection; during from the applied instant to the
 * revert (or the next injection, or the end); after from the revert to the next injection (or the
 * end). A fault that the next one begins before its revert has no after: its during ends there. What is invoked while the revert runs (from when it fell due to when it was done) is in
 * neither, and neither is a write still in flight when the revert began (it saw the fault go). Operations are placed by their invocation.
 */
export function latencyByFault(
  history: HistoryInput,
  probe: string,
  faults: readonly FaultRecord[],
  start: number,
): FaultLatency[] {
  const applied = faults
    .filter((f) => f.status === 'applied')
    .slice()
    .sort((a, b) => a.tInject - b.tInject);
  return applied.map((f, i) => {
    const prev = applied[i - 1];
    const next = applied[i + 1];
    // Before: since the previous fault's revert, or, if it still held, since it was applied.
    const beforeFrom = !prev
      ? start
      : prev.tReverted !== undefined && prev.tReverted <= f.tInject
        ? prev.tReverted
        : (prev.tApplied ?? prev.tInject);
    const nextAt = next ? next.tInject : null;
    const appliedAt = f.tApplied ?? f.tInject;
    const reverted = f.tReverted;
    // While the revert runs (from when it fell due) the fault is going: neither during nor after.
    const revertStart =
      reverted !== undefined && f.tRevertDue !== undefined ? Math.min(f.tRevertDue, reverted) : reverted;
    // Overlapped by the next fault: during ends where that one begins, and there is no after.
    const overlapped = nextAt !== null && (revertStart === undefined || nextAt < revertStart);
    const duringTo = overlapped ? nextAt : (revertStart ?? nextAt);
    return {
      fault: f.index,
      before: phaseLatency(history, probe, Math.min(beforeFrom, f.tInject), f.tInject),
      during: phaseLatency(history, probe, appliedAt, duringTo, overlapped ? null : (revertStart ?? null)),
      after: reverted === undefined || overlapped ? null : phaseLatency(history, probe, reverted, nextAt),
    };
  });
}

/** Whether a fault takes a node down while it lasts (its server killed counts: a leader must move). */
function takesDown(action: string): boolean {
  if (action === 'kill-process') return true;
  return action in FAULTS && FAULTS[action as FaultAction].takesDown;
}

/**
 * Leader changes of a system made while none of its nodes was down: no kill, stop, pause, zone
 * loss or killed server process on one of `nodes` in force (applied and not yet reverted; a kill
 * lasts for good). A kill-process's server comes back by itself: it holds for `settleMs` after
 * it.
 */
export function falseFailovers(
  changes: readonly LeadershipChange[],
  faults: readonly FaultRecord[],
  nodes: ReadonlySet<string>,
  settleMs = 0,
): FalseFailover[] {
  const out: FalseFailover[] = [];
  for (const c of changes) {
    const inForce = faults.filter((f) => {
      if (f.status !== 'applied') return false;
      const at = f.tApplied ?? f.tInject;
      if (f.tInject > c.t) return false;
      const until =
        f.action === 'kill'
          ? Number.POSITIVE_INFINITY
          : f.action === 'kill-process'
            ? at + settleMs
            : (f.tReverted ?? Number.POSITIVE_INFINITY);
      return c.t < until + (f.action === 'kill-process' ? 0 : settleMs);
    });
    // The system's nodes: as observed, and the two sides of the change itself.
    const own = new Set([...nodes, c.to, ...(c.from ? [c.from] : [])]);
    const down = inForce.some((f) => takesDown(f.action) && f.nodes.some((n) => own.has(n)));
    if (down) continue;
    out.push({
      t: c.t,
      from: c.from,
      to: c.to,
      fault: c.fault,
      during: inForce.map((f) => `#${f.index + 1} ${f.action}`),
    });
  }
  return out;
}
