import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import type { Registry } from '../../core/registry.ts';
import { type AgentDeps, BOOT_HOST, ChainAgent, FENCE_HOST } from './agent.ts';
import { CHAIN_RECORD, HEAD_RECORD, LEADER_LEASE } from './records.ts';

type Event = { node: string; type: string; data: Record<string, unknown>; t: number };

/**
 * A little world of nodes on one fake clock: which nodes run, which pairs can reach each other
 * (a partition cuts pairs, not nodes), which nodes cannot reach the registry, what each local
 * redis was told, and every agent's events. `run()` ticks every running agent once per check
 * interval, in a fixed order, so races between agents are deterministic. Timers (the lease's
 * deadline, a registry call's timeout) fire as the clock passes them, for nodes that run.
 */
class World {
  private clock = 1_000;
  get now(): number {
    return this.clock;
  }
  set now(t: number) {
    this.clock = t;
    this.fireTimers();
  }
  /** Nodes whose redis and agent run (a killed, stopped or paused node is not here). */
  alive = new Set<string>();
  /** Unordered pairs of nodes that cannot reach each other. */
  private cuts = new Set<string>();
  /**
   * Nodes cut off from the registry: their calls go unanswered and fail after
   * REGISTRY_TIMEOUT_MS (`hang`, a network cut), or fail at once (`refuse`, the registry down).
   */
  registryCut = new Map<string, 'hang' | 'refuse'>();
  /** How far the registry's clock runs ahead of the agents' (drift). */
  registryAhead = 0;
  /** Nodes whose redis hangs (a frozen disk): it answers nothing, its agent runs on. */
  hung = new Set<string>();
  replicaOf = new Map<string, string | null>();
  syncing = new Set<string>();
  events: Event[] = [];
  /** The registry counts its leases on the fake clock. */
  registry = new MemoryRegistry(() => this.clock + this.registryAhead);
  /** The latest agent of each node (a restarted node gets a new one). */
  agents = new Map<string, ChainAgent>();
  /** Each node's server run id: a new one at every (re)start of its server. */
  runIds = new Map<string, string>();
  /** The server run id each node's agent saw when it joined (its marker file). */
  joinedRunIds = new Map<string, string>();
  private starts = 0;
  /** Ordered side effects: REPLICAOF calls, fences, registry writes and leases taken, by node. */
  ops: { node: string; op: 'replicaof' | 'fence' | 'set' | 'lease'; arg: string | null; t: number }[] = [];
  /** Called on every agent sleep (join loops), e.g. to heal a partition after a while. */
  onSleep: ((node: string) => void) | undefined;
  /** After each round of run(): the running nodes whose redis accepts writes (REPLICAOF NO ONE). */
  mastersSeen: string[][] = [];
  private timers: { at: number; node: string; fn: () => void }[] = [];
  /** Ticks still in flight (a call that hangs), by node: run() does not start another meanwhile. */
  private pending = new Map<string, Promise<void>>();
  private gates = new Map<
    string,
    { name: string; open: () => void; opened: Promise<void>; hit: boolean; pending?: Promise<void> }
  >();

