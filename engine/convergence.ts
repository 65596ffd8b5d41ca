import type { ConvergenceFigures } from '../checker/expectations.ts';
import { type Clock, sleep } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { SystemState } from '../core/result.ts';

export const POLL_INTERVAL_MS = 250;

/**
 * Each node's replication lag in a snapshot: the lag it reports, or, where the system reads
 * replication offsets, how far behind the leader it is (the leader's offset minus its own).
 */
export function lagOf(state: SystemState): Record<string, number> {
  const out: Record<string, number> = {};
  const lead = state.nodes.find((n) => n.name === state.leader)?.offset;
  for (const n of state.nodes) {
    if (typeof n.lag === 'number' && Number.isFinite(n.lag)) out[n.name] = n.lag;
    else if (
      n.name !== state.leader &&
      n.reachable &&
      typeof n.offset === 'number' &&
      typeof lead === 'number'
    )
      out[n.name] = Math.max(0, lead - n.offset);
  }
  return out;
}

/**
 * Watches a system's live topology from the first fault on, and says when it regained full
 * redundancy: the start of the last unbroken run of snapshots in which its invariants held.
 * Polled every POLL_INTERVAL_MS, which is the resolution of that moment.
 */
export class ConvergenceWatcher {
  private last: { t: number; snapshot: SystemState | null; violations: string[] } | undefined;
  /** Start of the current run of converged snapshots; null while not converged. */
  private streakStart: number | null = null;
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** Each node's replication lag at every observation that read one (NodeState.lag). */
  readonly lagSamples: { t: number; lag: Record<string, number> }[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly observe: () => Promise<SystemState>,
    private readonly violations: (t: SystemState) => string[],
  ) {}

  start(): void {
    this.loop ??= (async () => {
      while (!this.stopped) {
        await this.poll();
        await sleep(POLL_INTERVAL_MS);
      }
    })();
  }

  private async poll(): Promise<void> {
    let snapshot: SystemState | null = null;
    let violations: string[];
    try {
      snapshot = await this.observe();
      violations = this.violations(snapshot);
    } catch (err) {
      violations = [`the topology could not be read: ${errorMessage(err)}`];
    }
    const t = this.clock.now();
    if (snapshot) {
      const lag = lagOf(snapshot);
      if (Object.keys(lag).length) this.lagSamples.push({ t, lag });
    }
    if (violations.length === 0) this.streakStart ??= t;
    else this.streakStart = null;
    this.last = { t, snapshot, violations };
  }

  /**
   * Waits until the invariants have held for `settleMs` without a break since `since` (the last
   * revert: a node restarted a moment ago may not answer yet, and a snapshot without it would
   * look whole), or `timeoutMs` passes, or `signal` fires.
   */
  async waitConverged(
    timeoutMs: number,
    settleMs: number,
    lastFaultAt: number,
    since: number,
    signal?: AbortSignal,
  ): Promise<ConvergenceFigures> {
    this.start();
    const from = this.clock.now();
    const deadline = from + timeoutMs;
    for (;;) {
      const now = this.clock.now();
      const streak = this.streakStart;
      if (streak !== null && this.last && this.last.t - Math.max(streak, since) >= settleMs) break;
      if (now >= deadline || signal?.aborted) break;
      await sleep(Math.min(50, deadline - now), signal);
    }
    // Whole only if seen whole for settleMs after `since`: a state from before the last revert,
    // or too short a look, proves nothing.
    const streak = this.streakStart;
    const last = this.last;
    const converged = streak !== null && last !== undefined && last.t - Math.max(streak, since) >= settleMs;
    const at = converged ? Math.max(streak, since) : null;
    const violations = !last
      ? ['the system was never observed']
      : last.violations.length
        ? last.violations
        : converged
          ? []
          : [`not seen whole for ${settleMs} ms after the last fault or revert`];
    return {
      converged,
      at,
      timeToFullRedundancyMs: at === null ? null : Math.max(0, at - lastFaultAt),
      violations,
      waitedMs: this.clock.now() - from,
      pollIntervalMs: POLL_INTERVAL_MS,
    };
  }

  /** The latest snapshot read, or null. */
  get snapshot(): SystemState | null {
    return this.last?.snapshot ?? null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
