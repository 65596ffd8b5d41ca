import { describe, expect, it } from 'vitest';
import { syntheticRun } from '../test/fixtures/results.ts';
import type { SuiteInfo } from './format.ts';
import { formatSuiteSummary } from './suite-summary.ts';

const suite: SuiteInfo = {
  name: 'nightly',
  file: 'nightly.yaml',
  id: 'feedbeef',
  startedAt: '2026-11-20T02:00:00.000Z',
  durationMs: 125_000,
  dir: '/x',
  status: 'interrupted',
  exitCode: 130,
  regression: {
    boundPct: 25,
    baseline: { id: 'cafe0001', dir: '/y', startedAt: '2026-11-19T02:00:00.000Z' },
    note: 'against nightly cafe0001',
  },
  notRun: [
    { scenario: 'stack-head-kill', kind: 'skipped', reason: 'not run: the suite was interrupted before it' },
  ],
};

describe('the game day summary table', () => {
  it('has a line per scenario with its verdict and headline figures, then why, what regressed, what did not run', () => {
    const text = formatSuiteSummary(
      {
        suite,
        runs: [
          { result: syntheticRun({ scenario: 'redis-head-kill', runId: 'aaaa0001' }), dir: null },
          {
            result: syntheticRun({ scenario: 'redis-head-pause', runId: 'aaaa0002', failoverMs: 3300 }),
            dir: null,
          },
          {
            result: syntheticRun({ scenario: 'redis-az-power', runId: 'aaaa0003', failoverMs: 2000 }),
            dir: null,
            regressions: [
              {
                figure: 'failover time',
                scope: 'fault #1',
                unit: 'ms',
                before: 1501,
                after: 2001,
                changePct: 33,
                regression: true,
                text: 'failover time 1.50 s -> 2.00 s, +33 %, above the 25 % regression bound',
              },
            ],
          },
        ],
      },
      false,
    );
    const lines = text.split('\n');
    expect(lines[0]).toBe(
      'nightly  INTERRUPTED  3 runs: 1 passed, 2 failed, 0 broken, 1 not run; 2 min 05 s; exit 130',
    );
    expect(lines[1]).toMatch(
      /^ {2}scenario +verdict +failover +unavailable +lost +full redundancy +took +run$/,
    );
    expect(lines[2]).toMatch(/^ {2}redis-head-kill +PASS +1\.50 s +1\.49 s +0 +1\.70 s +10\.00 s +aaaa0001$/);
    expect(lines[3]).toMatch(/^ {2}redis-head-pause +FAIL +3\.30 s/);
    expect(lines[4]).toMatch(/^ {2}redis-az-power +REGRESSED +2\.00 s/);
    expect(lines[5]).toMatch(/^ {2}stack-head-kill +NOT RUN$/);
    expect(text).toContain('✘ redis-head-pause: fault #1 failover time: 3301 ms, expected <= 3000 ms');
    expect(text).toContain(
      'regressions against nightly cafe0001 of 2026-11-19 02:00 UTC (the last that passed), bound 25 %:',
    );
    expect(text).toContain(
      '✘ redis-az-power  fault #1 failover time 1.50 s -> 2.00 s, +33 %, above the 25 % regression bound',
    );
    expect(text).toContain('not run: stack-head-kill (not run: the suite was interrupted before it)');
  });
});
