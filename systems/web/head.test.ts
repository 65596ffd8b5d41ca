import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ReplyError } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleAgents } from '../../agents/bundle.ts';
import { HttpRegistry } from '../../agents/registry/http-client.ts';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { startRegistryServer } from '../../agents/registry/server.ts';
import type { Registry } from '../../core/registry.ts';
import {
  type BackendName,
  EventLimiter,
  type PgClientLike,
  type PgPoolLike,
  type RedisLike,
  WRITES_KEY,
  createHead,
  headConfig,
  insertText,
  parseBackends,
  serveHead,
  writeStatus,
} from './head.ts';

// ---------------------------------------------------------------------------------------------
// Fake backends: servers by node name, each with a mode that decides how statements end.

/**
 * ok: applied and acknowledged; refuse: the connection is refused (nothing sent); readonly: an
 * error reply before anything is applied; timeout: applied, then the client's timeout runs out;
 * lost: the connection drops after sending; shutdown: the server ends the session (Postgres 57P01);
 * full (Postgres): every connection of the pool stayed busy until the checkout's timeout.
 */
type Mode = 'ok' | 'refuse' | 'readonly' | 'timeout' | 'lost' | 'shutdown' | 'full';

function dbError(code: string, message: string): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  err.code = code;
  return err;
}

const refused = (node: string, port: number) =>
  Object.assign(new Error(`connect ECONNREFUSED ${node}:${port}`), { code: 'ECONNREFUSED' });

interface PgServer {
  mode: Mode;
  table: boolean;
  rows: number[];
  /** How `CREATE TABLE IF NOT EXISTS` ends: ok, a read-only refusal, or losing a race to another head. */
  create: 'ok' | 'readonly' | 'race';
}

class FakePg {
  readonly servers = new Map<string, PgServer>();
  /** Every statement sent, as `node: SQL`. */
  readonly sent: string[] = [];
  readonly pools: { node: string; ended: boolean; checkouts: number }[] = [];

  server(node: string): PgServer {
    let s = this.servers.get(node);
    if (!s) {
      s = { mode: 'ok', table: false, rows: [], create: 'ok' };
      this.servers.set(node, s);
    }
    return s;
  }

  inserts(node?: string): string[] {
    return this.sent.filter((l) => l.includes('INSERT') && (node === undefined || l.startsWith(`${node}:`)));
  }

  creates(node?: string): string[] {
    return this.sent.filter((l) => l.includes('CREATE') && (node === undefined || l.startsWith(`${node}:`)));
  }

  readonly pool = (node: string): PgPoolLike => {
    const record = { node, ended: false, checkouts: 0 };
    this.pools.push(record);
    return {
      connect: async () => {
        if (record.ended) throw new Error('Cannot use a pool after calling end on the pool');
        const s = this.server(node);
        if (s.mode === 'refuse') throw refused(node, 5432);
        if (s.mode === 'full') throw new Error('timeout exceeded when trying to connect');
        record.checkouts++;
        return this.client(node);
      },
      end: async () => {
        record.ended = true;
      },
    };
  };

  private client(node: string): PgClientLike {
    return {
      query: async (sqlText: string, values?: unknown[]) => {
        await Promise.resolve();
        const s = this.server(node);
        this.sent.push(`${node}: ${sqlText}${values ? ` ${JSON.stringify(values)}` : ''}`);
        if (sqlText.startsWith('CREATE TABLE IF NOT EXISTS')) {
          if (s.create === 'readonly')
            throw dbError('25006', 'cannot execute CREATE TABLE in a read-only transaction');
          if (s.create === 'race')
            throw dbError(
              '23505',
              'duplicate key value violates unique constraint "pg_type_typname_nsp_index"',
            );
          s.table = true;
          return { rows: [] };
        }
        if (!s.table) throw dbError('42P01', 'relation "web_writes" does not exist');
        const failAfterApplying = () => {
          if (s.mode === 'timeout') throw new Error('Query read timeout');
          if (s.mode === 'lost') throw new Error('Connection terminated unexpectedly');
          if (s.mode === 'shutdown')
            throw dbError('57P01', 'terminating connection due to administrator command');
        };
        if (sqlText.startsWith('INSERT')) {
          if (s.mode === 'readonly')
            throw dbError('25006', 'cannot execute INSERT in a read-only transaction');
          const seq = Number(values?.[0] ?? /VALUES \((\d+)\)/.exec(sqlText)?.[1]);
          if (s.rows.includes(seq)) throw dbError('23505', 'duplicate key value violates unique constraint');
          s.rows.push(seq);
          failAfterApplying();
          return { rows: [] };
        }
        failAfterApplying();
        if (sqlText.startsWith('SELECT seq')) return { rows: s.rows.map((seq) => ({ seq: String(seq) })) };
        if (sqlText.startsWith('SELECT 1'))
          return { rows: s.rows.filter((r) => r === values?.[0]).map(() => ({})) };
        throw new Error(`fake Postgres: unexpected statement ${sqlText}`);
      },
      release: () => {},
      on: () => {},
      removeListener: () => {},
    };
  }
}

