import { Redis } from 'ioredis';
import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { NodeRef, Stack } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { readChain } from './records.ts';

const FORM_TIMEOUT_MS = 30_000;

/** The chain as the registry has it, and what each node says about itself (INFO replication). */
export async function observeChain(stack: Stack): Promise<SystemState> {
  const nodes = stack.nodes().filter((n) => n.system === 'redis');
  const [records, states] = await Promise.all([
    readChain(stack.registry()),
    Promise.all(nodes.map((n) => nodeState(stack, n))),
  ]);
  return { leader: records.head ?? null, members: records.chain, nodes: states };
}

async function nodeState(stack: Stack, node: NodeRef): Promise<NodeState> {
  const ep = stack.endpoint(node.name);
  const client = new Redis({
    host: ep.host,
    port: ep.port,
    lazyConnect: true,
    connectTimeout: 300,
    commandTimeout: 300,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('replication');
    const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const replica = field('role') === 'slave';
    return {
      name: node.name,
      az: node.az,
      reachable: true,
      role: replica ? 'replica' : 'master',
      ...(field('master_repl_offset') ? { offset: Number(field('master_repl_offset')) } : {}),
      ...(replica
        ? { following: field('master_host') ?? '', linkUp: field('master_link_status') === 'up' }
        : {}),
    };
  } catch {
    return { name: node.name, az: node.az, reachable: false };
  } finally {
    client.disconnect();
  }
}

/**
 * Whether a write on the head reaches every replica now. A replica's link can be up before its
 * master streams to it (after a diskless sync Redis 7.0 waits for the replica's next ACK, up to a
 * second; the chain syncs through the disk so as not to, and this is the proof): writes acknowledged
 * then would be lost by a kill, so the chain is not formed until one write has gone all the way
 * down.
 */
async function carriesAWrite(stack: Stack, head: string, replicas: string[]): Promise<boolean> {
  const key = 'chaos:formed';
  const value = String(Math.random());
  const clientOf = (node: string) => {
    const ep = stack.endpoint(node);
    const c = new Redis({
      host: ep.host,
      port: ep.port,
      lazyConnect: true,
      connectTimeout: 500,
      commandTimeout: 500,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    c.on('error', () => {});
    return c;
  };
  const clients = [head, ...replicas].map(clientOf);
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

/**
 * Waits until the chain has formed: a head, every node in the chain, every replica's link up,
 * and a write on the head seen on every replica.
 */
export async function awaitChain(stack: Stack, expected: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  for (;;) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    const t = await observeChain(stack);
    const replicas = t.nodes.filter((n) => n.name !== t.leader);
    if (
      t.leader &&
      t.members.length === expected &&
      replicas.every((n) => n.role === 'replica' && n.linkUp) &&
      (await carriesAWrite(
        stack,
        t.leader,
        replicas.map((n) => n.name),
      ))
    )
      return;
    if (Date.now() > deadline) {
      const unlinked = replicas.filter((n) => !(n.role === 'replica' && n.linkUp)).map((n) => n.name);
      throw new InfraError(
        'CHAIN_NOT_FORMED',
        `the Redis chain did not form within ${FORM_TIMEOUT_MS} ms: head ${t.leader ?? 'none'}, chain ${t.members.join(' -> ') || 'empty'}, not replicating: ${unlinked.join(', ') || 'none'}`,
        {
          hint: "see the agents' and redis logs in the run folder's logs/; `chaos cleanup` removes leftovers",
        },
      );
    }
    await sleep(50, signal);
  }
}
