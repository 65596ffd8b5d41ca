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

export type { LeadershipChange };