  agent(
    self: string,
    opts: { thresholdMs?: number; leaseTtlMs?: number; joinIndex?: number; keepServer?: boolean } = {},
  ): ChainAgent {
    this.alive.add(self);
    // The agent before this one is gone, its timers with it.
    this.timers = this.timers.filter((t) => t.node !== self);
    // A redis that (re)starts boots read-only, a replica of a placeholder, until its agent places
    // it; an agent restarted alone (keepServer) finds its server as it was.
    if (!opts.keepServer) {
      this.replicaOf.set(self, BOOT_HOST);
      this.runIds.set(self, `${self}-${++this.starts}`);
    }
    const call = <T>(fn: () => Promise<T>): Promise<T> => {
      const cut = this.registryCut.get(self);
      if (cut === 'refuse') return Promise.reject(new RegistryUnreachable('connection refused'));
      if (cut === 'hang')
        return new Promise<T>((_, reject) =>
          this.timer(self, REGISTRY_TIMEOUT_MS, () =>
            reject(new RegistryUnreachable(`no answer in ${REGISTRY_TIMEOUT_MS} ms`)),
          ),
        );
      return fn();
    };
    const registry: Registry = {
      get: (name) =>
        call(async () => {
          const gate = this.gates.get(self);
          if (gate && gate.name === name) {
            gate.hit = true;
            await gate.opened;
          }
          return this.registry.get(name);
        }),
      set: (name, value, ttl, ifVersion) =>
        call(async () => {
          const rec = await this.registry.set(name, value, ttl, ifVersion);
          if (rec) this.ops.push({ node: self, op: 'set', arg: `${name}=${value}`, t: this.now });
          return rec;
        }),
      acquireLease: (name, holder, ttl) =>
        call(async () => {
          const lease = await this.registry.acquireLease(name, holder, ttl);
          if (lease) this.ops.push({ node: self, op: 'lease', arg: `${name}#${lease.term}`, t: this.now });
          return lease;
        }),
      getLease: (name) => call(() => this.registry.getLease(name)),
      releaseLease: (name, holder) => call(() => this.registry.releaseLease(name, holder)),
    };
    const deps: AgentDeps = {
      local: {
        ping: async () => this.alive.has(self) && !this.hung.has(self),
        master: async () =>
          this.alive.has(self) && !this.hung.has(self) ? this.replicaOf.get(self) : undefined,
        runId: async () => this.runIds.get(self),
        replicaOf: async (host) => {
          this.replicaOf.set(self, host);
          this.ops.push({ node: self, op: 'replicaof', arg: host, t: this.now });
        },
        fence: async () => {
          // A server booting read-only after a restart is left as it is (it refuses writes already).
          if (this.replicaOf.get(self) !== BOOT_HOST) this.replicaOf.set(self, FENCE_HOST);
          this.ops.push({ node: self, op: 'fence', arg: FENCE_HOST, t: this.now });
        },
        syncInProgress: async () => this.syncing.has(self),
      },
      registry,
      pingNode: async (host) => this.reachable(self, host) && !this.hung.has(host),
      wallNow: () => this.now,
      sleep: async (ms) => {
        this.now += ms;
        this.onSleep?.(self);
      },
      setTimer: (fn, ms) => this.timer(self, ms, fn),
      emit: (type, data = {}) => this.events.push({ node: self, type, data, t: this.now }),
    };
    const thresholdMs = opts.thresholdMs ?? 1000;
    const agent = new ChainAgent(
      {
        self,
        thresholdMs,
        checkIntervalMs: 100,
        headTtlMs: 500,
        leaseTtlMs: opts.leaseTtlMs ?? thresholdMs,
        leaseMarginMs: 250,
        ...(opts.joinIndex !== undefined ? { joinIndex: opts.joinIndex } : {}),
        // The agent's marker survives its restart; it holds the run id of the server it joined beside.
        ...(this.joinedRunIds.has(self) ? { resumeRunId: this.joinedRunIds.get(self)! } : {}),
      },
      deps,
    );
    this.agents.set(self, agent);
    return agent;
  }

  /** A timer of `node`'s agent: it fires once the clock passes it, while the node runs. */
  private timer(node: string, ms: number, fn: () => void): () => void {
    const t = { at: this.now + ms, node, fn };
    this.timers.push(t);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }

  /** Fires the timers that fell due, earliest first; a frozen node's wait until it thaws. */
  private fireTimers(): void {
    for (;;) {
      const due = this.timers
        .filter((t) => t.at <= this.clock && this.alive.has(t.node))
        .sort((x, y) => x.at - y.at)[0];
      if (!due) return;
      this.timers = this.timers.filter((t) => t !== due);
      due.fn();
    }
  }

  reachable(from: string, to: string): boolean {
    return this.alive.has(from) && this.alive.has(to) && !this.cuts.has(pair(from, to));
  }

  /** Cuts every node of `side` off from every node of `others`, both ways. */
  partition(side: string[], others: string[]): void {
    for (const x of side) for (const y of others) if (x !== y) this.cuts.add(pair(x, y));
  }

  heal(): void {
    this.cuts.clear();
    this.registryCut.clear();
  }

  /** SIGKILL: the node stops answering and its agent stops for good. */
  kill(node: string): void {
    this.alive.delete(node);
    this.agents.delete(node);
    this.timers = this.timers.filter((t) => t.node !== node);
  }

