import { describe, expect, it } from 'vitest';
import { mongoNodeNames } from './layout.ts';
import { firstPrimary, initialConfig, planMongo, replSetConfig } from './plan.ts';
import { resolveMongoRole } from './roles.ts';
import { mongoSpec } from './spec.ts';

const CTX = {
  runId: 'r1',
  registryUrl: 'http://registry:8500',
  bundle: { source: '/tmp/agents.cjs', target: '/opt/chaos/agents.cjs' },
};
const spec = (s: Record<string, unknown> = {}) => mongoSpec.parse(s);

describe('the members over the AZs', () => {
  it('three data members by default, one a zone, mongo-a first', () => {
    expect(mongoNodeNames(spec())).toEqual([
      { name: 'mongo-a', system: 'mongo', az: 'a', index: 0 },
      { name: 'mongo-b', system: 'mongo', az: 'b', index: 1 },
      { name: 'mongo-c', system: 'mongo', az: 'c', index: 2 },
    ]);
  });

  it("with an arbiter, the book's layout: two data members, the arbiter in the third zone", () => {
    expect(spec({ arbiter: true }).nodes).toBe(2);
    expect(mongoNodeNames(spec({ arbiter: true }))).toEqual([
      { name: 'mongo-a', system: 'mongo', az: 'a', index: 0 },
      { name: 'mongo-b', system: 'mongo', az: 'b', index: 1 },
      { name: 'mongo-arbiter', system: 'mongo', az: 'c', index: 2 },
    ]);
  });

  it('more members than zones go round again', () => {
    expect(mongoNodeNames(spec({ nodes: 4, arbiter: true })).map((n) => `${n.name}@${n.az}`)).toEqual([
      'mongo-a1@a',
      'mongo-b1@b',
      'mongo-c1@c',
      'mongo-a2@a',
      'mongo-arbiter@b',
    ]);
  });
});

describe('the rs.initiate document', () => {
  it('every member by node name, one vote each, the election timing, chaining off', () => {
    expect(replSetConfig(spec({ electionTimeoutMillis: 2000, heartbeatIntervalMillis: 500 }))).toEqual({
      _id: 'rs0',
      members: [
        { _id: 0, host: 'mongo-a:27017', priority: 1, votes: 1 },
        { _id: 1, host: 'mongo-b:27017', priority: 1, votes: 1 },
        { _id: 2, host: 'mongo-c:27017', priority: 1, votes: 1 },
      ],
      settings: { electionTimeoutMillis: 2000, heartbeatIntervalMillis: 500, chainingAllowed: false },
    });
  });

  it("the arbiter as an arbiter (no priority); MongoDB's own timing by default", () => {
    expect(replSetConfig(spec({ arbiter: true, replSetName: 'book' }))).toEqual({
      _id: 'book',
      members: [
        { _id: 0, host: 'mongo-a:27017', priority: 1, votes: 1 },
        { _id: 1, host: 'mongo-b:27017', priority: 1, votes: 1 },
        { _id: 2, host: 'mongo-arbiter:27017', arbiterOnly: true },
      ],
      settings: { electionTimeoutMillis: 10_000, heartbeatIntervalMillis: 2000, chainingAllowed: false },
    });
  });

  it('initiated with the first primary one above every other, so the set forms around it', () => {
    expect(initialConfig(spec()).members.map((m) => m.priority)).toEqual([2, 1, 1]);
    expect(firstPrimary(spec())).toBe('mongo-a');
    const ranked = spec({ priorities: [1, 3, 0.5] });
    expect(firstPrimary(ranked)).toBe('mongo-b');
    expect(initialConfig(ranked).members.map((m) => m.priority)).toEqual([1, 4, 0.5]);
    expect(replSetConfig(ranked).members.map((m) => m.priority)).toEqual([1, 3, 0.5]);
  });

  it('refuses priorities that do not fit the members, and more than seven voters', () => {
    expect(() => spec({ priorities: [1, 1] })).toThrow(
      /one priority per data member: 3 members, 2 priorities/,
    );
    expect(() => spec({ priorities: [0, 0, 0] })).toThrow(/above 0/);
    expect(() => spec({ nodes: 6, arbiter: true, azs: ['a', 'b', 'c', 'd', 'e', 'f'] })).not.toThrow();
    expect(() => spec({ nodes: 7 })).toThrow();
    expect(() => spec({ arbitre: true })).toThrow(/arbitre/);
  });
});

