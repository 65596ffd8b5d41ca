import { CHAIN_RECORD, HEAD_RECORD, type Registry, decodeChain, encodeChain } from '../registry/protocol.ts';

/**
 * The Redis chain agent. It runs beside one redis-server (same network namespace; they die
 * together) and keeps the chain head -> ... -> tail healed:
 *
 * - It joins at the tail: replicates from the current tail and appends itself to the chain
 *   record; on an empty chain it becomes the head and writes the head record.
 * - It watches its master. When the master has been unreachable for `thresholdMs` (and no sync
 *   is in progress) it removes the master from the chain and either re-attaches to its
 *   grand-master or, if the master was the head, becomes the head (`REPLICAOF NO ONE`) and moves
 *   the head record to itself.
 * - The chain record (written only with conditional writes) is the source of truth: each check
 *   the agent replicates from its predecessor there. A node no longer in the chain (it was
 *   declared dead while paused or cut off) rejoins at the tail; the first node is the head and
 *   makes sure the head record names it.
 *
 * Every decision is emitted as an event stamped with the wall clock.
 */
export interface LocalRedis {
  ping(): Promise<boolean>;
  /** REPLICAOF host port, or REPLICAOF NO ONE when host is null. */
  replicaOf(host: string | null): Promise<void>;
  syncInProgress(): Promise<boolean>;
}

export interface AgentConfig {
  self: string;
  thresholdMs: number;
  checkIntervalMs: number;
  headTtlMs: number;
  /** Wait until the chain has this many members before joining (keeps the AZ order deterministic). */
  joinIndex?: number;
  joinTimeoutMs?: number;
}

export interface AgentDeps {
  local: LocalRedis;
  registry: Registry;
  /** Is the redis at this host reachable and answering PING? */
  pingNode(host: string): Promise<boolean>;
  wallNow(): number;
  sleep(ms: number): Promise<void>;
  emit(type: string, data?: Record<string, unknown>): void;
}

export type TickResult = 'head' | 'rejoined' | 'reattached' | 'healthy' | 'suspect' | 'deferred' | 'failover';

