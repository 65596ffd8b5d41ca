import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { type PgAgentDeps, PromotionAgent, parseLsn } from './agent.ts';
import { WRITER_RECORD } from './records.ts';

/** Three Postgres nodes in a fake world: who is up, who sees whom, each one's role and WAL. */
class World {
  now = 1_000;
  registry = new MemoryRegistry();
  up = new Set(['pg-a', 'pg-b', 'pg-c']);
  cut = new Set<string>(); // "x|y": x and y cannot reach each other
  primary = new Set(['pg-a']);
  follows = new Map<string, string | null>([
    ['pg-b', 'pg-a'],
    ['pg-c', 'pg-a'],
  ]);
  lsn = new Map<string, bigint>([
    ['pg-b', 100n],
    ['pg-c', 100n],
  ]);
  fenced = new Set<string>();
  /** Standbys whose history went past the new primary's fork point: they cannot stream. */
  forked = new Set<string>();
  controls: { node: string; role: string; restart: boolean }[] = [];
  events: { node: string; type: string; data: Record<string, unknown> }[] = [];

  sees(x: string, y: string): boolean {
    return this.up.has(y) && !this.cut.has(`${x}|${y}`) && !this.cut.has(`${y}|${x}`);
  }

  agent(self: string, promotion: 'auto' | 'manual' = 'auto'): PromotionAgent {
    const deps: PgAgentDeps = {
      local: {
        isPrimary: async () => (this.up.has(self) ? this.primary.has(self) : null),
        followedHost: async () => this.follows.get(self) ?? null,
        streaming: async () => !this.forked.has(self) && this.sees(self, this.follows.get(self) ?? ''),
        receivedLsn: async () => this.lsn.get(self) ?? null,
        repoint: async (host) => {
          this.follows.set(self, host);
        },
        promote: async () => {
          this.primary.add(self);
          this.follows.set(self, null);
        },
        fence: async () => {
          this.fenced.add(self);
        },
      },
      registry: this.registry,
      reachable: async (host) => this.sees(self, host),
      peerLsn: async (host) =>
        this.sees(self, host) && !this.primary.has(host) ? (this.lsn.get(host) ?? null) : null,
      control: async (role, restart) => {
        this.controls.push({ node: self, role, restart });
      },
      wallNow: () => this.now,
      sleep: async (ms) => {
        this.now += ms;
      },
      emit: (type, data = {}) => this.events.push({ node: self, type, data }),
    };
    return new PromotionAgent(
      {
        self,
        peers: ['pg-a', 'pg-b', 'pg-c'],
        thresholdMs: 1000,
        checkIntervalMs: 200,
        writerTtlMs: 1000,
        promotion,
      },
      deps,
    );
  }

  async writer(): Promise<string | undefined> {
    return (await this.registry.get(WRITER_RECORD))?.value;
  }

  /** Every agent checks once, then the clock moves on. */
  async round(agents: PromotionAgent[], ms = 200): Promise<void> {
    for (const a of agents) await a.tick();
    this.now += ms;
  }
}

async function started() {
  const w = new World();
  const agents = ['pg-a', 'pg-b', 'pg-c'].map((n) => w.agent(n));
  await w.round(agents);
  return { w, agents };
}

