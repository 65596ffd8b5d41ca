/**
 * Entry point of the chain agent inside a node (bundled by agents/bundle.ts, run by Node.js in
 * a container that shares the redis container's network namespace). Configured by environment.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { HttpRegistry } from '../../agents/registry/http-client.ts';
import { agentRuntime, stepped } from '../../agents/runtime.ts';
import { ChainAgent } from './agent.ts';

const { env, wallNow, emit, step } = agentRuntime('chain agent', () => process.env.NODE_NAME ?? '?');

const JOINED_MARKER = '/tmp/chaos-agent-joined';

export async function main(): Promise<void> {
  const self = env('NODE_NAME');
  const port = Number(env('REDIS_PORT', '6379'));
  const pingTimeoutMs = Number(env('PING_TIMEOUT_MS', '250'));

  const local = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    // After a restart the agent may start before redis listens. ioredis' default backoff grows
    // to 2 s, and until the agent connects the restarted (empty) redis is a master taking writes:
    // retry every 50 ms so the agent makes it read-only at once.
    retryStrategy: () => 50,
  });
  local.on('error', () => {});
  const agent = new ChainAgent(
    {
      self,
      thresholdMs: Number(env('THRESHOLD_MS', '1000')),
      checkIntervalMs: Number(env('CHECK_INTERVAL_MS', '100')),
      headTtlMs: Number(env('HEAD_TTL_MS', '500')),
      // Only the first start waits for its place; a restarted node (stop, then start) joins at once.
      joinIndex:
        process.env.JOIN_INDEX === undefined || existsSync(JOINED_MARKER)
          ? undefined
          : Number(process.env.JOIN_INDEX),
      // The marker holds the local server's run id from when this node joined: an agent restarted
      // beside the same server resumes its place.
      ...(existsSync(JOINED_MARKER) ? { resumeRunId: readFileSync(JOINED_MARKER, 'utf8').trim() } : {}),
    },
    {
      local: stepped(step, 'local', {
        ping: async () => (await local.ping().catch(() => '')) === 'PONG',
        replicaOf: async (host) => {
          if (host === null) await local.replicaof('NO', 'ONE');
          else await local.replicaof(host, port);
        },
        syncInProgress: async () => /master_sync_in_progress:1/.test(await local.info('replication')),
        runId: async () => {
          const info = await local.info('server').catch(() => undefined);
          return info === undefined ? undefined : /^run_id:(.*)$/m.exec(info)?.[1]?.trim();
        },
        master: async () => {
          const info = await local.info('replication').catch(() => undefined);
          if (info === undefined) return undefined;
          if (/^role:master/m.test(info)) return null;
          return /^master_host:(.*)$/m.exec(info)?.[1]?.trim();
        },
      }),
      registry: stepped(step, 'registry', new HttpRegistry(env('REGISTRY_URL'))),
      pingNode: (host) => step(`ping ${host}`, () => pingRedis(host, port, pingTimeoutMs)),
      wallNow,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      emit,
    },
  );
  // Before join, which may wait for an unreachable tail: docker stop must not wait 5 s for SIGKILL.
  process.on('SIGTERM', () => {
    agent.stop();
    process.exit(0);
  });
  emit('agent-started', { pid: process.pid });
  await agent.join();
  writeFileSync(JOINED_MARKER, (/^run_id:(.*)$/m.exec(await local.info('server'))?.[1] ?? '').trim());
  emit('agent-ready', { master: agent.master });
  await agent.run();
}

/**
 * PING over a fresh TCP connection: true for +PONG within the timeout, and for -LOADING (a
 * replica loading the dataset of its initial sync is alive: with a large dataset, its master
 * would otherwise remove it as a dead tail during every full sync).
 */
export function pingRedis(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(/^(\+PONG|-LOADING)/.test(d.toString('latin1'))));
    sock.once('error', () => done(false));
  });
}
