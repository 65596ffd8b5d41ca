import { describe, expect, it } from 'vitest';
import type { Op } from '../core/history.ts';
import { type Expectations, scenarioSchema } from '../scenarios/schema.ts';
import { type CheckInput, check } from './index.ts';
import { combine } from './verdict.ts';

const op = (seq: number, t: number, outcome: Op['outcome']): Op => ({
  probe: 'w',
  op: 'write',
  seq,
  tInvoke: t,
  tComplete: t + 1,
  outcome,
});

/** The expectations a scenario gets from its file, defaults filled in as the loader does. */
const expectOf = (e: Record<string, unknown>): Expectations =>
  scenarioSchema.parse({
    name: 'x',
    stack: { redis: {} },
    probes: [{ kind: 'redis-writer' }],
    faults: [{ action: 'kill', target: 'redis:head' }],
    expect: e,
  }).expect;

const history = [
  op(1, 0, 'ok'),
  op(2, 100, 'fail'),
  op(3, 200, 'fail'),
  op(4, 1500, 'ok'),
  op(5, 1600, 'ok'),
];
const input = (over: Partial<CheckInput> = {}): CheckInput => ({
  history,
  probe: 'w',
  windows: [{ fault: 0, from: 50, injectedAt: 50, until: null, faults: [0] }],
  readBack: new Set([1, 4, 5]),
  expect: expectOf({ maxFailoverMs: 2000 }),
  stableMs: 0,
  systems: [],
  ...over,
});

describe('verdicts', () => {
  it('compose: fail beats unknown beats pass', () => {
    expect(combine([])).toBe('pass');
    expect(combine(['pass', 'unknown'])).toBe('unknown');
    expect(combine(['unknown', 'fail', 'pass'])).toBe('fail');
  });
});

