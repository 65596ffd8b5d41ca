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
    const deadline = deps.wallNow() + (cfg.joinTimeoutMs ?? 30_000);
    while (!(await deps.local.ping())) {
      if (deps.wallNow() > deadline)
        throw new Error(`local redis did not answer PING within ${cfg.joinTimeoutMs ?? 30_000} ms`);
      await deps.sleep(50);
    }
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const chain = decodeChain(rec?.value);
      if (cfg.joinIndex !== undefined && chain.length < cfg.joinIndex) {
        if (deps.wallNow() > deadline)
          throw new Error(`chain did not reach ${cfg.joinIndex} members to join after`);
        await deps.sleep(25);
        continue;
      }
      const tail = chain.at(-1) ?? null;
      await deps.local.replicaOf(tail);
      const next = [...chain.filter((n) => n !== cfg.self), cfg.self];
      const written = await deps.registry.set(CHAIN_RECORD, encodeChain(next), 0, rec?.version ?? 0);
      if (!written) continue; // someone else joined first: join behind them
      this.master = tail;
      if (tail === null) {
        await this.claimHead(null);
        deps.emit('joined-as-head', { chain: next });
      } else {
        deps.emit('joined', { master: tail, chain: next });
      }
      return;
    }
  }

  /** Joins again at the tail of the current chain (after a demotion). */
  private async rejoin(): Promise<void> {
    const { deps, cfg } = this;
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const chain = decodeChain(rec?.value).filter((n) => n !== cfg.self);
      const tail = chain.at(-1) ?? null;
      const written = await deps.registry.set(
        CHAIN_RECORD,
        encodeChain([...chain, cfg.self]),
        0,
        rec?.version ?? 0,
      );
      if (!written) continue;
      await deps.local.replicaOf(tail);
      this.master = tail;
      this.downSince = null;
      if (tail === null) await this.claimHead(null);
      deps.emit('rejoined', { master: tail });
      return;
    }
  }

  /** One check of the master; returns the action taken, for tests and logs. */
  async tick(): Promise<'head' | 'rejoined' | 'healthy' | 'suspect' | 'deferred' | 'failover'> {
    const { deps, cfg } = this;
    if (this.master === null) {
      // A head that was cut off or frozen while another took over must not stay a second head.
      const head = (await deps.registry.get(HEAD_RECORD))?.value;
      if (head === undefined || head === cfg.self) return 'head';
      deps.emit('demoted', { head });
      await this.rejoin();
      return 'rejoined';
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
      const written = await deps.registry.set(CHAIN_RECORD, encodeChain(chain), 0, rec?.version ?? 0);
      if (!written) continue;
      deps.emit('failover-decision', { deadMaster: dead, downForMs, newMaster, chain });
      await deps.local.replicaOf(newMaster);
      this.master = newMaster;
      this.downSince = null;
      if (newMaster === null) {
        deps.emit('became-head', { previousHead: dead });
        await this.claimHead(dead);
      } else {
        deps.emit('reattached', { from: dead, to: newMaster });
      }
      return;
    }
  }

  private async claimHead(previous: string | null): Promise<void> {
    const { deps, cfg } = this;
    for (;;) {
      const rec = await deps.registry.get(HEAD_RECORD);
      const moved = await deps.registry.set(HEAD_RECORD, cfg.self, cfg.headTtlMs, rec?.version ?? 0);
      if (moved) {
        deps.emit('head-record-moved', { from: rec?.value ?? previous, to: cfg.self, ttlMs: cfg.headTtlMs });
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
