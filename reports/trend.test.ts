import { describe, expect, it } from 'vitest';
import { syntheticRun } from '../test/fixtures/results.ts';
import { renderTrendHtml, trendOf } from './trend.ts';

const run = (
  scenario: string,
  day: number,
  failoverMs: number,
  o: Parameters<typeof syntheticRun>[0] = {},
) => ({
  result: syntheticRun({
    scenario,
    failoverMs,
    runId: `${scenario.slice(0, 4)}${day}`.padEnd(8, '0'),
    startedAt: `2026-11-${String(day).padStart(2, '0')}T02:00:00.000Z`,
    gitRevision: `${day}`.repeat(40).slice(0, 40),
    ...o,
  }),
  dir: null,
});

describe('trend', () => {
  it('groups runs by scenario, in time order, with date, revision, figures and verdict', () => {
    const trends = trendOf([
      run('redis-head-kill', 12, 1600),
      run('pg-primary-kill', 11, 2500),
      run('redis-head-kill', 10, 1500),
      run('redis-head-kill', 11, 3300, { lost: 2 }),
    ]);
    expect(trends.map((t) => t.scenario)).toEqual(['pg-primary-kill', 'redis-head-kill']);
    const kill = trends[1]!;
    expect(
      kill.points.map((p) => [p.startedAt.slice(0, 10), p.gitRevision.slice(0, 2), p.outcome, p.lostWrites]),
    ).toEqual([
      ['2026-11-10', '10', 'pass', 0],
      ['2026-11-11', '11', 'fail', 2],
      ['2026-11-12', '12', 'pass', 0],
    ]);
    expect(kill.points.map((p) => Math.round(p.failoverMs!))).toEqual([1501, 3301, 1601]);
    expect(kill.counts).toEqual({ pass: 2, fail: 1, broken: 0 });
  });

  it('keeps a run that did not complete, with what it measured', () => {
    const [t] = trendOf([
      run('redis-head-kill', 10, 1500),
      run('redis-head-kill', 11, 1500, { status: 'error' }),
    ]);
    expect(t!.points.map((p) => p.outcome)).toEqual(['pass', 'broken']);
    expect(t!.counts.broken).toBe(1);
  });

  it('draws one chart per scenario on one self-contained page, revisions on the axis', () => {
    const html = renderTrendHtml(
      trendOf([run('redis-head-kill', 10, 1500), run('redis-head-kill', 11, 1700)]),
      {
        runsDir: '/runs',
      },
    );
    expect(html).toContain('id="trend-chart-0"');
    expect(html).toContain('11-10 02:00\\n1010101');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=/i);
    expect(html).toMatch(/2 runs: 2 passed, 0 failed, 0 broken/);
  });
});
