import { LeaseKeeper } from '../../agents/lease.ts';
import type { Registry } from '../../core/registry.ts';
import { CHAIN_RECORD, HEAD_RECORD, LEADER_LEASE, decodeChain, encodeChain } from './records.ts';

/**
 * The Redis chain agent. It runs beside one redis-server (same network namespace; they die
 * together) and keeps the chain head -> ... -> tail healed. The chain record (written only with
 * conditional writes) says where each node replicates from; the head's **lease** in the registry
 * (`redis-leader`, as Patroni's leader key) says who may take writes. Each check the agent reads
 * the chain record and acts:
 *
 * - **The head holds the lease** and renews it every check, but only while its own redis answers
 *   PING (a head whose disk is frozen answers nothing, and must let the lease run out). The lease
 *   is `thresholdMs` long (the failover threshold). The head makes sure the head record names it.
 * - **Nobody takes over while the lease runs.** A node whose master is the head does not fail
 *   over while the head's lease runs, whatever link is cut: with the head cut off from its second
 *   only, or from every replica, the head keeps its clients and its lease, the replicas withhold
 *   (`failover-withheld`, once per episode, naming the holder), and they catch up when the network
 *   heals. Nothing it acknowledged is lost, and the head does not move.
 * - **A head that cannot renew fences itself.** The lease keeper (agents/lease.ts) counts the
 *   lease from before each renewal was sent, minus `leaseMarginMs` (clock drift, and the time the
 *   fence takes); when that deadline passes without a renewal, a timer (not the agent's loop, which
 *   may hang on the registry) fences the local redis: `REPLICAOF 127.0.0.2 1`, a placeholder where
 *   nothing answers, over a connection of its own. From the moment Redis runs that command every
 *   write gets READONLY, so none is acknowledged, and the data stays (a replica drops its data
 *   only when a sync succeeds). `CLIENT PAUSE WRITE` would not do: it holds writes and runs them
 *   when the pause ends, and it ends by itself. The event is `fenced-self` (how long it held the
 *   lease, how long since its last renewal). The head has thus stopped acknowledging before the
 *   registry lets anyone else take the lease. A head that finds the lease held by another node
 *   fences at once.
 * - **A fenced head that holds the lease again** (the registry answers again, its redis answers
 *   again) decides afresh: it re-reads the chain record after taking the lease, and resumes
 *   (`fence-lifted`, saying whether the term was the same: continuity, nobody led in between) only
 *   if the record still names it first. Otherwise someone took over: it follows the chain record
 *   (outside the chain, it rejoins at the tail). A renewal answered with another term than the one
 *   held means the lease lapsed in between (the timer came late, or the registry's clock ran
 *   ahead): the head fences at once and decides afresh the same way.
 * - **Its master dies.** When the master has been unreachable for `thresholdMs` (and no sync is
 *   in progress) it removes the master from the chain and re-attaches to its grand-master or, if
 *   the master was the head, becomes the head. The head's successor does so only once the head's
 *   lease has run out (`getLease`: none, or `remainingMs <= 0`), and it takes the lease
 *   (`acquireLease`) before it writes the chain record, then runs `REPLICAOF NO ONE` only while it
 *   holds the lease, and moves the head record. A redis is thus a master only while its agent
 *   holds the lease. A dead head's lease runs out at most `thresholdMs` after its last renewal,
 *   which comes before the successor's own threshold is up: the lease adds nothing to a failover.
 * - **Join** at the tail: the agent first points its redis at the current tail (a restarted node
 *   is an empty standalone master, and from this REPLICAOF on it refuses writes with READONLY),
 *   gives back any lease it held in an earlier life, then, once that tail answers PING, appends
 *   itself to the chain record. On an empty chain it takes the lease and becomes the head. It
 *   never claims the head while the chain has members: it joins behind them.
 * - **Its replica, the tail, dies.** A node whose successor is the tail watches it the same way
 *   and, after the threshold, removes it from the chain (`removed-dead-tail`). A middle node's
 *   death is its successor's business (the failover above), so exactly one agent acts per death.
 * - **Visibility rule** before removing an unreachable master or tail: this node must reach at
 *   least one other chain member (neither itself nor the node it would remove). A node that sees
 *   nobody may be the one cut off, and removing the others would hand the head to the wrong side
 *   of a partition. The only exception is a 2-node chain (just the two of them), where there is
 *   no third member to ask: there it acts if it has seen the other node answer since it attached
 *   to (or started watching) it. Otherwise it withholds (`failover-withheld` /
 *   `tail-removal-withheld`, once per episode). In a 2-node chain cut in two the head removes its
 *   tail and the tail withholds while the head's lease runs; the tail steps down.
 * - **Outside the chain** (declared dead while frozen or cut off): the agent steps down at once
 *   (REPLICAOF, so its redis refuses writes; `stepped-down` if it was a master), gives its lease
 *   back, and rejoins at the tail only once it can reach that tail (`rejoin-withheld`, once, while
 *   it cannot). A node that cannot see the chain thus never keeps or takes the head.
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
 * Measured on the local stack (defaults: lease 1000 ms, margin 250 ms, check 100 ms, 2-core
 * machine): `redis-link-cut` and `redis-head-partition` lose nothing and keep their head (1332
 * and 2851 writes lost, one leader change, before the lease); a head cut off from its replicas
 * and the registry (test/fixtures/redis-head-isolated.yaml) fenced itself 749-750 ms after its
 * last renewal, the registry let the lease go 934-1017 ms after the cut, the second promoted at
 * 1.36-1.51 s, and 778-1482 writes at 2000/s were lost, none acknowledged by a former leader;
 * `redis-head-kill` failed over in 1.27-1.88 s (1.35-1.86 s before the lease), the lease having
 * run out 0.91-0.99 s after the kill, before the second's own threshold was up.
 *
 * The fence lives in the agent: a head whose agent is dead (killed, restarting) cannot fence, so
 * its redis keeps taking writes until the agent is back, and a second that cannot reach it takes
 * over once the lease has run out (Patroni guards against this with a watchdog that reboots the
 * node; nothing here does).
 *
 * Every decision is emitted as an event stamped with the wall clock.
 */
