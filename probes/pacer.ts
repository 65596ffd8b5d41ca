import { type Clock, sleep } from '../core/clock.ts';

/**
 * Paces operations at a fixed rate, shared by every in-flight slot of a probe: each call to
 * `take()` hands out the next start time, `1000 / rateHz` ms after the one before, and waits
 * for it. Timers are not finer than a millisecond, so a start less than a millisecond away goes
 * at once, and a slot that fell behind catches up, but only within `maxLagMs`: after a longer
 * stall (an outage, a hung write) the schedule starts afresh instead of bursting.
 */
export class Pacer {
  private next: number;
  private readonly periodMs: number;

  constructor(
    private readonly clock: Clock,
    rateHz: number,
    private readonly maxLagMs = 20,
  ) {
    this.periodMs = rateHz > 0 ? 1000 / rateHz : 0;
    this.next = clock.now();
  }

  /**
   * Waits for the next start; undefined when it may go at once (no rate, or less than a
   * millisecond away), so that a slot at full speed does not pay for a promise per operation.
   */
  take(): Promise<void> | undefined {
    if (this.periodMs === 0) return undefined;
    const now = this.clock.now();
    if (now - this.next > this.maxLagMs) this.next = now;
    const at = this.next;
    this.next += this.periodMs;
    const wait = at - now;
    return wait >= 1 ? sleep(wait) : undefined;
  }
}
