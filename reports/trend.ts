import { existsSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RunStatus, Verdict } from '../core/result.ts';
import {
  type Outcome,
  type RunInput,
  escapeXml as esc,
  failoverCell,
  formatMs,
  headline,
  outcomeOf,
} from './format.ts';
import { page } from './html.ts';

/**
 * Trends over stored runs: per scenario, its headline figures (the worst failover and
 * unavailability over its windows, lost writes, time to full redundancy) and its verdict, run
 * after run, with the date and the harness's git revision of each (from its result, as its
 * meta.json has it), so a slower failover can be traced to the commit that brought it.
 */
export interface TrendPoint {
  runId: string;
  startedAt: string;
  gitRevision: string;
  gitDirty: boolean | null;
  status: RunStatus;
  verdict: Verdict;
  outcome: Outcome;
  failoverMs: number | null;
  unavailabilityMs: number | null;
  lostWrites: number | null;
  timeToFullRedundancyMs: number | null;
  unrecovered: boolean;
  outages: number;
  windows: number;
  runDir: string | null;
}

export interface ScenarioTrend {
  scenario: string;
  points: TrendPoint[];
  counts: Record<Outcome, number>;
}

export function trendOf(runs: readonly RunInput[]): ScenarioTrend[] {
  const by = new Map<string, TrendPoint[]>();
  for (const run of runs) {
    const r = run.result;
    const h = headline(r);
    const point: TrendPoint = {
      runId: r.runId,
      startedAt: r.startedAt,
      gitRevision: r.harness.gitRevision,
      gitDirty: r.harness.gitDirty,
      status: r.status,
      verdict: r.verdict,
      outcome: outcomeOf(run),
      failoverMs: h.failoverMs,
      unavailabilityMs: h.unavailabilityMs,
      lostWrites: h.lostWrites,
      timeToFullRedundancyMs: h.timeToFullRedundancyMs,
      unrecovered: h.unrecovered,
      outages: h.outages,
      windows: h.windows,
      runDir: run.dir,
    };
    const list = by.get(r.scenario.name) ?? [];
    list.push(point);
    by.set(r.scenario.name, list);
  }
  return [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([scenario, points]) => {
      points.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.runId.localeCompare(b.runId));
      const counts = { pass: 0, fail: 0, broken: 0 };
      for (const p of points) counts[p.outcome]++;
      return { scenario, points, counts };
    });
}

const rev = (p: TrendPoint) => `${p.gitRevision.slice(0, 7)}${p.gitDirty ? '+' : ''}`;
const when = (p: TrendPoint) => p.startedAt.replace('T', ' ').slice(0, 16);

function table(t: ScenarioTrend, linkBase: string | null): string {
  const rows = [...t.points].reverse().map((p) => {
    const report =
      p.runDir && existsSync(join(p.runDir, 'report.html')) ? join(p.runDir, 'report.html') : null;
    const link = report ? `<a href="${esc(linkBase ? relative(linkBase, report) : report)}">report</a>` : '';
    const word =
      p.status === 'completed'
        ? p.verdict === 'unknown'
          ? 'UNKNOWN'
          : p.verdict.toUpperCase()
        : p.status.toUpperCase();
    const failover = failoverCell(p);
    return `<tr data-run-id="${esc(p.runId)}"><td>${esc(when(p))}</td><td><code>${esc(rev(p))}</code></td><td><span class="verdict ${p.outcome}">${esc(word)}</span></td><td class="num">${esc(failover)}</td><td class="num">${esc(formatMs(p.unavailabilityMs))}</td><td class="num">${p.lostWrites ?? '—'}</td><td class="num">${esc(formatMs(p.timeToFullRedundancyMs))}</td><td><code>${esc(p.runId)}</code> ${link}</td></tr>`;
  });
  return `<details><summary>every run (${t.points.length})</summary><table><tr><th>started (UTC)</th><th>revision</th><th>verdict</th><th class="num">failover</th><th class="num">unavailable</th><th class="num">lost</th><th class="num">full redundancy</th><th>run</th></tr>${rows.join('')}</table></details>`;
}

/** One page: per scenario a chart of its figures over the runs and the runs as a table. */
export function renderTrendHtml(
  trends: ScenarioTrend[],
  opts: { runsDir: string; linkBase?: string | null },
): string {
  const total = trends.reduce((n, t) => n + t.points.length, 0);
  const sections = trends.map((t, i) => {
    const last = t.points.at(-1)!;
    return `<section class="run trend" id="trend-${i}" data-scenario="${esc(t.scenario)}">
<h2>${esc(t.scenario)} <span class="verdict ${last.outcome}">${esc(last.outcome === 'pass' ? 'PASS' : last.outcome === 'fail' ? 'FAIL' : 'BROKEN')}</span></h2>
<p class="meta">${t.points.length} runs: ${t.counts.pass} passed, ${t.counts.fail} failed, ${t.counts.broken} broken · last ${esc(when(last))} at <code>${esc(rev(last))}</code></p>
<div class="chart" id="trend-chart-${i}"></div>
<div class="legend-keys"><span class="key-verdicts">dots on top: each run's verdict (green passed, red failed, amber did not complete)</span></div>
${table(t, opts.linkBase ?? null)}
</section>`;
  });
  const data = {
    trends: trends.map((t, i) => ({
      id: `trend-chart-${i}`,
      labels: t.points.map((p) => `${when(p).slice(5)}\n${rev(p)}`),
      failover: t.points.map((p) => p.failoverMs),
      unavailability: t.points.map((p) => p.unavailabilityMs),
      lost: t.points.map((p) => p.lostWrites),
      outcomes: t.points.map((p) => p.outcome),
      runs: t.points.map((p) => `${p.runId} ${when(p)} ${rev(p)}`),
    })),
  };
  const body = `<header><h1>Trends</h1>
<p class="meta">${trends.length} scenarios, ${total} runs in <code>${esc(opts.runsDir)}</code> · per run: the longest failover and unavailability of its fault windows, its lost acknowledged writes, its verdict; date and harness revision on the axis</p></header>
${sections.join('\n') || '<p>No runs found.</p>'}
<footer>chaos-harness trend · generated ${esc(new Date().toISOString().replace('T', ' ').slice(0, 19))} UTC · charts by uPlot</footer>`;
  return page('Trends · chaos-harness', body, data, 'trend.js');
}

export function writeTrendHtml(trends: ScenarioTrend[], runsDir: string, out: string): void {
  writeFileSync(out, renderTrendHtml(trends, { runsDir, linkBase: join(out, '..') }));
}
