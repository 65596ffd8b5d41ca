import type { NodeRef } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import type { LbServerState } from '../web/haproxy-runtime.ts';
import { LB_NODE, isEtcdNode, isPostgresNode } from './layout.ts';

/**
 * The state of a Patroni stack from what its parts answer. Pure: observe.ts does the asking.
 *
 * - Each Patroni node's REST API: `GET /cluster` (the cluster as that node reads it from etcd:
 *   the leader, every member's role, state, timeline and lag) and `GET /patroni` (its own
 *   Postgres: role, state, timeline, and on the primary the replicas streaming from it, from
 *   pg_stat_replication).
 * - Each etcd member's `/v3/maintenance/status`: which member it takes for the raft leader.
 * - HAProxy's runtime API: which servers are UP.
 *
 * Terms: the **leader** is the member the leader key names, as the answering nodes' `/cluster`
 * say (the most of them, if they disagree); a replica **streams** when the leader's
 * pg_stat_replication lists it (application_name = its name) as `streaming`.
 */

export interface ClusterMember {
  name: string;
  /** `leader`, `replica`, `sync_standby` (`standby_leader` in a standby cluster). */
  role: string;
  /** `running`, `streaming` (Patroni 3.0.4+), `stopped`, `starting`, `creating replica`... */
  state: string;
  timeline?: number;
  /** Bytes behind the cluster's last known WAL position; absent for the leader or when unknown. */
  lag?: number;
}

export interface ClusterView {
  leader: string | null;
  members: ClusterMember[];
}

export interface ReplicationLink {
  name: string;
  /** `streaming`, `catchup`, `startup`, `backup`... */
  state: string;
  /** `async`, `sync`, `potential`, `quorum`. */
  sync: string;
}

