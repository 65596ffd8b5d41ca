import { sleep } from '../core/clock.ts';
import { InfraError, InterruptedError, ScenarioError } from '../core/errors.ts';
import type { History, Op } from '../core/history.ts';
import type { Endpoint, NodeRef, Stack } from '../core/provider.ts';
import type { Lease, Registry, RegistryRecord } from '../core/registry.ts';
import type { SystemState } from '../core/result.ts';
import type { Controller, ControllerContext, Probe, SystemDefinition } from '../core/system.ts';
import {
  type AttachGroup,
  type AttachSelector,
  type AttachedStack,
  describeSelector,
} from '../infra/local/attach.ts';
import {
  ATTACH_KINDS,
  type AttachSpec,
  MONGO_ATTACH_ROLES,
  type MongoAttachSpec,
  PATRONI_ATTACH_ROLES,
  PG_ATTACH_ROLES,
  type PatroniAttachSpec,
  type PgAttachSpec,
  REDIS_ATTACH_ROLES,
  type RedisAttachSpec,
  SENTINEL_ATTACH_ROLES,
  type SentinelAttachSpec,
  mongoAttachSpec,
  patroniAttachSpec,
  pgAttachSpec,
  redisAttachSpec,
  sentinelAttachSpec,
} from '../scenarios/attach.ts';
import type { ActiveSystem } from '../scenarios/schema.ts';
import {
  type MongoReading,
  attachedMongoCollection,
  attachedMongoState,
  attachedMongoViolations,
  configHosts,
  dropRunCollections,
  mongoRefusal,
  readElectionTimeout,
  readMongo,
} from '../systems/mongo/attach.ts';
import { mongoReplicaSet as builtMongo } from '../systems/mongo/index.ts';
import { MONGO_DB, MongoWriterProbe, mongoWriterSettings } from '../systems/mongo/probe.ts';
import { type MongoWriterProbeSpec, mongoWriterSpec } from '../systems/mongo/spec.ts';
import {
  PATRONI_DEFAULTS,
  type PatroniAnswer,
  type PatroniTimings,
  attachedPatroniState,
  attachedPatroniViolations,
  readPatroni,
  readTimings,
} from '../systems/patroni/attach.ts';
import { patroni as builtPatroni } from '../systems/patroni/index.ts';
import {
  type PgReading,
  attachedPgViolations,
  pgState,
  queryAttached,
  readPg,
} from '../systems/pg/attach.ts';
import { postgres as builtPg } from '../systems/pg/index.ts';
import { PgWriterProbe, pgWriterSettings } from '../systems/pg/probe.ts';
import { WRITER_RECORD } from '../systems/pg/records.ts';
import { type PgWriterProbeSpec, pgWriterSpec } from '../systems/pg/spec.ts';
import {
  type RedisAuth,
  attachedRedisViolations,
  readRedisNodes,
  readRole,
  redisState,
  roleError,
} from '../systems/redis/attach.ts';
import { redisChain as builtRedis } from '../systems/redis/index.ts';
import { RedisWriterProbe, redisWriterSettings } from '../systems/redis/probe.ts';
import { quickClient } from '../systems/redis/quick-client.ts';
import { HEAD_RECORD } from '../systems/redis/records.ts';
import { type RedisWriterProbeSpec, redisWriterSpec } from '../systems/redis/spec.ts';
import { sentinel as builtSentinel } from '../systems/sentinel/index.ts';
import { sentinelViolations } from '../systems/sentinel/invariants.ts';
import { agreedMaster } from '../systems/sentinel/observe.ts';
import { SentinelWriterProbe, probeKey, sentinelWriterSettings } from '../systems/sentinel/probe.ts';
import { type SentinelWriterProbeSpec, sentinelWriterSpec } from '../systems/sentinel/spec.ts';
import { type SentinelNodeState, parseReplication } from '../systems/sentinel/state.ts';
import { MASTER_RECORD, SentinelWatch } from '../systems/sentinel/watch.ts';

/**
 * The systems of a stack the harness attaches to (`stack.attach`), as the runner uses every system:
 * observe, invariants, records, roles, probes, a watcher. They are the built systems' own parts
 * where those fit a stack laid out by someone else (Sentinel's invariants, its probe, its events
 * and leader record; the redis-writer, pg-writer and mongo-writer, each resolving its leader
 * record; Patroni's and Mongo's invariants on the members); what
 * differs is how the nodes are found: by asking each container what it runs, not by the
 * harness's names. A plain Redis or Postgres, a Patroni cluster with a DCS of the user's, a
 * MongoDB replica set keep no record of who leads that the harness reads: it is read from the
 * nodes (systems/redis/attach.ts, systems/pg/attach.ts, systems/patroni/attach.ts: the members'
 * `/cluster`, systems/mongo/attach.ts: the members' `hello`) and mirrored into the built system's
 * record name (`redis-head`, `pg-writer`, `patroni-leader`, `mongo-primary`), so leader changes
 * are judged as for a built stack.
 */

/** What a scenario's `stack.attach` asks the provider to find. */
export function attachGroups(attach: AttachSpec): AttachGroup[] {
  const out: AttachGroup[] = [];
  for (const system of ATTACH_KINDS) {
    const a = attach[system];
    // A replica set is reached as its config names its members: on the containers' network.
    if (a)
      out.push({
        system,
        select: a.select,
        azLabel: a.azLabel,
        endpoints: 'endpoints' in a ? a.endpoints : 'network',
      });
  }
  return out;
}

export function attachedSystems(attach: AttachSpec): ActiveSystem[] {
  return [
    ...(attach.sentinel ? [{ def: attachedSentinel(attach.sentinel), spec: attach.sentinel }] : []),
    ...(attach.redis ? [{ def: attachedRedis(attach.redis), spec: attach.redis }] : []),
    ...(attach.pg ? [{ def: attachedPg(attach.pg), spec: attach.pg }] : []),
    ...(attach.patroni ? [{ def: attachedPatroni(attach.patroni), spec: attach.patroni }] : []),
    ...(attach.mongo ? [{ def: attachedMongo(attach.mongo), spec: attach.mongo }] : []),
  ];
}

/** What each kind's convergence is judged by, for the result's notes. */
const JUDGED_BY: Record<string, string> = {
  sentinel:
    'convergence judged by its invariants (one master, every replica linked to it, every Sentinel handing it out), and by the probes',
  redis:
    "who leads is the node whose ROLE says master; convergence judged by its invariants (one master, every other node that answers its replica with master_link_status up), and by the probes. Nothing of the harness's promotes a replica: a master that stays down leaves no master, and full redundancy is not reached",
  pg: "who leads is the node where pg_is_in_recovery() is false; convergence judged by its invariants (one primary, every other node that answers streaming from it in its pg_stat_replication), and by the probes. Nothing of the harness's promotes a standby: a primary that stays down leaves none, and full redundancy is not reached",
  mongo:
    "who leads is the member whose hello says it is the writable primary; convergence judged by its invariants (one PRIMARY, every other data member that answers a SECONDARY syncing from it within maxLagMs, every arbiter an ARBITER), and by the probes; failovers are judged with the set's own electionTimeoutMillis (replSetGetConfig)",
  patroni:
    "who leads is the member whose role is leader in the members' GET /cluster; convergence judged by its invariants (one leader running as primary, every other member that answers a replica streaming from it within maximum_lag_on_failover), and by the probes; failovers are judged with the user's ttl + loop_wait (GET /config)",
};

