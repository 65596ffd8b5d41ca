import type { NodePlan } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import { ARBITER, MONGO_PORT, hostOf, mongoNodeNames } from './layout.ts';
import { ENDPOINT_RECORD, TERM_RECORD } from './records.ts';
import type { MongoSpec } from './spec.ts';

/** One member of a replica set's config, as `replSetInitiate` takes it. */
export interface ReplSetMember {
  _id: number;
  host: string;
  priority?: number;
  votes?: number;
  arbiterOnly?: boolean;
}

/** A replica set's config document (`rs.initiate(config)`, `replSetReconfig`). */
export interface ReplSetConfig {
  _id: string;
  version?: number;
  members: ReplSetMember[];
  settings: {
    electionTimeoutMillis: number;
    heartbeatIntervalMillis: number;
    /** Every secondary syncs from the primary itself, so "following the primary" means what it says. */
    chainingAllowed: boolean;
  };
}

/** The data members' priorities as the scenario wants them, by host (`mongo-a:27017`). */
export function targetPriorities(spec: MongoSpec): Record<string, number> {
  const data = mongoNodeNames(spec).filter((n) => n.name !== ARBITER);
  return Object.fromEntries(data.map((n, i) => [hostOf(n.name), spec.priorities?.[i] ?? 1]));
}

/** The data member that leads at first: the highest priority, the first in layout order among equals. */
export function firstPrimary(spec: MongoSpec): string {
  const p = Object.entries(targetPriorities(spec));
  const max = Math.max(...p.map(([, v]) => v));
  return p.find(([, v]) => v === max)![0].replace(`:${MONGO_PORT}`, '');
}

/**
 * The replica set's config as the scenario wants it: every member by its node name (the name
 * every node's /etc/hosts has), one vote each, the data members' priorities, the arbiter, and
 * the election timing.
 */
export function replSetConfig(spec: MongoSpec): ReplSetConfig {
  const priorities = targetPriorities(spec);
  return {
    _id: spec.replSetName,
    members: mongoNodeNames(spec).map((n, i) =>
      n.name === ARBITER
        ? { _id: i, host: hostOf(n.name), arbiterOnly: true }
        : { _id: i, host: hostOf(n.name), priority: priorities[hostOf(n.name)]!, votes: 1 },
    ),
    settings: {
      electionTimeoutMillis: spec.electionTimeoutMillis,
      heartbeatIntervalMillis: spec.heartbeatIntervalMillis,
      chainingAllowed: false,
    },
  };
}

/**
 * The config `rs.initiate` gets: the scenario's, with the first primary's priority one above
 * every other, so the set forms with `mongo-a` (or the member the scenario ranks first) as its
 * primary whatever the order the members came up in. Once the set has formed, the initiating
 * agent puts the scenario's priorities back (a reconfig that changes no vote), so a member that
 * returns later does not take over from the primary elected meanwhile.
 */
export function initialConfig(spec: MongoSpec): ReplSetConfig {
  const config = replSetConfig(spec);
  const lead = hostOf(firstPrimary(spec));
  const top = Math.max(...config.members.map((m) => m.priority ?? 0));
  return {
    ...config,
    members: config.members.map((m) => (m.host === lead ? { ...m, priority: top + 1 } : m)),
  };
}

/** mongod as a member of the set; its data on the node's own disk. */
function mongod(spec: MongoSpec): string[] {
  return [
    'mongod',
    '--replSet',
    spec.replSetName,
    '--bind_ip_all',
    '--port',
    String(MONGO_PORT),
    '--dbpath',
    '/data/db',
    '--oplogSize',
    '256',
    '--wiredTigerCacheSizeGB',
    '0.25',
  ];
}

/**
 * Each data member: mongod (the official `mongo` image; its entrypoint runs it as the mongodb
 * user), and its endpoint agent in the same network namespace. The arbiter: mongod alone (it
 * holds no data and never leads, so it has no endpoint to keep). The first primary's agent
 * initiates the set once every member answers.
 */
export function planMongo(spec: MongoSpec, ctx: PlanContext): NodePlan[] {
  const nodes = mongoNodeNames(spec);
  const initiator = firstPrimary(spec);
  return nodes.map((node) => {
    const arbiter = node.name === ARBITER;
    return {
      ...node,
      main: {
        image: 'mongo',
        part: 'mongod',
        command: mongod(spec),
        ports: [MONGO_PORT],
        readyLog: /Waiting for connections/,
        process: 'mongod',
        // The node's own disk (its EBS volume on AWS): what freeze-volume freezes. The arbiter
        // keeps only its copy of the config there.
        volumes: [{ name: 'data', path: '/data/db', ...(arbiter ? {} : { disk: true }) }],
      },
      sidecars: arbiter
        ? []
        : [
            {
              image: 'node',
              part: 'agent',
              command: ['node', ctx.bundle.target],
              env: {
                CHAOS_ENTRY: 'mongo-endpoint-agent',
                NODE_NAME: node.name,
                MONGO_PORT: String(MONGO_PORT),
                MEMBERS: nodes.map((n) => hostOf(n.name)).join(','),
                REGISTRY_URL: ctx.registryUrl,
                ENDPOINT_RECORD,
                TERM_RECORD,
                RECORD_TTL_MS: String(spec.endpointRecordTtlMs),
                CHECK_INTERVAL_MS: String(spec.checkIntervalMs),
                PING_TIMEOUT_MS: String(spec.pingTimeoutMs),
                ...(node.name === initiator
                  ? {
                      INITIATE: JSON.stringify(initialConfig(spec)),
                      PRIORITIES: JSON.stringify(targetPriorities(spec)),
                    }
                  : {}),
              },
              files: [ctx.bundle],
              readyLog: /"agent-ready"/,
              events: `agent:${node.name}`,
              restartOnFailure: true,
            },
          ],
    };
  });
}
