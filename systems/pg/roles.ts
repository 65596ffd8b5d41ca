import type { NodeRef } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';

/** The roles `pg:` targets name, resolved against the writer record at the moment of injection. */
export const PG_ROLES = {
  primary: 'the node the writer record names',
  standby: 'every node but the primary',
  any: 'one node, picked at random',
} as const;

export function resolvePgRole(
  role: string,
  state: Pick<SystemState, 'leader' | 'members'>,
  nodes: readonly NodeRef[],
  random: () => number,
): NodeRef[] {
  switch (role) {
    case 'primary':
      return nodes.filter((n) => n.name === state.leader);
    case 'standby':
      return nodes.filter((n) => n.name !== state.leader);
    case 'any':
      return nodes.length ? [nodes[Math.floor(random() * nodes.length)]!] : [];
    default:
      return [];
  }
}
