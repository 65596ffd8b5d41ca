/**
 * The endpoint registry: records with the semantics of a DNS record with a TTL. A name maps to
 * one value; clients may cache an answer for `ttlMs` and must not trust it longer. On AWS a
 * private Route 53 zone implements it; locally a small HTTP server on the run's network does
 * (agents/registry/server.ts), reached by agents over that network and by probes through a
 * mapped port.
 *
 * Writes can be conditional (`ifVersion`), so two agents can never both move a record from the
 * same starting point.
 */
export interface RegistryRecord {
  name: string;
  value: string;
  ttlMs: number;
  /** Increments on every change; 0 means the record does not exist. */
  version: number;
}

export interface Registry {
  /** The record, or undefined if there is none. */
  get(name: string): Promise<RegistryRecord | undefined>;
  /**
   * Sets a record. With `ifVersion`, only if the record is still at that version (0: absent);
   * returns undefined when that condition failed.
   */
  set(name: string, value: string, ttlMs: number, ifVersion?: number): Promise<RegistryRecord | undefined>;
}
