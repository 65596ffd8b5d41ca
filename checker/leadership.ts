import type { TimelineEvent } from '../core/events.ts';
import type { LeadershipChange } from '../core/result.ts';
import { type FaultWindow, windowAt } from './windows.ts';

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
  const moves = sorted.filter(
    (e) =>
      e.source === 'registry' &&
      e.type === 'record-set' &&
      e.data?.name === source.record &&
      e.data.previous !== null &&
      e.data.previous !== undefined &&
      e.data.previous !== e.data.value, // set at provisioning, or unchanged
  );
  return moves.map((e, i) => {
    const to = String(e.data!.value);
    const after = moves[i - 1]?.t ?? Number.NEGATIVE_INFINITY;
    const before = moves[i + 1]?.t ?? Number.POSITIVE_INFINITY;
    // The new leader's own decision between the moves around this one: an agent may promote
    // before it moves the record (the chain) or after it claimed it (Postgres).
    const promoted = sorted
      .filter((p) => p.type === source.promotedType && p.node === to && p.t > after && p.t < before)
      .sort((a, b) => Math.abs(a.t - e.t) - Math.abs(b.t - e.t))[0];
    return {
      t: e.t,
      from: String(e.data!.previous),
      to,
      promotedAt: promoted?.t ?? null,
      fault: windowAt(windows, e.t)?.fault ?? null,
    };
  });
}

export type { LeadershipChange };
