import type { NodeRef } from '../../core/provider.ts';

/**
 * The nodes of a Redis chain, in chain order, spread round-robin over the AZs: one per AZ
 * (`redis-a`, `redis-b`, `redis-c`), or numbered rounds for longer chains (`redis-a1` ... `redis-c3`).
 */
export function redisNodeNames(count: number, azs: readonly string[]): NodeRef[] {
  return Array.from({ length: count }, (_, i) => {
    const az = azs[i % azs.length]!;
    const round = Math.floor(i / azs.length) + 1;
    return {
      name: count <= azs.length ? `redis-${az}` : `redis-${az}${round}`,
      system: 'redis',
      az,
      index: i,
    };
  });
}
