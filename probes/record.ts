import type { Clock } from '../core/clock.ts';
import type { History, Op, Outcome } from '../core/history.ts';

/** An error as a history keeps it: its message's first line, at most 200 characters. */
export function shortError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.slice(0, 200);
}

/**
 * Records one operation of a probe, completed now on the run's clock: what every probe writes
 * into the history after each write or read (the node only when it is known, the error short).
 */
export function recordOp(
  history: History,
  clock: Clock,
  o: {
    probe: string;
    op: Op['op'];
    seq: number;
    process: number;
    tInvoke: number;
    outcome: Outcome;
    node?: string | undefined;
    err?: unknown;
  },
): void {
  history.record({
    probe: o.probe,
    op: o.op,
    seq: o.seq,
    process: o.process,
    tInvoke: o.tInvoke,
    tComplete: clock.now(),
    outcome: o.outcome,
    ...(o.node ? { node: o.node } : {}),
    ...(o.err === undefined ? {} : { error: shortError(o.err) }),
  });
}
