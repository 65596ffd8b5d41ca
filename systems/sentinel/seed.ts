import { LeaseKeeper } from '../../agents/lease.ts';
import type { Registry } from '../../core/registry.ts';
import { MASTER_RECORD, MASTER_RECORD_TTL_MS } from './watch.ts';

/**
 * The source material's monitor pair (`monitor: seed`), as one watcher on each of two monitor
 * hosts beside that host's HAProxy:
 *
 * - every `intervalMs` it reads the configuration from the shared store (the registry record
 *   `seed-config`: the master and the slave, by name and address; SimpleDB in the source), keeps
 *   its own HAProxy relaying to that master, and PINGs the master;
 * - after three failed PINGs in a row (Monit's check) it runs the failover script: it takes the
 *   lease `seed-failover` (a watcher that cannot, because the other holds it, waits and follows
 *   the configuration once the other is done), promotes the slave with `SLAVEOF NO ONE`, writes
 *   the new configuration (conditionally: one change per version) and the leader record
 *   `sentinel-master`, repoints its HAProxy (cutting the sessions to the old master), then asks
 *   for a replacement slave (the record `seed-launch`, which the harness's launcher fulfils as EC2
 *   would), waits for it to answer and records it as the new slave, renewing the lease all along;
 * - a watcher that loses the lease mid-way stops where it is.
 *
 * Nothing here looks at a dead master again: one back from a power loss stays a master of its
 * own, outside the configuration, as in the source.
 */

export const SEED_CONFIG = 'seed-config';
export const SEED_LAUNCH = 'seed-launch';
export const SEED_LEASE = 'seed-failover';
/** Failed PINGs in a row before the failover script runs (Monit's three cycles). */
export const SEED_MISSES = 3;

export interface SeedNode {
  name: string;
  ip: string;
}

export interface SeedConfig {
  master: SeedNode;
  slave: SeedNode | null;
}

/** A replacement slave asked for, and, once launched, the node that is it. */
export interface LaunchRequest {
  replaces: string;
  replicaOf: SeedNode;
  node?: SeedNode;
  error?: string;
}

export interface SeedMonitorConfig {
  self: string;
  intervalMs: number;
  /** How long a replacement may take to launch and answer. */
  launchTimeoutMs: number;
}

export interface SeedMonitorDeps {
  registry: Pick<Registry, 'get' | 'set' | 'acquireLease' | 'releaseLease' | 'getLease'>;
  /** One PING with a timeout: whether it answered PONG. */
  ping(ip: string): Promise<boolean>;
  /** `SLAVEOF NO ONE` on the node at `ip`. */
  promote(ip: string): Promise<void>;
  /** The address the local HAProxy relays to now. */
  proxyTarget(): Promise<string | undefined>;
  /** Points the local HAProxy at `ip` and cuts the sessions it had. */
  repoint(ip: string): Promise<void>;
  emit(type: string, data?: Record<string, unknown>): void;
  now(): number;
  setTimer(fn: () => void, ms: number): () => void;
  sleep(ms: number): Promise<void>;
}

export const parseJson = <T>(value: string | undefined): T | undefined => {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as T;
  } catch {
    return undefined;
  }
};

export class SeedMonitor {
  private misses = 0;
  private waitingFor: string | null = null;
  private lost = false;
  private readonly lease: LeaseKeeper;

  constructor(
    private readonly cfg: SeedMonitorConfig,
    private readonly deps: SeedMonitorDeps,
  ) {
    this.lease = new LeaseKeeper(
      {
        name: SEED_LEASE,
        holder: cfg.self,
        ttlMs: Math.max(5000, cfg.intervalMs * 5),
        marginMs: 500,
      },
      {
        registry: deps.registry,
        now: deps.now,
        setTimer: deps.setTimer,
        onLost: (info) => {
          this.lost = true;
          deps.emit('failover-lease-lost', { ...info });
        },
      },
    );
  }

  /** At start: the configuration and the leader record, if nobody has written them yet. */
  async init(initial: SeedConfig): Promise<void> {
    const { registry } = this.deps;
    if (!(await registry.get(SEED_CONFIG)))
      await registry.set(SEED_CONFIG, JSON.stringify(initial), MASTER_RECORD_TTL_MS, 0);
    if (!(await registry.get(MASTER_RECORD)))
      await registry.set(MASTER_RECORD, initial.master.name, MASTER_RECORD_TTL_MS, 0);
  }

