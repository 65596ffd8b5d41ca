/**
 * The web head: the small reference app behind the load balancer (issue 9). Each request does
 * real work on the stack's data systems: a write goes through the Postgres writer record and the
 * Redis head record, resolved as the probes resolve them, so that a web-tier game day exercises
 * the whole stack. Everything here is dependency-injected (the registry, the database clients,
 * the clock, the event sink); head-main.ts wires the real ones and listens.
 *
 * Routes:
 *
 * - `GET /health` -> 200 `ok`, with no backend call. The load balancer's check asks whether this
 *   app listens and answers, not whether the databases do: every head shares the same backends,
 *   so a check that called them would take every head out of service at once during a database
 *   failover, turning the database's outage into the load balancer's 503s (and its rise delay)
 *   and hiding what the app itself answers.
 * - `POST /write?seq=N` -> N to every configured backend, in the order Postgres then Redis
 *   (`INSERT INTO web_writes(seq) VALUES (N)` in autocommit on the node `pg-writer` names, the
 *   table created lazily once per primary; `RPUSH web:writes N` on the node `redis-head` names,
 *   then `WAIT n` where `REDIS_WAIT_REPLICAS` asks for n replicas: a short WAIT is a 504).
 *   A write is never retried inside the app: one request, at most one attempt per backend, and
 *   none on a later backend once one failed.
 * - `GET /writes` -> `{"pg": [seq...], "redis": [seq...]}` (the configured backends only), read
 *   from each backend's leader as the registry names it now (no cache): the end-to-end read-back
 *   after recovery.
 * - `GET /read?seq=N` -> `{"seq": N, "pg": true|false, "redis": true|false}`: whether each
 *   backend holds N (the k6 probe's reads, `readRatio`).
 *
 * Status codes: what the client may conclude.
 *
 * | status | when | the client may conclude |
 * |---|---|---|
 * | 200 | every configured backend acknowledged the write (or answered the read) | applied everywhere |
 * | 400 | `seq` missing, given twice, or not a positive integer (at most 2^53 - 1) | nothing was attempted |
 * | 404, 405 | an unknown path, or a method the path does not take | nothing was attempted |
 * | 503 | certainly nothing was applied: the first backend failed before the write reached it (the registry unreachable, no record, connect refused or timed out, no pooled connection in time, the table could not be created) or answered it with an error reply (`READONLY`, `cannot execute INSERT in a read-only transaction`, a duplicate key) | applied nowhere: sending it again is safe |
 * | 504 | it may have been applied: a backend got the write and then timed out, lost its connection or ended the session (57xxx, 08xxx); or an earlier backend acknowledged and a later one failed in any way | unknown: in some backends, perhaps all, perhaps none |
 * | 500 | a fault of this app | unknown |
 *
 * For reads the same rule holds: 503 when the read failed before or on an error reply, 504 when
 * it was sent and then timed out or was cut off. The k6 probe (probes/k6/stream.ts) counts a 503
 * as `fail` and a 502 or 504 as `unknown`, which is exactly this table's meaning.
 *
 * Connections: one pooled client per backend leader (a `pg.Pool`, one ioredis connection, which
 * pipelines), found through a `PrefetchingResolver` (the probes' `CachingResolver` logic: an
 * answer is used until its TTL runs out, then looked up again; with one lookup of a record at a
 * time, made ahead of the expiry), and a record that moved makes the head close the
 * old leader's client (letting its requests in flight finish) and open one to the new leader.
 * After any error on a backend its client is dropped, and the next request resolves the record
 * again (from the cache until the TTL runs out, as a stub resolver would, exactly as the probes
 * do) and connects afresh.
 */
import { type Server, createServer } from 'node:http';
import type { Registry } from '../../core/registry.ts';
import { classifyPgFailure } from '../pg/probe.ts';
import { WRITER_RECORD } from '../pg/records.ts';
import { classifyFailure } from '../redis/probe.ts';
import { HEAD_RECORD } from '../redis/records.ts';

export const WRITES_TABLE = 'web_writes';
export const WRITES_KEY = 'web:writes';

export type BackendName = 'pg' | 'redis';
/** The order a write goes through the backends, whatever order `BACKENDS` names them in. */
export const BACKEND_ORDER: readonly BackendName[] = ['pg', 'redis'];

/** How a failed backend operation ended: certainly not applied, or perhaps applied. */
export type Failure = 'fail' | 'unknown';

