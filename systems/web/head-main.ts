/**
 * Entry point of the web head inside its container (bundled by agents/bundle.ts, picked by
 * `CHAOS_ENTRY=web-head`, run by the node image's Node.js): the app of head.ts with real clients
 * (node-postgres, ioredis, the registry over HTTP), on node:http at `PORT`.
 *
 * Environment: NODE_NAME, PORT (8080; 0 picks a free port), REGISTRY_URL, BACKENDS (`pg`,
 * `redis` or both, comma-separated), PG_PORT (5432), REDIS_PORT (6379), BACKEND_TIMEOUT_MS
 * (1000: each connect, command and registry lookup).
 *
 * Output: one JSON line per event on stdout, `{"t": <wall ms>, "type", "node", ...}`: `head-ready`
 * with the port once it listens (the harness waits for it), `backend-error` and `backend-leader`
 * (the record moved), at most one a second of each kind (head.ts, EventLimiter).
 */
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { registryFromUrl } from '../../agents/registry/from-url.ts';
import { agentRuntime } from '../../agents/runtime.ts';
import { createHead, errorText, headConfig, serveHead } from './head.ts';

/**
 * Connections to the Postgres primary per head. Each INSERT holds its connection for a commit
 * (a WAL flush) and the wake-ups on both sides; with 10 (the pool's default) the three heads had
 * 30 INSERTs in flight, which on 2 shared cores did some 750/s, and at 1000/s the rest queued
 * for a connection until the head's timeout (issue 16: half the requests 503 or timed out).
 * With 20, Postgres commits more of them per flush and 1000/s is sustained. 3 heads x 20, and a
 * replacement head's 20 beside a dying one's, stay under Postgres's max_connections (100).
 */
const PG_POOL_SIZE = 20;

/** How often a backend not reachable at start (its record not set yet) is warmed again. */
const WARM_RETRY_MS = 500;

export async function main(): Promise<void> {
  const config = headConfig(process.env);
  const { emit } = agentRuntime('web head', () => config.node);
  const t = config.timeoutMs;

  const head = createHead(config, {
    registry: registryFromUrl(config.registryUrl, { timeoutMs: t }),
    now: () => performance.now(),
    emit,
    pgPoolSize: PG_POOL_SIZE,
    pgPool: (node) => {
      const pool = new pg.Pool({
        host: node,
        port: config.pgPort,
        user: 'postgres',
        database: 'postgres',
        max: PG_POOL_SIZE,
        // Never closed for being idle (pg-pool closes them after 10 s by default): the pool warm()
        // filled would otherwise empty itself before the load came, and each connection opened
        // again under load forks a Postgres backend just when the CPU is shortest.
        idleTimeoutMillis: 0,
        // Covers the wait for a free connection as well as connecting.
        connectionTimeoutMillis: t,
        query_timeout: t,
      });
      pool.on('error', () => {}); // an idle connection that broke: the pool drops it
      return pool;
    },
    redis: (node) => {
      const redis = new Redis({
        host: node,
        port: config.redisPort,
        lazyConnect: true,
        connectTimeout: t,
        commandTimeout: t,
        // Never a retry, a queued command or a command sent again after a reconnect: one
        // request, one attempt.
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        enableReadyCheck: false,
        autoResendUnfulfilledCommands: false,
        retryStrategy: () => null,
      });
      redis.on('error', () => {}); // every error is seen where the command fails
      return redis;
    },
  });

  // The clients opened (and the table made) before the head says it is ready, within the
  // backend timeout: the first requests then pay for neither.
  await head.warm(t, WARM_RETRY_MS);
  const server = serveHead(head, (err) => emit('head-error', { error: errorText(err) }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  emit('head-ready', { port: (server.address() as AddressInfo).port });

  process.once('SIGTERM', () => {
    head.close();
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
