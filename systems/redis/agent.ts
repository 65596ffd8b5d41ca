import type { Registry } from '../../core/registry.ts';
import { CHAIN_RECORD, HEAD_RECORD, decodeChain, encodeChain } from './records.ts';

/**
 * The Redis chain agent. It runs beside one redis-server (same network namespace; they die
 * together) and keeps the chain head -> ... -> tail healed. The chain record (written only with
 * conditional writes) is the source of truth; each check the agent reads it and acts:
 *
 * - **Join** at the tail: the agent first points its redis at the current tail (a restarted node
 *   is an empty standalone master, and from this REPLICAOF on it refuses writes with READONLY),
 *   then, once that tail answers PING, appends itself to the chain record. On an empty chain it
 *   becomes the head and writes the head record. It never claims the head while the chain has
 *   members: it joins behind them.
 * - **Its master dies.** When the master has been unreachable for `thresholdMs` (and no sync is
 *   in progress) it removes the master from the chain and re-attaches to its grand-master or, if
 *   the master was the head, becomes the head (`REPLICAOF NO ONE`) and moves the head record.
 * - **Its replica, the tail, dies.** A node whose successor is the tail watches it the same way
 *   and, after the threshold, removes it from the chain (`removed-dead-tail`). A middle node's
 *   death is its successor's business (the failover above), so exactly one agent acts per death.
 * - **Visibility rule** before removing an unreachable master or tail: this node must reach at
 *   least one other chain member (neither itself nor the node it would remove). A node that sees
 *   nobody may be the one cut off, and removing the others would hand the head to the wrong side
 *   of a partition. The only exception is a 2-node chain (just the two of them), where there is
 *   no third member to ask: there it acts if it has seen the other node answer since it attached
 *   to (or started watching) it. Otherwise it withholds (`failover-withheld` /
 *   `tail-removal-withheld`, once per episode). In a 2-node chain cut in two both sides may act;
 *   the conditional write lets one win, and the loser finds itself outside the chain and steps
 *   down, so the head still moves at most once.
 * - **Outside the chain** (declared dead while frozen or cut off): the agent steps down at once
 *   (REPLICAOF, so its redis refuses writes; `stepped-down` if it was a master) and rejoins at the
 *   tail only once it can reach that tail (`rejoin-withheld`, once, while it cannot). A node that
 *   cannot see the chain thus never keeps or takes the head: the SRE saw a cut-off old head
 *   rejoin behind an unreachable tail, "fail over" it and the rest, and become head again.
 *   It steps down by replicating from the current *tail* rather than the node the head record
 *   names: its redis refuses writes just the same, the node it will rejoin behind is the one it
 *   already follows (one full sync when the partition heals, not one from the head and then
 *   another from the tail), the head (busy taking writes) is spared a sync, and the head record
 *   may for a moment still name this very node (a new head writes the chain record first).
 * - **Every write re-checks what it acts on.** A failover or tail removal whose conditional
 *   write loses re-reads the chain and gives up if the node it meant to remove is no longer its
 *   neighbour; a head claim re-reads the chain and is only made by its first member, after the
 *   head record was read, so a node frozen mid-check (docker pause) cannot act on what it read
 *   before the freeze.
 *
 * Every decision is emitted as an event stamped with the wall clock.
 */
export interface LocalRedis {
  ping(): Promise<boolean>;
  /**
   * Whom the local server replicates from now: a host, null when it is a master, undefined
   * when it cannot say. A server restarted under the agent (its process killed and started again
   * by its supervisor) comes back empty, replicating from a placeholder (127.0.0.1).
   */
  master(): Promise<string | null | undefined>;
  /** The local server's run id (INFO server): a new one after every restart of the server. */
  runId(): Promise<string | undefined>;
  /** REPLICAOF host port, or REPLICAOF NO ONE when host is null. */
  replicaOf(host: string | null): Promise<void>;
  syncInProgress(): Promise<boolean>;
}

