import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { NodeRef, Stack } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { quickClient } from '../redis/quick-client.ts';
import { HaproxyRuntime } from '../web/haproxy-runtime.ts';
import { PROXY_BACKEND, PROXY_RUNTIME_PORT, REDIS_PORT, SEED_SERVER } from './config.ts';
import { PROXY_NODE, isDataNode } from './layout.ts';
import { addressBook, carriesAWrite, systemNodes } from './observe.ts';
import { SEED_CONFIG, type SeedConfig, parseJson } from './seed.ts';
import { type SentinelNodeState, type SentinelState, parseReplication } from './state.ts';
import { MASTER_RECORD } from './watch.ts';

const FORM_TIMEOUT_MS = 60_000;

function runtime(stack: Stack, node: NodeRef): HaproxyRuntime {
  const ep = stack.endpoint(node.name, PROXY_RUNTIME_PORT);
  return new HaproxyRuntime({
    host: ep.host === 'localhost' ? '127.0.0.1' : ep.host,
    port: ep.port,
    timeoutMs: 1000,
    backend: PROXY_BACKEND,
  });
}

async function info(stack: Stack, node: string): Promise<string | undefined> {
  const c = quickClient(stack.endpoint(node, REDIS_PORT));
  try {
    await c.connect();
    return await c.info('replication');
  } catch {
    return undefined;
  } finally {
    c.disconnect();
  }
}

/**
 * The seed's stack as it is: the configuration in the shared store (its master is the leader,
 * its slave `configured: 'slave'`), each data node's replication, where each monitor host's
 * HAProxy relays (`following`), and the monitors the load balancer has UP (`routesTo`). Members:
 * the master, the data nodes replicating from it, the monitors that answer, the load balancer.
 */
export async function observeSeed(stack: Stack): Promise<SentinelState> {
  const book = addressBook(stack);
  const { data, monitors, proxy } = systemNodes(stack);
  const [config, infos, relays, routes] = await Promise.all([
    stack
      .registry()
      .get(SEED_CONFIG)
      .then((r) => parseJson<SeedConfig>(r?.value))
      .catch(() => undefined),
    Promise.all(data.map((n) => info(stack, n.name))),
    Promise.all(
      monitors.map((m) =>
        runtime(stack, m)
          .server(SEED_SERVER)
          .then((s) => (s ? (book.get(s.address) ?? s.address) : null))
          .catch(() => undefined),
      ),
    ),
    proxy
      ? runtime(stack, proxy)
          .servers()
          .then((ss) => ss.filter((s) => s.state === 'UP').map((s) => s.name))
          .catch(() => undefined)
      : Promise.resolve(undefined),
  ]);
  const leader = config?.master.name ?? null;
  const states: SentinelNodeState[] = data.map((n, i) => {
    const r = infos[i] === undefined ? undefined : parseReplication(infos[i]!);
    const configured =
      n.name === config?.master.name
        ? { configured: 'master' as const }
        : n.name === config?.slave?.name
          ? { configured: 'slave' as const }
          : {};
    if (!r) return { name: n.name, az: n.az, reachable: false, ...configured };
    if (r.role === 'master')
      return { name: n.name, az: n.az, reachable: true, role: 'master', ...configured };
    return {
      name: n.name,
      az: n.az,
      reachable: true,
      role: 'replica',
      following: (r.masterHost && book.get(r.masterHost)) || r.masterHost || '',
      linkUp: r.linkUp ?? false,
      ...configured,
    };
  });
  monitors.forEach((m, i) => {
    const to = relays[i];
    states.push({
      name: m.name,
      az: m.az,
      reachable: to !== undefined,
      role: 'monitor',
      ...(to === undefined ? {} : { following: to ?? '', linkUp: to === leader }),
    });
  });
  if (proxy)
    states.push({
      name: proxy.name,
      az: proxy.az,
      reachable: routes !== undefined,
      role: 'proxy',
      ...(routes ? { routesTo: routes, following: routes.join(','), linkUp: routes.length > 0 } : {}),
    });
  const replicas = states.filter((s) => isDataNode(s.name) && s.reachable && s.following === leader);
  const members = leader
    ? [
        leader,
        ...replicas.map((s) => s.name),
        ...states.filter((s) => s.role === 'monitor' && s.reachable).map((s) => s.name),
        ...(routes !== undefined && proxy ? [proxy.name] : []),
      ]
    : [];
  return { leader, members, nodes: states };
}

