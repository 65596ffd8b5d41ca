import { z } from 'zod';
import type { FAULT_ACTIONS } from '../core/faults.ts';

/**
 * `stack.attach`: a stack the user already runs on the Docker engine, which the harness attaches
 * to instead of building one. Each key is a kind of system; its containers are found by a label
 * or by a Compose project, its leader the way that kind says (Sentinel: the master a majority of
 * the Sentinels hands out; plain Redis replication: the node whose `ROLE` says master; Postgres
 * streaming replication: the node where `pg_is_in_recovery()` is false; Patroni: the member its
 * REST API's `/cluster` names `leader`; a MongoDB replica set: the member whose `hello` says it is
 * the writable primary). The harness never
 * starts, restarts or removes the user's containers or networks; it removes only what it added
 * (its iptables rules, its proxies, the keys and tables its probes wrote).
 */
export const ATTACH_KINDS = ['sentinel', 'redis', 'pg', 'patroni', 'mongo'] as const;
export type AttachKind = (typeof ATTACH_KINDS)[number];

/** The faults an attached stack can take: those that need nothing the harness builds. */
export const ATTACH_FAULTS = [
  'kill',
  'stop',
  'pause',
  'partition',
  'latency',
  'bandwidth',
  'blackhole',
  'reset',
  'stress',
] as const satisfies readonly (typeof FAULT_ACTIONS)[number][];

/** Why each other fault cannot be done to a stack the harness did not build. */
export const ATTACH_FAULT_REFUSALS: Partial<Record<(typeof FAULT_ACTIONS)[number], string>> = {
  'drop-az':
    "a zone is the harness's own network layout; on an attached stack, kill or partition the zone's containers (az:X targets)",
  'freeze-volume': "the harness does not know which of the user's mounts is a node's data disk",
  'fill-disk': "the harness does not know which of the user's mounts is a node's data disk",
  'kill-process':
    "the harness does not know the process names in the user's containers; use kill, stop or pause",
};

const selector = z
  .union([
    z
      .object({
        label: z
          .string()
          .regex(/^[^=\s]+(=\S*)?$/, 'a Docker label filter: KEY or KEY=VALUE')
          .describe('Every running container with this label (KEY or KEY=VALUE).'),
      })
      .strict(),
    z
      .object({
        compose: z
          .string()
          .min(1)
          .describe(
            'Every running container of this Compose project (its label com.docker.compose.project).',
          ),
      })
      .strict(),
  ])
  .describe('Which containers form the stack: { label: KEY=VALUE } or { compose: PROJECT }.');

export type AttachSelector = z.infer<typeof selector>;

/** How the harness logs in to a user's Redis (AUTH): every client it opens sends it. */
const redisLogin = {
  username: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The ACL user every client of the harness's logs in as (AUTH username password); absent: the default user.",
    ),
  password: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The password every client of the harness's sends (AUTH): the nodes' requirepass, or the ACL user's; absent: none.",
    ),
};

/** A running user's Redis with Sentinel: data nodes and Sentinels, in one or several containers. */
export const sentinelAttachSpec = z
  .object({
    select: selector,
    masterName: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, "the master set's name as the Sentinels know it")
      .default('mymaster')
      .describe("The master set's name the Sentinels monitor (sentinel monitor <name> ...)."),
    port: z.number().int().min(1).max(65535).default(6379).describe("The data nodes' Redis port."),
    sentinelPort: z.number().int().min(1).max(65535).default(26379).describe("The Sentinels' port."),
    ...redisLogin,
    sentinelUsername: z
      .string()
      .min(1)
      .optional()
      .describe("The ACL user the harness logs in to the Sentinels as; absent: the Sentinels' default user."),
    sentinelPassword: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The Sentinels' own password (their requirepass), if they have one: the data nodes' password is not sent to them.",
      ),
    azLabel: z
      .string()
      .min(1)
      .optional()
      .describe("The label that holds each container's AZ (absent, or absent on a container: AZ a)."),
    endpoints: z
      .enum(['network', 'published'])
      .default('network')
      .describe(
        "How the probes reach the containers: their addresses on their Docker network (Linux), or the ports they publish on the host (127.0.0.1); the Sentinels' answers are mapped either way.",
      ),
  })
  .strict()
  .describe("A user's Redis with Sentinel: who leads is the master a majority of the Sentinels hands out.");
