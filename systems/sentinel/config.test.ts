import { describe, expect, it } from 'vitest';
import { haproxyConf, redisConf, sentinelConf } from './config.ts';
import { planSentinel } from './plan.ts';
import { sentinelSpec } from './spec.ts';

const lines = (text: string) => text.split('\n');

describe('redis.conf of a data node', () => {
  it('the first master: no replicaof, memory only, min-replicas in whole seconds', () => {
    const conf = lines(redisConf({ minReplicasToWrite: 1, minReplicasMaxLagMs: 2000 }));
    expect(conf).toContain('port 6379');
    expect(conf).toContain('save ""');
    expect(conf).toContain('appendonly no');
    expect(conf).toContain('min-replicas-to-write 1');
    expect(conf).toContain('min-replicas-max-lag 2');
    expect(conf.some((l) => l.startsWith('replicaof'))).toBe(false);
  });

  it('a replica starts replicating from the first master, by name (resolved from /etc/hosts)', () => {
    const conf = lines(
      redisConf({ replicaOf: 'sentinel-a', minReplicasToWrite: 0, minReplicasMaxLagMs: 10_000 }),
    );
    expect(conf).toContain('replicaof sentinel-a 6379');
    expect(conf).toContain('min-replicas-to-write 0');
    expect(conf).toContain('min-replicas-max-lag 10');
  });

  it('refuses a lag Redis cannot count (it counts whole seconds) and a name that is not a node', () => {
    expect(() => redisConf({ minReplicasToWrite: 1, minReplicasMaxLagMs: 1500 })).toThrow(/whole seconds/);
    expect(() => redisConf({ replicaOf: 'a b', minReplicasToWrite: 0, minReplicasMaxLagMs: 1000 })).toThrow(
      /not a node name/,
    );
  });
});

describe('sentinel.conf', () => {
  it('monitors the first master as mymaster with the quorum and the timings, resolving its name once', () => {
    const conf = lines(
      sentinelConf({ master: 'sentinel-a', quorum: 2, downAfterMs: 2000, failoverTimeoutMs: 10_000 }),
    );
    expect(conf).toContain('port 26379');
    expect(conf).toContain('sentinel resolve-hostnames yes');
    expect(conf).toContain('sentinel monitor mymaster sentinel-a 6379 2');
    expect(conf).toContain('sentinel down-after-milliseconds mymaster 2000');
    expect(conf).toContain('sentinel failover-timeout mymaster 10000');
    expect(conf).toContain('sentinel parallel-syncs mymaster 1');
    // announce-hostnames stays off: Sentinel hands out IPs, so no client waits on a name server
    expect(conf.some((l) => l.includes('announce-hostnames'))).toBe(false);
  });

  it('refuses a quorum below one', () => {
    expect(() =>
      sentinelConf({ master: 'sentinel-a', quorum: 0, downAfterMs: 1000, failoverTimeoutMs: 1000 }),
    ).toThrow(/quorum/);
  });
});

describe('haproxy.cfg', () => {
  const cfg = haproxyConf({
    check: { checkIntervalMs: 500, fall: 3, rise: 2 },
    servers: ['sentinel-a', 'sentinel-b', 'sentinel-c'],
  });

  it('is TCP mode with the usual role:master check, in order: connect, PING, info replication, QUIT', () => {
    const conf = lines(cfg).map((l) => l.trim());
    expect(conf).toContain('mode tcp');
    const check = conf.filter((l) => l.startsWith('tcp-check') || l === 'option tcp-check');
    expect(check).toEqual([
      'option tcp-check',
      'tcp-check connect',
      'tcp-check send PING\\r\\n',
      'tcp-check expect string +PONG',
      'tcp-check send info\\ replication\\r\\n',
      'tcp-check expect string role:master',
      'tcp-check send QUIT\\r\\n',
      'tcp-check expect string +OK',
    ]);
  });

  it('checks every data node at the interval, cuts the sessions of a server taken out, and names the frontend apart from the backend', () => {
    const conf = lines(cfg).map((l) => l.trim());
    expect(conf).toContain(
      'default-server inter 500ms fall 3 rise 2 on-marked-down shutdown-sessions init-addr last,libc,none',
    );
    expect(conf.filter((l) => l.startsWith('server '))).toEqual([
      'server sentinel-a sentinel-a:6379 check',
      'server sentinel-b sentinel-b:6379 check',
      'server sentinel-c sentinel-c:6379 check',
    ]);
    expect(conf).toContain('frontend clients');
    expect(conf).toContain('backend redis');
    expect(conf).toContain('stats socket ipv4@0.0.0.0:9999 level admin');
    expect(conf).toContain('timeout check 500ms');
  });

  it('refuses no server, a server twice, and a check that cannot work', () => {
    expect(() => haproxyConf({ check: { checkIntervalMs: 500, fall: 3, rise: 2 }, servers: [] })).toThrow(
      /at least one/,
    );
    expect(() =>
      haproxyConf({
        check: { checkIntervalMs: 500, fall: 3, rise: 2 },
        servers: ['sentinel-a', 'sentinel-a'],
      }),
    ).toThrow(/twice/);
    expect(() =>
      haproxyConf({ check: { checkIntervalMs: 500, fall: 0, rise: 2 }, servers: ['sentinel-a'] }),
    ).toThrow(/fall/);
  });
});

