import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingResolver, HttpRegistry } from './http-client.ts';
import { MemoryRegistry } from './memory.ts';
import { startRegistryServer } from './server.ts';

describe('local registry over HTTP', () => {
  const logged: Record<string, unknown>[] = [];
  let server: ReturnType<typeof startRegistryServer>;
  let registry: HttpRegistry;

  beforeAll(async () => {
    server = startRegistryServer(0, (l) => logged.push(JSON.parse(l)));
    await new Promise((r) => server.once('listening', r));
    registry = new HttpRegistry(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('an absent record is undefined', async () => {
    expect(await registry.get('nope')).toBeUndefined();
  });

  it('sets, versions and logs records', async () => {
    const r1 = await registry.set('head', 'redis-a', 500);
    expect(r1).toEqual({ name: 'head', value: 'redis-a', ttlMs: 500, version: 1 });
    const r2 = await registry.set('head', 'redis-b', 500, 1);
    expect(r2?.version).toBe(2);
    expect(await registry.get('head')).toEqual({ name: 'head', value: 'redis-b', ttlMs: 500, version: 2 });
    expect(logged.at(-1)).toMatchObject({
      type: 'record-set',
      name: 'head',
      value: 'redis-b',
      previous: 'redis-a',
    });
    expect(typeof logged.at(-1)?.t).toBe('number');
  });

  it('holds a waiting read until the record changes, or until its wait is up', async () => {
    // Another version than asked: at once.
    expect((await registry.waitForChange('head', 1, 5000))?.value).toBe('redis-b');
    const t0 = performance.now();
    const waiting = registry.waitForChange('joined', 0, 5000);
    await new Promise((r) => setTimeout(r, 50));
    await registry.set('joined', 'a', 0, 0);
    expect((await waiting)?.value).toBe('a');
    expect(performance.now() - t0).toBeLessThan(1000);
    // Nothing changes: answered with the record as it is after the wait.
    const t1 = performance.now();
    expect((await registry.waitForChange('joined', 1, 200))?.version).toBe(1);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(190);
    expect(await registry.waitForChange('never', 0, 50)).toBeUndefined();
  });

  it('grants, renews, refuses and releases leases, and logs each change', async () => {
    expect(await registry.getLease('leader')).toBeUndefined();
    const a = await registry.acquireLease('leader', 'pg-a', 60_000);
    expect(a).toMatchObject({ name: 'leader', holder: 'pg-a', ttlMs: 60_000, term: 1 });
    expect(a!.remainingMs).toBeGreaterThan(59_000);
    expect(await registry.acquireLease('leader', 'pg-b', 60_000)).toBeUndefined();
    expect((await registry.acquireLease('leader', 'pg-a', 60_000))?.term).toBe(1);
    expect(logged.filter((l) => l.type === 'lease-acquired')).toHaveLength(1);
    await registry.releaseLease('leader', 'pg-b'); // not the holder: nothing happens
    expect((await registry.getLease('leader'))?.holder).toBe('pg-a');
    await registry.releaseLease('leader', 'pg-a');
    expect(logged.at(-1)).toMatchObject({ type: 'lease-released', holder: 'pg-a' });
    expect(await registry.acquireLease('leader', 'pg-b', 50)).toMatchObject({ holder: 'pg-b', term: 2 });
    expect(logged.at(-1)).toMatchObject({ type: 'lease-acquired', holder: 'pg-b', previous: 'pg-a' });
    await new Promise((r) => setTimeout(r, 80));
    expect(logged.at(-1)).toMatchObject({ type: 'lease-expired', holder: 'pg-b', term: 2 });
    expect((await registry.getLease('leader'))!.remainingMs).toBeLessThanOrEqual(0);
  });

  it('refuses a conditional write from a stale version', async () => {
    await registry.set('chain', 'a', 0, 0);
    expect(await registry.set('chain', 'b', 0, 0)).toBeUndefined();
    expect((await registry.get('chain'))?.value).toBe('a');
  });
});

describe('caching resolver', () => {
  it('honours the TTL: a moved record is seen only once the cached answer expires', async () => {
    const reg = new MemoryRegistry();
    await reg.set('head', 'a', 500);
    let now = 0;
    const resolver = new CachingResolver(reg, () => now);
    expect(await resolver.resolve('head')).toBe('a');
    await reg.set('head', 'b', 500);
    now = 499;
    expect(await resolver.resolve('head')).toBe('a');
    now = 500;
    expect(await resolver.resolve('head')).toBe('b');
  });
});
