import { Redis } from 'ioredis';
import type { Endpoint } from '../../core/provider.ts';

/**
 * What the harness's Redis clients share, whichever system they observe (a plain replication
 * attached to, a Sentinel stack built or attached to): how a client logs in, and the short-lived
 * client that fails fast, for observing, never for the probes' writes.
 */

/** How a client logs in (AUTH): an ACL user and its password, or requirepass's password alone. */
export interface RedisLogin {
  username?: string | undefined;
  password?: string | undefined;
}

/** A login as ioredis's options: only the fields that are set (none: the default user, no AUTH). */
export function loginOptions(login: RedisLogin | undefined): { username?: string; password?: string } {
  return {
    ...(login?.username ? { username: login.username } : {}),
    ...(login?.password ? { password: login.password } : {}),
  };
}

/**
 * A short-lived client that fails fast: one connection attempt, each command within `timeoutMs`,
 * no retry, no offline queue, no ready check; errors are the caller's to see where a command fails.
 */
export function quickClient(ep: Endpoint, timeoutMs = 300, login?: RedisLogin): Redis {
  const client = new Redis({
    host: ep.host,
    port: ep.port,
    ...loginOptions(login),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  client.on('error', () => {});
  return client;
}
