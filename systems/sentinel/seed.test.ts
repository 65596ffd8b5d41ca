import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import type { SystemState } from '../../core/result.ts';
import { monitorHaproxyConf, seedBalancerConf } from './config.ts';
import { monitorNodes, proxyNode, sentinelLayout } from './layout.ts';
import { resolveSentinelRole } from './roles.ts';
import { seedViolations } from './seed-observe.ts';
import { planSeed, seedIntervalMs } from './seed-plan.ts';
import { type LaunchRequest, SEED_CONFIG, SEED_LAUNCH, type SeedConfig, SeedMonitor } from './seed.ts';
import { sentinelSpec } from './spec.ts';
import type { SentinelNodeState } from './state.ts';
import { MASTER_RECORD } from './watch.ts';

const A = { name: 'sentinel-a', ip: '10.9.1.10' };
const B = { name: 'sentinel-b', ip: '10.9.2.10' };
const R = { name: 'sentinel-a-r1', ip: '10.9.1.11' };

/** Two watchers sharing one registry, a network where `down` addresses do not answer. */
function world() {
  const registry = new MemoryRegistry();
  const down = new Set<string>();
  const promoted: string[] = [];
  const events: { who: string; type: string; data: Record<string, unknown> }[] = [];
  let t = 0;
  const watcher = (self: string) => {
    const proxy = { target: A.ip };
    const m = new SeedMonitor(
      { self, intervalMs: 100, launchTimeoutMs: 2000 },
      {
        registry,
        ping: async (ip) => !down.has(ip),
        promote: async (ip) => {
          promoted.push(ip);
        },
        proxyTarget: async () => proxy.target,
        repoint: async (ip) => {
          proxy.target = ip;
        },
        emit: (type, data = {}) => events.push({ who: self, type, data }),
        now: () => t,
        setTimer: () => () => {},
        sleep: async (ms) => {
          t += ms;
          // the launcher answers a pending request while the watcher waits
          const rec = await registry.get(SEED_LAUNCH);
          const req = rec && (JSON.parse(rec.value) as LaunchRequest);
          if (req && !req.node)
            await registry.set(SEED_LAUNCH, JSON.stringify({ ...req, node: R }), 1000, rec.version);
        },
      },
    );
    return { m, proxy };
  };
  const config = async () => JSON.parse((await registry.get(SEED_CONFIG))!.value) as SeedConfig;
  return { registry, down, promoted, events, watcher, config };
}

