import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type PatroniAnswer,
  attachedPatroniState,
  attachedPatroniViolations,
  clusterHosts,
  parseTimings,
  writableLeader,
} from './attach.ts';
import { parseCluster, parsePatroniStatus } from './cluster.ts';

// Patroni 3.0.2's answers recorded from a run (fixtures/), its members named patroni-a/b/c; here
// the user's containers are named otherwise (shop-db-1/2/3), and the address book maps the hosts
// /cluster gives (patroni-a...) and their addresses to them.
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as unknown;
const book = new Map([
  ['patroni-a', 'shop-db-1'],
  ['patroni-b', 'shop-db-2'],
  ['patroni-c', 'shop-db-3'],
  ['10.0.0.3', 'shop-db-3'],
]);
const nameOf = (h: string) => book.get(h);
const answer = (cluster: string, status?: string): PatroniAnswer => ({
  cluster: parseCluster(fixture(cluster)),
  hosts: clusterHosts(fixture(cluster)),
  ...(status ? { status: parsePatroniStatus(fixture(status)) } : {}),
});
const node = (name: string, a: PatroniAnswer, az = 'a') => ({ name, az, answer: a });
const bound = { maximumLagOnFailoverBytes: 1048576 };

describe("an attached Patroni cluster: /cluster's leader, mapped to the user's containers", () => {
  it("reads each member's host (else its api_url's), and the user's timings from /config", () => {
    expect([...clusterHosts(fixture('healthy.cluster'))]).toEqual([
      ['patroni-a', 'patroni-a'],
      ['patroni-b', 'patroni-b'],
      ['patroni-c', 'patroni-c'],
    ]);
    expect([
      ...clusterHosts({
        members: [{ name: 'x', api_url: 'http://10.0.0.3:8008/patroni' }, { role: 'leader' }],
      }),
    ]).toEqual([['x', '10.0.0.3']]);
    expect(parseTimings({ ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 100 })).toEqual({
      ttlMs: 5000,
      loopWaitMs: 1000,
      maximumLagOnFailoverBytes: 100,
    });
    expect(parseTimings({})).toEqual({
      ttlMs: 30_000,
      loopWaitMs: 10_000,
      maximumLagOnFailoverBytes: 1048576,
    });
  });

  it('is whole with one leader and every replica streaming from it, by container name', () => {
    const t = attachedPatroniState(
      [
        node('shop-db-1', answer('healthy.cluster', 'healthy.patroni-a')),
        node('shop-db-2', answer('healthy.cluster', 'healthy.patroni-b'), 'b'),
        node('shop-db-3', answer('healthy.cluster', 'healthy.patroni-b'), 'c'),
      ],
      nameOf,
    );
    expect(t.leader).toBe('shop-db-1');
    expect(t.members).toEqual(['shop-db-1', 'shop-db-2', 'shop-db-3']);
    expect(t.nodes[0]).toEqual({ name: 'shop-db-1', az: 'a', reachable: true, role: 'leader' });
    expect(t.nodes[1]).toMatchObject({ role: 'replica', following: 'shop-db-1', linkUp: true, lag: 0 });
    expect(attachedPatroniViolations(t, bound)).toEqual([]);
    // A replica further behind than the user's maximum_lag_on_failover is not redundant.
    expect(attachedPatroniViolations(t, { maximumLagOnFailoverBytes: -1 })).toEqual([
      'shop-db-2 is 0 bytes behind, more than maximum_lag_on_failover (-1)',
      'shop-db-3 is 0 bytes behind, more than maximum_lag_on_failover (-1)',
    ]);
  });

  it('sees the leader dead, the key run out (nobody), then the new leader', () => {
    const unlocked = attachedPatroniState(
      [
        node('shop-db-1', {}),
        node('shop-db-2', answer('unlocked.cluster', 'unlocked.patroni-b')),
        node('shop-db-3', answer('unlocked.cluster', 'unlocked.patroni-c')),
      ],
      nameOf,
    );
    expect(unlocked.leader).toBeNull();
    expect(unlocked.nodes[0]).toEqual({ name: 'shop-db-1', az: 'a', reachable: false });
    expect(attachedPatroniViolations(unlocked, bound)[0]).toBe('no member holds the leader key');

    const promoted = attachedPatroniState(
      [
        node('shop-db-1', {}),
        node('shop-db-2', answer('promoted.cluster-b', 'promoted.patroni-b')),
        node('shop-db-3', answer('promoted.cluster-c', 'promoted.patroni-c')),
      ],
      nameOf,
    );
    expect(promoted.leader).toBe('shop-db-3');
    expect(promoted.nodes[1]).toMatchObject({ following: 'shop-db-3' });
  });

  it('takes no standby_leader for a writer, and takes a member whose host no container has for no leader, naming its host', () => {
    const standby = {
      members: [
        { name: 'a', role: 'standby_leader', state: 'running', host: 'patroni-a' },
        { name: 'b', role: 'replica', state: 'running', host: 'patroni-b', lag: 0 },
      ],
    };
    expect(parseCluster(standby).leader).toBe('a'); // the built system's reading holds the key
    expect(writableLeader([parseCluster(standby)])).toBeNull(); // but it takes no writes
    const t = attachedPatroniState(
      [
        node('shop-db-1', { cluster: parseCluster(standby), hosts: clusterHosts(standby) }),
        node('shop-db-2', { cluster: parseCluster(standby), hosts: clusterHosts(standby) }),
      ],
      nameOf,
    );
    expect(t.leader).toBeNull();
    expect(t.nodes[0]).toMatchObject({ role: 'standby_leader' });
    expect(attachedPatroniViolations(t, bound)[0]).toBe(
      'shop-db-1 is a standby_leader (a standby cluster): no member takes writes',
    );
    const elsewhere = {
      members: [{ name: 'x', role: 'leader', state: 'running', host: '10.9.9.9' }],
    };
    // A leader whose host no container has is no leader (no container would be written to), named with its host.
    const unmapped = attachedPatroniState(
      [node('shop-db-1', { cluster: parseCluster(elsewhere), hosts: clusterHosts(elsewhere) })],
      nameOf,
    );
    expect(unmapped.leader).toBeNull();
    expect(unmapped.members).toEqual([]);
    expect(unmapped.unmappedLeader).toBe('x (host 10.9.9.9)');
    expect(attachedPatroniViolations(unmapped, bound)[0]).toBe(
      "the leader x (host 10.9.9.9) is no container the selector found (its host is not in the stack's address book): select every member's container",
    );
  });

  it('takes the leader only a strict majority of the answering views name: a tie (an old leader cut off, naming itself) is nobody', () => {
    const view = (leader: string) =>
      parseCluster({
        members: ['a', 'b', 'c'].map((name) => ({
          name,
          role: name === leader ? 'leader' : 'replica',
          state: 'running',
          host: `patroni-${name}`,
        })),
      });
    // The old leader a still names itself; b, which the DCS has as leader now, names b.
    expect(writableLeader([view('a'), view('b')])).toBeNull();
    expect(writableLeader([view('a'), view('b'), undefined])).toBeNull();
    expect(writableLeader([view('a'), view('b'), view('b')])).toBe('b');
    expect(writableLeader([undefined, view('b'), view('b')])).toBe('b');
    expect(writableLeader([view('a')])).toBe('a');
    expect(writableLeader([undefined, undefined])).toBeNull();
  });
});
