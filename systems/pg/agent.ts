import { LeaseKeeper } from '../../agents/lease.ts';
import type { Lease, Registry } from '../../core/registry.ts';
import { LEADER_LEASE, WRITER_RECORD } from './records.ts';

/**
 * The promotion agent. It runs beside one Postgres node (same network namespace, a shared
 * /control folder with the node's supervisor script; they die together) and carries out the
 * failover of streaming replication, the way Patroni does it: leadership is a **lease** in the
 * registry (`pg-leader`), and the writer record (`pg-writer`) is where clients find the leader.
 *
 * - **The primary holds the lease** and renews it every check, but only while its own server
 *   commits (a transaction committed locally: a primary whose disk is frozen answers queries but
 *   commits nothing, and must not keep the lease). It makes sure the writer record names it.
 * - **Nobody promotes while the lease runs.** A standby that cannot reach the primary, or a
 *   primary cut off from its standbys, changes nothing as long as the primary renews its lease:
 *   the primary keeps serving its clients and the standbys catch up when the network heals.
 * - **A primary that cannot renew fences itself.** The lease keeper (agents/lease.ts) counts
 *   the lease from before each renewal was sent, minus a margin for clock drift and for the fence
 *   to take effect; when that deadline passes without a renewal, a timer (not the agent's loop,
 *   which may hang on the registry) has the supervisor stop the server at once (`pg_ctl stop -m
 *   immediate`: no checkpoint, no disk write, so it works on a frozen disk too; a backend blocked
 *   on the disk dies when it thaws, before it can answer). The server comes back only in the role
 *   the agent gives it. So the old primary has stopped acknowledging before anyone can take the
 *   lease. A primary that finds the lease held by another node is fenced and demoted at once.
 * - **Once the lease has run out**, the best standby promotes: its position is the larger of the
 *   WAL it received and the WAL it replayed (a standby that restarted without a primary to stream
 *   from reports as received only the start of its current segment); it defers to any standby
 *   ahead of it (ties go to the lower name). It must see other standbys: with asynchronous
 *   replication at least one (a standby cut off from everyone may be the one cut off); with
 *   **synchronous** replication every other standby (under `ANY 1` a commit may be on one standby
 *   only, so only a standby that compared itself with all of them knows it holds every
 *   acknowledged commit: otherwise it waits, and availability is lost instead of data). Then it
 *   takes the lease, asks for promotion (`pg_promote(false)`, whose answer is checked), and once
 *   its server runs as a primary it moves the writer record (a conditional write). A promotion
 *   that does not finish within `promoteTimeoutMs` gives the lease back.
 * - A standby follows the lease holder (`ALTER SYSTEM SET primary_conninfo`, a reload), and is
 *   rewound onto it when it cannot stream from it.
 * - After a restart (a power loss, a fence) the supervisor waits for the agent's word: the role
 *   comes from the lease and the writer record, so an old primary never comes back as a primary
 *   unless it takes the lease again with the writer record still naming it (nobody promoted).
 *   While its server is down the agent writes the role on every check, not once: a supervisor
 *   that boots clears what an earlier life left there, and must not wait for ever on a word
 *   the agent believes it gave (systems/pg/control.ts).
 * - With `promotion: manual` the agent never takes the lease: an operator's runbook does.
 *
 * Every decision is emitted as an event stamped with the wall clock.
 */
export interface LocalPg {
  /** true: primary; false: standby; null: the local server does not answer. */
  isPrimary(): Promise<boolean | null>;
  /** Whether the local server commits a transaction (locally) within the ping timeout. */
  commits(): Promise<boolean>;
  /** The host its primary_conninfo names, or null. */
  followedHost(): Promise<string | null>;
  /** Whether its WAL receiver is streaming from that host now. */
  streaming(): Promise<boolean>;
  /** Its WAL position: the larger of received and replayed, or null. */
  position(): Promise<bigint | null>;
  repoint(host: string): Promise<void>;
  /** Asks the server to promote (`pg_promote(false)`); false when it refused. */
  promote(): Promise<boolean>;
  /** New transactions read-only, client sessions ended: it can acknowledge no more writes. */
  fence(): Promise<void>;
}

export interface PgAgentConfig {
  self: string;
  /** Every node of the system, this one included. */
  peers: string[];
  /** The lease: how long a primary that stopped renewing keeps the lead. */
  leaseMs: number;
  /** Taken off the lease by its holder: clock drift and the time the fence takes. */
  leaseMarginMs: number;
  checkIntervalMs: number;
  writerTtlMs: number;
  promotion: 'auto' | 'manual';
  replication: 'async' | 'sync';
  /** How long a promotion may take before the lease is given back. */
  promoteTimeoutMs?: number;
}

