import type { SystemState } from '../../core/result.ts';
import { ARBITER } from './layout.ts';

/**
 * The invariants of a healthy, fully redundant replica set: exactly one PRIMARY among the members
 * that answer, the endpoint record naming it, every other data member that answers a SECONDARY
 * syncing from it and at most `maxLagMs` of oplog behind it, and the arbiter, if it answers, an
 * ARBITER. A member that does not answer is not required anywhere (a killed one stays dead).
 */
export function mongoViolations(t: SystemState, spec: { maxLagMs: number }): string[] {
  const out: string[] = [];
  const up = t.nodes.filter((n) => n.reachable);
  const primaries = up.filter((n) => n.role === 'primary');
  if (primaries.length === 0) out.push('no member answering is PRIMARY');
  if (primaries.length > 1)
    out.push(`${primaries.length} primaries: ${primaries.map((p) => p.name).join(', ')}`);
  const primary = primaries.length === 1 ? primaries[0]!.name : undefined;
  if (primary && t.leader !== primary)
    out.push(`the endpoint record names ${t.leader ?? 'nothing'}, the primary is ${primary}`);
  for (const n of up) {
    if (n.role === 'primary') continue;
    if (n.name === ARBITER) {
      if (n.role !== 'arbiter') out.push(`${n.name} is ${(n.role ?? '?').toUpperCase()}, not ARBITER`);
      continue;
    }
    if (n.role !== 'secondary') {
      out.push(`${n.name} is ${(n.role ?? '?').toUpperCase()}, not SECONDARY`);
      continue;
    }
    if (!n.linkUp) out.push(`${n.name} has no sync source`);
    else if (primary && n.following !== primary)
      out.push(`${n.name} syncs from ${n.following}, the primary is ${primary}`);
    if (!primary) continue;
    if (n.lag === undefined) out.push(`${n.name}: how far it trails the primary is not known`);
    else if (n.lag > spec.maxLagMs)
      out.push(`${n.name} is ${n.lag} ms of oplog behind the primary (more than ${spec.maxLagMs})`);
  }
  return out;
}
