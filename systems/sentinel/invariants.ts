import type { SystemState } from '../../core/result.ts';
import { PROXY_NODE, isDataNode } from './layout.ts';
import type { SentinelSpec } from './spec.ts';
import type { SentinelNodeState } from './state.ts';

/**
 * Full redundancy of Redis with Sentinel, checked on a live state:
 *
 * - a quorum of Sentinels hands out one master (the state's leader);
 * - exactly one data node that answers is a master, and it is that one;
 * - every other data node that answers replicates from it, with its link up;
 * - every Sentinel that answers hands out that master (a Sentinel whose node is down is not
 *   required to);
 * - HAProxy answers and routes to that master, and to nothing else.
 *
 * Returns what is wrong, one sentence each, naming the nodes; empty when whole. A data node that
 * does not answer (killed, powered off) is not required to be anywhere.
 */
export function sentinelViolations(t: SystemState, _spec?: SentinelSpec): string[] {
  const out: string[] = [];
  const nodes = t.nodes as SentinelNodeState[];
  const data = nodes.filter((n) => isDataNode(n.name));
  const up = data.filter((n) => n.reachable);
  const masters = up.filter((n) => n.role === 'master');
  const leader = t.leader;
  if (leader === null) out.push('no quorum of Sentinels hands out one master');
  if (masters.length === 0) out.push('no data node that answers is a master');
  if (masters.length > 1) out.push(`${masters.length} masters: ${masters.map((m) => m.name).join(', ')}`);
  if (leader !== null && masters.length >= 1 && !masters.some((m) => m.name === leader))
    out.push(`the Sentinels hand out ${leader}, the master is ${masters.map((m) => m.name).join(', ')}`);
  if (leader !== null && !data.some((n) => n.name === leader && n.reachable))
    out.push(`the Sentinels hand out ${leader}, which does not answer`);
  // Without an agreed master, who follows whom says nothing more.
  if (leader !== null)
    for (const n of up) {
      if (n.name === leader || n.role === 'master') continue;
      if (n.following !== leader) out.push(`${n.name} replicates from ${n.following || '?'}, not ${leader}`);
      else if (!n.linkUp) out.push(`${n.name}'s replication link to ${leader} is down`);
    }
  for (const n of data) {
    if (!n.sentinel || !n.reachable) continue;
    if (!n.sentinel.answers) out.push(`the Sentinel on ${n.name} does not answer`);
    else if (leader !== null && n.sentinel.master !== leader)
      out.push(
        `the Sentinel on ${n.name} hands out ${n.sentinel.master ?? 'no master it can name'}, not ${leader}`,
      );
  }
  const proxy = nodes.find((n) => n.name === PROXY_NODE);
  if (proxy) {
    if (!proxy.reachable) out.push(`HAProxy (${PROXY_NODE}) does not answer its runtime API`);
    else {
      const routes = proxy.routesTo ?? [];
      if (routes.length === 0) out.push('HAProxy routes to no server (none passes its role:master check)');
      else if (leader !== null && (routes.length !== 1 || routes[0] !== leader))
        out.push(`HAProxy routes to ${routes.join(', ')}, the master is ${leader}`);
    }
  }
  return out;
}