interface RedisServer {
  mode: Mode;
  list: string[];
  /** How many replicas a WAIT finds with the write. */
  replicas: number;
}

class FakeRedis {
  readonly servers = new Map<string, RedisServer>();
  readonly sent: string[] = [];
  readonly clients: { node: string; client: RedisLike & { status: string }; closed: boolean }[] = [];

  server(node: string): RedisServer {
    let s = this.servers.get(node);
    if (!s) {
      s = { mode: 'ok', list: [], replicas: 1 };
      this.servers.set(node, s);
    }
    return s;
  }

  pushes(node?: string): string[] {
    return this.sent.filter((l) => l.includes('RPUSH') && (node === undefined || l.startsWith(`${node}:`)));
  }

  readonly client = (node: string): RedisLike => {
    const entry = { node, closed: false } as FakeRedis['clients'][number];
    const s = () => this.server(node);
    const command = <T>(what: string, apply: () => T): Promise<T> => {
      if (client.status !== 'ready')
        return Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
      this.sent.push(`${node}: ${what}`);
      const mode = s().mode;
      if (mode === 'readonly' && what.startsWith('RPUSH'))
        return Promise.reject(new ReplyError("READONLY You can't write against a read only replica."));
      const out = apply();
      if (mode === 'timeout') return Promise.reject(new Error('Command timed out'));
      if (mode === 'lost' || mode === 'shutdown') return Promise.reject(new Error('Connection is closed.'));
      return Promise.resolve(out);
    };
    const client = {
      status: 'wait',
      connect: async () => {
        if (s().mode === 'refuse') {
          client.status = 'end';
          throw refused(node, 6379);
        }
        client.status = 'ready';
      },
      rpush: (key: string, value: string) =>
        command(`RPUSH ${key} ${value}`, () => {
          s().list.push(value);
          return s().list.length;
        }),
      wait: (numreplicas: number, timeout: number) =>
        command(`WAIT ${numreplicas} ${timeout}`, () => Math.min(numreplicas, s().replicas)),
      lrange: (key: string) => command(`LRANGE ${key}`, () => [...s().list]),
      lpos: (key: string, element: string) =>
        command(`LPOS ${key} ${element}`, () => {
          const i = s().list.indexOf(element);
          return i < 0 ? null : i;
        }),
      quit: async () => {
        client.status = 'end';
        entry.closed = true;
        return 'OK';
      },
      disconnect: () => {
        client.status = 'end';
        entry.closed = true;
      },
    };
    entry.client = client;
    this.clients.push(entry);
    return client;
  };
}

/** Lets closes scheduled on settled promises run. */
const settle = () => new Promise((r) => setImmediate(r));

function world(backends: BackendName[] = ['pg', 'redis'], redisWaitReplicas = 0) {
  const records = new MemoryRegistry();
  const lookups: string[] = [];
  let registryDown = false;
  const registry: Registry = {
    get: async (name) => {
      lookups.push(name);
      if (registryDown) throw new Error('fetch failed');
      return records.get(name);
    },
    set: (...args) => records.set(...args),
    acquireLease: (...args) => records.acquireLease(...args),
    getLease: (name) => records.getLease(name),
    releaseLease: (...args) => records.releaseLease(...args),
  };
  const clock = { now: 0 };
  const events: Record<string, unknown>[] = [];
  const pgFake = new FakePg();
  const redisFake = new FakeRedis();
  const head = createHead(
    { backends, timeoutMs: 1000, redisWaitReplicas },
    {
      registry,
      now: () => clock.now,
      emit: (type, data) => events.push({ type, ...data }),
      pgPool: pgFake.pool,
      redis: redisFake.client,
    },
  );
  const call = async (method: string, url: string) => {
    const r = await head.handle(method, url);
    return { status: r.status, body: r.contentType === 'application/json' ? JSON.parse(r.body) : r.body };
  };
  return {
    head,
    records,
    lookups,
    clock,
    events,
    pg: pgFake,
    redis: redisFake,
    setRegistryDown: (down: boolean) => {
      registryDown = down;
    },
    /** Both records at node `a` (pg-a, redis-a) with a 500 ms TTL. */
    async leaders(pgNode = 'pg-a', redisNode = 'redis-a', ttlMs = 500) {
      await records.set('pg-writer', pgNode, ttlMs);
      await records.set('redis-head', redisNode, ttlMs);
    },
    write: (seq: number | string) => call('POST', `/write?seq=${seq}`),
    call,
  };
}

// ---------------------------------------------------------------------------------------------

describe('web head: the INSERT text', () => {
  it('writes the sequence number into the text, and refuses anything but a safe integer', () => {
    expect(insertText(7)).toBe('INSERT INTO web_writes (seq) VALUES (7)');
    expect(insertText(2 ** 53 - 1)).toBe('INSERT INTO web_writes (seq) VALUES (9007199254740991)');
    for (const bad of [1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY])
      expect(() => insertText(bad)).toThrow();
  });
});

