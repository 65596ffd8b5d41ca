import type { Lease, Registry, RegistryRecord } from './protocol.ts';

/** A Registry reached over HTTP (the local implementation's wire protocol). */
export class HttpRegistry implements Registry {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 1000,
  ) {}

  async get(name: string): Promise<RegistryRecord | undefined> {
    const res = await fetch(`${this.baseUrl}/v1/records/${encodeURIComponent(name)}`, {
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`registry GET ${name}: HTTP ${res.status}`);
    return (await res.json()) as RegistryRecord;
  }

  async set(
    name: string,
    value: string,
    ttlMs: number,
    ifVersion?: number,
  ): Promise<RegistryRecord | undefined> {
    const res = await fetch(`${this.baseUrl}/v1/records/${encodeURIComponent(name)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value, ttlMs, ifVersion }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status === 409) return undefined;
    if (!res.ok) throw new Error(`registry PUT ${name}: HTTP ${res.status}`);
    return (await res.json()) as RegistryRecord;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const res = await this.lease('PUT', name, { holder, ttlMs });
    if (res.status === 409) return undefined;
    if (!res.ok) throw new Error(`registry PUT lease ${name}: HTTP ${res.status}`);
    return (await res.json()) as Lease;
  }

  async getLease(name: string): Promise<Lease | undefined> {
    const res = await this.lease('GET', name);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`registry GET lease ${name}: HTTP ${res.status}`);
    return (await res.json()) as Lease;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    const res = await this.lease('DELETE', name, { holder });
    if (!res.ok) throw new Error(`registry DELETE lease ${name}: HTTP ${res.status}`);
  }

  private lease(method: string, name: string, body?: unknown): Promise<Response> {
    return fetch(`${this.baseUrl}/v1/leases/${encodeURIComponent(name)}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
  }
}

/**
 * A caching resolver, as a client's stub resolver would be: an answer is reused until its TTL
 * runs out, even after an error (a real client cannot see past its cache either).
 */
export class CachingResolver {
  private cache = new Map<string, { value: string | undefined; expires: number }>();

  constructor(
    private readonly registry: Registry,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async resolve(name: string): Promise<string | undefined> {
    const hit = this.cache.get(name);
    const t = this.now();
    if (hit && hit.expires > t) return hit.value;
    const rec = await this.registry.get(name);
    this.cache.set(name, { value: rec?.value, expires: t + (rec?.ttlMs ?? 0) });
    return rec?.value;
  }

  /** When the cached answer for `name` runs out (ms on this resolver's clock), or undefined. */
  expiresAt(name: string): number | undefined {
    return this.cache.get(name)?.expires;
  }
}
