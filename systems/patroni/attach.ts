import type { Endpoint } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { type ClusterView, type PatroniStatus, parseCluster, parsePatroniStatus } from './cluster.ts';

/**
 * A user's Patroni cluster, attached to (`stack.attach.patroni`): its DCS is the user's, which the
 * harness does not read; who leads is what the members' REST API says (`GET /cluster` on each: the
 * member whose role is `leader`). Patroni names its members by its own names (`name:` in each
 * patroni.yml), not by the containers': a member is mapped to its container by the address in
 * its `host` (or `api_url`), through the stack's address book, as the other attached kinds map a
 * replica's master.
 *
 * A standby cluster's `standby_leader` holds the key but takes no writes: it is no writer here,
 * and a cluster led by one has no leader to write to.
 */

/** One member's `/cluster` and `/patroni`, with the address each member of its view has. */
export interface PatroniAnswer {
  cluster?: ClusterView;
  /** Each member of that view by Patroni's name: the host its `host` field (else `api_url`) names. */
  hosts?: Map<string, string>;
  status?: PatroniStatus;
}

/** What the user's dynamic configuration (`GET /config`) sets: what failover is judged by. */
export interface PatroniTimings {
  ttlMs: number;
  loopWaitMs: number;
  maximumLagOnFailoverBytes: number;
}

/** Patroni's defaults, for a field `/config` leaves out. */
export const PATRONI_DEFAULTS: PatroniTimings = {
  ttlMs: 30_000,
  loopWaitMs: 10_000,
  maximumLagOnFailoverBytes: 1_048_576,
};

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Each member of a `/cluster` answer by name: its `host`, else the host of its `api_url`. */
export function clusterHosts(json: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const members = obj(json)?.members;
  if (!Array.isArray(members)) return out;
  for (const m of members) {
    const e = obj(m);
    if (typeof e?.name !== 'string') continue;
    let host = typeof e.host === 'string' && e.host ? e.host : undefined;
    if (!host && typeof e.api_url === 'string')
      try {
        host = new URL(e.api_url).hostname.replace(/^\[(.*)\]$/, '$1');
      } catch {}
    if (host) out.set(e.name, host);
  }
  return out;
}

/** `/config` as timings (whole seconds in Patroni's units), Patroni's defaults where absent. */
export function parseTimings(json: unknown): PatroniTimings {
  const o = obj(json) ?? {};
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
  return {
    ttlMs: (n(o.ttl) ?? PATRONI_DEFAULTS.ttlMs / 1000) * 1000,
    loopWaitMs: (n(o.loop_wait) ?? PATRONI_DEFAULTS.loopWaitMs / 1000) * 1000,
    maximumLagOnFailoverBytes: n(o.maximum_lag_on_failover) ?? PATRONI_DEFAULTS.maximumLagOnFailoverBytes,
  };
}

