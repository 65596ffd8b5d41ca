import type { Redis } from 'ioredis';
import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { Endpoint, NodeRef, Stack } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { quickClient } from '../redis/quick-client.ts';
import { HaproxyRuntime } from '../web/haproxy-runtime.ts';
import { MASTER_NAME, PROXY_BACKEND, PROXY_RUNTIME_PORT, REDIS_PORT, SENTINEL_PORT } from './config.ts';
import { sentinelViolations } from './invariants.ts';
import { PROXY_NODE, SYSTEM, isDataNode } from './layout.ts';
import type { SentinelSpec } from './spec.ts';
import { type SentinelNodeState, type SentinelState, parseReplication, quorumMaster } from './state.ts';
import { MASTER_RECORD } from './watch.ts';

const FORM_TIMEOUT_MS = 60_000;

async function ask<T>(ep: Endpoint, run: (c: Redis) => Promise<T>, timeoutMs = 300): Promise<T | undefined> {
  const c = quickClient(ep, timeoutMs);
  try {
    await c.connect();
    return await run(c);
  } catch {
    return undefined;
  } finally {
    c.disconnect();
  }
}

/** The system's data nodes, the seed's monitor hosts and the proxy, as the stack has them now. */
export function systemNodes(stack: Stack): {
  data: NodeRef[];
  monitors: NodeRef[];
  proxy: NodeRef | undefined;
} {
  const nodes = stack.nodes().filter((n) => n.system === SYSTEM);
  return {
    data: nodes.filter((n) => isDataNode(n.name)),
    monitors: nodes.filter((n) => !isDataNode(n.name) && n.name !== PROXY_NODE),
    proxy: nodes.find((n) => n.name === PROXY_NODE),
  };
}

/** The data nodes a Sentinel runs beside (their Sentinel's port is theirs). */
export function sentinelNodes(stack: Stack): NodeRef[] {
  return systemNodes(stack).data.filter((n) => {
    try {
      stack.endpoint(n.name, SENTINEL_PORT);
      return true;
    } catch {
      return false;
    }
  });
}

/** Node names by address on the stack's network (what Sentinel and INFO report). */
export function addressBook(stack: Stack): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of systemNodes(stack).data) {
    try {
      out.set(stack.address(n.name), n.name);
    } catch {
      // a node without an address yet names nothing
    }
  }
  return out;
}

/**
 * What each Sentinel hands out for `mymaster`: a node name, null (an address no node has, or no
 * master), or undefined when it did not answer.
 */
export async function askSentinels(
  stack: Stack,
  book = addressBook(stack),
): Promise<Map<string, string | null | undefined>> {
  const hosts = sentinelNodes(stack);
  const answers = await Promise.all(
    hosts.map(async (n) => {
      const addr = (await ask(stack.endpoint(n.name, SENTINEL_PORT), (c) =>
        c.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME),
      )) as [string, string] | null | undefined;
      if (addr === undefined) return [n.name, undefined] as const;
      return [n.name, addr ? (book.get(addr[0]) ?? null) : null] as const;
    }),
  );
  return new Map(answers);
}

/**
 * The master the Sentinels agree on: the one a majority of all the stack's Sentinels (those that
 * did not answer counted too) hands out, 2 of 3 with one per AZ. A majority is what any Sentinel
 * needs to be elected to fail over, so no other master can be agreed on at the same time.
 */
export function agreedMaster(answers: ReadonlyMap<string, string | null | undefined>): string | null {
  const said = [...answers.values()].filter((a): a is string | null => a !== undefined);
  return quorumMaster(said, Math.floor(answers.size / 2) + 1);
}

/**
 * Who leads as the Sentinels say, read quickly (for targets at the moment of injection): the
 * master a majority of them hands out, else the registry's mirror of their last switch; then the
 * other data nodes in layout order, then the proxy.
 */
export async function sentinelRecords(stack: Stack): Promise<Pick<SystemState, 'leader' | 'members'>> {
  const leader =
    agreedMaster(await askSentinels(stack)) ??
    (await stack
      .registry()
      .get(MASTER_RECORD)
      .then((r) => r?.value ?? null)
      .catch(() => null));
  const { data, proxy } = systemNodes(stack);
  const others = data.map((n) => n.name).filter((n) => n !== leader);
  return { leader, members: [...(leader ? [leader] : []), ...others, ...(proxy ? [proxy.name] : [])] };
}

/** The proxy's servers that are UP, or undefined when its runtime API does not answer. */
async function proxyRoutes(stack: Stack, proxy: NodeRef): Promise<string[] | undefined> {
  try {
    const ep = stack.endpoint(proxy.name, PROXY_RUNTIME_PORT);
    const runtime = new HaproxyRuntime({
      host: ep.host === 'localhost' ? '127.0.0.1' : ep.host,
      port: ep.port,
      timeoutMs: 1000,
      backend: PROXY_BACKEND,
    });
    return (await runtime.servers()).filter((s) => s.state === 'UP').map((s) => s.name);
  } catch {
    return undefined;
  }
}

/**
 * The live state: each data node's replication (`INFO replication`), what each Sentinel hands
 * out, and where HAProxy routes. The leader is the master a majority of Sentinels names; the
 * members are that master, every node that answers and replicates from it (layout order), and
 * the proxy when it answers.
 */
