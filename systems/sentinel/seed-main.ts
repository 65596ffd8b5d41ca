/**
 * Entry point of a seed monitor's watcher (`monitor: seed`), beside its host's HAProxy (same
 * network namespace: the runtime API on 127.0.0.1). Configured by environment: NODE_NAME,
 * MASTER and SLAVE (the first pair, by node name), REGISTRY_URL, INTERVAL_MS, PING_TIMEOUT_MS.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { realTimer } from '../../agents/lease.ts';
import { registryFromUrl } from '../../agents/registry/from-url.ts';
import { agentRuntime } from '../../agents/runtime.ts';
import { HaproxyRuntime } from '../web/haproxy-runtime.ts';
import { PROXY_BACKEND, PROXY_RUNTIME_PORT, REDIS_PORT, SEED_SERVER } from './config.ts';
import { hostsTable } from './events.ts';
import { SeedMonitor } from './seed.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One command on a fresh connection that gives up after `timeoutMs`. */
async function once<T>(ip: string, timeoutMs: number, run: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({
    host: ip,
    port: REDIS_PORT,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  c.on('error', () => {});
  try {
    await c.connect();
    return await run(c);
  } finally {
    c.disconnect();
  }
}

export async function main(): Promise<void> {
  const { env, emit, step } = agentRuntime('seed monitor', () => process.env.NODE_NAME ?? '?');
  const self = env('NODE_NAME');
  const pingTimeoutMs = Number(env('PING_TIMEOUT_MS', '500'));
  const intervalMs = Number(env('INTERVAL_MS', '1000'));
  const master = env('MASTER');
  const slave = env('SLAVE');
  const table = hostsTable(readFileSync('/etc/hosts', 'utf8'), [master, slave]);
  const ipOf = (name: string) => {
    for (const [ip, n] of table) if (n === name) return ip;
    throw new Error(`seed monitor: ${name} is not in /etc/hosts`);
  };
  const proxy = new HaproxyRuntime({
    host: '127.0.0.1',
    port: PROXY_RUNTIME_PORT,
    timeoutMs: 1000,
    backend: PROXY_BACKEND,
  });
  const ref = `${PROXY_BACKEND}/${SEED_SERVER}`;
  const monitor = new SeedMonitor(
    { self, intervalMs, launchTimeoutMs: 60_000 },
    {
      registry: registryFromUrl(env('REGISTRY_URL')),
      ping: (ip) =>
        step(`ping ${ip}`, () =>
          once(ip, pingTimeoutMs, (c) => c.ping())
            .then((r) => r === 'PONG')
            .catch(() => false),
        ),
      promote: (ip) =>
        step(`promote ${ip}`, async () => {
          await once(ip, 2000, (c) => c.call('SLAVEOF', 'NO', 'ONE'));
        }),
      proxyTarget: () => step('proxy target', async () => (await proxy.server(SEED_SERVER))?.address),
      repoint: (ip) =>
        step(`repoint ${ip}`, async () => {
          await proxy.command(`set server ${ref} addr ${ip} port ${REDIS_PORT}`);
          await proxy.command(`shutdown sessions server ${ref}`);
        }),
      emit,
      now: () => performance.now(),
      setTimer: realTimer,
      sleep,
    },
  );
  for (;;) {
    try {
      await monitor.init({
        master: { name: master, ip: ipOf(master) },
        slave: { name: slave, ip: ipOf(slave) },
      });
      break;
    } catch {
      await sleep(200);
    }
  }
  emit('agent-ready', { intervalMs, pingTimeoutMs });
  for (;;) {
    const started = performance.now();
    await monitor
      .tick()
      .catch((err) => emit('monitor-error', { error: String((err as Error)?.message ?? err) }));
    await sleep(Math.max(0, intervalMs - (performance.now() - started)));
  }
}
