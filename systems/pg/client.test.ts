import { type Server, type Socket, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { endClient } from './client.ts';

/**
 * Just enough of the Postgres wire protocol to answer a query, on a server that never closes
 * its side of a connection (allowHalfOpen, no FIN): what a client sees of a server that a DROP
 * rule cut off right after it answered.
 */
function silentCloser(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const msg = (type: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const ready = msg('Z', Buffer.from('I'));
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    sockets.push(sock);
    let buf = Buffer.alloc(0);
    let started = false;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (!started) {
          if (buf.length < 4) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          buf = buf.subarray(len);
          started = true;
          const ok = Buffer.alloc(4);
          sock.write(Buffer.concat([msg('R', ok), ready]));
          continue;
        }
        if (buf.length < 5) return;
        const type = String.fromCharCode(buf[0]!);
        const len = buf.readInt32BE(1);
        if (buf.length < len + 1) return;
        buf = buf.subarray(len + 1);
        if (type === 'Q') sock.write(Buffer.concat([msg('C', Buffer.from('SELECT 0\0')), ready]));
        // 'X' (Terminate) and the client's FIN: ignored, the socket stays open.
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as AddressInfo).port, sockets }),
    ),
  );
}

describe('endClient: closing a pg client never waits on its server', () => {
  let server: Server | undefined;
  let sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it("client.end() alone waits for the server's close; endClient gives up after its grace", async () => {
    const s = await silentCloser();
    server = s.server;
    sockets = s.sockets;
    const open = async () => {
      const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'u', database: 'd' });
      c.on('error', () => {});
      await c.connect();
      await c.query('SELECT 1');
      return c;
    };

    // The hazard itself: end() after a successful query is still pending a second later.
    const plain = await open();
    const state = await Promise.race([
      plain.end().then(() => 'ended'),
      new Promise((r) => setTimeout(() => r('still waiting'), 1000)),
    ]);
    expect(state).toBe('still waiting');

    const c = await open();
    const t0 = performance.now();
    await endClient(c, 100);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(90);
    expect(took).toBeLessThan(600);
    expect(
      (c as unknown as { connection: { stream: { destroyed: boolean } } }).connection.stream.destroyed,
    ).toBe(true);
  });
});
