import type { Change, RRType, ResourceRecordSet } from '@aws-sdk/client-route-53';
import { describe, expect, it } from 'vitest';
import { ChaosError } from '../../core/errors.ts';
import { LeaseKeeper } from '../lease.ts';
import { type RecordSetApi, Route53Registry, dnsTtlSeconds, isConflict } from './route53.ts';

/**
 * A strict double of Route 53's ChangeResourceRecordSets and ListResourceRecordSets, as its API
 * reference states them: a batch is applied whole or not at all; a DELETE must name the record
 * set exactly as the zone holds it (its values and its TTL) or the batch is refused with
 * InvalidChangeBatch; a CREATE of a record set that exists is refused; a CNAME cannot share its
 * name with another record set; lists are sorted by name with the labels reversed, then type.
 * moto 5.2.5 enforces neither the exact-match DELETE nor CREATE-if-absent (it checks a DELETE
 * against every record set ever created, and a CREATE adds a second record set beside the first),
 * so compare-and-set is proven here, and on moto only the happy paths
 * (test/integration/aws-registry.test.ts).
 */
type Failure = 'throttle' | 'prior' | 'hang' | 'lost-answer' | 'server';

class StrictRoute53 implements RecordSetApi {
  readonly sets = new Map<string, ResourceRecordSet>();
  readonly calls = { change: 0, list: 0 };
  /** Runs before a batch is judged (after the call arrived): tests interleave writers here. */
  beforeChange: ((changes: Change[]) => Promise<void>) | undefined;
  private readonly failures: { change: Failure[]; list: Failure[] } = { change: [], list: [] };

  constructor(readonly domain: string) {
    this.sets.set(key(domain, 'SOA'), {
      Name: `${domain}.`,
      Type: 'SOA',
      TTL: 900,
      ResourceRecords: [{ Value: 'soa' }],
    });
    this.sets.set(key(domain, 'NS'), {
      Name: `${domain}.`,
      Type: 'NS',
      TTL: 172800,
      ResourceRecords: [{ Value: 'ns' }],
    });
  }

  failNext(op: 'change' | 'list', ...f: Failure[]) {
    this.failures[op].push(...f);
  }

  async change(changes: Change[]): Promise<void> {
    this.calls.change++;
    const f = this.failures.change.shift();
    if (f && f !== 'lost-answer') return this.fail(f);
    await this.beforeChange?.(changes);
    const next = new Map(this.sets);
    for (const c of changes) apply(next, c, this.domain);
    this.sets.clear();
    for (const [k, v] of next) this.sets.set(k, v);
    if (f === 'lost-answer') return new Promise(() => {});
  }

  async list(from: { name?: string; type?: RRType; max: number }) {
    this.calls.list++;
    const f = this.failures.list.shift();
    if (f) return this.fail(f);
    const all = [...this.sets.values()].sort(order);
    const start = from.name
      ? all.findIndex((s) => order(s, { Name: from.name, Type: from.type ?? ('' as RRType) }) >= 0)
      : 0;
    const rest = start < 0 ? [] : all.slice(start);
    const sets = rest.slice(0, from.max).map((s) => structuredClone(s));
    const after = rest[from.max];
    return { sets, ...(after ? { next: { name: after.Name!, type: after.Type! } } : {}) };
  }

  /** The record set (name, type) as the zone holds it. */
  get(name: string, type: RRType): ResourceRecordSet | undefined {
    return this.sets.get(key(name, type));
  }

  private fail(f: Failure): Promise<never> {
    if (f === 'hang') return new Promise(() => {});
    const e = new Error(
      f === 'throttle'
        ? 'Rate exceeded'
        : f === 'prior'
          ? 'The request was rejected because Route 53 was still processing a prior request.'
          : 'Internal failure',
    ) as Error & { $fault: string; $metadata: { httpStatusCode: number } };
    e.name = f === 'throttle' ? 'Throttling' : f === 'prior' ? 'PriorRequestNotComplete' : 'InternalFailure';
    e.$fault = f === 'server' ? 'server' : 'client';
    e.$metadata = { httpStatusCode: f === 'server' ? 500 : 400 };
    return Promise.reject(e);
  }
}