export async function observeSentinel(stack: Stack): Promise<SentinelState> {
  const book = addressBook(stack);
  const { data, proxy } = systemNodes(stack);
  const [infos, sentinels, routes] = await Promise.all([
    Promise.all(data.map((n) => ask(stack.endpoint(n.name, REDIS_PORT), (c) => c.info('replication')))),
    askSentinels(stack, book),
    proxy ? proxyRoutes(stack, proxy) : Promise.resolve(undefined),
  ]);
  const leader = agreedMaster(sentinels);
  const repl = infos.map((i) => (i === undefined ? undefined : parseReplication(i)));
  const leaderOffset = repl[data.findIndex((n) => n.name === leader)]?.offset;
  const states: SentinelNodeState[] = data.map((n, i) => {
    const r = repl[i];
    const said = sentinels.get(n.name);
    const sentinel = sentinels.has(n.name)
      ? { sentinel: { answers: said !== undefined, master: said ?? null } }
      : {};
    if (!r) return { name: n.name, az: n.az, reachable: false, ...sentinel };
    if (r.role === 'master') return { name: n.name, az: n.az, reachable: true, role: 'master', ...sentinel };
    const following = (r.masterHost && book.get(r.masterHost)) || r.masterHost || '';
    const lag =
      following === leader && leaderOffset !== undefined && r.offset !== undefined
        ? Math.max(0, leaderOffset - r.offset)
        : undefined;
    return {
      name: n.name,
      az: n.az,
      reachable: true,
      role: 'replica',
      following,
      linkUp: r.linkUp ?? false,
      ...(lag === undefined ? {} : { lag }),
      ...sentinel,
    };
  });
  if (proxy)
    states.push({
      name: proxy.name,
      az: proxy.az,
      reachable: routes !== undefined,
      role: 'proxy',
      ...(routes ? { routesTo: routes, following: routes.join(','), linkUp: routes.length > 0 } : {}),
    });
  const replicas = states.filter(
    (s) => s.name !== PROXY_NODE && s.reachable && s.role === 'replica' && s.following === leader,
  );
  const members = leader
    ? [leader, ...replicas.map((s) => s.name), ...(routes !== undefined && proxy ? [proxy.name] : [])]
    : [];
  return { leader, members, nodes: states };
}

/** `SENTINEL master mymaster` as an object (field -> value). */
async function sentinelView(stack: Stack, node: string): Promise<Record<string, string> | undefined> {
  const flat = (await ask(stack.endpoint(node, SENTINEL_PORT), (c) =>
    c.call('SENTINEL', 'MASTER', MASTER_NAME),
  )) as string[] | undefined;
  if (!Array.isArray(flat)) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/**
 * Whether a write on the master reaches every replica now (after a diskless sync the master may
 * hold the stream back until the replica's next ACK, which is why the stack syncs through the
 * disk; writes taken then would be lost by a kill).
 */
export async function carriesAWrite(stack: Stack, master: string, replicas: string[]): Promise<boolean> {
  const key = 'chaos:formed';
  const value = String(Math.random());
  const clients = [master, ...replicas].map((n) => quickClient(stack.endpoint(n, REDIS_PORT), 500));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    await clients[0]!.set(key, value);
    const deadline = Date.now() + 3000;
    for (;;) {
      const seen = await Promise.all(clients.slice(1).map((c) => c.get(key).catch(() => null)));
      if (seen.every((v) => v === value)) return true;
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
  } catch {
    return false;
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** What still keeps the stack from being ready, one sentence each; empty once it is. */
async function notReady(stack: Stack, spec: SentinelSpec): Promise<string[]> {
  const state = await observeSentinel(stack);
  const out = sentinelViolations(state, spec);
  if (out.length) return out;
  const hosts = sentinelNodes(stack).map((n) => n.name);
  const views = await Promise.all(hosts.map((h) => sentinelView(stack, h)));
  views.forEach((v, i) => {
    if (!v) out.push(`the Sentinel on ${hosts[i]} does not answer SENTINEL MASTER`);
    else {
      if (Number(v['num-other-sentinels']) < hosts.length - 1)
        out.push(
          `the Sentinel on ${hosts[i]} knows ${v['num-other-sentinels']} of ${hosts.length - 1} other Sentinels`,
        );
      if (Number(v['num-slaves']) < spec.nodes - 1)
        out.push(`the Sentinel on ${hosts[i]} knows ${v['num-slaves']} of ${spec.nodes - 1} replicas`);
    }
  });
  const record = await stack
    .registry()
    .get(MASTER_RECORD)
    .catch(() => undefined);
  if (record?.value !== state.leader)
    out.push(
      `the registry's ${MASTER_RECORD} record names ${record?.value ?? 'nothing'}, the Sentinels ${state.leader}`,
    );
  if (out.length) return out;
  const replicas = state.nodes.filter((n) => n.role === 'replica').map((n) => n.name);
  if (!(await carriesAWrite(stack, state.leader!, replicas)))
    out.push(`a write on ${state.leader} did not reach every replica within 3 s`);
  return out;
}

/**
 * Waits until the stack has formed: one master, every replica linked to it, every Sentinel
 * naming it and knowing every replica and every other Sentinel (they find each other through
 * hellos every 2 s, and a master's replicas through its INFO every 10 s: a failover before then
 * would not know them all), HAProxy routing to it only, the registry's record naming it, and a
 * write on it seen on every replica.
 */
export async function awaitSentinel(stack: Stack, spec: SentinelSpec, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  let why: string[] = [];
  for (;;) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    why = await notReady(stack, spec);
    if (why.length === 0) return;
    if (Date.now() > deadline)
      throw new InfraError(
        'SENTINEL_NOT_FORMED',
        `Redis with Sentinel did not form within ${FORM_TIMEOUT_MS} ms: ${why.join('; ')}`,
        {
          hint: "see the redis, sentinel and watch logs in the run folder's logs/; `chaos cleanup` removes leftovers",
        },
      );
    await sleep(250, signal);
  }
}