/** How an attached stack's convergence is judged, and what it left as it was: the result's notes. */
export function attachNotes(stack: Stack | undefined, systems: readonly ActiveSystem[]): string[] {
  if (!stack || !('attached' in stack)) return [];
  const a = stack as AttachedStack;
  const out = systems.map(
    (s) =>
      `attached ${s.def.name} stack (${describeSelector((s.spec as { select: AttachSelector }).select)}): ${JUDGED_BY[s.def.name] ?? 'convergence judged by its invariants, and by the probes'}`,
  );
  for (const n of a.killed)
    out.push(
      `${n} was killed and stays stopped: the harness does not restart a container it did not create (docker start ${n})`,
    );
  for (const what of a.held()) out.push(`could not undo on the user's stack: ${what}`);
  return out;
}

/**
 * Every name and address a system's peers may use for each of its nodes, to its node name:
 * what a replica reports as its master, a primary as a standby's address.
 */
function addressBook(stack: Stack, system: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of stack.nodes().filter((x) => x.system === system)) {
    const names =
      'namesOf' in stack
        ? (stack as AttachedStack).namesOf(n.name)
        : [n.name, ...(tryAddress(stack, n.name) ?? [])];
    for (const a of names) if (!out.has(a)) out.set(a, n.name);
  }
  return out;
}

function tryAddress(stack: Stack, node: string): string[] | undefined {
  try {
    return [stack.address(node)];
  } catch {
    return undefined;
  }
}

/** How long a probe may keep the leader it was told (the lookup answers as a record with this TTL). */
const LOOKUP_TTL_MS = 250;
/** How often the leader is read from the nodes between the probes' lookups. */
const LEADER_POLL_MS = 250;
/** How long a node may take to answer when the stack is first looked at (a loaded machine). */
const DISCOVERY_TIMEOUT_MS = 2000;
/** How long a Postgres node may take to answer an observation (a new session, its authentication). */
const PG_READ_TIMEOUT_MS = 1000;
/**
 * How old a reading a probe's lookup takes rather than wait for a new one: a poll's interval and
 * a reading's longest wait (a node that does not answer holds a reading up to its timeout), so a
 * dead or frozen replica never stalls the writes to the leader. A leader that moves (the user's
 * own failover) is seen by the probe that much later at most; the record moved first.
 */
const LOOKUP_MAX_AGE_MS = 1500;

/**
 * Who leads an attached stack that keeps no record of it (plain Redis, plain Postgres): read
 * from the nodes, one reading at a time (callers at once share it), by the probes' lookups, the
 * observation and a poller alike. Each change to a node is mirrored into the system's leader
 * record in the stack's registry (a `record-set` on the timeline), before anyone is told, so the
 * record's history is the leader the probes were sent to, and *one leader at a time* is judged
 * as for a built stack.
 */
class AttachedLeadership {
  private reading: Promise<SystemState> | undefined;
  private last: string | null = null;
  /** The last reading and when it was taken (ms, Date.now()). */
  private latest: { state: SystemState; at: number } | undefined;

  constructor(
    private readonly stack: Stack,
    private readonly record: string,
    private readonly read: () => Promise<SystemState>,
    /** The record names a probe's lookup is answered for (the built probe's own, if it differs). */
    private readonly lookups: readonly string[] = [record],
  ) {}