/** An operation that failed before it reached the backend: certainly not applied. */
export class NotSent extends Error {
  constructor(message: string, cause?: unknown) {
    super(cause === undefined ? message : `${message}: ${errorText(cause)}`, { cause });
    this.name = 'NotSent';
  }
}

export function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message || err.name : String(err);
  return msg.split('\n')[0]!.slice(0, 200);
}

/** The error code a server or the OS put on an error (`25006`, `ECONNREFUSED`), if any. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// ---------------------------------------------------------------------------------------------
// Configuration

export interface HeadConfig {
  node: string;
  port: number;
  registryUrl: string;
  /** In write order: Postgres, then Redis. */
  backends: BackendName[];
  pgPort: number;
  redisPort: number;
  /** Connect, command and registry timeout, each. */
  timeoutMs: number;
  /** Replicas an RPUSH must reach (`WAIT`) before the write counts as acknowledged; 0: none. */
  redisWaitReplicas: number;
}

/** The head's configuration from its environment; a bad value stops it with the variable's name. */
export function headConfig(env: Record<string, string | undefined>): HeadConfig {
  const need = (name: string) => {
    const v = env[name];
    if (v === undefined || v === '') throw new Error(`web head: environment variable ${name} is required`);
    return v;
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      throw new Error(`web head: ${name} must be an integer from ${min} to ${max}, not '${raw}'`);
    }
    return n;
  };
  return {
    node: need('NODE_NAME'),
    port: int('PORT', 8080, 0, 65535),
    registryUrl: need('REGISTRY_URL').replace(/\/+$/, ''),
    backends: parseBackends(env.BACKENDS ?? ''),
    pgPort: int('PG_PORT', 5432, 1, 65535),
    redisPort: int('REDIS_PORT', 6379, 1, 65535),
    timeoutMs: int('BACKEND_TIMEOUT_MS', 1000, 1, 600_000),
    redisWaitReplicas: int('REDIS_WAIT_REPLICAS', 0, 0, 11),
  };
}

/** `BACKENDS` (`redis,pg`, either may be absent): the backends named, in write order. */
export function parseBackends(value: string): BackendName[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!(BACKEND_ORDER as readonly string[]).includes(n)) {
      throw new Error(`web head: BACKENDS names '${n}'; each must be one of ${BACKEND_ORDER.join(', ')}`);
    }
  }
  if (new Set(names).size !== names.length)
    throw new Error(`web head: BACKENDS names a backend twice: ${value}`);
  if (names.length === 0) throw new Error('web head: BACKENDS names no backend (pg, redis or both)');
  return BACKEND_ORDER.filter((b) => names.includes(b));
}

// ---------------------------------------------------------------------------------------------
// Events

/** Where the head's events go (head-main.ts: JSON lines on stdout, stamped and named). */
export type Emit = (type: string, data?: Record<string, unknown>) => void;

/**
 * At most one event per kind per interval: a backend that fails every request (hundreds a
 * second) shows once a second, with how many like it were left out since the last one shown.
 */
export class EventLimiter {
  private readonly last = new Map<string, { t: number; suppressed: number }>();

  constructor(
    private readonly sink: Emit,
    private readonly now: () => number,
    private readonly intervalMs = 1000,
  ) {}

  /** Emits unless an event of this kind went out less than an interval ago; true when emitted. */
  emit(kind: string, type: string, data: Record<string, unknown> = {}): boolean {
    const t = this.now();
    const prev = this.last.get(kind);
    if (prev && t - prev.t < this.intervalMs) {
      prev.suppressed++;
      return false;
    }
    this.last.set(kind, { t, suppressed: 0 });
    this.sink(type, prev?.suppressed ? { ...data, suppressed: prev.suppressed } : data);
    return true;
  }
}

const noop = () => {};

// ---------------------------------------------------------------------------------------------
// Looking records up

/** Where a record points now, as the head's requests see it. */
export interface Resolver {
  resolve(name: string): Promise<string | undefined>;
}

