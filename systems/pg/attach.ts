import pg from 'pg';
import type { Endpoint } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { endClient } from './client.ts';

/**
 * A user's Postgres streaming replication, attached to (`stack.attach.pg`): no agent of the
 * harness, no writer record of its own. Who leads is read from the nodes, one reading for
 * everything (the probe's lookup, the observation, the invariants): the node where
 * `pg_is_in_recovery()` is false. A standby streams from it when the leader's own
 * `pg_stat_replication` lists it `streaming` (by the address it connects from); what the standby
 * says (`pg_stat_wal_receiver`) names the node it follows.
 */

export interface PgLogin {
  user: string;
  password: string;
  database: string;
}

/** A node to ask, by name: where it answers, in AZ. */
export interface AttachedPgNode {
  name: string;
  az: string;
  endpoint: Endpoint;
}

/** What one node says of itself. */
export interface PgReading {
  standby: boolean;
  /** A standby's WAL receiver: its status and the host it streams from. */
  receiver?: { status: string; sender: string };
  /** WAL received but not replayed yet, in bytes (a standby). */
  lag?: number;
  /** A primary's WAL senders (pg_stat_replication): the address each standby connects from. */
  senders?: { addr: string; name: string; state: string }[];
}

const READING = `SELECT pg_is_in_recovery() AS standby,
  (SELECT status FROM pg_stat_wal_receiver) AS status,
  (SELECT sender_host FROM pg_stat_wal_receiver) AS sender,
  CASE WHEN pg_is_in_recovery()
    THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END AS lag,
  (SELECT coalesce(json_agg(json_build_object('addr', host(client_addr), 'name', application_name,
     'state', state)), '[]'::json) FROM pg_stat_replication) AS senders`;

/** One query on a fresh connection with short timeouts; the connection is closed at once. */
export async function queryAttached(
  ep: Endpoint,
  login: PgLogin,
  sql: string,
  timeoutMs = 500,
  params: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({
    host: ep.host,
    port: ep.port,
    user: login.user,
    password: login.password,
    database: login.database,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs * 2,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query(sql, params)).rows as Record<string, unknown>[];
  } finally {
    await endClient(client);
  }
}

/** One node's reading, or undefined when it did not answer. */
export async function readPg(ep: Endpoint, login: PgLogin, timeoutMs = 500): Promise<PgReading | undefined> {
  try {
    const [row] = await queryAttached(ep, login, READING, timeoutMs);
    if (!row) return undefined;
    const standby = Boolean(row.standby);
    const senders = (
      typeof row.senders === 'string' ? JSON.parse(row.senders) : (row.senders ?? [])
    ) as PgReading['senders'];
    return {
      standby,
      ...(row.status ? { receiver: { status: String(row.status), sender: String(row.sender ?? '') } } : {}),
      ...(row.lag === null || row.lag === undefined ? {} : { lag: Number(row.lag) }),
      ...(standby ? {} : { senders }),
    };
  } catch {
    return undefined;
  }
}

/**
 * Who leads: the one node that answers out of recovery. With several (a standby promoted by
 * hand while the old primary still runs), the one most standbys stream from; a tie is nobody, as
 * is none.
 */
export function pgLeader(
  readings: readonly { name: string; reading: PgReading | undefined }[],
  nameOf: (host: string) => string | undefined,
): string | null {
  const primaries = readings.filter((r) => r.reading && !r.reading.standby);
  if (primaries.length <= 1) return primaries[0]?.name ?? null;
  const streaming = (r: (typeof primaries)[number]) =>
    (r.reading!.senders ?? []).filter((s) => s.state === 'streaming' && nameOf(s.addr)).length;
  const ranked = primaries.map((r) => [r.name, streaming(r)] as const).sort((a, b) => b[1] - a[1]);
  return ranked[0]![1] > ranked[1]![1] ? ranked[0]![0] : null;
}

/**
 * The live state from every node's reading: the leader, then the standbys streaming from it.
 * A standby's `following` is the host its WAL receiver names (by node name where known); its
 * link is up when the leader's pg_stat_replication lists it streaming.
 */
export function pgState(
  nodes: readonly { name: string; az: string; reading: PgReading | undefined }[],
  nameOf: (host: string) => string | undefined,
): SystemState {
  const leader = pgLeader(nodes, nameOf);
  const streamingFromLeader = new Set(
    (nodes.find((n) => n.name === leader)?.reading?.senders ?? [])
      .filter((s) => s.state === 'streaming')
      .map((s) => nameOf(s.addr))
      .filter((n): n is string => Boolean(n)),
  );
  const states: NodeState[] = nodes.map(({ name, az, reading: r }) => {
    if (!r) return { name, az, reachable: false };
    if (!r.standby) return { name, az, reachable: true, role: 'primary' };
    const sender = r.receiver?.sender ?? '';
    const following = sender ? (nameOf(sender) ?? sender) : '';
    return {
      name,
      az,
      reachable: true,
      role: 'standby',
      following,
      linkUp: following === leader && streamingFromLeader.has(name) && r.receiver?.status === 'streaming',
      ...(r.lag === undefined ? {} : { lag: r.lag }),
    };
  });
  const standbys = states.filter((s) => s.role === 'standby' && s.following === leader && s.linkUp);
  return { leader, members: leader ? [leader, ...standbys.map((s) => s.name)] : [], nodes: states };
}

/**
 * Full redundancy of a plain streaming replication: exactly one node that answers is out of
 * recovery, and every other node that answers streams from it (listed `streaming` in its
 * pg_stat_replication). A node that does not answer is not required anywhere. Nothing promotes a
 * standby in such a stack: a dead primary leaves none, which this says until someone does.
 */
export function attachedPgViolations(t: SystemState): string[] {
  const out: string[] = [];
  const up = t.nodes.filter((n) => n.reachable);
  const primaries = up.filter((n) => n.role === 'primary');
  if (primaries.length === 0)
    out.push(
      'no node that answers is a primary (a plain streaming replication promotes no standby by itself)',
    );
  if (primaries.length > 1)
    out.push(`${primaries.length} primaries: ${primaries.map((p) => p.name).join(', ')}`);
  const leader = t.leader;
  if (leader === null) return out;
  for (const n of up) {
    if (n.name === leader || n.role === 'primary') continue;
    if (n.following !== leader) out.push(`${n.name} follows ${n.following || 'nothing'}, not ${leader}`);
    else if (!n.linkUp) out.push(`${n.name} is not streaming from ${leader} (its pg_stat_replication)`);
  }
  return out;
}