async function getJson(ep: Endpoint, path: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(`http://${ep.host}:${ep.port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  // Patroni answers some health paths with 503 and a body; /cluster, /patroni and /config with 200.
  return (await res.json()) as unknown;
}

/** One member's REST API: `/cluster` and `/patroni`, each absent when it did not answer as Patroni. */
export async function readPatroni(ep: Endpoint, timeoutMs = 800): Promise<PatroniAnswer> {
  const [cluster, status] = await Promise.allSettled([
    getJson(ep, '/cluster', timeoutMs).then((j) => ({ view: parseCluster(j), hosts: clusterHosts(j) })),
    getJson(ep, '/patroni', timeoutMs).then(parsePatroniStatus),
  ]);
  return {
    ...(cluster.status === 'fulfilled' ? { cluster: cluster.value.view, hosts: cluster.value.hosts } : {}),
    ...(status.status === 'fulfilled' ? { status: status.value } : {}),
  };
}

/** The user's timings from a member's `/config`; undefined when it did not answer. */
export async function readTimings(ep: Endpoint, timeoutMs = 800): Promise<PatroniTimings | undefined> {
  try {
    return parseTimings(await getJson(ep, '/config', timeoutMs));
  } catch {
    return undefined;
  }
}

/**
 * Patroni's member names to container names, from every view that answered: a member's host is
 * looked up in the address book (`nameOf`); a member whose host no container has stays unmapped.
 */
export function memberContainers(
  answers: readonly { answer: PatroniAnswer }[],
  nameOf: (host: string) => string | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const { answer } of answers)
    for (const [member, host] of answer.hosts ?? []) {
      const container = nameOf(host);
      if (container && !out.has(member)) out.set(member, container);
    }
  return out;
}

/**
 * An attached Patroni cluster's state; `unmappedLeader` when the member the views name leader has
 * a host no container of the stack's address book has (`name (host h)`): no leader then.
 */
export interface AttachedPatroniState extends SystemState {
  unmappedLeader?: string;
}

const running = (state: string) => state === 'running' || state === 'streaming';
const isPrimaryRole = (role: string) => role === 'master' || role === 'primary';

/**
 * The leader, by Patroni's member name: the member whose role is `leader` in a strict majority of
 * the answering views; otherwise nobody this reading (a tie is no leader: an old leader cut off
 * from the DCS may still name itself, and must not be taken for the leader by node order). A
 * `standby_leader` is never one.
 */
export function writableLeader(views: readonly (ClusterView | undefined)[]): string | null {
  const votes = new Map<string, number>();
  let answering = 0;
  for (const v of views) {
    if (!v) continue;
    answering++;
    const l = v.members.filter((m) => m.role === 'leader');
    if (l.length === 1) votes.set(l[0]!.name, (votes.get(l[0]!.name) ?? 0) + 1);
  }
  for (const [name, n] of votes) if (n * 2 > answering) return name;
  return null;
}

/**
 * The live state from every member's answers, by container: the leader (the container of the
 * member Patroni's views name `leader`), then the replicas streaming from it; each node its role
 * (`leader`, `replica`, `sync_standby`, `standby_leader`, or `primary` for one running as primary
 * without the key, `, <state>` after it when its Postgres is not running), the leader its own
 * `/cluster` names, whether the leader's `/patroni` lists it streaming, its lag in bytes as the
 * leader's view has it. A container whose REST API does not answer is unreachable. A leader
 * whose host no container has is no leader (a name no container has would be written to and
 * faulted at); the state names it in `unmappedLeader`.
 */
export function attachedPatroniState(
  nodes: readonly { name: string; az: string; answer: PatroniAnswer }[],
  nameOf: (host: string) => string | undefined,
): AttachedPatroniState {
  const containers = memberContainers(nodes, nameOf);
  const containerOf = (member: string | null | undefined) =>
    member ? (containers.get(member) ?? null) : null;
  const memberOf = new Map([...containers].map(([m, c]) => [c, m]));
  const leaderMember = writableLeader(nodes.map((n) => n.answer.cluster));
  const leader = containerOf(leaderMember);
  const leaderHost = nodes.map((n) => n.answer.hosts?.get(leaderMember ?? '')).find((h) => h !== undefined);
  const unmappedLeader =
    leaderMember && !leader ? `${leaderMember} (host ${leaderHost ?? 'not given'})` : undefined;
  const leaderAnswer = nodes.find((n) => n.name === leader)?.answer;
  const streaming = new Map((leaderAnswer?.status?.replication ?? []).map((r) => [r.name, r]));
  const view =
    leaderAnswer?.cluster ??
    nodes.map((n) => n.answer.cluster).find((c): c is ClusterView => c !== undefined);
  const states: NodeState[] = nodes.map(({ name, az, answer: a }) => {
    if (!a.status && !a.cluster) return { name, az, reachable: false };
    const member = memberOf.get(name);
    const own =
      (member ? a.cluster?.members.find((m) => m.name === member) : undefined) ??
      (member ? view?.members.find((m) => m.name === member) : undefined);
    const state = a.status?.state ?? own?.state ?? 'unknown';
    const isLeader = name === leader;
    const role = isLeader
      ? 'leader'
      : a.status && isPrimaryRole(a.status.role) && own?.role !== 'standby_leader'
        ? 'primary'
        : own?.role && own.role !== 'leader'
          ? own.role
          : 'replica';
    const lag = member ? view?.members.find((m) => m.name === member)?.lag : undefined;
    const ownLeader = a.cluster ? writableLeader([a.cluster]) : null;
    return {
      name,
      az,
      reachable: true,
      role: running(state) ? role : `${role}, ${state}`,
      ...(isLeader
        ? {}
        : {
            following: containerOf(ownLeader) ?? '',
            linkUp: running(state) && member !== undefined && streaming.get(member)?.state === 'streaming',
            ...(lag === undefined ? {} : { lag }),
          }),
    };
  });
  const replicas = states.filter((s) => s.name !== leader && s.linkUp && s.following === leader);
  return {
    leader,
    members: leader ? [leader, ...replicas.map((s) => s.name)] : [],
    nodes: states,
    ...(unmappedLeader ? { unmappedLeader } : {}),
  };
}

/**
 * Full redundancy of a user's Patroni cluster, as the built one's (systems/patroni/cluster.ts)
 * without the parts the harness built (etcd, HAProxy): one leader, running as primary, that the
 * answering members agree on; every other member that answers a replica running and streaming
 * from it (the leader's pg_stat_replication), within the user's maximum_lag_on_failover. A
 * member that does not answer is not required anywhere. A standby cluster (its leader a
 * `standby_leader`) has no writer: said so. A leader whose host no container has is named, with
 * its host.
 */
export function attachedPatroniViolations(
  t: AttachedPatroniState,
  spec: { maximumLagOnFailoverBytes: number },
): string[] {
  const out: string[] = [];
  const up = t.nodes.filter((n) => n.reachable);
  const leader = t.leader;
  if (!leader) {
    const standby = up.find((n) => n.role?.startsWith('standby_leader'));
    out.push(
      t.unmappedLeader
        ? `the leader ${t.unmappedLeader} is no container the selector found (its host is not in the stack's address book): select every member's container`
        : standby
          ? `${standby.name} is a standby_leader (a standby cluster): no member takes writes`
          : 'no member holds the leader key',
    );
  } else {
    const l = up.find((n) => n.name === leader);
    if (!l) out.push(`the leader ${leader} does not answer`);
    else if (l.role !== 'leader') out.push(`the leader ${leader} is not running as primary (${l.role})`);
  }
  for (const n of up) {
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
  return out;
}
