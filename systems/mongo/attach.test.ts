import { Long } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaderPoller } from '../../engine/attach.ts';
import {
  type MongoReading,
  attachedMongoCollection,
  attachedMongoState,
  attachedMongoViolations,
  configHosts,
  dropRunCollections,
  mongoReading,
  mongoRefusal,
  readElectionTimeout,
  readMongo,
} from './attach.ts';
import { FakeMember } from './fake-mongod.ts';
import {
  HELLO_ARBITER,
  HELLO_PRIMARY_A,
  HELLO_SECONDARY_B,
  STATUS_AFTER_FAILOVER_B,
  STATUS_AFTER_FAILOVER_C,
  STATUS_ARBITER,
  STATUS_PRIMARY_A,
  STATUS_PSA_PRIMARY_A,
  STATUS_PSA_SECONDARY_B,
  STATUS_SECONDARY_B,
  STATUS_SECONDARY_C,
} from './fixtures.ts';

// The fixtures' set names its members mongo-a/b/c (its config's hosts); the user's containers
// are shop-mongo-1/2/3, and the address book maps each host (and its address) to its container.
const book = new Map([
  ['mongo-a', 'shop-mongo-1'],
  ['mongo-b', 'shop-mongo-2'],
  ['mongo-c', 'shop-mongo-3'],
  ['mongo-arbiter', 'shop-mongo-arb'],
  ['10.0.0.1', 'shop-mongo-1'],
]);
const nameOf = (h: string) => book.get(h);
const HELLO_C = { ...HELLO_SECONDARY_B, me: 'mongo-c:27017' };
const node = (name: string, reading: MongoReading | undefined) => ({ name, az: 'a', reading });

describe('an attached MongoDB replica set: hello, by container', () => {
  it('leads: the writable primary; the secondaries sync from it, their lag as the primary sees it', () => {
    const t = attachedMongoState(
      [
        node('shop-mongo-1', mongoReading(HELLO_PRIMARY_A, STATUS_PRIMARY_A)),
        node('shop-mongo-2', mongoReading(HELLO_SECONDARY_B, STATUS_SECONDARY_B)),
        node('shop-mongo-3', mongoReading(HELLO_C, STATUS_SECONDARY_C)),
      ],
      nameOf,
    );
    expect(t.leader).toBe('shop-mongo-1');
    expect(t.members).toEqual(['shop-mongo-1', 'shop-mongo-2', 'shop-mongo-3']);
    expect(t.nodes[1]).toMatchObject({ role: 'secondary', following: 'shop-mongo-1', linkUp: true, lag: 12 });
    expect(t.nodes[2]).toMatchObject({ following: 'shop-mongo-1', lag: 40 });
    expect(attachedMongoViolations(t, { maxLagMs: 2000 })).toEqual([]);
    expect(attachedMongoViolations(t, { maxLagMs: 20 })).toEqual([
      'shop-mongo-3 is 40 ms of oplog behind the primary (more than 20)',
    ]);
    expect(configHosts([node('x', mongoReading(HELLO_PRIMARY_A, undefined)).reading])).toEqual({
      hosts: ['mongo-a', 'mongo-b', 'mongo-c'],
      offPort: [],
    });
    expect(
      configHosts([mongoReading({ ...HELLO_PRIMARY_A, hosts: ['m1:27018'] }, undefined)]).offPort,
    ).toEqual(['m1:27018']);
  });

  it('follows an election: the old primary gone, the new one leads; two primaries: the one the others name', () => {
    const helloB = { ...HELLO_PRIMARY_A, me: 'mongo-b:27017', primary: 'mongo-b:27017' };
    const after = attachedMongoState(
      [
        node('shop-mongo-1', undefined),
        node('shop-mongo-2', mongoReading(helloB, STATUS_AFTER_FAILOVER_B)),
        node('shop-mongo-3', mongoReading({ ...HELLO_C, primary: 'mongo-b:27017' }, STATUS_AFTER_FAILOVER_C)),
      ],
      nameOf,
    );
    expect(after.leader).toBe('shop-mongo-2');
    expect(after.nodes[0]).toEqual({ name: 'shop-mongo-1', az: 'a', reachable: false });
    expect(after.nodes[2]).toMatchObject({ following: 'shop-mongo-2', linkUp: true });
    expect(attachedMongoViolations(after, { maxLagMs: 2000 })).toEqual([]);

    // The old primary, cut off, has not stepped down yet: the others name the new one.
    const both = attachedMongoState(
      [
        node('shop-mongo-1', mongoReading(HELLO_PRIMARY_A, undefined)),
        node('shop-mongo-2', mongoReading(helloB, undefined)),
        node('shop-mongo-3', mongoReading({ ...HELLO_C, primary: 'mongo-b:27017' }, undefined)),
      ],
      nameOf,
    );
    expect(both.leader).toBe('shop-mongo-2');
    expect(attachedMongoViolations(both, { maxLagMs: 2000 })[0]).toBe(
      '2 primaries: shop-mongo-1, shop-mongo-2',
    );
    const headless = attachedMongoState(
      [node('shop-mongo-2', mongoReading(HELLO_SECONDARY_B, undefined))],
      nameOf,
    );
    expect(headless.leader).toBeNull();
    expect(attachedMongoViolations(headless, { maxLagMs: 2000 })[0]).toBe('no member answering is PRIMARY');
  });

  it('takes an arbiter of any name for what it says it is', () => {
    const t = attachedMongoState(
      [
        node('shop-mongo-1', mongoReading(HELLO_PRIMARY_A, STATUS_PSA_PRIMARY_A)),
        node('shop-mongo-2', mongoReading(HELLO_SECONDARY_B, STATUS_PSA_SECONDARY_B)),
        node('shop-mongo-arb', mongoReading(HELLO_ARBITER, STATUS_ARBITER)),
      ],
      nameOf,
    );
    expect(t.nodes[2]).toMatchObject({ role: 'arbiter' });
    expect(t.members).toEqual(['shop-mongo-1', 'shop-mongo-2', 'shop-mongo-arb']);
    expect(attachedMongoViolations(t, { maxLagMs: 2000 })).toEqual([]);
    expect(configHosts([t.nodes[2] ? mongoReading(HELLO_ARBITER, undefined) : undefined]).hosts).toEqual([
      'mongo-a',
      'mongo-arbiter',
      'mongo-b',
    ]);
  });
});

