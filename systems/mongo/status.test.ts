import { describe, expect, it } from 'vitest';
import type { NodeRef } from '../../core/provider.ts';
import {
  HELLO_ARBITER,
  HELLO_PRIMARY_A,
  HELLO_SECONDARY_B,
  HELLO_UNINITIALIZED,
  IS_MASTER_PRIMARY,
  STATUS_AFTER_FAILOVER_B,
  STATUS_AFTER_FAILOVER_C,
  STATUS_ARBITER,
  STATUS_PRIMARY_A,
  STATUS_PRIMARY_A_LONGS,
  STATUS_PSA_PRIMARY_A,
  STATUS_PSA_SECONDARY_B,
  STATUS_ROLLBACK_A,
  STATUS_SECONDARY_B,
  STATUS_SECONDARY_C,
} from './fixtures.ts';
import { mongoNodeNames } from './layout.ts';
import { type MemberAccount, mongoState, num, parseHello, parseStatus, wallMs } from './status.ts';

const THREE: NodeRef[] = mongoNodeNames({ nodes: 3, arbiter: false, azs: ['a', 'b', 'c'] });
const PSA: NodeRef[] = mongoNodeNames({ nodes: 2, arbiter: true, azs: ['a', 'b', 'c'] });

const account = (hello: Record<string, unknown>, status: Record<string, unknown> | null): MemberAccount => ({
  hello: parseHello(hello),
  status: status ? parseStatus(status) : null,
});

describe('hello, as a member answers it', () => {
  it('the primary, a secondary, the arbiter, a member before rs.initiate', () => {
    expect(parseHello(HELLO_PRIMARY_A)).toEqual({
      setName: 'rs0',
      isWritablePrimary: true,
      secondary: false,
      arbiterOnly: false,
      me: 'mongo-a',
      primary: 'mongo-a',
    });
    expect(parseHello(HELLO_SECONDARY_B)).toMatchObject({
      isWritablePrimary: false,
      secondary: true,
      me: 'mongo-b',
      primary: 'mongo-a',
    });
    expect(parseHello(HELLO_ARBITER)).toMatchObject({
      arbiterOnly: true,
      isWritablePrimary: false,
      secondary: false,
      me: 'mongo-arbiter',
    });
    expect(parseHello(HELLO_UNINITIALIZED)).toEqual({
      setName: null,
      isWritablePrimary: false,
      secondary: false,
      arbiterOnly: false,
      me: null,
      primary: null,
    });
  });

  it('an older server says `ismaster`', () => {
    expect(parseHello(IS_MASTER_PRIMARY).isWritablePrimary).toBe(true);
  });
});

describe('replSetGetStatus, as a member answers it', () => {
  it("the primary's view: its term, its state, each member's state, sync source and last applied write", () => {
    const s = parseStatus(STATUS_PRIMARY_A);
    expect(s.set).toBe('rs0');
    expect(s.term).toBe(1);
    expect(s.myState).toBe('PRIMARY');
    expect(s.members.map((m) => [m.node, m.state, m.health, m.syncSource, m.self])).toEqual([
      ['mongo-a', 'PRIMARY', 1, null, true],
      ['mongo-b', 'SECONDARY', 1, 'mongo-a', false],
      ['mongo-c', 'SECONDARY', 1, 'mongo-a', false],
    ]);
    // lastAppliedWallTime, to the millisecond (optimeDate has whole seconds only)
    const [a, b, c] = s.members.map((m) => m.appliedAt!);
    expect([a! - b!, a! - c!]).toEqual([12, 40]);
  });

  it('a member it cannot reach: DOWN, health 0, no last applied write (the epoch is none)', () => {
    const s = parseStatus(STATUS_AFTER_FAILOVER_B);
    expect(s.term).toBe(2);
    expect(s.members[0]).toMatchObject({ node: 'mongo-a', state: 'DOWN', health: 0, syncSource: null });
  });

  it('the arbiter has no optime; int64s as bson Longs read as numbers', () => {
    expect(parseStatus(STATUS_PSA_PRIMARY_A).members[2]).toEqual({
      node: 'mongo-arbiter',
      state: 'ARBITER',
      health: 1,
      syncSource: null,
      appliedAt: null,
      self: false,
    });
    expect(parseStatus(STATUS_PRIMARY_A_LONGS).term).toBe(1);
    expect(num(10n)).toBe(10);
    expect(num('1')).toBeNull();
    expect(wallMs(new Date(0))).toBeNull();
    expect(wallMs('2025-03-14T09:26:53.012Z')).toBe(Date.parse('2025-03-14T09:26:53.012Z'));
  });
});