describe('web head: configuration', () => {
  const base = { NODE_NAME: 'web-a', REGISTRY_URL: 'http://registry:8053/', BACKENDS: 'redis,pg' };

  it('reads the environment with its defaults; writes go to Postgres, then Redis, whatever the order named', () => {
    expect(headConfig(base)).toEqual({
      node: 'web-a',
      port: 8080,
      registryUrl: 'http://registry:8053',
      backends: ['pg', 'redis'],
      pgPort: 5432,
      redisPort: 6379,
      timeoutMs: 1000,
      redisWaitReplicas: 0,
    });
    expect(headConfig({ ...base, REDIS_WAIT_REPLICAS: '1' }).redisWaitReplicas).toBe(1);
    expect(() => headConfig({ ...base, REDIS_WAIT_REPLICAS: '-1' })).toThrow(/REDIS_WAIT_REPLICAS/);
    expect(headConfig({ ...base, PORT: '0', PG_PORT: '6432', BACKEND_TIMEOUT_MS: '250' })).toMatchObject({
      port: 0,
      pgPort: 6432,
      timeoutMs: 250,
    });
  });

  it('either backend may be absent; none, an unknown one or one twice is refused', () => {
    expect(parseBackends('redis')).toEqual(['redis']);
    expect(parseBackends(' pg ')).toEqual(['pg']);
    expect(() => parseBackends('')).toThrow(/names no backend/);
    expect(() => parseBackends('pg,mongo')).toThrow(/'mongo'/);
    expect(() => parseBackends('pg,pg')).toThrow(/twice/);
  });

  it('names the variable that is missing or wrong', () => {
    expect(() => headConfig({ ...base, NODE_NAME: undefined })).toThrow(/NODE_NAME is required/);
    expect(() => headConfig({ ...base, REGISTRY_URL: '' })).toThrow(/REGISTRY_URL is required/);
    expect(() => headConfig({ ...base, PORT: '80a' })).toThrow(/PORT must be an integer/);
    expect(() => headConfig({ ...base, BACKEND_TIMEOUT_MS: '0' })).toThrow(/BACKEND_TIMEOUT_MS/);
  });
});

describe("web head: the status of a write from the backends' outcomes", () => {
  it('200 only when every backend acknowledged', () => {
    expect(writeStatus(['ok'])).toBe(200);
    expect(writeStatus(['ok', 'ok'])).toBe(200);
  });
  it('503 when the first failure certainly applied nothing and nothing before it was applied', () => {
    expect(writeStatus(['fail'])).toBe(503);
  });
  it('504 when the failure may have applied it, or an earlier backend acknowledged', () => {
    expect(writeStatus(['unknown'])).toBe(504);
    expect(writeStatus(['ok', 'fail'])).toBe(504);
    expect(writeStatus(['ok', 'unknown'])).toBe(504);
  });
});

describe('web head: Redis writes that wait for replicas (REDIS_WAIT_REPLICAS)', () => {
  it('without it, RPUSH alone; with it, WAIT n for what is left of the backend timeout, then 200', async () => {
    const plain = world(['redis']);
    await plain.leaders();
    expect(await plain.write(1)).toMatchObject({ status: 200 });
    expect(plain.redis.sent.filter((l) => l.includes('WAIT'))).toEqual([]);

    const w = world(['redis'], 1);
    await w.leaders();
    expect(await w.write(1)).toMatchObject({ status: 200 });
    expect(w.redis.sent.filter((l) => /RPUSH|WAIT/.test(l))).toEqual([
      'redis-a: RPUSH web:writes 1',
      'redis-a: WAIT 1 600',
    ]);
  });

  it('a WAIT that comes back short is a 504: applied on the head, perhaps nowhere else', async () => {
    const w = world(['pg', 'redis'], 2);
    await w.leaders();
    w.redis.server('redis-a').replicas = 1;
    const r = await w.write(7);
    expect(r.status).toBe(504);
    expect(JSON.stringify(r.body)).toMatch(/1 of 2 replicas have the write/);
    expect(w.redis.server('redis-a').list).toEqual(['7']);
  });
});