  state(): Promise<SystemState> {
    this.reading ??= this.read()
      .then(async (state) => {
        if (state.leader !== null && state.leader !== this.last) {
          this.last = state.leader;
          await this.stack
            .registry()
            .set(this.record, state.leader, LOOKUP_TTL_MS)
            .catch(() => undefined);
        }
        this.latest = { state, at: Date.now() };
        return state;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** Who leads: the last reading if it is at most `maxAgeMs` old (the poller keeps one), else a new one. */
  async leader(maxAgeMs: number): Promise<string | null> {
    const l = this.latest;
    if (l && Date.now() - l.at <= maxAgeMs) return l.state.leader;
    return (await this.state()).leader;
  }

  /**
   * The stack's registry, with the leader record answered by a recent reading (cached by the
   * probe's own resolver for its TTL): what the built systems' probes resolve their leader by.
   * A write waits for the nodes only when no reading is recent (the poller stopped, or slow).
   */
  resolver(): Registry {
    const base = this.stack.registry();
    const self = this;
    return {
      async get(name: string): Promise<RegistryRecord | undefined> {
        if (!self.lookups.includes(name)) return base.get(name);
        const leader = await self.leader(LOOKUP_MAX_AGE_MS);
        return leader ? { name, value: leader, ttlMs: LOOKUP_TTL_MS, version: 1 } : undefined;
      },
      set: (name: string, value: string, ttlMs: number, ifVersion?: number) =>
        base.set(name, value, ttlMs, ifVersion),
      acquireLease: (name: string, holder: string, ttlMs: number): Promise<Lease | undefined> =>
        base.acquireLease(name, holder, ttlMs),
      getLease: (name: string) => base.getLease(name),
      releaseLease: (name: string, holder: string) => base.releaseLease(name, holder),
    };
  }
}

/**
 * A poller of an attached stack's leader from the end of provisioning until the run winds up
 * (so the leader record moves also while no probe asks), and at the end the removal of what the
 * probes wrote (read back already), from the leader. A removal that throws (the primary gone at
 * wrap-up, a timeout) is told to `left` with the error's words: what the probes wrote stays in
 * the user's database, and the result says so.
 */
export function leaderPoller(
  name: string,
  leadership: () => AttachedLeadership,
  cleanup: () => Promise<void>,
  left: (why: string) => void = () => {},
): Controller {
  let running = false;
  let loop: Promise<void> | undefined;
  return {
    name,
    start() {
      running = true;
      loop = (async () => {
        while (running) {
          await leadership()
            .state()
            .catch(() => undefined);
          await sleep(LEADER_POLL_MS);
        }
      })();
    },
    async stop() {
      running = false;
      await loop;
      await cleanup().catch((e: unknown) =>
        left(`the removal failed: ${e instanceof Error ? e.message : String(e)}`),
      );
    },
  };
}

/** Waits (30 s at most) until `why()` finds nothing wrong; else one error naming what is. */
async function untilWhole(where: string, why: () => Promise<string[]>, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    const wrong = await why();
    if (wrong.length === 0) return;
    if (Date.now() > deadline)
      throw new InfraError(
        'ATTACHED_NOT_WHOLE',
        `${where} is not whole before any fault, so nothing it shows could be judged: ${wrong.join('; ')}`,
        { hint: 'fix the stack first (docker logs of its containers); the harness changed nothing in it' },
      );
    await sleep(500, signal);
  }
}

/** Removes the keys a run's probes wrote (`chaos:<run>:*`) from a Redis; how many, or undefined. */
async function removeRunKeys(ep: Endpoint, runId: string, auth?: RedisAuth): Promise<number | undefined> {
  return ask(
    ep,
    async (c) => {
      let n = 0;
      let cursor = '0';
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', `chaos:${runId}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) n += await c.del(...keys);
      } while (cursor !== '0');
      return n;
    },
    auth,
  );
}

/**
 * Says on the timeline what became of the probes' keys in a user's Redis: removed (how many), or
 * left behind (the master did not answer the removal: the pattern says what to delete by hand).
 */
export function emitKeysRemoval(
  ctx: Pick<ControllerContext, 'emit' | 'plan'>,
  master: string,
  removed: number | undefined,
): void {
  const pattern = `chaos:${ctx.plan.runId}:*`;
  if (removed === undefined)
    ctx.emit('probe-keys-left', master, { pattern, why: `the master ${master} did not answer the removal` });
  else ctx.emit('probe-keys-removed', master, { keys: removed, pattern });
}

/** The roles of a leader-and-followers stack, on the nodes found to run the system. */
function resolveLeaderRole(
  leaderRole: string,
  followerRole: string,
  data: () => readonly string[],
): SystemDefinition['resolve'] {
  return (role, state, nodes, random) => {
    const dataNodes = nodes.filter((n) => data().includes(n.name));
    const members = state.members.filter((m) => data().includes(m));
    if (role === leaderRole) return dataNodes.filter((n) => n.name === state.leader);
    if (role === followerRole) return dataNodes.filter((n) => n.name !== state.leader);
    if (role === 'any') {
      const pool = members.length ? dataNodes.filter((n) => members.includes(n.name)) : dataNodes;
      return pool.length ? [pool[Math.floor(random() * pool.length)]!] : [];
    }
    return [];
  };
}

/**
 * A user's plain Redis replication. Its nodes are the containers the selector found that answer
 * `ROLE` on `port` (a container of the project that runs something else is left out of the
 * observation; it can still be a node: target). Who leads: the node whose `ROLE` says master
 * (systems/redis/attach.ts); the redis-writer RPUSHes to it, found through that same reading.
 */
export function attachedRedis(spec: RedisAttachSpec): SystemDefinition<RedisAttachSpec> {
  let data: string[] | undefined;
  const auth: RedisAuth = { username: spec.username, password: spec.password };
  let leadership: AttachedLeadership | undefined;
  const where = `the attached Redis stack (${describeSelector(spec.select)})`;
  const known = () => {
    if (!data) throw new InfraError('NOT_ATTACHED', `${where} was not looked at yet`);
    return data;
  };
  const nodesOf = (stack: Stack, names?: readonly string[]) =>
    stack
      .nodes()
      .filter((n) => n.system === 'redis' && (!names || names.includes(n.name)))
      .map((n) => ({ name: n.name, az: n.az, endpoint: stack.endpoint(n.name, spec.port) }));
  const read = async (stack: Stack) => {
    const book = addressBook(stack, 'redis');
    return redisState(await readRedisNodes(nodesOf(stack, known()), (h) => book.get(h), 500, auth));
  };
  const leaderOf = (stack: Stack) => {
    leadership ??= new AttachedLeadership(stack, HEAD_RECORD, () => read(stack));
    return leadership;
  };

  return {
    name: 'redis',
    kind: 'redis-replication (attached)',
    description: "a user's plain Redis replication, attached to: the node whose ROLE says master",
    spec: redisAttachSpec,
    probes: [
      {
        kind: 'redis-writer',
        spec: redisWriterSpec,
        create: (p, deps) =>
          new RedisWriterProbe(p as RedisWriterProbeSpec, {
            clock: deps.clock,
            history: deps.history,
            registry: leaderOf(deps.stack).resolver(),
            endpoint: (node) => deps.stack.endpoint(node, spec.port),
            key: probeKey(deps.runId, p.name),
            auth,
          }),
        settings: (p, runId) => redisWriterSettings(p as RedisWriterProbeSpec, probeKey(runId, p.name)),
      },
    ],
    roles: REDIS_ATTACH_ROLES,
    images: [],
    agents: {},
    layout: () => [],
    plan: () => [],
    async awaitReady(stack, _spec, signal) {
      await untilWhole(
        where,
        async () => {
          // Every container that ever answered as a Redis node is one (a slow answer once is not none).
          const roles = await Promise.all(
            nodesOf(stack).map(
              async (n) => [n.name, await readRole(n.endpoint, DISCOVERY_TIMEOUT_MS, auth)] as const,
            ),
          );
          const found = roles.filter(([, r]) => r?.[0] === 'master' || r?.[0] === 'slave').map(([n]) => n);
          data = [...new Set([...(data ?? []), ...found])].sort();
          if (data.length === 0) {
            await refusedLogin(where, nodesOf(stack)[0], auth, 'stack.attach.redis.password');
            return [
              `no container answers ROLE on port ${spec.port}: no Redis node (stack.attach.redis.port)`,
            ];
          }
          return attachedRedisViolations(await leaderOf(stack).state());
        },
        signal,
      );
    },
    observe: (stack) => leaderOf(stack).state(),
    records: async (stack) => {
      const { leader } = await leaderOf(stack).state();
      return { leader, members: [...(leader ? [leader] : []), ...known().filter((n) => n !== leader)] };
    },
    invariants: (state) => attachedRedisViolations(state),
    resolve: resolveLeaderRole('master', 'replica', known),
    leadership: builtRedis.leadership,
    decisions: [],
    controllers: (_s, ctx: ControllerContext) => [
      leaderPoller(
        'redis-leader',
        () => leaderOf(ctx.stack),
        async () => {
          // The probes' keys are the harness's own: taken out of the user's Redis (read back already).
          const { leader } = await leaderOf(ctx.stack).state();
          if (!leader) {
            // A replica is read-only: what the probes wrote stays until a master takes it out.
            ctx.emit('probe-keys-left', undefined, {
              pattern: `chaos:${ctx.plan.runId}:*`,
              why: 'no master',
            });
            return;
          }
          const removed = await removeRunKeys(ctx.stack.endpoint(leader, spec.port), ctx.plan.runId, auth);
          emitKeysRemoval(ctx, leader, removed);
        },
      ),
    ],
  };
}

/** The table a pg-writer writes to in an attached database: the run's own, dropped at the end. */
export const attachedPgTable = (runId: string, probe: string) =>
  `chaos_${runId}_${probe.replace(/-/g, '_')}`.toLowerCase();

/**
 * A user's Postgres streaming replication. Its nodes are the containers the selector found that
 * answer a query on `port` as `user`. Who leads: the node where `pg_is_in_recovery()` is false
 * (systems/pg/attach.ts); the pg-writer INSERTs into a table of the run's own there, found
 * through that same reading, and the table is dropped after the read-back.
 */
export function attachedPg(spec: PgAttachSpec): SystemDefinition<PgAttachSpec> {
  let data: string[] | undefined;
  let leadership: AttachedLeadership | undefined;
  const login = { user: spec.user, password: spec.password, database: spec.database };
  const where = `the attached Postgres stack (${describeSelector(spec.select)})`;
  const known = () => {
    if (!data) throw new InfraError('NOT_ATTACHED', `${where} was not looked at yet`);
    return data;
  };
  const nodesOf = (stack: Stack, names?: readonly string[]) =>
    stack
      .nodes()
      .filter((n) => n.system === 'pg' && (!names || names.includes(n.name)))
      .map((n) => ({ name: n.name, az: n.az, endpoint: stack.endpoint(n.name, spec.port) }));
  const readAll = (stack: Stack, names?: readonly string[], timeoutMs = PG_READ_TIMEOUT_MS) =>
    Promise.all(
      nodesOf(stack, names).map(async (n) => ({ ...n, reading: await readPg(n.endpoint, login, timeoutMs) })),
    );
  const read = async (stack: Stack) => {
    const book = addressBook(stack, 'pg');
    return pgState(await readAll(stack, known()), (h) => book.get(h));
  };
  const leaderOf = (stack: Stack) => {
    leadership ??= new AttachedLeadership(stack, WRITER_RECORD, () => read(stack));
    return leadership;
  };

  return {
    name: 'pg',
    kind: 'pg-streaming (attached)',
    description: "a user's Postgres streaming replication, attached to: the node out of recovery",
    spec: pgAttachSpec,
    probes: [
      {
        kind: 'pg-writer',
        spec: pgWriterSpec,
        create: (p, deps) =>
          new PgWriterProbe(p as PgWriterProbeSpec, {
            clock: deps.clock,
            history: deps.history,
            registry: leaderOf(deps.stack).resolver(),
            endpoint: (node) => deps.stack.endpoint(node, spec.port),
            table: attachedPgTable(deps.runId, p.name),
            login,
          }),
        settings: (p, runId) => pgWriterSettings(p as PgWriterProbeSpec, attachedPgTable(runId, p.name)),
      },
    ],
    roles: PG_ATTACH_ROLES,
    images: [],
    agents: {},
    layout: () => [],
    plan: () => [],
    async awaitReady(stack, _spec, signal) {
      let failed = '';
      await untilWhole(
        where,
        async () => {
          // Every container that ever answered as a Postgres node is one (a slow answer once is not none).
          const readings: { name: string; reading: PgReading | undefined }[] = await readAll(
            stack,
            undefined,
            DISCOVERY_TIMEOUT_MS,
          );
          const found = readings.filter((r) => r.reading).map((r) => r.name);
          data = [...new Set([...(data ?? []), ...found])].sort();
          if (data.length === 0) {
            // Why the first node refused, in its own words (a password, a pg_hba.conf line).
            const first = nodesOf(stack)[0];
            failed = first
              ? await queryAttached(first.endpoint, login, 'SELECT 1').then(
                  () => '',
                  (err: Error) => `: ${err.message}`,
                )
              : '';
            return [
              `no container answers a query on port ${spec.port} as ${spec.user} in database ${spec.database}${failed} (stack.attach.pg.port, user, password, database)`,
            ];
          }
          return attachedPgViolations(await leaderOf(stack).state());
        },
        signal,
      );
    },
    observe: (stack) => leaderOf(stack).state(),
    records: async (stack) => {
      const { leader } = await leaderOf(stack).state();
      return { leader, members: [...(leader ? [leader] : []), ...known().filter((n) => n !== leader)] };
    },
    invariants: (state) => attachedPgViolations(state),
    resolve: resolveLeaderRole('primary', 'standby', known),
    leadership: builtPg.leadership,
    decisions: [],
    controllers: (_s, ctx: ControllerContext) => [
      tablesPoller(
        'pg-leader',
        ctx,
        () => leaderOf(ctx.stack),
        (n) => ctx.stack.endpoint(n, spec.port),
        login,
      ),
    ],
  };
}

/**
 * The leader poller of an attached Postgres or Patroni: at the end the run's tables dropped from
 * the primary, or, when that fails, `probe-tables-left` at the primary it was tried on, with why.
 */
function tablesPoller(
  name: string,
  ctx: ControllerContext,
  leadership: () => AttachedLeadership,
  endpoint: (node: string) => Endpoint,
  login: { user: string; password: string; database: string },
): Controller {
  let at: string | undefined;
  return leaderPoller(
    name,
    leadership,
    async () => {
      at = (await leadership().state()).leader ?? undefined;
      await dropRunTables(ctx, at ?? null, endpoint, login);
    },
    (why) => ctx.emit('probe-tables-left', at, { pattern: `${attachedPgTable(ctx.plan.runId, '')}*`, why }),
  );
}

/**
 * Drops the tables a run's pg-writers wrote to (named by the run: `chaos_<run>_*`) from the
 * primary, after the read-back; says which on the timeline, or that they stay (no primary).
 */
async function dropRunTables(
  ctx: ControllerContext,
  leader: string | null,
  endpoint: (node: string) => Endpoint,
  login: { user: string; password: string; database: string },
): Promise<void> {
  if (!leader) {
    // A standby is read-only: the run's table stays until a primary drops it.
    ctx.emit('probe-tables-left', undefined, {
      pattern: `${attachedPgTable(ctx.plan.runId, '')}*`,
      why: 'no primary',
    });
    return;
  }
  const ep = endpoint(leader);
  const pattern = `${attachedPgTable(ctx.plan.runId, '')}%`;
  const tables = (
    await queryAttached(ep, login, 'SELECT tablename FROM pg_tables WHERE tablename LIKE $1', 2000, [
      pattern.replace(/_/g, '\\_'),
    ])
  ).map((r) => String(r.tablename));
  for (const t of tables) await queryAttached(ep, login, `DROP TABLE IF EXISTS "${t}"`, 2000);
  ctx.emit('probe-tables-dropped', leader, { tables, pattern });
}

/**
 * A probe of a built system's kind, as another system's: the runner judges a probe's writes
 * against the leader record of the system it names (the pg-writer on a Patroni cluster writes
 * where the `patroni-leader` record says, not `pg-writer`).
 */
function asSystem(p: Probe, system: string, rename: (node: string) => string = (n) => n): Probe {
  return {
    name: p.name,
    kind: p.kind,
    system,
    ...(p.prepare ? { prepare: () => p.prepare!() } : {}),
    start: () => p.start(),
    pause: () => p.pause(),
    resume: () => p.resume(),
    stop: () => p.stop(),
    readBack: async () => {
      const r = await p.readBack();
      return { ...r, node: rename(r.node) };
    },
    settings: () => p.settings(),
    ...(p.delivery ? { delivery: () => p.delivery!() } : {}),
  };
}

/**
 * A history whose operations name nodes by container: a probe that names the node of a write as
 * the system does (a replica set's member by its config's host) is mapped through `rename`.
 */
function renamingHistory(h: History, rename: (node: string) => string): History {
  return Object.assign(Object.create(h) as History, {
    record: (op: Op) => h.record(op.node === undefined ? op : { ...op, node: rename(op.node) }),
  });
}

/** How long a Mongo member may take to answer an observation (a new connection, its handshake). */
const MONGO_READ_TIMEOUT_MS = 1000;

/**
 * A user's MongoDB replica set. Its members are the containers the selector found that answer
 * `hello` on `port` as members of a replica set (anything else the selector finds is a node for
 * node: targets). Who leads: the member whose `hello` says it is the writable primary
 * (systems/mongo/attach.ts), mirrored into the built system's record `mongo-primary`. The
 * mongo-writer finds the primary through the set as its driver does (a replica-set URI over the
 * hosts of the set's config, each resolved to its container's address) or, with `connect:
 * endpoint-record`, through that same reading; the nodes it names are mapped to the containers.
 * Its collection is the run's own, dropped after the read-back.
 */
export function attachedMongo(spec: MongoAttachSpec): SystemDefinition<MongoAttachSpec> {
  let data: string[] | undefined;
  let hosts: string[] = [];
  let leadership: AttachedLeadership | undefined;
  let electionTimeoutMs: number | undefined;
  const where = `the attached MongoDB replica set (${describeSelector(spec.select)})`;
  const known = () => {
    if (!data) throw new InfraError('NOT_ATTACHED', `${where} was not looked at yet`);
    return data;
  };
  const nodesOf = (stack: Stack, names?: readonly string[]) =>
    stack
      .nodes()
      .filter((n) => n.system === 'mongo' && (!names || names.includes(n.name)))
      .map((n) => ({ name: n.name, az: n.az, endpoint: stack.endpoint(n.name, spec.port) }));
  const readAll = (stack: Stack, names?: readonly string[], timeoutMs = MONGO_READ_TIMEOUT_MS) =>
    Promise.all(
      nodesOf(stack, names).map(async (n) => ({
        ...n,
        reading: (await readMongo(n.endpoint, timeoutMs)) as MongoReading | undefined,
      })),
    );
  const read = async (stack: Stack) => {
    const book = addressBook(stack, 'mongo');
    return attachedMongoState(await readAll(stack, known()), (h) => book.get(h));
  };
  const leaderOf = (stack: Stack) => {
    leadership ??= new AttachedLeadership(stack, builtMongo.leadership.record, () => read(stack));
    return leadership;
  };
  /** A host of the set's config (or a container's name) to its container, else as it is. */
  const containerOf = (stack: Stack) => {
    const book = addressBook(stack, 'mongo');
    return (node: string) => book.get(node) ?? node;
  };

  return {
    name: 'mongo',
    kind: 'mongo-replica-set (attached)',
    description:
      "a user's MongoDB replica set, attached to: the member whose hello says it is the writable primary",
    spec: mongoAttachSpec,
    probes: [
      {
        kind: 'mongo-writer',
        spec: mongoWriterSpec,
        create: (p, deps) => {
          const { stack } = deps;
          const rename = containerOf(stack);
          return asSystem(
            new MongoWriterProbe(p as MongoWriterProbeSpec, {
              clock: deps.clock,
              history: renamingHistory(deps.history, rename),
              registry: leaderOf(stack).resolver(),
              endpoint: (node) => stack.endpoint(rename(node), spec.port),
              // What each host of the set's config resolves to on the containers' network.
              address: (host) => {
                const node = rename(host);
                return stack.nodes().some((n) => n.name === node) ? stack.address(node) : host;
              },
              members: () => hosts,
              collection: attachedMongoCollection(deps.runId, p.name),
            }),
            'mongo',
            rename,
          );
        },
        settings: (p, runId) =>
          mongoWriterSettings(p as MongoWriterProbeSpec, attachedMongoCollection(runId, p.name)),
      },
    ],
    roles: MONGO_ATTACH_ROLES,
    // Learnt from the set's config once it is found (0 before: no settle time).
    failoverThresholdMs: () => electionTimeoutMs ?? 0,
    images: [],
    agents: {},
    layout: () => [],
    plan: () => [],
    async awaitReady(stack, _spec, signal) {
      await untilWhole(
        where,
        async () => {
          // Every container that ever answered as a member is one (a slow answer once is not none).
          const readings = await readAll(stack, undefined, DISCOVERY_TIMEOUT_MS);
          const members = readings.filter((r) => r.reading?.account.hello.setName);
          data = [...new Set([...(data ?? []), ...members.map((r) => r.name)])].sort();
          if (data.length === 0)
            return [
              `no container answers hello on port ${spec.port} as a member of a replica set (stack.attach.mongo.port; a set not initiated yet has no members)`,
            ];
          // What waiting does not change is refused at once, in one line.
          const refusal = mongoRefusal(
            members.map((r) => r.reading),
            spec.port,
          );
          if (refusal) throw new InfraError('ATTACH_UNSUPPORTED', `${where}: ${refusal}`);
          const sets = [...new Set(members.map((r) => r.reading!.account.hello.setName))];
          if (sets.length > 1)
            return [`the containers are members of several replica sets: ${sets.join(', ')}`];
          const config = configHosts(members.map((r) => r.reading));
          const book = addressBook(stack, 'mongo');
          const unmapped = config.hosts.filter((h) => !book.has(h));
          if (unmapped.length)
            return [
              `the set's members ${unmapped.join(', ')} (its config's hosts) are not containers the selector found: select every member's container`,
            ];
          hosts = config.hosts;
          return attachedMongoViolations(await leaderOf(stack).state(), spec);
        },
        signal,
      );
      const { leader } = await leaderOf(stack).state();
      if (leader)
        electionTimeoutMs = await readElectionTimeout(
          stack.endpoint(leader, spec.port),
          DISCOVERY_TIMEOUT_MS,
        );
    },
    observe: (stack) => leaderOf(stack).state(),
    records: async (stack) => {
      const { leader } = await leaderOf(stack).state();
      return { leader, members: [...(leader ? [leader] : []), ...known().filter((n) => n !== leader)] };
    },
    invariants: (state) => attachedMongoViolations(state, spec),
    resolve: (role, state, nodes, random) => {
      const members = known();
      const arbiters = state.nodes.filter((n) => n.role === 'arbiter').map((n) => n.name);
      const data = nodes.filter((n) => members.includes(n.name) && !arbiters.includes(n.name));
      switch (role) {
        case 'primary':
          return data.filter((n) => n.name === state.leader);
        case 'secondary':
          return data.filter((n) => n.name !== state.leader);
        case 'arbiter':
          return nodes.filter((n) => arbiters.includes(n.name));
        case 'any': {
          const pool = state.members.length
            ? nodes.filter((n) => state.members.includes(n.name))
            : nodes.filter((n) => members.includes(n.name));
          return pool.length ? [pool[Math.floor(random() * pool.length)]!] : [];
        }
        default:
          return [];
      }
    },
    leadership: builtMongo.leadership,
    decisions: [],
    controllers: (_s, ctx: ControllerContext) => [
      mongoCollectionsPoller(
        ctx,
        () => leaderOf(ctx.stack),
        (n) => ctx.stack.endpoint(n, spec.port),
      ),
    ],
  };
}

/**
 * The leader poller of an attached MongoDB: at the end the run's collections dropped from the
 * primary, or, when that fails, `probe-collections-left` at the primary it was tried on, with why.
 */
function mongoCollectionsPoller(
  ctx: ControllerContext,
  leadership: () => AttachedLeadership,
  endpoint: (node: string) => Endpoint,
): Controller {
  const pattern = `${MONGO_DB}.${attachedMongoCollection(ctx.plan.runId, '')}*`;
  let at: string | undefined;
  return leaderPoller(
    'mongo-leader',
    leadership,
    async () => {
      // The probes' collections are the harness's own (named by the run): dropped after the read-back.
      at = (await leadership().state()).leader ?? undefined;
      if (!at) {
        ctx.emit('probe-collections-left', undefined, { pattern, why: 'no primary' });
        return;
      }
      const collections = await dropRunCollections(endpoint(at), ctx.plan.runId);
      ctx.emit('probe-collections-dropped', at, { collections, pattern });
    },
    (why) => ctx.emit('probe-collections-left', at, { pattern, why }),
  );
}

/** How long a Patroni member's REST API may take to answer an observation. */
const PATRONI_READ_TIMEOUT_MS = 800;

/**
 * A user's Patroni cluster. Its members are the containers the selector found whose REST API
 * answers `GET /cluster` on `restPort` (its DCS and anything else the selector finds are nodes
 * for node: targets, not members). Who leads: the member whose role is `leader` in the members'
 * `/cluster` (systems/patroni/attach.ts), mapped to its container by its host; mirrored into the
 * built system's record `patroni-leader`, and the pg-writer's lookups of its own record
 * (`pg-writer`) are answered from the same reading. The user's ttl and loop_wait (`GET
 * /config`) are the failover threshold false failovers are judged by.
 */
export function attachedPatroni(spec: PatroniAttachSpec): SystemDefinition<PatroniAttachSpec> {
  let data: string[] | undefined;
  let leadership: AttachedLeadership | undefined;
  let timings: PatroniTimings | undefined;
  const login = { user: spec.user, password: spec.password, database: spec.database };
  const where = `the attached Patroni cluster (${describeSelector(spec.select)})`;
  const known = () => {
    if (!data) throw new InfraError('NOT_ATTACHED', `${where} was not looked at yet`);
    return data;
  };
  const nodesOf = (stack: Stack, names?: readonly string[]) =>
    stack
      .nodes()
      .filter((n) => n.system === 'patroni' && (!names || names.includes(n.name)))
      .map((n) => ({ name: n.name, az: n.az, rest: stack.endpoint(n.name, spec.restPort) }));
  const readAll = (stack: Stack, names?: readonly string[], timeoutMs = PATRONI_READ_TIMEOUT_MS) =>
    Promise.all(
      nodesOf(stack, names).map(async (n) => ({
        name: n.name,
        az: n.az,
        answer: (await readPatroni(n.rest, timeoutMs)) as PatroniAnswer,
      })),
    );
  const read = async (stack: Stack) => {
    const book = addressBook(stack, 'patroni');
    return attachedPatroniState(await readAll(stack, known()), (h) => book.get(h));
  };
  const leaderOf = (stack: Stack) => {
    leadership ??= new AttachedLeadership(stack, builtPatroni.leadership.record, () => read(stack), [
      builtPatroni.leadership.record,
      WRITER_RECORD,
    ]);
    return leadership;
  };
  const lagBound = () => ({
    maximumLagOnFailoverBytes: (timings ?? PATRONI_DEFAULTS).maximumLagOnFailoverBytes,
  });

  return {
    name: 'patroni',
    kind: 'patroni (attached)',
    description: "a user's Patroni cluster, attached to: the member /cluster names leader",
    spec: patroniAttachSpec,
    probes: [
      {
        kind: 'pg-writer',
        spec: pgWriterSpec,
        create: (p, deps) =>
          asSystem(
            new PgWriterProbe(p as PgWriterProbeSpec, {
              clock: deps.clock,
              history: deps.history,
              registry: leaderOf(deps.stack).resolver(),
              endpoint: (node) => deps.stack.endpoint(node, spec.port),
              table: attachedPgTable(deps.runId, p.name),
              login,
            }),
            'patroni',
          ),
        settings: (p, runId) => pgWriterSettings(p as PgWriterProbeSpec, attachedPgTable(runId, p.name)),
      },
    ],
    roles: PATRONI_ATTACH_ROLES,
    // Learnt from the user's /config once the cluster is found (0 before: no settle time): a dead
    // leader's key lives up to ttl, then a member's next loop takes it.
    failoverThresholdMs: () => (timings ? timings.ttlMs + timings.loopWaitMs : 0),
    images: [],
    agents: {},
    layout: () => [],
    plan: () => [],
    async awaitReady(stack, _spec, signal) {
      await untilWhole(
        where,
        async () => {
          // Every container that ever answered /cluster is a member (a slow answer once is not none).
          const answers = await readAll(stack, undefined, DISCOVERY_TIMEOUT_MS);
          const found = answers.filter((a) => a.answer.cluster).map((a) => a.name);
          data = [...new Set([...(data ?? []), ...found])].sort();
          if (data.length === 0)
            return [
              `no container answers GET /cluster on port ${spec.restPort}: no Patroni member (stack.attach.patroni.restPort)`,
            ];
          const state = await leaderOf(stack).state();
          const unmapped = answers
            .flatMap((a) => [...(a.answer.hosts ?? [])])
            .filter(([, host]) => !addressBook(stack, 'patroni').has(host))
            .map(([member, host]) => `${member} (host ${host})`);
          if (unmapped.length)
            return [
              `Patroni's members ${[...new Set(unmapped)].join(', ')} are not containers the selector found: select every member's container`,
            ];
          return attachedPatroniViolations(state, lagBound());
        },
        signal,
      );
      for (const n of nodesOf(stack, known())) {
        timings = await readTimings(n.rest, DISCOVERY_TIMEOUT_MS);
        if (timings) break;
      }
    },
    observe: (stack) => leaderOf(stack).state(),
    records: async (stack) => {
      const { leader } = await leaderOf(stack).state();
      return { leader, members: [...(leader ? [leader] : []), ...known().filter((n) => n !== leader)] };
    },
    invariants: (state) => attachedPatroniViolations(state, lagBound()),
    resolve: (role, state, nodes, random) =>
      resolveLeaderRole('leader', 'replica', known)(
        role === 'primary' ? 'leader' : role,
        state,
        nodes,
        random,
      ),
    leadership: builtPatroni.leadership,
    decisions: [],
    controllers: (_s, ctx: ControllerContext) => [
      tablesPoller(
        'patroni-leader',
        ctx,
        () => leaderOf(ctx.stack),
        (n) => ctx.stack.endpoint(n, spec.port),
        login,
      ),
    ],
  };
}

/** What a Redis answers a client that sends a wrong login, or none where one is needed. */
const LOGIN_REFUSED = /NOAUTH|WRONGPASS|invalid (username-)?password|Authentication required|AUTH failed/i;

/**
 * Throws at once, in one line, when a node refuses the harness's login (NOAUTH, WRONGPASS): a
 * password is not fixed by waiting for the stack to form. Anything else is left to the caller.
 */
async function refusedLogin(
  where: string,
  node: { name: string; endpoint: Endpoint } | undefined,
  auth: RedisAuth,
  field: string,
): Promise<void> {
  if (!node) return;
  const why = await roleError(node.endpoint, DISCOVERY_TIMEOUT_MS, auth);
  if (why && LOGIN_REFUSED.test(why))
    throw new InfraError(
      'ATTACH_LOGIN_REFUSED',
      `${where}: ${node.name} refused the harness's login: ${why}`,
      {
        hint: `set ${field}${field.endsWith('sentinelPassword') ? ' (and sentinelUsername' : ' (and username'} for an ACL user)`,
      },
    );
}

/** One Redis reply, or undefined when the node did not answer in time. */
async function ask<T>(
  ep: Endpoint,
  run: (c: ReturnType<typeof quickClient>) => Promise<T>,
  auth?: RedisAuth,
): Promise<T | undefined> {
  const c = quickClient(ep, 500, auth);
  try {
    await c.connect();
    return await run(c);
  } catch {
    return undefined;
  } finally {
    c.disconnect();
  }
}

/** Which containers hold data and which run a Sentinel, found once by asking each. */
interface Layout {
  data: string[];
  sentinels: string[];
  /** Containers that run a Sentinel and no data node. */
  sentinelOnly: string[];
}

/**
 * A user's Redis with Sentinel. Its nodes are the containers the selector found; a container is a
 * data node when it answers `ROLE` on `port`, a Sentinel when it answers `redis_mode:sentinel` on
 * `sentinelPort` (both, where a Sentinel runs beside a data node). Who leads: the master a majority
 * of the Sentinels hands out for `masterName`. The leader's history: a watcher subscribed to every
 * Sentinel mirrors `+switch-master` into the record `sentinel-master`, as the built stack's do.
 */
export function attachedSentinel(spec: SentinelAttachSpec): SystemDefinition<SentinelAttachSpec> {
  let layout: Layout | undefined;
  // The data nodes' login, and the Sentinels' own (their requirepass is not the data nodes').
  const auth: RedisAuth = { username: spec.username, password: spec.password };
  const sentinelAuth: RedisAuth = { username: spec.sentinelUsername, password: spec.sentinelPassword };
  const nodesOf = (stack: Stack) => stack.nodes().filter((n) => n.system === 'sentinel');

  /** Addresses (and names) to node names: what the Sentinels and INFO answer with. */
  const book = (stack: Stack) => {
    const out = new Map<string, string>();
    for (const n of nodesOf(stack)) {
      out.set(n.name, n.name);
      try {
        out.set(stack.address(n.name), n.name);
      } catch {}
    }
    return out;
  };

  async function findLayout(stack: Stack): Promise<Layout> {
    const nodes = nodesOf(stack);
    const answers = await Promise.all(
      nodes.map(async (n) => {
        const [role, info] = await Promise.all([
          ask(stack.endpoint(n.name, spec.port), (c) => c.call('ROLE') as Promise<unknown[]>, auth),
          ask(stack.endpoint(n.name, spec.sentinelPort), (c) => c.info('server'), sentinelAuth),
        ]);
        return {
          name: n.name,
          data: Array.isArray(role) && (role[0] === 'master' || role[0] === 'slave'),
          sentinel: typeof info === 'string' && /redis_mode:sentinel/.test(info),
        };
      }),
    );
    const data = answers.filter((a) => a.data).map((a) => a.name);
    const sentinels = answers.filter((a) => a.sentinel).map((a) => a.name);
    return { data, sentinels, sentinelOnly: sentinels.filter((s) => !data.includes(s)) };
  }

  const known = (): Layout => {
    if (!layout) throw new InfraError('NOT_ATTACHED', 'the attached Sentinel stack was not looked at yet');
    return layout;
  };

  async function sentinelAnswers(stack: Stack): Promise<Map<string, string | null | undefined>> {
    const names = book(stack);
    const entries = await Promise.all(
      known().sentinels.map(async (n) => {
        const addr = (await ask(
          stack.endpoint(n, spec.sentinelPort),
          (c) => c.call('SENTINEL', 'get-master-addr-by-name', spec.masterName),
          sentinelAuth,
        )) as [string, string] | null | undefined;
        if (addr === undefined) return [n, undefined] as const;
        return [n, addr ? (names.get(addr[0]) ?? null) : null] as const;
      }),
    );
    return new Map(entries);
  }

  async function records(stack: Stack): Promise<Pick<SystemState, 'leader' | 'members'>> {
    const leader = agreedMaster(await sentinelAnswers(stack));
    return { leader, members: [...(leader ? [leader] : []), ...known().data.filter((n) => n !== leader)] };
  }

  async function observe(stack: Stack): Promise<SystemState> {
    const { data, sentinels } = known();
    const names = book(stack);
    const nodes = new Map(nodesOf(stack).map((n) => [n.name, n]));
    const [answers, replication] = await Promise.all([
      sentinelAnswers(stack),
      Promise.all(
        data.map(async (n) => {
          const info = await ask(stack.endpoint(n, spec.port), (c) => c.info('replication'), auth);
          return [n, info === undefined ? undefined : parseReplication(info)] as const;
        }),
      ),
    ]);
    const leader = agreedMaster(answers);
    const leaderOffset = replication.find(([n]) => n === leader)?.[1]?.offset;
    const sentinelOf = (n: string) =>
      sentinels.includes(n)
        ? { sentinel: { answers: answers.get(n) !== undefined, master: answers.get(n) ?? null } }
        : {};
    const states: SentinelNodeState[] = replication.map(([n, r]) => {
      const az = nodes.get(n)?.az ?? 'a';
      if (!r) return { name: n, az, reachable: false, ...sentinelOf(n) };
      if (r.role === 'master') return { name: n, az, reachable: true, role: 'master', ...sentinelOf(n) };
      const following = r.masterHost ? (names.get(r.masterHost) ?? r.masterHost) : '';
      const lag =
        following === leader && leaderOffset !== undefined && r.offset !== undefined
          ? Math.max(0, leaderOffset - r.offset)
          : undefined;
      return {
        name: n,
        az,
        reachable: true,
        role: 'replica',
        following,
        linkUp: r.linkUp ?? false,
        ...(lag === undefined ? {} : { lag }),
        ...sentinelOf(n),
      };
    });
    for (const n of known().sentinelOnly)
      states.push({
        name: n,
        az: nodes.get(n)?.az ?? 'a',
        reachable: answers.get(n) !== undefined,
        role: 'sentinel',
        ...sentinelOf(n),
      });
    const replicas = states.filter((s) => s.reachable && s.role === 'replica' && s.following === leader);
    // The Sentinels of their own that hand the master out are in the topology too (as a proxy is).
    const agreeing = states.filter(
      (s) => s.role === 'sentinel' && s.reachable && s.sentinel?.master === leader,
    );
    return {
      leader,
      members: leader ? [leader, ...replicas.map((s) => s.name), ...agreeing.map((s) => s.name)] : [],
      nodes: states,
    };
  }

  /** Sentinel's invariants on the data nodes, and every Sentinel container that answers agreeing. */
  function invariants(state: SystemState): string[] {
    const nodes = state.nodes as SentinelNodeState[];
    const out = sentinelViolations({ ...state, nodes: nodes.filter((n) => n.role !== 'sentinel') });
    for (const n of nodes) {
      if (n.role !== 'sentinel' || !n.reachable || !n.sentinel) continue;
      if (state.leader !== null && n.sentinel.master !== state.leader)
        out.push(
          `the Sentinel ${n.name} hands out ${n.sentinel.master ?? 'no master it can name'}, not ${state.leader}`,
        );
    }
    return out;
  }

  async function awaitReady(stack: Stack, _spec: SentinelAttachSpec, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + 30_000;
    const where = `the attached Sentinel stack (${describeSelector(spec.select)})`;
    let why: string[] = [];
    for (;;) {
      if (signal?.aborted) throw new InterruptedError(String(signal.reason));
      layout = await findLayout(stack);
      const first = nodesOf(stack)[0];
      if (layout.data.length === 0) {
        await refusedLogin(
          where,
          first && { name: first.name, endpoint: stack.endpoint(first.name, spec.port) },
          auth,
          'stack.attach.sentinel.password',
        );
        why = [`no container answers ROLE on port ${spec.port}: no data node (stack.attach.sentinel.port)`];
      } else if (layout.sentinels.length === 0) {
        for (const n of nodesOf(stack).filter((x) => !layout?.data.includes(x.name)))
          await refusedLogin(
            where,
            { name: n.name, endpoint: stack.endpoint(n.name, spec.sentinelPort) },
            sentinelAuth,
            'stack.attach.sentinel.sentinelPassword',
          );
        why = [
          `no container answers as a Sentinel on port ${spec.sentinelPort} (stack.attach.sentinel.sentinelPort)`,
        ];
      } else {
        const answers = await sentinelAnswers(stack);
        why = [...answers.values()].every((a) => a === null)
          ? [`no Sentinel hands out a master named '${spec.masterName}' (stack.attach.sentinel.masterName)`]
          : invariants(await observe(stack));
      }
      if (why.length === 0) {
        downAfterMs = await readDownAfter(stack);
        return;
      }
      if (Date.now() > deadline)
        throw new InfraError(
          'ATTACHED_NOT_WHOLE',
          `${where} is not whole before any fault, so nothing it shows could be judged: ${why.join('; ')}`,
          { hint: 'fix the stack first (docker logs of its containers); the harness changed nothing in it' },
        );
      await sleep(500, signal);
    }
  }

  /**
   * The user's own `down-after-milliseconds` for the master, from the first Sentinel that names
   * it (`SENTINEL MASTER`): the threshold a failover follows a fault by, which tells a failover
   * a fault caused from a false one (checker/gray.ts). Undefined when no Sentinel answers.
   */
  let downAfterMs: number | undefined;
  async function readDownAfter(stack: Stack): Promise<number | undefined> {
    for (const n of known().sentinels) {
      const fields = (await ask(
        stack.endpoint(n, spec.sentinelPort),
        (c) => c.call('SENTINEL', 'MASTER', spec.masterName),
        sentinelAuth,
      )) as unknown;
      if (!Array.isArray(fields)) continue;
      const i = fields.indexOf('down-after-milliseconds');
      const v = i >= 0 ? Number(fields[i + 1]) : Number.NaN;
      if (Number.isFinite(v) && v > 0) return v;
    }
    return undefined;
  }

  /** A watcher on every Sentinel: its events on the timeline, `+switch-master` into the leader record. */
  function watcher(ctx: ControllerContext): Controller {
    const subs: ReturnType<typeof quickClient>[] = [];
    const decisions = new Set(builtSentinel.decisions);
    const { stack } = ctx;
    return {
      name: 'sentinel-watch',
      start() {
        const names = book(stack);
        for (const n of known().sentinels) {
          const watch = new SentinelWatch(n, {
            emit: (type, data) => {
              if (decisions.has(type)) ctx.emit(type, typeof data?.node === 'string' ? data.node : n, data);
            },
            registry: stack.registry(),
            nameOf: (ip) => names.get(ip),
            sleep,
          });
          const ep = stack.endpoint(n, spec.sentinelPort);
          const sub = quickClient(ep, 1000, sentinelAuth);
          sub.options.retryStrategy = () => 200;
          sub.options.maxRetriesPerRequest = null;
          sub.on('pmessage', (_p: string, channel: string, message: string) => {
            // Sentinel's events about this master set only (a Sentinel may watch several).
            if (!message.includes(` ${spec.masterName} `) && !message.startsWith(`${spec.masterName} `))
              return;
            watch.onEvent(channel, message);
          });
          sub.connect().then(
            () => sub.psubscribe('*'),
            () => {},
          );
          subs.push(sub);
        }
        void records(stack).then((r) => {
          if (r.leader) void stack.registry().set(MASTER_RECORD, r.leader, 1000, 0);
        });
      },
      async stop() {
        for (const s of subs) s.disconnect();
        // The probes' keys are the harness's own: taken out of the user's Redis (read back already).
        const { leader } = await records(stack).catch(() => ({ leader: null }));
        if (!leader) {
          ctx.emit('probe-keys-left', undefined, { pattern: `chaos:${ctx.plan.runId}:*`, why: 'no master' });
          return;
        }
        const removed = await removeRunKeys(stack.endpoint(leader, spec.port), ctx.plan.runId, auth);
        emitKeysRemoval(ctx, leader, removed);
      },
    };
  }

  return {
    name: 'sentinel',
    kind: 'redis-sentinel (attached)',
    description:
      "a user's Redis with Sentinel, attached to: the master a majority of the Sentinels hands out",
    spec: sentinelAttachSpec,
    probes: [
      {
        kind: 'sentinel-writer',
        spec: sentinelWriterSpec,
        create: (p, deps) => {
          const { stack } = deps;
          const nodeAt = (ip: string) => book(stack).get(ip);
          return new SentinelWriterProbe(p as SentinelWriterProbeSpec, {
            clock: deps.clock,
            history: deps.history,
            key: probeKey(deps.runId, p.name),
            masterName: spec.masterName,
            auth,
            sentinelAuth,
            proxy: () => {
              throw new InfraError('NO_PROXY', 'an attached Sentinel stack has no proxy of the harness');
            },
            sentinels: () => known().sentinels.map((n) => stack.endpoint(n, spec.sentinelPort)),
            nodeAt,
            nat: (ip, port) => {
              const node = nodeAt(ip);
              return node ? { node, endpoint: stack.endpoint(node, port) } : undefined;
            },
            master: async () => {
              const { leader } = await records(stack);
              return leader ? { node: leader, endpoint: stack.endpoint(leader, spec.port) } : undefined;
            },
          });
        },
        settings: (p, runId) =>
          sentinelWriterSettings(p as SentinelWriterProbeSpec, probeKey(runId, p.name), spec.masterName),
      },
    ],
    roles: SENTINEL_ATTACH_ROLES,
    // Learnt from the user's Sentinels once the stack is found (0 before: no settle time).
    failoverThresholdMs: () => downAfterMs ?? 0,
    images: [],
    agents: {},
    layout: () => [],
    plan: () => [],
    awaitReady,
    observe: (stack) => observe(stack),
    records,
    invariants: (state) => invariants(state),
    resolve: (role, state, nodes: readonly NodeRef[], random) => {
      const { data, sentinelOnly } = known();
      const dataNodes = nodes.filter((n) => data.includes(n.name));
      const members = state.members.filter((m) => data.includes(m));
      switch (role) {
        case 'master':
          return dataNodes.filter((n) => n.name === state.leader);
        case 'replica':
          return dataNodes.filter(
            (n) => n.name !== state.leader && (members.length === 0 || members.includes(n.name)),
          );
        case 'any': {
          const pool = members.length ? dataNodes.filter((n) => members.includes(n.name)) : dataNodes;
          return pool.length ? [pool[Math.floor(random() * pool.length)]!] : [];
        }
        case 'sentinel':
          return nodes.filter((n) => sentinelOnly.includes(n.name));
        default:
          return [];
      }
    },
    leadership: builtSentinel.leadership,
    decisions: builtSentinel.decisions,
    controllers: (_s, ctx) => [watcher(ctx)],
  };
}

/**
 * `node:` and `az:` targets of an attached scenario, checked once the containers are found (they
 * are not known before): a name no container has is one line, before any fault.
 */
export function checkAttachedTargets(
  file: string,
  faults: readonly { target: string; from?: string | undefined }[],
  stack: Stack,
): void {
  const nodes = stack.nodes();
  faults.forEach((f, i) => {
    for (const sel of [f.target, f.from]) {
      if (!sel) continue;
      const [kind, arg] = sel.split(':') as [string, string];
      const missing =
        (kind === 'node' && !nodes.some((n) => n.name === arg)) ||
        (kind === 'az' && !nodes.some((n) => n.az === arg));
      if (missing)
        throw new ScenarioError(
          'TARGET_NOT_ATTACHED',
          `${file}: faults[${i}]: ${sel} names no ${kind === 'node' ? 'container' : 'AZ'} of the attached stack (${kind === 'node' ? nodes.map((n) => n.name).join(', ') : [...new Set(nodes.map((n) => n.az))].join(', ')})`,
        );
    }
  });
}
