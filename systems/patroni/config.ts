import { stringify } from 'yaml';
import type { PatroniSpec } from './spec.ts';

/**
 * The configuration of a Patroni stack, as text or argument lists. Pure: no I/O here.
 *
 * - `patroni.yml` of a node: its name and addresses, the etcd members (the `etcd3` DCS: etcd's
 *   v3 API through its JSON gateway), and the cluster's dynamic configuration under
 *   `bootstrap.dcs` (ttl, loop_wait, retry_timeout, maximum_lag_on_failover, synchronous_mode,
 *   synchronous_mode_strict), which the first node writes into etcd when it bootstraps and every
 *   node then reads from there.
 * - the `etcd` command line of a member: a static three-member cluster over the AZs.
 * - `haproxy.cfg`: the setup of Patroni's documentation (its `haproxy.cfg` example): TCP mode,
 *   every node a server, checked by `OPTIONS /primary` on its REST API (200 only on the leader
 *   running as primary), `inter 3s fall 3 rise 2 on-marked-down shutdown-sessions`.
 *
 * Hosts are node names: the local provider writes every node's fixed address into /etc/hosts.
 */

export const PG_PORT = 5432;
export const REST_PORT = 8008;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** Where HAProxy takes clients (the port of Patroni's example), and its runtime API. */
export const LB_PORT = 5000;
export const LB_RUNTIME_PORT = 9999;
/** HAProxy's proxy that holds the servers (`show stat` and the runtime API name it). */
export const LB_BACKEND = 'primary';
/** The cluster's name in etcd: its keys are under `/service/<scope>/`. */
export const SCOPE = 'chaos';
export const NAMESPACE = '/service/';
/** The key the leader holds: etcd's copy of who leads (what the harness's record mirrors). */
export const LEADER_KEY = `${NAMESPACE}${SCOPE}/leader`;
export const PATRONI_CONFIG = '/etc/patroni/patroni.yml';
/** The node's data volume; Postgres's data directory is inside it (Patroni may remove and remake that). */
export const DATA_ROOT = '/var/lib/postgresql/chaos-data';
export const PGDATA = `${DATA_ROOT}/pgdata`;
export const ETCD_DATA_ROOT = '/var/lib/etcd/chaos';
export const HAPROXY_CONFIG = '/usr/local/etc/haproxy/haproxy.cfg';

/**
 * How Patroni's log lines look: the time in epoch seconds with milliseconds, the level, the
 * message (log.ts reads them back).
 */
export const LOG_FORMAT = '%(created).3f %(levelname)s: %(message)s';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
function host(name: string): string {
  if (!NAME.test(name)) throw new Error(`'${name}' is not a node name (lower-case letters, digits, dashes)`);
  return name;
}

type Timings = Pick<
  PatroniSpec,
  | 'ttlMs'
  | 'loopWaitMs'
  | 'retryTimeoutMs'
  | 'maximumLagOnFailoverBytes'
  | 'synchronousMode'
  | 'synchronousModeStrict'
>;

function wholeSeconds(what: string, ms: number): number {
  if (!Number.isInteger(ms) || ms <= 0 || ms % 1000 !== 0)
    throw new Error(`${what} must be a positive whole number of seconds in ms, not ${ms}`);
  return ms / 1000;
}

/** Patroni's dynamic configuration (`bootstrap.dcs`), with Patroni's names and units. */
export function dcsConfig(spec: Timings): Record<string, unknown> {
  return {
    ttl: wholeSeconds('ttlMs', spec.ttlMs),
    loop_wait: wholeSeconds('loopWaitMs', spec.loopWaitMs),
    retry_timeout: wholeSeconds('retryTimeoutMs', spec.retryTimeoutMs),
    maximum_lag_on_failover: spec.maximumLagOnFailoverBytes,
    synchronous_mode: spec.synchronousMode,
    synchronous_mode_strict: spec.synchronousModeStrict,
    postgresql: {
      // A former leader that comes back rewinds onto the new timeline instead of being cloned.
      use_pg_rewind: true,
      use_slots: true,
      parameters: {
        wal_level: 'replica',
        hot_standby: 'on',
        wal_log_hints: 'on',
        max_wal_senders: 10,
        max_replication_slots: 10,
        wal_keep_size: '128MB',
        // A replica cut off from its primary notices within seconds, as the pg system's do.
        wal_sender_timeout: '10s',
        wal_receiver_timeout: '10s',
      },
    },
  };
}

export interface PatroniConfigOptions {
  node: string;
  etcd: readonly string[];
  spec: Timings;
}

/** patroni.yml of one node. */
export function patroniConfig(o: PatroniConfigOptions): string {
  const name = host(o.node);
  if (o.etcd.length === 0) throw new Error('Patroni needs at least one etcd member');
  const config = {
    scope: SCOPE,
    namespace: NAMESPACE,
    name,
    log: { level: 'INFO', format: LOG_FORMAT },
    restapi: { listen: `0.0.0.0:${REST_PORT}`, connect_address: `${name}:${REST_PORT}` },
    etcd3: { hosts: o.etcd.map((e) => `${host(e)}:${ETCD_CLIENT_PORT}`) },
    bootstrap: {
      dcs: dcsConfig(o.spec),
      initdb: [{ encoding: 'UTF8' }, 'data-checksums'],
      pg_hba: [
        'local all all trust',
        'host replication replicator 0.0.0.0/0 trust',
        'host all all 0.0.0.0/0 trust',
      ],
    },
    postgresql: {
      listen: `0.0.0.0:${PG_PORT}`,
      connect_address: `${name}:${PG_PORT}`,
      data_dir: PGDATA,
      bin_dir: '/usr/lib/postgresql/15/bin',
      pgpass: '/tmp/pgpass',
      // A rewind that fails leaves a data directory that cannot follow: clone it afresh.
      remove_data_directory_on_rewind_failure: true,
      remove_data_directory_on_diverged_timelines: true,
      authentication: {
        superuser: { username: 'postgres', password: 'postgres' },
        replication: { username: 'replicator', password: 'replicator' },
      },
      parameters: { unix_socket_directories: '/var/run/postgresql', shared_buffers: '32MB' },
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
  return `# generated by the chaos harness (systems/patroni/config.ts) for ${name}\n${stringify(config)}`;
}

/** The command line of etcd member `member` of a static cluster of `members`. */
export function etcdCommand(member: string, members: readonly string[], token: string): string[] {
  const me = host(member);
  if (!members.includes(me)) throw new Error(`${me} is not one of the etcd members ${members.join(', ')}`);
  if (!/^[A-Za-z0-9-]+$/.test(token)) throw new Error(`'${token}' is not a cluster token`);
  return [
    'etcd',
    '--name',
    me,
    '--data-dir',
    `${ETCD_DATA_ROOT}/data`,
    '--listen-client-urls',
    `http://0.0.0.0:${ETCD_CLIENT_PORT}`,
    '--advertise-client-urls',
    `http://${me}:${ETCD_CLIENT_PORT}`,
    '--listen-peer-urls',
    `http://0.0.0.0:${ETCD_PEER_PORT}`,
    '--initial-advertise-peer-urls',
    `http://${me}:${ETCD_PEER_PORT}`,
    '--initial-cluster',
    members.map((m) => `${host(m)}=http://${m}:${ETCD_PEER_PORT}`).join(','),
    // Ignored once the member has data: a member powered on again rejoins with what it has.
    '--initial-cluster-state',
    'new',
    '--initial-cluster-token',
    token,
    // etcd's defaults (100 ms heartbeat, 1 s election timeout), written out.
    '--heartbeat-interval',
    '100',
    '--election-timeout',
    '1000',
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
  ];
}

export interface HaproxyCheck {
  checkIntervalMs: number;
  fall: number;
  rise: number;
}

/** haproxy.cfg: Patroni's documented HAProxy setup, every Postgres node a server. */
export function haproxyConfig(o: { check: HaproxyCheck; servers: readonly string[] }): string {
  const c = o.check;
  for (const [what, v, min] of [
    ['checkIntervalMs', c.checkIntervalMs, 1],
    ['fall', c.fall, 1],
    ['rise', c.rise, 1],
  ] as const)
    if (!Number.isInteger(v) || v < min) throw new Error(`${what} must be an integer >= ${min}, not ${v}`);
  if (o.servers.length === 0) throw new Error('HAProxy needs at least one server');
  return [
    `# generated by the chaos harness (systems/patroni/config.ts): Patroni's documented HAProxy setup`,
    'global',
    '  maxconn 100',
    `  stats socket ipv4@0.0.0.0:${LB_RUNTIME_PORT} level admin`,
    '  stats timeout 30s',
    '',
    'defaults',
    '  mode tcp',
    '  retries 2',
    '  timeout client 30m',
    '  timeout connect 4s',
    '  timeout server 30m',
    '  timeout check 5s',
    '',
    `listen ${LB_BACKEND}`,
    `  bind :${LB_PORT}`,
    '  option httpchk OPTIONS /primary',
    '  http-check expect status 200',
    // init-addr: a name that does not resolve at start leaves its server in maintenance
    // instead of stopping HAProxy from starting.
    `  default-server inter ${c.checkIntervalMs}ms fall ${c.fall} rise ${c.rise} on-marked-down shutdown-sessions init-addr last,libc,none`,
    ...o.servers.map((s) => `  server ${host(s)} ${s}:${PG_PORT} maxconn 100 check port ${REST_PORT}`),
    '',
  ].join('\n');
}
