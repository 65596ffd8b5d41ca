import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import type { Registry } from '../../core/registry.ts';
import { EndpointAgent, withPriorities } from './agent.ts';
import { CONFIG_FORMED } from './fixtures.ts';
import { initialConfig, targetPriorities } from './plan.ts';
import { ENDPOINT_RECORD, TERM_RECORD } from './records.ts';
import { mongoSpec } from './spec.ts';
import type { StatusView } from './status.ts';

const SPEC = mongoSpec.parse({ electionTimeoutMillis: 2000, heartbeatIntervalMillis: 500 });
const NODES = ['mongo-a', 'mongo-b', 'mongo-c'];
const host = (n: string) => `${n}:27017`;

/**
 * A replica set in a fake world: which members are up, whether the set has a config, which
 * member believes it is primary and in which term (two may, for a while, during a partition), its
 * config, and the registry. MongoDB's elections are the world's to make; the agents only watch.
 */
class World {
  now = 1_000;
  registry = new MemoryRegistry(() => this.now);
  up = new Set(NODES);
  initiated: Record<string, unknown> | null = null;
  /** Who believes it is primary, with the term it won. */
  leading = new Map<string, number>();
  /** The highest term any member has seen (what replSetGetStatus reports as `term`). */
  termOf = new Map<string, number>();
  unhealthy = new Set<string>();
  config: Record<string, unknown> | null = null;
  reconfigs: Record<string, unknown>[] = [];
  noTerm = new Set<string>();
  /** Runs before an agent's registry write (to interleave two agents). */
  beforeSet: ((node: string) => Promise<void>) | undefined;
  events: { node: string; type: string; data: Record<string, unknown> }[] = [];

  agent(self: string, initiator = false): EndpointAgent {
    const reg = this.registry;
    const registry: Registry = {
      get: (n) => reg.get(n),
      set: async (...a) => {
        await this.beforeSet?.(self);
        return reg.set(...a);
      },
      acquireLease: (...a) => reg.acquireLease(...a),
      getLease: (n) => reg.getLease(n),
      releaseLease: (...a) => reg.releaseLease(...a),
    };
    return new EndpointAgent(
      {
        self,
        members: NODES.map(host),
        endpointRecord: ENDPOINT_RECORD,
        termRecord: TERM_RECORD,
        recordTtlMs: 1000,
        checkIntervalMs: 100,
        ...(initiator ? { initiate: initialConfig(SPEC), priorities: targetPriorities(SPEC) } : {}),
      },
      {
        local: {
          hello: async () => {
            if (!this.up.has(self)) return null;
            if (!this.initiated)
              return {
                setName: null,
                isWritablePrimary: false,
                secondary: false,
                arbiterOnly: false,
                me: null,
                primary: null,
              };
            const primary = [...this.leading.keys()].find((n) => n !== self) ?? null;
            return {
              setName: 'rs0',
              isWritablePrimary: this.leading.has(self),
              secondary: !this.leading.has(self),
              arbiterOnly: false,
              me: self,
              primary: this.leading.has(self) ? self : primary,
            };
          },
          status: async (): Promise<StatusView | null> => {
            if (!this.up.has(self) || !this.initiated || this.noTerm.has(self)) return null;
            return {
              set: 'rs0',
              term: this.termOf.get(self) ?? 1,
              myState: this.leading.has(self) ? 'PRIMARY' : 'SECONDARY',
              members: NODES.map((n) => ({
                node: n,
                state:
                  !this.up.has(n) || this.unhealthy.has(n)
                    ? 'DOWN'
                    : this.leading.has(n)
                      ? 'PRIMARY'
                      : 'SECONDARY',
                health: !this.up.has(n) || this.unhealthy.has(n) ? 0 : 1,
                syncSource: null,
                appliedAt: null,
                self: n === self,
              })),
            };
          },
          initiate: async (config) => {
            if (this.initiated) throw Object.assign(new Error('already initialized'), { code: 23 });
            this.initiated = config as unknown as Record<string, unknown>;
            this.config = { ...(config as unknown as Record<string, unknown>), version: 1, term: 1 };
          },
          config: async () => this.config,
          reconfig: async (config) => {
            this.reconfigs.push(config);
            this.config = { ...config, term: this.termOf.get(self) ?? 1 };
          },
        },
        peerAnswers: async (h) => this.up.has(h.split(':')[0]!),
        registry,
        sleep: async (ms) => {
          this.now += ms;
        },
        emit: (type, data = {}) => this.events.push({ node: self, type, data }),
      },
    );
  }