describe('check', () => {
  it('passes when every expectation holds', () => {
    const r = check(input());
    expect(r.verdict).toBe('pass');
    expect(r.expectations.map((e) => [e.name, e.verdict])).toEqual([
      ['recovered', 'pass'],
      ['failover time', 'pass'],
      ['lost acknowledged writes', 'pass'],
      ['failed writes stay absent', 'pass'],
    ]);
  });

  it('fails a write reported failed that turns up in the read-back, naming it, unless declared', () => {
    const present = new Set([1, 3, 4, 5]); // seq 3 failed (at 200), yet it is there
    const r = check(input({ readBack: present, expect: expectOf({}) }));
    expect(r.verdict).toBe('fail');
    expect(r.expectations.find((e) => e.name === 'failed writes stay absent')).toMatchObject({
      scope: { probe: 'w' },
      threshold: 0,
      value: 1,
      actual: '1 reported failed but read back: seq 3',
      verdict: 'fail',
    });
    expect(r.writes?.failedButPresentSeqs).toEqual([3]);
    expect(check(input({ readBack: present, expect: expectOf({ failedButPresent: 1 }) })).verdict).toBe(
      'pass',
    );
    const two = new Set([1, 2, 3, 4, 5]);
    expect(check(input({ readBack: two, expect: expectOf({ failedButPresent: 1 }) })).verdict).toBe('fail');
    const any = check(input({ readBack: two, expect: expectOf({ failedButPresent: 'any' }) }));
    expect(any.verdict).toBe('pass');
    expect(any.expectations.find((e) => e.name === 'failed writes stay absent')).toMatchObject({
      value: 2,
      actual: '2 reported failed but read back: seq 2, 3',
    });
    // Without a read-back it cannot be said.
    const none = check(input({ readBack: null, expect: expectOf({ failedButPresent: 'any' }) }));
    expect(none.expectations.find((e) => e.name === 'failed writes stay absent')).toMatchObject({
      value: null,
      verdict: 'unknown',
    });
  });

  it('names the first few seqs of many, and says how many more', () => {
    const many = Array.from({ length: 8 }, (_, i) => op(10 + i, 300 + i * 10, 'fail'));
    const r = check(
      input({
        history: [...history, ...many],
        readBack: new Set([1, 4, 5, ...many.map((o) => o.seq)]),
        expect: expectOf({}),
      }),
    );
    expect(r.expectations.find((e) => e.name === 'failed writes stay absent')?.actual).toBe(
      '8 reported failed but read back: seq 10, 11, 12, 13, 14 … (3 more)',
    );
  });

  it("judges one leader at a time only for a probe whose system's leader record is given", () => {
    const withNode = history.map((o) => ({ ...o, node: o.seq < 4 ? 'redis-a' : 'redis-b' }));
    withNode.push({ ...op(6, 1700, 'ok'), node: 'redis-a' }); // the old head, after the move at 1000
    const events = [
      {
        t: 0,
        source: 'registry',
        type: 'record-set',
        data: { name: 'redis-head', previous: null, value: 'redis-a' },
      },
      {
        t: 1000,
        source: 'registry',
        type: 'record-set',
        data: { name: 'redis-head', previous: 'redis-a', value: 'redis-b' },
      },
    ];
    const leadership = { system: 'redis', record: 'redis-head', events };
    const r = check(input({ history: withNode, readBack: new Set([1, 4, 5, 6]), leadership }));
    expect(r.verdict).toBe('fail');
    expect(r.writesByFormerLeader).toEqual({
      record: 'redis-head',
      count: 1,
      nodes: [{ node: 'redis-a', count: 1, seqs: [6] }],
    });
    expect(r.expectations.at(-1)).toMatchObject({
      name: 'one leader at a time',
      scope: { probe: 'w', system: 'redis' },
      verdict: 'fail',
    });
    const declared = check(
      input({
        history: withNode,
        readBack: new Set([1, 4, 5, 6]),
        leadership,
        expect: expectOf({ maxFailoverMs: 2000, writesByFormerLeader: 1 }),
      }),
    );
    expect(declared.verdict).toBe('pass');
    const without = check(input({ history: withNode, readBack: new Set([1, 4, 5, 6]) }));
    expect(without.verdict).toBe('pass');
    expect(without).not.toHaveProperty('writesByFormerLeader');
    expect(without.expectations.map((e) => e.name)).not.toContain('one leader at a time');
  });

  it('refuses a failedButPresent that is neither a count nor any', () => {
    expect(() => expectOf({ failedButPresent: -1 })).toThrow();
    expect(() => expectOf({ failedButPresent: 'some' })).toThrow();
    expect(() => expectOf({ writesByFormerLeader: -1 })).toThrow();
    expect(expectOf({ writesByFormerLeader: 'any' }).writesByFormerLeader).toBe('any');
    expect(expectOf({}).writesByFormerLeader).toBeUndefined(); // judged as 0
  });

  it('fails a run that lost an acknowledged write although the scenario said nothing about loss', () => {
    const r = check(input({ readBack: new Set([1, 4]), expect: expectOf({}) }));
    expect(r.verdict).toBe('fail');
    const lost = r.expectations.find((e) => e.name === 'lost acknowledged writes')!;
    expect(lost).toMatchObject({ verdict: 'fail', value: 1, threshold: 0 });
  });

  it('lets a scenario state the loss it expects: a bound, an exact count, or any', () => {
    const twoLost = new Set([1]);
    expect(check(input({ readBack: twoLost, expect: expectOf({ maxLostWrites: 2 }) })).verdict).toBe('pass');
    expect(check(input({ readBack: twoLost, expect: expectOf({ maxLostWrites: 1 }) })).verdict).toBe('fail');
    expect(check(input({ readBack: twoLost, expect: expectOf({ lostWrites: 2 }) })).verdict).toBe('pass');
    expect(check(input({ readBack: twoLost, expect: expectOf({ lostWrites: 3 }) })).verdict).toBe('fail');
    const any = check(input({ readBack: twoLost, expect: expectOf({ lostWrites: 'any' }) }));
    expect(any.verdict).toBe('pass');
    expect(any.writes?.lost).toBe(2);
  });

  it('fails when failover is too slow', () => {
    const r = check(input({ expect: expectOf({ maxFailoverMs: 1000 }) }));
    expect(r.verdict).toBe('fail');
    expect(r.expectations.find((e) => e.name === 'failover time')).toMatchObject({
      value: 1451,
      verdict: 'fail',
    });
  });

  it('judges each fault in its own window', () => {
    const h = [
      op(1, 0, 'ok'),
      op(2, 110, 'fail'),
      op(3, 1600, 'ok'), // fault 0 at 100 recovers after 1501 ms
      op(4, 2500, 'ok'),
      op(5, 3110, 'fail'),
      op(6, 4200, 'ok'), // fault 1 at 3100 recovers after 1101 ms
      op(7, 5300, 'ok'),
    ];
    const r = check(
      input({
        history: h,
        readBack: new Set([1, 3, 4, 6, 7]),
        windows: [
          { fault: 0, from: 100, injectedAt: 100, until: 3100, faults: [0] },
          { fault: 1, from: 3100, injectedAt: 3100, until: null, faults: [1] },
        ],
        expect: expectOf({ maxFailoverMs: 2000 }),
      }),
    );
    expect(r.verdict).toBe('pass');
    expect(r.windows.map((w) => w.availability.failoverMs)).toEqual([1501, 1101]);
    expect(r.expectations.filter((e) => e.name === 'failover time').map((e) => e.scope.fault)).toEqual([
      0, 1,
    ]);
  });

  it('a fault the probe did not notice passes its time bounds as "no outage"', () => {
    const h = [op(1, 0, 'ok'), op(2, 100, 'ok'), op(3, 200, 'ok')];
    const r = check(
      input({ history: h, readBack: new Set([1, 2, 3]), expect: expectOf({ maxFailoverMs: 10 }) }),
    );
    expect(r.verdict).toBe('pass');
    expect(r.expectations[0]).toMatchObject({ name: 'recovered', actual: 'no outage seen by the probe' });
    expect(r.expectations[1]).toMatchObject({ name: 'failover time', value: null, verdict: 'pass' });
  });

  it('is unknown, not passing, when the read-back is missing', () => {
    const r = check(input({ readBack: null }));
    expect(r.verdict).toBe('unknown');
    expect(r.expectations.find((e) => e.name === 'lost acknowledged writes')?.verdict).toBe('unknown');
  });

  it('is unknown when no fault was applied', () => {
    const r = check(input({ windows: [] }));
    expect(r.verdict).toBe('unknown');
    expect(r.error).toMatch(/no fault was applied/);
  });

  it('judges full redundancy from the systems, and fails naming what is wrong', () => {
    const convergence = {
      converged: false,
      at: null,
      timeToFullRedundancyMs: null,
      violations: ['redis-a2 is up but outside the chain (a standalone master)'],
      waitedMs: 30_000,
      pollIntervalMs: 250,
    };
    const r = check(input({ systems: [{ name: 'redis', convergence }] }));
    expect(r.verdict).toBe('fail');
    const e = r.expectations.find((x) => x.name === 'full redundancy')!;
    expect(e.scope).toEqual({ system: 'redis' });
    expect(e.actual).toMatch(/redis-a2 is up but outside the chain/);
    const ok = check(
      input({
        systems: [{ name: 'redis', convergence: { ...convergence, converged: true, violations: [] } }],
      }),
    );
    expect(ok.verdict).toBe('pass');
  });

  it('turns an exception inside the checker into unknown with the error', () => {
    const r = check(input({ history: [null] as unknown as Op[] }));
    expect(r.verdict).toBe('unknown');
    expect(r.error).toMatch(/TypeError/);
  });
});
