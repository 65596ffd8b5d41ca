import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { NodeRef, Stack } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { queryOnce } from './client.ts';
import { readWriter } from './records.ts';

const FORM_TIMEOUT_MS = 60_000;

/** One query on a fresh connection to a node's mapped port, with short timeouts. */
export function queryNode(stack: Stack, node: string, sql: string, timeoutMs = 500) {
  return queryOnce(stack.endpoint(node), sql, { connectMs: timeoutMs, queryMs: timeoutMs * 2 });
}

async function nodeState(stack: Stack, node: NodeRef): Promise<NodeState> {
  try {
    const [row] = await queryNode(
      stack,
      node.name,
      `SELECT pg_is_in_recovery() AS standby,
              (SELECT status FROM pg_stat_wal_receiver) AS status,
              (SELECT sender_host FROM pg_stat_wal_receiver) AS sender,
              CASE WHEN pg_is_in_recovery()
                THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END AS lag`,
    );
    const standby = Boolean(row?.standby);
    return {
      name: node.name,
      az: node.az,
      reachable: true,
      role: standby ? 'standby' : 'primary',
      ...(standby
        ? {
            following: String(row?.sender ?? ''),
            linkUp: row?.status === 'streaming',
            ...(row?.lag === null || row?.lag === undefined ? {} : { lag: Number(row.lag) }),
          }
        : {}),
    };
  } catch {
    return { name: node.name, az: node.az, reachable: false };
  }
}

/** Who the writer record names, each node's own account, members: the primary, then its standbys. */
export async function observePg(stack: Stack): Promise<SystemState> {
  const nodes = stack.nodes().filter((n) => n.system === 'pg');
  const [leader, states] = await Promise.all([
    readWriter(stack.registry()),
    Promise.all(nodes.map((n) => nodeState(stack, n))),
  ]);
  const standbys = states.filter((s) => s.role === 'standby' && s.following === leader).map((s) => s.name);
  return { leader, members: leader ? [leader, ...standbys] : standbys, nodes: states };
}

/**
 * The invariants of a healthy, fully redundant streaming-replication system: exactly one
 * primary among the nodes that answer, the writer record naming it, and every other node that
 * answers a standby streaming from it. A node that does not answer is not required anywhere.
 */
export function pgViolations(t: SystemState): string[] {
  const out: string[] = [];
  const up = t.nodes.filter((n) => n.reachable);
  const primaries = up.filter((n) => n.role === 'primary');
  if (primaries.length === 0) out.push('no node answering is a primary');
  if (primaries.length > 1)
    out.push(`${primaries.length} primaries: ${primaries.map((p) => p.name).join(', ')}`);
  const primary = primaries.length === 1 ? primaries[0]!.name : undefined;
  if (primary && t.leader !== primary)
    out.push(`the writer record names ${t.leader ?? 'nothing'}, the primary is ${primary}`);
  for (const n of up) {
    if (n.role !== 'standby') continue;
    if (primary && n.following !== primary)
      out.push(`${n.name} follows ${n.following || 'nothing'}, the primary is ${primary}`);
    else if (!n.linkUp) out.push(`${n.name} is not streaming from ${n.following || 'its primary'}`);
  }
  return out;
}

/** Waits until the primary holds the writer record and every standby streams from it. */
export async function awaitPg(stack: Stack, expected: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    const t = await observePg(stack);
    const v = pgViolations(t);
    if (v.length === 0 && t.members.length === expected) return;
    if (Date.now() > deadline) {
      throw new InfraError(
        'PG_NOT_FORMED',
        `the Postgres replication did not form within ${FORM_TIMEOUT_MS} ms: writer ${t.leader ?? 'none'}, streaming ${t.members.slice(1).join(', ') || 'none'}${v.length ? `; ${v.join('; ')}` : ''}`,
        {
          hint: "see the nodes' and agents' logs in the run folder's logs/; `chaos cleanup` removes leftovers",
        },
      );
    }
    await sleep(100, signal);
  }
}