export type SentinelAttachSpec = z.infer<typeof sentinelAttachSpec>;

const port = (what: string, dflt: number) => z.number().int().min(1).max(65535).default(dflt).describe(what);
const azLabel = z
  .string()
  .min(1)
  .optional()
  .describe("The label that holds each container's AZ (absent, or absent on a container: AZ a).");
const endpoints = (answers: string) =>
  z
    .enum(['network', 'published'])
    .default('network')
    .describe(
      `How the probes reach the containers: their addresses on their Docker network (Linux), or the ports they publish on the host (127.0.0.1); ${answers} mapped either way.`,
    );

/** A running user's plain Redis replication: one master, replicas by `replicaof`, no failover agent of the harness. */
export const redisAttachSpec = z
  .object({
    select: selector,
    port: port(
      "The Redis nodes' port (every container the selector finds that answers ROLE on it is a node).",
      6379,
    ),
    ...redisLogin,
    azLabel,
    endpoints: endpoints("the replicas' master addresses (ROLE) are"),
  })
  .strict()
  .describe(
    "A user's plain Redis replication: who leads is the node whose ROLE says master; the redis-writer RPUSHes to it. Whole when every node that answers is that master or its replica with the link up.",
  );
export type RedisAttachSpec = z.infer<typeof redisAttachSpec>;

/** A running user's Postgres streaming replication: one primary, hot standbys. */
export const pgAttachSpec = z
  .object({
    select: selector,
    port: port("The Postgres nodes' port.", 5432),
    user: z
      .string()
      .min(1)
      .default('postgres')
      .describe(
        "The role the probe and the observer log in as: it creates (and at the end drops) the run's table, and reads pg_stat_replication and pg_stat_wal_receiver in full (a superuser, or a member of pg_read_all_stats).",
      ),
    password: z
      .string()
      .default('postgres')
      .describe("That role's password (ignored where pg_hba.conf trusts the harness's address)."),
    database: z.string().min(1).default('postgres').describe("The database the probe's table is created in."),
    azLabel,
    endpoints: endpoints("the standbys' addresses (pg_stat_replication, pg_stat_wal_receiver) are"),
  })
  .strict()
  .describe(
    "A user's Postgres streaming replication: who leads is the node where pg_is_in_recovery() is false; the pg-writer INSERTs there. Whole when every standby that answers streams from it (the leader's pg_stat_replication).",
  );
export type PgAttachSpec = z.infer<typeof pgAttachSpec>;

/** A running user's Patroni cluster: Postgres members run by Patroni, with a DCS of the user's. */
export const patroniAttachSpec = z
  .object({
    select: selector,
    restPort: port(
      "Patroni's REST API port on each member (every container the selector finds that answers GET /cluster on it is a member).",
      8008,
    ),
    port: port("The members' Postgres port (the pg-writer's).", 5432),
    user: z
      .string()
      .min(1)
      .default('postgres')
      .describe("The role the probe logs in as: it creates (and at the end drops) the run's table."),
    password: z
      .string()
      .default('postgres')
      .describe("That role's password (ignored where pg_hba.conf trusts the harness's address)."),
    database: z.string().min(1).default('postgres').describe("The database the probe's table is created in."),
    azLabel,
    endpoints: endpoints("the members' hosts in /cluster are"),
  })
  .strict()
  .describe(
    "A user's Patroni cluster: who leads is the member whose role is leader in the members' GET /cluster (a standby_leader takes no writes); the pg-writer INSERTs there. Whole when every other member that answers is a replica running and streaming from it, within the user's maximum_lag_on_failover; failovers are judged with the user's ttl + loop_wait (GET /config).",
  );
export type PatroniAttachSpec = z.infer<typeof patroniAttachSpec>;

