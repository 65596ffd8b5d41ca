import type { Registry } from '../../core/registry.ts';
import { WRITER_RECORD } from './records.ts';

/**
 * The promotion agent. It runs beside one Postgres node (same network namespace, a shared
 * /control folder with the node's supervisor script; they die together) and carries out the
 * failover of streaming replication:
 *
 * - The writer record (conditional writes only) says who the primary is. The first primary
 *   claims it at start.
 * - A standby watches the primary the record names: it must answer and commit (a primary whose
 *   disk is frozen answers a SELECT but commits nothing). When it has been unreachable for
 *   `thresholdMs`, the standby with the most advanced received WAL position promotes: it must
 *   see at least one other standby (a standby cut off from everyone never promotes), it defers
 *   to any standby ahead of it (ties go to the lower name), it claims the writer record with a
 *   conditional write on the version it read (so no two standbys promote for one failure), and
 *   only then runs `pg_promote()`.
 * - A standby whose primary_conninfo names another node than the record follows the record:
 *   `ALTER SYSTEM SET primary_conninfo` and a reload.
 * - A primary that finds the record naming another node is fenced at once (new transactions
 *   read-only, client sessions ended) and asks its supervisor to stop it and bring it back as a
 *   standby of the new primary (pg_rewind, or a fresh base backup when rewind cannot).
 * - After a restart (a power loss) the supervisor waits for the agent's word: the role file is
 *   written from the record, so an old primary never comes back as a primary.
 * - With `promotion: manual` the agent never promotes: an operator does, by the runbook.
 *
 * Every decision is emitted as an event stamped with the wall clock.
 */
export interface LocalPg {
  /** true: primary; false: standby; null: the local server does not answer. */
  isPrimary(): Promise<boolean | null>;
  /** The host its primary_conninfo names, or null. */
  followedHost(): Promise<string | null>;
  /** Whether its WAL receiver is streaming from that host now. */
  streaming(): Promise<boolean>;
  /** The WAL position received from the primary (replayed, if none received), or null. */
  receivedLsn(): Promise<bigint | null>;
  repoint(host: string): Promise<void>;
  promote(): Promise<void>;
  /** New transactions read-only, client sessions ended: it can acknowledge no more writes. */
  fence(): Promise<void>;
}

export interface PgAgentConfig {
  self: string;
  /** Every node of the system, this one included. */
  peers: string[];
  thresholdMs: number;
  checkIntervalMs: number;
  writerTtlMs: number;
  promotion: 'auto' | 'manual';
}

export interface PgAgentDeps {
  local: LocalPg;
  registry: Registry;
  /** Does the server at this host answer, and commit a transaction, within the ping timeout? */
  reachable(host: string): Promise<boolean>;
  /** A standby's received WAL position, or null when it does not answer or is no standby. */
  peerLsn(host: string): Promise<bigint | null>;
  /** Tells the supervisor the role to (re)start in; `restart` stops the running server first. */
  control(role: string, restart: boolean): Promise<void>;
  wallNow(): number;
  sleep(ms: number): Promise<void>;
  emit(type: string, data?: Record<string, unknown>): void;
}

export type PgTick =
  | 'local-down'
  | 'primary'
  | 'fenced'
  | 'following'
  | 'healthy'
  | 'suspect'
  | 'manual'
  | 'withheld'
  | 'deferred'
  | 'lost-claim'
  | 'promoted'
  | 'rewinding'
  | 'no-writer';