  /** MongoDB elects `node` in `term`: every member now knows of that term. */
  elect(node: string, term: number): void {
    this.leading.set(node, term);
    for (const n of NODES) if (!this.cutOff.has(n) || n === node) this.termOf.set(n, term);
  }

  /** Members that hear of no election (cut off from the majority). */
  cutOff = new Set<string>();

  async round(agents: EndpointAgent[]): Promise<void> {
    for (const a of agents) await a.tick().catch(() => 'error');
    this.now += 100;
  }

  async endpoint(): Promise<string | undefined> {
    return (await this.registry.get(ENDPOINT_RECORD))?.value;
  }

  of(type: string): string[] {
    return this.events.filter((e) => e.type === type).map((e) => e.node);
  }
}

/** The set formed: initiated by `mongo-a`'s agent, `mongo-a` elected in term 1, its claim made. */
async function formed(w = new World()) {
  const agents = NODES.map((n, i) => w.agent(n, i === 0));
  await w.round(agents); // initiates
  w.elect('mongo-a', 1);
  await w.round(agents); // claims, puts the priorities back
  return { w, agents };
}

describe('endpoint agent: forming the set', () => {
  it("the first primary's agent initiates the set once every member answers, with its own priority first; nobody else initiates", async () => {
    const w = new World();
    w.up.delete('mongo-c');
    const agents = NODES.map((n, i) => w.agent(n, i === 0));
    await w.round(agents);
    await w.round(agents);
    expect(w.initiated).toBeNull();
    expect(w.events.filter((e) => e.type === 'initiate-waiting')).toEqual([
      {
        node: 'mongo-a',
        type: 'initiate-waiting',
        data: { missing: ['mongo-c:27017'], reason: expect.any(String) },
      },
    ]);
    w.up.add('mongo-c');
    await w.round(agents);
    expect(w.initiated).toEqual(initialConfig(SPEC));
    expect(w.events.filter((e) => e.type === 'initiated')).toEqual([
      {
        node: 'mongo-a',
        type: 'initiated',
        data: {
          set: 'rs0',
          members: ['mongo-a:27017 p2', 'mongo-b:27017 p1', 'mongo-c:27017 p1'],
          electionTimeoutMillis: 2000,
          heartbeatIntervalMillis: 500,
        },
      },
    ]);
  });

  it('the primary claims the endpoint record and the term beside it, says it became primary', async () => {
    const { w } = await formed();
    expect(await w.endpoint()).toBe('mongo-a');
    expect((await w.registry.get(TERM_RECORD))?.value).toBe('1');
    expect(w.events.filter((e) => e.type === 'became-primary')).toEqual([
      { node: 'mongo-a', type: 'became-primary', data: { term: 1 } },
    ]);
    expect(w.of('claimed-endpoint')).toEqual(['mongo-a']);
  });

  it("puts the scenario's priorities back once every member is healthy, in one reconfig that bumps the version", async () => {
    const w = new World();
    const agents = NODES.map((n, i) => w.agent(n, i === 0));
    await w.round(agents);
    w.elect('mongo-a', 1);
    w.unhealthy.add('mongo-c'); // still in initial sync
    await w.round(agents);
    expect(w.reconfigs).toEqual([]);
    w.unhealthy.clear();
    await w.round(agents);
    await w.round(agents);
    expect(w.reconfigs).toHaveLength(1);
    const next = w.reconfigs[0]! as { version: number; members: { host: string; priority: number }[] };
    expect(next.version).toBe(2);
    expect(next).not.toHaveProperty('term');
    expect(next.members.map((m) => [m.host, m.priority])).toEqual([
      ['mongo-a:27017', 1],
      ['mongo-b:27017', 1],
      ['mongo-c:27017', 1],
    ]);
    expect(w.of('priorities-set')).toEqual(['mongo-a']);
  });
});

