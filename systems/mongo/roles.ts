import type { NodeRef } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { ARBITER } from './layout.ts';

/** The roles `mongo:` targets name, resolved against the endpoint record at the moment of injection. */
export const MONGO_ROLES = {
  primary: 'the data member the endpoint record names',
  secondary: 'every data member but the primary',
  arbiter: 'the arbiter (a stack with `arbiter: true`)',
  any: 'one member (data or arbiter), picked at random',
} as const;

export function resolveMongoRole(
  role: string,
  state: Pick<SystemState, 'leader' | 'members'>,
  nodes: readonly NodeRef[],
  random: () => number,
): NodeRef[] {
  const data = nodes.filter((n) => n.name !== ARBITER);
  switch (role) {
    case 'primary':
      return data.filter((n) => n.name === state.leader);
    case 'secondary':
      return data.filter((n) => n.name !== state.leader);
    case 'arbiter':
      return nodes.filter((n) => n.name === ARBITER);
    case 'any':
      return nodes.length ? [nodes[Math.floor(random() * nodes.length)]!] : [];
    default:
      return [];
  }
}
