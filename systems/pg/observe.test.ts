import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { NodeState } from '../../core/result.ts';
import { pgViolations } from './observe.ts';
import { classifyPgFailure } from './probe.ts';

const primary = (name: string): NodeState => ({ name, az: 'a', reachable: true, role: 'primary' });
const standby = (name: string, of: string, linkUp = true): NodeState => ({
  name,
  az: 'b',
  reachable: true,
  role: 'standby',
  following: of,
  linkUp,
});

describe('postgres invariants', () => {
  it('one primary named by the writer record, every standby streaming from it', () => {
    expect(
      pgViolations({ leader: 'pg-b', members: [], nodes: [primary('pg-b'), standby('pg-c', 'pg-b')] }),
    ).toEqual([]);
  });

  it('a returning old primary that is still a primary is a split brain', () => {
    expect(
      pgViolations({
        leader: 'pg-b',
        members: [],
        nodes: [primary('pg-a'), primary('pg-b'), standby('pg-c', 'pg-b')],
      }),
    ).toEqual(['2 primaries: pg-a, pg-b']);
  });

  it('a standby still following the dead primary, or not streaming', () => {
    expect(
      pgViolations({
        leader: 'pg-b',
        members: [],
        nodes: [primary('pg-b'), standby('pg-c', 'pg-a'), standby('pg-a', 'pg-b', false)],
      }),
    ).toEqual(['pg-c follows pg-a, the primary is pg-b', 'pg-a is not streaming from pg-b']);
  });
});

describe('how the Postgres probe classifies a failed INSERT', () => {
  const serverError = (code: string) => Object.assign(new pg.DatabaseError('x', 0, 'error'), { code });
  it('never sent: fail', () => {
    expect(classifyPgFailure(new Error('connect ECONNREFUSED'), false)).toBe('fail');
  });
  it('an error reply that rejected the statement: fail', () => {
    expect(classifyPgFailure(serverError('25006'), true)).toBe('fail'); // read-only transaction
    expect(classifyPgFailure(serverError('42P01'), true)).toBe('fail');
  });
  it('the session ended or the client gave up after sending: unknown', () => {
    expect(classifyPgFailure(serverError('57P01'), true)).toBe('unknown'); // terminated by a fence
    expect(classifyPgFailure(serverError('08006'), true)).toBe('unknown');
    expect(classifyPgFailure(new Error('Query read timeout'), true)).toBe('unknown');
    expect(classifyPgFailure(new Error('Connection terminated unexpectedly'), true)).toBe('unknown');
    // a socket's error code is not a server's reply
    expect(classifyPgFailure(Object.assign(new Error('reset'), { code: 'EPIPE' }), true)).toBe('unknown');
  });
});