describe("the set's state from every member's own account", () => {
  it('whole: the primary the record names, its secondaries syncing from it with their lag in ms', () => {
    const t = mongoState(
      THREE,
      new Map([
        ['mongo-a', account(HELLO_PRIMARY_A, STATUS_PRIMARY_A)],
        ['mongo-b', account(HELLO_SECONDARY_B, STATUS_SECONDARY_B)],
        ['mongo-c', account({ ...HELLO_SECONDARY_B, me: 'mongo-c:27017' }, STATUS_SECONDARY_C)],
      ]),
      'mongo-a',
    );
    expect(t).toEqual({
      leader: 'mongo-a',
      members: ['mongo-a', 'mongo-b', 'mongo-c'],
      nodes: [
        { name: 'mongo-a', az: 'a', reachable: true, role: 'primary' },
        {
          name: 'mongo-b',
          az: 'b',
          reachable: true,
          role: 'secondary',
          following: 'mongo-a',
          linkUp: true,
          lag: 12,
        },
        {
          name: 'mongo-c',
          az: 'c',
          reachable: true,
          role: 'secondary',
          following: 'mongo-a',
          linkUp: true,
          lag: 40,
        },
      ],
    });
  });

  it('after the primary died: the new one leads, the other follows it, the dead one is unreachable', () => {
    const t = mongoState(
      THREE,
      new Map([
        ['mongo-a', null],
        ['mongo-b', account({ ...HELLO_PRIMARY_A, me: 'mongo-b:27017' }, STATUS_AFTER_FAILOVER_B)],
        ['mongo-c', account(HELLO_SECONDARY_B, STATUS_AFTER_FAILOVER_C)],
      ]),
      'mongo-b',
    );
    expect(t.members).toEqual(['mongo-b', 'mongo-c']);
    expect(t.nodes).toEqual([
      { name: 'mongo-a', az: 'a', reachable: false },
      { name: 'mongo-b', az: 'b', reachable: true, role: 'primary' },
      {
        name: 'mongo-c',
        az: 'c',
        reachable: true,
        role: 'secondary',
        following: 'mongo-b',
        linkUp: true,
        lag: 5,
      },
    ]);
  });

  it("the book's layout: two data members and the arbiter, the arbiter last among the members", () => {
    const t = mongoState(
      PSA,
      new Map([
        ['mongo-a', account(HELLO_PRIMARY_A, STATUS_PSA_PRIMARY_A)],
        ['mongo-b', account(HELLO_SECONDARY_B, STATUS_PSA_SECONDARY_B)],
        ['mongo-arbiter', account(HELLO_ARBITER, STATUS_ARBITER)],
      ]),
      'mongo-a',
    );
    expect(t.members).toEqual(['mongo-a', 'mongo-b', 'mongo-arbiter']);
    expect(t.nodes[2]).toEqual({ name: 'mongo-arbiter', az: 'c', reachable: true, role: 'arbiter' });
    expect(t.nodes[1]).toMatchObject({ role: 'secondary', lag: 4 });
  });

  it('a member rolling back, one not yet initiated; lag from its own view when the primary does not answer', () => {
    const t = mongoState(
      THREE,
      new Map([
        ['mongo-a', account(HELLO_SECONDARY_B, STATUS_ROLLBACK_A)],
        ['mongo-b', null],
        ['mongo-c', account(HELLO_UNINITIALIZED, null)],
      ]),
      'mongo-b',
    );
    expect(t.nodes[0]).toMatchObject({
      name: 'mongo-a',
      role: 'rollback',
      following: 'mongo-b',
      linkUp: true,
    });
    // the rollback member's own view: mongo-b (primary) applied at 15020, it at 7400
    expect(t.nodes[0]!.lag).toBe(15_020 - 7400);
    expect(t.nodes[2]).toEqual({ name: 'mongo-c', az: 'c', reachable: true, role: 'uninitialized' });
    expect(t.members).toEqual(['mongo-b']);
  });
});