/**
 * The registry's answers, each used until its TTL runs out (as `CachingResolver` and a stub
 * resolver do), with two things a head under load needs (issue 16):
 *
 * - one lookup of a record at a time: the requests that find its answer run out while a
 *   lookup is on its way wait for that lookup, instead of each sending its own. Without this,
 *   every request in the moment the answer ran out (each second: `pg-writer`'s TTL is 1 s) sent
 *   a GET of its own; at 500/s on 2 cores the registry, slowed by them, answered after the
 *   heads' 800 ms timeout (every request a 503) and after the Postgres agent's lease renewal
 *   was due, so the primary fenced itself in a run without any fault;
 * - the lookup made ahead: a request that finds less than `prefetchShare` of the TTL left
 *   uses the answer (still within its TTL) and starts the next lookup in the background, as a
 *   prefetching resolver (unbound's `prefetch`) does, so that in steady state no request waits
 *   for the registry (at 333/s per head, a 10 ms lookup each second held 1 % of the requests:
 *   the whole p99). A background lookup that fails changes nothing: the answer runs out at its
 *   time, and the next request looks the record up itself (and fails with the registry, 503).
 *
 * An answer's expiry is counted from before its lookup was sent, as `CachingResolver` does.
 */
export class PrefetchingResolver implements Resolver {
  private readonly cache = new Map<string, { value: string | undefined; expires: number; ttlMs: number }>();
  private readonly inFlight = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly registry: Pick<Registry, 'get'>,
    private readonly now: () => number = () => performance.now(),
    private readonly prefetchShare = 0.25,
  ) {}

  resolve(name: string): Promise<string | undefined> {
    const hit = this.cache.get(name);
    const t = this.now();
    if (hit && hit.expires > t) {
      if (hit.expires - t <= hit.ttlMs * this.prefetchShare && !this.inFlight.has(name)) {
        this.lookup(name).catch(noop);
      }
      return Promise.resolve(hit.value);
    }
    return this.inFlight.get(name) ?? this.lookup(name);
  }

  /** When the cached answer for `name` runs out (ms on this resolver's clock), or undefined. */
  expiresAt(name: string): number | undefined {
    return this.cache.get(name)?.expires;
  }

  private lookup(name: string): Promise<string | undefined> {
    const t = this.now();
    const p = this.registry.get(name).then(
      (rec) => {
        const ttlMs = rec?.ttlMs ?? 0;
        const cur = this.cache.get(name);
        // An answer from a later lookup is never replaced by an earlier one's.
        if (!cur || cur.expires <= t + ttlMs)
          this.cache.set(name, { value: rec?.value, expires: t + ttlMs, ttlMs });
        if (this.inFlight.get(name) === p) this.inFlight.delete(name);
        return rec?.value;
      },
      (err: unknown) => {
        if (this.inFlight.get(name) === p) this.inFlight.delete(name);
        throw err;
      },
    );
    this.inFlight.set(name, p);
    return p;
  }
}

// ---------------------------------------------------------------------------------------------
// One pooled client per backend leader

export interface LeaderDriver<C> {
  /** A client for `node`, ready for use; a failure here means nothing was sent. */
  open(node: string): Promise<C>;
  /** Whether a client may be used again (a connection that closed may not). */
  healthy(client: C): boolean;
  /** Closes a client, letting what is in flight on it finish. */
  close(client: C): void;
  /** Whether an operation's failure leaves the client sound, so it is kept (default: never). */
  keeps?(err: unknown): boolean;
}

/** The node an operation that failed was going to (set by `Leader.use`). */
const failedAt = new WeakMap<object, string>();

/** The node a failed backend operation was going to, if it got as far as resolving one. */
export function failedNode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? failedAt.get(err) : undefined;
}

interface Entry<C> {
  node: string;
  ready: Promise<C>;
  client?: C;
  retired?: boolean;
}

/**
 * The client for the node a record names: resolved through the cache (`CachingResolver`, the
 * probes' logic), one client per leader, replaced when the record names another node once the
 * cached answer ran out, and dropped after any error (the next use resolves and connects again).
 */
export class Leader<C> {
  private entry: Entry<C> | undefined;
  private lastNode: string | undefined;

  constructor(
    readonly record: string,
    private readonly driver: LeaderDriver<C>,
    private readonly deps: {
      registry: Registry;
      resolver: Resolver;
      /** The record named another node than the one this head last used. */
      onMove?: (from: string, to: string) => void;
    },
  ) {}

