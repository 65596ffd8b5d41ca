import type { TimelineEvent } from '../engine/timeline.ts';
import { type FaultWindow, windowAt } from './windows.ts';

/**
 * Leadership changes of a system, read from the run's events: every move of its endpoint record
 * (the registry's own time stamp: the moment clients could start to find the new leader) after
 * provisioning, paired with the new leader's own decision to lead (`promotedAt`, the agent's
 * event) when one came before it. Each change names the fault window it fell in.
 */
export interface LeadershipChange {
  /** When the endpoint record moved. */
  t: number;
  from: string | null;
  to: string;
  /** The new leader's agent deciding to lead (the last such event before the move), or null. */
  promotedAt: number | null;
  /** The window's fault index, or null when it happened outside every window. */
  fault: number | null;
}

export interface LeadershipSource {
  /** The endpoint record clients resolve (`redis-head`). */
  record: string;
  /** The agent event that says a node took the lead (`became-head`). */
  promotedType: string;
}

export function leadershipChanges(
  events: readonly TimelineEvent[],
  source: LeadershipSource,
  windows: readonly FaultWindow[],
): LeadershipChange[] {
  const sorted = [...events].sort((a, b) => a.t - b.t);
  const out: LeadershipChange[] = [];
  let lastMove = Number.NEGATIVE_INFINITY;
  for (const e of sorted) {
    if (e.source !== 'registry' || e.type !== 'record-set' || e.data?.name !== source.record) continue;
    const previous = (e.data.previous as string | null | undefined) ?? null;
    const to = String(e.data.value);
    if (previous === null || previous === to) continue; // set at provisioning, or unchanged
    const promoted = sorted.filter(
      (p) => p.type === source.promotedType && p.node === to && p.t <= e.t && p.t > lastMove,
    );
    out.push({
      t: e.t,
      from: previous,
      to,
      promotedAt: promoted.at(-1)?.t ?? null,
      fault: windowAt(windows, e.t)?.fault ?? null,
    });
    lastMove = e.t;
  }
  return out;
}
