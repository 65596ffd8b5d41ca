import type { Lease, Registry } from '../core/registry.ts';

/**
 * The holder's side of a lease (core/registry.ts), shared by every agent that leads.
 *
 * Each `renew()` asks the registry for the lease for `ttlMs`. The registry counts the lease from
 * when it receives the request; the holder counts it from *before it sent* the request, so its
 * own end of the lease always comes first. It then takes `marginMs` off that (for clock drift
 * between the two and for the fence itself to take effect): the **deadline**. If no renewal has
 * succeeded by the deadline, `onLost` runs once, from a timer, whatever the agent's loop is doing
 * (a registry call that hangs must not keep a leader writable): the agent fences its node there,
 * so it has stopped acknowledging writes before anyone else can take the lease.
 *
 *   held lease:  |--- renew ---|--- renew ---|  (registry unreachable)  deadline: fence  | registry: expired, another may take it
 *                                                                      <--- marginMs --->
 *
 * A renewal that returns another term than the one held means the lease ran out in between
 * (and was taken again): the holder must treat its node as fenced and decide afresh.
 */
export interface LeaseKeeperConfig {
  /** The lease's name in the registry (`pg-leader`). */
  name: string;
  holder: string;
  ttlMs: number;
  marginMs: number;
}

export interface LeaseKeeperDeps {
  registry: Pick<Registry, 'acquireLease' | 'releaseLease'> & Partial<Pick<Registry, 'getLease'>>;
  /** A monotonic clock, in ms. */
  now(): number;
  /** Runs `fn` after `ms`; returns its cancel. */
  setTimer(fn: () => void, ms: number): () => void;
  /** The deadline passed without a renewal: stop acknowledging writes now. */
  onLost(info: { heldForMs: number; lastRenewedAgoMs: number }): void;
  /**
   * A renewal moved the deadline here (on `now`'s clock): for a dead-man switch outside the
   * agent, which stops the node at that time if the agent is gone and cannot call `onLost`.
   */
  onHeld?(deadline: number): void;
}

export type RenewOutcome =
  /** Held, and it had been held without a gap since `since`. */
  | { status: 'held'; lease: Lease; continuous: boolean }
  /** Another holder's lease runs. */
  | { status: 'refused'; holder: string | null }
  /** The registry did not answer: the lease is held only until the deadline. */
  | { status: 'error'; error: string };

export class LeaseKeeper {
  /** When this holder must have stopped acknowledging writes (local clock); null: not held. */
  private deadline: number | null = null;
  private term: number | null = null;
  private since: number | null = null;
  private lastRenewed: number | null = null;
  private cancel: (() => void) | undefined;

  constructor(
    readonly cfg: LeaseKeeperConfig,
    private readonly deps: LeaseKeeperDeps,
  ) {
    if (cfg.marginMs >= cfg.ttlMs)
      throw new Error(
        `the lease margin (${cfg.marginMs} ms) must be shorter than the lease (${cfg.ttlMs} ms)`,
      );
  }

  /** Whether this holder may acknowledge writes now. */
  holds(): boolean {
    return this.deadline !== null && this.deps.now() < this.deadline;
  }

  /** The term held now, or null. */
  heldTerm(): number | null {
    return this.holds() ? this.term : null;
  }

  /** How much of the lease is left before the deadline, or null when not held. */
  leftMs(): number | null {
    return this.holds() ? this.deadline! - this.deps.now() : null;
  }

  async renew(): Promise<RenewOutcome> {
    const sent = this.deps.now();
    let lease: Lease | undefined;
    try {
      lease = await this.deps.registry.acquireLease(this.cfg.name, this.cfg.holder, this.cfg.ttlMs);
    } catch (err) {
      return { status: 'error', error: String((err as Error)?.message ?? err) };
    }
    if (!lease) {
      this.drop();
      const current = await this.deps.registry.getLease?.(this.cfg.name).catch(() => undefined);
      return { status: 'refused', holder: current?.holder ?? null };
    }
    if (lease.holder !== this.cfg.holder) {
      this.drop();
      return { status: 'refused', holder: lease.holder };
    }
    // Held before, and the registry kept the same term: no gap. Otherwise a new tenure begins.
    const continuous = this.holds() && this.term === lease.term;
    if (!continuous) this.since = sent;
    this.term = lease.term;
    this.lastRenewed = sent;
    const deadline = sent + this.cfg.ttlMs - this.cfg.marginMs;
    // An answer that came back after its own deadline grants nothing.
    if (deadline <= this.deps.now()) {
      this.expire();
      return {
        status: 'error',
        error: `the registry answered after ${Math.round(this.deps.now() - sent)} ms: too late to hold the lease`,
      };
    }
    this.deadline = deadline;
    this.cancel?.();
    this.cancel = this.deps.setTimer(() => this.expire(), deadline - this.deps.now());
    this.deps.onHeld?.(deadline);
    return { status: 'held', lease, continuous };
  }

  /** Gives the lease up (a clean step-down): best effort, the deadline is dropped at once. */
  async release(): Promise<void> {
    this.drop();
    await this.deps.registry.releaseLease(this.cfg.name, this.cfg.holder).catch(() => {});
  }

  /** Forgets the lease without calling onLost (it was refused: someone else leads). */
  private drop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.deadline = null;
    this.term = null;
    this.since = null;
  }

  private expire(): void {
    if (this.deadline === null) return;
    const now = this.deps.now();
    const info = {
      heldForMs: Math.round(now - (this.since ?? now)),
      lastRenewedAgoMs: Math.round(now - (this.lastRenewed ?? now)),
    };
    this.drop();
    this.deps.onLost(info);
  }
}

/** Real timers for agents in their containers. */
export const realTimer = (fn: () => void, ms: number): (() => void) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};