describe('web head: routes and bad input', () => {
  it('/health answers 200 ok without asking the registry or a backend', async () => {
    const w = world();
    expect(await w.call('GET', '/health')).toEqual({ status: 200, body: 'ok' });
    expect(await w.call('HEAD', '/health')).toMatchObject({ status: 200 });
    expect(w.lookups).toEqual([]);
    expect(w.pg.pools.length + w.redis.clients.length).toBe(0);
  });

  it('a seq that is not one positive integer is 400, and nothing is attempted', async () => {
    const w = world();
    await w.leaders();
    for (const bad of [
      '0',
      '-1',
      '1.5',
      'abc',
      '1e3',
      '01',
      '',
      '9007199254740993',
      '99999999999999999999',
    ]) {
      expect((await w.write(bad)).status, `seq=${bad}`).toBe(400);
    }
    expect((await w.call('POST', '/write')).status).toBe(400);
    expect((await w.call('POST', '/write?seq=1&seq=2')).status).toBe(400);
    expect((await w.call('GET', '/read?seq=x')).status).toBe(400);
    expect(w.lookups).toEqual([]);
    expect(w.pg.sent).toEqual([]);
    expect(w.redis.sent).toEqual([]);
  });

  it('the largest exact integer is accepted', async () => {
    const w = world(['redis']);
    await w.leaders();
    expect((await w.write(Number.MAX_SAFE_INTEGER)).status).toBe(200);
    expect(w.redis.server('redis-a').list).toEqual([String(Number.MAX_SAFE_INTEGER)]);
  });

  it('a wrong method is 405 with Allow, an unknown path 404', async () => {
    const w = world();
    const r = await w.head.handle('GET', '/write?seq=1');
    expect(r.status).toBe(405);
    expect(r.headers).toEqual({ allow: 'POST' });
    expect((await w.call('POST', '/health')).status).toBe(405);
    expect((await w.call('POST', '/writes')).status).toBe(405);
    expect((await w.call('GET', '/nope')).status).toBe(404);
    expect(w.pg.sent.length + w.redis.sent.length).toBe(0);
  });
});

describe('web head: writes', () => {
  it('200 when both acknowledged: INSERT on the pg-writer node, then RPUSH on the redis-head node', async () => {
    const w = world();
    await w.leaders();
    expect(await w.write(7)).toEqual({ status: 200, body: { seq: 7, pg: 'ok', redis: 'ok' } });
    expect(w.pg.inserts()).toEqual(['pg-a: INSERT INTO web_writes (seq) VALUES (7)']);
    expect(w.redis.pushes()).toEqual([`redis-a: RPUSH ${WRITES_KEY} 7`]);
    expect(w.pg.server('pg-a').rows).toEqual([7]);
    expect(w.redis.server('redis-a').list).toEqual(['7']);
  });

  it('goes to Postgres first: a Redis that refuses is not reached when Postgres failed', async () => {
    const w = world(['pg', 'redis']);
    await w.leaders();
    w.pg.server('pg-a').mode = 'readonly';
    const r = await w.write(1);
    expect(r).toMatchObject({ status: 503, body: { seq: 1, pg: 'fail' } });
    expect(r.body.redis).toBeUndefined();
    expect(w.redis.sent).toEqual([]);
  });

  describe('503: certainly nothing applied', () => {
    it('no record in the registry', async () => {
      const w = world();
      await w.records.set('redis-head', 'redis-a', 500);
      const r = await w.write(1);
      expect(r).toMatchObject({ status: 503, body: { pg: 'fail' } });
      expect(r.body.error).toMatch(/no pg-writer record/);
      expect(w.pg.pools).toEqual([]);
      expect(w.redis.sent).toEqual([]);
    });

    it('the registry cannot be reached', async () => {
      const w = world(['redis']);
      w.setRegistryDown(true);
      const r = await w.write(1);
      expect(r).toMatchObject({ status: 503, body: { redis: 'fail' } });
      expect(r.body.error).toMatch(/registry lookup of redis-head: fetch failed/);
    });

    it('the connection is refused (Postgres, Redis)', async () => {
      const w = world();
      await w.leaders();
      w.pg.server('pg-a').mode = 'refuse';
      expect(await w.write(1)).toMatchObject({ status: 503, body: { pg: 'fail' } });
      const r = world(['redis']);
      await r.leaders();
      r.redis.server('redis-a').mode = 'refuse';
      const res = await r.write(1);
      expect(res).toMatchObject({ status: 503, body: { redis: 'fail' } });
      expect(res.body.error).toMatch(/ECONNREFUSED/);
    });

    it('READONLY from Redis', async () => {
      const w = world(['redis']);
      await w.leaders();
      w.redis.server('redis-a').mode = 'readonly';
      const r = await w.write(1);
      expect(r).toMatchObject({ status: 503, body: { redis: 'fail' } });
      expect(r.body.error).toMatch(/READONLY/);
    });

    it('"cannot execute INSERT in a read-only transaction" from Postgres', async () => {
      const w = world(['pg']);
      await w.leaders();
      w.pg.server('pg-a').mode = 'readonly';
      const r = await w.write(1);
      expect(r).toMatchObject({ status: 503, body: { pg: 'fail' } });
      expect(r.body.error).toMatch(/read-only transaction/);
    });

    it('the table cannot be created (a standby): the INSERT is never sent', async () => {
      const w = world(['pg']);
      await w.leaders();
      w.pg.server('pg-a').create = 'readonly';
      expect(await w.write(1)).toMatchObject({ status: 503, body: { pg: 'fail' } });
      expect(w.pg.inserts()).toEqual([]);
    });
  });

  describe('504: it may have been applied', () => {
    for (const mode of ['timeout', 'lost', 'shutdown'] as const) {
      it(`Postgres: ${mode} after sending`, async () => {
        const w = world();
        await w.leaders();
        w.pg.server('pg-a').mode = mode;
        expect(await w.write(3)).toMatchObject({ status: 504, body: { pg: 'unknown' } });
        expect(w.pg.server('pg-a').rows).toEqual([3]); // it was, in fact
        expect(w.redis.sent).toEqual([]);
      });

      it(`Redis: ${mode} after sending`, async () => {
        const w = world(['redis']);
        await w.leaders();
        w.redis.server('redis-a').mode = mode;
        expect(await w.write(3)).toMatchObject({ status: 504, body: { redis: 'unknown' } });
      });
    }

    it('Postgres acknowledged and Redis refused it (READONLY, no record, connect refused)', async () => {
      const w = world();
      await w.leaders();
      w.redis.server('redis-a').mode = 'readonly';
      expect(await w.write(1)).toMatchObject({ status: 504, body: { pg: 'ok', redis: 'fail' } });
      w.redis.server('redis-a').mode = 'refuse';
      expect(await w.write(2)).toMatchObject({ status: 504, body: { pg: 'ok', redis: 'fail' } });
      const v = world();
      await v.records.set('pg-writer', 'pg-a', 500);
      expect(await v.write(1)).toMatchObject({ status: 504, body: { pg: 'ok', redis: 'fail' } });
    });
  });

  it('never retries: one attempt per backend per request, whatever the failure', async () => {
    const w = world();
    await w.leaders();
    w.redis.server('redis-a').mode = 'timeout';
    await w.write(1);
    w.pg.server('pg-a').mode = 'lost';
    await w.write(2);
    w.pg.server('pg-a').mode = 'refuse';
    await w.write(3);
    expect(w.pg.inserts().map((l) => l.slice(l.lastIndexOf(' ') + 1))).toEqual(['(1)', '(2)']);
    expect(w.redis.pushes()).toEqual([`redis-a: RPUSH ${WRITES_KEY} 1`]);
  });
});

