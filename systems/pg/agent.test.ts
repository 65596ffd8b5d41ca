import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { type PgAgentDeps, PromotionAgent, parseLsn } from './agent.ts';
import { LEADER_LEASE, WRITER_RECORD } from './records.ts';

const NODES = ['pg-a', 'pg-b', 'pg-c', 'pg-d'];

/**
 * Postgres nodes in a fake world on a fake clock: who is up, who sees whom (the registry is
 * reached unless `offRegistry`), each one's role and WAL position, and the agents' timers.
 */
class World {
  now = 1_000;
  registry = new MemoryRegistry(() => this.now);
  up: Set<string>;
  cut = new Set<string>(); // "x|y": x and y cannot reach each other
  offRegistry = new Set<string>();
  frozen = new Set<string>(); // answers, commits nothing
  primary = new Set(['pg-a']);
  follows = new Map<string, string | null>();
  lsn = new Map<string, bigint>();
  fenced = new Set<string>();
  stoppedNow: string[] = [];
  promoteRefused = new Set<string>();
  forked = new Set<string>();
  controls: { node: string; role: string; restart: boolean }[] = [];
  events: { node: string; type: string; data: Record<string, unknown> }[] = [];
  timers: { at: number; fn: () => void; live: boolean; node: string }[] = [];
  /** How long the registry takes to answer a node's lease request (ms of the fake clock). */
  slowLease = new Map<string, number>();
  /** Nodes whose supervisor marked the data directory unfit (a re-clone cut off). */
  unfit = new Set<string>();
  /** Each node's dead-man switch as its agent armed it: when, and its deadline, per renewal. */
  leaseDeadlines = new Map<string, { at: number; deadline: number }[]>();
  /** Nodes whose agent is gone (stopped): its timers never fire. */
  agentGone = new Set<string>();

  constructor(
    readonly nodes = NODES.slice(0, 3),
    readonly replication: 'async' | 'sync' = 'async',
  ) {
    this.up = new Set(nodes);
    for (const n of nodes.slice(1)) {
      this.follows.set(n, 'pg-a');
      this.lsn.set(n, 100n);
    }
  }

  sees(x: string, y: string): boolean {
    return this.up.has(y) && !this.cut.has(`${x}|${y}`) && !this.cut.has(`${y}|${x}`);
  }

  agent(self: string, promotion: 'auto' | 'manual' = 'auto'): PromotionAgent {
    const offline = async () => {
      if (this.offRegistry.has(self)) throw new Error('fetch failed');
    };
    const reg = this.registry;
    const deps: PgAgentDeps = {
      local: {
        isPrimary: async () => (this.up.has(self) ? this.primary.has(self) : null),
        commits: async () => this.up.has(self) && !this.frozen.has(self),
        followedHost: async () => this.follows.get(self) ?? null,
        streaming: async () => !this.forked.has(self) && this.sees(self, this.follows.get(self) ?? ''),
        position: async () => this.lsn.get(self) ?? null,
        repoint: async (host) => {
          this.follows.set(self, host);
        },
        promote: async () => {
          if (this.promoteRefused.has(self)) return false;
          this.primary.add(self);
          this.follows.set(self, null);
          return true;
        },
        fence: async () => {
          this.fenced.add(self);
        },
      },
      registry: {
        get: (n) => offline().then(() => reg.get(n)),
        set: (...a) => offline().then(() => reg.set(...a)),
        acquireLease: async (...a) => {
          await offline();
          // A slow answer: the clock runs on (and the agent's timers fire) while it is on its way.
          const slow = this.slowLease.get(self);
          if (slow) {
            this.now += slow;
            this.fireDue();
          }
          return reg.acquireLease(...a);
        },
        getLease: (n) => offline().then(() => reg.getLease(n)),
        releaseLease: (...a) => offline().then(() => reg.releaseLease(...a)),
      },
      peerPosition: async (host) =>
        this.sees(self, host) && !this.primary.has(host) ? (this.lsn.get(host) ?? null) : null,
      control: async (role, restart) => {
        this.controls.push({ node: self, role, restart });
      },
      stopNow: () => {
        this.stoppedNow.push(self);
        this.up.delete(self);
      },
      dataUnfit: () => this.unfit.has(self),
      armWatchdog: (ms) => {
        this.leaseDeadlines.set(self, [
          ...(this.leaseDeadlines.get(self) ?? []),
          { at: this.now, deadline: ms },
        ]);
      },
      wallNow: () => this.now,
      setTimer: (fn, ms) => {
        const t = { at: this.now + ms, fn, live: true, node: self };
        this.timers.push(t);
        return () => {
          t.live = false;
        };
      },
      sleep: async (ms) => {
        this.now += ms;
      },
      emit: (type, data = {}) => this.events.push({ node: self, type, data }),
    };
    return new PromotionAgent(
      {
        self,
        peers: this.nodes,
        leaseMs: 1000,
        leaseMarginMs: 200,
        checkIntervalMs: 100,
        writerTtlMs: 1000,
        promotion,
        replication: this.replication,
      },
      deps,
    );
  }

