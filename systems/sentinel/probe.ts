import { Redis, type RedisOptions, ReplyError } from 'ioredis';
import type { Clock } from '../../core/clock.ts';
import { ScenarioError } from '../../core/errors.ts';
import type { History, Op, Outcome } from '../../core/history.ts';
import type { Endpoint } from '../../core/provider.ts';
import type { ClientSettings } from '../../core/result.ts';
import type { Probe } from '../../core/system.ts';
import { readBackList } from '../../probes/read-back.ts';
import { recordOp } from '../../probes/record.ts';
import { Slots } from '../../probes/slots.ts';
import { NotReplicatedError, waitForReplicas } from '../redis/probe.ts';
import { type RedisLogin, loginOptions } from '../redis/quick-client.ts';
import { MASTER_NAME, SENTINEL_PORT } from './config.ts';
import { SYSTEM } from './layout.ts';
import type { SentinelWriterProbeSpec } from './spec.ts';

/**
 * A real Redis client workload against Redis with Sentinel: `concurrency` slots, each its own
 * connection with one request in flight, writing unique sequential values (`RPUSH key seq`) at a
 * shared fixed rate to the master, found one of two ways (`via`):
 *
 * - `proxy`: a plain ioredis client of HAProxy's address, which forwards each connection to the
 *   node that passed its `role:master` check when the connection was opened. The probe asks the
 *   node behind each new connection who it is (`CLIENT INFO`: `laddr` is the server's own
 *   address), so every write names the node that acknowledged it. A connection that failed is
 *   dropped and the next write opens a new one.
 * - `sentinels`: ioredis's own Sentinel support, configured as a careful user would: the
 *   Sentinels' addresses and `name: mymaster`; it asks them for the master, checks the node's
 *   role before using it, reconnects when a Sentinel publishes `+switch-master`
 *   (`failoverDetector`) or when a node answers READONLY (a demoted master), and retries a lost
 *   connection through the Sentinels every `retryBackoffMs` (50 ms at least). Addresses the
 *   Sentinels hand out are the nodes' on the stack's network; `natMap` maps them to the ones
 *   outside, and names the node each connection goes to.
 *
 * Outcomes (classifyFailure): a write never sent (no connection, ioredis not ready, no Sentinel
 * reachable) or answered with an error reply (READONLY, NOREPLICAS) is `fail`; one sent and then
 * timed out or cut off is `unknown`, and so is one whose `WAIT` (with `waitReplicas`) came back
 * short or failed.
 */
export interface SentinelWriterDeps {
  clock: Clock;
  history: History;
  key: string;
  /** HAProxy's frontend as a client outside the stack reaches it. */
  proxy(): Endpoint;
  /** The Sentinels as a client outside the stack reaches them. */
  sentinels(): Endpoint[];
  /** An address on the stack's network (`ip:port`), as a client outside reaches it, and its node. */
  nat(ip: string, port: number): { endpoint: Endpoint; node: string } | undefined;
  /** The node an address on the stack's network is. */
  nodeAt(ip: string): string | undefined;
  /** The master now (a quorum of Sentinels), as a client outside reaches it: for the read-back. */
  master(): Promise<{ node: string; endpoint: Endpoint } | undefined>;
  /** The master set's name the Sentinels know (default `mymaster`): a stack attached to may name it otherwise. */
  masterName?: string;
  /** How connections to the data nodes log in (AUTH), and those to the Sentinels: a stack attached to. */
  auth?: RedisLogin;
  sentinelAuth?: RedisLogin;
}

/**
 * Whether a failed write certainly did not take effect (`fail`) or may have (`unknown`). Not sent:
 * `fail`. An error reply, or ioredis refusing to put it on a connection that was not ready: `fail`.
 * Anything else after sending (a timeout, a connection closed or reset): `unknown`.
 */