describe('endpoint agent: the primary owns the record', () => {
  it('primary killed: the member elected next moves the record to itself, once; the others leave it alone', async () => {
    const { w, agents } = await formed();
    w.up.delete('mongo-a');
    w.leading.clear();
    const live = agents.slice(1);
    await w.round(live);
    expect(await w.endpoint()).toBe('mongo-a'); // nobody elected yet: nothing moves
    w.elect('mongo-c', 2);
    await w.round(live);
    await w.round(live);
    expect(await w.endpoint()).toBe('mongo-c');
    expect(w.events.filter((e) => e.type === 'endpoint-moved')).toEqual([
      {
        node: 'mongo-c',
        type: 'endpoint-moved',
        data: { from: 'mongo-a', to: 'mongo-c', term: 2, ttlMs: 1000 },
      },
    ]);
    expect(w.of('became-primary')).toEqual(['mongo-a', 'mongo-c']);
    expect((await w.registry.get(TERM_RECORD))?.value).toBe('2');
  });

  it('a primary cut off from the majority, not yet stepped down, never takes the record back from the newer primary', async () => {
    const { w, agents } = await formed();
    // mongo-a is cut off from mongo-b and mongo-c (not from the registry): it still says it is
    // primary in term 1 while the majority elects mongo-b in term 2.
    w.cutOff.add('mongo-a');
    w.elect('mongo-b', 2);
    for (let i = 0; i < 10; i++) await w.round(agents);
    expect(await w.endpoint()).toBe('mongo-b');
    const sets = (await w.registry.get(ENDPOINT_RECORD))!.version;
    expect(sets).toBe(2); // claimed by mongo-a, moved once to mongo-b: no back and forth
    expect(w.events.filter((e) => e.type === 'endpoint-withheld')).toEqual([
      {
        node: 'mongo-a',
        type: 'endpoint-withheld',
        data: {
          endpoint: 'mongo-b',
          recordTerm: 2,
          term: 1,
          reason: expect.stringMatching(/later term \(2\)/),
        },
      },
    ]);
    // It steps down (it cannot see a majority): its agent says so.
    w.leading.delete('mongo-a');
    await w.round(agents);
    expect(w.events.find((e) => e.type === 'stepped-down')).toEqual({
      node: 'mongo-a',
      type: 'stepped-down',
      data: { term: 1, primary: 'mongo-b' },
    });
    expect(await w.endpoint()).toBe('mongo-b');
  });

  it('two primaries claiming at once: the conditional writes let one through; the later term ends up with the record', async () => {
    const { w, agents } = await formed();
    const [a, b] = agents as [EndpointAgent, EndpointAgent, EndpointAgent];
    // The record names mongo-c from an old claim nobody holds any more.
    await w.registry.set(ENDPOINT_RECORD, 'mongo-c', 1000);
    await w.registry.set(TERM_RECORD, '0', 1000);
    w.cutOff.add('mongo-a');
    w.elect('mongo-b', 2);
    // mongo-a has read both records and is about to write when mongo-b claims in full.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    w.beforeSet = async (node) => {
      if (node !== 'mongo-a') return;
      w.beforeSet = undefined;
      await held;
    };
    const aTick = a.tick();
    await new Promise((r) => setTimeout(r, 0));
    expect(await b.tick()).toBe('claimed');
    release();
    expect(await aTick).toBe('lost-claim');
    expect(await w.endpoint()).toBe('mongo-b');
    expect((await w.registry.get(TERM_RECORD))?.value).toBe('2');
    expect(w.events.find((e) => e.type === 'endpoint-claim-lost')).toMatchObject({
      node: 'mongo-a',
      data: { record: TERM_RECORD, term: 1 },
    });
    // On its next check it sees the later term and withholds.
    expect(await a.tick()).toBe('withheld');
  });

  it('a primary whose term cannot be read makes no claim', async () => {
    const { w, agents } = await formed();
    w.leading.clear();
    w.elect('mongo-b', 2);
    w.noTerm.add('mongo-b');
    expect(await agents[1]!.tick()).toBe('term-unknown');
    expect(await w.endpoint()).toBe('mongo-a');
    w.noTerm.clear();
    expect(await agents[1]!.tick()).toBe('claimed');
  });

  it('its member stops answering, then answers again: said once each', async () => {
    const { w, agents } = await formed();
    w.up.delete('mongo-b');
    await w.round(agents);
    await w.round(agents);
    w.up.add('mongo-b');
    await w.round(agents);
    expect(w.of('local-unreachable')).toEqual(['mongo-b']);
    expect(w.of('local-answering')).toEqual(['mongo-b']);
  });
});

describe('putting priorities back', () => {
  it('bumps the version, leaves the term to the primary and the arbiter alone; nothing when they hold already', () => {
    const next = withPriorities(CONFIG_FORMED, { 'mongo-a:27017': 1, 'mongo-b:27017': 1 });
    expect(next).not.toBeNull();
    expect(next).not.toHaveProperty('term');
    expect(next!.version).toBe(2);
    expect((next!.members as { host: string; priority: number }[]).map((m) => [m.host, m.priority])).toEqual([
      ['mongo-a:27017', 1],
      ['mongo-b:27017', 1],
      ['mongo-arbiter:27017', 0],
    ]);
    expect(next!.settings).toEqual(CONFIG_FORMED.settings);
    expect(withPriorities(CONFIG_FORMED, { 'mongo-a:27017': 2, 'mongo-b:27017': 1 })).toBeNull();
  });
});