describe('promotion agent', () => {
  it('the first primary claims the writer record', async () => {
    const { w } = await started();
    expect(await w.writer()).toBe('pg-a');
    expect(w.events.filter((e) => e.type === 'claimed-writer').map((e) => e.node)).toEqual(['pg-a']);
  });

  it('primary killed: the standby with the most WAL promotes, exactly one, and the other follows it', async () => {
    const { w, agents } = await started();
    w.lsn.set('pg-c', 120n); // c received more
    w.up.delete('pg-a');
    for (let i = 0; i < 10; i++) await w.round(agents.slice(1));
    expect(await w.writer()).toBe('pg-c');
    expect(w.events.filter((e) => e.type === 'became-primary').map((e) => e.node)).toEqual(['pg-c']);
    expect(w.events.find((e) => e.type === 'promotion-deferred')).toMatchObject({
      node: 'pg-b',
      data: { to: 'pg-c' },
    });
    expect(w.follows.get('pg-b')).toBe('pg-c');
  });

  it('equal WAL: the lower name promotes, the other defers', async () => {
    const { w, agents } = await started();
    w.up.delete('pg-a');
    for (let i = 0; i < 10; i++) await w.round(agents.slice(1));
    expect(await w.writer()).toBe('pg-b');
    expect(w.primary.has('pg-c')).toBe(false);
  });

  it('a standby cut off from everyone never promotes', async () => {
    const { w, agents } = await started();
    w.cut.add('pg-c|pg-a').add('pg-c|pg-b');
    for (let i = 0; i < 10; i++) await w.round(agents);
    expect(await w.writer()).toBe('pg-a');
    expect(w.primary.has('pg-c')).toBe(false);
    expect(w.events.filter((e) => e.type === 'failover-withheld').map((e) => e.node)).toEqual(['pg-c']);
  });

  it('the old primary that finds the record moved is fenced and asks to come back as a standby', async () => {
    const { w, agents } = await started();
    // a is cut off from both standbys (not from the registry): they promote b.
    w.cut.add('pg-a|pg-b').add('pg-a|pg-c');
    for (let i = 0; i < 10; i++) await w.round(agents.slice(1));
    expect(await w.writer()).toBe('pg-b');
    await agents[0]!.tick();
    expect(w.fenced.has('pg-a')).toBe(true);
    expect(w.controls.filter((c) => c.node === 'pg-a').at(-1)).toEqual({
      node: 'pg-a',
      role: 'standby pg-b',
      restart: true,
    });
    await agents[0]!.tick(); // fenced once, not again every check
    expect(w.events.filter((e) => e.type === 'fenced')).toHaveLength(1);
  });

  it('after a power loss the node is told its role from the record, before its server starts', async () => {
    const { w, agents } = await started();
    w.up.delete('pg-a');
    for (let i = 0; i < 10; i++) await w.round(agents.slice(1));
    const back = w.agent('pg-a'); // a boots again; its server waits for its role
    await back.tick();
    expect(w.controls.filter((c) => c.node === 'pg-a').at(-1)).toEqual({
      node: 'pg-a',
      role: 'standby pg-b',
      restart: false,
    });
  });

  it('with manual promotion the agents wait for the operator', async () => {
    const w = new World();
    const agents = ['pg-a', 'pg-b', 'pg-c'].map((n) => w.agent(n, 'manual'));
    await w.round(agents);
    w.up.delete('pg-a');
    for (let i = 0; i < 10; i++) await w.round(agents.slice(1));
    expect(await w.writer()).toBe('pg-a');
    expect(w.events.filter((e) => e.type === 'promotion-left-to-operator')).toHaveLength(2);
  });

  it('reads WAL positions', () => {
    expect(parseLsn('0/3000060')).toBe(0x3000060n);
    expect(parseLsn('1/0')! > parseLsn('0/FFFFFFFF')!).toBe(true);
    expect(parseLsn(null)).toBeNull();
  });

  it('a standby that cannot stream from the new primary (it was ahead of it) is rewound onto it', async () => {
    const w = new World();
    const agents = ['pg-a', 'pg-b', 'pg-c'].map((n) => w.agent(n, 'manual'));
    await w.round(agents);
    w.up.delete('pg-a');
    // The operator promotes pg-b, which was behind pg-c: pg-c cannot follow it.
    await w.registry.set(WRITER_RECORD, 'pg-b', 1000);
    w.forked.add('pg-c');
    for (let i = 0; i < 40; i++) await w.round(agents.slice(1));
    expect(w.events.filter((e) => e.type === 'rewinding').map((e) => e.node)).toEqual(['pg-c']);
    expect(w.controls.filter((c) => c.node === 'pg-c' && c.restart).at(-1)?.role).toBe('standby pg-b rewind');
  });
});
