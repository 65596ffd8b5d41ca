import type { Registry, RegistryRecord } from './protocol.ts';

/** A Registry in memory: the same semantics as the HTTP one, for unit tests of its users. */
export class MemoryRegistry implements Registry {
  readonly records = new Map<string, RegistryRecord>();
  readonly changes: RegistryRecord[] = [];

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
}
