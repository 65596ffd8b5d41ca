import { type Server, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readyToServeSync } from './agent-main.ts';

/** A stand-in Redis that answers INFO with what `info()` says now (RESP bulk string). */
function fakeRedis(info: () => string): Promise<{ server: Server; port: number }> {
  const server = createServer((sock) => {
    // One reply per command: INFO gets the text, others +OK.
    sock.on('data', (d) => {
      for (const cmd of d.toString('latin1').split(/(?=\*\d+\r\n\$)/)) {
        if (!cmd) continue;
        const body = info();
        sock.write(/\binfo\b/i.test(cmd) ? `$${Buffer.byteLength(body)}\r\n${body}\r\n` : '+OK\r\n');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as { port: number }).port }),
    ),
  );
}

describe('a joining chain node waits for its master to be able to serve a sync', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('waits until a replica master has its own link up, and no longer', async () => {
    const upAt = Date.now() + 300;
    const { server, port } = await fakeRedis(() =>
      Date.now() < upAt
        ? '# Replication\r\nrole:slave\r\nmaster_link_status:down\r\n'
        : '# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n',
    );
    servers.push(server);
    const t = Date.now();
    expect(await readyToServeSync('127.0.0.1', port)).toBeUndefined();
    const waited = Date.now() - t;
    expect(waited).toBeGreaterThanOrEqual(280);
    expect(waited).toBeLessThan(800);
  });

  it('does not wait for a master', async () => {
    const { server, port } = await fakeRedis(() => '# Replication\r\nrole:master\r\nconnected_slaves:0\r\n');
    servers.push(server);
    const t = Date.now();
    expect(await readyToServeSync('127.0.0.1', port)).toBeUndefined();
    expect(Date.now() - t).toBeLessThan(200);
  });

  it('gives up after a second for a master that never gets there, and at once for one that does not answer', async () => {
    const { server, port } = await fakeRedis(
      () => '# Replication\r\nrole:slave\r\nmaster_link_status:down\r\n',
    );
    servers.push(server);
    let t = Date.now();
    expect(await readyToServeSync('127.0.0.1', port)).toBe('its own link was not up within 1000 ms');
    expect(Date.now() - t).toBeGreaterThanOrEqual(990);
    expect(Date.now() - t).toBeLessThan(1500);
    server.close();
    t = Date.now();
    expect(await readyToServeSync('127.0.0.1', port)).toMatch(/^INFO replication failed: /);
    expect(Date.now() - t).toBeLessThan(500);
  });
});