describe("the seed's monitor pair", () => {
  it('writes the first configuration and the leader record once, whoever starts first', async () => {
    const w = world();
    await w.watcher('sentinel-mon-a').m.init({ master: A, slave: B });
    await w.watcher('sentinel-mon-b').m.init({ master: B, slave: A });
    expect(await w.config()).toEqual({ master: A, slave: B });
    expect((await w.registry.get(MASTER_RECORD))?.value).toBe('sentinel-a');
  });

  it('two failed PINGs are not a failure; the third runs the failover: promote, record, repoint, replace', async () => {
    const w = world();
    const a = w.watcher('sentinel-mon-a');
    await a.m.init({ master: A, slave: B });
    w.down.add(A.ip);
    await a.m.tick();
    await a.m.tick();
    expect(w.promoted).toEqual([]);
    await a.m.tick();
    expect(w.promoted).toEqual([B.ip]);
    expect(a.proxy.target).toBe(B.ip);
    expect((await w.registry.get(MASTER_RECORD))?.value).toBe('sentinel-b');
    expect(await w.config()).toEqual({ master: B, slave: R });
    expect(w.events.map((e) => e.type)).toEqual([
      'ping-failed',
      'ping-failed',
      'ping-failed',
      'failover-decision',
      '+promoted-slave',
      'proxy-repointed',
      'replacement-requested',
      'replacement-attached',
    ]);
    expect(w.events.find((e) => e.type === '+promoted-slave')!.data).toMatchObject({
      node: 'sentinel-b',
      from: 'sentinel-a',
    });
    // the lease is free again once the failover is over
    expect((await w.registry.getLease('seed-failover'))?.remainingMs ?? 0).toBeLessThanOrEqual(0);
  });

  it('a PING that answers again resets the count', async () => {
    const w = world();
    const a = w.watcher('sentinel-mon-a');
    await a.m.init({ master: A, slave: B });
    w.down.add(A.ip);
    await a.m.tick();
    await a.m.tick();
    w.down.delete(A.ip);
    await a.m.tick();
    w.down.add(A.ip);
    await a.m.tick();
    await a.m.tick();
    expect(w.promoted).toEqual([]);
    expect(w.events.filter((e) => e.type === 'master-answers')).toHaveLength(1);
  });

  it('while the other watcher holds the lease, it waits; then it follows the new configuration', async () => {
    const w = world();
    const a = w.watcher('sentinel-mon-a');
    const b = w.watcher('sentinel-mon-b');
    await a.m.init({ master: A, slave: B });
    await w.registry.acquireLease('seed-failover', 'sentinel-mon-a', 60_000); // a is mid-failover
    w.down.add(A.ip);
    for (let i = 0; i < 4; i++) await b.m.tick();
    expect(w.promoted).toEqual([]);
    expect(w.events.filter((e) => e.who === 'sentinel-mon-b' && e.type === 'failover-waiting')).toHaveLength(
      1,
    );
    // a finishes: the configuration names B; b's next check repoints its HAProxy and is content
    await w.registry.set(SEED_CONFIG, JSON.stringify({ master: B, slave: null }), 1000);
    await w.registry.releaseLease('seed-failover', 'sentinel-mon-a');
    await b.m.tick();
    expect(b.proxy.target).toBe(B.ip);
    expect(w.promoted).toEqual([]);
    expect(w.events.at(-1)).toMatchObject({
      who: 'sentinel-mon-b',
      type: 'master-answers',
      data: { node: 'sentinel-b' },
    });
  });

  it('a configuration changed between the read and the lease is followed, not failed over again', async () => {
    const w = world();
    const a = w.watcher('sentinel-mon-a');
    await a.m.init({ master: A, slave: B });
    w.down.add(A.ip);
    await a.m.tick();
    await a.m.tick();
    const get = w.registry.get.bind(w.registry);
    let reads = 0;
    w.registry.get = async (name) => {
      if (name === SEED_CONFIG && ++reads === 2)
        await w.registry.set(SEED_CONFIG, JSON.stringify({ master: B, slave: null }), 1000);
      return get(name);
    };
    await a.m.tick();
    expect(w.promoted).toEqual([]);
  });

  it('no slave, or a slave that does not answer either: says so and promotes nothing', async () => {
    const w = world();
    const a = w.watcher('sentinel-mon-a');
    await a.m.init({ master: A, slave: B });
    w.down.add(A.ip);
    w.down.add(B.ip);
    for (let i = 0; i < 3; i++) await a.m.tick();
    expect(w.promoted).toEqual([]);
    expect(w.events.at(-1)).toMatchObject({
      type: 'failover-impossible',
      data: { reason: 'the slave sentinel-b does not answer either' },
    });
  });
});

