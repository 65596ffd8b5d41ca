import { Redis, ReplyError } from 'ioredis';
import { CachingResolver } from '../../agents/registry/http-client.ts';
import type { Clock } from '../../core/clock.ts';
import type { History, Op, Outcome } from '../../core/history.ts';
import type { Endpoint } from '../../core/provider.ts';
import type { Registry } from '../../core/registry.ts';
import type { ClientSettings } from '../../core/result.ts';
import type { Probe } from '../../core/system.ts';
import { readBackList } from '../../probes/read-back.ts';
import { recordOp } from '../../probes/record.ts';
import { Slots } from '../../probes/slots.ts';
import { type RedisLogin, loginOptions } from './quick-client.ts';
import { HEAD_RECORD } from './records.ts';
import type { RedisWriterProbeSpec } from './spec.ts';

/**
 * A real Redis client workload: `concurrency` slots, each with its own ioredis connection and
 * one request in flight, writing unique sequential values (`RPUSH key seq`) at a shared fixed
 * rate to whichever node the head record names. It finds the head as a real client would:
 * through the registry, caching the answer for its TTL, and reconnecting after errors. Every
 * write is recorded in the history with the slot that ran it (`process`).
 *
 * Outcomes (classifyFailure): a write refused before it was sent (no connection, no head
 * record) or answered with an error reply (READONLY, NOREPLICAS, OOM) is `fail`; one sent and
 * then timed out or cut off is `unknown`, and so is one whose `WAIT` (with `waitReplicas`) found
 * fewer replicas than asked: it is on the head, perhaps nowhere else.
 */
export interface RedisWriterDeps {
  clock: Clock;
  history: History;
  registry: Registry;
  /** Maps a node name from the registry to the address a client outside the stack uses. */
  endpoint(node: string): Endpoint;
  key: string;
  /** How every connection logs in (AUTH): a stack attached to whose nodes ask for a password. */
  auth?: RedisLogin;
}

export interface ReadBack {
  node: string;
  values: ReadonlySet<number>;
  t: number;
}

/**
 * Whether a failed write certainly did not take effect (`fail`) or may have (`unknown`). A
 * write that was never sent is `fail`; so is one the server answered with an error reply, or
 * one the client refused to put on a connection that was not writable. Anything else after
 * sending (a timeout, a connection closed or reset) is `unknown`: lost writes rest on this.
 */