export interface AgentConfig {
  self: string;
  thresholdMs: number;
  checkIntervalMs: number;
  headTtlMs: number;
  /** The run id of the local server when this node last joined (kept across an agent restart). */
  resumeRunId?: string;
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

export type TickResult =
  | 'local-restarted'
  | 'head'
  | 'healthy'
  | 'suspect'
  | 'deferred'
  | 'withheld'
  | 'failover'
  | 'tail-removed'
  | 'aborted'
  | 'reattached'
  | 'rejoined'
  | 'rejoin-withheld';

/** What this agent knows about a neighbour it watches (its master, or its replica the tail). */
interface Watch {
  node: string;
  /** It answered at least once since this agent attached to it or started watching it. */
  seenUp: boolean;
  downSince: number | null;
  /** The withheld event of this episode was emitted. */
  withheldLogged: boolean;
}

type Visibility = { ok: true; witness: string | null } | { ok: false; reason: string };

const watchOf = (node: string): Watch => ({ node, seenUp: false, downSince: null, withheldLogged: false });

export class ChainAgent {
  /** The node this one replicates from; null while it is the head. */
  master: string | null = null;
  private masterWatch: Watch | null = null;
  private tailWatch: Watch | null = null;
  private deferredLogged = false;
  /** Set while this node is outside the chain record. */
  private outside: { since: number; withheldLogged: boolean } | null = null;
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
    // An agent that restarted beside a server that kept running (the same run id as when it
    // joined) finds itself in the chain, its server where the chain says: it resumes there
    // instead of moving to the tail. A server that restarted too is empty: it rejoins at the tail.
    {
      const chain = decodeChain((await deps.registry.get(CHAIN_RECORD))?.value);
      const at = chain.indexOf(cfg.self);
      if (at >= 0) {
        const predecessor = at === 0 ? null : chain[at - 1]!;
        const sameServer = cfg.resumeRunId !== undefined && (await deps.local.runId()) === cfg.resumeRunId;
        if (sameServer && (await deps.local.master()) === predecessor) {
          this.master = predecessor;
          if (predecessor === null) await this.claimHead();
          deps.emit('resumed', { master: predecessor, chain });
          return;
        }
      }
    }
    let following: string | undefined;
    let withheldLogged = false;
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const others = decodeChain(rec?.value).filter((n) => n !== cfg.self);
      if (cfg.joinIndex !== undefined && others.length < cfg.joinIndex) {
        if (deps.wallNow() > deadline)
          throw new Error(`the chain did not reach ${cfg.joinIndex} members to join after`);
        await deps.sleep(25);
        continue;
      }
      const tail = others.at(-1) ?? null;
      if (tail !== null) {
        // Read-only before anything else: a restarted node is an empty master until this.
        if (following !== tail) {
          await deps.local.replicaOf(tail);
          following = tail;
        }
        if (!(await deps.pingNode(tail))) {
          if (!withheldLogged)
            deps.emit('join-withheld', { tail, chain: others, reason: 'the tail does not answer PING' });
          withheldLogged = true;
          await deps.sleep(cfg.checkIntervalMs);
          continue;
        }
      }
      const next = [...others, cfg.self];
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(next), 0, rec?.version ?? 0))) continue;
      this.master = tail;
      if (tail === null) {
        await deps.local.replicaOf(null);
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
    const rec = await deps.registry.get(CHAIN_RECORD);
    const chain = decodeChain(rec?.value);
    const at = chain.indexOf(cfg.self);
    if (at < 0) return this.outsideChain(chain, rec?.version ?? 0);
    this.outside = null;
    const predecessor = at === 0 ? null : chain[at - 1]!;
    if (predecessor !== this.master) {
      // The chain changed around this node (a node before it left or rejoined behind it).
      await this.attach(predecessor);
      return 'reattached';
    }
    // The local server restarted under this agent: it is empty and no longer where the chain
    // says. It leaves the chain (a head hands over to its successor) and rejoins at the tail.
    const local = await deps.local.master();
    if (local !== undefined && local !== this.master) {
      deps.emit('local-server-restarted', { expected: this.master, found: local });
      const left = chain.filter((n) => n !== cfg.self);
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(left), 0, rec?.version ?? 0))) return 'aborted';
      this.master = null;
      return this.outsideChain(left, (rec?.version ?? 0) + 1);
    }
    // The successor is watched only when it is the tail: a middle node is its successor's to remove.
    const successor = at === chain.length - 2 ? chain[at + 1]! : null;
    if (successor === null) this.tailWatch = null;
    const now = deps.wallNow();
    const [masterUp, tailUp] = await Promise.all([
      this.master === null ? true : deps.pingNode(this.master),
      successor === null ? true : deps.pingNode(successor),
    ]);
    let result: TickResult;
    if (this.master === null) {
      // The head makes sure the record names it (a claim that failed half-way is retried here).
      const head = (await deps.registry.get(HEAD_RECORD))?.value;
      if (head !== cfg.self) await this.claimHead();
      result = 'head';
    } else {
      result = await this.checkMaster(chain, masterUp, now);
      if (result === 'failover' || result === 'aborted') return result;
    }
    if (successor !== null && (await this.checkTail(chain, successor, tailUp, now))) return 'tail-removed';
    return result;
  }

  /** Replicates from `predecessor` (null: becomes the head) because the chain record says so. */
  private async attach(predecessor: string | null): Promise<void> {
    const { deps } = this;
    const was = this.master;
    await deps.local.replicaOf(predecessor);
    this.master = predecessor;
    this.masterWatch = null;
    this.deferredLogged = false;
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
  }

  private async checkMaster(chain: string[], up: boolean, now: number): Promise<TickResult> {
    const { deps, cfg } = this;
    const master = this.master!;
    if (this.masterWatch?.node !== master) this.masterWatch = watchOf(master);
    const w = this.masterWatch;
    if (up) {
      if (w.downSince !== null) deps.emit('master-reachable-again', { master, downForMs: now - w.downSince });
      w.seenUp = true;
      w.downSince = null;
      w.withheldLogged = false;
      this.deferredLogged = false;
      return 'healthy';
    }
    if (w.downSince === null) {
      w.downSince = now;
      deps.emit('master-unreachable', { master });
    }
    const downForMs = now - w.downSince;
    if (downForMs < cfg.thresholdMs) return 'suspect';
    if (await deps.local.syncInProgress()) {
      if (!this.deferredLogged) deps.emit('failover-deferred', { master, reason: 'sync in progress' });
      this.deferredLogged = true;
      return 'deferred';
    }
    const seen = await this.visibility(chain, master, w.seenUp);
    if (!seen.ok) {
      if (!w.withheldLogged)
        deps.emit('failover-withheld', { master, downForMs, reason: seen.reason, chain });
      w.withheldLogged = true;
      return 'withheld';
    }
    return this.failover(master, downForMs, seen.witness);
  }

  /** Watches the successor that is the tail; true when it removed it from the chain. */
  private async checkTail(chain: string[], tail: string, up: boolean, now: number): Promise<boolean> {
    const { deps, cfg } = this;
    if (this.tailWatch?.node !== tail) this.tailWatch = watchOf(tail);
    const w = this.tailWatch;
    if (up) {
      if (w.downSince !== null)
        deps.emit('replica-reachable-again', { replica: tail, downForMs: now - w.downSince });
      w.seenUp = true;
      w.downSince = null;
      w.withheldLogged = false;
      return false;
    }
    if (w.downSince === null) {
      w.downSince = now;
      deps.emit('replica-unreachable', { replica: tail });
    }
    const downForMs = now - w.downSince;
    if (downForMs < cfg.thresholdMs) return false;
    const seen = await this.visibility(chain, tail, w.seenUp);
    if (!seen.ok) {
      if (!w.withheldLogged)
        deps.emit('tail-removal-withheld', { tail, downForMs, reason: seen.reason, chain });
      w.withheldLogged = true;
      return false;
    }
    return this.removeTail(tail, downForMs, seen.witness);
  }

  /**
   * May this node declare `dead` dead? Only if it reaches another chain member (not itself, not
   * `dead`): the member that answered is the witness. In a chain of just the two of them there is
   * nobody to ask; then only if `dead` answered since this node attached to it or began watching it.
   */
  private async visibility(chain: string[], dead: string, seenUp: boolean): Promise<Visibility> {
    const { deps, cfg } = this;
    const others = chain.filter((n) => n !== cfg.self && n !== dead);
    if (others.length === 0) {
      if (seenUp) return { ok: true, witness: null };
      return { ok: false, reason: `2-node chain and ${dead} never answered since this node attached to it` };
    }
    const answers = await Promise.all(others.map((n) => deps.pingNode(n)));
    const witness = others.find((_, i) => answers[i]);
    if (witness !== undefined) return { ok: true, witness };
    return {
      ok: false,
      reason: `no other chain member answers (${others.join(', ')}): this node may be the one cut off`,
    };
  }

  private async failover(dead: string, downForMs: number, witness: string | null): Promise<TickResult> {
    const { deps, cfg } = this;
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const current = decodeChain(rec?.value);
      const at = current.indexOf(cfg.self);
      if (at < 1 || current[at - 1] !== dead) {
        // Someone changed the chain since this check read it: the next check starts afresh.
        deps.emit('failover-aborted', { deadMaster: dead, chain: current, reason: 'the chain changed' });
        return 'aborted';
      }
      const chain = current.filter((n) => n !== dead);
      const newMaster = at === 1 ? null : chain[at - 2]!;
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(chain), 0, rec?.version ?? 0))) continue;
      deps.emit('failover-decision', { deadMaster: dead, downForMs, newMaster, chain, witness });
      await deps.local.replicaOf(newMaster);
      this.master = newMaster;
      this.masterWatch = null;
      this.deferredLogged = false;
      if (newMaster === null) {
        deps.emit('became-head', { previousHead: dead });
        await this.claimHead();
      } else {
        deps.emit('reattached', { from: dead, to: newMaster });
      }
      return 'failover';
    }
  }

  /** Removes `tail` from the chain if it is still this node's successor and the tail. */
  private async removeTail(tail: string, downForMs: number, witness: string | null): Promise<boolean> {
    const { deps, cfg } = this;
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const current = decodeChain(rec?.value);
      const at = current.indexOf(cfg.self);
      if (at < 0 || at !== current.length - 2 || current[at + 1] !== tail) {
        deps.emit('tail-removal-aborted', { tail, chain: current, reason: 'the chain changed' });
        return false;
      }
      const chain = current.slice(0, -1);
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(chain), 0, rec?.version ?? 0))) continue;
      deps.emit('removed-dead-tail', { tail, downForMs, chain, witness });
      this.tailWatch = null;
      return true;
    }
  }

  /**
   * This node is not in the chain record: others declared it dead while it was frozen or cut
   * off (or removed it as a dead tail). It stops taking writes at once and rejoins at the tail
   * once it can reach that tail.
   */
  private async outsideChain(chain: string[], version: number): Promise<TickResult> {
    const { deps, cfg } = this;
    const now = deps.wallNow();
    if (this.outside === null) {
      this.outside = { since: now, withheldLogged: false };
      this.masterWatch = null;
      this.tailWatch = null;
      deps.emit('removed-from-chain', { chain });
    }
    const tail = chain.at(-1);
    if (tail === undefined) {
      // Nobody is left in the chain: this node starts it again, as the head.
      if (!(await deps.registry.set(CHAIN_RECORD, cfg.self, 0, version))) return 'aborted';
      await deps.local.replicaOf(null);
      this.master = null;
      this.outside = null;
      deps.emit('rejoined', { master: null, chain: [cfg.self] });
      await this.claimHead();
      return 'rejoined';
    }
    if (this.master !== tail) {
      const was = this.master;
      await deps.local.replicaOf(tail);
      this.master = tail;
      if (was === null) {
        deps.emit('stepped-down', { replicaOf: tail, chain, reason: 'removed from the chain' });
      } else {
        deps.emit('reattached', { from: was, to: tail, reason: 'outside the chain: follows its tail' });
      }
    }
    if (!(await deps.pingNode(tail))) {
      if (!this.outside.withheldLogged)
        deps.emit('rejoin-withheld', { tail, chain, reason: 'the tail does not answer PING' });
      this.outside.withheldLogged = true;
      return 'rejoin-withheld';
    }
    const next = [...chain, cfg.self];
    // The chain changed since this check read it: the next check starts afresh.
    if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(next), 0, version))) return 'aborted';
    deps.emit('rejoined', { master: tail, chain: next, outsideForMs: now - this.outside.since });
    this.outside = null;
    return 'rejoined';
  }

  /**
   * Points the head record at this node, with a conditional write on the version read, and only
   * if the chain record, read after the head record, still has this node first. A node that
   * read the chain before a freeze cannot take the head back: whoever replaced it wrote the chain
   * before the head record, so either this read of the chain shows it, or the head record moved
   * after this node read it and the conditional write fails.
   */
  private async claimHead(): Promise<boolean> {
    const { deps, cfg } = this;
    for (;;) {
      const rec = await deps.registry.get(HEAD_RECORD);
      if (rec?.value === cfg.self) return true;
      const chain = decodeChain((await deps.registry.get(CHAIN_RECORD))?.value);
      if (chain[0] !== cfg.self) {
        deps.emit('head-claim-withheld', {
          head: rec?.value ?? null,
          chain,
          reason: 'not first in the chain',
        });
        return false;
      }
      if (await deps.registry.set(HEAD_RECORD, cfg.self, cfg.headTtlMs, rec?.version ?? 0)) {
        deps.emit('head-record-moved', { from: rec?.value ?? null, to: cfg.self, ttlMs: cfg.headTtlMs });
        return true;
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
