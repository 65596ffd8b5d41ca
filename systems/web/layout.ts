import type { NodeRef } from '../../core/provider.ts';

/** The load balancer: a regional service, in no zone (as an ALB has a node in every zone). */
export const LB_NODE = 'web-lb';
export const LB_AZ = '-';

/**
 * The heads of the group at provisioning, round-robin over the AZs: `web-a`, `web-b`, `web-c`, or
 * numbered rounds beyond one per zone (`web-a1` ... `web-c2`). The group names the heads it
 * launches later after their zone and a running number (`web-b-r1`).
 */
export function webHeads(count: number, azs: readonly string[]): NodeRef[] {
  return Array.from({ length: count }, (_, i) => {
    const az = azs[i % azs.length]!;
    const round = Math.floor(i / azs.length) + 1;
    return { name: count <= azs.length ? `web-${az}` : `web-${az}${round}`, system: 'web', az, index: i + 1 };
  });
}

export function webLayout(heads: number, azs: readonly string[]): NodeRef[] {
  return [{ name: LB_NODE, system: 'web', az: LB_AZ, index: 0 }, ...webHeads(heads, azs)];
}
