import type { NodeRef } from '../../core/provider.ts';
import type { SentinelSpec } from './spec.ts';

export const SYSTEM = 'sentinel';
/** HAProxy in front of the data nodes: a regional service, in no zone (as a load balancer). */
export const PROXY_NODE = 'sentinel-lb';
export const PROXY_AZ = '-';

/**
 * The data nodes, round-robin over the AZs: `sentinel-a`, `sentinel-b`, `sentinel-c`, or
 * numbered rounds beyond one per zone (`sentinel-a1` ... `sentinel-c2`). The first is the first
 * master.
 */
export function dataNodes(count: number, azs: readonly string[]): NodeRef[] {
  return Array.from({ length: count }, (_, i) => {
    const az = azs[i % azs.length]!;
    const round = Math.floor(i / azs.length) + 1;
    return {
      name: count <= azs.length ? `sentinel-${az}` : `sentinel-${az}${round}`,
      system: SYSTEM,
      az,
      index: i,
    };
  });
}

/** The data nodes a Sentinel runs beside: the first of each AZ. */
export function sentinelHosts(count: number, azs: readonly string[]): NodeRef[] {
  return dataNodes(count, azs).filter((n) => n.index < azs.length);
}

/**
 * The seed's monitor hosts (`monitor: seed`): two, in the first two AZs, each HAProxy relaying to
 * the master and a watcher (the source material's Monit and failover script).
 */
export function monitorNodes(spec: Pick<SentinelSpec, 'nodes' | 'azs' | 'monitor'>): NodeRef[] {
  if (spec.monitor !== 'seed') return [];
  return spec.azs.slice(0, 2).map((az, i) => ({
    name: `sentinel-mon-${az}`,
    system: SYSTEM,
    az,
    index: spec.nodes + i,
  }));
}

/**
 * The client's entry: HAProxy following `role:master` with Sentinel; with the seed's monitor, the
 * load balancer in front of the two monitor hosts (the source material's ELB).
 */
export function proxyNode(spec: Pick<SentinelSpec, 'nodes' | 'azs' | 'monitor'>): NodeRef {
  return { name: PROXY_NODE, system: SYSTEM, az: PROXY_AZ, index: spec.nodes + monitorNodes(spec).length };
}

/** Whether a node of the system holds data (not the proxy, not a monitor host). */
export const isDataNode = (name: string) => name !== PROXY_NODE && !name.startsWith('sentinel-mon-');

export function sentinelLayout(spec: SentinelSpec): NodeRef[] {
  return [...dataNodes(spec.nodes, spec.azs), ...monitorNodes(spec), proxyNode(spec)];
}