const bareName = (n: string | undefined) => (n ?? '').replace(/\.$/, '').toLowerCase();
const key = (name: string | undefined, type: string | undefined) => `${bareName(name)}|${type}`;
const reversed = (n: string | undefined) => bareName(n).split('.').reverse().join('.');
function order(a: ResourceRecordSet, b: ResourceRecordSet): number {
  const x = reversed(a.Name);
  const y = reversed(b.Name);
  if (x !== y) return x < y ? -1 : 1;
  return (a.Type ?? '') < (b.Type ?? '') ? -1 : (a.Type ?? '') > (b.Type ?? '') ? 1 : 0;
}

function invalidChangeBatch(message: string): Error {
  const e = new Error(message) as Error & { messages: string[]; $fault: string };
  e.name = 'InvalidChangeBatch';
  e.messages = [message];
  e.$fault = 'client';
  return e;
}

const values = (s: ResourceRecordSet) => (s.ResourceRecords ?? []).map((r) => r.Value ?? '').sort();

function apply(zone: Map<string, ResourceRecordSet>, c: Change, domain: string): void {
  const s = c.ResourceRecordSet!;
  const name = bareName(s.Name);
  const label = `[name='${name}.', type='${s.Type}']`;
  if (name !== domain && !name.endsWith(`.${domain}`))
    throw invalidChangeBatch(`RRSet with DNS name ${name}. is not permitted in zone ${domain}.`);
  if (!Number.isInteger(s.TTL) || s.TTL! < 0 || s.TTL! > 2147483647 || values(s).length === 0)
    throw new Error(`InvalidInput: a record set needs a TTL and values (${label})`);
  for (const v of values(s))
    for (const m of v.matchAll(/"([^"]*)"/g))
      if (m[1]!.length > 255) throw invalidChangeBatch(`TXT string longer than 255 characters in ${label}`);
  const k = key(name, s.Type);
  const cur = zone.get(k);
  if (c.Action === 'DELETE') {
    if (!cur) throw invalidChangeBatch(`Tried to delete resource record set ${label} but it was not found`);
    if (cur.TTL !== s.TTL || JSON.stringify(values(cur)) !== JSON.stringify(values(s)))
      throw invalidChangeBatch(
        `Tried to delete resource record set ${label} but the values provided do not match the current values`,
      );
    zone.delete(k);
    return;
  }
  const others = [...zone.values()].filter((o) => bareName(o.Name) === name && o.Type !== s.Type);
  if (others.length && (s.Type === 'CNAME' || others.some((o) => o.Type === 'CNAME')))
    throw invalidChangeBatch(
      `RRSet of type CNAME with DNS name ${name}. is not permitted as it conflicts with other records with the same DNS name in zone ${domain}.`,
    );
  if (c.Action === 'CREATE' && cur)
    throw invalidChangeBatch(`Tried to create resource record set ${label} but it already exists`);
  zone.set(k, { ...structuredClone(s), Name: `${name}.` });
}

const DOMAIN = 'run-1.chaos.internal';

function world(opts: { callTimeoutMs?: number } = {}) {
  const zone = new StrictRoute53(DOMAIN);
  const wall = { t: 1_700_000_000_000 };
  const sleeps: number[] = [];
  let seed = 1;
  const registry = (clockOffsetMs = 0) =>
    new Route53Registry({
      zoneId: 'Z1',
      domain: DOMAIN,
      api: zone,
      wallNow: () => wall.t + clockOffsetMs,
      callTimeoutMs: opts.callTimeoutMs ?? 1000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      // Deterministic, and different for each write id.
      random: () => {
        seed = (seed * 16807) % 2147483647;
        return seed / 2147483647;
      },
    });
  return { zone, wall, sleeps, registry };
}

/** Holds every batch until `n` writers have reached Route 53, then lets them through in turn. */
function gate(zone: StrictRoute53, n: number) {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  zone.beforeChange = async () => {
    if (++arrived === n) open();
    await opened;
  };
}