export interface PgAgentDeps {
  local: LocalPg;
  registry: Registry;
  /** A standby's WAL position (larger of received and replayed), or null when it does not answer or is no standby. */
  peerPosition(host: string): Promise<bigint | null>;
  /** Tells the supervisor the role to (re)start in; `restart` stops the running server first. */
  control(role: string, restart: boolean): Promise<void>;
  /** Has the supervisor stop the server at once; it then waits for a role. */
  stopNow(): void;
  /**
   * Arms the supervisor's dead-man switch (wall-clock ms), after every renewal: if this agent is
   * gone by then (stopped, hung, killed and not back) and so could neither renew nor call
   * `stopNow`, the supervisor stops a primary itself at that time.
   */
  armWatchdog(wallMs: number): void;
  /**
   * Whether the supervisor marked the data directory unfit to start (a re-clone or a rewind cut
   * off: `/control/needs-clone`): such a node only becomes a standby, by a new base backup, so
   * it never takes or keeps the lease (held, it would keep every standby from promoting).
   */
  dataUnfit?(): boolean;
  wallNow(): number;
  setTimer(fn: () => void, ms: number): () => void;
  sleep(ms: number): Promise<void>;
  emit(type: string, data?: Record<string, unknown>): void;
}

export type PgTick =
  | 'local-down'
  | 'waiting'
  | 'primary'
  | 'unhealthy'
  | 'unleased'
  | 'fenced'
  | 'following'
  | 'healthy'
  | 'manual'
  | 'withheld'
  | 'deferred'
  | 'lost-claim'
  | 'promoting'
  | 'promote-failed'
  | 'rewinding'
  | 'no-writer';

