import type { NodeRef } from '../core/provider.ts';
import type { SystemState } from '../core/result.ts';
import type { SystemDefinition } from '../core/system.ts';

/**
 * Resolves a target selector against the live stack at the moment of injection:
 *   <system>:<role>  what the system's registration says the role names (`redis:head`)
 *   node:NAME        that node
 *   az:X             every node of every system in availability zone X
 * Returns the nodes, or the reason there are none.
 */
export function resolveTarget(
  selector: string,
  live: { systems: readonly { def: SystemDefinition; state: SystemState }[]; nodes: readonly NodeRef[] },
  random = Math.random,
): { nodes: NodeRef[]; none?: string } {
  const [kind, arg] = selector.split(':') as [string, string];
  let out: NodeRef[];
  if (kind === 'node') out = live.nodes.filter((n) => n.name === arg);
  else if (kind === 'az') out = live.nodes.filter((n) => n.az === arg);
  else {
    const system = live.systems.find((s) => s.def.name === kind);
    if (!system) return { nodes: [], none: `the stack has no ${kind} system` };
    out = system.def.resolve(
      arg,
      system.state,
      live.nodes.filter((n) => n.system === kind),
      random,
    );
    if (out.length === 0) {
      const s = system.state;
      return {
        nodes: [],
        none: `${selector} matches no live node (leader ${s.leader ?? 'none'}, members ${s.members.join(' -> ') || 'none'})`,
      };
    }
  }
  return out.length ? { nodes: out } : { nodes: [], none: `${selector} matches no node` };
}