describe('the strict Route 53 double', () => {
  it('refuses a stale DELETE (another value, another TTL, or none) and a CREATE of what exists, and applies a batch whole or not at all', async () => {
    const z = new StrictRoute53(DOMAIN);
    const txt = (v: string, ttl = 1): ResourceRecordSet => ({
      Name: `x.${DOMAIN}`,
      Type: 'TXT',
      TTL: ttl,
      ResourceRecords: [{ Value: `"${v}"` }],
    });
    await z.change([{ Action: 'CREATE', ResourceRecordSet: txt('v=1') }]);
    await expect(z.change([{ Action: 'CREATE', ResourceRecordSet: txt('v=2') }])).rejects.toThrow(
      /already exists/,
    );
    await expect(z.change([{ Action: 'DELETE', ResourceRecordSet: txt('v=0') }])).rejects.toThrow(
      /do not match/,
    );
    await expect(z.change([{ Action: 'DELETE', ResourceRecordSet: txt('v=1', 2) }])).rejects.toThrow(
      /do not match/,
    );
    await expect(
      z.change([{ Action: 'DELETE', ResourceRecordSet: { ...txt('v=1'), Name: `y.${DOMAIN}` } }]),
    ).rejects.toThrow(/not found/);
    // The first change is good, the second is not: nothing applies.
    await expect(
      z.change([
        { Action: 'DELETE', ResourceRecordSet: txt('v=1') },
        { Action: 'DELETE', ResourceRecordSet: txt('v=1') },
      ]),
    ).rejects.toThrow(/not found/);
    expect(z.get(`x.${DOMAIN}`, 'TXT')?.ResourceRecords).toEqual([{ Value: '"v=1"' }]);
    await z.change([
      { Action: 'DELETE', ResourceRecordSet: txt('v=1') },
      { Action: 'CREATE', ResourceRecordSet: txt('v=2') },
    ]);
    expect(z.get(`x.${DOMAIN}`, 'TXT')?.ResourceRecords).toEqual([{ Value: '"v=2"' }]);
  });

  it('its refusals are what the registry calls a conflict; other invalid batches are not', async () => {
    const z = new StrictRoute53(DOMAIN);
    const err = await z
      .change([
        {
          Action: 'DELETE',
          ResourceRecordSet: {
            Name: `x.${DOMAIN}`,
            Type: 'TXT',
            TTL: 1,
            ResourceRecords: [{ Value: '"a"' }],
          },
        },
      ])
      .catch((e) => e);
    expect(isConflict(err)).toBe(true);
    const outside = await z
      .change([
        {
          Action: 'CREATE',
          ResourceRecordSet: {
            Name: 'x.elsewhere',
            Type: 'TXT',
            TTL: 1,
            ResourceRecords: [{ Value: '"a"' }],
          },
        },
      ])
      .catch((e) => e);
    expect(outside.name).toBe('InvalidChangeBatch');
    expect(isConflict(outside)).toBe(false);
  });
});