export function classifyFailure(err: unknown, sent: boolean): Exclude<Outcome, 'ok'> {
  // Acknowledged by the master, then its WAIT short or failed: applied there (see the class).
  if (err instanceof NotReplicatedError) return 'unknown';
  if (!sent) return 'fail';
  if (err instanceof ReplyError) return 'fail';
  const msg = String((err as Error)?.message ?? err);
  if (/Stream isn't writeable|enableOfflineQueue|All sentinels are unreachable/.test(msg)) return 'fail';
  return 'unknown';
}

/** The address a server sees a connection on (`laddr` of `CLIENT INFO`), as `ip`. */
export function serverAddress(clientInfo: string): string | undefined {
  const m = /(?:^|\s)laddr=(\S+)/.exec(clientInfo);
  if (!m) return undefined;
  const at = m[1]!.lastIndexOf(':');
  return at < 0 ? m[1] : m[1]!.slice(0, at).replace(/^\[|\]$/g, '');
}

/** The settings a probe of this spec writes with (also for rebuilding a dead run's result). */
export function sentinelWriterSettings(
  spec: SentinelWriterProbeSpec,
  key: string,
  masterName = MASTER_NAME,
): ClientSettings {
  const common = {
    connectTimeoutMs: spec.connectTimeoutMs,
    commandTimeoutMs: spec.commandTimeoutMs,
    retries: 0,
    offlineQueue: false,
    retryBackoffMs: spec.retryBackoffMs,
    rateHz: spec.rateHz,
    inFlight: spec.concurrency,
    operation:
      spec.waitReplicas > 0
        ? `RPUSH ${key} <seq>, then WAIT ${spec.waitReplicas} (acknowledged once ${spec.waitReplicas} replica${spec.waitReplicas > 1 ? 's have' : ' has'} it)`
        : `RPUSH ${key} <seq>`,
    via: spec.via,
  };
  if (spec.via === 'proxy') return { library: 'ioredis 5 (via HAProxy)', ...common, autoReconnect: false };
  return {
    library: `ioredis 5 (Sentinel: name ${masterName}, failoverDetector, reconnect on READONLY)`,
    ...common,
    autoReconnect: true,
    reconnectDelayMs: reconnectDelay(spec),
  };
}

const reconnectDelay = (spec: SentinelWriterProbeSpec) => Math.max(spec.retryBackoffMs, 50);

/** The key a probe writes to in a run. */
export const probeKey = (runId: string, probe: string) => `chaos:${runId}:${probe}`;

interface SlotClient {
  redis: Redis;
  /** The node behind the connection now, once known. */
  node: string | undefined;
}

export class SentinelWriterProbe implements Probe {
  readonly name: string;
  readonly kind = 'sentinel-writer';
  readonly system = SYSTEM;
  private readonly clients = new Map<number, SlotClient>();
  private readonly slots: Slots;

  constructor(
    private readonly spec: SentinelWriterProbeSpec,
    private readonly deps: SentinelWriterDeps,
  ) {
    this.name = spec.name;
    this.slots = new Slots(deps.clock, {
      rateHz: spec.rateHz,
      concurrency: spec.concurrency,
      retryBackoffMs: spec.retryBackoffMs,
      attempt: (slot, seq) =>
        spec.via === 'proxy' ? this.writeViaProxy(slot, seq) : this.writeViaSentinels(slot, seq),
      closeSlot: (slot) => this.dropClient(slot),
    });
  }

  settings(): ClientSettings {
    return sentinelWriterSettings(this.spec, this.deps.key, this.deps.masterName);
  }

  /**
   * Through the Sentinels, each slot's client is made and connected before the steady state:
   * ioredis asks the Sentinels first, and a write before it is ready would be refused.
   */
  async prepare(): Promise<void> {
    if (this.spec.via !== 'sentinels') return;
    if (this.deps.sentinels().length === 0)
      throw new ScenarioError(
        'NO_SENTINELS',
        `probe ${this.name} writes via: sentinels, but this stack runs no Sentinel (stack.sentinel.monitor: seed)`,
        { hint: 'write via: proxy, or run the stack with monitor: sentinel' },
      );
    await Promise.all(
      Array.from({ length: this.spec.concurrency }, async (_, slot) => {
        const c = this.sentinelClient(slot);
        if (c.redis.status === 'ready') return;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`probe ${this.name}: no master through the Sentinels within 10 s`)),
            10_000,
          );
          c.redis.once('ready', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }),
    );
  }

  start(): void {
    this.slots.start();
  }

  pause(): Promise<void> {
    return this.slots.pause();
  }

  resume(): void {
    this.slots.resume();
  }

  stop(): Promise<void> {
    return this.slots.stop();
  }

  private async writeViaProxy(slot: number, seq: number): Promise<boolean> {
    const tInvoke = this.deps.clock.now();
    let node: string | undefined;
    let sent = false;
    try {
      const c = await this.proxyClient(slot);
      node = c.node;
      sent = true;
      const tSent = this.deps.clock.now();
      await c.redis.rpush(this.deps.key, String(seq));
      await this.replicated(c.redis, tSent);
      this.record({ op: 'write', seq, process: slot, tInvoke, outcome: 'ok', node });
      return true;
    } catch (err) {
      this.record({
        op: 'write',
        seq,
        process: slot,
        tInvoke,
        outcome: classifyFailure(err, sent),
        node,
        err,
      });
      this.dropClient(slot);
      return false;
    }
  }

  /**
   * A connection through HAProxy, and the node behind it: a connection that closed since the last
   * write is never reused (its write would be refused unsent), a new one asks `CLIENT INFO` first.
   */
  private async proxyClient(slot: number): Promise<SlotClient> {
    const current = this.clients.get(slot);
    if (current && current.redis.status === 'ready') return current;
    this.dropClient(slot);
    const ep = this.deps.proxy();
    const redis = new Redis({
      ...plainOptions(this.spec),
      ...loginOptions(this.deps.auth),
      host: ep.host,
      port: ep.port,
      lazyConnect: true,
    });
    redis.on('error', () => {});
    const c: SlotClient = { redis, node: undefined };
    this.clients.set(slot, c);
    await redis.connect();
    const info = String(await redis.client('INFO'));
    const addr = serverAddress(info);
    c.node = addr === undefined ? undefined : this.deps.nodeAt(addr);
    return c;
  }

  private async writeViaSentinels(slot: number, seq: number): Promise<boolean> {
    const tInvoke = this.deps.clock.now();
    const c = this.sentinelClient(slot);
    // Sent only on a ready connection: otherwise ioredis refuses it at once (no offline queue).
    const sent = c.redis.status === 'ready';
    const node = sent ? c.node : undefined;
    try {
      const tSent = this.deps.clock.now();
      await c.redis.rpush(this.deps.key, String(seq));
      await this.replicated(c.redis, tSent);
      this.record({ op: 'write', seq, process: slot, tInvoke, outcome: 'ok', node });
      return true;
    } catch (err) {
      this.record({
        op: 'write',
        seq,
        process: slot,
        tInvoke,
        outcome: classifyFailure(err, sent),
        node,
        err,
      });
      return false;
    }
  }

  /** With `waitReplicas`, `WAIT n` after the RPUSH (waitForReplicas: NotReplicatedError unless enough have it). */
  private replicated(redis: Redis, tSent: number): Promise<void> {
    return waitForReplicas(
      redis,
      this.spec.waitReplicas,
      this.spec.commandTimeoutMs,
      this.deps.clock.now() - tSent,
    );
  }

  /** The slot's Sentinel-aware client: made once, and reconnecting by itself from then on. */
  private sentinelClient(slot: number): SlotClient {
    const current = this.clients.get(slot);
    if (current && current.redis.status !== 'end') return current;
    this.dropClient(slot);
    let resolving: string | undefined;
    const c: SlotClient = { redis: undefined as unknown as Redis, node: undefined };
    const natMap = (key: string) => {
      const at = key.lastIndexOf(':');
      const mapped = this.deps.nat(key.slice(0, at), Number(key.slice(at + 1)));
      // The master's address is mapped right before ioredis connects to it.
      if (mapped && Number(key.slice(at + 1)) !== SENTINEL_PORT) resolving = mapped.node;
      return mapped ? { host: mapped.endpoint.host, port: mapped.endpoint.port } : null;
    };
    c.redis = new Redis({
      ...sentinelOptions(this.spec, this.deps.sentinels(), this.deps.masterName),
      ...loginOptions(this.deps.auth),
      ...(this.deps.sentinelAuth?.username ? { sentinelUsername: this.deps.sentinelAuth.username } : {}),
      ...(this.deps.sentinelAuth?.password ? { sentinelPassword: this.deps.sentinelAuth.password } : {}),
      natMap,
    });
    c.redis.on('error', () => {});
    c.redis.on('connect', () => quietFailoverDetector(c.redis));
    c.redis.on('ready', () => {
      c.node = resolving;
    });
    c.redis.on('close', () => {
      c.node = undefined;
    });
    this.clients.set(slot, c);
    c.redis.connect().catch(() => {});
    return c;
  }

  private dropClient(slot: number): void {
    this.clients.get(slot)?.redis.disconnect();
    this.clients.delete(slot);
  }

  private record(o: {
    op: Op['op'];
    seq: number;
    process: number;
    tInvoke: number;
    outcome: Outcome;
    node?: string | undefined;
    err?: unknown;
  }): void {
    recordOp(this.deps.history, this.deps.clock, { probe: this.name, ...o });
  }

  /**
   * Reads every value back from the master a quorum of Sentinels hands out now, on a connection
   * of its own straight to that node: done once after recovery, recorded as a `read`.
   */
  async readBack(): Promise<{ node: string; values: ReadonlySet<number>; t: number }> {
    const { clock } = this.deps;
    const tInvoke = clock.now();
    const seq = this.slots.nextSeq();
    const process = this.spec.concurrency;
    let node: string | undefined;
    try {
      const master = await this.deps.master();
      if (!master) throw new Error('no quorum of Sentinels hands out a master');
      node = master.node;
      const redis = new Redis({
        ...plainOptions({ ...this.spec, connectTimeoutMs: 2000, commandTimeoutMs: 30_000 }),
        ...loginOptions(this.deps.auth),
        host: master.endpoint.host,
        port: master.endpoint.port,
        lazyConnect: true,
      });
      redis.on('error', () => {});
      try {
        await redis.connect();
        const values = await readBackList((from, to) => redis.lrange(this.deps.key, from, to));
        this.record({ op: 'read', seq, process, tInvoke, outcome: 'ok', node });
        return { node, values, t: clock.now() };
      } finally {
        redis.disconnect();
      }
    } catch (err) {
      this.record({ op: 'read', seq, process, tInvoke, outcome: 'fail', node, err });
      throw err;
    }
  }
}

