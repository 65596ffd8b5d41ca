import pg from 'pg';

/** How long `end()` may wait for the server's side of the close before the socket is destroyed. */
export const END_GRACE_MS = 250;

/**
 * Ends a node-postgres client without depending on its server. After a query that succeeded,
 * `client.end()` sends Terminate, half-closes the socket and resolves only when the socket
 * closes, which needs the server's FIN. A server cut off by a DROP rule (a partition, a zone
 * cut) right after answering never sends it, and the close waits for TCP to give up: minutes.
 * An agent stuck there watches nothing. So the socket is destroyed after `graceMs`.
 */
export async function endClient(client: pg.Client, graceMs = END_GRACE_MS): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    client.end().then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (!ended) {
    // No public API destroys the socket; `connection.stream` has been the socket since pg 1.
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}

/**
 * One query on a fresh connection as `postgres`, then the connection is closed (never waiting on
 * the server): for agents and observers, which must hold no session a fence would end.
 */
export async function queryOnce(
  target: { host: string; port: number },
  sql: string,
  timeouts: { connectMs: number; queryMs: number },
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: timeouts.connectMs,
    query_timeout: timeouts.queryMs,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await endClient(client);
  }
}
