import { describe, expect, it } from 'vitest';
import type { NodeRef } from '../../core/provider.ts';
import { sentinelViolations } from './invariants.ts';
import { resolveSentinelRole } from './roles.ts';
import { type SentinelNodeState, type SentinelState, parseReplication, quorumMaster } from './state.ts';

const says = (master: string | null) => ({ sentinel: { answers: true, master } });
const master = (name: string, said: string | null = name): SentinelNodeState => ({
  name,
  az: name.slice(-1),
  reachable: true,
  role: 'master',
  ...says(said),
});
const replica = (name: string, of: string, linkUp = true, said: string | null = of): SentinelNodeState => ({
  name,
  az: name.slice(-1),
  reachable: true,
  role: 'replica',
  following: of,
  linkUp,
  ...says(said),
});
const down = (name: string): SentinelNodeState => ({
  name,
  az: name.slice(-1),
  reachable: false,
  sentinel: { answers: false, master: null },
});
const proxy = (...routes: string[]): SentinelNodeState => ({
  name: 'sentinel-lb',
  az: '-',
  reachable: true,
  role: 'proxy',
  routesTo: routes,
  following: routes.join(','),
  linkUp: routes.length > 0,
});
const state = (leader: string | null, nodes: SentinelNodeState[]): SentinelState => ({
  leader,
  members: [],
  nodes,
});

describe('full redundancy of Redis with Sentinel', () => {
  it('one master, the replicas linked to it, every Sentinel naming it, HAProxy routing to it only: none', () => {
    expect(
      sentinelViolations(
        state('sentinel-a', [
          master('sentinel-a'),
          replica('sentinel-b', 'sentinel-a'),
          replica('sentinel-c', 'sentinel-a'),
          proxy('sentinel-a'),
        ]),
      ),
    ).toEqual([]);
  });

  it('after a failover with the old master dead: whole, the dead node required nowhere', () => {
    expect(
      sentinelViolations(
        state('sentinel-c', [
          down('sentinel-a'),
          replica('sentinel-b', 'sentinel-c'),
          master('sentinel-c'),
          proxy('sentinel-c'),
        ]),
      ),
    ).toEqual([]);
  });

  it('an old master back from a power loss, still a master, and HAProxy routing to both: not whole', () => {
    const v = sentinelViolations(
      state('sentinel-c', [
        master('sentinel-a', 'sentinel-c'),
        replica('sentinel-b', 'sentinel-c'),
        master('sentinel-c'),
        proxy('sentinel-a', 'sentinel-c'),
      ]),
    );
    expect(v).toEqual([
      '2 masters: sentinel-a, sentinel-c',
      'HAProxy routes to sentinel-a, sentinel-c, the master is sentinel-c',
    ]);
  });

  it('a Sentinel that still names the old master (the minority side of a partition), a replica still syncing', () => {
    const v = sentinelViolations(
      state('sentinel-c', [
        replica('sentinel-a', 'sentinel-c', false, 'sentinel-a'),
        replica('sentinel-b', 'sentinel-c'),
        master('sentinel-c'),
        proxy('sentinel-c'),
      ]),
    );
    expect(v).toEqual([
      "sentinel-a's replication link to sentinel-c is down",
      'the Sentinel on sentinel-a hands out sentinel-a, not sentinel-c',
    ]);
  });

  it('no quorum (who follows whom then says nothing more), a silent Sentinel, a dead proxy', () => {
    const silent: SentinelNodeState = {
      ...replica('sentinel-c', 'sentinel-a'),
      sentinel: { answers: false, master: null },
    };
    const v = sentinelViolations(
      state(null, [
        master('sentinel-a', 'sentinel-a'),
        replica('sentinel-b', 'sentinel-x', true, 'sentinel-b'),
        silent,
        { name: 'sentinel-lb', az: '-', reachable: false, role: 'proxy' },
      ]),
    );
    expect(v).toEqual([
      'no quorum of Sentinels hands out one master',
      'the Sentinel on sentinel-c does not answer',
      'HAProxy (sentinel-lb) does not answer its runtime API',
    ]);
  });

  it('a replica of another node than the agreed master', () => {
    expect(
      sentinelViolations(
        state('sentinel-a', [
          master('sentinel-a'),
          replica('sentinel-b', 'sentinel-c', true, 'sentinel-a'),
          proxy('sentinel-a'),
        ]),
      ),
    ).toEqual(['sentinel-b replicates from sentinel-c, not sentinel-a']);
  });

  it('the Sentinels name a node that does not answer; HAProxy finds no master', () => {
    const v = sentinelViolations(
      state('sentinel-a', [
        down('sentinel-a'),
        replica('sentinel-b', 'sentinel-a', false, 'sentinel-a'),
        proxy(),
      ]),
    );
    expect(v).toEqual([
      'no data node that answers is a master',
      'the Sentinels hand out sentinel-a, which does not answer',
      "sentinel-b's replication link to sentinel-a is down",
      'HAProxy routes to no server (none passes its role:master check)',
    ]);
  });
});

describe('what the observer reads', () => {
  it('INFO replication of a master and of a replica', () => {
    expect(
      parseReplication('# Replication\r\nrole:master\r\nconnected_slaves:2\r\nmaster_repl_offset:1234\r\n'),
    ).toEqual({
      role: 'master',
      offset: 1234,
    });
    expect(
      parseReplication(
        'role:slave\r\nmaster_host:10.9.1.10\r\nmaster_port:6379\r\nmaster_link_status:down\r\nslave_repl_offset:1200\r\n',
      ),
    ).toEqual({ role: 'replica', masterHost: '10.9.1.10', linkUp: false, offset: 1200 });
  });

  it('the master a quorum of Sentinels hands out: at least the quorum, and no tie', () => {
    expect(quorumMaster(['sentinel-a', 'sentinel-a', 'sentinel-c'], 2)).toBe('sentinel-a');
    expect(quorumMaster(['sentinel-a', 'sentinel-c'], 2)).toBeNull();
    expect(quorumMaster(['sentinel-a', null, null], 2)).toBeNull();
    expect(quorumMaster(['sentinel-a', 'sentinel-c'], 1)).toBeNull(); // a tie is no agreement
    expect(quorumMaster(['sentinel-c', 'sentinel-c', 'sentinel-a'], 1)).toBe('sentinel-c');
  });
});

describe('targets', () => {
  const nodes: NodeRef[] = ['sentinel-a', 'sentinel-b', 'sentinel-c', 'sentinel-lb'].map((name, index) => ({
    name,
    system: 'sentinel',
    az: name === 'sentinel-lb' ? '-' : name.slice(-1),
    index,
  }));
  const records = {
    leader: 'sentinel-b',
    members: ['sentinel-b', 'sentinel-a', 'sentinel-c', 'sentinel-lb'],
  };
  const names = (role: string, r = records) =>
    resolveSentinelRole(role, r, nodes, () => 0.99).map((n) => n.name);

  it('master, replica, any, proxy', () => {
    expect(names('master')).toEqual(['sentinel-b']);
    expect(names('replica')).toEqual(['sentinel-a', 'sentinel-c']);
    expect(names('any')).toEqual(['sentinel-c']);
    expect(names('proxy')).toEqual(['sentinel-lb']);
    expect(names('head')).toEqual([]);
  });

  it('no agreed master: no master to target, every data node a replica', () => {
    expect(names('master', { leader: null as unknown as string, members: [] })).toEqual([]);
  });
});