/** A WAL position `X/Y` as a number. */
export function parseLsn(lsn: string | null | undefined): bigint | null {
  if (!lsn) return null;
  const [hi, lo] = lsn.split('/');
  if (hi === undefined || lo === undefined) return null;
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

const running = (l: Lease | undefined): boolean => l !== undefined && l.remainingMs > 0;

export class PromotionAgent {
  /** Since when this standby has not streamed from a primary it can reach. */
  private stuckSince: number | null = null;
  private lastRewindAt = Number.NEGATIVE_INFINITY;
  private role: string | undefined;
  private fencedFor: string | undefined;
  /** When this node asked its server to promote (it holds the lease), or null. */
  private promotingSince: number | null = null;
  private said = new Set<string>();
  private stopped = false;
  private localUp = false;
  /** When this node last fenced itself for want of a lease. */
  private fencedAt: number | null = null;
  readonly lease: LeaseKeeper;

  constructor(
    private readonly cfg: PgAgentConfig,
    private readonly deps: PgAgentDeps,
  ) {
    this.lease = new LeaseKeeper(
      { name: LEADER_LEASE, holder: cfg.self, ttlMs: cfg.leaseMs, marginMs: cfg.leaseMarginMs },
      {
        registry: deps.registry,
        now: () => deps.wallNow(),
        setTimer: deps.setTimer,
        onLost: (info) => this.lost(info),
        // Half the margin after the deadline (the keeper's clock is the wall clock here, as the
        // supervisor's): an agent alive always fences first, at the deadline, and the other
        // half leaves time for the supervisor's check (every 100 ms) and the stop before the
        // registry's expiry.
        onHeld: (deadline) => deps.armWatchdog(deadline + Math.floor(cfg.leaseMarginMs / 2)),
      },
    );
  }

  /** Emits an event once per episode (until `clear`). */
  private once(key: string, type: string, data: Record<string, unknown>): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.deps.emit(type, data);
  }

  /**
   * Gives the supervisor its role. `again` writes it even if unchanged: while the server is down
   * the supervisor may be waiting for it, and the file is what it reads, not this cache.
   */
  private async setRole(role: string, restart = false, again = false): Promise<void> {
    const changed = this.role !== role || restart;
    if (!changed && !again) return;
    this.role = role;
    await this.deps.control(role, restart);
    if (changed) this.deps.emit('role-set', { role, restart });
  }

  /** The deadline passed without a renewal: stop the server before the lease runs out. */
  private lost(info: { heldForMs: number; lastRenewedAgoMs: number }): void {
    this.deps.stopNow();
    this.fencedAt = this.deps.wallNow();
    this.role = undefined;
    this.promotingSince = null;
    this.deps.emit('fenced-self', {
      ...info,
      reason: 'could not renew its lease in time: the server is stopped until the agent places it',
    });
  }

  async tick(): Promise<PgTick> {
    const primary = await this.deps.local.isPrimary();
    // A server that just went down (killed, fenced, restarting) waits for its role: say it again.
    if (primary === null && this.localUp) this.role = undefined;
    this.localUp = primary !== null;
    if (primary === null) return this.placeLocal();
    if (primary) return this.asPrimary();
    return this.asStandby();
  }

  /** The server is down or waiting for its role after a restart: tell it what the registry says. */
  private async placeLocal(): Promise<PgTick> {
    const { deps, cfg } = this;
    const lease = await deps.registry.getLease(LEADER_LEASE);
    const writer = (await deps.registry.get(WRITER_RECORD))?.value ?? null;
    if (lease && running(lease) && lease.holder !== cfg.self) {
      await this.setRole(`standby ${lease.holder}`, false, true);
      return 'local-down';
    }
    if (writer !== null && writer !== cfg.self) {
      await this.setRole(`standby ${writer}`, false, true);
      return 'local-down';
    }
    // Nobody else leads and the record names this node (or nobody yet): it may lead again, but
    // only with the lease in hand, and not at once after it fenced itself: a healthy standby
    // gets two lease lengths to take over first (this node stopped because it was not healthy,
    // or cut off). Unless the lease is still this node's: a renewal on its way when the fence
    // fired came back granted, so no standby can take over before it runs out, and waiting
    // would only let it lapse under a primary restarting, and fence it a second time.
    if (this.fencedAt !== null && !this.lease.holds() && deps.wallNow() - this.fencedAt < 2 * cfg.leaseMs)
      return 'waiting';
    if (deps.dataUnfit?.()) {
      // Not renewed: a lease this node holds runs out, and a healthy standby takes over.
      this.once('unfit', 'lease-declined', {
        reason:
          'the data directory is unfit to start (a re-clone or a rewind was cut off): this node may only follow',
        writer,
      });
      return 'waiting';
    }
    this.said.delete('unfit');
    const r = await this.lease.renew();
    if (r.status !== 'held') return 'waiting';
    await this.setRole('primary', false, true);
    return 'local-down';
  }

  private async asPrimary(): Promise<PgTick> {
    const { deps, cfg } = this;
    const promoted = this.promotingSince !== null;
    this.promotingSince = null;
    if (!(await deps.local.commits())) {
      // Not renewed: the lease runs out and the fence stops the server.
      this.once('unhealthy', 'primary-unhealthy', {
        reason: 'the local server does not commit: the lease is not renewed',
        leaseLeftMs: this.lease.leftMs(),
      });
      return this.lease.holds() ? 'unhealthy' : 'unleased';
    }
    this.said.delete('unhealthy');
    const r = await this.lease.renew();
    if (r.status === 'refused') {
      // Another node leads: this one must not acknowledge another write.
      const leader = r.holder ?? (await deps.registry.get(WRITER_RECORD))?.value ?? null;
      if (leader && this.fencedFor !== leader) {
        await deps.local.fence();
        deps.emit('fenced', { leader });
        this.fencedFor = leader;
        await this.setRole(`standby ${leader}`, true);
        deps.emit('demoting', { to: leader, how: 'stop, pg_rewind (or a base backup), start as a standby' });
      }
      return 'fenced';
    }
    if (r.status === 'error') {
      this.once('renew-error', 'lease-renewal-failed', { error: r.error, leaseLeftMs: this.lease.leftMs() });
      return this.lease.holds() ? 'primary' : 'unleased';
    }
    this.said.delete('renew-error');
    this.fencedFor = undefined;
    await this.setRole('primary');
    const rec = await deps.registry.get(WRITER_RECORD);
    if (
      rec?.value !== cfg.self &&
      (await deps.registry.set(WRITER_RECORD, cfg.self, cfg.writerTtlMs, rec?.version ?? 0))
    ) {
      if (rec === undefined) deps.emit('claimed-writer', { ttlMs: cfg.writerTtlMs });
      else deps.emit('writer-record-moved', { from: rec.value, to: cfg.self, ttlMs: cfg.writerTtlMs });
    }
    if (promoted)
      deps.emit('became-primary', {
        previousPrimary: rec?.value === cfg.self ? null : (rec?.value ?? null),
        term: r.lease.term,
      });
    return 'primary';
  }

  private async asStandby(): Promise<PgTick> {
    const { deps, cfg } = this;
    this.fencedFor = undefined;
    const lease = await deps.registry.getLease(LEADER_LEASE);
    if (lease && running(lease) && lease.holder === cfg.self) return this.promoting();
    this.promotingSince = null;
    const writer = (await deps.registry.get(WRITER_RECORD))?.value ?? null;
    if (lease && running(lease)) {
      this.said.clear();
      return this.follow(lease.holder);
    }
    // The lease has run out (or was never taken): the primary died, froze, or lost the registry.
    const last = lease?.holder ?? writer;
    if (last === null) return 'no-writer';
    this.once('expired', 'lease-expired', { holder: last, expiredForMs: lease ? -lease.remainingMs : null });
    if (cfg.promotion === 'manual') {
      this.once('manual', 'promotion-left-to-operator', { primary: last });
      return 'manual';
    }
    const others = cfg.peers.filter((p) => p !== cfg.self && p !== last);
    const positions = await Promise.all(others.map(async (o) => [o, await deps.peerPosition(o)] as const));
    const seen = positions.filter((x): x is readonly [string, bigint] => x[1] !== null);
    const unseen = positions.filter(([, p]) => p === null).map(([o]) => o);
    if (cfg.replication === 'sync' && unseen.length > 0) {
      this.once(`withheld-sync-${unseen.join()}`, 'failover-withheld', {
        primary: last,
        reason: `synchronous replication: ${unseen.join(', ')} may hold acknowledged commits this node lacks, and does not answer`,
      });
      return 'withheld';
    }
    if (others.length > 0 && seen.length === 0) {
      this.once('withheld', 'failover-withheld', {
        primary: last,
        reason: 'cannot see any other standby: this node may be the one cut off',
      });
      return 'withheld';
    }
    const mine = (await deps.local.position()) ?? 0n;
    const ahead = seen.find(([o, l]) => l > mine || (l === mine && o < cfg.self));
    if (ahead) {
      this.once(`defer-${ahead[0]}`, 'promotion-deferred', {
        to: ahead[0],
        reason: ahead[1] > mine ? 'it has more WAL' : 'same WAL position, lower name',
      });
      return 'deferred';
    }
    const r = await this.lease.renew();
    if (r.status !== 'held') return 'lost-claim';
    deps.emit('failover-decision', {
      deadPrimary: last,
      position: mine.toString(16),
      compared: seen.map(([o, l]) => `${o}=${l.toString(16)}`).join(' ') || 'none',
      term: r.lease.term,
    });
    return this.promoting();
  }

  /** This standby holds the lease: it promotes, and the primary branch moves the writer record. */
  private async promoting(): Promise<PgTick> {
    const { deps, cfg } = this;
    const r = await this.lease.renew();
    if (r.status === 'refused') {
      this.promotingSince = null;
      return 'lost-claim';
    }
    const now = deps.wallNow();
    if (this.promotingSince === null) {
      this.promotingSince = now;
      if (!(await deps.local.promote())) {
        deps.emit('promotion-failed', { reason: 'pg_promote() returned false' });
        return this.giveUp();
      }
      deps.emit('promoting', { lease: r.status === 'held' ? r.lease.term : null });
      return 'promoting';
    }
    if (now - this.promotingSince > (cfg.promoteTimeoutMs ?? 30_000)) {
      deps.emit('promotion-failed', {
        reason: `still in recovery after ${Math.round(now - this.promotingSince)} ms`,
      });
      return this.giveUp();
    }
    return 'promoting';
  }

  private async giveUp(): Promise<PgTick> {
    this.promotingSince = null;
    await this.lease.release();
    return 'promote-failed';
  }

  private async follow(leader: string): Promise<PgTick> {
    const { deps } = this;
    await this.setRole(`standby ${leader}`);
    const followed = await deps.local.followedHost();
    if (followed !== leader) {
      await deps.local.repoint(leader);
      deps.emit('following', { primary: leader, was: followed });
      return 'following';
    }
    return this.keepStreaming(leader, deps.wallNow());
  }

  /**
   * A standby that follows the primary but cannot stream from it (its own history went further
   * than the point where the new primary's timeline forked: an operator promoted a standby that
   * was behind) is rewound onto it, as an old primary is.
   */
  private async keepStreaming(leader: string, now: number): Promise<PgTick> {
    const { deps, cfg } = this;
    if (await deps.local.streaming()) {
      this.stuckSince = null;
      return 'healthy';
    }
    this.stuckSince ??= now;
    if (now - this.stuckSince < Math.max(cfg.leaseMs, 5000) || now - this.lastRewindAt < 30_000)
      return 'healthy';
    this.lastRewindAt = now;
    this.stuckSince = null;
    deps.emit('rewinding', {
      onto: leader,
      reason: 'cannot stream from the primary: its timeline forked behind this node',
    });
    await this.setRole(`standby ${leader} rewind`, true);
    return 'rewinding';
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
