import type { Endpoint } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { type RedisLogin, quickClient } from './quick-client.ts';

/**
 * A user's plain Redis replication, attached to (`stack.attach.redis`): no agent of the harness,
 * no record of its own. Who leads is read from the nodes themselves, by `ROLE`, one reading for
 * everything: the probe's lookup of the master, the observation, the invariants.
 *
 * `ROLE` on a replica answers `slave <master host> <port> <state> <offset>`; its state is
 * `connected` exactly when `INFO replication` says `master_link_status:up` (both read the
 * replica's link state), so the link is judged as for every other Redis of the harness.
 */

/** A node to ask, by name: where it answers, in AZ. */
export interface AttachedRedisNode {
  name: string;
  az: string;
  endpoint: Endpoint;
}

/** How a client logs in to a user's Redis (AUTH): systems/redis/quick-client.ts. */
export type RedisAuth = RedisLogin;

/** One `ROLE` reply, or undefined when the node did not answer in time (or refused the login). */
export async function readRole(
  ep: Endpoint,
  timeoutMs = 500,
  auth?: RedisAuth,
): Promise<unknown[] | undefined> {
  return (await askRole(ep, timeoutMs, auth)).role;
}

/** Why a node gave no `ROLE`, in its own words (NOAUTH, WRONGPASS, a timeout), or undefined when it did. */
export async function roleError(
  ep: Endpoint,
  timeoutMs = 500,
  auth?: RedisAuth,
): Promise<string | undefined> {
  const { role, error } = await askRole(ep, timeoutMs, auth);
  return role ? undefined : (error ?? 'no answer');
}

async function askRole(
  ep: Endpoint,
  timeoutMs: number,
  auth: RedisAuth | undefined,
): Promise<{ role?: unknown[]; error?: string }> {
  const c = quickClient(ep, timeoutMs, auth);
  let failed: string | undefined;
  c.on('error', (err: Error) => {
    failed ??= err.message;
  });
  try {
    await c.connect();
    const role = await c.call('ROLE');
    return Array.isArray(role) ? { role } : { error: 'ROLE answered no list' };
  } catch (err) {
    return { error: failed ?? (err as Error).message };
  } finally {
    c.disconnect();
  }
}

/**
 * A node's state from its `ROLE` reply: `master` (with its offset) or `replica` (the node it
 * follows, by name where `nameOf` knows the address, its link, its offset).
 */
export function roleState(
  node: { name: string; az: string },
  role: unknown[] | undefined,
  nameOf: (host: string) => string | undefined,
): NodeState {
  if (!role) return { name: node.name, az: node.az, reachable: false };
  if (role[0] === 'master') {
    const offset = Number(role[1]);
    return {
      name: node.name,
      az: node.az,
      reachable: true,
      role: 'master',
      ...(Number.isFinite(offset) ? { offset } : {}),
    };
  }
  if (role[0] === 'slave') {
    const host = String(role[1] ?? '');
    const offset = Number(role[4]);
    return {
      name: node.name,
      az: node.az,
      reachable: true,
      role: 'replica',
      following: nameOf(host) ?? host,
      linkUp: role[3] === 'connected',
      ...(Number.isFinite(offset) && offset >= 0 ? { offset } : {}),
    };
  }
  // A Sentinel (or anything else) on the port: not a data node of this stack.
  return { name: node.name, az: node.az, reachable: true, role: String(role[0]) };
}

/**
 * Who leads: the one node that answers as master. With several (a replica promoted by hand, a
 * node restarted without `replicaof`), the one most answering replicas follow; a tie is nobody,
 * as is none.
 */
export function redisLeader(nodes: readonly NodeState[]): string | null {
  const masters = nodes.filter((n) => n.reachable && n.role === 'master');
  if (masters.length <= 1) return masters[0]?.name ?? null;
  const followers = (m: string) => nodes.filter((n) => n.reachable && n.following === m).length;
  const ranked = masters.map((m) => [m.name, followers(m.name)] as const).sort((a, b) => b[1] - a[1]);
  return ranked[0]![1] > ranked[1]![1] ? ranked[0]![0] : null;
}

/** Every node's `ROLE`, at once. */
export async function readRedisNodes(
  nodes: readonly AttachedRedisNode[],
  nameOf: (host: string) => string | undefined,
  timeoutMs = 500,
  auth?: RedisAuth,
): Promise<NodeState[]> {
  return Promise.all(
    nodes.map(async (n) => roleState(n, await readRole(n.endpoint, timeoutMs, auth), nameOf)),
  );
}

/** The live state: the leader, then the replicas that follow it; each node as it answered. */
export function redisState(nodes: NodeState[]): SystemState {
  const leader = redisLeader(nodes);
  const lead = nodes.find((n) => n.name === leader)?.offset;
  const states = nodes.map((n) =>
    n.role === 'replica' && n.following === leader && lead !== undefined && n.offset !== undefined
      ? { ...n, lag: Math.max(0, lead - n.offset) }
      : n,
  );
  const replicas = states.filter((n) => n.reachable && n.role === 'replica' && n.following === leader);
  return { leader, members: leader ? [leader, ...replicas.map((n) => n.name)] : [], nodes: states };
}

/**
 * Full redundancy of a plain Redis replication: exactly one node that answers is a master, and
 * every other node that answers is its replica with the link up (`master_link_status:up`). A node
 * that does not answer (killed, paused) is not required anywhere. Nothing promotes a replica in
 * such a stack: a dead master leaves no master, which this says until someone (the user's own
 * agent, or an operator) promotes one.
 */
export function attachedRedisViolations(t: SystemState): string[] {
  const out: string[] = [];
  const up = t.nodes.filter((n) => n.reachable);
  const masters = up.filter((n) => n.role === 'master');
  if (masters.length === 0)
    out.push('no node that answers is a master (a plain Redis promotes no replica by itself)');
  if (masters.length > 1) out.push(`${masters.length} masters: ${masters.map((m) => m.name).join(', ')}`);
  const leader = t.leader;
  if (leader === null) return out;
  for (const n of up) {
    if (n.name === leader || n.role === 'master') continue;
    if (n.role !== 'replica') out.push(`${n.name} answers as ${n.role ?? '?'}, not as a Redis replica`);
    else if (n.following !== leader)
      out.push(`${n.name} replicates from ${n.following || '?'}, not ${leader}`);
    else if (!n.linkUp) out.push(`${n.name}'s replication link to ${leader} is down`);
  }
  return out;
}