describe('web head: the table', () => {
  it('is created once per primary, and again on a new primary', async () => {
    const w = world(['pg']);
    await w.leaders('pg-a', 'redis-a', 500);
    await Promise.all([w.write(1), w.write(2)]);
    await w.write(3);
    expect(w.pg.creates()).toEqual(['pg-a: CREATE TABLE IF NOT EXISTS web_writes (seq bigint PRIMARY KEY)']);
    await w.records.set('pg-writer', 'pg-b', 500);
    w.clock.now = 500;
    expect((await w.write(4)).status).toBe(200);
    expect(w.pg.creates('pg-b')).toHaveLength(1);
    expect(w.pg.server('pg-b').rows).toEqual([4]);
  });

  it('tolerates another head creating it at the same moment', async () => {
    const w = world(['pg']);
    await w.leaders();
    const s = w.pg.server('pg-a');
    s.create = 'race';
    s.table = true; // the other head's CREATE won
    expect(await w.write(1)).toMatchObject({ status: 200 });
    expect(s.rows).toEqual([1]);
  });

  it('a failed creation is tried again by the next write', async () => {
    const w = world(['pg']);
    await w.leaders();
    w.pg.server('pg-a').create = 'readonly';
    expect((await w.write(1)).status).toBe(503);
    w.pg.server('pg-a').create = 'ok';
    expect((await w.write(2)).status).toBe(200);
    expect(w.pg.creates()).toHaveLength(2);
  });

  it('a primary that lost the table (undefined table) gets it again on the next write', async () => {
    const w = world(['pg']);
    await w.leaders();
    expect((await w.write(1)).status).toBe(200);
    w.pg.server('pg-a').table = false;
    expect(await w.write(2)).toMatchObject({ status: 503, body: { pg: 'fail' } });
    expect((await w.write(3)).status).toBe(200);
    expect(w.pg.creates()).toHaveLength(2);
  });
});