/** A running user's MongoDB replica set: data members (and arbiters), its own elections. */
export const mongoAttachSpec = z
  .object({
    select: selector,
    port: port(
      "The members' mongod port (every container the selector finds that answers hello on it as a member of a replica set is a member).",
      27017,
    ),
    maxLagMs: z
      .number()
      .int()
      .min(0)
      .default(2000)
      .describe('How far (ms of oplog) a secondary may trail the primary and still count as redundant.'),
    azLabel,
  })
  .strict()
  .describe(
    "A user's MongoDB replica set (no authentication): who leads is the member whose hello says it is the writable primary; the mongo-writer finds it through the set (a replica-set URI over the hosts of the set's config, reached on the containers' network at port 27017) or connects to it directly (connect: endpoint-record). Whole when every other data member that answers is a SECONDARY syncing from it within maxLagMs.",
  );
export type MongoAttachSpec = z.infer<typeof mongoAttachSpec>;

/** The systems the harness builds that it cannot attach to, and why, in one line each. */
const NOT_ATTACHABLE: Record<string, string> = {
  web: "a web tier cannot be attached to (its probe needs the harness's load balancer); attach supports: sentinel, redis, pg, patroni, mongo",
};

/** A key that is never valid, refused with its reason (and closed to an editor: `not: {}`). */
const refused = (why: string) =>
  z
    .never({ errorMap: () => ({ message: why }) })
    .optional()
    .describe(`Not attachable: ${why}`);

export const attachSpec = z
  .object({
    sentinel: sentinelAttachSpec.optional(),
    redis: redisAttachSpec.optional(),
    pg: pgAttachSpec.optional(),
    patroni: patroniAttachSpec.optional(),
    mongo: mongoAttachSpec.optional(),
    ...Object.fromEntries(Object.entries(NOT_ATTACHABLE).map(([k, why]) => [k, refused(why)])),
  })
  .strict()
  .refine((a) => Object.values(a).some((v) => v !== undefined), {
    message: `attach needs one system kind: ${ATTACH_KINDS.join(', ')}`,
  })
  .refine((a) => !(a.pg && a.patroni), {
    message:
      'attach pg or patroni, not both: each is written to by the pg-writer, which could not tell which to write to',
    path: ['patroni'],
  })
  .describe(
    "A stack already running on the Docker engine, to attach to instead of building one (kinds: sentinel, redis, pg, patroni, mongo). The harness never starts, restarts or removes the user's containers; a killed one stays stopped.",
  );
export type AttachSpec = {
  sentinel?: SentinelAttachSpec;
  redis?: RedisAttachSpec;
  pg?: PgAttachSpec;
  patroni?: PatroniAttachSpec;
  mongo?: MongoAttachSpec;
};

/** The roles an attached Sentinel stack's targets name. */
export const SENTINEL_ATTACH_ROLES = {
  master: 'the data node a majority of the Sentinels hands out as the master',
  replica: 'every other data node',
  any: 'one data node, picked at random',
  sentinel: 'every container that runs a Sentinel (and no data node)',
} as const;

/** The roles an attached plain Redis stack's targets name. */
export const REDIS_ATTACH_ROLES = {
  master: 'the node whose ROLE says master (the one most replicas follow, if several do)',
  replica: 'every other node',
  any: 'one node that is the master or its replica, picked at random',
} as const;

/** The roles an attached Postgres stack's targets name. */
export const PG_ATTACH_ROLES = {
  primary: 'the node where pg_is_in_recovery() is false (the one most standbys stream from, if several)',
  standby: 'every other node',
  any: 'one node that is the primary or streams from it, picked at random',
} as const;

/** The roles an attached Patroni cluster's targets name (as the built Patroni system's, without etcd). */
export const PATRONI_ATTACH_ROLES = {
  leader: "the member whose role is leader in the members' /cluster (runs the primary)",
  primary: 'the same as leader',
  replica: 'every other member',
  any: 'one member that is the leader or streams from it, picked at random',
} as const;

/** The roles an attached MongoDB replica set's targets name (as the built set's). */
export const MONGO_ATTACH_ROLES = {
  primary: 'the member whose hello says it is the writable primary',
  secondary: 'every other data member',
  arbiter: 'every member that is an arbiter',
  any: 'one member that is the primary, syncs from it, or is an arbiter, picked at random',
} as const;