  /**
   * Runs `op` on the leader's client. `fresh`: ask the registry itself rather than the cache (a
   * read-back after recovery); a leader other than the pooled client's is then read through a
   * client of its own, closed afterwards, so the cache keeps deciding where writes go.
   * Failures before `op` runs are `NotSent`; a failure of `op` drops the client and is rethrown.
   */
  async use<T>(op: (client: C, node: string) => Promise<T>, opts: { fresh?: boolean } = {}): Promise<T> {
    const node = await this.resolve(opts.fresh ?? false);
    try {
      return await this.run(node, op, opts.fresh ?? false);
    } catch (err) {
      if (typeof err === 'object' && err !== null) failedAt.set(err, node);
      throw err;
    }
  }

  private async run<T>(
    node: string,
    op: (client: C, node: string) => Promise<T>,
    fresh: boolean,
  ): Promise<T> {
    if (fresh && this.entry?.node !== node) {
      let client: C;
      try {
        client = await this.driver.open(node);
      } catch (err) {
        throw new NotSent(`connect to ${node}`, err);
      }
      try {
        return await op(client, node);
      } finally {
        this.driver.close(client);
      }
    }
    const entry = this.connection(node);
    let client: C;
    try {
      client = await entry.ready;
    } catch (err) {
      throw new NotSent(`connect to ${node}`, err);
    }
    try {
      return await op(client, node);
    } catch (err) {
      if (!this.driver.keeps?.(err)) this.retire(entry);
      throw err;
    }
  }

  /** Closes the client (the head is stopping). */
  close(): void {
    if (this.entry) this.retire(this.entry);
  }

  private async resolve(fresh: boolean): Promise<string> {
    let node: string | undefined;
    try {
      node = fresh
        ? (await this.deps.registry.get(this.record))?.value
        : await this.deps.resolver.resolve(this.record);
    } catch (err) {
      throw new NotSent(`registry lookup of ${this.record}`, err);
    }
    if (!node) throw new NotSent(`no ${this.record} record in the registry`);
    return node;
  }

  private connection(node: string): Entry<C> {
    const cur = this.entry;
    if (cur && cur.node === node && (cur.client === undefined || this.driver.healthy(cur.client))) return cur;
    if (cur) this.retire(cur);
    if (this.lastNode !== undefined && this.lastNode !== node) this.deps.onMove?.(this.lastNode, node);
    this.lastNode = node;
    const entry: Entry<C> = { node, ready: Promise.resolve().then(() => this.driver.open(node)) };
    entry.ready.then(
      (client) => {
        entry.client = client;
      },
      () => {
        entry.retired = true;
        if (this.entry === entry) this.entry = undefined;
      },
    );
    this.entry = entry;
    return entry;
  }

  private retire(entry: Entry<C>): void {
    if (this.entry === entry) this.entry = undefined;
    if (entry.retired) return;
    entry.retired = true;
    entry.ready.then(
      (client) => this.driver.close(client),
      () => {},
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Backends

/** One data system a write goes through. */
export interface Backend {
  readonly name: BackendName;
  /** Applies `seq` once; throws on any failure (`classify` says what it means). */
  write(seq: number): Promise<void>;
  /** Every value, from the leader the registry names now. */
  list(): Promise<number[]>;
  /** Whether the leader holds `seq`. */
  has(seq: number): Promise<boolean>;
  /** A failure of the above: `fail` when certainly not applied, `unknown` when it may have been. */
  classify(err: unknown): Failure;
  /**
   * Opens the leader's client(s) ahead of the first request and does what the first write would
   * do once (the table); rejects on any failure, which changes nothing a request then sees.
   */
  warm(): Promise<void>;
  close(): void;
}

interface BackendDeps {
  registry: Registry;
  resolver: Resolver;
  onMove?: (from: string, to: string) => void;
}

/** What the Postgres backend needs of a `pg.Pool`. */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  end(): Promise<void>;
}

/** What it needs of a `pg.PoolClient`. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  release(err?: Error | boolean): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
}

/** A pooled connection for one operation; it is destroyed, not pooled again, after a failure. */
async function withPgClient<T>(pool: PgPoolLike, op: (client: PgClientLike) => Promise<T>): Promise<T> {
  let client: PgClientLike;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new NotSent('no Postgres connection', err);
  }
  // A checked-out client that loses its connection emits 'error': never let that crash the head
  // (the query in flight fails with it, and is classified there).
  client.on('error', noop);
  try {
    const out = await op(client);
    client.removeListener('error', noop);
    client.release();
    return out;
  } catch (err) {
    client.removeListener('error', noop);
    client.release(err instanceof Error ? err : true);
    throw err;
  }
}

/** The message pg-pool gives a checkout that timed out waiting for a busy pool's connection. */
const POOL_FULL = 'timeout exceeded when trying to connect';

/** Whether a failure is a checkout that timed out with every connection of the pool busy. */
export function poolWasFull(err: NotSent): boolean {
  const cause = err.cause;
  return cause instanceof Error && cause.message === POOL_FULL;
}

/** `CREATE TABLE IF NOT EXISTS` racing another session's: the table is there either way. */
export function isCreateRace(err: unknown): boolean {
  const code = codeOf(err);
  return code === '42P07' || code === '23505';
}

/** The INSERT of one write, as the simple query protocol sends it; `seq` must be a safe integer. */
export function insertText(seq: number): string {
  if (!Number.isSafeInteger(seq)) throw new Error(`not a safe integer: ${seq}`);
  return `INSERT INTO ${WRITES_TABLE} (seq) VALUES (${seq})`;
}

/** Postgres through the `pg-writer` record: INSERTs in autocommit, the table made lazily. */
export class PgBackend implements Backend {
  readonly name = 'pg';
  private readonly leader: Leader<PgPoolLike>;
  /** Per primary: its table's creation, done (or going on) once. */
  private readonly tables = new Map<string, Promise<void>>();

