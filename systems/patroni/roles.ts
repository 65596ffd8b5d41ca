import type { NodeRef } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { isEtcdNode, isPostgresNode } from './layout.ts';

/** The roles `patroni:` targets name, resolved against the leader key at the moment of injection. */
export const PATRONI_ROLES = {
  leader: 'the node that holds the leader key (runs the primary)',
  primary: 'the same as leader',
  replica: 'every Postgres node but the leader',
  any: 'one Postgres node, picked at random',
  etcd: 'every etcd member',
} as const;

export function resolvePatroniRole(
  role: string,
  state: Pick<SystemState, 'leader' | 'members'>,
  nodes: readonly NodeRef[],
  random: () => number,
): NodeRef[] {
  const pg = nodes.filter((n) => isPostgresNode(n.name));
  switch (role) {
    case 'leader':
    case 'primary':
      return pg.filter((n) => n.name === state.leader);
    case 'replica':
      return state.leader ? pg.filter((n) => n.name !== state.leader) : [];
    case 'any':
      return pg.length ? [pg[Math.floor(random() * pg.length)]!] : [];
    case 'etcd':
      return nodes.filter((n) => isEtcdNode(n.name));
    default:
      return [];
  }
}