export interface LocalRedis {
  /** Does the local server answer PING (quickly: a head must not renew while it hangs)? */
  ping(): Promise<boolean>;
  /**
   * Whom the local server replicates from now: a host, null when it is a master, undefined
   * when it cannot say. A server restarted under the agent (its process killed and started again
   * by its supervisor) comes back empty, replicating from a placeholder (BOOT_HOST).
   */
  master(): Promise<string | null | undefined>;
  /** The local server's run id (INFO server): a new one after every restart of the server. */
  runId(): Promise<string | undefined>;
  /** REPLICAOF host port, or REPLICAOF NO ONE when host is null. */
  replicaOf(host: string | null): Promise<void>;
  /**
   * Stops the local server acknowledging writes at once, keeping its data: REPLICAOF FENCE_HOST.
   * A server booting read-only after a restart (a replica of BOOT_HOST) is left as it is: it
   * refuses writes already, and the agent must still see that it restarted. Only ever reaches the
   * server running now (never one started after the call).
   */
  fence(): Promise<void>;
  syncInProgress(): Promise<boolean>;
}

/** Where a fenced redis replicates from: nothing answers there, so it refuses writes and keeps its data. */
export const FENCE_HOST = '127.0.0.2';
/** Where a redis replicates from when it boots (plan.ts): read-only until its agent places it. */
export const BOOT_HOST = '127.0.0.1';