/**
 * Full redundancy of the seed's stack: the configured master answers and is the only master;
 * the configured slave replicates from it with its link up; every other data node that answers
 * replicates from it too (an old master back from a power loss does not: nothing in the seed
 * takes it back); every monitor host that answers relays to the master; the load balancer has
 * every monitor that answers in rotation.
 */
export function seedViolations(t: SystemState): string[] {
  const out: string[] = [];
  const nodes = t.nodes as SentinelNodeState[];
  const data = nodes.filter((n) => isDataNode(n.name));
  const leader = t.leader;
  if (leader === null) out.push(`no configuration in the registry's ${SEED_CONFIG} record`);
  const masters = data.filter((n) => n.reachable && n.role === 'master');
  if (masters.length > 1) out.push(`${masters.length} masters: ${masters.map((m) => m.name).join(', ')}`);
  const m = data.find((n) => n.name === leader);
  if (leader !== null && !m?.reachable) out.push(`the configured master ${leader} does not answer`);
  else if (leader !== null && m?.role !== 'master')
    out.push(`the configured master ${leader} is not a master`);
  const slave = data.find((n) => n.configured === 'slave');
  if (leader !== null && !slave) out.push('the configuration has no slave');
  for (const n of data) {
    if (!n.reachable || n.name === leader) continue;
    const what = n.configured === 'slave' ? 'the configured slave' : 'outside the configuration';
    if (n.role === 'master') {
      if (masters.length <= 1) out.push(`${n.name} (${what}) is a master`);
    } else if (n.following !== leader)
      out.push(`${n.name} (${what}) replicates from ${n.following || '?'}, not ${leader}`);
    else if (!n.linkUp) out.push(`${n.name}'s replication link to ${leader} is down`);
  }
  if (slave && !slave.reachable) out.push(`the configured slave ${slave.name} does not answer`);
  const monitors = nodes.filter((n) => n.role === 'monitor');
  for (const mon of monitors) {
    if (!mon.reachable) continue;
    if (mon.following !== leader)
      out.push(`${mon.name}'s HAProxy relays to ${mon.following || 'nothing'}, not ${leader}`);
  }
  const lb = nodes.find((n) => n.name === PROXY_NODE);
  if (lb && !lb.reachable) out.push(`the load balancer (${PROXY_NODE}) does not answer its runtime API`);
  else if (lb)
    for (const mon of monitors)
      if (mon.reachable && !(lb.routesTo ?? []).includes(mon.name))
        out.push(`the load balancer has ${mon.name} out of rotation`);
  return out;
}

/** Waits until the seed's stack has formed, its leader record is written, and a write reaches the slave. */
export async function awaitSeed(stack: Stack, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  let why: string[] = [];
  for (;;) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    const state = await observeSeed(stack);
    why = seedViolations(state);
    if (why.length === 0) {
      const record = await stack
        .registry()
        .get(MASTER_RECORD)
        .catch(() => undefined);
      if (record?.value !== state.leader)
        why = [`the registry's ${MASTER_RECORD} record names ${record?.value ?? 'nothing'}`];
      else {
        const replicas = state.nodes.filter((n) => n.role === 'replica').map((n) => n.name);
        if (await carriesAWrite(stack, state.leader!, replicas)) return;
        why = [`a write on ${state.leader} did not reach the slave within 3 s`];
      }
    }
    if (Date.now() > deadline)
      throw new InfraError(
        'SEED_NOT_FORMED',
        `the seed's Redis pair did not form within ${FORM_TIMEOUT_MS} ms: ${why.join('; ')}`,
        {
          hint: "see the redis, haproxy and monitor logs in the run folder's logs/; `chaos cleanup` removes leftovers",
        },
      );
    await sleep(250, signal);
  }
}