  private readonly poolSize: number;

  constructor(deps: BackendDeps & { pool: (node: string) => PgPoolLike; poolSize?: number }) {
    this.poolSize = deps.poolSize ?? 1;
    this.leader = new Leader(
      WRITER_RECORD,
      {
        open: async (node) => deps.pool(node),
        // The pool replaces a connection that broke by itself.
        healthy: () => true,
        // A request that waited its whole timeout for one of the pool's connections, all busy:
        // the pool and its connections are sound. Ending it would close every connection and
        // make each next request connect afresh (a Postgres backend forked per connect), which
        // under load made more such timeouts: measured at 400/s on 2 cores, the tier answered
        // 19 requests of 3869 and did not come back (README, Benchmark).
        keeps: (err) => err instanceof NotSent && poolWasFull(err),
        close: (pool) => {
          pool.end().catch(noop);
        },
      },
      deps,
    );
  }

  write(seq: number): Promise<void> {
    return this.leader.use((pool, node) =>
      withPgClient(pool, async (client) => {
        try {
          await this.ensureTable(node, client);
        } catch (err) {
          throw new NotSent(`CREATE TABLE ${WRITES_TABLE} on ${node}`, err);
        }
        try {
          // The value written into the text (a safe integer: parseSeq), not bound as a
          // parameter: one Query message instead of Parse, Bind, Describe, Execute and Sync, which
          // node-postgres writes one by one (two writes, two wake-ups of the backend). Measured
          // on 2 cores, the head's CPU per request is mostly its socket writes (issue 16).
          await client.query(insertText(seq));
        } catch (err) {
          // The table is gone (a primary rebuilt without it): make it again next time.
          if (codeOf(err) === '42P01') this.tables.delete(node);
          throw err;
        }
      }),
    );
  }

  list(): Promise<number[]> {
    return this.leader.use(
      (pool) =>
        withPgClient(pool, async (client) => {
          try {
            const { rows } = await client.query(`SELECT seq FROM ${WRITES_TABLE} ORDER BY seq`);
            return rows.map((r) => Number(r.seq));
          } catch (err) {
            if (codeOf(err) === '42P01') return []; // no write has reached this primary yet
            throw err;
          }
        }),
      { fresh: true },
    );
  }

  has(seq: number): Promise<boolean> {
    return this.leader.use((pool) =>
      withPgClient(pool, async (client) => {
        try {
          return (await client.query(`SELECT 1 FROM ${WRITES_TABLE} WHERE seq = $1`, [seq])).rows.length > 0;
        } catch (err) {
          if (codeOf(err) === '42P01') return false;
          throw err;
        }
      }),
    );
  }

  classify(err: unknown): Failure {
    return err instanceof NotSent ? 'fail' : classifyPgFailure(err, true);
  }

  /**
   * The pool's `poolSize` connections opened at once (each held until the table exists), so that
   * the first requests find the pool full and the table made: without this, the first second
   * of load paid for the pool's connects (a Postgres backend forked per connection) and the
   * CREATE TABLE, up to 1 s per request at 200/s on 2 cores (README, Benchmark).
   */
  async warm(): Promise<void> {
    await this.leader.use((pool, node) =>
      Promise.all(
        Array.from({ length: this.poolSize }, () =>
          withPgClient(pool, (client) => this.ensureTable(node, client)),
        ),
      ),
    );
  }

