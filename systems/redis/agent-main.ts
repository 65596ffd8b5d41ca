/**
 * Entry point of the chain agent inside a node (bundled by agents/bundle.ts, run by Node.js in
 * a container that shares the redis container's network namespace). Configured by environment.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { realTimer } from '../../agents/lease.ts';
import { registryFromUrl } from '../../agents/registry/from-url.ts';
import { HttpRegistry } from '../../agents/registry/http-client.ts';
import { agentRuntime, stepped } from '../../agents/runtime.ts';
import { BOOT_HOST, ChainAgent, FENCE_HOST } from './agent.ts';
import { redisCommand } from './resp.ts';

const { env, wallNow, emit, step } = agentRuntime('chain agent', () => process.env.NODE_NAME ?? '?');

const JOINED_MARKER = '/tmp/chaos-agent-joined';

export async function main(): Promise<void> {
  const self = env('NODE_NAME');
  const port = Number(env('REDIS_PORT', '6379'));
  const pingTimeoutMs = Number(env('PING_TIMEOUT_MS', '250'));

  // Each command on a connection of its own, within a second. A refused one is tried again for
  // 100 ms: after a restart the agent may reach the server before it listens, and until the
  // agent places it the restarted (empty) server must not wait long to be made read-only.
  const local = (...args: (string | number)[]) =>
    redisCommand('127.0.0.1', port, args, { timeoutMs: 1000, retryRefusedMs: 100 });
  const info = async (section: string) => String(await local('INFO', section));
  const thresholdMs = Number(env('THRESHOLD_MS', '1000'));
  /** Until this node has its place: the first REPLICAOF waits for its master to serve a sync. */
  let joining = true;
  const registry = registryFromUrl(env('REGISTRY_URL'));
  const agent = new ChainAgent(
    {
      self,
      thresholdMs,
      // The head's lease is as long as the failover threshold (spec.ts says why).
      leaseTtlMs: thresholdMs,
      leaseMarginMs: Number(env('LEASE_MARGIN_MS', '250')),
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
        // A fresh connection with the ping timeout: a head whose redis hangs must find out fast.
        ping: () => pingRedis('127.0.0.1', port, pingTimeoutMs, false),
        fence: () => fenceRedis(port, Math.max(pingTimeoutMs, 500)),
        replicaOf: async (host) => {
          if (host === null) await local('REPLICAOF', 'NO', 'ONE');
          else {
            if (joining) {
              const t0 = Date.now();
              const notReady = await readyToServeSync(host, port);
              // Said, as the join then waits for Redis's own retry (up to a second) instead.
              if (notReady)
                emit('master-not-ready', { master: host, waitedMs: Date.now() - t0, why: notReady });
            }
            await local('REPLICAOF', host, port);
          }
        },
        syncInProgress: async () => /master_sync_in_progress:1/.test(await info('replication')),
        runId: async () => {
          const server = await info('server').catch(() => undefined);
          return server === undefined ? undefined : /^run_id:(.*)$/m.exec(server)?.[1]?.trim();
        },
        master: async () => {
          const replication = await info('replication').catch(() => undefined);
          if (replication === undefined) return undefined;
          if (/^role:master/m.test(replication)) return null;
          return /^master_host:(.*)$/m.exec(replication)?.[1]?.trim();
        },
      }),
      registry: stepped(step, 'registry', registry),
      // The local registry holds a request until a record changes: a joining agent is woken at once.
      ...(registry instanceof HttpRegistry
        ? {
            awaitChange: (name: string, version: number, waitMs: number) =>
              step(`registry wait ${name}`, () => registry.waitForChange(name, version, waitMs)).then(
                () => {},
              ),
          }
        : {}),
      pingNode: (host) => step(`ping ${host}`, () => pingRedis(host, port, pingTimeoutMs)),
      wallNow,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      setTimer: realTimer,
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
  joining = false;
  writeFileSync(JOINED_MARKER, (/^run_id:(.*)$/m.exec(await info('server'))?.[1] ?? '').trim());
  emit('agent-ready', { master: agent.master });
  await agent.run();
}

