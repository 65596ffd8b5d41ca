/**
 * Entry point of the Sentinel watcher inside a data node (bundled by agents/bundle.ts, run by
 * Node.js in a container sharing the node's network namespace). Configured by environment:
 * NODE_NAME, NODE_NAMES (every data node), SENTINEL_PORT, MASTER_NAME, REGISTRY_URL.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { registryFromUrl } from '../../agents/registry/from-url.ts';
import { agentRuntime } from '../../agents/runtime.ts';
import { hostsTable } from './events.ts';
import { SentinelWatch } from './watch.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function main(): Promise<void> {
  const { env, emit } = agentRuntime('sentinel watch', () => process.env.NODE_NAME ?? '?');
  const self = env('NODE_NAME');
  const port = Number(env('SENTINEL_PORT', '26379'));
  const masterName = env('MASTER_NAME', 'mymaster');
  // The sidecars share the node's /etc/hosts, where the provider put every node's address.
  const table = hostsTable(readFileSync('/etc/hosts', 'utf8'), env('NODE_NAMES').split(','));
  const watch = new SentinelWatch(self, {
    emit,
    registry: registryFromUrl(env('REGISTRY_URL')),
    nameOf: (ip) => table.get(ip),
    sleep,
  });

  // The Sentinel starts just before this: ioredis keeps trying, and resubscribes after a reconnect.
  const sub = new Redis({ host: '127.0.0.1', port, retryStrategy: () => 100, maxRetriesPerRequest: null });
  sub.on('error', () => {});
  sub.on('pmessage', (_pattern: string, channel: string, message: string) => watch.onEvent(channel, message));
  await sub.psubscribe('*');
  emit('agent-ready', { sentinelPort: port });

  const cmd = new Redis({ host: '127.0.0.1', port, retryStrategy: () => 100, maxRetriesPerRequest: null });
  cmd.on('error', () => {});
  for (;;) {
    const addr = (await cmd.call('SENTINEL', 'get-master-addr-by-name', masterName).catch(() => null)) as
      | [string, string]
      | null;
    const master = addr ? table.get(addr[0]) : undefined;
    if (master) {
      await watch.publishInitial(master);
      break;
    }
    await sleep(200);
  }
  cmd.disconnect();
}