  close(): void {
    this.leader.close();
  }

  private ensureTable(node: string, client: PgClientLike): Promise<void> {
    let creating = this.tables.get(node);
    if (!creating) {
      creating = client
        .query(`CREATE TABLE IF NOT EXISTS ${WRITES_TABLE} (seq bigint PRIMARY KEY)`)
        .then(noop, (err) => {
          if (!isCreateRace(err)) throw err;
        });
      const mine = creating;
      this.tables.set(node, mine);
      mine.catch(() => {
        if (this.tables.get(node) === mine) this.tables.delete(node);
      });
    }
    return creating;
  }
}

/** What the Redis backend needs of an ioredis client (lazyConnect, no offline queue, no retries). */
export interface RedisLike {
  readonly status: string;
  connect(): Promise<unknown>;
  rpush(key: string, value: string): Promise<number>;
  wait(numreplicas: number, timeout: number): Promise<number>;
  lrange(key: string, start: number, stop: number): Promise<string[]>;
  lpos(key: string, element: string): Promise<number | null>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * The share of what is left of the backend timeout a WAIT is given: Redis checks a WAIT's timeout
 * when its event loop wakes, up to 100 ms late (hz 10), and the reply has to come back before the
 * client's own command timeout cuts it.
 */
const WAIT_SHARE = 0.6;

/** An RPUSH the head applied that fewer replicas than asked confirmed in time: perhaps applied only there. */
export class ReplicasShort extends Error {
  constructor(got: number, wanted: number, waitedMs: number) {
    super(
      waitedMs > 0
        ? `WAIT ${wanted} ${waitedMs}: ${got} of ${wanted} replicas have the write`
        : `no time left to WAIT for ${wanted} replicas within the backend timeout`,
    );
    this.name = 'ReplicasShort';
  }
}

/** Redis through the `redis-head` record: RPUSH to one list (and WAIT for replicas, if asked). */
export class RedisBackend implements Backend {
  readonly name = 'redis';
  private readonly leader: Leader<RedisLike>;

  private readonly waitReplicas: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(
    deps: BackendDeps & {
      client: (node: string) => RedisLike;
      closeGraceMs: number;
      /** `WAIT` for this many replicas after each RPUSH (0: none), within `timeoutMs` of sending it. */
      waitReplicas?: number;
      timeoutMs?: number;
      now?: () => number;
    },
  ) {
    this.waitReplicas = deps.waitReplicas ?? 0;
    this.timeoutMs = deps.timeoutMs ?? deps.closeGraceMs;
    this.now = deps.now ?? (() => performance.now());
    this.leader = new Leader(
      HEAD_RECORD,
      {
        open: async (node) => {
          const redis = deps.client(node);
          try {
            await redis.connect();
          } catch (err) {
            redis.disconnect();
            throw err;
          }
          return redis;
        },
        healthy: (redis) => redis.status === 'ready',
        // QUIT goes after the commands in flight; a connection that hangs is cut after the grace.
        close: (redis) => {
          const timer = setTimeout(() => redis.disconnect(), deps.closeGraceMs);
          timer.unref?.();
          redis.quit().then(
            () => clearTimeout(timer),
            () => {
              clearTimeout(timer);
              redis.disconnect();
            },
          );
        },
      },
      deps,
    );
  }

  /**
   * RPUSH, then, with `waitReplicas`, `WAIT n` for 60 % of what is left of the timeout (a margin
   * for the reply to come back before the client's own command timeout cuts it): a write the
   * replicas did not confirm in time is applied on the head and perhaps nowhere else, `unknown`.
   */
  async write(seq: number): Promise<void> {
    await this.leader.use(async (redis) => {
      const sent = this.now();
      await redis.rpush(WRITES_KEY, String(seq));
      if (this.waitReplicas === 0) return;
      const left = Math.floor((this.timeoutMs - (this.now() - sent)) * WAIT_SHARE);
      if (left < 1) throw new ReplicasShort(0, this.waitReplicas, 0);
      const got = await redis.wait(this.waitReplicas, left);
      if (got < this.waitReplicas) throw new ReplicasShort(got, this.waitReplicas, left);
    });
  }

