import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { Stack } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { HaproxyRuntime } from '../web/haproxy-runtime.ts';
import {
  type EtcdAnswer,
  type NodeAnswer,
  parseCluster,
  parsePatroniStatus,
  patroniState,
  patroniViolations,
} from './cluster.ts';
import { ETCD_CLIENT_PORT, LB_BACKEND, LB_RUNTIME_PORT } from './config.ts';
import { raftLeader } from './etcd.ts';
import { LB_NODE, SYSTEM, isEtcdNode, isPostgresNode } from './layout.ts';
import { restJson } from './records.ts';
import type { PatroniSpec } from './spec.ts';

const FORM_TIMEOUT_MS = 90_000;

async function askNode(stack: Stack, node: string): Promise<NodeAnswer> {
  const [cluster, status] = await Promise.allSettled([
    restJson(stack, node, '/cluster').then(parseCluster),
    restJson(stack, node, '/patroni').then(parsePatroniStatus),
  ]);
  return {
    ...(cluster.status === 'fulfilled' ? { cluster: cluster.value } : {}),
    ...(status.status === 'fulfilled' ? { status: status.value } : {}),
  };
}

async function askEtcd(stack: Stack, node: string): Promise<EtcdAnswer | undefined> {
  try {
    return { leader: await raftLeader(stack.endpoint(node, ETCD_CLIENT_PORT), 800) };
  } catch {
    return undefined;
  }
}

async function askHaproxy(stack: Stack) {
  try {
    const ep = stack.endpoint(LB_NODE, LB_RUNTIME_PORT);
    return await new HaproxyRuntime({
      host: ep.host,
      port: ep.port,
      backend: LB_BACKEND,
      timeoutMs: 800,
    }).servers();
  } catch {
    return undefined;
  }
}

/**
 * The live state: every Patroni node's `/cluster` and `/patroni`, every etcd member's raft
 * leader, HAProxy's servers, asked at once with short timeouts (cluster.ts reads them).
 */
export async function observePatroni(stack: Stack): Promise<SystemState> {
  const nodes = stack.nodes().filter((n) => n.system === SYSTEM);
  const pg = nodes.filter((n) => isPostgresNode(n.name));
  const etcd = nodes.filter((n) => isEtcdNode(n.name));
  const [answers, members, haproxy] = await Promise.all([
    Promise.all(pg.map(async (n) => [n.name, await askNode(stack, n.name)] as const)),
    Promise.all(etcd.map(async (n) => [n.name, await askEtcd(stack, n.name)] as const)),
    askHaproxy(stack),
  ]);
  return patroniState({
    nodes,
    patroni: new Map(answers),
    etcd: new Map(members.filter((m): m is [string, EtcdAnswer] => m[1] !== undefined)),
    ...(haproxy ? { haproxy } : {}),
  });
}

/** Waits until the cluster is whole: one leader, every replica streaming, HAProxy on the leader only. */
export async function awaitPatroni(stack: Stack, spec: PatroniSpec, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    const t = await observePatroni(stack);
    const v = patroniViolations(t, spec);
    const down = t.nodes.filter((n) => !n.reachable).map((n) => n.name);
    if (v.length === 0 && down.length === 0 && t.members.length === spec.nodes) return;
    if (Date.now() > deadline) {
      throw new InfraError(
        'PATRONI_NOT_FORMED',
        `the Patroni cluster did not form within ${FORM_TIMEOUT_MS} ms: leader ${t.leader ?? 'none'}, streaming ${t.members.slice(1).join(', ') || 'none'}${down.length ? `, not answering ${down.join(', ')}` : ''}${v.length ? `; ${v.join('; ')}` : ''}`,
        { hint: "see the nodes' logs in the run folder's logs/; `chaos cleanup` removes leftovers" },
      );
    }
    await sleep(250, signal);
  }
}
