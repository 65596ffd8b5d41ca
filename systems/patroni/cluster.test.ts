import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NodeRef } from '../../core/provider.ts';
import {
  type NodeAnswer,
  agreedLeader,
  parseCluster,
  parsePatroniStatus,
  patroniState,
  patroniViolations,
} from './cluster.ts';
import { patroniLayout } from './layout.ts';

// Answers of Patroni 3.0.2's REST API recorded from a run (systems/patroni/fixtures/): the cluster
// whole; 3 s after the leader patroni-a was killed (its key still held); once its key had run
// out (no leader yet); once patroni-c had taken it.
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as unknown;
const nodes: NodeRef[] = patroniLayout({ nodes: 3, etcdMembers: 3, azs: ['a', 'b', 'c'] });
const spec = { maximumLagOnFailoverBytes: 1048576, synchronousMode: false };
const etcd = new Map(['etcd-a', 'etcd-b', 'etcd-c'].map((n) => [n, { leader: 'etcd-b' }]));
const answer = (cluster: string, status: string): NodeAnswer => ({
  cluster: parseCluster(fixture(cluster)),
  status: parsePatroniStatus(fixture(status)),
});

describe("Patroni's /cluster and /patroni", () => {
  it('reads the leader, each member, its state, timeline and lag', () => {
    expect(parseCluster(fixture('healthy.cluster'))).toEqual({
      leader: 'patroni-a',
      members: [
        { name: 'patroni-a', role: 'leader', state: 'running', timeline: 1 },
        { name: 'patroni-b', role: 'replica', state: 'running', timeline: 1, lag: 0 },
        { name: 'patroni-c', role: 'replica', state: 'running', timeline: 1, lag: 0 },
      ],
    });
    expect(parseCluster(fixture('unlocked.cluster')).leader).toBeNull();
    expect(parsePatroniStatus(fixture('healthy.patroni-a'))).toEqual({
      state: 'running',
      role: 'master',
      timeline: 1,
      replication: [
        { name: 'patroni-c', state: 'streaming', sync: 'async' },
        { name: 'patroni-b', state: 'streaming', sync: 'async' },
      ],
    });
    expect(() => parseCluster({ error: 'x' })).toThrow(/no members/);
    expect(() => parsePatroniStatus({})).toThrow(/no state or role/);
  });

  it('a whole cluster: one leader, both replicas streaming from it, HAProxy on it only, no violation', () => {
    const s = patroniState({
      nodes,
      patroni: new Map([
        ['patroni-a', answer('healthy.cluster', 'healthy.patroni-a')],
        ['patroni-b', answer('healthy.cluster', 'healthy.patroni-b')],
        ['patroni-c', answer('healthy.cluster', 'healthy.patroni-b')],
      ]),
      etcd,
      haproxy: [
        { name: 'patroni-a', state: 'UP' },
        { name: 'patroni-b', state: 'DOWN' },
        { name: 'patroni-c', state: 'DOWN' },
      ],
    });
    expect(s.leader).toBe('patroni-a');
    expect(s.members).toEqual(['patroni-a', 'patroni-b', 'patroni-c']);
    expect(s.nodes.find((n) => n.name === 'patroni-b')).toEqual({
      name: 'patroni-b',
      az: 'b',
      reachable: true,
      role: 'replica',
      following: 'patroni-a',
      linkUp: true,
      lag: 0,
    });
    expect(s.nodes.find((n) => n.name === 'patroni-haproxy')).toMatchObject({ following: 'patroni-a' });
    expect(s.nodes.find((n) => n.name === 'etcd-b')).toMatchObject({
      role: 'etcd leader',
      following: 'etcd-b',
    });
    expect(patroniViolations(s, spec)).toEqual([]);
  });

  it('the leader dead, its key still held: the others still name it; it does not answer', () => {
    const s = patroniState({
      nodes,
      patroni: new Map([
        [
          'patroni-b',
          {
            cluster: parseCluster(fixture('leader-dead.cluster')),
            status: parsePatroniStatus(fixture('unlocked.patroni-b')),
          },
        ],
        [
          'patroni-c',
          {
            cluster: parseCluster(fixture('leader-dead.cluster')),
            status: parsePatroniStatus(fixture('unlocked.patroni-c')),
          },
        ],
      ]),
      etcd,
      haproxy: [
        { name: 'patroni-a', state: 'UP' },
        { name: 'patroni-b', state: 'DOWN' },
        { name: 'patroni-c', state: 'DOWN' },
      ],
    });
    expect(s.leader).toBe('patroni-a');
    expect(s.members).toEqual(['patroni-a']);
    expect(patroniViolations(s, spec)).toEqual([
      'the leader patroni-a does not answer',
      'patroni-b is not streaming from patroni-a (replica)',
      'patroni-c is not streaming from patroni-a (replica)',
    ]);
  });

  it('the key run out, nobody has it yet: no leader', () => {
    const s = patroniState({
      nodes,
      patroni: new Map([
        ['patroni-b', answer('unlocked.cluster', 'unlocked.patroni-b')],
        ['patroni-c', answer('unlocked.cluster', 'unlocked.patroni-c')],
      ]),
      etcd,
    });
    expect(s.leader).toBeNull();
    expect(patroniViolations(s, spec)).toEqual([
      'no node holds the leader key',
      'patroni-b sees no leader as the leader, the others none',
      'patroni-c sees no leader as the leader, the others none',
    ]);
  });

  it('patroni-c took the key: patroni-b streams from it; HAProxy still on the old one is a violation until its checks move', () => {
    const s = patroniState({
      nodes,
      patroni: new Map([
        ['patroni-b', answer('promoted.cluster-b', 'promoted.patroni-b')],
        ['patroni-c', answer('promoted.cluster-c', 'promoted.patroni-c')],
      ]),
      etcd,
      haproxy: [
        { name: 'patroni-a', state: 'DOWN' },
        { name: 'patroni-b', state: 'DOWN' },
        { name: 'patroni-c', state: 'DOWN' },
      ],
    });
    expect(s.leader).toBe('patroni-c');
    expect(s.members).toEqual(['patroni-c', 'patroni-b']);
    expect(s.nodes.find((n) => n.name === 'patroni-a')).toEqual({
      name: 'patroni-a',
      az: 'a',
      reachable: false,
    });
    expect(patroniViolations(s, spec)).toEqual(['HAProxy routes to no server, the leader is patroni-c']);
    expect(patroniViolations(s, { ...spec, synchronousMode: true })).toContain(
      'synchronous_mode is on but no replica is the synchronous standby',
    );
  });

  it('names a second primary, a disagreement about the leader, a replica too far behind', () => {
    const healthy = parseCluster(fixture('healthy.cluster'));
    const s = patroniState({
      nodes,
      patroni: new Map<string, NodeAnswer>([
        ['patroni-a', answer('healthy.cluster', 'healthy.patroni-a')],
        ['patroni-b', { cluster: healthy, status: parsePatroniStatus(fixture('promoted.patroni-c')) }],
        [
          'patroni-c',
          {
            cluster: { leader: 'patroni-b', members: healthy.members.map((m) => ({ ...m, lag: 5_000_000 })) },
            status: parsePatroniStatus(fixture('healthy.patroni-b')),
          },
        ],
      ]),
      etcd: new Map([['etcd-a', { leader: null }]]),
    });
    expect(patroniViolations(s, spec)).toEqual([
      'patroni-b runs as a primary without the leader key (the leader is patroni-a)',
      'patroni-c sees patroni-b as the leader, the others patroni-a',
      'etcd member etcd-a sees no raft leader',
    ]);
    expect(agreedLeader([healthy, { leader: 'patroni-b', members: [] }, healthy])).toBe('patroni-a');
  });
});
