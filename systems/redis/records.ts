import type { Registry } from '../../core/registry.ts';

/** Record names the Redis chain uses. */
export const HEAD_RECORD = 'redis-head';
export const CHAIN_RECORD = 'redis-chain';
/** The head's lease (core/registry.ts): whoever holds it, and only it, may take writes. */
export const LEADER_LEASE = 'redis-leader';

export const encodeChain = (nodes: readonly string[]): string => nodes.join(',');
export const decodeChain = (value: string | undefined): string[] =>
  value ? value.split(',').filter(Boolean) : [];

/** The head and the chain as the registry has them now (a record that cannot be read is absent). */
export async function readChain(registry: Registry): Promise<{ head: string | undefined; chain: string[] }> {
  const [head, chain] = await Promise.all([
    registry.get(HEAD_RECORD).catch(() => undefined),
    registry.get(CHAIN_RECORD).catch(() => undefined),
  ]);
  return { head: head?.value, chain: decodeChain(chain?.value) };
}
