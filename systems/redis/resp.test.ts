import { type Server, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCommand, redisCommand } from './resp.ts';

/** A stand-in server: `answer` gets each connection's bytes so far and writes what it likes. */
function fake(
  answer: (received: string, sock: Socket) => void,
  port = 0,
): Promise<{ server: Server; port: number }> {
  const server = createServer((sock) => {
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      answer(got, sock);
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as { port: number }).port }),
    ),
  );
}

/** A port nothing listens on: one a server just gave back. */
async function freePort(): Promise<number> {
  const { server, port } = await fake(() => {});
  await new Promise((r) => server.close(r));
  return port;
}

describe('redisCommand: one command on a connection of its own', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });
  const serve = async (answer: (received: string, sock: Socket) => void, port = 0) => {
    const f = await fake(answer, port);
    servers.push(f.server);
    return f.port;
  };

  it('encodes the command as an array of bulk strings, binary-safe', () => {
    expect(encodeCommand(['REPLICAOF', 'redis-b', 6379]).toString()).toBe(
      '*3\r\n$9\r\nREPLICAOF\r\n$7\r\nredis-b\r\n$4\r\n6379\r\n',
    );
    expect(encodeCommand(['SET', 'k', 'é\r\n']).toString()).toBe(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\né\r\n\r\n',
    );
  });

  it('reads simple, bulk (also when it arrives in pieces), integer, null and array answers', async () => {
    const body = '# Replication\r\nrole:master\r\n';
    const answers: Record<string, string[]> = {
      PING: ['+PONG\r\n'],
      INFO: [`$${body.length}\r\n# Repl`, 'ication\r\nrole:master\r\n\r\n'],
      INCR: [':42\r\n'],
      GET: ['$-1\r\n'],
      ROLE: ['*3\r\n$5\r\nslave\r\n$7\r\nredis-a\r\n:6379\r\n'],
    };
    const port = await serve((got, sock) => {
      const name = /\$\d+\r\n(\w+)\r\n/.exec(got)?.[1] ?? '';
      const parts = answers[name]!;
      parts.forEach((p, i) => setTimeout(() => sock.write(p), 20 * i));
    });
    const run = (...args: string[]) => redisCommand('127.0.0.1', port, args, { timeoutMs: 1000 });
    expect(await run('PING')).toBe('PONG');
    expect(await run('INFO', 'replication')).toBe(body);
    expect(await run('INCR', 'n')).toBe(42);
    expect(await run('GET', 'missing')).toBeNull();
    expect(await run('ROLE')).toEqual(['slave', 'redis-a', 6379]);
  });

  it("rejects with the server's error, naming the command and the address", async () => {
    const port = await serve((_got, sock) =>
      sock.write("-READONLY You can't write against a read only replica.\r\n"),
    );
    await expect(redisCommand('127.0.0.1', port, ['set', 'k', 'v'], { timeoutMs: 1000 })).rejects.toThrow(
      `SET on 127.0.0.1:${port}: READONLY You can't write against a read only replica.`,
    );
  });

  it('rejects on no answer within the timeout, and when the server closes first', async () => {
    const silent = await serve(() => {});
    const t = Date.now();
    await expect(redisCommand('127.0.0.1', silent, ['INFO'], { timeoutMs: 200 })).rejects.toThrow(
      'no answer within 200 ms',
    );
    expect(Date.now() - t).toBeGreaterThanOrEqual(190);
    expect(Date.now() - t).toBeLessThan(600);
    const closing = await serve((_got, sock) => sock.end());
    await expect(redisCommand('127.0.0.1', closing, ['INFO'], { timeoutMs: 1000 })).rejects.toThrow(
      'the connection closed before an answer',
    );
  });

  it('fails a refused connection at once, or tries again for retryRefusedMs (a server coming back)', async () => {
    const port = await freePort();
    let t = Date.now();
    await expect(redisCommand('127.0.0.1', port, ['PING'], { timeoutMs: 1000 })).rejects.toThrow(
      'ECONNREFUSED',
    );
    expect(Date.now() - t).toBeLessThan(100);
    // Listening 120 ms from now: found by the retries within 300 ms, not by a 100 ms window.
    setTimeout(() => void serve((_got, sock) => sock.write('+PONG\r\n'), port), 120);
    t = Date.now();
    await expect(
      redisCommand('127.0.0.1', port, ['PING'], { timeoutMs: 1000, retryRefusedMs: 60 }),
    ).rejects.toThrow('ECONNREFUSED');
    expect(Date.now() - t).toBeLessThan(110);
    expect(await redisCommand('127.0.0.1', port, ['PING'], { timeoutMs: 1000, retryRefusedMs: 300 })).toBe(
      'PONG',
    );
  });
});
