import type { NodeRef } from '../../core/provider.ts';

/** The port every member listens on, inside the stack (and in the replica set's config). */
export const MONGO_PORT = 27017;

/** The arbiter's name: it holds no data, so it is named for what it does, not for its zone. */
export const ARBITER = 'mongo-arbiter';

/**
 * The members over the AZs: the data members round-robin (`mongo-a`, the first primary,
 * `mongo-b`, `mongo-c`; `mongo-a1`... beyond one a zone), then the arbiter, if any, in the zone
 * after the last data member's (with two data members over three zones: the third, as the book
 * runs it, so the loss of any one zone leaves a majority).
 */
export function mongoNodeNames(spec: { nodes: number; arbiter: boolean; azs: readonly string[] }): NodeRef[] {
  const { nodes: count, azs } = spec;
  const data = Array.from({ length: count }, (_, i) => {
    const az = azs[i % azs.length]!;
    const round = Math.floor(i / azs.length) + 1;
    return {
      name: count <= azs.length ? `mongo-${az}` : `mongo-${az}${round}`,
      system: 'mongo',
      az,
      index: i,
    };
  });
  if (!spec.arbiter) return data;
  return [...data, { name: ARBITER, system: 'mongo', az: azs[count % azs.length]!, index: count }];
}

/** `mongo-a:27017`: how the replica set's config (and so the driver) names a member. */
export const hostOf = (node: string) => `${node}:${MONGO_PORT}`;

/** The node a `host:port` names (`mongo-a:27017` -> `mongo-a`); an empty host is null. */
export function nodeOfHost(host: string | null | undefined): string | null {
  if (!host) return null;
  const i = host.lastIndexOf(':');
  return i > 0 ? host.slice(0, i) : host;
}