  /**
   * The next registry read of `name` by `node` blocks until the returned thaw is called, as a
   * process frozen by docker pause in the middle of a check. The node counts as down meanwhile.
   */
  freezeOnRead(node: string, name: string): () => Promise<void> {
    let open = () => {};
    const opened = new Promise<void>((r) => {
      open = r;
    });
    const gate = { name, opened, open, hit: false } as {
      name: string;
      open: () => void;
      opened: Promise<void>;
      hit: boolean;
      pending?: Promise<void>;
    };
    this.gates.set(node, gate);
    return async () => {
      this.gates.delete(node);
      this.alive.add(node);
      open();
      await gate.pending; // the tick that was frozen finishes with what it read before
    };
  }

  /** Ticks every running agent every 100 ms for `ms`; records who is master after each round. */
  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 100) {
      this.fireTimers(); // a node that thawed meets its overdue timers before its next check
      await settle();
      for (const [name, agent] of this.agents) {
        if (!this.alive.has(name)) continue;
        if (this.pending.has(name)) continue; // its last check still waits on a call
        const gate = this.gates.get(name);
        if (gate?.hit) continue; // frozen in the middle of a tick
        let done = false;
        const ticking = agent.tick().then(
          () => {
            done = true;
          },
          (err: unknown) => {
            done = true;
            const type = err instanceof RegistryUnreachable ? 'registry-timeout' : 'agent-error';
            this.events.push({ node: name, type, data: { error: String(err) }, t: this.now });
          },
        );
        // A tick that hangs (a freeze gate, a registry call that goes unanswered) stays pending;
        // the others go on without it.
        await Promise.race([ticking, settle()]);
        if (!done) {
          if (gate?.hit) {
            gate.pending = ticking;
            this.alive.delete(name);
          } else {
            this.pending.set(name, ticking);
            void ticking.then(() => this.pending.delete(name));
          }
        }
      }
      this.now += 100;
      this.mastersSeen.push(this.masters());
    }
    await settle();
  }

  masters(): string[] {
    return [...this.replicaOf].filter(([n, m]) => m === null && this.alive.has(n)).map(([n]) => n);
  }

  async chain(): Promise<string | undefined> {
    return (await this.registry.get(CHAIN_RECORD))?.value;
  }
  async head(): Promise<string | undefined> {
    return (await this.registry.get(HEAD_RECORD))?.value;
  }
  /** Every value the head record took, in order, from `since` (an index into registry.changes). */
  headValues(since = 0): string[] {
    return this.registry.changes
      .slice(since)
      .filter((c) => c.name === HEAD_RECORD)
      .map((c) => c.value);
  }
  chainValues(since = 0): string[] {
    return this.registry.changes
      .slice(since)
      .filter((c) => c.name === CHAIN_RECORD)
      .map((c) => c.value);
  }
  of(node: string, type?: string): Event[] {
    return this.events.filter((e) => e.node === node && (type === undefined || e.type === type));
  }
  count(type: string): number {
    return this.events.filter((e) => e.type === type).length;
  }
}

/** How long a registry call waits before it fails (HttpRegistry's timeout). */
const REGISTRY_TIMEOUT_MS = 1000;
class RegistryUnreachable extends Error {
  constructor(why: string) {
    super(`registry unreachable: ${why}`);
  }
}

