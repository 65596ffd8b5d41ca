import { describe, expect, it } from 'vitest';
import { NoWriterError, notWritable, pickWriter, sessionFacts } from './writer.ts';

/** A fake server per host: down (refuses), a standby, read-only, a writer, or one whose check fails. */
type Server = 'down' | 'standby' | 'read-only' | 'writer' | 'check-fails';

function ops(servers: Record<string, Server>) {
  const opened: string[] = [];
  const closed: string[] = [];
  return {
    opened,
    closed,
    ops: {
      connect: async (host: string) => {
        if (servers[host] === 'down' || servers[host] === undefined)
          throw new Error(`connect ECONNREFUSED ${host}`);
        opened.push(host);
        return host;
      },
      facts: async (c: string) => {
        if (servers[c] === 'check-fails') throw new Error('Connection terminated unexpectedly');
        return {
          inRecovery: servers[c] === 'standby',
          transactionReadOnly: servers[c] === 'read-only' ? 'on' : 'off',
        };
      },
      close: (c: string) => {
        closed.push(c);
      },
    },
  };
}

describe('picking the writer as target_session_attrs=read-write does', () => {
  it('keeps the first host in order that accepts writes, closing the standbys it passed', async () => {
    const o = ops({ a: 'standby', b: 'writer', c: 'writer' });
    await expect(pickWriter(['a', 'b', 'c'], o.ops)).resolves.toEqual({ host: 'b', conn: 'b' });
    expect(o.opened).toEqual(['a', 'b']);
    expect(o.closed).toEqual(['a']);
  });

  it('passes over a host that cannot be reached, one that is read-only and one whose check fails', async () => {
    const o = ops({ a: 'down', b: 'read-only', c: 'check-fails', d: 'writer' });
    await expect(pickWriter(['a', 'b', 'c', 'd'], o.ops)).resolves.toMatchObject({ host: 'd' });
    expect(o.closed).toEqual(['b', 'c']);
  });

  it('fails with every host and why when none accepts writes (a failover under way)', async () => {
    const o = ops({ a: 'down', b: 'standby', c: 'standby' });
    const err = await pickWriter(['a', 'b', 'c'], o.ops).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoWriterError);
    expect((err as NoWriterError).tried.map((t) => t.host)).toEqual(['a', 'b', 'c']);
    expect((err as Error).message).toBe(
      'no host accepts writes (target_session_attrs=read-write): a: connect: connect ECONNREFUSED a; b: in recovery (a standby); c: in recovery (a standby)',
    );
    expect(o.closed).toEqual(['b', 'c']);
  });

  it('reads the session check row: a standby or transaction_read_only on is not writable', () => {
    expect(notWritable(sessionFacts({ in_recovery: false, read_only: 'off' }))).toBeUndefined();
    expect(notWritable(sessionFacts({ in_recovery: true, read_only: 'on' }))).toMatch(/in recovery/);
    expect(notWritable(sessionFacts({ in_recovery: false, read_only: 'on' }))).toMatch(/read-only/);
    expect(() => sessionFacts(undefined)).toThrow(/no row/);
  });
});
