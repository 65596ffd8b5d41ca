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

export function proxyNode(spec: Pick<SentinelSpec, 'nodes'>): NodeRef {
  return { name: PROXY_NODE, system: SYSTEM, az: PROXY_AZ, index: spec.nodes };
}

export function sentinelLayout(spec: SentinelSpec): NodeRef[] {
  return [...dataNodes(spec.nodes, spec.azs), proxyNode(spec)];
}