describe('Route53Registry records', () => {
  it('a record is a CNAME to the node and a TXT with its version; set moves it, get reads it', async () => {
    const { zone, registry } = world();
    const r = registry();
    expect(await r.get('redis-head')).toBeUndefined();
    expect(await r.set('redis-head', 'redis-a', 1000)).toEqual({
      name: 'redis-head',
      value: 'redis-a',
      ttlMs: 1000,
      version: 1,
    });
    expect(zone.get(`redis-head.${DOMAIN}`, 'CNAME')).toEqual({
      Name: `redis-head.${DOMAIN}.`,
      Type: 'CNAME',
      TTL: 1,
      ResourceRecords: [{ Value: `redis-a.${DOMAIN}` }],
    });
    expect(zone.get(`redis-head._registry.${DOMAIN}`, 'TXT')?.ResourceRecords?.[0]?.Value).toMatch(
      /^"v=1" "w=[0-9a-z]{8}" "value=redis-a"$/,
    );
    expect(await r.set('redis-head', 'redis-b', 2000, 1)).toMatchObject({
      value: 'redis-b',
      version: 2,
      ttlMs: 2000,
    });
    expect(await r.get('redis-head')).toEqual({
      name: 'redis-head',
      value: 'redis-b',
      ttlMs: 2000,
      version: 2,
    });
    expect(zone.get(`redis-head.${DOMAIN}`, 'CNAME')).toMatchObject({
      TTL: 2,
      ResourceRecords: [{ Value: `redis-b.${DOMAIN}` }],
    });
    expect(r.hostname('redis-head')).toBe(`redis-head.${DOMAIN}`);
  });

  it('a value that is not a DNS label (a membership list) has no CNAME; moving to one deletes the old CNAME in the same batch', async () => {
    const { zone, registry } = world();
    const r = registry();
    await r.set('redis-chain', 'redis-a', 0);
    expect(zone.get(`redis-chain.${DOMAIN}`, 'CNAME')).toMatchObject({ TTL: 0 });
    expect(await r.set('redis-chain', 'redis-a,redis-b', 0, 1)).toMatchObject({ version: 2 });
    expect(zone.get(`redis-chain.${DOMAIN}`, 'CNAME')).toBeUndefined();
    expect(await r.get('redis-chain')).toEqual({
      name: 'redis-chain',
      value: 'redis-a,redis-b',
      ttlMs: 0,
      version: 2,
    });
    const odd = 'a "quoted" value\\ with spaces';
    await r.set('odd', odd, 0);
    expect((await r.get('odd'))?.value).toBe(odd);
  });

  it('ifVersion 0 creates only: it fails once the record exists', async () => {
    const { registry } = world();
    const r = registry();
    expect(await r.set('pg-writer', 'pg-a', 1000, 0)).toMatchObject({ version: 1 });
    expect(await r.set('pg-writer', 'pg-b', 1000, 0)).toBeUndefined();
    expect(await r.set('pg-writer', 'pg-b', 1000, 7)).toBeUndefined();
    expect((await r.get('pg-writer'))?.value).toBe('pg-a');
  });

  it('two writers from the same version: Route 53 lets one through, the other gets undefined', async () => {
    const { zone, registry } = world();
    const a = registry();
    const b = registry();
    await a.set('redis-head', 'redis-a', 1000);
    gate(zone, 2);
    const [ra, rb] = await Promise.all([
      a.set('redis-head', 'redis-b', 1000, 1),
      b.set('redis-head', 'redis-c', 1000, 1),
    ]);
    const won = [ra, rb].filter(Boolean);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ version: 2 });
    expect(await a.get('redis-head')).toEqual(won[0]);
    expect(zone.get(`redis-head.${DOMAIN}`, 'CNAME')?.ResourceRecords).toEqual([
      { Value: `${won[0]!.value}.${DOMAIN}` },
    ]);
    // The loser's batch reached Route 53 once and was refused: a conflict is never retried.
    expect(zone.calls.change).toBe(3);
  });

  it('two writers creating with ifVersion 0 at once: one CREATE is refused', async () => {
    const { zone, registry } = world();
    gate(zone, 2);
    const got = await Promise.all([
      registry().set('pg-writer', 'pg-a', 1000, 0),
      registry().set('pg-writer', 'pg-b', 1000, 0),
    ]);
    expect(got.filter(Boolean)).toHaveLength(1);
  });

  it('a writer whose read went stale is refused: its DELETE names the old version', async () => {
    const { zone, registry } = world();
    const slow = registry();
    const fast = registry();
    await fast.set('pg-writer', 'pg-a', 1000);
    let moved = false;
    zone.beforeChange = async () => {
      // The slow writer has read v1; the fast one moves the record before its batch is judged.
      if (moved) return;
      moved = true;
      zone.beforeChange = undefined;
      await fast.set('pg-writer', 'pg-c', 1000, 1);
    };
    expect(await slow.set('pg-writer', 'pg-b', 1000, 1)).toBeUndefined();
    expect(await slow.get('pg-writer')).toMatchObject({ value: 'pg-c', version: 2 });
  });

  it('a write without ifVersion that loses a race reads again and lands on top', async () => {
    const { zone, registry } = world();
    const a = registry();
    const b = registry();
    await a.set('x', 'one', 1000);
    gate(zone, 2);
    const [ra, rb] = await Promise.all([a.set('x', 'two', 1000), b.set('x', 'three', 1000)]);
    expect([ra?.version, rb?.version].sort()).toEqual([2, 3]);
    expect((await a.get('x'))?.version).toBe(3);
  });

  it('TTLs are whole seconds: 0 or at least 1000 ms, in multiples of 1000', async () => {
    const { registry } = world();
    const r = registry();
    for (const bad of [500, 1500, 999, -1000, 1000.5]) {
      const err = await r.set('redis-head', 'redis-a', bad).catch((e) => e);
      expect(err).toBeInstanceOf(ChaosError);
      expect(err.code).toBe('REGISTRY_TTL');
      expect(err.exitCode).toBe(2);
    }
    expect(() => dnsTtlSeconds('redis-head', 500)).toThrow(
      'registry record redis-head: a TTL of 500 ms cannot be a Route 53 TTL, which is whole seconds (0, or at least 1000 ms)',
    );
    expect(dnsTtlSeconds('x', 0)).toBe(0);
    expect(dnsTtlSeconds('x', 3000)).toBe(3);
  });

  it('names must be DNS labels', async () => {
    const { registry } = world();
    await expect(registry().set('Redis_Head', 'x', 1000)).rejects.toThrow(/is not a DNS label/);
    await expect(registry().acquireLease('a.b', 'x', 1000)).rejects.toThrow(/is not a DNS label/);
  });
});

