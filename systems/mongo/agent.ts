import type { Registry } from '../../core/registry.ts';
import { hostOf } from './layout.ts';
import type { ReplSetConfig } from './plan.ts';
import type { HelloView, StatusView } from './status.ts';

/**
 * The endpoint agent. It runs beside one data member (same network namespace; they die together)
 * and does what the book's cron job did on every member: MongoDB elects its primary itself; the
 * primary keeps the replica set's endpoint record pointing at itself.
 *
 * - **Its member is the primary** (`hello` says `isWritablePrimary`): the agent reads the
 *   endpoint record, then the term record beside it; if the record names another member, it
 *   moves it to its own, with conditional writes (the term record first, then the endpoint,
 *   each only if unchanged since read). It says `became-primary` once per term its member won.
 * - **A primary of an older term never takes the record back.** A primary cut off from the
 *   majority keeps saying `isWritablePrimary` until it steps down (up to an election timeout),
 *   while the majority elects another in a later term: the record's term is that later one, and
 *   the old primary withholds its claim (`endpoint-withheld`). Without it the two would move the
 *   record back and forth until the old one steps down, and clients would follow.
 * - **Otherwise it changes nothing**: a secondary does not touch the record (the record names the
 *   old primary until the new one claims it), and says `stepped-down` when its member stops
 *   being the primary.
 * - **The first primary's agent initiates the set** (`replSetInitiate`) once every member
 *   answers, with its own priority above the others' so the set forms around it; once every
 *   member is healthy it puts the scenario's priorities back (`replSetReconfig`, no vote changed).
 *
 * Every decision is an event.
 */
export interface LocalMongo {
  /** The local member's `hello`, or null when it does not answer. */
  hello(): Promise<HelloView | null>;
  /** Its `replSetGetStatus`, or null. */
  status(): Promise<StatusView | null>;
  initiate(config: ReplSetConfig): Promise<void>;
  /** The config in force (`replSetGetConfig`), or null. */
  config(): Promise<Record<string, unknown> | null>;
  reconfig(config: Record<string, unknown>): Promise<void>;
}

export interface MongoAgentConfig {
  self: string;
  /** Every member's host (`mongo-a:27017`), this one's and the arbiter's included. */
  members: string[];
  endpointRecord: string;
  termRecord: string;
  recordTtlMs: number;
  checkIntervalMs: number;
  /** The first primary's agent only: the config it initiates the set with. */
  initiate?: ReplSetConfig;
  /** The first primary's agent only: the data members' priorities to put back once the set formed. */
  priorities?: Record<string, number>;
}

export interface MongoAgentDeps {
  local: LocalMongo;
  /** Whether the member at `host` answers `hello`. */
  peerAnswers(host: string): Promise<boolean>;
  registry: Registry;
  sleep(ms: number): Promise<void>;
  emit(type: string, data?: Record<string, unknown>): void;
}

export type MongoTick =
  | 'local-down'
  | 'uninitialized'
  | 'waiting-for-members'
  | 'initiated'
  | 'initiate-failed'
  | 'term-unknown'
  | 'primary'
  | 'claimed'
  | 'withheld'
  | 'lost-claim'
  | 'secondary'
  | 'arbiter'
  | 'other';

/** The replica set code AlreadyInitialized: another call initiated it first. */
const ALREADY_INITIALIZED = 23;

/**
 * The config to reconfigure with so the data members have these priorities: the one in force
 * with its version bumped (its term left to the primary), or null when it has them already.
 */
export function withPriorities(
  config: Record<string, unknown>,
  priorities: Readonly<Record<string, number>>,
): Record<string, unknown> | null {
  const members = (config.members ?? []) as { host: string; priority?: number; arbiterOnly?: boolean }[];
  const differs = members.some(
    (m) => !m.arbiterOnly && priorities[m.host] !== undefined && (m.priority ?? 1) !== priorities[m.host],
  );
  if (!differs) return null;
  const { term: _term, ...rest } = config;
  return {
    ...rest,
    version: Number(config.version ?? 0) + 1,
    members: members.map((m) =>
      !m.arbiterOnly && priorities[m.host] !== undefined ? { ...m, priority: priorities[m.host] } : m,
    ),
  };
}

const HEALTHY = new Set(['PRIMARY', 'SECONDARY', 'ARBITER']);

export class EndpointAgent {
  /** The term its member won and leads in, or null while it is no primary. */
  private leadingTerm: number | null = null;
  private prioritiesSettled = false;
  private said = new Set<string>();
  private stopped = false;

  constructor(
    private readonly cfg: MongoAgentConfig,
    private readonly deps: MongoAgentDeps,
  ) {}

