import type { NodePlan } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import { redisNodeNames } from './layout.ts';
import type { RedisSpec } from './spec.ts';

export const REDIS_PORT = 6379;

const DATA_DIR = '/data';

const REDIS_ARGS = [
  'redis-server',
  '--port',
  String(REDIS_PORT),
  '--protected-mode',
  'no',
  '--save',
  "''",
  // A full sync goes through an RDB file on the master's disk, not straight down the socket.
  // After a diskless sync Redis 7.0 holds the replication stream back until the replica's next
  // REPLCONF ACK, up to a second later, while the replica's link already says `up`: a write the
  // head acknowledges in that second is on no replica, and a kill loses it. A disk-based sync
  // streams as soon as the file is sent (by hand on three bare servers: a write reached the tail
  // 1-4 ms after both links were up, against 3-870 ms after diskless syncs).
  '--repl-diskless-sync',
  'no',
  // The master sees its save child exit at its cron, `hz` times a second: at the default 10 a
  // sync waits up to 100 ms for it, and a chain's joins sync one after the other (11 syncs for
  // 12 nodes). At 50: 10-25 ms a sync, for 0.6 % of a core an idle server instead of 0.2 %.
  '--hz',
  '50',
  '--repl-timeout',
  '5',
  // Every node boots read-only (a replica of nothing that answers) until its agent places it:
  // a node back from a power loss, or a restarted server, is never an empty master taking writes.
  '--replicaof',
  '127.0.0.1',
  '1',
];

/** Persistence: none, or the append-only file on the node's disk. */
function persistence(aof: RedisSpec['aof']): string[] {
  // Memory only: the RDB files a sync leaves (on the master that sent it, on the replica that
  // loaded it) are removed, so a server restarted on the node comes back empty.
  if (aof === 'off') return ['--appendonly', 'no', '--rdb-del-sync-files', 'yes'];
  return ['--appendonly', 'yes', '--appendfsync', aof, '--dir', DATA_DIR];
}

/** A shell loop that runs the server again whenever it exits, and says so on the timeline. */
function supervised(node: string, args: string[]): string {
  const event = `printf '{"t":%s,"type":"server-restarted","node":"${node}","exit":%s}\\n' "$(date +%s%3N)" "$code"`;
  return `while :; do ${args.join(' ')}; code=$?; ${event}; sleep 0.2; done`;
}

/**
 * Each node: redis-server, and the chain agent in the same network namespace (they die
 * together). Every node boots read-only (a replica of nothing that answers) until its agent
 * places it, so a node back from a power loss is never an empty master taking writes. The
 * agents join in AZ order (JOIN_INDEX), so the chain runs redis-a -> redis-b -> redis-c.
 */
export function planChain(spec: RedisSpec, ctx: PlanContext): NodePlan[] {
  return redisNodeNames(spec.nodes, spec.azs).map((node) => ({
    ...node,
    main: {
      image: 'redis',
      part: 'redis',
      // redis-server runs under a supervisor loop, as Monit or systemd would run it: a killed
      // server process comes back (empty, read-only) while the node and its agent stay up.
      command: ['sh', '-c', supervised(node.name, [...REDIS_ARGS, ...persistence(spec.aof)])],
      ports: [REDIS_PORT],
      readyLog: /Ready to accept connections/,
      process: 'redis-server',
      events: `redis:${node.name}`,
      // With the append-only file on, the node's own disk (its EBS volume on AWS).
      ...(spec.aof === 'off' ? {} : { volumes: [{ name: 'data', path: DATA_DIR, disk: true }] }),
    },
    sidecars: [
      {
        image: 'node',
        part: 'agent',
        command: ['node', ctx.bundle.target],
        env: {
          CHAOS_ENTRY: 'redis-chain-agent',
          NODE_NAME: node.name,
          REDIS_PORT: String(REDIS_PORT),
          REGISTRY_URL: ctx.registryUrl,
          THRESHOLD_MS: String(spec.failoverThresholdMs),
          LEASE_MARGIN_MS: String(spec.leaseMarginMs),
          CHECK_INTERVAL_MS: String(spec.checkIntervalMs),
          PING_TIMEOUT_MS: String(spec.pingTimeoutMs),
          HEAD_TTL_MS: String(spec.headRecordTtlMs),
          JOIN_INDEX: String(node.index),
        },
        files: [ctx.bundle],
        readyLog: /"agent-ready"/,
        events: `agent:${node.name}`,
        restartOnFailure: true,
        // It waits for its redis and the registry by itself (ChainAgent.join): its Node.js boots
        // while they do.
        startEarly: true,
      },
    ],
  }));
}