describe('web head: finding the leaders', () => {
  it('uses the cached answer for the TTL, then follows a moved record and closes the old client', async () => {
    const w = world();
    await w.leaders('pg-a', 'redis-a', 500);
    await w.write(1);
    expect(w.lookups).toEqual(['pg-writer', 'redis-head']);
    await w.records.set('pg-writer', 'pg-b', 500);
    await w.records.set('redis-head', 'redis-b', 500);
    w.clock.now = 300;
    await w.write(2);
    expect(w.lookups).toHaveLength(2); // still cached
    expect(w.pg.inserts('pg-a')).toHaveLength(2);
    expect(w.redis.pushes('redis-a')).toHaveLength(2);
    w.clock.now = 500;
    expect((await w.write(3)).status).toBe(200);
    expect(w.lookups).toHaveLength(4);
    expect(w.pg.inserts('pg-b')).toHaveLength(1);
    expect(w.redis.pushes('redis-b')).toHaveLength(1);
    await settle();
    expect(w.pg.pools.map((p) => [p.node, p.ended])).toEqual([
      ['pg-a', true],
      ['pg-b', false],
    ]);
    expect(w.redis.clients.map((c) => [c.node, c.closed])).toEqual([
      ['redis-a', true],
      ['redis-b', false],
    ]);
    expect(w.events.filter((e) => e.type === 'backend-leader')).toEqual([
      { type: 'backend-leader', backend: 'pg', from: 'pg-a', to: 'pg-b' },
      { type: 'backend-leader', backend: 'redis', from: 'redis-a', to: 'redis-b' },
    ]);
  });

  it('looks a record up once for all the requests that find its answer run out', async () => {
    const w = world(['pg']);
    await w.leaders('pg-a', 'redis-a', 500);
    await w.write(1);
    w.clock.now = 600;
    expect((await Promise.all([w.write(2), w.write(3), w.write(4)])).map((r) => r.status)).toEqual([
      200, 200, 200,
    ]);
    expect(w.lookups).toEqual(['pg-writer', 'pg-writer']);
  });

  it('looks a record up ahead, in the last quarter of its TTL, and never uses an answer past it', async () => {
    const w = world(['pg']);
    await w.leaders('pg-a', 'redis-a', 500);
    await w.write(1);
    await w.records.set('pg-writer', 'pg-b', 500);
    w.clock.now = 380; // 120 ms of 500 left: the answer is used, the next one asked for
    expect((await w.write(2)).status).toBe(200);
    expect(w.pg.inserts('pg-a')).toHaveLength(2);
    expect(w.lookups).toEqual(['pg-writer', 'pg-writer']);
    await settle();
    w.clock.now = 600; // the first answer ran out; the prefetched one (from 380) holds until 880
    expect((await w.write(3)).status).toBe(200);
    expect(w.pg.inserts('pg-b')).toHaveLength(1);
    expect(w.lookups).toHaveLength(2);
    // A prefetch that fails changes nothing; once the answer runs out the request asks itself.
    w.setRegistryDown(true);
    w.clock.now = 800;
    expect((await w.write(4)).status).toBe(200);
    await settle();
    expect(w.lookups).toHaveLength(3);
    w.clock.now = 880;
    expect((await w.write(5)).status).toBe(503);
    expect(w.lookups).toHaveLength(4);
  });

  it('keeps one pooled client per leader across requests', async () => {
    const w = world();
    await w.leaders();
    await Promise.all([w.write(1), w.write(2), w.write(3)]);
    await w.write(4);
    expect(w.pg.pools).toHaveLength(1);
    expect(w.pg.pools[0]!.checkouts).toBe(4);
    expect(w.redis.clients).toHaveLength(1);
  });

  it('drops the client after an error; the next request resolves again and connects afresh', async () => {
    const w = world(['redis']);
    await w.leaders('pg-a', 'redis-a', 500);
    w.redis.server('redis-a').mode = 'timeout';
    expect((await w.write(1)).status).toBe(504);
    await settle();
    expect(w.redis.clients.map((c) => c.closed)).toEqual([true]);
    // Within the TTL, the cached answer: the same node, a new connection.
    w.redis.server('redis-a').mode = 'ok';
    w.clock.now = 100;
    expect((await w.write(2)).status).toBe(200);
    expect(w.redis.clients.map((c) => [c.node, c.closed])).toEqual([
      ['redis-a', true],
      ['redis-a', false],
    ]);
    // A failure, and the record moved: after the TTL, the new head.
    w.redis.server('redis-a').mode = 'readonly';
    await w.records.set('redis-head', 'redis-b', 500);
    expect((await w.write(3)).status).toBe(503);
    w.clock.now = 600;
    expect((await w.write(4)).status).toBe(200);
    expect(w.redis.server('redis-b').list).toEqual(['4']);
  });

  it('a client whose connection closed is not used again', async () => {
    const w = world(['redis']);
    await w.leaders();
    expect((await w.write(1)).status).toBe(200);
    w.redis.clients[0]!.client.status = 'end'; // the server closed it between requests
    expect((await w.write(2)).status).toBe(200);
    expect(w.redis.clients).toHaveLength(2);
    expect(w.redis.server('redis-a').list).toEqual(['1', '2']);
  });

  it('a refused connection is not kept: the next request connects again', async () => {
    const w = world(['pg']);
    await w.leaders();
    w.pg.server('pg-a').mode = 'refuse';
    expect((await w.write(1)).status).toBe(503);
    w.pg.server('pg-a').mode = 'ok';
    expect((await w.write(2)).status).toBe(200);
    await settle();
    expect(w.pg.pools.map((p) => p.ended)).toEqual([true, false]);
  });

  it('a request that timed out waiting for a busy pool is a 503 that keeps the pool', async () => {
    const w = world(['pg']);
    await w.leaders();
    expect((await w.write(1)).status).toBe(200);
    w.pg.server('pg-a').mode = 'full';
    expect((await w.write(2)).status).toBe(503);
    w.pg.server('pg-a').mode = 'ok';
    expect((await w.write(3)).status).toBe(200);
    await settle();
    expect(w.pg.pools.map((p) => p.ended)).toEqual([false]);
    expect(w.pg.inserts()).toHaveLength(2);
  });

  it('warm() opens the clients and makes the table before any request, within its bound', async () => {
    const w = world();
    await w.leaders();
    await w.head.warm(1000);
    expect(w.pg.pools).toHaveLength(1);
    expect(w.pg.creates('pg-a')).toHaveLength(1);
    expect(w.redis.clients).toHaveLength(1);
    expect((await w.write(1)).status).toBe(200);
    expect(w.pg.pools).toHaveLength(1);
    expect(w.redis.clients).toHaveLength(1);
    expect(w.events).toEqual([]);
  });

  it('warm() with a retry warms a backend once its record appears, before any request, and stops when closed', async () => {
    const w = world(['pg']);
    await w.head.warm(20, 5); // no record yet: the first attempt fails at once
    expect(w.pg.pools).toHaveLength(0);
    await w.leaders();
    await new Promise((r) => setTimeout(r, 60));
    expect(w.pg.pools).toHaveLength(1);
    expect(w.pg.creates('pg-a')).toHaveLength(1);
    const lookups = w.lookups.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(w.lookups).toHaveLength(lookups); // warmed once: no more attempts
    expect((await w.write(1)).status).toBe(200);
    expect(w.pg.pools).toHaveLength(1);

    const w2 = world(['pg']);
    await w2.head.warm(20, 5);
    w2.head.close();
    const before = w2.lookups.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(w2.lookups).toHaveLength(before);
  });

  it('warm() with a backend unreachable changes nothing the first request sees', async () => {
    const w = world();
    await w.leaders();
    w.pg.server('pg-a').mode = 'refuse';
    await w.head.warm(1000);
    expect(w.events).toEqual([]);
    w.pg.server('pg-a').mode = 'ok';
    expect((await w.write(1)).status).toBe(200);
    expect(w.pg.inserts('pg-a')).toHaveLength(1);
  });
});