describe('Route53Registry calls', () => {
  it('throttling (Throttling, PriorRequestNotComplete) is retried with growing backoff', async () => {
    const { zone, sleeps, registry } = world();
    zone.failNext('change', 'throttle', 'prior', 'throttle');
    expect(await registry().set('x', 'a', 1000)).toMatchObject({ version: 1 });
    expect(zone.calls.change).toBe(4);
    expect(sleeps).toHaveLength(3);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[2]).toBeGreaterThanOrEqual(200);
    expect(sleeps[2]).toBeLessThanOrEqual(400);
  });

  it('throttled past its attempts: an error that says so', async () => {
    const { zone, registry } = world();
    zone.failNext('change', 'throttle', 'throttle', 'throttle', 'throttle', 'throttle', 'throttle');
    await expect(registry().set('x', 'a', 1000)).rejects.toMatchObject({
      code: 'REGISTRY_THROTTLED',
      message: 'Route 53 ChangeResourceRecordSets: still throttled after 6 attempts (Throttling)',
    });
  });

  it('a change that does not answer in time is an error, and the record is as it was', async () => {
    const { zone, registry } = world({ callTimeoutMs: 30 });
    const r = registry();
    await r.set('x', 'a', 1000);
    zone.failNext('change', 'hang');
    await expect(r.set('x', 'b', 1000, 1)).rejects.toMatchObject({
      code: 'REGISTRY_TIMEOUT',
      message:
        'set x: Route 53 did not answer within 30 ms, and the change is not in the zone yet: it may still apply',
    });
    expect(await r.get('x')).toMatchObject({ value: 'a', version: 1 });
  });

  it('a change applied whose answer was lost is recognised as its own by its write id', async () => {
    const { zone, registry } = world({ callTimeoutMs: 30 });
    const r = registry();
    zone.failNext('change', 'lost-answer');
    expect(await r.set('x', 'a', 1000, 0)).toMatchObject({ value: 'a', version: 1 });
  });

  it('a read that times out or meets a server error is tried again', async () => {
    const { zone, registry } = world({ callTimeoutMs: 30 });
    const r = registry();
    await r.set('x', 'a', 1000);
    zone.failNext('list', 'hang', 'server');
    expect(await r.get('x')).toMatchObject({ value: 'a' });
    expect(zone.calls.list).toBe(4);
  });

  it("clear() deletes the registry's records, CNAMEs and leases, and nothing of the stack's", async () => {
    const { zone, registry } = world();
    const r = registry();
    await zone.change([
      {
        Action: 'CREATE',
        ResourceRecordSet: {
          Name: `redis-a.${DOMAIN}`,
          Type: 'A',
          TTL: 60,
          ResourceRecords: [{ Value: '10.0.1.10' }],
        },
      },
      {
        Action: 'CREATE',
        ResourceRecordSet: {
          Name: `web.${DOMAIN}`,
          Type: 'CNAME',
          TTL: 60,
          ResourceRecords: [{ Value: 'alb.example' }],
        },
      },
    ]);
    await r.set('redis-head', 'redis-a', 1000);
    await r.set('redis-chain', 'redis-a,redis-b', 0);
    await r.acquireLease('redis-leader', 'redis-a', 5000);
    expect(await r.clear()).toBe(4);
    expect([...zone.sets.keys()].sort()).toEqual(
      [`${DOMAIN}|NS`, `${DOMAIN}|SOA`, `redis-a.${DOMAIN}|A`, `web.${DOMAIN}|CNAME`].sort(),
    );
  });
});

