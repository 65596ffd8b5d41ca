import type { NodeRef } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { PROXY_NODE, isDataNode } from './layout.ts';

/** The roles `sentinel:` targets name, resolved against the Sentinels' view at the moment of injection. */
export const SENTINEL_ROLES = {
  master: 'the data node a quorum of Sentinels hands out as the master (its Sentinel with it)',
  replica: 'every data node but the master (their Sentinels with them)',
  any: 'one data node, picked at random (Chaos Monkey)',
  proxy:
    'HAProxy in front of the data nodes (with monitor: seed, the load balancer in front of the monitor hosts)',
  monitor: "the seed's two monitor hosts, each HAProxy and its watcher (monitor: seed only)",
} as const;

export function resolveSentinelRole(
  role: string,
  state: Pick<SystemState, 'leader' | 'members'>,
  nodes: readonly NodeRef[],
  random: () => number,
): NodeRef[] {
  const data = nodes.filter((n) => n.system === 'sentinel' && isDataNode(n.name));
  const members = state.members.filter((m) => isDataNode(m));
  switch (role) {
    case 'master':
      return data.filter((n) => n.name === state.leader);
    case 'replica':
      return data.filter(
        (n) => n.name !== state.leader && (members.length === 0 || members.includes(n.name)),
      );
    case 'any': {
      const pool = members.length ? data.filter((n) => members.includes(n.name)) : data;
      return pool.length ? [pool[Math.floor(random() * pool.length)]!] : [];
    }
    case 'proxy':
      return nodes.filter((n) => n.name === PROXY_NODE);
    case 'monitor':
      return nodes.filter((n) => n.system === 'sentinel' && !isDataNode(n.name) && n.name !== PROXY_NODE);
    default:
      return [];
  }
}
