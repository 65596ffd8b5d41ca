import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../registry/memory.ts';
import { CHAIN_RECORD, HEAD_RECORD } from '../registry/protocol.ts';
import { type AgentDeps, ChainAgent } from './agent.ts';

/** A little world of nodes: which are alive, what each local redis was told, one clock. */
class World {
  now = 1_000;
  alive = new Set<string>();
  replicaOf = new Map<string, string | null>();
  syncing = new Set<string>();
  events: { node: string; type: string; data: Record<string, unknown> }[] = [];
  registry = new MemoryRegistry();

  agent(self: string, opts: { thresholdMs?: number; joinIndex?: number } = {}): ChainAgent {
    this.alive.add(self);
    const deps: AgentDeps = {
      local: {
        ping: async () => this.alive.has(self),
        replicaOf: async (host) => {
          this.replicaOf.set(self, host);
        },
        syncInProgress: async () => this.syncing.has(self),
      },
      registry: this.registry,
      pingNode: async (host) => this.alive.has(host),
      wallNow: () => this.now,
      sleep: async (ms) => {
        this.now += ms;
      },
      emit: (type, data = {}) => this.events.push({ node: self, type, data }),
    };
    return new ChainAgent(
      {
        self,
        thresholdMs: opts.thresholdMs ?? 1000,
        checkIntervalMs: 100,
        headTtlMs: 500,
        ...(opts.joinIndex !== undefined ? { joinIndex: opts.joinIndex } : {}),
      },
      deps,
    );
  }

  async chain(): Promise<string | undefined> {
    return (await this.registry.get(CHAIN_RECORD))?.value;
  }
  async head(): Promise<string | undefined> {
    return (await this.registry.get(HEAD_RECORD))?.value;
  }
}

