import { HEAD_RECORD } from '../agents/registry/protocol.ts';
import type { TimelineEvent } from '../engine/timeline.ts';
import type { TopologySnapshot } from '../infra/stack.ts';

/**
 * Who was the head before and after the fault, and when it changed: `promotedAt` is the new
 * head's agent deciding to promote itself, `recordMovedAt` the registry's own time stamp of the
 * head record's change (the moment clients could start to find the new head). Both are the
 * first such event at or after the fault, on the run's clock; null if none happened.
 */
export interface HeadChange {
  before: string | undefined;
  after: string | undefined;
  recordMovedAt: number | null;
  promotedAt: number | null;
}

export function headChange(
  before: TopologySnapshot | null,
  after: TopologySnapshot | null,
  events: TimelineEvent[],
  faultAt: number,
): HeadChange {
  const moved = events
    .filter(
      (e) =>
        e.source === 'registry' && e.type === 'record-set' && e.data?.name === HEAD_RECORD && e.t >= faultAt,
    )
    .sort((a, b) => a.t - b.t)[0];
  const promoted = events
    .filter((e) => e.type === 'became-head' && e.t >= faultAt)
    .sort((a, b) => a.t - b.t)[0];
  return {
    before: before?.head,
    after: after?.head ?? (moved?.data?.value as string | undefined),
    recordMovedAt: moved?.t ?? null,
    promotedAt: promoted?.t ?? null,
  };
}