export function classifyFailure(err: unknown, sent: boolean): Exclude<Outcome, 'ok'> {
  if (err instanceof NotReplicatedError) return 'unknown';
  if (!sent) return 'fail';
  if (err instanceof ReplyError) return 'fail';
  if (/Stream isn't writeable|enableOfflineQueue/.test(String((err as Error)?.message))) return 'fail';
  return 'unknown';
}

/** The settings a probe of this spec writes with (also for rebuilding a dead run's result). */
export function redisWriterSettings(spec: RedisWriterProbeSpec, key: string): ClientSettings {
  return {
    library: 'ioredis 5',
    connectTimeoutMs: spec.connectTimeoutMs,
    commandTimeoutMs: spec.commandTimeoutMs,
    retries: 0,
    offlineQueue: false,
    autoReconnect: false,
    retryBackoffMs: spec.retryBackoffMs,
    rateHz: spec.rateHz,
    inFlight: spec.concurrency,
    operation:
      spec.waitReplicas > 0
        ? `RPUSH ${key} <seq>, then WAIT ${spec.waitReplicas} (acknowledged once ${spec.waitReplicas} replica${spec.waitReplicas > 1 ? 's have' : ' has'} it)`
        : `RPUSH ${key} <seq>`,
  };
}

/**
 * The share of what is left of the command timeout a WAIT is given: Redis checks a WAIT's
 * timeout when its event loop wakes, which can be up to 100 ms late (hz 10), and the reply has to
 * come back before the client's own command timeout cuts it.
 */
const WAIT_SHARE = 0.6;

/**
 * A write the leader acknowledged whose WAIT then came back short or failed in any way (an error
 * reply, the connection closed before it could be sent, no time left): applied there, perhaps
 * nowhere else. Always `unknown`, whatever the WAIT's own error says: its message may read like
 * one of a write never sent ("Stream isn't writeable") when the connection dropped between the
 * two commands.
 */
export class NotReplicatedError extends Error {
  override name = 'NotReplicatedError';
}

/**
 * `WAIT wanted` after an acknowledged write sent `elapsedMs` ago, within WAIT_SHARE of what is left
 * of `commandTimeoutMs` (the redis-writer's and the sentinel-writer's): throws NotReplicatedError
 * unless `wanted` replicas have it. No-op for 0.
 */
export async function waitForReplicas(
  redis: Pick<Redis, 'wait'>,
  wanted: number,
  commandTimeoutMs: number,
  elapsedMs: number,
): Promise<void> {
  if (wanted === 0) return;
  const left = Math.floor((commandTimeoutMs - elapsedMs) * WAIT_SHARE);
  if (left < 1)
    throw new NotReplicatedError(`no time left within commandTimeoutMs to WAIT for ${wanted} replicas`);
  let got: number;
  try {
    got = await redis.wait(wanted, left);
  } catch (err) {
    throw new NotReplicatedError(`WAIT ${wanted} ${left} after the write: ${(err as Error)?.message ?? err}`);
  }
  if (got < wanted)
    throw new NotReplicatedError(`WAIT ${wanted} ${left}: ${got} of ${wanted} replicas have the write`);
}

/** The key a probe writes to in a run. */
export const probeKey = (runId: string, probe: string) => `chaos:${runId}:${probe}`;

export class RedisWriterProbe implements Probe {
  readonly name: string;
  readonly kind = 'redis-writer';
  readonly system = 'redis';
  private readonly clients = new Map<number, { node: string; redis: Redis }>();
  private readonly resolver: CachingResolver;
  private readonly slots: Slots;

  constructor(
    private readonly spec: RedisWriterProbeSpec,
    private readonly deps: RedisWriterDeps,
  ) {
    this.name = spec.name;
    this.resolver = new CachingResolver(deps.registry, () => deps.clock.now());
    this.slots = new Slots(deps.clock, {
      rateHz: spec.rateHz,
      concurrency: spec.concurrency,
      retryBackoffMs: spec.retryBackoffMs,
      attempt: (slot, seq) => this.writeOnce(slot, seq),
      closeSlot: (slot) => this.dropClient(slot),
    });
  }

  settings(): ClientSettings {
    return redisWriterSettings(this.spec, this.deps.key);
  }

  start(): void {
    this.slots.start();
  }

  /** Holds the writes; resolves once no write is in flight. */
  pause(): Promise<void> {
    return this.slots.pause();
  }

  resume(): void {
    this.slots.resume();
  }

  stop(): Promise<void> {
    return this.slots.stop();
  }

  private async writeOnce(slot: number, seq: number): Promise<boolean> {
    const tInvoke = this.deps.clock.now();
    let node: string | undefined;
    let sent = false;
    try {
      node = this.cachedHead();
      if (node === undefined) {
        node = await this.resolver.resolve(HEAD_RECORD);
        this.lastHead = node;
      }
      if (!node) throw new Error('no head record in the registry');
      const current = this.clients.get(slot);
      // The slot's connection when it is to that node and open; else connect (see connect()).
      const redis =
        current?.node === node && current.redis.status === 'ready'
          ? current.redis
          : await this.connect(slot, node);
      sent = true;
      const tSent = this.deps.clock.now();
      await redis.rpush(this.deps.key, String(seq));
      const { waitReplicas, commandTimeoutMs } = this.spec;
      // Not even a resolved promise's tick when no WAIT is asked: this is the probe's hot path.
      if (waitReplicas > 0)
        await waitForReplicas(redis, waitReplicas, commandTimeoutMs, this.deps.clock.now() - tSent);
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
   * The resolver's answer while its TTL lasts, without a promise: what `resolve()` would give
   * then (the same cache), on the path every write takes. Undefined once it ran out.
   */
  private cachedHead(): string | undefined {
    const expires = this.resolver.expiresAt(HEAD_RECORD);
    if (expires === undefined || expires <= this.deps.clock.now()) return undefined;
    return this.lastHead;
  }

  private lastHead: string | undefined;

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

  private async connect(slot: number, node: string): Promise<Redis> {
    // A connection that closed since the last write is never reused: the write would be refused
    // unsent and must count as `fail`, which a fresh connect attempt decides.
    const current = this.clients.get(slot);
    if (current?.node === node && current.redis.status === 'ready') return current.redis;
    this.dropClient(slot);
    const redis = probeClient(
      this.deps.endpoint(node),
      this.spec.connectTimeoutMs,
      this.spec.commandTimeoutMs,
      this.deps.auth,
    );
    await redis.connect();
    this.clients.set(slot, { node, redis });
    return redis;
  }

  private dropClient(slot: number): void {
    this.clients.get(slot)?.redis.disconnect();
    this.clients.delete(slot);
  }

  /**
   * Reads every value back from the current head, found afresh in the registry (no cache):
   * done once after recovery. Recorded in the history as a `read`.
   */
  async readBack(): Promise<ReadBack> {
    const { clock, registry } = this.deps;
    const tInvoke = clock.now();
    const seq = this.slots.nextSeq();
    const process = this.spec.concurrency;
    let node: string | undefined;
    try {
      node = (await registry.get(HEAD_RECORD))?.value;
      if (!node) throw new Error('no head record in the registry');
      const redis = probeClient(this.deps.endpoint(node), 2000, 30_000, this.deps.auth);
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

/**
 * A connection as the probe opens it: no retries, no offline queue, no reconnect, every error
 * left to the command that meets it. Exported for the bench's bare-client row, which must use
 * the very same client settings.
 */
export function probeClient(
  ep: Endpoint,
  connectTimeoutMs: number,
  commandTimeoutMs: number,
  auth?: RedisLogin,
): Redis {
  const redis = new Redis({
    host: ep.host,
    port: ep.port,
    ...loginOptions(auth),
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => {}); // every error is seen, and recorded, where the command fails
  return redis;
}