describe("the seed's stack", () => {
  const spec = sentinelSpec.parse({ monitor: 'seed', nodes: 2, downAfterMs: 2000 });
  const ctx = { runId: 'r1', registryUrl: 'http://registry:8080', bundle: { source: '/s', target: '/t' } };

  it('two data nodes, a monitor host in each of the first two AZs, the load balancer in front', () => {
    expect(sentinelLayout(spec).map((n) => `${n.name}@${n.az}#${n.index}`)).toEqual([
      'sentinel-a@a#0',
      'sentinel-b@b#1',
      'sentinel-mon-a@a#2',
      'sentinel-mon-b@b#3',
      'sentinel-lb@-#4',
    ]);
    const plan = planSeed(spec, ctx);
    expect(plan.map((n) => [n.name, n.sidecars.map((s) => s.part)])).toEqual([
      ['sentinel-a', []],
      ['sentinel-b', []],
      ['sentinel-mon-a', ['monitor']],
      ['sentinel-mon-b', ['monitor']],
      ['sentinel-lb', []],
    ]);
    expect(plan[2]!.sidecars[0]!.env).toMatchObject({
      CHAOS_ENTRY: 'sentinel-seed-monitor',
      MASTER: 'sentinel-a',
      SLAVE: 'sentinel-b',
      INTERVAL_MS: '667',
    });
    expect(seedIntervalMs(spec)).toBe(667);
    expect(monitorNodes(sentinelSpec.parse({})).length).toBe(0);
    expect(proxyNode(sentinelSpec.parse({})).index).toBe(3);
  });

  it("a monitor's HAProxy relays to the master without a check; the load balancer checks the monitors", () => {
    expect(monitorHaproxyConf('sentinel-a')).toMatch(
      /\n {2}server master sentinel-a:6379 init-addr last,libc,none\n/,
    );
    expect(monitorHaproxyConf('sentinel-a')).not.toMatch(/tcp-check/);
    const lb = seedBalancerConf({ check: spec.proxy, monitors: ['sentinel-mon-a', 'sentinel-mon-b'] });
    expect(lb).toMatch(/balance roundrobin/);
    expect(lb).toMatch(/server sentinel-mon-a sentinel-mon-a:6379 check/);
  });

  it('the seed runs a master and one slave over two AZs; a probe through the Sentinels has none to ask', () => {
    expect(sentinelSpec.safeParse({ monitor: 'seed' }).success).toBe(false);
    expect(sentinelSpec.safeParse({ monitor: 'seed', nodes: 2, azs: ['a'] }).success).toBe(false);
  });

  it('targets: the monitor hosts are no data node', () => {
    const nodes = sentinelLayout(spec);
    const state = {
      leader: 'sentinel-b',
      members: ['sentinel-b', 'sentinel-a', 'sentinel-lb'],
    };
    expect(resolveSentinelRole('monitor', state, nodes, () => 0).map((n) => n.name)).toEqual([
      'sentinel-mon-a',
      'sentinel-mon-b',
    ]);
    expect(resolveSentinelRole('replica', state, nodes, () => 0).map((n) => n.name)).toEqual(['sentinel-a']);
  });

  const node = (n: Partial<SentinelNodeState> & { name: string }): SentinelNodeState => ({
    az: 'a',
    reachable: true,
    ...n,
  });
  const whole = (): SentinelNodeState[] => [
    node({ name: 'sentinel-b', role: 'master', configured: 'master' }),
    node({
      name: 'sentinel-a-r1',
      role: 'replica',
      following: 'sentinel-b',
      linkUp: true,
      configured: 'slave',
    }),
    node({ name: 'sentinel-mon-a', role: 'monitor', following: 'sentinel-b' }),
    node({ name: 'sentinel-mon-b', role: 'monitor', following: 'sentinel-b' }),
    node({ name: 'sentinel-lb', az: '-', role: 'proxy', routesTo: ['sentinel-mon-a', 'sentinel-mon-b'] }),
  ];
  const state = (nodes: SentinelNodeState[]): SystemState => ({ leader: 'sentinel-b', members: [], nodes });

  it('whole: the configured master, its slave linked, both monitors relaying to it, both in rotation', () => {
    expect(seedViolations(state([node({ name: 'sentinel-a', reachable: false }), ...whole()]))).toEqual([]);
  });

  it('an old master back from a power loss is a second master outside the configuration', () => {
    expect(seedViolations(state([node({ name: 'sentinel-a', role: 'master' }), ...whole()]))).toEqual([
      '2 masters: sentinel-a, sentinel-b',
    ]);
  });

  it('no slave yet, a monitor still relaying to the old master, a monitor out of rotation', () => {
    const nodes = whole().filter((n) => n.name !== 'sentinel-a-r1');
    nodes[1] = { ...nodes[1]!, following: 'sentinel-a' };
    nodes[3] = { ...nodes[3]!, routesTo: ['sentinel-mon-b'] };
    expect(seedViolations(state(nodes))).toEqual([
      'the configuration has no slave',
      "sentinel-mon-a's HAProxy relays to sentinel-a, not sentinel-b",
      'the load balancer has sentinel-mon-a out of rotation',
    ]);
  });
});
