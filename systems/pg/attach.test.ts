import { describe, expect, it } from 'vitest';
import { type PgReading, attachedPgViolations, pgLeader, pgState } from './attach.ts';

const names = new Map([
  ['10.0.0.1', 'p1'],
  ['p1', 'p1'],
  ['10.0.0.2', 'p2'],
  ['10.0.0.3', 'p3'],
]);
const nameOf = (h: string) => names.get(h);
const primary = (...standbys: string[]): PgReading => ({
  standby: false,
  senders: standbys.map((addr) => ({ addr, name: 'walreceiver', state: 'streaming' })),
});
const standby = (sender = 'p1', status = 'streaming'): PgReading => ({
  standby: true,
  receiver: { status, sender },
  lag: 0,
});
const node = (name: string, reading: PgReading | undefined) => ({ name, az: 'a', reading });

describe('an attached plain Postgres: pg_is_in_recovery() and pg_stat_replication', () => {
  it('leads: the one node out of recovery; of several, the one most standbys stream from', () => {
    expect(pgLeader([node('p1', primary('10.0.0.2')), node('p2', standby())], nameOf)).toBe('p1');
    expect(
      pgLeader(
        [node('p1', primary()), node('p2', primary('10.0.0.3')), node('p3', standby('10.0.0.2'))],
        nameOf,
      ),
    ).toBe('p2');
    expect(pgLeader([node('p1', primary()), node('p2', primary())], nameOf)).toBeNull();
    expect(pgLeader([node('p1', undefined), node('p2', standby())], nameOf)).toBeNull();
  });

  it("is whole when every standby that answers streams from the leader, in the leader's pg_stat_replication", () => {
    const whole = pgState(
      [node('p1', primary('10.0.0.2')), node('p2', standby()), node('p3', undefined)],
      nameOf,
    );
    expect(whole.leader).toBe('p1');
    expect(whole.members).toEqual(['p1', 'p2']);
    expect(whole.nodes[1]).toMatchObject({ role: 'standby', following: 'p1', linkUp: true, lag: 0 });
    expect(attachedPgViolations(whole)).toEqual([]);

    // The standby says it streams, the primary does not list it: not redundant.
    const unlisted = pgState([node('p1', primary()), node('p2', standby())], nameOf);
    expect(attachedPgViolations(unlisted)).toEqual(['p2 is not streaming from p1 (its pg_stat_replication)']);
    const elsewhere = pgState([node('p1', primary('10.0.0.2')), node('p2', standby('10.9.9.9'))], nameOf);
    expect(attachedPgViolations(elsewhere)).toEqual(['p2 follows 10.9.9.9, not p1']);

    // The primary killed, nothing promotes the standby: no primary, said so.
    const headless = pgState([node('p1', undefined), node('p2', standby('p1', 'waiting'))], nameOf);
    expect(headless.leader).toBeNull();
    expect(attachedPgViolations(headless)).toEqual([
      'no node that answers is a primary (a plain streaming replication promotes no standby by itself)',
    ]);
  });
});