/** Each kind: the probe that writes to it, and its roles. */
const ATTACHED: Record<AttachKind, { probe: string; roles: Record<string, string>; what: string }> = {
  sentinel: { probe: 'sentinel-writer', roles: SENTINEL_ATTACH_ROLES, what: 'Sentinel' },
  redis: { probe: 'redis-writer', roles: REDIS_ATTACH_ROLES, what: 'Redis' },
  pg: { probe: 'pg-writer', roles: PG_ATTACH_ROLES, what: 'Postgres' },
  patroni: { probe: 'pg-writer', roles: PATRONI_ATTACH_ROLES, what: 'Patroni' },
  mongo: { probe: 'mongo-writer', roles: MONGO_ATTACH_ROLES, what: 'MongoDB' },
};

/** A selector in words, as errors name it. */
export function describeSelector(s: AttachSelector): string {
  return 'label' in s ? `label ${s.label}` : `Compose project ${s.compose}`;
}

/**
 * What is wrong with a scenario that attaches: one sentence per problem, with its path. The
 * stack's own kinds were checked by the schema; here, what the rest of the scenario asks of it.
 */
export function attachProblems(scenario: {
  stack: object;
  probes: readonly object[];
  faults: readonly object[];
}): { path: (string | number)[]; message: string }[] {
  const s = scenario as {
    stack: Record<string, unknown>;
    probes: { kind: string; via?: unknown }[];
    faults: { action: string; target: string; from?: string; registry?: boolean }[];
  };
  const out: { path: (string | number)[]; message: string }[] = [];
  const attach = s.stack.attach as AttachSpec | undefined;
  // No kind it can attach to: the schema said why, in one line; nothing more to say here.
  const kinds = ATTACH_KINDS.filter((k) => attach?.[k] !== undefined);
  if (!kinds.length) return out;
  const built = Object.keys(s.stack).filter((k) => k !== 'attach' && s.stack[k] !== undefined);
  if (built.length)
    out.push({
      path: ['stack', built[0]!],
      message: `a stack is attached to or built, not both: remove stack.${built.join(', stack.')} or stack.attach`,
    });
  const writers = kinds.map((k) => `attached ${k}: kind ${ATTACHED[k].probe}`).join('; ');
  s.probes.forEach((p, i) => {
    const kind = kinds.find((k) => ATTACHED[k].probe === p.kind);
    if (kind === 'sentinel') {
      if (p.via !== 'sentinels')
        out.push({
          path: ['probes', i, 'via'],
          message:
            'an attached Sentinel stack has no proxy of the harness: the sentinel-writer writes via: sentinels',
        });
      return;
    }
    if (kind) return;
    out.push({
      path: ['probes', i, 'kind'],
      message: `a ${p.kind} probe cannot write to this attached stack; ${writers}${p.kind === 'sentinel-writer' ? ', via: sentinels' : ''}`,
    });
  });
  s.faults.forEach((f, i) => {
    const refused = ATTACH_FAULT_REFUSALS[f.action as keyof typeof ATTACH_FAULT_REFUSALS];
    if (!(ATTACH_FAULTS as readonly string[]).includes(f.action))
      out.push({
        path: ['faults', i, 'action'],
        message: `${f.action} cannot be done to an attached stack: ${refused ?? 'it is not a fault of the provider'}`,
      });
    if (f.registry)
      out.push({
        path: ['faults', i, 'registry'],
        message: 'an attached stack has no registry of the harness to be cut off from',
      });
    for (const key of ['target', 'from'] as const) {
      const sel = f[key];
      if (!sel) continue;
      const [kind, arg] = sel.split(':') as [string, string];
      if (kind === 'node' || kind === 'az') continue; // checked once the containers are found
      const attached = kinds.find((k) => k === kind);
      if (!attached)
        out.push({
          path: ['faults', i, key],
          message: `${sel}: an attached stack's targets are ${kinds.map((k) => `${k}:<role>`).join(', ')}, node:CONTAINER or az:X`,
        });
      else if (!(arg in ATTACHED[attached].roles))
        out.push({
          path: ['faults', i, key],
          message: `'${arg}' is not a role of an attached ${ATTACHED[attached].what} stack; its targets: ${Object.keys(
            ATTACHED[attached].roles,
          )
            .map((r) => `${attached}:${r}`)
            .join(', ')}`,
        });
    }
  });
  return out;
}
