import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Lease, Registry, RegistryRecord } from './protocol.ts';

/**
 * A Registry reached over HTTP (the local implementation's wire protocol), on node:http with
 * kept-alive connections rather than fetch: Node.js loads fetch (undici) on its first call (80-110
 * ms of CPU measured with Debian's Node.js 18 in the node image), in the boot of every agent.
 */
export class HttpRegistry implements Registry {
  private readonly url: URL;
  private readonly agent: HttpAgent;

  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 1000,
  ) {
    this.url = new URL(baseUrl);
    // An idle connection is closed after 1 s, well before the server's keep-alive timeout (5 s):
    // the server never closes one as a request goes out on it.
    const opts = { keepAlive: true, timeout: 1000 };
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent(opts) : new HttpAgent(opts);
  }

  async get(name: string): Promise<RegistryRecord | undefined> {
    const res = await this.call('GET', `/v1/records/${encodeURIComponent(name)}`);
    if (res.status === 404) return undefined;
    if (!ok(res)) throw new Error(`registry GET ${name}: HTTP ${res.status}`);
    return JSON.parse(res.body) as RegistryRecord;
  }

  /**
   * The record once it is at another version than `version` (0: none), or as it is after
   * `waitMs`: one request the registry holds until the record changes (not in the Registry
   * interface: the local registry's own).
   */
  async waitForChange(name: string, version: number, waitMs: number): Promise<RegistryRecord | undefined> {
    const res = await this.call(
      'GET',
      `/v1/records/${encodeURIComponent(name)}?after=${version}&waitMs=${Math.round(waitMs)}`,
      undefined,
      waitMs + this.timeoutMs,
    );
    if (res.status === 404) return undefined;
    if (!ok(res)) throw new Error(`registry GET ${name} (waiting): HTTP ${res.status}`);
    return JSON.parse(res.body) as RegistryRecord;
  }

  async set(
    name: string,
    value: string,
    ttlMs: number,
    ifVersion?: number,
  ): Promise<RegistryRecord | undefined> {
    const res = await this.call('PUT', `/v1/records/${encodeURIComponent(name)}`, {
      value,
      ttlMs,
      ifVersion,
    });
    if (res.status === 409) return undefined;
    if (!ok(res)) throw new Error(`registry PUT ${name}: HTTP ${res.status}`);
    return JSON.parse(res.body) as RegistryRecord;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const res = await this.call('PUT', leasePath(name), { holder, ttlMs });
    if (res.status === 409) return undefined;
    if (!ok(res)) throw new Error(`registry PUT lease ${name}: HTTP ${res.status}`);
    return JSON.parse(res.body) as Lease;
  }

  async getLease(name: string): Promise<Lease | undefined> {
    const res = await this.call('GET', leasePath(name));
    if (res.status === 404) return undefined;
    if (!ok(res)) throw new Error(`registry GET lease ${name}: HTTP ${res.status}`);
    return JSON.parse(res.body) as Lease;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    const res = await this.call('DELETE', leasePath(name), { holder });
    if (!ok(res)) throw new Error(`registry DELETE lease ${name}: HTTP ${res.status}`);
  }

  /** One request, answered (its whole body read) within the time limit or failed. */
  private call(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<{ status: number; body: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const base = this.url.pathname.replace(/\/+$/, '');
    return new Promise((resolve, reject) => {
      const req = (this.url.protocol === 'https:' ? httpsRequest : httpRequest)(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port || undefined,
          path: base + path,
          method,
          agent: this.agent,
          headers: payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {},
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', fail);
        },
      );
      function fail(err: Error) {
        clearTimeout(timer);
        reject(err);
      }
      const timer = setTimeout(
        () => req.destroy(new Error(`registry ${method} ${path}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      req.on('error', fail);
      req.end(payload);
    });
  }
}

const ok = (res: { status: number }) => res.status >= 200 && res.status < 300;
const leasePath = (name: string) => `/v1/leases/${encodeURIComponent(name)}`;

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