const pair = (x: string, y: string) => (x < y ? `${x}|${y}` : `${y}|${x}`);
/** Lets pending promise chains run (the fake's I/O is all microtasks). */
const settle = () => new Promise<void>((r) => setImmediate(r));

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

  it('started beside a registry and a server still booting, waits for both, then joins', async () => {
    const w2 = new World();
    const a2 = w2.agent('a', { joinIndex: 0 });
    w2.registryCut.set('a', 'refuse');
    w2.hung.add('a');
    let sleeps = 0;
    w2.onSleep = () => {
      sleeps++;
      if (sleeps === 5) w2.hung.delete('a');
      if (sleeps === 12) w2.registryCut.clear();
    };
    await a2.join();
    expect(sleeps).toBeGreaterThanOrEqual(12);
    expect(await w2.chain()).toBe('a');
    expect(await w2.head()).toBe('a');
  });

  it('gives up when the registry never answers', async () => {
    const w2 = new World();
    const a2 = w2.agent('a', { joinIndex: 0 });
    w2.registryCut.set('a', 'refuse');
    await expect(a2.join()).rejects.toThrow(/the registry did not answer within 30000 ms/);
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

  it('a 2-node chain whose master never answered since it attached: no failover, withheld once', async () => {
    w.alive.delete('a');
    await b.tick();
    w.now += 1000;
    await b.tick(); // b is head of b,c
    w.alive.delete('b'); // c never saw b answer
    await c.tick();
    w.now += 1000;
    expect(await c.tick()).toBe('withheld');
    expect(await c.tick()).toBe('withheld');
    expect(w.of('c', 'failover-withheld')).toHaveLength(1);
    expect(w.of('c', 'failover-withheld')[0]!.data).toMatchObject({ master: 'b' });
    expect(await w.chain()).toBe('b,c');
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
    // c checks b (now its master in a 2-node chain) before b dies: seen answering, so it may act alone.
    expect(await c.tick()).toBe('healthy');
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

/** Whole-chain scenarios: every agent ticks every 100 ms on the fake clock. */
describe('chain agent, whole chain', () => {
  let worlds: World[] = [];
  afterEach(() => {
    // A check that threw would make a scenario pass for the wrong reason.
    for (const w of worlds) expect(w.events.filter((e) => e.type === 'agent-error')).toEqual([]);
    worlds = [];
  });
  const world = () => {
    const w = new World();
    worlds.push(w);
    return w;
  };

  async function chainOf(names: string[]): Promise<World> {
    const w = world();
    for (const n of names) await w.agent(n).join();
    await w.run(300); // every agent has seen its master answer
    return w;
  }

  const leaseNow = (w: World) => w.registry.leases.get(LEADER_LEASE);
  /** When the registry last granted `node` the lease (each renewal is a grant). */
  const lastGrant = (w: World, node: string) =>
    w.ops.filter((o) => o.node === node && o.op === 'lease').at(-1)!.t;
  const promotion = (w: World, node: string) =>
    w.ops.find((o) => o.node === node && o.op === 'replicaof' && o.arg === null);

  it.each([
    ['one link cut: the head and the second, the tail reaching both', ['b']],
    ['the head cut off from both replicas, not from the registry', ['b', 'c']],
  ])('%s: the head keeps its lease, nobody takes over, nothing moves', async (_, cutFrom) => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    w.partition(['a'], cutFrom!);
    await w.run(5000);
    // b's threshold ran out long ago, and it has a witness (c): the lease alone holds it back.
    const withheld = w.of('b', 'failover-withheld');
    expect(withheld).toHaveLength(1); // once per episode, not every check
    expect(withheld[0]!.data.reason).toMatch(/the head's lease runs: a holds it \(term 1\)/);
    expect(w.count('failover-decision')).toBe(0);
    expect(w.count('fenced-self')).toBe(0);
    expect(w.headValues(mark)).toEqual([]);
    expect(w.chainValues(mark)).toEqual([]);
    // a took writes all along, alone, under one unbroken term.
    expect(w.mastersSeen.every((m) => m.length === 1 && m[0] === 'a')).toBe(true);
    expect(leaseNow(w)).toMatchObject({ holder: 'a', term: 1 });

    w.heal();
    await w.run(500);
    expect(w.of('b', 'master-reachable-again')).toHaveLength(1);
    expect(await w.chain()).toBe('a,b,c');
    expect(w.masters()).toEqual(['a']);
  });

  it('the head dies under a lease longer than the threshold: the second waits for the lease to run out, takes it, then writes the chain and promotes', async () => {
    const w = world();
    for (const n of ['a', 'b', 'c']) await w.agent(n, { leaseTtlMs: 2500 }).join();
    await w.run(300);
    const mark = w.registry.changes.length;
    w.kill('a'); // node and agent: no more renewals
    const renewed = lastGrant(w, 'a');
    await w.run(4000);
    // Past its threshold (1000 ms) b withholds, once, for the lease.
    const withheld = w.of('b', 'failover-withheld');
    expect(withheld).toHaveLength(1);
    expect(withheld[0]!.data.reason).toMatch(/the head's lease runs: a holds it/);
    expect(withheld[0]!.t - renewed).toBeLessThan(2500);
    // Then, on its first check after the lease ran out: the lease, then the chain record, then REPLICAOF NO ONE.
    const bOps = w.ops.filter((o) => o.node === 'b' && o.t >= renewed);
    const took = bOps.findIndex((o) => o.op === 'lease');
    const wrote = bOps.findIndex((o) => o.op === 'set' && o.arg === `${CHAIN_RECORD}=b,c`);
    const promoted = bOps.findIndex((o) => o.op === 'replicaof' && o.arg === null);
    expect(took).toBeGreaterThanOrEqual(0);
    expect(took).toBeLessThan(wrote);
    expect(wrote).toBeLessThan(promoted);
    expect(bOps[took]!.t).toBeGreaterThanOrEqual(renewed + 2500);
    expect(bOps[took]!.t).toBeLessThanOrEqual(renewed + 2500 + 100);
    expect(leaseNow(w)).toMatchObject({ holder: 'b', term: 2 });
    expect(w.of('b', 'failover-decision')[0]!.data).toMatchObject({ deadMaster: 'a', leaseTerm: 2 });
    expect(w.headValues(mark)).toEqual(['b']);
    expect(await w.chain()).toBe('b,c');
    expect(w.masters()).toEqual(['b']);
  });

  it('the head cut off from its replicas and the registry fences itself at its deadline, while its check hangs on the registry; the second takes over only after the lease ran out', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    const cutAt = w.now;
    w.partition(['a'], ['b', 'c']);
    w.registryCut.set('a', 'hang'); // every registry call of a goes unanswered until its timeout
    await w.run(3000);
    const renewed = lastGrant(w, 'a');
    expect(renewed).toBeLessThanOrEqual(cutAt);
    // a's checks hung on the registry (each call failing only after its timeout): the timer fenced it.
    expect(w.of('a', 'registry-timeout').length).toBeGreaterThan(0);
    const [fenced] = w.of('a', 'fenced-self');
    expect(w.of('a', 'fenced-self')).toHaveLength(1);
    expect(w.replicaOf.get('a')).toBe(FENCE_HOST);
    // At lease - margin after its last renewal was sent (the fake clock moves 100 ms at a time).
    expect(fenced!.t - renewed).toBeGreaterThanOrEqual(1000 - 250);
    expect(fenced!.t - renewed).toBeLessThanOrEqual(1000 - 250 + 100);
    expect(fenced!.data).toMatchObject({
      reason: 'no lease renewal before its deadline',
      leaseTtlMs: 1000,
      leaseMarginMs: 250,
    });
    expect(fenced!.data.lastRenewedAgoMs).toBeGreaterThanOrEqual(750);
    // b promoted only once the registry let the lease go, after a had fenced: never two masters.
    const promoted = promotion(w, 'b')!;
    expect(promoted.t).toBeGreaterThanOrEqual(renewed + 1000);
    expect(promoted.t).toBeGreaterThan(fenced!.t);
    expect(w.mastersSeen.every((m) => m.length <= 1)).toBe(true);
    expect(w.headValues(mark)).toEqual(['b']);
    expect(await w.chain()).toBe('b,c');
    expect(leaseNow(w)).toMatchObject({ holder: 'b', term: 2 });

    w.heal();
    await w.run(2000);
    // Someone else leads: a follows the chain record, outside it, and rejoins at the tail.
    expect(w.of('a', 'stepped-down')[0]!.data).toMatchObject({ fenced: true, replicaOf: 'c' });
    expect(w.of('a', 'fence-lifted')).toEqual([]);
    expect(await w.chain()).toBe('b,c,a');
    expect(w.replicaOf.get('a')).toBe('c');
    expect(w.headValues(mark)).toEqual(['b']);
    expect(w.masters()).toEqual(['b']);
  });

  it.each([
    // The cut comes 100 ms after a renewal: the lease runs at the registry until 900 ms after it.
    ['shorter than the lease: the same term again (continuity)', 700, true],
    ['longer than the lease: a new term, nobody led meanwhile', 2000, false],
  ])(
    'the head loses only the registry (%s): it fences at its deadline, nobody takes over, it resumes once it holds the lease again',
    async (_, outageMs, continuous) => {
      const w = await chainOf(['a', 'b', 'c']);
      const mark = w.registry.changes.length;
      w.registryCut.set('a', 'refuse'); // its registry calls fail at once
      const renewed = lastGrant(w, 'a');
      await w.run(outageMs as number);
      w.heal();
      await w.run(1000);
      const [fenced] = w.of('a', 'fenced-self');
      expect(w.of('a', 'fenced-self')).toHaveLength(1);
      expect(fenced!.t - renewed).toBeLessThanOrEqual(1000 - 250 + 100);
      const [lifted] = w.of('a', 'fence-lifted');
      expect(w.of('a', 'fence-lifted')).toHaveLength(1);
      expect(lifted!.data).toMatchObject({ continuous, term: continuous ? 1 : 2 });
      // No writes between the fence and the lift; its replicas never failed over (they reach it).
      const aOps = w.ops.filter((o) => o.node === 'a' && o.t >= fenced!.t);
      expect(aOps.map((o) => o.op).filter((op) => op !== 'lease')).toEqual(['fence', 'replicaof']);
      expect(aOps.find((o) => o.op === 'replicaof')!.arg).toBeNull();
      expect(w.count('failover-decision')).toBe(0);
      expect(w.headValues(mark)).toEqual([]);
      expect(await w.chain()).toBe('a,b,c');
      expect(w.masters()).toEqual(['a']);
    },
  );

  it('a renewal answered with another term (the lease lapsed unseen): the head fences at once and decides afresh', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    // The registry's clock runs ahead of a's past the margin: a's lease ran out there while a
    // still counts it held, and another holder took it and gave it back in between.
    w.registryAhead = 1500;
    w.registry.leases.acquire(LEADER_LEASE, 'x', 1000);
    w.registry.leases.release(LEADER_LEASE, 'x');
    const opsMark = w.ops.length;
    await w.run(100);
    const [fenced] = w.of('a', 'fenced-self');
    expect(fenced!.data).toMatchObject({
      reason: 'the lease lapsed between two renewals',
      heldTerm: 1,
      term: 3,
    });
    // Fenced before anything else, then back as the head: the chain record still names it first.
    expect(
      w.ops
        .slice(opsMark)
        .filter((o) => o.node === 'a' && o.op !== 'lease')
        .map((o) => [o.op, o.arg]),
    ).toEqual([
      ['fence', FENCE_HOST],
      ['replicaof', null],
    ]);
    expect(w.of('a', 'fence-lifted')[0]!.data).toMatchObject({ continuous: false, term: 3 });
    expect(await w.chain()).toBe('a,b,c');
    expect(w.masters()).toEqual(['a']);
  });

  it('the lease held by another node: the head fences at once, and follows the chain record once it names the new head', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    // The registry's clock ran ahead and b took the lease (as a takeover does, before it writes the chain record).
    w.registryAhead = 1500;
    w.registry.leases.acquire(LEADER_LEASE, 'b', 60_000);
    await w.run(100);
    expect(w.of('a', 'fenced-self')[0]!.data.reason).toBe('the lease is held by b');
    expect(w.replicaOf.get('a')).toBe(FENCE_HOST);
    await w.run(500);
    expect(w.masters()).toEqual([]); // a fenced, b not promoted yet: nobody takes writes
    expect(await w.chain()).toBe('a,b,c');
    // The takeover writes the chain record: b heads it, a steps down and rejoins at the tail.
    await w.registry.set(CHAIN_RECORD, 'b,c', 0, (await w.registry.get(CHAIN_RECORD))!.version);
    await w.run(500);
    expect(w.of('b', 'became-head')).toHaveLength(1);
    expect(await w.chain()).toBe('b,c,a');
    expect(w.headValues(mark)).toEqual(['b']);
    expect(w.masters()).toEqual(['b']);
    expect(w.mastersSeen.every((m) => m.length <= 1)).toBe(true);
  });

  it("the head's redis hangs (a frozen disk) while its agent runs: it stops renewing, fences, and the second takes over once the lease ran out", async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    w.hung.add('a');
    const renewed = lastGrant(w, 'a');
    await w.run(3000);
    expect(w.of('a', 'lease-renewal-withheld')).toHaveLength(1);
    expect(w.of('a', 'fenced-self')).toHaveLength(1);
    expect(promotion(w, 'b')!.t).toBeGreaterThanOrEqual(renewed + 1000);
    expect(w.headValues(mark)).toEqual(['b']);
    expect(await w.chain()).toMatch(/^b,c/);
    w.hung.delete('a');
    await w.run(1000);
    expect(await w.chain()).toBe('b,c,a');
    expect(w.masters()).toEqual(['b']);
  });

  it.each([
    ['the head acts first', ['a', 'b']],
    ['the replica acts first', ['b', 'a']],
  ])(
    '2-node chain cut in two (%s): one side keeps or takes the head, the other steps down; no second move',
    async (_, order) => {
      const w = new World();
      for (const n of ['a', 'b']) await w.agent(n).join();
      // Tick in the given order (the map's insertion order).
      const agents = new Map(w.agents);
      w.agents.clear();
      for (const n of order!) w.agents.set(n, agents.get(n)!);
      await w.run(300);
      const mark = w.registry.changes.length;
      w.partition(['a'], ['b']);
      await w.run(3000);
      const chain = (await w.chain())!;
      expect(chain.split(',')).toHaveLength(1);
      const winner = chain;
      const loser = winner === 'a' ? 'b' : 'a';
      expect(w.headValues(mark).length).toBeLessThanOrEqual(1);
      expect(await w.head()).toBe(winner);
      expect(w.masters()).toEqual([winner]);
      expect(w.replicaOf.get(loser)).toBe(winner);
      w.heal();
      await w.run(1000);
      expect(await w.chain()).toBe(`${winner},${loser}`);
      expect(await w.head()).toBe(winner);
      expect(w.headValues(mark).length).toBeLessThanOrEqual(1);
      expect(w.masters()).toEqual([winner]);
    },
  );

  it('a dead tail is removed by its master, once, and nothing else moves', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    w.kill('c');
    await w.run(2000);
    expect(await w.chain()).toBe('a,b');
    expect(w.of('b', 'removed-dead-tail')).toHaveLength(1);
    expect(w.of('b', 'removed-dead-tail')[0]!.data).toMatchObject({ tail: 'c', chain: ['a', 'b'] });
    expect(w.headValues(mark)).toEqual([]);
    expect(w.chainValues(mark)).toEqual(['a,b']);
  });

  it('the dead tail of a 2-node chain is removed by the head', async () => {
    const w = await chainOf(['a', 'b']);
    w.kill('b');
    await w.run(2000);
    expect(await w.chain()).toBe('a');
    expect(await w.head()).toBe('a');
    expect(w.of('a', 'removed-dead-tail')).toHaveLength(1);
  });

  it('a middle node dies: its successor re-attaches to the head; the head is not touched', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    w.kill('b');
    await w.run(2000);
    expect(await w.chain()).toBe('a,c');
    expect(w.replicaOf.get('c')).toBe('a');
    expect(w.headValues(mark)).toEqual([]);
    expect(w.count('removed-dead-tail')).toBe(0);
  });

  it.each([3, 6])('the head of a %i-node chain is killed: the head moves exactly once', async (n) => {
    const names = ['a', 'b', 'c', 'a1', 'b1', 'c1'].slice(0, n);
    const w = await chainOf(names);
    const mark = w.registry.changes.length;
    w.kill('a');
    await w.run(3000);
    expect(w.headValues(mark)).toEqual(['b']);
    expect(w.count('became-head')).toBe(1);
    expect(await w.chain()).toBe(names.slice(1).join(','));
    expect(w.masters()).toEqual(['b']);
  });

  it('a paused head thaws after its replica took over: it rejoins at the tail, never a second head', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    w.alive.delete('a'); // frozen: no PING answers, no checks
    await w.run(3000);
    expect(await w.chain()).toBe('b,c');
    w.alive.add('a');
    await w.run(500);
    expect(await w.chain()).toBe('b,c,a');
    expect(w.replicaOf.get('a')).toBe('c');
    expect(w.headValues(mark)).toEqual(['b']);
    expect(w.masters()).toEqual(['b']);
  });

  it('a head frozen in the middle of a check does not act on what it read before the freeze', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    // a reads the chain (still a,b,c), then freezes before it reads the head record.
    const thaw = w.freezeOnRead('a', HEAD_RECORD);
    await w.run(3000);
    expect(await w.chain()).toBe('b,c');
    await thaw(); // a sees the head record names b and must not take it back
    expect(await w.head()).toBe('b');
    await w.run(500);
    expect(w.headValues(mark)).toEqual(['b']);
    expect(await w.chain()).toBe('b,c,a');
    expect(w.masters()).toEqual(['b']);
  });

  it('a whole AZ stops and restarts (6 nodes): the chain heals around it, the restarted nodes rejoin at the tail', async () => {
    const names = ['a', 'b', 'c', 'a1', 'b1', 'c1'];
    const w = await chainOf(names);
    const mark = w.registry.changes.length;
    w.kill('a');
    w.kill('a1');
    await w.run(4000);
    expect(await w.chain()).toBe('b,c,b1,c1');
    // Power back: empty redis servers, fresh agents (the join marker is kept: no join index).
    const joining = [w.agent('a').join(), w.agent('a1').join()];
    w.replicaOf.set('a', null);
    w.replicaOf.set('a1', null);
    await Promise.all(joining);
    await w.run(1000);
    expect((await w.chain())!.split(',').slice(0, 4)).toEqual(['b', 'c', 'b1', 'c1']);
    expect((await w.chain())!.split(',').sort()).toEqual([...names].sort());
    expect(w.headValues(mark)).toEqual(['b']);
    expect(w.masters()).toEqual(['b']);
  });

  it('a head restarted empty before the threshold refuses writes before it joins, and never claims the head', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    const opsMark = w.ops.length;
    w.kill('a');
    const a2 = w.agent('a'); // restarted at once: redis is an empty standalone master
    w.replicaOf.set('a', null);
    await a2.join();
    const aOps = w.ops.slice(opsMark).filter((o) => o.node === 'a');
    // REPLICAOF (READONLY from then on) comes before the chain write.
    expect(aOps[0]).toMatchObject({ node: 'a', op: 'replicaof', arg: 'c' });
    expect(aOps.some((o) => o.op === 'set' && o.arg!.startsWith(HEAD_RECORD))).toBe(false);
    await w.run(1000);
    expect(await w.chain()).toBe('b,c,a');
    expect(w.headValues(mark)).toEqual(['b']);
    expect(w.masters()).toEqual(['b']);
  });

  it('a restarted node whose tail it cannot reach waits, read-only, and joins once it can', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    w.kill('c');
    await w.run(2000); // b removes the dead tail
    expect(await w.chain()).toBe('a,b');
    const c2 = w.agent('c');
    w.replicaOf.set('c', null);
    w.partition(['c'], ['b']);
    let sleeps = 0;
    w.onSleep = (node) => {
      if (node === 'c' && ++sleeps === 20) w.heal();
    };
    await c2.join();
    expect(sleeps).toBeGreaterThanOrEqual(20);
    expect(w.of('c', 'join-withheld')).toHaveLength(1);
    expect(await w.chain()).toBe('a,b,c');
    expect(w.replicaOf.get('c')).toBe('b');
  });

  it('a node cut off from everyone withholds: no failover, no tail removal', async () => {
    const w = await chainOf(['a', 'b', 'c']);
    const mark = w.registry.changes.length;
    w.partition(['b'], ['a', 'c']);
    await w.run(3000);
    // c cannot reach b but reaches a: it removes b. b sees nobody: it removes no one.
    expect(await w.chain()).toBe('a,c');
    expect(w.of('b', 'failover-decision')).toEqual([]);
    expect(w.of('b', 'removed-dead-tail')).toEqual([]);
    expect(w.of('b', 'failover-withheld').length + w.of('b', 'tail-removal-withheld').length).toBeGreaterThan(
      0,
    );
    expect(w.headValues(mark)).toEqual([]);
    w.heal();
    await w.run(1000);
    expect(await w.chain()).toBe('a,c,b');
    expect(w.masters()).toEqual(['a']);
  });
});