/** How long a joining node waits for its master to be able to serve a sync (Redis's retry period). */
const SYNC_READY_WAIT_MS = 1000;
/**
 * How often it asks meanwhile: a sync takes 10-25 ms (hz 50), and a 12-node chain's joins wait
 * for eleven of them one after the other.
 */
const SYNC_READY_POLL_MS = 5;

/**
 * Waits (at most SYNC_READY_WAIT_MS) until `host` can serve a full sync: it is a master, or a
 * replica whose own link is up. A node that joins the chain behind a replica still syncing from
 * its own master would be turned away, and Redis asks again only at its once-a-second cron: the
 * tail's link came up 817-823 ms after its REPLICAOF instead of 19 ms (README, Benchmark).
 * Never fails: past the wait, or on any error, the REPLICAOF goes ahead as before. Resolves
 * with undefined once it can, else with why the REPLICAOF goes ahead without it (for the timeline).
 */
export async function readyToServeSync(host: string, port: number): Promise<string | undefined> {
  const deadline = Date.now() + SYNC_READY_WAIT_MS;
  try {
    while (Date.now() < deadline) {
      const info = String(await redisCommand(host, port, ['INFO', 'replication'], { timeoutMs: 250 }));
      if (/^role:master/m.test(info) || /^master_link_status:up/m.test(info)) return undefined;
      await new Promise((r) => setTimeout(r, SYNC_READY_POLL_MS));
    }
    return `its own link was not up within ${SYNC_READY_WAIT_MS} ms`;
  } catch (err) {
    // Unreachable or slow: REPLICAOF anyway, and Redis retries as it always did.
    return `INFO replication failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * PING over a fresh TCP connection: true for +PONG within the timeout, and for -LOADING unless
 * `loading` is false (a replica loading the dataset of its initial sync is alive: with a large
 * dataset, its master would otherwise remove it as a dead tail during every full sync).
 */
export function pingRedis(host: string, port: number, timeoutMs: number, loading = true): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done((loading ? /^(\+PONG|-LOADING)/ : /^\+PONG/).test(d.toString('latin1'))));
    sock.once('error', () => done(false));
  });
}

/**
 * The fence (LocalRedis.fence), on a connection of its own so that it can only reach the server
 * running now, never one started after it: INFO replication, then `REPLICAOF 127.0.0.2 1` unless
 * the server is booting read-only after a restart (a replica of BOOT_HOST). A server that does
 * not answer INFO in time (its disk frozen) gets the REPLICAOF anyway, on the same connection:
 * it runs as soon as the server reads it. Resolves once the server said OK; rejects on an error
 * or no answer within the timeout.
 */
export function fenceRedis(port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    let infoPending = true;
    let sent = false;
    const finish = (err?: Error) => {
      clearTimeout(infoTimer);
      clearTimeout(timer);
      // A REPLICAOF in the server's socket buffer runs even after the client closed.
      sock.end();
      if (err) reject(err);
      else resolve();
    };
    const replicaOf = () => {
      if (sent) return;
      sent = true;
      sock.write(`REPLICAOF ${FENCE_HOST} 1\r\n`);
    };
    const infoTimer = setTimeout(replicaOf, Math.floor(timeoutMs / 2));
    const timer = setTimeout(
      () => finish(new Error(`no answer to the fence within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.once('connect', () => sock.write('INFO replication\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (infoPending) {
        // INFO's answer: a bulk reply ($<length>\r\n<body>\r\n), or an error line.
        let end: number;
        if (buf.startsWith('-')) {
          end = buf.indexOf('\r\n') + 2;
          if (end < 2) return;
        } else {
          const m = /^\$(\d+)\r\n/.exec(buf);
          if (!m) return;
          end = m[0].length + Number(m[1]) + 2;
          if (buf.length < end) return;
        }
        const info = buf.slice(0, end);
        buf = buf.slice(end);
        infoPending = false;
        if (!sent && info.includes(`master_host:${BOOT_HOST}\r\n`)) return finish();
        replicaOf();
      }
      const line = buf.indexOf('\r\n');
      if (line < 0) return;
      finish(buf.startsWith('+OK') ? undefined : new Error(`REPLICAOF: ${buf.slice(0, line)}`));
    });
    sock.on('error', (err) => finish(err));
  });
}
