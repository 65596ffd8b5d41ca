import type { NodeRef } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { LB_NODE } from './layout.ts';

/** The roles `web:` targets name, resolved against the live group at the moment of injection. */
export const WEB_ROLES = {
  head: 'one web head in service, picked at random (Chaos Monkey; FIS selection mode COUNT(1))',
  heads: 'every web head in service',
  lb: 'the load balancer',
} as const;

export function resolveWebRole(
  role: string,
  state: Pick<SystemState, 'leader' | 'members'>,
  nodes: readonly NodeRef[],
  random: () => number,
): NodeRef[] {
  const inService = nodes.filter((n) => n.name !== LB_NODE && state.members.includes(n.name));
  switch (role) {
    case 'head':
      return inService.length ? [inService[Math.floor(random() * inService.length)]!] : [];
    case 'heads':
      return inService;
    case 'lb':
      return nodes.filter((n) => n.name === LB_NODE);
    default:
      return [];
  }
}
