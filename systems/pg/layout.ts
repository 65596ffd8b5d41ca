import type { NodeRef } from '../../core/provider.ts';

/** The nodes, round-robin over the AZs: `pg-a` (the first primary), `pg-b`, `pg-c`; `pg-a1`... beyond. */
export function pgNodeNames(count: number, azs: readonly string[]): NodeRef[] {
  return Array.from({ length: count }, (_, i) => {
    const az = azs[i % azs.length]!;
    const round = Math.floor(i / azs.length) + 1;
    return { name: count <= azs.length ? `pg-${az}` : `pg-${az}${round}`, system: 'pg', az, index: i };
  });
}