describe('chain agent restarts', () => {
  it('an agent restarted beside a running server resumes its place: the head does not move', async () => {
    const w = new World();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => w.agent(n));
    for (const x of [a!, b!, c!]) await x.join();
    // Only a's agent restarts (its process killed): its redis keeps running as the head, and the
    // agent's marker holds that server's run id.
    w.joinedRunIds.set('a', w.runIds.get('a')!);
    const a2 = w.agent('a', { keepServer: true });
    await a2.join();
    expect(await w.chain()).toBe('a,b,c');
    expect(await w.head()).toBe('a');
    expect(w.events.filter((e) => e.node === 'a').map((e) => e.type)).toContain('resumed');
  });

  it('a server restarted under its agent (empty, read-only) leaves the chain and rejoins at the tail', async () => {
    const w = new World();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => w.agent(n));
    for (const x of [a!, b!, c!]) await x.join();
    w.replicaOf.set('b', '127.0.0.1'); // b's redis-server killed and started again by its supervisor
    expect(await b!.tick()).not.toBe('healthy');
    expect(w.events.find((e) => e.node === 'b' && e.type === 'local-server-restarted')).toBeDefined();
    expect(await w.chain()).toBe('a,c,b');
    expect(w.replicaOf.get('b')).toBe('c');
  });
});