/** A WAL position `X/Y` as a number. */
export function parseLsn(lsn: string | null | undefined): bigint | null {
  if (!lsn) return null;
  const [hi, lo] = lsn.split('/');
  if (hi === undefined || lo === undefined) return null;
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export class PromotionAgent {
  private downSince: number | null = null;
  /** Since when this standby has not streamed from a primary it can reach. */
  private stuckSince: number | null = null;
  private lastRewindAt = Number.NEGATIVE_INFINITY;
  private role: string | undefined;
  private fencedFor: string | undefined;
  private said = new Set<string>();
  private stopped = false;

  constructor(
    private readonly cfg: PgAgentConfig,
    private readonly deps: PgAgentDeps,
  ) {}

  /** Emits an event once per episode (until `clear`). */
  private once(key: string, type: string, data: Record<string, unknown>): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.deps.emit(type, data);
  }

  private async setRole(role: string, restart = false): Promise<void> {
    if (this.role === role && !restart) return;
    this.role = role;
    await this.deps.control(role, restart);
  }

  async tick(): Promise<PgTick> {
    const { deps, cfg } = this;
    const rec = await deps.registry.get(WRITER_RECORD);
    const writer = rec?.value ?? null;
    const primary = await deps.local.isPrimary();

    if (primary === null) {
      // The server is down or waiting for its role after a restart: tell it what the record says.
      await this.setRole(writer === null || writer === cfg.self ? 'primary' : `standby ${writer}`);
      return 'local-down';
    }

    if (primary) {
      if (writer === null) {
        if (await deps.registry.set(WRITER_RECORD, cfg.self, cfg.writerTtlMs, 0))
          deps.emit('claimed-writer', { ttlMs: cfg.writerTtlMs });
        await this.setRole('primary');
        return 'primary';
      }
      if (writer === cfg.self) {
        this.fencedFor = undefined;
        await this.setRole('primary');
        return 'primary';
      }
      // Another node leads: this one must not acknowledge another write.
      if (this.fencedFor !== writer) {
        await deps.local.fence();
        deps.emit('fenced', { writer });
        this.fencedFor = writer;
        await this.setRole(`standby ${writer}`, true);
        deps.emit('demoting', { to: writer, how: 'stop, pg_rewind (or a base backup), start as a standby' });
      }
      return 'fenced';
    }

    // A standby.
    this.fencedFor = undefined;
    if (writer === null) return 'no-writer';
    if (writer === cfg.self) {
      // Claimed but not promoted (the agent died in between): finish the promotion.
      await deps.local.promote();
      deps.emit('became-primary', { previousPrimary: null, reason: 'the writer record names this node' });
      await this.setRole('primary');
      return 'promoted';
    }
    await this.setRole(`standby ${writer}`);
    const followed = await deps.local.followedHost();
    if (followed !== writer) {
      await deps.local.repoint(writer);
      deps.emit('following', { primary: writer, was: followed });
      return 'following';
    }
    const now = deps.wallNow();
    if (await deps.reachable(writer)) {
      if (this.downSince !== null)
        deps.emit('primary-reachable-again', { primary: writer, downForMs: now - this.downSince });
      this.downSince = null;
      this.said.clear();
      return this.keepStreaming(writer, now);
    }
    if (this.downSince === null) {
      this.downSince = now;
      deps.emit('primary-unreachable', { primary: writer });
    }
    const downForMs = now - this.downSince;
    if (downForMs < cfg.thresholdMs) return 'suspect';
    if (cfg.promotion === 'manual') {
      this.once('manual', 'promotion-left-to-operator', { primary: writer, downForMs });
      return 'manual';
    }
    const others = cfg.peers.filter((p) => p !== cfg.self && p !== writer);
    const lsns = await Promise.all(others.map(async (o) => [o, await deps.peerLsn(o)] as const));
    const seen = lsns.filter((x): x is readonly [string, bigint] => x[1] !== null);
    if (others.length > 0 && seen.length === 0) {
      this.once('withheld', 'failover-withheld', {
        primary: writer,
        downForMs,
        reason: 'cannot see any other standby: this node may be the one cut off',
      });
      return 'withheld';
    }
    const mine = (await deps.local.receivedLsn()) ?? 0n;
    const ahead = seen.find(([o, l]) => l > mine || (l === mine && o < cfg.self));
    if (ahead) {
      this.once(`defer-${ahead[0]}`, 'promotion-deferred', {
        to: ahead[0],
        reason: ahead[1] > mine ? 'it received more WAL' : 'same WAL position, lower name',
      });
      return 'deferred';
    }
    if (!(await deps.registry.set(WRITER_RECORD, cfg.self, cfg.writerTtlMs, rec!.version)))
      return 'lost-claim';
    deps.emit('failover-decision', { deadPrimary: writer, downForMs, lsn: mine.toString(16) });
    await deps.local.promote();
    this.downSince = null;
    this.said.clear();
    deps.emit('became-primary', { previousPrimary: writer });
    deps.emit('writer-record-moved', { from: writer, to: cfg.self, ttlMs: cfg.writerTtlMs });
    await this.setRole('primary');
    return 'promoted';
  }

  /**
   * A standby that follows a reachable primary but cannot stream from it (its own history went
   * further than the point where the new primary's timeline forked: an operator promoted a
   * standby that was behind) is rewound onto it, as an old primary is.
   */
  private async keepStreaming(writer: string, now: number): Promise<PgTick> {
    const { deps, cfg } = this;
    if (await deps.local.streaming()) {
      this.stuckSince = null;
      return 'healthy';
    }
    this.stuckSince ??= now;
    if (now - this.stuckSince < Math.max(cfg.thresholdMs, 5000) || now - this.lastRewindAt < 30_000)
      return 'healthy';
    this.lastRewindAt = now;
    this.stuckSince = null;
    deps.emit('rewinding', {
      onto: writer,
      reason: 'cannot stream from the primary: its timeline forked behind this node',
    });
    await this.setRole(`standby ${writer} rewind`, true);
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
