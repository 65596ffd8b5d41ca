import type { NodeState, SystemState } from '../../core/result.ts';

/**
 * A node of the stack as the observer saw it. Beside what every system reports (role, the node
 * it replicates from, its link, its lag in bytes of the replication stream), two things only this
 * system has, which travel into the result as they are:
 *
 * - `sentinel`: what the Sentinel beside a data node says (absent where none runs): whether it
 *   answered, and the master it hands out for `mymaster` (by node name; null when it named
 *   an address no node has);
 * - `routesTo`: on the proxy, the servers HAProxy has UP, to which it sends new connections;
 * - `configured` (`monitor: seed`): the node's part in the seed's shared configuration.
 */
export interface SentinelNodeState extends NodeState {
  sentinel?: { answers: boolean; master: string | null };
  routesTo?: string[];
  /** With the seed's monitor: the node's part in the shared configuration. */
  configured?: 'master' | 'slave';
}

export interface SentinelState extends SystemState {
  nodes: SentinelNodeState[];
}

/** Replication as one node's `INFO replication` tells it. */
export interface ReplicationInfo {
  role: 'master' | 'replica';
  /** A replica's master, as an address. */
  masterHost?: string;
  linkUp?: boolean;
  /** The master's offset (`master_repl_offset`), or a replica's (`slave_repl_offset`). */
  offset?: number;
}

export function parseReplication(info: string): ReplicationInfo {
  const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const num = (k: string) => {
    const v = field(k);
    return v === undefined || v === '' || Number.isNaN(Number(v)) ? undefined : Number(v);
  };
  if (field('role') === 'slave') {
    const offset = num('slave_repl_offset');
    return {
      role: 'replica',
      masterHost: field('master_host') ?? '',
      linkUp: field('master_link_status') === 'up',
      ...(offset === undefined ? {} : { offset }),
    };
  }
  const offset = num('master_repl_offset');
  return { role: 'master', ...(offset === undefined ? {} : { offset }) };
}

/**
 * The master a quorum of Sentinels hands out: the node named by at least `quorum` of the
 * answers (an answer is a node name, or null for none it can name). With no such node, null.
 * Two nodes cannot both reach a quorum of one set of answers unless the quorum is at most half
 * of them; then the one named most wins, and a tie is no agreement.
 */
export function quorumMaster(answers: readonly (string | null)[], quorum: number): string | null {
  const counts = new Map<string, number>();
  for (const a of answers) if (a !== null) counts.set(a, (counts.get(a) ?? 0) + 1);
  const ranked = [...counts.entries()].filter(([, n]) => n >= quorum).sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0) return null;
  if (ranked.length > 1 && ranked[0]![1] === ranked[1]![1]) return null;
  return ranked[0]![0];
}
