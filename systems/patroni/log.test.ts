import { describe, expect, it } from 'vitest';
import { DECISION_TYPES, DecisionFilter, classify, parseLogLine } from './log.ts';

// Lines as Patroni 3.0.2 wrote them in a run of patroni-az-power (LOG_FORMAT: epoch s.ms LEVEL: message).
const lines = [
  '1796220589.933 INFO: trying to bootstrap a new cluster',
  '1796220591.973 INFO: initialized a new cluster',
  '1796220601.001 INFO: no action. I am (patroni-a), the leader with the lock',
  '1796220606.002 INFO: no action. I am (patroni-a), the leader with the lock',
  "1796220623.870 WARNING: Request failed to patroni-a: GET http://patroni-a:8008/patroni (HTTPConnectionPool(host='patroni-a', port=8008): Max retries exceeded)",
  '1796220623.968 INFO: following new leader after trying and failing to obtain lock',
  '1796220624.010 INFO: promoted self to leader by acquiring session lock',
  '1796220629.010 INFO: no action. I am (patroni-c), the leader with the lock',
  '1796220629.020 INFO: no action. I am (patroni-b), a secondary, and following a leader (patroni-c)',
  '1796220640.333 INFO: running pg_rewind from patroni-c',
  '1796220640.475 INFO: running pg_rewind from dbname=postgres user=postgres host=patroni-c port=5432',
  '1796220700.000 INFO: demoting self because DCS is not accessible and I was a leader',
  '1796220700.100 INFO: Demoting self (immediate-nolock)',
  "1796220710.000 INFO: Assigning synchronous standby status to ['patroni-b']",
  '2026-12-02 14:06:44.199 UTC [29] LOG:  received promote request',
];

describe("Patroni's log", () => {
  it("reads its own lines (time in ms, level, message) and leaves Postgres's alone", () => {
    expect(parseLogLine(lines[6]!)).toEqual({
      t: 1796220624010,
      level: 'INFO',
      message: 'promoted self to leader by acquiring session lock',
    });
    expect(parseLogLine(lines.at(-1)!)).toBeUndefined();
  });

  it('names each decision, with the nodes it names', () => {
    const got = lines.map((l) => parseLogLine(l)).map((l) => (l ? classify(l.message) : undefined));
    expect(got.map((d) => d?.type ?? null)).toEqual([
      null,
      'bootstrapped',
      'leader-with-lock',
      'leader-with-lock',
      'member-unreachable',
      'lost-leader-race',
      'promoted-self',
      'leader-with-lock',
      'following-leader',
      'rewinding',
      null,
      'demoting-self',
      'demoting-self',
      'sync-standby',
      null,
    ]);
    expect(got[4]?.data).toEqual({ member: 'patroni-a', url: 'http://patroni-a:8008/patroni' });
    expect(got[8]?.data).toEqual({ leader: 'patroni-c' });
    expect(got[9]?.data).toEqual({ from: 'patroni-c' });
    expect(got[11]?.loop).toBe(true);
    expect(got[12]?.loop).toBe(false);
    expect(got[13]?.data).toEqual({ members: 'patroni-b' });
    expect(
      classify("Synchronous standby status assigned to CaseInsensitiveSet({'patroni-c'})")?.data,
    ).toEqual({
      members: 'patroni-c',
    });
    expect(DECISION_TYPES).toContain('promoted-self');
  });

  it('makes one event of a loop sentence repeated loop after loop, and one of each reason per loop sentence', () => {
    const f = new DecisionFilter();
    const seq = [
      'no action. I am (patroni-b), a secondary, and following a leader (patroni-a)',
      'no action. I am (patroni-b), a secondary, and following a leader (patroni-a)',
      'Request failed to patroni-a: GET http://patroni-a:8008/patroni (timeout)',
      'Wal position of patroni-c is ahead of my wal position',
      'following a different leader because i am not the healthiest node',
      'Request failed to patroni-a: GET http://patroni-a:8008/patroni (timeout)',
      'Wal position of patroni-c is ahead of my wal position',
      'following a different leader because i am not the healthiest node',
      'no action. I am (patroni-b), a secondary, and following a leader (patroni-c)',
      'no action. I am (patroni-b), a secondary, and following a leader (patroni-c)',
    ];
    const kept = seq.filter((m) => f.accept(classify(m)!));
    expect(kept).toEqual([seq[0], seq[2], seq[3], seq[4], seq[8]]);
  });
});