export interface PatroniStatus {
  /** Postgres's state as Patroni manages it: `running`, `stopped`, `starting`... */
  state: string;
  /** `master` (or `primary`) or `replica`. */
  role: string;
  timeline?: number;
  /** On a primary: the replicas connected to it. */
  replication: ReplicationLink[];
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A `GET /cluster` answer. Throws when it is not one. */
export function parseCluster(json: unknown): ClusterView {
  const o = obj(json);
  if (!o || !Array.isArray(o.members)) throw new Error('not a Patroni /cluster answer: no members list');
  const members: ClusterMember[] = o.members.map((m, i) => {
    const e = obj(m);
    const name = str(e?.name);
    if (!e || !name) throw new Error(`not a Patroni /cluster answer: member ${i} has no name`);
    const lag = num(e.lag);
    const timeline = num(e.timeline);
    return {
      name,
      role: str(e.role) ?? '',
      state: str(e.state) ?? '',
      ...(timeline === undefined ? {} : { timeline }),
      ...(lag === undefined ? {} : { lag }),
    };
  });
  const leaders = members.filter((m) => m.role === 'leader' || m.role === 'standby_leader');
  return { leader: leaders.length === 1 ? leaders[0]!.name : null, members };
}

/** A `GET /patroni` answer (also the body of a failed health check). Throws when it is not one. */
export function parsePatroniStatus(json: unknown): PatroniStatus {
  const o = obj(json);
  const state = str(o?.state);
  const role = str(o?.role);
  if (!o || !state || !role) throw new Error('not a Patroni /patroni answer: no state or role');
  const timeline = num(o.timeline);
  const replication = (Array.isArray(o.replication) ? o.replication : []).flatMap((r) => {
    const e = obj(r);
    const name = str(e?.application_name);
    return e && name ? [{ name, state: str(e.state) ?? '', sync: str(e.sync_state) ?? '' }] : [];
  });
  return { state, role, ...(timeline === undefined ? {} : { timeline }), replication };
}

/** What one Patroni node answered; a part it did not answer is absent. */
export interface NodeAnswer {
  cluster?: ClusterView;
  status?: PatroniStatus;
}

/** What an etcd member answered: the raft leader's name as it sees it (null: none). */
export interface EtcdAnswer {
  leader: string | null;
}

export interface Observed {
  nodes: readonly NodeRef[];
  patroni: ReadonlyMap<string, NodeAnswer>;
  etcd: ReadonlyMap<string, EtcdAnswer>;
  /** HAProxy's servers and their states; absent when its runtime API did not answer. */
  haproxy?: readonly { name: string; state: LbServerState }[];
}

const isPrimaryRole = (role: string) => role === 'master' || role === 'primary';

/** The leader most answering nodes name (ties: the first in node order), or null. */
export function agreedLeader(answers: readonly (ClusterView | undefined)[]): string | null {
  const votes = new Map<string, number>();
  for (const a of answers) if (a?.leader) votes.set(a.leader, (votes.get(a.leader) ?? 0) + 1);
  let best: string | null = null;
  for (const [name, n] of votes) if (best === null || n > votes.get(best)!) best = name;
  return best;
}

/**
 * The system's state: the leader, the members (the leader, then the replicas streaming from it),
 * and each node: a Patroni node's role (`leader`, `replica`, `sync_standby`, or `primary` for a
 * node running as primary without the key; `, <state>` after it when its Postgres is not
 * running), the leader it follows by its own `/cluster`, whether it streams, its lag; an etcd
 * member's role and the raft leader it sees; HAProxy's servers UP as `following`.
 */
export function patroniState(o: Observed): SystemState {
  const pgNodes = o.nodes.filter((n) => isPostgresNode(n.name));
  const leader = agreedLeader(pgNodes.map((n) => o.patroni.get(n.name)?.cluster));
  const leaderStatus = leader ? o.patroni.get(leader)?.status : undefined;
  const streaming = new Map((leaderStatus?.replication ?? []).map((r) => [r.name, r]));
  // Lags and roles as the leader sees the cluster (else any node that answered).
  const view =
    (leader ? o.patroni.get(leader)?.cluster : undefined) ??
    pgNodes.map((n) => o.patroni.get(n.name)?.cluster).find((c) => c !== undefined);
  const states: NodeState[] = pgNodes.map((n) => {
    const a = o.patroni.get(n.name);
    if (!a?.status && !a?.cluster) return { name: n.name, az: n.az, reachable: false };
    const own =
      a.cluster?.members.find((m) => m.name === n.name) ?? view?.members.find((m) => m.name === n.name);
    const state = a.status?.state ?? own?.state ?? 'unknown';
    const isLeader = n.name === leader;
    const role = isLeader
      ? 'leader'
      : a.status && isPrimaryRole(a.status.role)
        ? 'primary'
        : own?.role && own.role !== 'leader'
          ? own.role
          : 'replica';
    const lag = view?.members.find((m) => m.name === n.name)?.lag;
    const link = streaming.get(n.name);
    return {
      name: n.name,
      az: n.az,
      reachable: true,
      role: state === 'running' || state === 'streaming' ? role : `${role}, ${state}`,
      ...(isLeader
        ? {}
        : {
            following: a.cluster?.leader ?? '',
            linkUp: (state === 'running' || state === 'streaming') && link?.state === 'streaming',
            ...(lag === undefined ? {} : { lag }),
          }),
    };
  });
  const etcd: NodeState[] = o.nodes
    .filter((n) => isEtcdNode(n.name))
    .map((n) => {
      const a = o.etcd.get(n.name);
      if (!a) return { name: n.name, az: n.az, reachable: false };
      return {
        name: n.name,
        az: n.az,
        reachable: true,
        role: a.leader === n.name ? 'etcd leader' : 'etcd member',
        following: a.leader ?? '',
        linkUp: a.leader !== null,
      };
    });
  const lbRef = o.nodes.find((n) => n.name === LB_NODE);
  const lb: NodeState[] = lbRef
    ? [
        o.haproxy
          ? {
              name: lbRef.name,
              az: lbRef.az,
              reachable: true,
              role: 'haproxy',
              following: o.haproxy
                .filter((s) => s.state === 'UP')
                .map((s) => s.name)
                .join(','),
            }
          : { name: lbRef.name, az: lbRef.az, reachable: false },
      ]
    : [];
  const replicas = states.filter((s) => s.name !== leader && s.linkUp && s.following === leader);
  return {
    leader,
    members: leader ? [leader, ...replicas.map((s) => s.name)] : [],
    nodes: [...states, ...etcd, ...lb],
  };
}

/**
 * What is wrong with a state, one sentence each: full redundancy is one leader, running as
 * primary, that every answering node agrees on; every other answering node a replica running
 * and streaming from it, within maximum_lag_on_failover; with synchronous_mode, a synchronous
 * replica named; every answering etcd member seeing a raft leader; HAProxy routing to the leader
 * only. A node that does not answer is not required anywhere (the runner says when one should).
 */
export function patroniViolations(
  t: SystemState,
  spec: { maximumLagOnFailoverBytes: number; synchronousMode: boolean },
): string[] {
  const out: string[] = [];
  const pg = t.nodes.filter((n) => n.reachable && isPostgresNode(n.name));
  const leader = t.leader;
  if (!leader) out.push('no node holds the leader key');
  else {
    const l = pg.find((n) => n.name === leader);
    if (!l) out.push(`the leader ${leader} does not answer`);
    else if (l.role !== 'leader') out.push(`the leader ${leader} is not running as primary (${l.role})`);
  }
  for (const n of pg) {
    if (n.name === leader) continue;
    if (n.role?.startsWith('primary'))
      out.push(`${n.name} runs as a primary without the leader key (the leader is ${leader ?? 'nobody'})`);
    else if (n.following !== leader)
      out.push(`${n.name} sees ${n.following || 'no leader'} as the leader, the others ${leader ?? 'none'}`);
    else if (!n.linkUp) out.push(`${n.name} is not streaming from ${leader} (${n.role})`);
    else if (n.lag !== undefined && n.lag > spec.maximumLagOnFailoverBytes)
      out.push(
        `${n.name} is ${n.lag} bytes behind, more than maximum_lag_on_failover (${spec.maximumLagOnFailoverBytes})`,
      );
  }
  if (spec.synchronousMode && leader && pg.some((n) => n.name !== leader && n.linkUp))
    if (!pg.some((n) => n.role === 'sync_standby'))
      out.push('synchronous_mode is on but no replica is the synchronous standby');
  for (const e of t.nodes.filter((n) => n.reachable && isEtcdNode(n.name)))
    if (!e.following) out.push(`etcd member ${e.name} sees no raft leader`);
  const lb = t.nodes.find((n) => n.name === LB_NODE && n.reachable);
  if (lb && leader && lb.following !== leader)
    out.push(`HAProxy routes to ${lb.following || 'no server'}, the leader is ${leader}`);
  return out;
}