/** A client that never retries, queues or resends by itself: one address, one connection. */
function plainOptions(
  spec: Pick<SentinelWriterProbeSpec, 'connectTimeoutMs' | 'commandTimeoutMs'>,
): RedisOptions {
  return {
    connectTimeout: spec.connectTimeoutMs,
    commandTimeout: spec.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => null,
  };
}

/** ioredis's Sentinel support as the probe uses it (see the class's comment). */
export function sentinelOptions(
  spec: SentinelWriterProbeSpec,
  sentinels: Endpoint[],
  masterName = MASTER_NAME,
): RedisOptions {
  return {
    sentinels: sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: masterName,
    lazyConnect: true,
    connectTimeout: spec.connectTimeoutMs,
    commandTimeout: spec.commandTimeoutMs,
    sentinelCommandTimeout: spec.connectTimeoutMs,
    failoverDetector: true,
    // A master demoted under the client answers READONLY: reconnect through the Sentinels (the
    // failed write is not sent again: 1, not 2).
    reconnectOnError: (err) => (/^READONLY/.test(err.message) ? 1 : false),
    retryStrategy: () => reconnectDelay(spec),
    // The role is checked (INFO) before a connection is used: a node the Sentinels still name
    // but that is no longer a master is skipped.
    enableReadyCheck: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
  };
}

/**
 * ioredis's failover detector (made on every connection to a master) opens a client to each
 * Sentinel with no error listener, so every failed attempt to reach a dead Sentinel is printed to
 * stderr ("[ioredis] Unhandled error event"). The detector is made when the connection opens,
 * before ioredis announces `connect`; its clients' errors come later, from the network: a listener
 * added on `connect` hears them. Reaches into ioredis's internals, and does nothing if they change.
 */
function quietFailoverDetector(redis: Redis): void {
  const internals = redis as unknown as {
    connector?: { failoverDetector?: { sentinels?: { client?: Redis }[] } | null };
  };
  for (const s of internals.connector?.failoverDetector?.sentinels ?? [])
    if (s.client && s.client.listenerCount('error') === 0) s.client.on('error', () => {});
}