describe('what the provider starts', () => {
  it("mongod on its own disk, its endpoint agent beside it; the first primary's agent initiates", () => {
    const plan = planMongo(spec({ electionTimeoutMillis: 2000 }), CTX);
    expect(plan.map((n) => n.name)).toEqual(['mongo-a', 'mongo-b', 'mongo-c']);
    const a = plan[0]!;
    expect(a.main).toMatchObject({
      image: 'mongo',
      process: 'mongod',
      ports: [27017],
      volumes: [{ name: 'data', path: '/data/db', disk: true }],
    });
    expect(a.main.command.slice(0, 4)).toEqual(['mongod', '--replSet', 'rs0', '--bind_ip_all']);
    expect(
      a.main.readyLog.test(
        '{"t":{"$date":"2025-03-14T09:26:53.001+00:00"},"s":"I","c":"NETWORK","id":23016,"ctx":"listener","msg":"Waiting for connections","attr":{"port":27017,"ssl":"off"}}',
      ),
    ).toBe(true);
    expect(a.after).toBeUndefined();
    const agent = a.sidecars[0]!;
    expect(agent).toMatchObject({
      image: 'node',
      part: 'agent',
      restartOnFailure: true,
      events: 'agent:mongo-a',
    });
    expect(agent.env).toMatchObject({
      CHAOS_ENTRY: 'mongo-endpoint-agent',
      NODE_NAME: 'mongo-a',
      MEMBERS: 'mongo-a:27017,mongo-b:27017,mongo-c:27017',
      ENDPOINT_RECORD: 'mongo-primary',
      TERM_RECORD: 'mongo-primary-term',
      REGISTRY_URL: 'http://registry:8500',
    });
    expect(JSON.parse(agent.env!.INITIATE!)).toEqual(initialConfig(spec({ electionTimeoutMillis: 2000 })));
    expect(JSON.parse(agent.env!.PRIORITIES!)).toEqual({
      'mongo-a:27017': 1,
      'mongo-b:27017': 1,
      'mongo-c:27017': 1,
    });
    for (const n of plan.slice(1)) {
      expect(n.sidecars[0]!.env!.INITIATE).toBeUndefined();
      expect(n.sidecars[0]!.env!.PRIORITIES).toBeUndefined();
    }
  });

  it('the arbiter: mongod alone, no agent, no disk to freeze; a member every agent waits for', () => {
    const plan = planMongo(spec({ arbiter: true }), CTX);
    const arb = plan[2]!;
    expect(arb.name).toBe('mongo-arbiter');
    expect(arb.sidecars).toEqual([]);
    expect(arb.main.volumes).toEqual([{ name: 'data', path: '/data/db' }]);
    expect(plan[0]!.sidecars[0]!.env!.MEMBERS).toBe('mongo-a:27017,mongo-b:27017,mongo-arbiter:27017');
  });
});

describe('the roles mongo: targets name', () => {
  const nodes = mongoNodeNames(spec({ nodes: 3, arbiter: true, azs: ['a', 'b', 'c'] }));
  const state = { leader: 'mongo-b', members: [] };
  const names = (role: string) => resolveMongoRole(role, state, nodes, () => 0.99).map((n) => n.name);
  it('primary, secondary, arbiter, any', () => {
    expect(names('primary')).toEqual(['mongo-b']);
    expect(names('secondary')).toEqual(['mongo-a', 'mongo-c']);
    expect(names('arbiter')).toEqual(['mongo-arbiter']);
    expect(names('any')).toEqual(['mongo-arbiter']);
    expect(names('leader')).toEqual([]);
    expect(resolveMongoRole('primary', { leader: null, members: [] }, nodes, Math.random)).toEqual([]);
  });
});
