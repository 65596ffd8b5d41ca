import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dcsConfig, etcdCommand, haproxyConfig, patroniConfig } from './config.ts';
import { patroniSpec } from './spec.ts';

const spec = patroniSpec.parse({
  ttlMs: 20000,
  loopWaitMs: 5000,
  retryTimeoutMs: 5000,
  maximumLagOnFailoverBytes: 65536,
  synchronousMode: true,
  synchronousModeStrict: true,
});

describe('patroni.yml', () => {
  const yml = parse(patroniConfig({ node: 'patroni-b', etcd: ['etcd-a', 'etcd-b', 'etcd-c'], spec }));

  it("carries the scenario's settings into bootstrap.dcs under Patroni's names and units", () => {
    expect(yml.bootstrap.dcs).toMatchObject({
      ttl: 20,
      loop_wait: 5,
      retry_timeout: 5,
      maximum_lag_on_failover: 65536,
      synchronous_mode: true,
      synchronous_mode_strict: true,
    });
    expect(yml.bootstrap.dcs.postgresql.use_pg_rewind).toBe(true);
  });

  it('names the node, its addresses by name, and every etcd member through the etcd3 (v3 API) DCS', () => {
    expect(yml).toMatchObject({
      scope: 'chaos',
      namespace: '/service/',
      name: 'patroni-b',
      restapi: { listen: '0.0.0.0:8008', connect_address: 'patroni-b:8008' },
      etcd3: { hosts: ['etcd-a:2379', 'etcd-b:2379', 'etcd-c:2379'] },
      postgresql: { connect_address: 'patroni-b:5432', data_dir: '/var/lib/postgresql/chaos-data/pgdata' },
    });
    expect(yml.log.format).toBe('%(created).3f %(levelname)s: %(message)s');
  });

  it('refuses timings that are not whole seconds, and a bad node name', () => {
    expect(() => dcsConfig({ ...spec, ttlMs: 20500 })).toThrow(/whole number of seconds/);
    expect(() => patroniConfig({ node: 'Bad Name', etcd: ['etcd-a'], spec })).toThrow(/not a node name/);
    expect(() => patroniConfig({ node: 'patroni-a', etcd: [], spec })).toThrow(/etcd member/);
  });
});

describe('the spec', () => {
  it("has Patroni's defaults, in ms", () => {
    expect(patroniSpec.parse({})).toMatchObject({
      nodes: 3,
      etcdMembers: 3,
      ttlMs: 30000,
      loopWaitMs: 10000,
      retryTimeoutMs: 10000,
      maximumLagOnFailoverBytes: 1048576,
      synchronousMode: false,
      synchronousModeStrict: false,
      haproxy: { checkIntervalMs: 3000, fall: 3, rise: 2 },
    });
  });

  it("holds Patroni's rule loop_wait + 2 x retry_timeout <= ttl, whole seconds, and strict only with sync", () => {
    const err = (v: unknown) =>
      patroniSpec.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(err({ ttlMs: 10000, loopWaitMs: 5000, retryTimeoutMs: 5000 })?.[0]).toMatch(
      /^ttlMs: Patroni's rule/,
    );
    expect(err({ ttlMs: 20500 })?.[0]).toMatch(/^ttlMs: .*whole seconds/);
    expect(err({ synchronousModeStrict: true })?.[0]).toMatch(/^synchronousModeStrict: /);
    expect(err({ etcdMembers: 2 })?.[0]).toMatch(/odd number/);
  });
});

describe('etcd', () => {
  it('is a static cluster of every member, by name, with its data on its volume', () => {
    const cmd = etcdCommand('etcd-b', ['etcd-a', 'etcd-b', 'etcd-c'], 'chaos-1234abcd');
    const arg = (flag: string) => cmd[cmd.indexOf(flag) + 1];
    expect(cmd[0]).toBe('etcd');
    expect(arg('--name')).toBe('etcd-b');
    expect(arg('--advertise-client-urls')).toBe('http://etcd-b:2379');
    expect(arg('--initial-cluster')).toBe(
      'etcd-a=http://etcd-a:2380,etcd-b=http://etcd-b:2380,etcd-c=http://etcd-c:2380',
    );
    expect(arg('--initial-cluster-token')).toBe('chaos-1234abcd');
    expect(arg('--data-dir')).toBe('/var/lib/etcd/chaos/data');
    expect(() => etcdCommand('etcd-d', ['etcd-a'], 't')).toThrow(/not one of the etcd members/);
  });
});

describe('haproxy.cfg', () => {
  const cfg = haproxyConfig({ check: spec.haproxy, servers: ['patroni-a', 'patroni-b', 'patroni-c'] });

  it("is Patroni's documented setup: OPTIONS /primary, expect 200, inter/fall/rise, shutdown-sessions", () => {
    expect(cfg).toContain('  mode tcp');
    expect(cfg).toContain('  option httpchk OPTIONS /primary');
    expect(cfg).toContain('  http-check expect status 200');
    expect(cfg).toMatch(/^ {2}default-server inter 3000ms fall 3 rise 2 on-marked-down shutdown-sessions /m);
    expect(cfg).toContain('  server patroni-b patroni-b:5432 maxconn 100 check port 8008');
    expect(cfg).toContain('  bind :5000');
    expect(cfg).toContain('stats socket ipv4@0.0.0.0:9999 level admin');
  });

  it('takes the check interval as a setting', () => {
    const fast = haproxyConfig({ check: { checkIntervalMs: 500, fall: 2, rise: 1 }, servers: ['patroni-a'] });
    expect(fast).toMatch(/default-server inter 500ms fall 2 rise 1 /);
    expect(() => haproxyConfig({ check: { checkIntervalMs: 0, fall: 1, rise: 1 }, servers: ['x'] })).toThrow(
      /checkIntervalMs/,
    );
    expect(() => haproxyConfig({ check: spec.haproxy, servers: [] })).toThrow(/at least one server/);
  });
});
