import { Redis, ReplyError } from 'ioredis';
import { CachingResolver } from '../agents/registry/http-client.ts';
import { HEAD_RECORD, type Registry } from '../agents/registry/protocol.ts';
import { type Clock, sleep } from '../engine/clock.ts';
import type { Endpoint } from '../infra/stack.ts';
import type { RedisWriterProbeSpec } from '../scenarios/schema.ts';
import type { History, Op, Outcome } from './history.ts';

/**
 * A real Redis client workload: one ioredis connection, one request in flight, writing unique
 * sequential values (`RPUSH key seq`) at a fixed rate to whichever node the head record names.
 * It finds the head as a real client would: through the registry, caching the answer for its
 * TTL, and reconnecting after errors. Every write is recorded in the history.
 *
 * Outcomes: a write refused before it was sent (no connection, no head record, an error reply
 * such as READONLY) is `fail`; one sent and then timed out or cut off is `unknown`.
 */
export interface RedisWriterDeps {
  clock: Clock;
  history: History;
  registry: Registry;
  /** Maps a node name from the registry to the address a client outside the stack uses. */
  endpoint(node: string): Endpoint;
  key: string;
}

/** The client settings that shape the measured figures; they go into the result verbatim. */
export interface RedisClientSettings {
  library: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  maxRetriesPerRequest: number;
  offlineQueue: boolean;
  autoReconnect: boolean;
  retryBackoffMs: number;
  rateHz: number;
  inFlight: number;
  command: string;
}

export interface ReadBack {
  node: string;
  values: Set<number>;
  t: number;
}

export class RedisWriterProbe {
  readonly name: string;
  private seq = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private idle: (() => void) | undefined;
  private inFlight = false;
  private client: { node: string; redis: Redis } | undefined;
  private readonly resolver: CachingResolver;

  constructor(
    private readonly spec: RedisWriterProbeSpec,
    private readonly deps: RedisWriterDeps,
  ) {
    this.name = spec.name;
    this.resolver = new CachingResolver(deps.registry, () => deps.clock.now());
  }

  settings(): RedisClientSettings {
    return {
      library: 'ioredis 5',
      connectTimeoutMs: this.spec.connectTimeoutMs,
      commandTimeoutMs: this.spec.commandTimeoutMs,
      maxRetriesPerRequest: 0,
      offlineQueue: false,
      autoReconnect: false,
      retryBackoffMs: this.spec.retryBackoffMs,
      rateHz: this.spec.rateHz,
      inFlight: 1,
      command: `RPUSH ${this.deps.key} <seq>`,
    };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Holds the writes; resolves once no write is in flight. */
  async pause(): Promise<void> {
    if (!this.gate) {
      const { promise, resolve } = deferred();
      this.gate = { promise, open: resolve };
    }
    if (this.inFlight) {
      const { promise, resolve } = deferred();
      this.idle = resolve;
      await promise;
    }
  }

  resume(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.resume();
    await this.loop;
    this.dropClient();
  }

  private async run(): Promise<void> {
    const { clock } = this.deps;
    const period = this.spec.rateHz > 0 ? 1000 / this.spec.rateHz : 0;
    let next = clock.now();
    while (!this.stopped) {
      if (period > 0) {
        const wait = next - clock.now();
        if (wait > 0) await sleep(wait);
        // Never burst to catch up after a stall: the rate is a ceiling.
        next = Math.max(next + period, clock.now());
      }
      // The gate is checked right before the write, with no await in between: a pause() that
      // returned is never followed by a write until resume().
      while (this.gate && !this.stopped) await this.gate.promise;
      if (this.stopped) break;
      this.inFlight = true;
      const ok = await this.writeOnce(++this.seq);
      this.inFlight = false;
      this.idle?.();
      this.idle = undefined;
      if (!ok && this.spec.retryBackoffMs > 0) await sleep(this.spec.retryBackoffMs);
    }
  }

  private async writeOnce(seq: number): Promise<boolean> {
    const tInvoke = this.deps.clock.now();
    let node: string | undefined;
    let sent = false;
    try {
      node = await this.resolver.resolve(HEAD_RECORD);
      if (!node) throw new Error('no head record in the registry');
      const redis = await this.connect(node);
      sent = true;
      await redis.rpush(this.deps.key, String(seq));
      this.record('write', seq, tInvoke, 'ok', node);
      return true;
    } catch (err) {
      this.record('write', seq, tInvoke, !sent || isCertainFailure(err) ? 'fail' : 'unknown', node, err);
      this.dropClient();
      return false;
    }
  }

  private record(
    op: Op['op'],
    seq: number,
    tInvoke: number,
    outcome: Outcome,
    node?: string,
    err?: unknown,
  ): void {
    this.deps.history.record({
      probe: this.name,
      op,
      seq,
      tInvoke,
      tComplete: this.deps.clock.now(),
      outcome,
      ...(node ? { node } : {}),
      ...(err === undefined ? {} : { error: shortError(err) }),
    });
  }

  private async connect(node: string): Promise<Redis> {
    // A connection that closed since the last write is never reused: the write would be refused
    // unsent and must count as `fail`, which a fresh connect attempt decides.
    if (this.client?.node === node && this.client.redis.status === 'ready') return this.client.redis;
    this.dropClient();
    const ep = this.deps.endpoint(node);
    const redis = newClient(ep, this.spec.connectTimeoutMs, this.spec.commandTimeoutMs);
    await redis.connect();
    this.client = { node, redis };
    return redis;
  }

  private dropClient(): void {
    this.client?.redis.disconnect();
    this.client = undefined;
  }

  /**
   * Reads every value back from the current head, found afresh in the registry (no cache):
   * done once after recovery. Recorded in the history as a `read`.
   */
  async readBack(): Promise<ReadBack> {
    const { clock, registry } = this.deps;
    const tInvoke = clock.now();
    const seq = ++this.seq;
    let node: string | undefined;
    try {
      node = (await registry.get(HEAD_RECORD))?.value;
      if (!node) throw new Error('no head record in the registry');
      const redis = newClient(this.deps.endpoint(node), 2000, 30_000);
      try {
        await redis.connect();
        const raw = await redis.lrange(this.deps.key, 0, -1);
        this.record('read', seq, tInvoke, 'ok', node);
        return { node, values: new Set<number>(raw.map(Number)), t: clock.now() };
      } finally {
        redis.disconnect();
      }
    } catch (err) {
      this.record('read', seq, tInvoke, 'fail', node, err);
      throw err;
    }
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function newClient(ep: Endpoint, connectTimeoutMs: number, commandTimeoutMs: number): Redis {
  const redis = new Redis({
    host: ep.host,
    port: ep.port,
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

/** An error that proves the write did not take effect, even though it was sent. */
function isCertainFailure(err: unknown): boolean {
  if (err instanceof ReplyError) return true; // the server answered with an error: READONLY, OOM...
  return /Stream isn't writeable|enableOfflineQueue/.test(String((err as Error)?.message));
}

function shortError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.slice(0, 200);
}
