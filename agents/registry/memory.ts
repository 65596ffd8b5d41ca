import { LeaseTable } from './leases.ts';
import type { Lease, Registry, RegistryRecord } from './protocol.ts';

/**
 * A Registry in memory: the same semantics as the HTTP one, for unit tests of its users. Leases
 * count time on `now` (a fake clock in tests).
 */
export class MemoryRegistry implements Registry {
  readonly records = new Map<string, RegistryRecord>();
  readonly changes: RegistryRecord[] = [];
  readonly leases: LeaseTable;

  constructor(now: () => number = () => performance.now()) {
    this.leases = new LeaseTable(now, undefined, false);
  }

  async get(name: string): Promise<RegistryRecord | undefined> {
    return this.records.get(name);
  }

  async set(
    name: string,
    value: string,
    ttlMs: number,
    ifVersion?: number,
  ): Promise<RegistryRecord | undefined> {
    const version = this.records.get(name)?.version ?? 0;
    if (ifVersion !== undefined && ifVersion !== version) return undefined;
    const rec = { name, value, ttlMs, version: version + 1 };
    this.records.set(name, rec);
    this.changes.push(rec);
    return rec;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    return this.leases.acquire(name, holder, ttlMs);
  }

  async getLease(name: string): Promise<Lease | undefined> {
    return this.leases.get(name);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.leases.release(name, holder);
  }
}