export class ChainAgent {
  /** The node this one replicates from; null while it is the head. */
  master: string | null = null;
  private downSince: number | null = null;
  private deferredLogged = false;
  private stopped = false;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: AgentDeps,
  ) {}

  async join(): Promise<void> {
    const { deps, cfg } = this;
    const timeout = cfg.joinTimeoutMs ?? 30_000;
    const deadline = deps.wallNow() + timeout;
    while (!(await deps.local.ping())) {
      if (deps.wallNow() > deadline) throw new Error(`local redis did not answer PING within ${timeout} ms`);
      await deps.sleep(50);
    }
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const others = decodeChain(rec?.value).filter((n) => n !== cfg.self);
      if (cfg.joinIndex !== undefined && others.length < cfg.joinIndex) {
        if (deps.wallNow() > deadline)
          throw new Error(`the chain did not reach ${cfg.joinIndex} members to join after`);
        await deps.sleep(25);
        continue;
      }
      const next = [...others, cfg.self];
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(next), 0, rec?.version ?? 0))) continue;
      const tail = others.at(-1) ?? null;
      await deps.local.replicaOf(tail);
      this.master = tail;
      if (tail === null) {
        await this.claimHead();
        deps.emit('joined-as-head', { chain: next });
      } else {
        deps.emit('joined', { master: tail, chain: next });
      }
      return;
    }
  }

  /** One check; returns what it did, for tests and logs. */
  async tick(): Promise<TickResult> {
    const { deps, cfg } = this;
    const chain = decodeChain((await deps.registry.get(CHAIN_RECORD))?.value);
    const at = chain.indexOf(cfg.self);
    if (at < 0) {
      // Declared dead (paused, cut off) while the others healed the chain without it.
      deps.emit('removed-from-chain', { chain });
      await this.rejoin();
      return 'rejoined';
    }
    const predecessor = at === 0 ? null : chain[at - 1]!;
    if (predecessor !== this.master) {
      // The chain changed around this node (a node before it left or rejoined behind it).
      const was = this.master;
      await deps.local.replicaOf(predecessor);
      this.master = predecessor;
      this.downSince = null;
      if (predecessor === null) {
        deps.emit('became-head', { previousMaster: was, reason: 'first in the chain' });
        await this.claimHead();
      } else {
        deps.emit(was === null ? 'demoted' : 'reattached', {
          from: was,
          to: predecessor,
          reason: 'chain changed',
        });
      }
      return 'reattached';
    }
    if (this.master === null) {
      // The head makes sure the record names it (a claim that failed half-way is retried here).
      const head = (await deps.registry.get(HEAD_RECORD))?.value;
      if (head !== cfg.self) await this.claimHead();
      return 'head';
    }
    const now = deps.wallNow();
    if (await deps.pingNode(this.master)) {
      if (this.downSince !== null) {
        deps.emit('master-reachable-again', { master: this.master, downForMs: now - this.downSince });
      }
      this.downSince = null;
      this.deferredLogged = false;
      return 'healthy';
    }
    if (this.downSince === null) {
      this.downSince = now;
      deps.emit('master-unreachable', { master: this.master });
    }
    if (now - this.downSince < cfg.thresholdMs) return 'suspect';
    if (await deps.local.syncInProgress()) {
      if (!this.deferredLogged)
        deps.emit('failover-deferred', { master: this.master, reason: 'sync in progress' });
      this.deferredLogged = true;
      return 'deferred';
    }
    await this.failover(now - this.downSince);
    return 'failover';
  }

  private async failover(downForMs: number): Promise<void> {
    const { deps, cfg } = this;
    const dead = this.master!;
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const chain = decodeChain(rec?.value).filter((n) => n !== dead);
      if (!chain.includes(cfg.self)) chain.push(cfg.self);
      const at = chain.indexOf(cfg.self);
      const newMaster = at === 0 ? null : chain[at - 1]!;
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(chain), 0, rec?.version ?? 0))) continue;
      deps.emit('failover-decision', { deadMaster: dead, downForMs, newMaster, chain });
      await deps.local.replicaOf(newMaster);
      this.master = newMaster;
      this.downSince = null;
      if (newMaster === null) {
        deps.emit('became-head', { previousHead: dead });
        await this.claimHead();
      } else {
        deps.emit('reattached', { from: dead, to: newMaster });
      }
      return;
    }
  }

  /** Joins again at the tail of the current chain. */
  private async rejoin(): Promise<void> {
    const { deps, cfg } = this;
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const others = decodeChain(rec?.value).filter((n) => n !== cfg.self);
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain([...others, cfg.self]), 0, rec?.version ?? 0)))
        continue;
      const tail = others.at(-1) ?? null;
      await deps.local.replicaOf(tail);
      this.master = tail;
      this.downSince = null;
      if (tail === null) await this.claimHead();
      deps.emit('rejoined', { master: tail });
      return;
    }
  }

  /** Points the head record at this node (conditional write on the version read). */
  private async claimHead(): Promise<void> {
    const { deps, cfg } = this;
    for (;;) {
      const rec = await deps.registry.get(HEAD_RECORD);
      if (rec?.value === cfg.self) return;
      if (await deps.registry.set(HEAD_RECORD, cfg.self, cfg.headTtlMs, rec?.version ?? 0)) {
        deps.emit('head-record-moved', { from: rec?.value ?? null, to: cfg.self, ttlMs: cfg.headTtlMs });
        return;
      }
    }
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (err) {
        this.deps.emit('agent-error', { error: String(err) });
      }
      await this.deps.sleep(this.cfg.checkIntervalMs);
    }
  }

  stop(): void {
    this.stopped = true;
  }
}