  async writer(): Promise<string | undefined> {
    return (await this.registry.get(WRITER_RECORD))?.value;
  }

  /** Every agent checks once, then the clock moves on and due timers fire. */
  async round(agents: PromotionAgent[], ms = 100): Promise<void> {
    // As the agent's loop does: an error ends the check, not the agent.
    for (const a of agents) await a.tick().catch(() => 'error');
    this.now += ms;
    this.fireDue();
  }

  fireDue(): void {
    for (const t of this.timers)
      if (t.live && t.at <= this.now && !this.agentGone.has(t.node)) {
        t.live = false;
        t.fn();
      }
  }

  async rounds(agents: PromotionAgent[], n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.round(agents);
  }

  of(type: string): string[] {
    return this.events.filter((e) => e.type === type).map((e) => e.node);
  }
}

async function started(w = new World()) {
  const agents = w.nodes.map((n) => w.agent(n));
  await w.round(agents);
  return { w, agents };
}

describe('promotion agent: the lease', () => {
  it('the first primary takes the lease and claims the writer record', async () => {
    const { w } = await started();
    expect(await w.writer()).toBe('pg-a');
    expect((await w.registry.getLease(LEADER_LEASE))?.holder).toBe('pg-a');
    expect(w.of('claimed-writer')).toEqual(['pg-a']);
  });

  it('primary killed: nobody promotes before the lease runs out; then the most advanced standby does, exactly one', async () => {
    const { w, agents } = await started();
    w.lsn.set('pg-c', 120n);
    const killedAt = w.now;
    w.up.delete('pg-a');
    let promotedAt: number | undefined;
    for (let i = 0; i < 30 && promotedAt === undefined; i++) {
      await w.round(agents.slice(1));
      if (w.primary.has('pg-c')) promotedAt = w.now;
    }
    // The lease (1000 ms) was renewed at most one check before the kill.
    expect(promotedAt! - killedAt).toBeGreaterThanOrEqual(1000 - 100);
    await w.rounds(agents.slice(1), 3);
    expect(await w.writer()).toBe('pg-c');
    expect(w.of('became-primary')).toEqual(['pg-c']);
    expect(w.events.find((e) => e.type === 'promotion-deferred')).toMatchObject({
      node: 'pg-b',
      data: { to: 'pg-c' },
    });
    expect(w.follows.get('pg-b')).toBe('pg-c');
  });

  it('equal positions: the lower name promotes, the other defers', async () => {
    const { w, agents } = await started();
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 20);
    expect(await w.writer()).toBe('pg-b');
    expect(w.primary.has('pg-c')).toBe(false);
  });

  it('a primary cut off from its standbys but renewing its lease keeps the lead: nobody promotes', async () => {
    const { w, agents } = await started();
    w.cut.add('pg-a|pg-b').add('pg-a|pg-c');
    await w.rounds(agents, 50);
    expect(await w.writer()).toBe('pg-a');
    expect([...w.primary]).toEqual(['pg-a']);
    expect(w.of('failover-decision')).toEqual([]);
    expect(w.stoppedNow).toEqual([]);
  });

  it('a primary that cannot reach the registry stops its server before its lease runs out, then a standby takes over', async () => {
    const { w, agents } = await started();
    const lastRenewal = w.now - 100; // the round that just ran renewed it
    w.offRegistry.add('pg-a');
    let stoppedAt: number | undefined;
    for (let i = 0; i < 30; i++) {
      await w.round(agents);
      if (stoppedAt === undefined && w.stoppedNow.includes('pg-a')) stoppedAt = w.now;
    }
    expect(w.of('fenced-self')).toEqual(['pg-a']);
    // Stopped by the deadline: the lease less the margin, counted from before the last renewal.
    expect(stoppedAt! - lastRenewal).toBeLessThanOrEqual(1000 - 200 + 100);
    const taken = w.events.find((e) => e.type === 'failover-decision');
    expect(taken?.node).toBe('pg-b');
    // The registry ran the lease out only after pg-a had stopped.
    expect(w.primary.has('pg-b')).toBe(true);
  });

  it("every renewal arms the supervisor's dead-man switch at the lease's deadline; only the holder arms it", async () => {
    const { w, agents } = await started();
    await w.rounds(agents, 5);
    const armed = (w.leaseDeadlines.get('pg-a') ?? []).map((a) => a.deadline);
    // One per check (6 rounds): the agent's own deadline (the renewal's sending time + the lease
    // - the margin), then half the margin, for an agent alive to fence first.
    expect(armed).toHaveLength(6);
    expect(armed).toEqual(armed.map((_, i) => 1_000 + i * 100 + (1000 - 200) + 100));
    // The registry's lease outlasts the switch by half the margin at least.
    const lease = await w.registry.getLease(LEADER_LEASE);
    expect(w.now + lease!.remainingMs).toBeGreaterThanOrEqual(armed.at(-1)! + 100);
    expect(w.leaseDeadlines.has('pg-b')).toBe(false);
    expect(w.leaseDeadlines.has('pg-c')).toBe(false);
  });

  it('a primary whose agent is gone: the switch it armed last comes due half a margin before a standby may promote', async () => {
    const { w, agents } = await started();
    await w.rounds(agents, 3);
    // pg-a's agent stops (SIGTERM, hung): no renewal, no fence from it; its server runs on.
    w.agentGone.add('pg-a');
    let promotedAt: number | undefined;
    for (let i = 0; i < 40 && promotedAt === undefined; i++) {
      await w.round(agents.slice(1));
      if (w.primary.has('pg-b')) promotedAt = w.now;
    }
    expect(w.stoppedNow).toEqual([]); // nobody fenced pg-a: only its supervisor's switch can
    const last = w.leaseDeadlines.get('pg-a')!.at(-1)!.deadline;
    expect(promotedAt).toBeDefined();
    expect(promotedAt! - last).toBeGreaterThanOrEqual(100);
    // The standby that promoted armed its own switch before it asked to promote.
    expect(w.leaseDeadlines.get('pg-b')![0]!.at).toBeLessThan(promotedAt!);
  });

  it('a primary whose disk is frozen (it commits nothing) does not renew, and is replaced', async () => {
    const { w, agents } = await started();
    w.frozen.add('pg-a');
    await w.rounds(agents, 30);
    expect(w.of('primary-unhealthy')).toEqual(['pg-a']);
    expect(w.of('fenced-self')).toEqual(['pg-a']);
    expect(await w.writer()).toBe('pg-b');
  });

  it('the old primary that finds the lease held by another is fenced and asks to come back as a standby', async () => {
    const { w, agents } = await started();
    // pg-a stalls (a long GC, a paused container) past its lease, without its timer firing.
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 20);
    expect((await w.registry.getLease(LEADER_LEASE))?.holder).toBe('pg-b');
    w.up.add('pg-a');
    await agents[0]!.tick();
    expect(w.fenced.has('pg-a')).toBe(true);
    expect(w.controls.filter((c) => c.node === 'pg-a').at(-1)).toEqual({
      node: 'pg-a',
      role: 'standby pg-b',
      restart: true,
    });
    await agents[0]!.tick();
    expect(w.of('fenced')).toEqual(['pg-a']);
  });

  it('after a power loss the node is told its role from the registry, before its server starts', async () => {
    const { w, agents } = await started();
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 20);
    const back = w.agent('pg-a');
    await back.tick();
    expect(w.controls.filter((c) => c.node === 'pg-a').at(-1)).toEqual({
      node: 'pg-a',
      role: 'standby pg-b',
      restart: false,
    });
  });

  it('a node whose data directory is unfit never takes or keeps the lease: its server down, a standby takes over', async () => {
    const { w, agents } = await started();
    // pg-a leads; its server goes down with its data unfit (its supervisor's re-clone was cut
    // off), and the writer record still names it. Before, its agent renewed the lease and told
    // it to lead on every check: the supervisor refused, and no standby could ever promote.
    const before = w.controls.length;
    w.up.delete('pg-a');
    w.unfit.add('pg-a');
    for (let i = 0; i < 30 && !w.primary.has('pg-b'); i++) await w.round(agents);
    expect(w.primary.has('pg-b')).toBe(true);
    expect(w.controls.slice(before).filter((c) => c.node === 'pg-a' && c.role === 'primary')).toHaveLength(0);
    expect(w.events.filter((e) => e.node === 'pg-a' && e.type === 'lease-declined')).toHaveLength(1);
    await w.rounds(agents, 3);
    // Then it is told to follow the new primary (by a new base backup, its supervisor's part).
    expect(w.controls.filter((c) => c.node === 'pg-a').at(-1)).toMatchObject({ role: 'standby pg-b' });
  });

  it('while its server is down the agent gives the role on every check (a supervisor that booted cleared it), announced once', async () => {
    const { w, agents } = await started();
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 20);
    const back = w.agent('pg-a');
    await back.tick();
    await back.tick();
    await back.tick();
    const given = w.controls.filter((c) => c.node === 'pg-a' && c.role === 'standby pg-b');
    expect(given).toHaveLength(3);
    expect(w.events.filter((e) => e.node === 'pg-a' && e.type === 'role-set').at(-1)?.data).toEqual({
      role: 'standby pg-b',
      restart: false,
    });
    expect(
      w.events.filter((e) => e.node === 'pg-a' && e.type === 'role-set' && e.data.role === 'standby pg-b'),
    ).toHaveLength(1);
  });

  it('registry lost by everyone: the primary fences itself; when it is back, a standby takes over first; a lone old primary takes the lease back after its grace', async () => {
    const w = new World();
    const { agents } = await started(w);
    w.offRegistry.add('pg-a').add('pg-b').add('pg-c'); // the registry is gone for everyone
    await w.rounds(agents, 20);
    expect(w.of('fenced-self')).toEqual(['pg-a']);
    // The standbys reach it again first: one of them takes over.
    w.offRegistry.delete('pg-b');
    w.offRegistry.delete('pg-c');
    await w.rounds(agents, 5);
    expect(w.of('failover-decision')).toEqual(['pg-b']);
    // Another world: only the old primary reaches the registry again. It waits two leases
    // (a standby may be about to take over), then takes the lease back.
    const w2 = new World();
    const { agents: a2 } = await started(w2);
    w2.offRegistry.add('pg-a').add('pg-b').add('pg-c');
    while (w2.of('fenced-self').length === 0) await w2.round(a2);
    const fencedAt = w2.now;
    const roles = () =>
      w2.controls
        .slice(seen)
        .filter((c) => c.node === 'pg-a')
        .map((c) => c.role);
    const seen = w2.controls.length;
    w2.offRegistry.delete('pg-a');
    await w2.rounds(a2, 8);
    expect(roles()).toEqual([]);
    await w2.rounds(a2, 25);
    expect(w2.now - fencedAt).toBeGreaterThan(2000);
    // Given again on every check while its server is down: one role, never another.
    expect(new Set(roles())).toEqual(new Set(['primary']));
    expect(w2.of('role-set').filter((n) => n === 'pg-a')).toHaveLength(2); // at the start, and after its grace
  });

  it('a renewal granted after the fence fired: the primary restarts at once in its lease, which it keeps renewing while its server is down', async () => {
    const { w, agents } = await started();
    const a = agents[0]!;
    // pg-a's renewals fail until 150 ms of its lease are left; the next one is answered 100 ms
    // late: the fence fires while it is on its way, and the registry still grants it.
    w.offRegistry.add('pg-a');
    while ((a.lease.leftMs() ?? 0) > 150) await w.round(agents);
    w.offRegistry.delete('pg-a');
    w.slowLease.set('pg-a', 100);
    await a.tick();
    w.slowLease.delete('pg-a');
    expect(w.of('fenced-self')).toEqual(['pg-a']);
    expect(w.stoppedNow).toEqual(['pg-a']);
    expect(a.lease.holds()).toBe(true);
    // Its supervisor takes a second to bring the server back as a primary once told to.
    let toldAt: number | null = null;
    for (let i = 0; i < 30; i++) {
      const last = w.controls.filter((c) => c.node === 'pg-a').at(-1);
      if (last?.role === 'primary' && toldAt === null && !w.up.has('pg-a')) toldAt = w.now;
      if (toldAt !== null && w.now - toldAt >= 1000 && !w.up.has('pg-a')) w.up.add('pg-a');
      await w.round(agents);
    }
    expect(toldAt).not.toBeNull();
    expect(w.up.has('pg-a')).toBe(true);
    // Fenced once, never again; nobody else took over; the lease and the writer record are its.
    expect(w.of('fenced-self')).toEqual(['pg-a']);
    expect(w.of('failover-decision')).toEqual([]);
    expect((await w.registry.getLease(LEADER_LEASE))?.holder).toBe('pg-a');
    expect(await w.writer()).toBe('pg-a');
  });

  it('a standby cut off from everyone never promotes', async () => {
    const { w, agents } = await started();
    w.up.delete('pg-a');
    w.cut.add('pg-c|pg-b');
    w.lsn.set('pg-c', 200n);
    w.lsn.set('pg-b', 100n);
    await w.rounds(agents.slice(1), 20);
    // Neither sees another standby: each may be the one cut off.
    expect(w.of('failover-withheld').sort()).toEqual(['pg-b', 'pg-c']);
    expect(w.primary.has('pg-b') || w.primary.has('pg-c')).toBe(false);
  });

  it('position is the larger of received and replayed (a restarted standby is not taken for behind)', async () => {
    // The agent compares what position() says: the SQL takes greatest(receive, replay).
    const { w, agents } = await started();
    w.lsn.set('pg-b', 300n); // replayed 300, received only its segment start: position 300
    w.lsn.set('pg-c', 250n);
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 20);
    expect(await w.writer()).toBe('pg-b');
  });

  it('pg_promote refused: the lease is given back and the node does not claim the writer record', async () => {
    const { w, agents } = await started();
    w.promoteRefused.add('pg-b');
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 12);
    expect(w.of('promotion-failed')).toContain('pg-b');
    expect(w.of('became-primary')).not.toContain('pg-b');
    expect(await w.writer()).not.toBe('pg-b');
  });

  it('with manual promotion the agents wait for the operator', async () => {
    const w = new World();
    const agents = w.nodes.map((n) => w.agent(n, 'manual'));
    await w.round(agents);
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 20);
    expect(await w.writer()).toBe('pg-a');
    expect(w.of('promotion-left-to-operator')).toHaveLength(2);
    // The runbook takes the lease for pg-b: its agent promotes it and renews from then on.
    await w.registry.acquireLease(LEADER_LEASE, 'pg-b', 1000);
    await w.registry.set(WRITER_RECORD, 'pg-b', 1000);
    await w.rounds(agents.slice(1), 20);
    expect(w.primary.has('pg-b')).toBe(true);
    expect((await w.registry.getLease(LEADER_LEASE))?.holder).toBe('pg-b');
    expect((await w.registry.getLease(LEADER_LEASE))!.remainingMs).toBeGreaterThan(0);
  });

  it('a standby that cannot stream from the new primary (it was ahead of it) is rewound onto it', async () => {
    const w = new World();
    const agents = w.nodes.map((n) => w.agent(n, 'manual'));
    await w.round(agents);
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 12);
    await w.registry.acquireLease(LEADER_LEASE, 'pg-b', 1000);
    await w.registry.set(WRITER_RECORD, 'pg-b', 1000);
    w.forked.add('pg-c');
    await w.rounds(agents.slice(1), 80);
    expect(w.of('rewinding')).toEqual(['pg-c']);
    expect(w.controls.filter((c) => c.node === 'pg-c' && c.restart).at(-1)?.role).toBe('standby pg-b rewind');
  });

  it('reads WAL positions', () => {
    expect(parseLsn('0/3000060')).toBe(0x3000060n);
    expect(parseLsn('1/0')! > parseLsn('0/FFFFFFFF')!).toBe(true);
    expect(parseLsn(null)).toBeNull();
  });
});

