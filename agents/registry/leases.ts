import type { Lease } from './protocol.ts';

/**
 * The leases of a registry, counted on the registry's own monotonic clock: one table for the
 * HTTP server and the in-memory registry of the unit tests, so both grant and refuse alike.
 */
export interface LeaseChange {
  type: 'lease-acquired' | 'lease-released' | 'lease-expired';
  name: string;
  holder: string;
  term: number;
  ttlMs: number;
  /** lease-acquired: who held it before (its lease had run out or been released), if anyone. */
  previous?: string | null;
  /** lease-acquired: how long the previous holder's lease had been over. */
  expiredForMs?: number;
}

interface Held {
  holder: string;
  ttlMs: number;
  expiresAt: number;
  term: number;
  released: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

export class LeaseTable {
  private readonly leases = new Map<string, Held>();

  constructor(
    private readonly now: () => number = () => performance.now(),
    /** Told of every change; `lease-expired` comes from a timer when a lease runs out unrenewed. */
    private readonly onChange: (c: LeaseChange) => void = () => {},
    private readonly timers = true,
  ) {}

  acquire(name: string, holder: string, ttlMs: number): Lease | undefined {
    if (!(ttlMs > 0)) throw new Error(`a lease needs a positive ttlMs, not ${ttlMs}`);
    const t = this.now();
    const cur = this.leases.get(name);
    const running = cur && !cur.released && cur.expiresAt > t;
    if (running && cur.holder !== holder) return undefined;
    if (running) {
      // A renewal: the same term goes on.
      cur.expiresAt = t + ttlMs;
      cur.ttlMs = ttlMs;
      this.arm(name, cur);
      return this.view(name, cur, t);
    }
    const next: Held = { holder, ttlMs, expiresAt: t + ttlMs, term: (cur?.term ?? 0) + 1, released: false };
    if (cur?.timer) clearTimeout(cur.timer);
    this.leases.set(name, next);
    this.arm(name, next);
    this.onChange({
      type: 'lease-acquired',
      name,
      holder,
      term: next.term,
      ttlMs,
      previous: cur?.holder ?? null,
      ...(cur ? { expiredForMs: Math.max(0, t - cur.expiresAt) } : {}),
    });
    return this.view(name, next, t);
  }

  get(name: string): Lease | undefined {
    const cur = this.leases.get(name);
    return cur ? this.view(name, cur, this.now()) : undefined;
  }

  release(name: string, holder: string): void {
    const cur = this.leases.get(name);
    const t = this.now();
    if (!cur || cur.holder !== holder || cur.released || cur.expiresAt <= t) return;
    cur.released = true;
    cur.expiresAt = t;
    if (cur.timer) clearTimeout(cur.timer);
    this.onChange({ type: 'lease-released', name, holder, term: cur.term, ttlMs: cur.ttlMs });
  }

  /** Stops the expiry timers (the server is closing). */
  close(): void {
    for (const l of this.leases.values()) if (l.timer) clearTimeout(l.timer);
  }

  private view(name: string, l: Held, t: number): Lease {
    return { name, holder: l.holder, ttlMs: l.ttlMs, remainingMs: l.expiresAt - t, term: l.term };
  }

  private arm(name: string, l: Held): void {
    if (!this.timers) return;
    if (l.timer) clearTimeout(l.timer);
    l.timer = setTimeout(
      () => {
        if (this.leases.get(name) !== l || l.released) return;
        this.onChange({ type: 'lease-expired', name, holder: l.holder, term: l.term, ttlMs: l.ttlMs });
      },
      Math.max(0, l.expiresAt - this.now()),
    );
    l.timer.unref?.();
  }
}
