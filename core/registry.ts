/**
 * The endpoint registry: records with the semantics of a DNS record with a TTL, and the leaders'
 * leases. A name maps to one value; clients may cache an answer for `ttlMs` and must not trust it
 * longer. On AWS a private Route 53 zone implements it; locally a small HTTP server on the run's
 * network does (agents/registry/server.ts), reached by agents over that network and by probes
 * through a mapped port.
 *
 * Writes can be conditional (`ifVersion`), so two agents can never both move a record from the
 * same starting point.
 *
 * A **lease** is leadership with a time limit, as Patroni's leader key: the holder renews it
 * before it runs out; nobody else can take it while it runs; once it has run out (the holder died,
 * or lost the registry) the first to ask gets it. The registry counts the time on its own clock,
 * from when it received the request; a holder counts from before it sent the request (see
 * agents/lease.ts), so the holder always believes its lease ends before the registry does, and
 * can stop acknowledging writes in the gap.
 */
export interface RegistryRecord {
  name: string;
  value: string;
  ttlMs: number;
  /** Increments on every change; 0 means the record does not exist. */
  version: number;
}

export interface Lease {
  name: string;
  holder: string;
  /** The length the holder asked for at its last acquisition or renewal. */
  ttlMs: number;
  /** How long it still runs as the registry counted when it answered; <= 0: it has run out. */
  remainingMs: number;
  /**
   * Increments every time the lease is taken afresh (a new holder, or the same holder after it
   * ran out): a holder that sees another term than the one it renewed lost it in between.
   */
  term: number;
}

export interface Registry {
  /** The record, or undefined if there is none. */
  get(name: string): Promise<RegistryRecord | undefined>;
  /**
   * Sets a record. With `ifVersion`, only if the record is still at that version (0: absent);
   * returns undefined when that condition failed.
   */
  set(name: string, value: string, ttlMs: number, ifVersion?: number): Promise<RegistryRecord | undefined>;
  /**
   * Takes or renews the lease `name` for `holder`, for `ttlMs` from when the registry receives
   * the request: granted when nobody holds it, when it has run out, or when `holder` holds it.
   * Returns undefined while another holder's lease runs.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** The lease as it stands (one that has run out too, with remainingMs <= 0), or undefined. */
  getLease(name: string): Promise<Lease | undefined>;
  /** Gives the lease up at once, if `holder` holds it (a leader stepping down cleanly). */
  releaseLease(name: string, holder: string): Promise<void>;
}