  /** One check: follow the configuration, PING the master, fail over after three misses. */
  async tick(): Promise<void> {
    const rec = await this.deps.registry.get(SEED_CONFIG);
    const config = parseJson<SeedConfig>(rec?.value);
    if (!rec || !config) return;
    await this.follow(config.master);
    if (await this.deps.ping(config.master.ip)) {
      if (this.misses > 0) this.deps.emit('master-answers', { node: config.master.name, after: this.misses });
      this.misses = 0;
      this.waitingFor = null;
      return;
    }
    this.misses++;
    this.deps.emit('ping-failed', { node: config.master.name, misses: this.misses });
    if (this.misses >= SEED_MISSES) await this.failover(config, rec.version);
  }

  /** Keeps the local HAProxy on the configured master. */
  private async follow(master: SeedNode): Promise<void> {
    const target = await this.deps.proxyTarget().catch(() => undefined);
    if (target === master.ip) return;
    await this.deps.repoint(master.ip);
    this.deps.emit('proxy-repointed', { node: master.name, ip: master.ip, was: target ?? null });
  }

  private async failover(config: SeedConfig, version: number): Promise<void> {
    const got = await this.lease.renew();
    if (got.status === 'refused') {
      // Another monitor runs the failover: wait for it, and follow the configuration after.
      if (this.waitingFor !== got.holder)
        this.deps.emit('failover-waiting', { node: config.master.name, holder: got.holder });
      this.waitingFor = got.holder;
      return;
    }
    if (got.status === 'error') {
      this.deps.emit('failover-withheld', { node: config.master.name, reason: got.error });
      return;
    }
    this.lost = false;
    this.waitingFor = null;
    try {
      await this.promoteSlave(config, version);
    } finally {
      await this.lease.release();
    }
  }

  private async promoteSlave(config: SeedConfig, version: number): Promise<void> {
    const { registry, emit } = this.deps;
    const now = await registry.get(SEED_CONFIG);
    if (now?.version !== version) {
      // The other monitor failed over between our read and our lease: follow it.
      this.misses = 0;
      return;
    }
    const { master, slave } = config;
    emit('failover-decision', { node: master.name, misses: this.misses, slave: slave?.name ?? null });
    if (!slave) {
      emit('failover-impossible', { node: master.name, reason: 'no slave to promote' });
      return;
    }
    if (!(await this.deps.ping(slave.ip))) {
      emit('failover-impossible', {
        node: master.name,
        reason: `the slave ${slave.name} does not answer either`,
      });
      return;
    }
    if (this.lost) return;
    await this.deps.promote(slave.ip);
    emit('+promoted-slave', { node: slave.name, command: 'SLAVEOF NO ONE', from: master.name });
    const next: SeedConfig = { master: slave, slave: null };
    const set = await registry.set(SEED_CONFIG, JSON.stringify(next), MASTER_RECORD_TTL_MS, version);
    if (!set) {
      emit('failover-conflict', { node: slave.name, reason: 'the configuration changed under the lease' });
      return;
    }
    await registry.set(MASTER_RECORD, slave.name, MASTER_RECORD_TTL_MS);
    await this.follow(slave);
    this.misses = 0;
    await this.replace(master, next, set.version);
  }

  /** Asks for a replacement slave of the new master, and records it once it answers. */
  private async replace(dead: SeedNode, config: SeedConfig, version: number): Promise<void> {
    const { registry, emit, sleep, now } = this.deps;
    const request: LaunchRequest = { replaces: dead.name, replicaOf: config.master };
    const asked = await registry.set(SEED_LAUNCH, JSON.stringify(request), MASTER_RECORD_TTL_MS);
    emit('replacement-requested', { node: dead.name, replicaOf: config.master.name });
    const deadline = now() + this.cfg.launchTimeoutMs;
    let node: SeedNode | undefined;
    while (now() < deadline) {
      if (this.lost || (await this.lease.renew()).status !== 'held') return;
      // The launcher answers by writing the request again, with the node or an error.
      const rec = await registry.get(SEED_LAUNCH);
      const r = rec && asked && rec.version > asked.version ? parseJson<LaunchRequest>(rec.value) : undefined;
      if (r?.error) {
        emit('replacement-failed', { node: dead.name, error: r.error });
        return;
      }
      if (r?.node && (await this.deps.ping(r.node.ip))) {
        node = r.node;
        break;
      }
      await sleep(this.cfg.intervalMs);
    }
    if (!node) {
      emit('replacement-failed', {
        node: dead.name,
        error: `no replacement answered within ${this.cfg.launchTimeoutMs} ms`,
      });
      return;
    }
    const set = await registry.set(
      SEED_CONFIG,
      JSON.stringify({ master: config.master, slave: node } satisfies SeedConfig),
      MASTER_RECORD_TTL_MS,
      version,
    );
    if (set) emit('replacement-attached', { node: node.name, master: config.master.name });
    else emit('failover-conflict', { node: node.name, reason: 'the configuration changed under the lease' });
  }
}