  /** Emits an event once per episode (until the key is cleared). */
  private once(key: string, type: string, data: Record<string, unknown>): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.deps.emit(type, data);
  }

  async tick(): Promise<MongoTick> {
    const hello = await this.deps.local.hello();
    if (!hello) {
      this.once('down', 'local-unreachable', { wasPrimary: this.leadingTerm !== null });
      this.leadingTerm = null;
      return 'local-down';
    }
    if (this.said.delete('down')) this.deps.emit('local-answering', {});
    if (!hello.setName) return this.uninitialized();
    if (hello.isWritablePrimary) return this.asPrimary();
    if (this.leadingTerm !== null) {
      this.deps.emit('stepped-down', { term: this.leadingTerm, primary: hello.primary });
      this.leadingTerm = null;
    }
    return hello.secondary ? 'secondary' : hello.arbiterOnly ? 'arbiter' : 'other';
  }

  /** No config yet: the initiating agent initiates the set once every member answers. */
  private async uninitialized(): Promise<MongoTick> {
    const { cfg, deps } = this;
    if (!cfg.initiate) return 'uninitialized';
    const others = cfg.members.filter((h) => h !== hostOf(cfg.self));
    const answers = await Promise.all(others.map(async (h) => [h, await deps.peerAnswers(h)] as const));
    const missing = answers.filter(([, ok]) => !ok).map(([h]) => h);
    if (missing.length) {
      this.once(`waiting-${missing.join()}`, 'initiate-waiting', {
        missing,
        reason: 'every member must answer before the set is initiated with all of them',
      });
      return 'waiting-for-members';
    }
    try {
      await deps.local.initiate(cfg.initiate);
    } catch (err) {
      if ((err as { code?: unknown }).code === ALREADY_INITIALIZED) return 'initiated';
      deps.emit('initiate-failed', { error: String((err as Error)?.message ?? err) });
      return 'initiate-failed';
    }
    deps.emit('initiated', {
      set: cfg.initiate._id,
      members: cfg.initiate.members.map((m) =>
        m.arbiterOnly ? `${m.host} (arbiter)` : `${m.host} p${m.priority}`,
      ),
      electionTimeoutMillis: cfg.initiate.settings.electionTimeoutMillis,
      heartbeatIntervalMillis: cfg.initiate.settings.heartbeatIntervalMillis,
    });
    return 'initiated';
  }

  private async asPrimary(): Promise<MongoTick> {
    const { cfg, deps } = this;
    const status = await deps.local.status();
    const term = status?.term ?? null;
    if (term === null) {
      this.once('no-term', 'endpoint-withheld', {
        reason: 'replSetGetStatus gave no term: the claim waits for the next check',
      });
      return 'term-unknown';
    }
    this.said.delete('no-term');
    if (this.leadingTerm !== term) {
      this.leadingTerm = term;
      deps.emit('became-primary', { term });
    }
    if (status) await this.settlePriorities(status);
    // The endpoint first, then the term: a claimant writes them in the other order, so a term
    // read after an endpoint is at least the term of that endpoint's claim.
    const rec = await deps.registry.get(cfg.endpointRecord);
    const termRec = await deps.registry.get(cfg.termRecord);
    const recordedTerm = Number(termRec?.value ?? 0) || 0;
    if (rec?.value === cfg.self) {
      if (recordedTerm < term)
        await deps.registry.set(cfg.termRecord, String(term), cfg.recordTtlMs, termRec?.version ?? 0);
      return 'primary';
    }
    if (recordedTerm > term) {
      this.once(`withheld-${term}`, 'endpoint-withheld', {
        endpoint: rec?.value ?? null,
        recordTerm: recordedTerm,
        term,
        reason: `a primary elected in a later term (${recordedTerm}) holds the endpoint: this one is about to step down`,
      });
      return 'withheld';
    }
    if (recordedTerm < term) {
      const t = await deps.registry.set(cfg.termRecord, String(term), cfg.recordTtlMs, termRec?.version ?? 0);
      if (!t) {
        deps.emit('endpoint-claim-lost', { record: cfg.termRecord, term, reason: 'changed since read' });
        return 'lost-claim';
      }
    }
    const moved = await deps.registry.set(cfg.endpointRecord, cfg.self, cfg.recordTtlMs, rec?.version ?? 0);
    if (!moved) {
      deps.emit('endpoint-claim-lost', { record: cfg.endpointRecord, term, reason: 'changed since read' });
      return 'lost-claim';
    }
    if (rec) deps.emit('endpoint-moved', { from: rec.value, to: cfg.self, term, ttlMs: cfg.recordTtlMs });
    else deps.emit('claimed-endpoint', { term, ttlMs: cfg.recordTtlMs });
    return 'claimed';
  }

  /** The initiating agent, its member primary and every member healthy: the scenario's priorities back. */
  private async settlePriorities(status: StatusView): Promise<void> {
    const { cfg, deps } = this;
    if (!cfg.priorities || this.prioritiesSettled) return;
    if (!status.members.every((m) => m.health === 1 && HEALTHY.has(m.state))) return;
    const config = await deps.local.config();
    if (!config) return;
    const next = withPriorities(config, cfg.priorities);
    if (!next) {
      this.prioritiesSettled = true;
      return;
    }
    try {
      await deps.local.reconfig(next);
      this.prioritiesSettled = true;
      deps.emit('priorities-set', { priorities: cfg.priorities, version: next.version });
    } catch (err) {
      this.once('reconfig-failed', 'reconfig-failed', { error: String((err as Error)?.message ?? err) });
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