describe('promotion agent: synchronous replication', () => {
  it('four nodes, ANY 1: a standby that cannot see every other standby waits instead of losing commits', async () => {
    const w = new World(NODES, 'sync');
    const { agents } = await started(w);
    // pg-b holds the acknowledged commits; pg-a (primary) and pg-b lose power; c and d lag.
    w.lsn.set('pg-b', 500n);
    w.lsn.set('pg-c', 300n);
    w.lsn.set('pg-d', 200n);
    w.up.delete('pg-a');
    w.up.delete('pg-b');
    await w.rounds(agents.slice(2), 30);
    expect(w.primary.has('pg-c') || w.primary.has('pg-d')).toBe(false);
    expect(w.events.find((e) => e.type === 'failover-withheld')?.data.reason).toMatch(
      /pg-b may hold acknowledged commits/,
    );
    // pg-b comes back: it is the most advanced, and promotes.
    w.up.add('pg-b');
    await w.rounds(agents.slice(1), 20);
    expect(await w.writer()).toBe('pg-b');
  });

  it('three nodes, sync: the standby that sees the other one and is ahead promotes', async () => {
    const w = new World(NODES.slice(0, 3), 'sync');
    const { agents } = await started(w);
    w.lsn.set('pg-c', 150n);
    w.up.delete('pg-a');
    await w.rounds(agents.slice(1), 25);
    expect(await w.writer()).toBe('pg-c');
  });
});
