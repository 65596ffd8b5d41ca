import type { SystemState } from '../../core/result.ts';
import { BOOT_HOST, FENCE_HOST } from './agent.ts';

/**
 * The invariants of a healthy, fully redundant Redis chain, checked on a live state:
 *
 * - exactly one master among the nodes that answer, and the head record names it;
 * - the chain record starts with that master and lists every node that answers, once;
 * - no node that does not answer is left in the chain record;
 * - every other member replicates from its predecessor in the chain, with its link up.
 *
 * Returns what is wrong, one sentence each, naming the nodes; empty when the chain is whole.
 * A node that does not answer (killed, stopped, frozen) is not required to be anywhere.
 */
export function chainViolations(t: SystemState): string[] {
  const out: string[] = [];
  const up = t.nodes.filter((n) => n.reachable);
  const byName = new Map(t.nodes.map((n) => [n.name, n]));
  const masters = up.filter((n) => n.role === 'master');
  if (masters.length === 0) out.push('no node answering is a master');
  if (masters.length > 1) out.push(`${masters.length} masters: ${masters.map((m) => m.name).join(', ')}`);
  const master = masters.length === 1 ? masters[0]!.name : undefined;
  if (master && t.leader !== master)
    out.push(`the head record names ${t.leader ?? 'nothing'}, the master is ${master}`);
  const seen = new Set<string>();
  for (const name of t.members) {
    if (seen.has(name)) out.push(`${name} is in the chain record twice`);
    seen.add(name);
  }
  if (t.members.length && t.leader !== null && t.members[0] !== t.leader)
    out.push(`the chain record starts with ${t.members[0]}, the head record names ${t.leader}`);
  for (const n of up) {
    if (!seen.has(n.name)) {
      const what =
        n.role === 'master'
          ? 'a standalone master'
          : n.following === BOOT_HOST
            ? 'booting read-only, not placed by its agent yet'
            : n.following === FENCE_HOST
              ? 'fenced by its agent: it holds no lease'
              : `replicating from ${n.following ?? '?'}`;
      out.push(`${n.name} is up but outside the chain (${what})`);
    }
  }
  t.members.forEach((name, i) => {
    const n = byName.get(name);
    if (!n || !n.reachable) {
      out.push(`${name} is in the chain record but does not answer`);
      return;
    }
    if (i === 0) {
      if (n.following === FENCE_HOST)
        out.push(`${name} heads the chain but is fenced: its agent holds no lease`);
      return;
    }
    const want = t.members[i - 1]!;
    if (n.role !== 'replica') out.push(`${name} is a master, the chain says it replicates from ${want}`);
    else if (n.following !== want)
      out.push(`${name} replicates from ${n.following ?? '?'}, the chain says ${want}`);
    else if (!n.linkUp) out.push(`${name}'s replication link to ${want} is down`);
  });
  return out;
}