export interface AgentConfig {
  self: string;
  thresholdMs: number;
  checkIntervalMs: number;
  headTtlMs: number;
  /** The head's lease: a head unrenewed this long may be replaced (the failover threshold). */
  leaseTtlMs: number;
  /** Taken off the lease by the head on its own clock: clock drift, and the time its fence takes. */
  leaseMarginMs: number;
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
  /** The agent's clock (ms); the lease's deadline is counted on it. */
  wallNow(): number;
  sleep(ms: number): Promise<void>;
  /**
   * Returns once the record is at another version than `version`, or after `waitMs` (a registry
   * that can hold a request until a record changes); without it, the join polls.
   */
  awaitChange?(name: string, version: number, waitMs: number): Promise<void>;
  /** Runs `fn` after `ms`, whatever the agent's loop is doing (the lease's deadline); returns its cancel. */
  setTimer(fn: () => void, ms: number): () => void;
  emit(type: string, data?: Record<string, unknown>): void;
}

export type TickResult =
  | 'local-restarted'
  | 'head'
  | 'fenced'
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
  /** The withheld event for the head's lease was emitted in this episode. */
  leaseLogged: boolean;
}

/** This node is first in the chain record but its redis refuses writes: it holds no lease. */
interface Fence {
  since: number;
  reason: string;
  /** The lease term it held when it fenced, if any: the same term again means nobody led since. */
  term: number | null;
  /** It was taking writes (a head that fenced itself); false: it never got the lease as head. */
  wasHead: boolean;
  /** The fence's REPLICAOF, until it has run. */
  done: Promise<void>;
}

type Visibility = { ok: true; witness: string | null } | { ok: false; reason: string };

const watchOf = (node: string): Watch => ({
  node,
  seenUp: false,
  downSince: null,
  withheldLogged: false,
  leaseLogged: false,
});

