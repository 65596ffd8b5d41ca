import type { ContainerPlan, NodePlan } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import {
  HAPROXY_CONF,
  MASTER_NAME,
  PROXY_PORT,
  PROXY_RUNTIME_PORT,
  REDIS_CONF,
  REDIS_PORT,
  SENTINEL_CONF,
  SENTINEL_PORT,
  haproxyConf,
  redisConf,
  sentinelConf,
} from './config.ts';
import { dataNodes, proxyNode, sentinelHosts } from './layout.ts';
import type { SentinelSpec } from './spec.ts';

/** What HAProxy prints once it listens (its master process has started its worker). */
export const PROXY_READY_LOG = /Loading success|New worker/;

/** A data node's Redis server, from its redis.conf (which Sentinel rewrites in place). */
export function redisServer(
  spec: SentinelSpec,
  replicaOf: string | undefined,
  extraPorts: number[],
): ContainerPlan {
  return {
    image: 'redis',
    part: 'redis',
    command: ['redis-server', REDIS_CONF],
    contents: [
      {
        content: redisConf({
          replicaOf,
          minReplicasToWrite: spec.minReplicasToWrite,
          minReplicasMaxLagMs: spec.minReplicasMaxLagMs,
        }),
        target: REDIS_CONF,
        mode: 0o644,
      },
    ],
    // The Sentinel's port too: a sidecar shares the node's network, so its ports are the node's.
    ports: [REDIS_PORT, ...extraPorts],
    readyLog: /Ready to accept connections/,
    process: 'redis-server',
  };
}

/**
 * The stack with Sentinel: every data node a Redis server (the first the master, the others its
 * replicas); beside the first node of every AZ, a Sentinel and its watcher (same network
 * namespace: a node's fault is theirs too, as for processes of one machine); HAProxy in front.
 */
export function planSentinel(spec: SentinelSpec, ctx: PlanContext): NodePlan[] {
  const nodes = dataNodes(spec.nodes, spec.azs);
  const first = nodes[0]!.name;
  const hosts = new Set(sentinelHosts(spec.nodes, spec.azs).map((n) => n.name));
  const sentinel: ContainerPlan = {
    image: 'redis',
    part: 'sentinel',
    command: ['redis-server', SENTINEL_CONF, '--sentinel'],
    contents: [
      {
        content: sentinelConf({
          master: first,
          quorum: spec.quorum,
          downAfterMs: spec.downAfterMs,
          failoverTimeoutMs: spec.failoverTimeoutMs,
        }),
        target: SENTINEL_CONF,
        mode: 0o644,
      },
    ],
    readyLog: /Sentinel ID is/,
    // A supervisor (systemd) restarts a Sentinel that exits.
    restartOnFailure: true,
  };
  const watch = (node: string): ContainerPlan => ({
    image: 'node',
    part: 'watch',
    command: ['node', ctx.bundle.target],
    env: {
      CHAOS_ENTRY: 'sentinel-watch',
      NODE_NAME: node,
      NODE_NAMES: nodes.map((n) => n.name).join(','),
      SENTINEL_PORT: String(SENTINEL_PORT),
      MASTER_NAME,
      REGISTRY_URL: ctx.registryUrl,
    },
    files: [ctx.bundle],
    readyLog: /"agent-ready"/,
    events: `agent:${node}`,
    restartOnFailure: true,
  });
  const data: NodePlan[] = nodes.map((n) => ({
    ...n,
    ...(n.name === first ? {} : { after: [first] }),
    main: redisServer(spec, n.name === first ? undefined : first, hosts.has(n.name) ? [SENTINEL_PORT] : []),
    sidecars: hosts.has(n.name) ? [sentinel, watch(n.name)] : [],
  }));
  return [
    ...data,
    proxyPlan(
      spec,
      nodes.map((n) => n.name),
    ),
  ];
}

/** HAProxy in front of the data nodes, following the one that answers `role:master`. */
export function proxyPlan(spec: SentinelSpec, servers: string[]): NodePlan {
  return {
    ...proxyNode(spec),
    after: servers,
    main: {
      image: 'haproxy',
      part: 'haproxy',
      command: ['haproxy', '-W', '-db', '-f', HAPROXY_CONF],
      contents: [{ content: haproxyConf({ check: spec.proxy, servers }), target: HAPROXY_CONF, mode: 0o644 }],
      ports: [PROXY_PORT, PROXY_RUNTIME_PORT],
      readyLog: PROXY_READY_LOG,
      process: 'haproxy',
    },
    sidecars: [],
  };
}