describe('chain agent', () => {
  let w: World;
  let a: ChainAgent;
  let b: ChainAgent;
  let c: ChainAgent;

  beforeEach(async () => {
    w = new World();
    a = w.agent('a');
    b = w.agent('b');
    c = w.agent('c');
    for (const x of [a, b, c]) await x.join();
  });

  it('joins at the tail: the first becomes head, the others replicate from the tail', async () => {
    expect(await w.chain()).toBe('a,b,c');
    expect(await w.head()).toBe('a');
    expect(w.replicaOf.get('a')).toBeNull();
    expect(w.replicaOf.get('b')).toBe('a');
    expect(w.replicaOf.get('c')).toBe('b');
    expect((await w.registry.get(HEAD_RECORD))?.ttlMs).toBe(500);
  });

  it('waits for its place when given a join index', async () => {
    const w2 = new World();
    const second = w2.agent('b', { joinIndex: 1 });
    const first = w2.agent('a', { joinIndex: 0 });
    const joining = second.join();
    await first.join();
    await joining;
    expect(await w2.chain()).toBe('a,b');
  });

  it('does nothing while its master answers', async () => {
    expect(await b.tick()).toBe('healthy');
    expect(await a.tick()).toBe('head');
    expect(w.events.filter((e) => e.type === 'failover-decision')).toEqual([]);
  });

  it('the head dies: its replica waits out the threshold, then becomes head and moves the record', async () => {
    w.alive.delete('a');
    expect(await b.tick()).toBe('suspect');
    w.now += 999;
    expect(await b.tick()).toBe('suspect');
    w.now += 1;
    expect(await b.tick()).toBe('failover');
    expect(w.replicaOf.get('b')).toBeNull();
    expect(await w.head()).toBe('b');
    expect(await w.chain()).toBe('b,c');
    expect(b.master).toBeNull();
    expect(w.events.filter((e) => e.node === 'b').map((e) => e.type)).toEqual([
      'joined',
      'master-unreachable',
      'failover-decision',
      'became-head',
      'head-record-moved',
    ]);
    expect(w.events.find((e) => e.node === 'b' && e.type === 'head-record-moved')?.data).toMatchObject({
      from: 'a',
      to: 'b',
    });
    // c keeps replicating from b, which is now the head.
    expect(await c.tick()).toBe('healthy');
  });

  it('a middle node dies: the next re-attaches to its grand-master', async () => {
    w.alive.delete('b');
    await c.tick();
    w.now += 1000;
    expect(await c.tick()).toBe('failover');
    expect(w.replicaOf.get('c')).toBe('a');
    expect(await w.chain()).toBe('a,c');
    expect(await w.head()).toBe('a');
    expect(w.events.find((e) => e.type === 'reattached')?.data).toEqual({ from: 'b', to: 'a' });
  });

  it('a master that comes back before the threshold is kept (flapping resets the clock)', async () => {
    w.alive.delete('a');
    await b.tick();
    w.now += 600;
    w.alive.add('a');
    expect(await b.tick()).toBe('healthy');
    w.alive.delete('a');
    w.now += 600;
    expect(await b.tick()).toBe('suspect');
    expect(w.events.some((e) => e.type === 'master-reachable-again')).toBe(true);
    expect(await w.head()).toBe('a');
  });

  it('defers while a sync is in progress', async () => {
    w.alive.delete('a');
    w.syncing.add('b');
    await b.tick();
    w.now += 2000;
    expect(await b.tick()).toBe('deferred');
    expect(await b.tick()).toBe('deferred');
    expect(w.events.filter((e) => e.type === 'failover-deferred')).toHaveLength(1);
    w.syncing.delete('b');
    expect(await b.tick()).toBe('failover');
  });

  it('two failures in a row heal the chain twice', async () => {
    w.alive.delete('a');
    await b.tick();
    w.now += 1000;
    await b.tick();
    w.alive.delete('b');
    await c.tick();
    w.now += 1000;
    expect(await c.tick()).toBe('failover');
    expect(await w.head()).toBe('c');
    expect(await w.chain()).toBe('c');
  });

  it('a head declared dead while paused rejoins at the tail when it wakes up', async () => {
    await w.registry.set(HEAD_RECORD, 'b', 500);
    await w.registry.set(CHAIN_RECORD, 'b,c', 0);
    expect(await a.tick()).toBe('rejoined');
    expect(w.replicaOf.get('a')).toBe('c');
    expect(await w.chain()).toBe('b,c,a');
    expect(a.master).toBe('c');
    expect(w.events.filter((e) => e.node === 'a').map((e) => e.type)).toContain('removed-from-chain');
  });

  it('a restarted tail rejoins behind the others, never behind itself', async () => {
    const c2 = w.agent('c');
    await c2.join();
    expect(await w.chain()).toBe('a,b,c');
    expect(w.replicaOf.get('c')).toBe('b');
  });

  it('a head restarted before the threshold rejoins at the tail and its replica takes over: no cycle', async () => {
    const a2 = w.agent('a');
    await a2.join(); // the restarted, empty head
    expect(await w.chain()).toBe('b,c,a');
    expect(w.replicaOf.get('a')).toBe('c');
    expect(await b.tick()).toBe('reattached');
    expect(w.replicaOf.get('b')).toBeNull();
    expect(await w.head()).toBe('b');
    expect(await c.tick()).toBe('healthy');
    expect(await a2.tick()).toBe('healthy');
    // Exactly one node replicates from nobody.
    expect([...w.replicaOf.values()].filter((m) => m === null)).toHaveLength(1);
  });

  it('a new head whose head-record write failed claims it again on its next check', async () => {
    w.alive.delete('a');
    await b.tick();
    w.now += 1000;
    const original = w.registry.set.bind(w.registry);
    let failed = false;
    w.registry.set = async (name, value, ttl, ifVersion) => {
      if (!failed && name === HEAD_RECORD) {
        failed = true;
        throw new Error('registry unreachable');
      }
      return original(name, value, ttl, ifVersion);
    };
    await expect(b.tick()).rejects.toThrow(/registry unreachable/);
    expect(await w.head()).toBe('a');
    expect(await b.tick()).toBe('head');
    expect(await w.head()).toBe('b');
    expect(await w.chain()).toBe('b,c');
  });

  it('retries when another agent changed the chain first', async () => {
    w.alive.delete('a');
    await b.tick();
    w.now += 1000;
    // Someone else writes the chain record between b's read and write: b must re-read.
    const original = w.registry.set.bind(w.registry);
    let raced = false;
    w.registry.set = async (name, value, ttl, ifVersion) => {
      if (!raced && name === CHAIN_RECORD) {
        raced = true;
        await original(CHAIN_RECORD, 'a,b,c', 0);
      }
      return original(name, value, ttl, ifVersion);
    };
    expect(await b.tick()).toBe('failover');
    expect(await w.chain()).toBe('b,c');
  });
});
