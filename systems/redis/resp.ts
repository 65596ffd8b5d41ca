import { type Socket, connect } from 'node:net';
import Parser from 'redis-parser';

/**
 * One Redis command on a connection of its own, for the chain agent: RESP encoded here, the
 * answer read by redis-parser (the parser under ioredis). The agent sends a few commands to its
 * own server and to its master's (INFO, REPLICAOF); ioredis took 60-90 ms of each agent's boot to
 * load in the node image when it ran Debian's Node.js 18 (`node` alone 100-120 ms, with ioredis
 * 150-210 ms), and
 * thirteen agents boot at once on two cores when a 12-node chain is provisioned.
 */

/** A command as RESP: an array of bulk strings (binary-safe, whatever the arguments hold). */
export function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return Buffer.from(parts.join(''));
}

export interface CommandOptions {
  /** The whole command, connection included: past it the command fails. */
  timeoutMs: number;
  /**
   * For how long a refused connection is tried again (every RETRY_MS): a server restarting under
   * its agent listens again within tens of ms. 0: a refusal fails the command at once.
   */
  retryRefusedMs?: number;
}

const RETRY_MS = 50;

/**
 * Sends `args` to host:port on a fresh connection and resolves with the answer: a string (simple
 * or bulk), a number, null, or an array of them. Rejects with the server's error (`-ERR ...`),
 * on no answer within the timeout, or when the connection fails or closes first; each message
 * names the command and the address. The connection is closed either way.
 */
export function redisCommand(
  host: string,
  port: number,
  args: readonly (string | number)[],
  opts: CommandOptions,
): Promise<unknown> {
  const what = `${String(args[0] ?? '').toUpperCase()} on ${host}:${port}`;
  const start = Date.now();
  return new Promise((resolve, reject) => {
    let sock: Socket | undefined;
    let retry: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err: Error | null, reply?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(retry);
      sock?.destroy();
      if (err) reject(err);
      else resolve(reply);
    };
    const timer = setTimeout(
      () => finish(new Error(`${what}: no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    const attempt = () => {
      let abandoned = false;
      const parser = new Parser({
        returnReply: (reply) => finish(null, reply),
        returnError: (err) => finish(new Error(`${what}: ${err.message}`)),
        returnFatalError: (err) => finish(new Error(`${what}: unreadable answer (${err.message})`)),
      });
      const s = connect({ host, port });
      sock = s;
      s.setNoDelay(true);
      s.once('connect', () => s.write(encodeCommand(args)));
      s.on('data', (d) => parser.execute(d));
      s.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        abandoned = true;
        s.destroy();
        const elapsed = Date.now() - start;
        if (
          err.code === 'ECONNREFUSED' &&
          elapsed + RETRY_MS <= (opts.retryRefusedMs ?? 0) &&
          elapsed + RETRY_MS < opts.timeoutMs
        ) {
          retry = setTimeout(attempt, RETRY_MS);
          return;
        }
        finish(new Error(`${what}: ${err.message}`));
      });
      s.on('close', () => {
        if (!abandoned) finish(new Error(`${what}: the connection closed before an answer`));
      });
    };
    attempt();
  });
}
