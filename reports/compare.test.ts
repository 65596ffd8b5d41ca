import { describe, expect, it } from 'vitest';
import { syntheticRun } from '../test/fixtures/results.ts';
import { DEFAULT_BOUND, compareRuns, formatComparison } from './compare.ts';

const failover = (r: ReturnType<typeof syntheticRun>) => r.probes[0]!.windows[0]!.availability.failoverMs!;

describe('chaos compare', () => {
  it('flags an injected regression: a failover that doubled, with the figures and the bound', () => {
    const baseline = syntheticRun({ failoverMs: 1550, runId: 'base0001' });
    const run = syntheticRun({ failoverMs: 3200, runId: 'next0002', maxFailoverMs: 5000 });
    expect(failover(run) / failover(baseline)).toBeGreaterThan(1.25);
    const moves = compareRuns(baseline, run);
    const f = moves.find((m) => m.figure === 'failover time')!;
    expect(f).toMatchObject({
      scope: 'fault #1',
      regression: true,
      before: failover(baseline),
      after: failover(run),
    });
    expect(f.text).toBe('failover time 1.55 s -> 3.20 s, +106 %, above the 25 % regression bound');
    expect(moves.filter((m) => m.regression).map((m) => m.figure)).toEqual([
      'failover time',
      'unavailability',
      'full redundancy',
    ]);
    const text = formatComparison(baseline, run, moves, DEFAULT_BOUND);
    expect(text).toMatch(/^redis-head-kill: run base0001 \(2026-11-20 02:00, 0123456\) -> run next0002/);
    expect(text).toMatch(/✘ fault #1 +failover time 1\.55 s -> 3\.20 s/);
    expect(text).toMatch(/REGRESSION: 3 figures moved beyond the bound/);
  });

  it('passes an unchanged pair, and a small move within the bound', () => {
    const baseline = syntheticRun({ failoverMs: 1500 });
    expect(compareRuns(baseline, syntheticRun({ failoverMs: 1500 })).filter((m) => m.regression)).toEqual([]);
    const moves = compareRuns(baseline, syntheticRun({ failoverMs: 1700 }));
    expect(moves.filter((m) => m.regression)).toEqual([]);
    expect(moves.find((m) => m.figure === 'failover time')!.text).toBe(
      'failover time 1.50 s -> 1.70 s, +13 %, within the 25 % bound',
    );
    expect(formatComparison(baseline, baseline, compareRuns(baseline, baseline), DEFAULT_BOUND)).toMatch(
      /no regression beyond the 25 % bound$/,
    );
  });

  it('does not call a small absolute move a regression, however large in percent', () => {
    const moves = compareRuns(syntheticRun({ failoverMs: 100 }), syntheticRun({ failoverMs: 250 }));
    const f = moves.find((m) => m.figure === 'failover time')!;
    expect(f.regression).toBe(false);
    expect(f.text).toMatch(/\+149 %, beyond the 25 % bound but only 150 ms more \(the floor is 250 ms\)/);
    expect(
      compareRuns(syntheticRun({ failoverMs: 100 }), syntheticRun({ failoverMs: 250 }), {
        ...DEFAULT_BOUND,
        minDeltaMs: 0,
      }).find((m) => m.figure === 'failover time')!.regression,
    ).toBe(true);
  });

  it('counts lost writes, a verdict that broke and a run that no longer completes', () => {
    const moves = compareRuns(syntheticRun(), syntheticRun({ lost: 12 }));
    expect(moves.find((m) => m.figure === 'lost writes')).toMatchObject({
      before: 0,
      after: 12,
      regression: true,
      text: 'lost writes 0 -> 12, up from 0, above the 25 % regression bound',
    });
    expect(moves.find((m) => m.figure === 'verdict')).toMatchObject({
      before: 'PASS',
      after: 'FAIL',
      regression: true,
    });
    const broken = compareRuns(syntheticRun(), syntheticRun({ status: 'error' }));
    expect(broken.find((m) => m.figure === 'status')).toMatchObject({ regression: true });
    expect(compareRuns(syntheticRun({ lost: 12 }), syntheticRun()).filter((m) => m.regression)).toEqual([]);
  });
});