describe('web head: reads', () => {
  it('GET /writes reads each backend from the leader the registry names now, not the cache', async () => {
    const w = world();
    await w.leaders('pg-a', 'redis-a', 60_000);
    await w.write(1);
    await w.write(2);
    expect(await w.call('GET', '/writes')).toEqual({ status: 200, body: { pg: [1, 2], redis: [1, 2] } });
    // The records move; the cache still names the old nodes for a minute.
    w.pg.server('pg-b').table = true;
    w.pg.server('pg-b').rows.push(1);
    w.redis.server('redis-b').list.push('1', '2', '3');
    await w.records.set('pg-writer', 'pg-b', 60_000);
    await w.records.set('redis-head', 'redis-b', 60_000);
    expect(await w.call('GET', '/writes')).toEqual({ status: 200, body: { pg: [1], redis: [1, 2, 3] } });
    // Writes still follow the cache, on the pooled clients: reads did not swap them.
    expect((await w.write(4)).status).toBe(200);
    expect(w.pg.inserts('pg-a')).toHaveLength(3);
    await settle();
    expect(w.pg.pools.map((p) => [p.node, p.ended])).toEqual([
      ['pg-a', false],
      ['pg-b', true],
    ]);
  });

  it('GET /writes before any write: empty lists (no table yet)', async () => {
    const w = world();
    await w.leaders();
    expect(await w.call('GET', '/writes')).toEqual({ status: 200, body: { pg: [], redis: [] } });
  });

  it('GET /writes: 503 without a record, 504 on a timeout', async () => {
    const w = world();
    expect(await w.call('GET', '/writes')).toMatchObject({ status: 503 });
    await w.leaders();
    w.pg.server('pg-a').table = true;
    w.pg.server('pg-a').mode = 'timeout';
    expect(await w.call('GET', '/writes')).toMatchObject({ status: 504 });
  });

  it('GET /read?seq=N says whether each backend holds N', async () => {
    const w = world();
    await w.leaders();
    await w.write(5);
    expect(await w.call('GET', '/read?seq=5')).toEqual({
      status: 200,
      body: { seq: 5, pg: true, redis: true },
    });
    expect(await w.call('GET', '/read?seq=6')).toEqual({
      status: 200,
      body: { seq: 6, pg: false, redis: false },
    });
  });
});