describe('Route53Registry leases', () => {
  it('taken, renewed in the same term, refused to another while it runs, taken over with a new term once run out', async () => {
    const { wall, registry } = world();
    const a = registry();
    const b = registry();
    expect(await a.acquireLease('pg-leader', 'pg-a', 5000)).toEqual({
      name: 'pg-leader',
      holder: 'pg-a',
      ttlMs: 5000,
      remainingMs: 5000,
      term: 1,
    });
    wall.t += 3000;
    expect(await b.acquireLease('pg-leader', 'pg-b', 5000)).toBeUndefined();
    expect(await a.acquireLease('pg-leader', 'pg-a', 5000)).toMatchObject({ term: 1, remainingMs: 5000 });
    wall.t += 4999;
    expect(await b.acquireLease('pg-leader', 'pg-b', 5000)).toBeUndefined();
    expect(await b.getLease('pg-leader')).toMatchObject({ holder: 'pg-a', remainingMs: 1, term: 1 });
    wall.t += 1;
    expect(await b.getLease('pg-leader')).toMatchObject({ holder: 'pg-a', remainingMs: 0 });
    expect(await b.acquireLease('pg-leader', 'pg-b', 5000)).toMatchObject({ holder: 'pg-b', term: 2 });
    // The former holder's renewal is refused now.
    expect(await a.acquireLease('pg-leader', 'pg-a', 5000)).toBeUndefined();
  });

  it('a holder whose own lease ran out before anyone took it starts a new term', async () => {
    const { wall, registry } = world();
    const a = registry();
    await a.acquireLease('l', 'a', 2000);
    wall.t += 2000;
    expect(await a.acquireLease('l', 'a', 2000)).toMatchObject({ term: 2 });
  });

  it('two take over an expired lease at once: one wins', async () => {
    const { zone, wall, registry } = world();
    await registry().acquireLease('l', 'a', 2000);
    wall.t += 2500;
    gate(zone, 2);
    const got = await Promise.all([
      registry().acquireLease('l', 'b', 2000),
      registry().acquireLease('l', 'c', 2000),
    ]);
    const won = got.filter(Boolean);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ term: 2 });
    expect((await registry().getLease('l'))?.holder).toBe(won[0]!.holder);
  });

  it('a renewal that races a take-over after expiry: one of them wins, never both', async () => {
    const { zone, wall, registry } = world();
    const a = registry();
    await a.acquireLease('l', 'a', 2000);
    wall.t += 2000;
    gate(zone, 2);
    const [ra, rb] = await Promise.all([
      a.acquireLease('l', 'a', 2000),
      registry().acquireLease('l', 'b', 2000),
    ]);
    expect([ra, rb].filter(Boolean)).toHaveLength(1);
  });

  it('release: only by its holder; it runs out at once, keeps its term, and the next taker gets the next', async () => {
    const { wall, registry } = world();
    const a = registry();
    await a.acquireLease('l', 'a', 5000);
    await a.releaseLease('l', 'b');
    expect(await a.getLease('l')).toMatchObject({ holder: 'a', remainingMs: 5000 });
    wall.t += 1000;
    await a.releaseLease('l', 'a');
    expect(await a.getLease('l')).toMatchObject({ holder: 'a', remainingMs: 0, term: 1 });
    expect(await registry().acquireLease('l', 'b', 5000)).toMatchObject({ holder: 'b', term: 2 });
  });

  it("expiry is judged on the asking host's wall clock: the margin must cover the clocks' difference", async () => {
    // One real time; a's monotonic clock and wall clock read it; b's wall clock runs `drift` ahead.
    async function overlap(driftMs: number): Promise<boolean> {
      const { wall, registry } = world();
      const start = wall.t;
      const timers: { at: number; fn: () => void }[] = [];
      const keeper = new LeaseKeeper(
        { name: 'pg-leader', holder: 'pg-a', ttlMs: 5000, marginMs: 500 },
        {
          registry: registry(),
          now: () => wall.t - start,
          setTimer: (fn, ms) => {
            timers.push({ at: wall.t - start + ms, fn });
            return () => {};
          },
          onLost: () => {},
        },
      );
      expect((await keeper.renew()).status).toBe('held');
      const b = registry(driftMs);
      // b asks every 10 ms of real time; does it get the lease while a still holds it?
      for (let t = 0; t <= 6000; t += 10) {
        wall.t = start + t;
        if (await b.acquireLease('pg-leader', 'pg-b', 5000)) return keeper.holds();
      }
      throw new Error('b never got the lease');
    }
    expect(await overlap(0)).toBe(false);
    expect(await overlap(400)).toBe(false);
    // A clock 800 ms ahead, with a 500 ms margin: b leads while a still acknowledges writes.
    expect(await overlap(800)).toBe(true);
  });
});
