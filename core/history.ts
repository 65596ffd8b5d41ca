import { type WriteStream, createWriteStream } from 'node:fs';

/**
 * One operation of a probe, recorded when it completes. Times are on the run's monotonic clock
 * (engine/clock.ts), in milliseconds.
 *
 * - `ok`: the server acknowledged it.
 * - `fail`: it certainly did not take effect (refused before it was sent, or an error reply).
 * - `unknown`: sent, then a timeout or a lost connection: it may or may not have taken effect.
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface Op {
  probe: string;
  op: 'write' | 'read';
  /** The unique, sequential id of the operation; for a write it is also the value written. */
  seq: number;
  /** The probe's in-flight slot that ran it (Jepsen's process): one operation at a time each. */
  process?: number;
  tInvoke: number;
  tComplete: number;
  outcome: Outcome;
  /** The node that served (or failed to serve) it, as the client resolved it. */
  node?: string;
  error?: string;
  /**
   * Cut short by the probe's own stop at the end of the run (k6 drops the requests in flight
   * when it is stopped), not by the system: `unknown` for lost-write accounting, and no failure
   * for availability.
   */
  cutByProbe?: true;
}

/**
 * The history of a run: kept in memory for the checker and appended to a JSON-lines file as it
 * happens, so a run that dies half-way still leaves what it saw.
 */
export class History {
  private readonly ops: Op[] = [];
  private readonly out: WriteStream | undefined;
  /** Running counts of writes by outcome, for live progress. */
  readonly counts = { ok: 0, fail: 0, unknown: 0 };
  /** Set when the history file could not be written. */
  writeError: Error | undefined;

  constructor(file?: string) {
    this.out = file ? createWriteStream(file, { flags: 'a' }) : undefined;
    // A full disk must not crash the run (and skip teardown): the history stays in memory.
    this.out?.on('error', (err) => {
      this.writeError ??= err;
    });
  }

  record(op: Op): void {
    this.ops.push(op);
    if (op.op === 'write') this.counts[op.outcome]++;
    this.out?.write(`${JSON.stringify(op)}\n`);
  }

  all(): readonly Op[] {
    return this.ops;
  }

  async close(): Promise<void> {
    const out = this.out;
    if (!out || out.closed || this.writeError) return;
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
}
