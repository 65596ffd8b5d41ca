import type { NodeRef } from '../../core/provider.ts';

export const SYSTEM = 'patroni';
/** HAProxy: a regional node in no zone, as a network load balancer has a node in every zone. */
export const LB_NODE = 'patroni-haproxy';
export const LB_AZ = '-';

/** `count` nodes round-robin over the AZs: `<prefix>-a`, `-b`, `-c`, or `-a1`... beyond one per zone. */
function spread(prefix: string, count: number, azs: readonly string[], first: number): NodeRef[] {
  return Array.from({ length: count }, (_, i) => {
    const az = azs[i % azs.length]!;
    const round = Math.floor(i / azs.length) + 1;
    const name = count <= azs.length ? `${prefix}-${az}` : `${prefix}-${az}${round}`;
    return { name, system: SYSTEM, az, index: first + i };
  });
}

/** The Postgres + Patroni nodes: `patroni-a` (bootstraps the cluster, leads at first), `patroni-b`... */
export function patroniNodes(count: number, azs: readonly string[]): NodeRef[] {
  return spread('patroni', count, azs, 0);
}

/** The etcd members, each on a node of its own, one per AZ in turn: `etcd-a`, `etcd-b`, `etcd-c`. */
export function etcdNodes(count: number, azs: readonly string[]): NodeRef[] {
  return spread('etcd', count, azs, 100);
}

export function patroniLayout(spec: {
  nodes: number;
  etcdMembers: number;
  azs: readonly string[];
}): NodeRef[] {
  return [
    ...patroniNodes(spec.nodes, spec.azs),
    ...etcdNodes(spec.etcdMembers, spec.azs),
    { name: LB_NODE, system: SYSTEM, az: LB_AZ, index: 200 },
  ];
}

/** Whether a node of the system is a Postgres + Patroni node (not etcd, not HAProxy). */
export const isPostgresNode = (name: string) => /^patroni-[a-z]\d*$/.test(name);
export const isEtcdNode = (name: string) => /^etcd-[a-z]\d*$/.test(name);
