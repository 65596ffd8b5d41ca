import { type Server, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directEndpoints } from './provider.ts';

describe('directEndpoints: the containers at their network addresses, or at published ports', () => {
  let server: Server;
  let open: number;
  let closed: number;
  beforeAll(async () => {
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open = (server.address() as { port: number }).port;
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    closed = (spare.address() as { port: number }).port;
    await new Promise<void>((r) => spare.close(() => r()));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('uses the address where the host reaches it, and not where it does not', async () => {
    expect(await directEndpoints('127.0.0.1', open, {})).toBe(true);
    expect(await directEndpoints('127.0.0.1', closed, {})).toBe(false);
  });

  it('does as CHAOS_LOCAL_ENDPOINTS says, and names a value it does not know', async () => {
    expect(await directEndpoints('127.0.0.1', open, { CHAOS_LOCAL_ENDPOINTS: 'published' })).toBe(false);
    expect(await directEndpoints('127.0.0.1', closed, { CHAOS_LOCAL_ENDPOINTS: 'network' })).toBe(true);
    await expect(directEndpoints('127.0.0.1', open, { CHAOS_LOCAL_ENDPOINTS: 'host' })).rejects.toThrow(
      /CHAOS_LOCAL_ENDPOINTS=host is neither 'network' nor 'published'/,
    );
  });
});