describe('an attached MongoDB member over the wire (a stand-in speaking the protocol)', () => {
  const primary = new FakeMember('mongo-a', ['mongo-a:27017', 'mongo-b:27017']);
  primary.primary = true;
  const dropped: string[] = [];
  beforeAll(async () => {
    primary.handlers.set('replSetGetStatus', () => STATUS_PRIMARY_A);
    primary.handlers.set('replSetGetConfig', () => ({
      config: { _id: 'rs0', members: [], settings: { electionTimeoutMillis: 5000 } },
      ok: 1,
    }));
    primary.handlers.set('listCollections', () => ({
      cursor: {
        id: Long.ZERO,
        ns: 'chaos.$cmd.listCollections',
        firstBatch: [
          { name: attachedMongoCollection('run1', 'writer'), type: 'collection' },
          { name: attachedMongoCollection('run2', 'writer'), type: 'collection' },
          { name: 'orders', type: 'collection' },
        ],
      },
      ok: 1,
    }));
    primary.handlers.set('drop', (cmd) => {
      dropped.push(String(cmd.drop));
      return { ok: 1 };
    });
    await primary.listen('127.0.0.1', 0);
  });
  afterAll(() => primary.close());

  it("reads hello and replSetGetStatus, the set's electionTimeoutMillis; a member that does not answer is undefined", async () => {
    const ep = { host: '127.0.0.1', port: primary.port() };
    const r = await readMongo(ep, 2000);
    expect(r?.account.hello).toMatchObject({ setName: 'rs0', isWritablePrimary: true, me: 'mongo-a' });
    expect(r?.account.status?.members.map((m) => m.node)).toEqual(['mongo-a', 'mongo-b', 'mongo-c']);
    expect(r?.hosts).toEqual(['mongo-a:27017', 'mongo-b:27017']);
    expect(await readElectionTimeout(ep, 2000)).toBe(5000);
    expect(await readMongo({ host: '127.0.0.1', port: 1 }, 300)).toBeUndefined();
  });

  it("drops the run's own collections and nothing else", async () => {
    const names = await dropRunCollections({ host: '127.0.0.1', port: primary.port() }, 'run1');
    expect(names).toEqual(['chaos_run1_writer']);
    expect(dropped).toEqual(['chaos_run1_writer']);
  });

  it('waits for a drop whose majority takes longer than 4 s (its wtimeout is 5 s), not cutting the socket first', async () => {
    primary.handlers.set('drop', async (cmd) => {
      await new Promise((r) => setTimeout(r, 4500));
      dropped.push(String(cmd.drop));
      return { ok: 1 };
    });
    const names = await dropRunCollections({ host: '127.0.0.1', port: primary.port() }, 'run1');
    expect(names).toEqual(['chaos_run1_writer']);
  }, 15_000);
});

describe('an attached MongoDB set the attach cannot take, refused at once', () => {
  it('refuses members on a port other than 27017 in one line naming stack.attach.mongo.port', () => {
    const on27018 = mongoReading(
      { ...HELLO_PRIMARY_A, hosts: ['mongo-a:27018', 'mongo-b:27018'] },
      undefined,
    );
    const why = mongoRefusal([on27018, undefined], 27018);
    expect(why).toContain('stack.attach.mongo.port is 27018');
    expect(why).toContain('mongo-a:27018, mongo-b:27018');
    expect(why).not.toContain('\n');
    expect(mongoRefusal([mongoReading(HELLO_PRIMARY_A, STATUS_PRIMARY_A)], 27017)).toBeUndefined();
  });
});

describe('an attached MongoDB with authentication on, refused at once', () => {
  const member = new FakeMember('mongo-a', ['mongo-a:27017', 'mongo-b:27017']);
  member.primary = true;
  beforeAll(async () => {
    member.handlers.set('replSetGetStatus', () => ({
      ok: 0,
      code: 13,
      codeName: 'Unauthorized',
      errmsg: 'command replSetGetStatus requires authentication',
    }));
    await member.listen('127.0.0.1', 0);
  });
  afterAll(() => member.close());

  it('says authentication is not supported by the attach yet, in one line', async () => {
    const r = await readMongo({ host: '127.0.0.1', port: member.port() }, 2000);
    expect(r?.unauthorized).toContain('requires authentication');
    const why = mongoRefusal([r], 27017);
    expect(why).toContain('authentication on is not supported yet');
    expect(why).not.toContain('\n');
  });
});

describe("an attached stack's wrap-up", () => {
  it("says what it left, and why, when removing the run's collections or tables throws", async () => {
    const left: string[] = [];
    const poller = leaderPoller(
      'mongo-leader',
      () => {
        throw new Error('not started');
      },
      async () => {
        throw new Error('connection to mongo-a:27017 timed out');
      },
      (why) => left.push(why),
    );
    await poller.stop();
    expect(left).toEqual(['the removal failed: connection to mongo-a:27017 timed out']);
  });
});