describe('web head: events', () => {
  it('a backend error is an event, at most one a second per kind, counting those left out', async () => {
    const w = world(['redis']);
    await w.leaders('pg-a', 'redis-a', 60_000);
    w.redis.server('redis-a').mode = 'readonly';
    for (let i = 1; i <= 3; i++) await w.write(i);
    w.clock.now = 999;
    await w.write(4);
    expect(w.events).toEqual([
      {
        type: 'backend-error',
        backend: 'redis',
        op: 'write',
        outcome: 'fail',
        status: 503,
        target: 'redis-a',
        error: "READONLY You can't write against a read only replica.",
      },
    ]);
    w.clock.now = 1000;
    await w.write(5);
    expect(w.events).toHaveLength(2);
    expect(w.events[1]).toMatchObject({ type: 'backend-error', suppressed: 3 });
  });

  it('the limit is per kind', () => {
    const out: string[] = [];
    const limiter = new EventLimiter(
      (type) => out.push(type),
      () => 0,
    );
    expect(limiter.emit('a', 'x')).toBe(true);
    expect(limiter.emit('a', 'x')).toBe(false);
    expect(limiter.emit('b', 'y')).toBe(true);
    expect(out).toEqual(['x', 'y']);
  });
});

describe('web head: over HTTP', () => {
  it('serves the routes on node:http', async () => {
    const w = world(['redis']);
    await w.leaders();
    const server = serveHead(w.head);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
      expect([health.status, await health.text()]).toEqual([200, 'ok']);
      const write = await fetch(`${base}/write?seq=9`, { method: 'POST', signal: AbortSignal.timeout(5000) });
      expect(write.status).toBe(200);
      expect(write.headers.get('content-type')).toBe('application/json');
      expect(await write.json()).toEqual({ seq: 9, redis: 'ok' });
      const bad = await fetch(`${base}/write?seq=x`, { method: 'POST', signal: AbortSignal.timeout(5000) });
      expect(bad.status).toBe(400);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The bundle: what the node image runs.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('web head: the agents bundle (esbuild, node, CHAOS_ENTRY=web-head)', () => {
  let registry: ReturnType<typeof startRegistryServer>;
  let registryUrl: string;
  let child: ChildProcess | undefined;
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let base: string;

  beforeAll(async () => {
    registry = startRegistryServer(0, () => {});
    await once(registry, 'listening');
    registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
    const file = await bundleAgents({
      'web-head': fileURLToPath(new URL('./head-main.ts', import.meta.url)),
    });
    const closed = await freePort();
    child = spawn(process.execPath, [file], {
      env: {
        PATH: process.env.PATH ?? '',
        CHAOS_ENTRY: 'web-head',
        NODE_NAME: 'web-t',
        PORT: '0',
        REGISTRY_URL: registryUrl,
        BACKENDS: 'redis,pg',
        PG_PORT: String(closed),
        REDIS_PORT: String(closed),
        BACKEND_TIMEOUT_MS: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const l of parts) if (l.trim()) lines.push(JSON.parse(l));
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const ready = await waitFor(
      'head-ready',
      () => {
        if (child?.exitCode !== null) throw new Error(`the head exited ${child?.exitCode}: ${stderr}`);
        return lines.find((l) => l.type === 'head-ready');
      },
      15_000,
    );
    base = `http://127.0.0.1:${ready.port}`;
  }, 30_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    await new Promise((r) => registry?.close(r));
  }, 10_000);

  it('announces itself once it listens: {t, type: head-ready, node, port}', () => {
    const ready = lines.find((l) => l.type === 'head-ready')!;
    expect(Object.keys(ready)).toEqual(['t', 'type', 'node', 'port']);
    expect(ready.node).toBe('web-t');
    expect(ready.port).toBeGreaterThan(0);
    expect(Math.abs(Date.now() - Number(ready.t))).toBeLessThan(60_000);
  });

  it('answers /health with 200 ok', { timeout: 10_000 }, async () => {
    const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
    expect([res.status, await res.text()]).toEqual([200, 'ok']);
  });

  it('answers a write with 503 while no record exists, and says so once', { timeout: 10_000 }, async () => {
    const res = await fetch(`${base}/write?seq=1`, { method: 'POST', signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      seq: 1,
      pg: 'fail',
      error: 'pg: no pg-writer record in the registry',
    });
    const event = await waitFor(
      'a backend-error event',
      () => lines.find((l) => l.type === 'backend-error'),
      5000,
    );
    expect(event).toMatchObject({ node: 'web-t', backend: 'pg', outcome: 'fail', status: 503 });
  });

  it('answers 400 to a bad seq', { timeout: 10_000 }, async () => {
    const res = await fetch(`${base}/write?seq=0`, { method: 'POST', signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(400);
  });

  it('with the real pg driver: a writer whose port refuses is 503', { timeout: 10_000 }, async () => {
    await new HttpRegistry(registryUrl).set('pg-writer', '127.0.0.1', 0);
    const res = await fetch(`${base}/write?seq=2`, { method: 'POST', signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /^pg: no Postgres connection: .*ECONNREFUSED/,
    );
    expect(child?.exitCode).toBeNull();
  });
});
