import type { NodeRef } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';

/** The roles `redis:` targets name, resolved against the live chain at the moment of injection. */
export const REDIS_ROLES = {
  head: 'the node the head record names',
  second: "the head's replica (second in the chain)",
  tail: 'the last node of the chain',
  replica: 'every node of the chain but the head',
  any: 'one node of the chain, picked at random (Chaos Monkey)',
} as const;

export function resolveRedisRole(
  role: string,
  state: Pick<SystemState, 'leader' | 'members'>,
  nodes: readonly NodeRef[],
  random: () => number,
): NodeRef[] {
  const byName = (name: string | null | undefined) => nodes.filter((n) => n.name === name);
  const chain = state.members.length ? state.members : state.leader ? [state.leader] : [];
  switch (role) {
    case 'head':
      return byName(state.leader ?? chain[0]);
    case 'second':
      return byName(chain[1]);
    case 'tail':
      return byName(chain.at(-1));
    case 'replica':
      return nodes.filter((n) => chain.slice(1).includes(n.name));
    case 'any':
      return byName(chain[Math.floor(random() * chain.length)]);
    default:
      return [];
  }
}