export class ChainAgent {
  /** The node this one replicates from; null while it heads the chain (fenced or not). */
  master: string | null = null;
  private masterWatch: Watch | null = null;
  private tailWatch: Watch | null = null;
  private deferredLogged = false;
  /** Set while this node is outside the chain record. */
  private outside: { since: number; withheldLogged: boolean; released: boolean } | null = null;
  /** Set while this node heads the chain record without taking writes. */
  private fenced: Fence | null = null;
  /** The lease term this node last held. */
  private term: number | null = null;
  /** The head's renewal troubles already reported in this episode. */
  private renewal = { failing: false, unhealthy: false };
  private readonly lease: LeaseKeeper;
  private stopped = false;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.lease = new LeaseKeeper(
      { name: LEADER_LEASE, holder: cfg.self, ttlMs: cfg.leaseTtlMs, marginMs: cfg.leaseMarginMs },
      {
        registry: deps.registry,
        now: () => deps.wallNow(),
        setTimer: deps.setTimer,
        onLost: (info) => this.leaseLost(info),
      },
    );
  }

  /** Whether this node takes writes now: it heads the chain, unfenced, within its lease. */
  get leading(): boolean {
    return this.master === null && this.outside === null && this.fenced === null && this.lease.holds();
  }

  async join(): Promise<void> {
    const { deps, cfg } = this;
    const timeout = cfg.joinTimeoutMs ?? 30_000;
    const deadline = deps.wallNow() + timeout;
    // The chain record as the registry has it; a read that fails (the registry still booting, or
    // slow to answer on a loaded machine) is asked again every 25 ms until the join's deadline:
    // only a read, so asking again changes nothing.
    const readChain = async () => {
      for (;;) {
        try {
          return await deps.registry.get(CHAIN_RECORD);
        } catch (err) {
          if (deps.wallNow() > deadline)
            throw new Error(`the registry did not answer within ${timeout} ms: ${String(err)}`);
          await deps.sleep(25);
        }
      }
    };
    // The agent starts beside its server and the registry while they boot (the plan starts it
    // early): it waits for both at once, asking each every 25 ms.
    await Promise.all([
      (async () => {
        while (!(await deps.local.ping())) {
          if (deps.wallNow() > deadline)
            throw new Error(`local redis did not answer PING within ${timeout} ms`);
          await deps.sleep(25);
        }
      })(),
      readChain(),
    ]);
    // An agent that restarted beside a server that kept running (the same run id as when it
    // joined) finds itself in the chain, its server where the chain says: it resumes there
    // instead of moving to the tail. A server that restarted too is empty: it rejoins at the tail.
    {
      const chain = decodeChain((await readChain())?.value);
      const at = chain.indexOf(cfg.self);
      if (at >= 0) {
        const predecessor = at === 0 ? null : chain[at - 1]!;
        const sameServer = cfg.resumeRunId !== undefined && (await deps.local.runId()) === cfg.resumeRunId;
        const local = sameServer ? await deps.local.master() : undefined;
        if (sameServer && local === predecessor) {
          this.master = predecessor;
          if (predecessor === null) await this.resumeHead();
          deps.emit('resumed', { master: predecessor, chain, ...(this.fenced ? { fenced: true } : {}) });
          return;
        }
        if (sameServer && at === 0 && local === FENCE_HOST) {
          // It had fenced itself as the head: it heads the chain, fenced, until it holds the lease again.
          this.master = null;
          this.fenced = {
            since: deps.wallNow(),
            reason: 'its agent restarted while it was fenced',
            term: null,
            wasHead: true,
            done: Promise.resolve(),
          };
          deps.emit('resumed', { master: null, chain, fenced: true });
          return;
        }
      }
    }
    let following: string | undefined;
    let withheldLogged = false;
    let released = false;
    for (;;) {
      const rec = await readChain();
      const others = decodeChain(rec?.value).filter((n) => n !== cfg.self);
      if (cfg.joinIndex !== undefined && others.length < cfg.joinIndex) {
        if (deps.wallNow() > deadline)
          throw new Error(`the chain did not reach ${cfg.joinIndex} members to join after`);
        // Woken by the chain record's next change (the node before it joining), else every 25 ms.
        if (deps.awaitChange)
          await deps.awaitChange(CHAIN_RECORD, rec?.version ?? 0, 1000).catch(() => deps.sleep(25));
        else await deps.sleep(25);
        continue;
      }
      const tail = others.at(-1) ?? null;
      if (tail !== null) {
        // Read-only before anything else: a restarted node is an empty master until this.
        if (following !== tail) {
          await deps.local.replicaOf(tail);
          following = tail;
        }
        // A lease this node held in an earlier life goes back now that its redis refuses writes:
        // the next head need not wait for it to run out.
        if (!released) {
          await this.lease.release();
          released = true;
        }
        if (!(await deps.pingNode(tail))) {
          if (!withheldLogged)
            deps.emit('join-withheld', { tail, chain: others, reason: 'the tail does not answer PING' });
          withheldLogged = true;
          await deps.sleep(cfg.checkIntervalMs);
          continue;
        }
      } else {
        // An empty chain: this node starts it, as its head, with the lease in hand first.
        const r = await this.lease.renew();
        if (r.status !== 'held') {
          if (!withheldLogged) deps.emit('join-withheld', { tail: null, chain: [], reason: refusal(r) });
          withheldLogged = true;
          await deps.sleep(cfg.checkIntervalMs);
          continue;
        }
        this.term = r.lease.term;
      }
      const next = [...others, cfg.self];
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(next), 0, rec?.version ?? 0))) continue;
      this.master = tail;
      if (tail === null) {
        const took = await this.takeHead();
        if (took) await this.claimHead();
        deps.emit('joined-as-head', { chain: next, ...(took ? {} : { fenced: true }) });
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
    if (this.fenced) await this.fenced.done;
    // The local server restarted under this agent: it is empty and no longer where the chain
    // says. It leaves the chain (a head hands over to its successor) and rejoins at the tail.
    const local = await deps.local.master();
    if (this.fenced && local === null) {
      // The fence did not take (its connection failed): again, before anything else.
      deps.emit('fence-retried', { reason: this.fenced.reason });
      this.fenced.done = deps.local.fence();
      await this.fenced.done;
    } else if (local !== undefined && local !== (this.fenced ? FENCE_HOST : this.master)) {
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
    const [masterUp, tailUp, localUp] = await Promise.all([
      this.master === null ? true : deps.pingNode(this.master),
      successor === null ? true : deps.pingNode(successor),
      this.master === null ? deps.local.ping() : true,
    ]);
    let result: TickResult;
    if (this.master === null) {
      result = await this.lead(localUp);
      // A fenced head changes nothing in the chain: it may be the one cut off.
      if (result === 'fenced') return result;
    } else {
      result = await this.checkMaster(chain, masterUp, now);
      if (result === 'failover' || result === 'aborted') return result;
    }
    if (successor !== null && (await this.checkTail(chain, successor, tailUp, now))) return 'tail-removed';
    return result;
  }

  /**
   * The head's part of a check: it renews the lease while its redis answers, fences when another
   * node holds the lease or the lease lapsed, and resumes once it holds the lease again and the
   * chain record, read after that, still names it first.
   */
  private async lead(localUp: boolean): Promise<TickResult> {
    const { deps, cfg } = this;
    if (!localUp) {
      // Its redis does not answer (a frozen disk, a hang): the lease runs out and the second takes over.
      if (!this.renewal.unhealthy)
        deps.emit('lease-renewal-withheld', {
          reason: 'the local redis does not answer PING',
          leaseLeftMs: round(this.lease.leftMs()),
        });
      this.renewal.unhealthy = true;
      return this.fenced ? 'fenced' : 'head';
    }
    this.renewal.unhealthy = false;
    const r = await this.lease.renew();
    if (r.status === 'error') {
      // The deadline's timer fences this node if no renewal succeeds before it.
      if (!this.renewal.failing)
        deps.emit('lease-renewal-failed', { error: r.error, leaseLeftMs: round(this.lease.leftMs()) });
      this.renewal.failing = true;
      return this.fenced ? 'fenced' : 'head';
    }
    this.renewal.failing = false;
    if (r.status === 'refused') {
      // Another node holds the lease: it is taking over and writes the chain record next. No
      // writes here meanwhile; the next checks follow the chain record.
      await this.fence(`the lease is held by ${r.holder ?? 'another node'}`, this.fenced?.wasHead ?? true);
      return 'fenced';
    }
    const term = r.lease.term;
    if (!r.continuous && this.fenced === null) {
      // Not the term it held, or held past its deadline without the timer firing first (it came
      // late, or the registry's clock ran ahead): another node may have led meanwhile.
      await this.fence('the lease lapsed between two renewals', true, { heldTerm: this.term, term });
    }
    const fenced = this.fenced;
    if (fenced) {
      // Decide afresh, with the lease in hand: a takeover writes the chain record while it holds
      // the lease, so a chain record read now that still names this node first means nobody took
      // over (or gave up before REPLICAOF NO ONE).
      const chain = decodeChain((await deps.registry.get(CHAIN_RECORD))?.value);
      this.term = term;
      if (chain[0] !== cfg.self) return 'fenced';
      if (!(await this.takeHead())) return 'fenced';
      deps.emit(fenced.wasHead ? 'fence-lifted' : 'became-head', {
        term,
        continuous: fenced.term === term,
        fencedForMs: Math.round(deps.wallNow() - fenced.since),
        reason: fenced.reason,
      });
    }
    this.term = term;
    // The head makes sure the record names it (a claim that failed half-way is retried here).
    const head = (await deps.registry.get(HEAD_RECORD))?.value;
    if (head !== cfg.self) await this.claimHead();
    return 'head';
  }

  /** The lease keeper's deadline passed without a renewal: a head stops taking writes now. */
  private leaseLost(info: { heldForMs: number; lastRenewedAgoMs: number }): void {
    // Only the head has writes to stop (a node outside the chain has stepped down already).
    if (this.master !== null || this.outside !== null) return;
    void this.fence('no lease renewal before its deadline', true, info);
  }

  /**
   * Fences the local redis (LocalRedis.fence): this node stays first in the chain record, taking
   * no writes, until it holds the lease again. `fenced-self` once the fence has run, for a head
   * that was taking writes; `head-withheld` for a node that never got the lease.
   */
  private fence(reason: string, wasHead: boolean, data: Record<string, unknown> = {}): Promise<void> {
    const { deps, cfg } = this;
    if (this.fenced) return this.fenced.done;
    const since = deps.wallNow();
    const done = deps.local.fence().then(
      () => {
        const info = {
          reason,
          ...data,
          fenceTookMs: Math.round(deps.wallNow() - since),
          leaseTtlMs: cfg.leaseTtlMs,
          leaseMarginMs: cfg.leaseMarginMs,
        };
        deps.emit(wasHead ? 'fenced-self' : 'head-withheld', info);
      },
      (err: unknown) => deps.emit('fence-failed', { reason, error: String(err) }),
    );
    this.fenced = { since, reason, term: this.term, wasHead, done };
    return done;
  }

  /**
   * REPLICAOF NO ONE, only while the lease is held: the deadline check and the command leave in
   * one turn of the event loop, so a fence from the lease's timer can only come after it. When
   * the lease ran out first, this node is fenced instead (first in the chain, waiting for the
   * lease); false then.
   */
  private async takeHead(): Promise<boolean> {
    const { deps } = this;
    await this.fenced?.done;
    this.master = null;
    if (!this.lease.holds()) {
      await this.fence('the lease ran out before it could take writes', false);
      return false;
    }
    const promoted = deps.local.replicaOf(null);
    this.fenced = null;
    await promoted;
    return true;
  }

  /** Takes the lease back beside a server that kept running as the head; fenced when it cannot. */
  private async resumeHead(): Promise<void> {
    const r = await this.lease.renew();
    if (r.status === 'held') {
      this.term = r.lease.term;
      await this.claimHead();
      return;
    }
    await this.fence(`resumed without the lease: ${refusal(r)}`, true);
  }

  /** Replicates from `predecessor` (null: becomes the head) because the chain record says so. */
  private async attach(predecessor: string | null): Promise<void> {
    const { deps } = this;
    const was = this.master;
    this.masterWatch = null;
    this.deferredLogged = false;
    if (predecessor === null) {
      // First in the chain because the node before it left: it takes writes only with the lease.
      this.master = null;
      const r = await this.lease.renew();
      if (r.status === 'held') this.term = r.lease.term;
      else await this.fence(`first in the chain, but ${refusal(r)}`, false);
      if (r.status === 'held' && (await this.takeHead())) {
        deps.emit('became-head', { previousMaster: was, reason: 'first in the chain' });
        await this.claimHead();
      }
      return;
    }
    await this.fenced?.done;
    await deps.local.replicaOf(predecessor);
    this.master = predecessor;
    this.fenced = null;
    if (was === null) await this.lease.release();
    deps.emit(was === null ? 'demoted' : 'reattached', {
      from: was,
      to: predecessor,
      reason: 'chain changed',
    });
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
      w.leaseLogged = false;
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
    if (chain[0] === master) {
      // The master is the head: nobody replaces it while its lease runs, whatever link is cut.
      const lease = await deps.registry.getLease(LEADER_LEASE);
      if (lease && lease.remainingMs > 0 && lease.holder !== cfg.self) {
        if (!w.leaseLogged)
          deps.emit('failover-withheld', {
            master,
            downForMs,
            reason: `the head's lease runs: ${lease.holder} holds it (term ${lease.term}) for ${Math.round(lease.remainingMs)} ms more`,
            chain,
          });
        w.leaseLogged = true;
        return 'withheld';
      }
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
    let term: number | null = null;
    const giveUp = async (chain: string[], reason: string): Promise<TickResult> => {
      if (term !== null) await this.lease.release();
      deps.emit('failover-aborted', { deadMaster: dead, chain, reason });
      return 'aborted';
    };
    for (;;) {
      const rec = await deps.registry.get(CHAIN_RECORD);
      const current = decodeChain(rec?.value);
      const at = current.indexOf(cfg.self);
      // Someone changed the chain since this check read it: the next check starts afresh.
      if (at < 1 || current[at - 1] !== dead) return giveUp(current, 'the chain changed');
      const chain = current.filter((n) => n !== dead);
      const newMaster = at === 1 ? null : chain[at - 2]!;
      if (newMaster === null && term === null) {
        // The head's successor takes the lease before it writes anything.
        const r = await this.lease.renew();
        if (r.status !== 'held') return giveUp(current, refusal(r));
        term = r.lease.term;
        this.term = term;
      }
      if (!(await deps.registry.set(CHAIN_RECORD, encodeChain(chain), 0, rec?.version ?? 0))) continue;
      deps.emit('failover-decision', {
        deadMaster: dead,
        downForMs,
        newMaster,
        chain,
        witness,
        ...(term === null ? {} : { leaseTerm: term }),
      });
      this.masterWatch = null;
      this.deferredLogged = false;
      if (newMaster === null) {
        // Fenced instead when the lease ran out in between: the next checks take it again.
        if (await this.takeHead()) {
          deps.emit('became-head', { previousHead: dead });
          await this.claimHead();
        }
      } else {
        await deps.local.replicaOf(newMaster);
        this.master = newMaster;
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
   * off (or removed it as a dead tail). It stops taking writes at once, gives its lease back and
   * rejoins at the tail once it can reach that tail.
   */
  private async outsideChain(chain: string[], version: number): Promise<TickResult> {
    const { deps, cfg } = this;
    const now = deps.wallNow();
    if (this.outside === null) {
      this.outside = { since: now, withheldLogged: false, released: false };
      this.masterWatch = null;
      this.tailWatch = null;
      deps.emit('removed-from-chain', { chain });
    }
    const tail = chain.at(-1);
    if (tail === undefined) {
      // Nobody is left in the chain: this node starts it again, as the head, with the lease first.
      const r = await this.lease.renew();
      if (r.status !== 'held') {
        if (!this.outside.withheldLogged)
          deps.emit('rejoin-withheld', { tail: null, chain, reason: refusal(r) });
        this.outside.withheldLogged = true;
        return 'rejoin-withheld';
      }
      this.term = r.lease.term;
      if (!(await deps.registry.set(CHAIN_RECORD, cfg.self, 0, version))) {
        await this.lease.release();
        return 'aborted';
      }
      this.outside = null;
      const took = await this.takeHead();
      deps.emit('rejoined', { master: null, chain: [cfg.self], ...(took ? {} : { fenced: true }) });
      if (took) await this.claimHead();
      return 'rejoined';
    }
    if (this.master !== tail || this.fenced) {
      const was = this.master;
      const fenced = this.fenced !== null;
      await this.fenced?.done;
      await deps.local.replicaOf(tail);
      this.master = tail;
      this.fenced = null;
      if (was === null) {
        deps.emit('stepped-down', {
          replicaOf: tail,
          chain,
          reason: 'removed from the chain',
          ...(fenced ? { fenced: true } : {}),
        });
      } else {
        deps.emit('reattached', { from: was, to: tail, reason: 'outside the chain: follows its tail' });
      }
    }
    if (!this.outside.released) {
      // Its redis refuses writes now: whatever lease it still held goes back at once.
      await this.lease.release();
      this.outside.released = true;
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

/** Why a lease was not granted, in words. */
function refusal(
  r: { status: 'refused'; holder: string | null } | { status: 'error'; error: string },
): string {
  return r.status === 'refused'
    ? `the lease is held by ${r.holder ?? 'another node'}`
    : `the registry did not grant the lease: ${r.error}`;
}

const round = (n: number | null): number | null => (n === null ? null : Math.round(n));