describe('the plan', () => {
  const ctx = {
    runId: 'r1',
    registryUrl: 'http://registry:8080',
    bundle: { source: '/tmp/agents.cjs', target: '/opt/chaos/agents.cjs' },
  };

  it('three data nodes over three AZs, each with a Sentinel and its watcher beside it, HAProxy after them', () => {
    const plan = planSentinel(sentinelSpec.parse({}), ctx);
    expect(plan.map((n) => [n.name, n.az])).toEqual([
      ['sentinel-a', 'a'],
      ['sentinel-b', 'b'],
      ['sentinel-c', 'c'],
      ['sentinel-lb', '-'],
    ]);
    for (const n of plan.slice(0, 3)) {
      expect(n.sidecars.map((s) => s.part)).toEqual(['sentinel', 'watch']);
      expect(n.main.ports).toEqual([6379, 26379]);
      expect(n.sidecars[1]!.events).toBe(`agent:${n.name}`);
      expect(n.sidecars[1]!.env).toMatchObject({
        CHAOS_ENTRY: 'sentinel-watch',
        NODE_NAMES: 'sentinel-a,sentinel-b,sentinel-c',
      });
    }
    expect(plan[0]!.main.contents![0]!.content).not.toMatch(/replicaof/);
    expect(plan[1]!.main.contents![0]!.content).toMatch(/replicaof sentinel-a 6379/);
    expect(plan[1]!.after).toEqual(['sentinel-a']);
    expect(plan[3]!.after).toEqual(['sentinel-a', 'sentinel-b', 'sentinel-c']);
    expect(plan[3]!.main.ports).toEqual([6379, 9999]);
  });

  it('beyond one node per AZ, only the first of each AZ has a Sentinel: one per AZ', () => {
    const plan = planSentinel(sentinelSpec.parse({ nodes: 5 }), ctx);
    expect(plan.map((n) => `${n.name}:${n.sidecars.length}`)).toEqual([
      'sentinel-a1:2',
      'sentinel-b1:2',
      'sentinel-c1:2',
      'sentinel-a2:0',
      'sentinel-b2:0',
      'sentinel-lb:0',
    ]);
    expect(plan[3]!.main.ports).toEqual([6379]);
  });
});

describe('the spec', () => {
  it('defaults: 3 nodes, Sentinel, quorum 2, down after 5 s, HAProxy every 1 s (fall 3, rise 2)', () => {
    expect(sentinelSpec.parse({})).toMatchObject({
      nodes: 3,
      monitor: 'sentinel',
      quorum: 2,
      downAfterMs: 5000,
      failoverTimeoutMs: 60_000,
      minReplicasToWrite: 0,
      minReplicasMaxLagMs: 10_000,
      proxy: { checkIntervalMs: 1000, fall: 3, rise: 2 },
    });
  });

  it('refuses what cannot work, naming the field', () => {
    const issue = (input: unknown) => {
      const r = sentinelSpec.safeParse(input);
      return r.success ? undefined : r.error.issues[0];
    };
    expect(issue({ nodes: 2 })).toMatchObject({ path: ['nodes'] });
    expect(issue({ quorum: 4 })).toMatchObject({ path: ['quorum'] });
    expect(issue({ minReplicasToWrite: 3 })).toMatchObject({ path: ['minReplicasToWrite'] });
    expect(issue({ minReplicasMaxLagMs: 1500 })).toMatchObject({ path: ['minReplicasMaxLagMs'] });
    expect(issue({ downAfter: 1000 })?.code).toBe('unrecognized_keys');
  });
});