  list(): Promise<number[]> {
    return this.leader.use(async (redis) => (await redis.lrange(WRITES_KEY, 0, -1)).map(Number), {
      fresh: true,
    });
  }

  has(seq: number): Promise<boolean> {
    return this.leader.use(async (redis) => (await redis.lpos(WRITES_KEY, String(seq))) !== null);
  }

  classify(err: unknown): Failure {
    if (err instanceof ReplicasShort) return 'unknown';
    return err instanceof NotSent ? 'fail' : classifyFailure(err, true);
  }

  /** The connection to the head, opened ahead of the first request. */
  async warm(): Promise<void> {
    await this.leader.use(async () => {});
  }

  close(): void {
    this.leader.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The app

export interface HeadResponse {
  status: number;
  body: string;
  contentType: 'text/plain' | 'application/json';
  headers?: Record<string, string>;
}

/** The status of a write from each backend's outcome in write order (see the table above). */
export function writeStatus(outcomes: readonly ('ok' | Failure)[]): 200 | 503 | 504 {
  const failed = outcomes.findIndex((o) => o !== 'ok');
  if (failed < 0) return 200;
  const appliedBefore = outcomes.slice(0, failed).includes('ok');
  return outcomes[failed] === 'fail' && !appliedBefore ? 503 : 504;
}

/** `seq` from a query string: one positive integer a JS number holds exactly, else undefined. */
export function parseSeq(params: URLSearchParams): number | undefined {
  const all = params.getAll('seq');
  if (all.length !== 1 || !/^[1-9]\d{0,15}$/.test(all[0]!)) return undefined;
  const n = Number(all[0]);
  return Number.isSafeInteger(n) ? n : undefined;
}

const text = (status: number, body: string, headers?: Record<string, string>): HeadResponse => ({
  status,
  body,
  contentType: 'text/plain',
  ...(headers ? { headers } : {}),
});
const json = (status: number, body: unknown): HeadResponse => ({
  status,
  body: JSON.stringify(body),
  contentType: 'application/json',
});

export class WebHead {
  private closed = false;
  private readonly retries = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly backends: readonly Backend[],
    private readonly events: EventLimiter,
  ) {}

  async handle(method: string, rawUrl: string): Promise<HeadResponse> {
    let url: URL;
    try {
      url = new URL(rawUrl, 'http://head');
    } catch {
      return text(400, 'bad request line\n');
    }
    const allow = (...methods: string[]) =>
      methods.includes(method)
        ? undefined
        : text(405, `${url.pathname} takes ${methods.join(', ')}\n`, { allow: methods.join(', ') });
    const needSeq = (run: (seq: number) => Promise<HeadResponse>) => {
      const seq = parseSeq(url.searchParams);
      return seq === undefined ? text(400, 'seq must be one positive integer\n') : run(seq);
    };
    switch (url.pathname) {
      case '/health':
        return allow('GET', 'HEAD') ?? text(200, 'ok');
      case '/write':
        return allow('POST') ?? needSeq((seq) => this.write(seq));
      case '/writes':
        return allow('GET') ?? this.read('list', (b) => b.list());
      case '/read':
        return allow('GET') ?? needSeq((seq) => this.read('has', (b) => b.has(seq), { seq }));
      default:
        return text(404, 'no such path\n');
    }
  }

  /** One attempt per backend in order; the first failure ends the write (never a retry). */
  async write(seq: number): Promise<HeadResponse> {
    const outcomes: Partial<Record<BackendName, 'ok' | Failure>> = {};
    for (const b of this.backends) {
      try {
        await b.write(seq);
        outcomes[b.name] = 'ok';
      } catch (err) {
        const outcome = b.classify(err);
        outcomes[b.name] = outcome;
        const status = writeStatus(Object.values(outcomes));
        this.backendError(b, 'write', outcome, status, err);
        return json(status, { seq, ...outcomes, error: `${b.name}: ${errorText(err)}` });
      }
    }
    return json(200, { seq, ...outcomes });
  }

  close(): void {
    this.closed = true;
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
    for (const b of this.backends) b.close();
  }

  /**
   * Every backend's client opened (and the Postgres table made) before the first request, for
   * at most `boundMs`; a backend not reachable yet is left to the first request, as before.
   * With `retryMs`, a backend whose warm-up failed (its record not there yet: the heads start
   * before the data systems) is warmed again every `retryMs` in the background until it
   * succeeds once or the head closes, so that the pool is full before the load comes rather
   * than opened by the first requests, 20 forks of a Postgres backend per head at once (issue
   * 16: at 1000/s the first second's requests waited for them; at 50/s, 5 of them timed out).
   */
  async warm(boundMs: number, retryMs?: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const first = this.backends.map((b) => b.warm());
    const settled = await Promise.race([
      Promise.allSettled(first),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), boundMs);
      }),
    ]);
    clearTimeout(timer);
    if (retryMs === undefined) return;
    this.backends.forEach((b, i) => {
      const outcome = settled?.[i];
      if (outcome?.status === 'fulfilled') return;
      // Still going after the bound: retried only if that attempt fails.
      (outcome ? Promise.reject(outcome.reason) : first[i]!).catch(() => this.rewarm(b, retryMs));
    });
  }

  private rewarm(b: Backend, retryMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      if (this.closed) return;
      b.warm().catch(() => this.rewarm(b, retryMs));
    }, retryMs);
    timer.unref?.();
    this.retries.add(timer);
  }

  private async read<T>(
    op: string,
    run: (b: Backend) => Promise<T>,
    extra: Record<string, unknown> = {},
  ): Promise<HeadResponse> {
    const body: Record<string, unknown> = { ...extra };
    for (const b of this.backends) {
      try {
        body[b.name] = await run(b);
      } catch (err) {
        const outcome = b.classify(err);
        const status = outcome === 'fail' ? 503 : 504;
        this.backendError(b, op, outcome, status, err);
        return json(status, { ...extra, error: `${b.name}: ${errorText(err)}` });
      }
    }
    return json(200, body);
  }

  private backendError(b: Backend, op: string, outcome: Failure, status: number, err: unknown): void {
    const node = failedNode(err);
    this.events.emit(`backend-error:${b.name}:${op}:${outcome}`, 'backend-error', {
      backend: b.name,
      op,
      outcome,
      status,
      ...(node ? { target: node } : {}),
      error: errorText(err),
    });
  }
}

export interface HeadDeps {
  registry: Registry;
  /** Monotonic ms: the cache's TTLs and the events' limit. */
  now: () => number;
  emit: Emit;
  pgPool: (node: string) => PgPoolLike;
  /** The pool's size: how many connections `warm()` opens. */
  pgPoolSize?: number;
  redis: (node: string) => RedisLike;
}

/** The head for a configuration: its backends in write order, one resolver cache shared. */
export function createHead(
  config: Pick<HeadConfig, 'backends' | 'timeoutMs'> & Partial<Pick<HeadConfig, 'redisWaitReplicas'>>,
  deps: HeadDeps,
): WebHead {
  const events = new EventLimiter(deps.emit, deps.now);
  const resolver = new PrefetchingResolver(deps.registry, deps.now);
  const base = (name: BackendName) => ({
    registry: deps.registry,
    resolver,
    onMove: (from: string, to: string) =>
      events.emit(`backend-leader:${name}`, 'backend-leader', { backend: name, from, to }),
  });
  const backends = config.backends.map(
    (name): Backend =>
      name === 'pg'
        ? new PgBackend({
            ...base('pg'),
            pool: deps.pgPool,
            ...(deps.pgPoolSize ? { poolSize: deps.pgPoolSize } : {}),
          })
        : new RedisBackend({
            ...base('redis'),
            client: deps.redis,
            closeGraceMs: config.timeoutMs,
            waitReplicas: config.redisWaitReplicas ?? 0,
            timeoutMs: config.timeoutMs,
            now: deps.now,
          }),
  );
  return new WebHead(backends, events);
}

/**
 * The head on node:http. Keep-alive outlasts the load balancer's idle connections (AWS's advice
 * for an ALB's targets: the app's keep-alive longer than the ALB's 60 s idle timeout), so the
 * load balancer never sends a request on a connection the app is closing (a spurious 502).
 */
export function serveHead(head: WebHead, onError: (err: unknown) => void = noop): Server {
  const server = createServer((req, res) => {
    req.resume(); // no route reads a body
    head.handle(req.method ?? 'GET', req.url ?? '/').then(
      (r) => {
        res.writeHead(r.status, { 'content-type': r.contentType, ...r.headers });
        res.end(req.method === 'HEAD' ? undefined : r.body);
      },
      (err) => {
        onError(err);
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${errorText(err)}\n`);
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
