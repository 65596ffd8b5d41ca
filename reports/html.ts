import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PhaseLatency, ProbeResult, RunResult } from '../core/result.ts';
import {
  type ReportFormat,
  type ReportInput,
  type RunInput,
  brokenExpectations,
  escapeXml as esc,
  failoverCell,
  faultLabel,
  formatMs,
  headline,
  outcomeOf,
  titleOf,
} from './format.ts';
import {
  type LagChart,
  type ProbeChart,
  historyFileOf,
  lagChartsOf,
  latencyFromHistory,
  timelineOf,
} from './timeline.ts';

/**
 * The HTML report: one self-contained file (uPlot, its stylesheet, the page's script and the
 * data inlined; nothing is fetched), for one run or a whole game day. At the top the verdict
 * and the figures, then each probe's timeline, then what a reader checks next: the
 * expectations, the lost writes by id, the client settings, the faults, the systems, the
 * events. Every figure carries its raw value in `data-value`, for tests and scrapers.
 */
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const assets = new Map<string, string>();
function asset(file: string): string {
  let text = assets.get(file);
  if (text === undefined) {
    text = readFileSync(
      file.startsWith('uplot/') ? require.resolve(file) : join(here, 'assets', file),
      'utf8',
    );
    assets.set(file, text);
  }
  return text;
}

/** JSON that can sit inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');
/** Inlined code must not close its own <script> or <style> element early. */
const inline = (code: string, tag: 'script' | 'style') =>
  code.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);

/** A page: the stylesheets, the body, the data and the scripts (`timeline.js`, `trend.js`), all inline. */
export function page(title: string, body: string, data: unknown, script = 'timeline.js'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chaos-harness">
<title>${esc(title)}</title>
<style>${inline(asset('uplot/dist/uPlot.min.css'), 'style')}</style>
<style>${inline(asset('report.css'), 'style')}</style>
</head>
<body>
<main>
${body}
</main>
<script type="application/json" id="chaos-data">${scriptJson(data)}</script>
<script>${inline(asset('uplot/dist/uPlot.iife.min.js'), 'script')}</script>
<script>${inline(asset(script), 'script')}</script>
</body>
</html>
`;
}

const VERDICT_WORD = { pass: 'PASS', fail: 'FAIL', broken: 'BROKEN' } as const;

function verdictBadge(run: RunInput): string {
  const r = run.result;
  const outcome = outcomeOf(run);
  const word =
    r.status === 'completed'
      ? r.verdict === 'unknown'
        ? 'UNKNOWN'
        : VERDICT_WORD[outcome]
      : r.status.toUpperCase();
  return `<span class="verdict ${outcome}" data-figure="verdict" data-value="${esc(r.verdict)}" data-status="${esc(r.status)}">${esc(word)}</span>`;
}

const msText = (v: number | null) => (v === null ? '—' : `${Math.round(v)} ms`);
const stamp = (iso: string) => `${iso.replace('T', ' ').slice(0, 19)} UTC`;

interface Figure {
  figure: string;
  label: string;
  value: number | null;
  text: string;
  note?: string;
  tone?: 'good' | 'bad';
  attrs?: Record<string, string | number>;
}

function figureCard(f: Figure): string {
  const attrs = Object.entries(f.attrs ?? {})
    .map(([k, v]) => ` data-${k}="${esc(String(v))}"`)
    .join('');
  return `<div class="figure${f.tone ? ` ${f.tone}` : ''}" data-figure="${esc(f.figure)}" data-value="${f.value === null ? '' : f.value}"${attrs}><span class="label">${esc(f.label)}</span><span class="value">${esc(f.text)}</span>${f.note ? `<span class="note">${esc(f.note)}</span>` : ''}</div>`;
}

function figuresOf(r: RunResult): Figure[] {
  const out: Figure[] = [];
  const many = r.probes.length > 1;
  const ended = r.status === 'completed';
  for (const p of r.probes) {
    const who = many ? ` (${p.name})` : '';
    const res = `±${p.resolution.intervalMs < 2 ? p.resolution.intervalMs.toFixed(1) : Math.round(p.resolution.intervalMs)} ms`;
    for (const w of p.windows) {
      const a = w.availability;
      const attrs = { probe: p.name, fault: w.fault };
      const f = `${faultLabel(w.fault)}${who}`;
      if (!a.outage) {
        out.push({
          figure: 'outage',
          label: `${f} outage`,
          value: 0,
          text: a.recovered ? 'none seen' : 'no write completed',
          note: 'the probe saw no failed write',
          tone: a.recovered ? 'good' : 'bad',
          attrs,
        });
        continue;
      }
      out.push({
        figure: 'failover',
        label: `${f} failover`,
        value: a.failoverMs,
        text:
          a.failoverMs === null ? (ended ? 'not recovered' : 'not seen to its end') : msText(a.failoverMs),
        note: `fault -> the first write that stays ok, ${res}`,
        ...(a.failoverMs === null ? { tone: 'bad' as const } : {}),
        attrs,
      });
      out.push({
        figure: 'unavailability',
        label: `${f} unavailable`,
        value: a.unavailabilityMs,
        text: msText(a.unavailabilityMs),
        note: 'first failed write -> the first success after the last failure',
        attrs,
      });
      out.push({
        figure: 'detection',
        label: `${f} detection`,
        value: a.detectionMs,
        text: msText(a.detectionMs),
        note: `fault -> the first failed write; late by up to the ${p.resolution.timeoutMs} ms timeout`,
        attrs,
      });
    }
    const wr = p.writes;
    if (wr) {
      out.push({
        figure: 'lost',
        label: `lost acknowledged writes${who}`,
        value: wr.lost,
        text: wr.lost === null ? 'unknown' : String(wr.lost),
        note: wr.lost === null ? 'no read-back' : `of ${wr.acknowledged} acknowledged; ${wr.unknown} unknown`,
        tone: wr.lost === null ? 'bad' : wr.lost > 0 ? 'bad' : 'good',
        attrs: { probe: p.name },
      });
      out.push({
        figure: 'attempted',
        label: `writes${who}`,
        value: wr.attempted,
        text: String(wr.attempted),
        note: `${wr.acknowledged} ok, ${wr.failed} failed, ${wr.unknown} unknown`,
        attrs: { probe: p.name, acknowledged: wr.acknowledged, failed: wr.failed, unknown: wr.unknown },
      });
    }
  }
  for (const s of r.systems) {
    for (const l of s.leadership) {
      out.push({
        figure: 'leader',
        label: `${r.systems.length > 1 ? `${s.name} ` : ''}leader${l.fault === null ? '' : ` (${faultLabel(l.fault)})`}`,
        value: null,
        text: `${l.from ?? '?'} → ${l.to}`,
        note: `${s.leadershipRecord ?? 'record'} moved at ${(l.t / 1000).toFixed(3)} s`,
        attrs: { system: s.name },
      });
    }
    const c = s.convergence;
    if (c) {
      out.push({
        figure: 'full-redundancy',
        label: `${r.systems.length > 1 ? `${s.name} ` : ''}full redundancy`,
        value: c.timeToFullRedundancyMs,
        text: c.converged ? msText(c.timeToFullRedundancyMs) : 'not reached',
        note: c.converged ? `after the last fault, ±${c.pollIntervalMs} ms` : c.violations.join('; '),
        tone: c.converged ? 'good' : 'bad',
        attrs: { system: s.name },
      });
    }
  }
  out.push({
    figure: 'duration',
    label: 'run took',
    value: r.durationMs,
    text: formatMs(r.durationMs),
    note: `provider ${r.provider}`,
  });
  return out;
}

function expectationsTable(r: RunResult): string {
  if (r.status !== 'completed')
    return `<p class="muted">Expectations not judged: the run ${r.status === 'incomplete' ? 'did not finish' : `was ${esc(r.status)}`}.</p>`;
  if (!r.expectations.length) return '';
  const many = r.probes.length > 1 || r.systems.length > 1;
  const rows = r.expectations.map((e) => {
    const mark = e.verdict === 'pass' ? '✔' : e.verdict === 'fail' ? '✘' : '?';
    const scope = [
      e.scope.fault !== undefined ? faultLabel(e.scope.fault) : '',
      many ? (e.scope.probe ?? e.scope.system ?? '') : '',
    ]
      .filter(Boolean)
      .join(', ');
    return `<tr data-expectation="${esc(e.name)}" data-verdict="${e.verdict}"><td class="mark ${e.verdict}">${mark}</td><td>${esc(e.name)}</td><td>${esc(scope)}</td><td>${esc(e.actual)}</td><td class="muted">${esc(e.expected)}</td></tr>`;
  });
  return `<h3>Expectations</h3><table class="expectations"><tr><th></th><th>what</th><th>scope</th><th>measured</th><th>expected</th></tr>${rows.join('')}</table>`;
}

function chartBlock(c: ProbeChart, p: ProbeResult): string {
  const keys = [
    ['fault', 'fault window (injection -> revert)'],
    ['unavailable', 'unavailability window'],
    ['failover', 'failover'],
    ['record', 'endpoint record moved'],
    ['decision', 'agent decision'],
    ['converged', 'full redundancy'],
  ]
    .map(([k, v]) => `<span class="key-${k}">${esc(v!)}</span>`)
    .join('');
  return `<div class="chart" id="${esc(c.id)}" data-probe="${esc(p.name)}"><h4>probe ${esc(p.name)} <span class="muted">${esc(p.kind)} on ${esc(p.system)}, writes per ${c.bucketMs} ms bucket${c.latency ? '' : '; latency not shown: no history.jsonl'}</span></h4></div><div class="legend-keys">${keys}</div>`;
}

function lostWrites(r: RunResult): string {
  const parts = r.probes.map((p) => {
    const w = p.writes;
    if (!w) return '';
    const who = r.probes.length > 1 ? ` (${esc(p.name)})` : '';
    const f = p.writesByFormerLeader;
    const split = f?.count
      ? `<p class="banner error" data-figure="former-leader-writes" data-value="${f.count}" data-probe="${esc(p.name)}">${esc(
          `${f.count} writes acknowledged by a former leader (after the ${f.record} record moved away from it): ${f.nodes
            .map((n) => `${n.node} ${n.seqs.slice(0, 50).join(', ')}${n.count > 50 ? ' …' : ''}`)
            .join('; ')}`,
        )}</p>`
      : '';
    if (w.lost === null) return `<p>Lost writes${who}: unknown: no read-back.</p>${split}`;
    const unknown = `${w.unknown} unknown writes (sent, no answer): ${w.unknownRecovered ?? 0} found in the read-back, ${w.unknownAbsent ?? 0} absent; neither kept nor lost.`;
    const lost = w.lost
      ? `<div class="lost" data-figure="lost-seqs" data-probe="${esc(p.name)}">${w.lostSeqs.join(', ')}</div>`
      : '';
    const odd = [
      w.failedButPresent
        ? `${w.failedButPresent} writes reported failed are present anyway: ${w.failedButPresentSeqs.slice(0, 50).join(', ')}`
        : '',
      w.unexpected ? `${w.unexpected} values read back were never written` : '',
    ]
      .filter(Boolean)
      .map((t) => `<p class="banner">${esc(t)}</p>`)
      .join('');
    return `<p>${w.lost} lost acknowledged writes${who}${w.lost ? ', by sequence number (the value written):' : '.'} <span class="muted">${esc(unknown)}</span></p>${lost}${odd}${split}`;
  });
  return `<h3>Lost writes</h3>${parts.join('')}`;
}

function clientSettings(r: RunResult): string {
  const rows = r.probes.map((p) => {
    const s = p.settings;
    const extra = Object.entries(s)
      .filter(
        ([k]) =>
          ![
            'library',
            'rateHz',
            'inFlight',
            'connectTimeoutMs',
            'commandTimeoutMs',
            'retries',
            'retryBackoffMs',
            'operation',
          ].includes(k),
      )
      .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    const d = p.delivery;
    if (d && d.count > 0) extra.push(`history lag p50 ${d.p50Ms} ms, p99 ${d.p99Ms} ms, max ${d.maxMs} ms`);
    if (d?.notStarted) extra.push(`${d.notStarted} requests not started (no free VU)`);
    return `<tr data-probe="${esc(p.name)}"><td>${esc(p.name)}</td><td>${esc(s.library)}</td><td class="num">${s.rateHz || 'max'}/s (${p.rate.achievedHz.toFixed(0)} achieved)</td><td class="num">${s.inFlight}</td><td class="num">${s.connectTimeoutMs} ms</td><td class="num">${s.commandTimeoutMs} ms</td><td class="num">${s.retries}</td><td class="num">${s.retryBackoffMs} ms</td><td><code>${esc(s.operation)}</code><br><span class="muted">${esc(extra.join(', '))}</span></td></tr>`;
  });
  return `<h3>Client settings</h3><table class="settings"><tr><th>probe</th><th>library</th><th class="num">rate</th><th class="num">in flight</th><th class="num">connect timeout</th><th class="num">command timeout</th><th class="num">retries</th><th class="num">backoff</th><th>operation, other settings</th></tr>${rows.join('')}</table>`;
}

function faultsTable(r: RunResult): string {
  if (!r.faults.length) return '<h3>Faults</h3><p class="muted">None injected.</p>';
  const rows = r.faults.map((f) => {
    const t = (v: number | null | undefined) =>
      v === null || v === undefined ? '—' : `${(v / 1000).toFixed(3)} s`;
    const state =
      f.status === 'skipped'
        ? `skipped: ${f.reason ?? ''}`
        : f.revertError
          ? `revert failed: ${f.revertError}`
          : (f.method ?? '');
    return `<tr><td>${faultLabel(f.index)}</td><td>${esc(f.action)} ${esc(f.target)}</td><td>${esc(f.nodes.join(', '))}${f.peers ? ` from ${esc(f.peers.join(', '))}` : ''}</td><td class="num">${t(f.tInject)}</td><td class="num">${t(f.tApplied)}</td><td class="num">${t(f.tReverted)}</td><td>${esc(state)}</td></tr>`;
  });
  return `<h3>Faults</h3><table><tr><th></th><th>what</th><th>nodes</th><th class="num">injected</th><th class="num">applied</th><th class="num">reverted</th><th>how</th></tr>${rows.join('')}</table>`;
}

function systemsTable(r: RunResult): string {
  if (!r.systems.length) return '';
  const rows = r.systems.map((s) => {
    const state = (x: typeof s.before) =>
      x
        ? `${esc(x.members.join(' → ') || '—')}${
            x.nodes.some((n) => !n.reachable)
              ? ` <span class="muted">down: ${esc(
                  x.nodes
                    .filter((n) => !n.reachable)
                    .map((n) => n.name)
                    .join(', '),
                )}</span>`
              : ''
          }`
        : '<span class="muted">not observed</span>';
    const falsely = (s.falseFailovers ?? [])
      .map(
        (f) =>
          `${esc(f.from ?? '?')} → ${esc(f.to)} at ${(f.t / 1000).toFixed(3)} s${f.during.length ? ` (during ${esc(f.during.join(', '))})` : ''}`,
      )
      .join('<br>');
    return `<tr><td>${esc(s.name)} <span class="muted">${esc(s.kind)}</span></td><td>${state(s.before)}</td><td>${state(s.after)}</td><td>${s.leadership.length}</td><td data-figure="false-failovers" class="${falsely ? 'bad' : 'muted'}">${falsely || 'none'}</td></tr>`;
  });
  return `<h3>Systems</h3><table><tr><th>system</th><th>before</th><th>after</th><th>leader changes</th><th>false failovers <span class="muted">(a leader change while no node was down)</span></th></tr>${rows.join('')}</table>`;
}

const NOTABLE_SOURCES = /^(fault|registry|agent:|harness)/;

function eventsTable(r: RunResult): string {
  const events = r.timeline.filter(
    (e) => NOTABLE_SOURCES.test(e.source) && !['agent-ready', 'registry-ready'].includes(e.type),
  );
  if (!events.length) return '';
  const rows = events.map(
    (e) =>
      `<tr><td class="num">${(e.t / 1000).toFixed(3)} s</td><td>${esc(e.source)}</td><td>${esc(e.type)}</td><td><code>${esc(JSON.stringify(e.data ?? {}))}</code></td></tr>`,
  );
  return `<details><summary>Every event (${events.length})</summary><table class="events"><tr><th class="num">t</th><th>source</th><th>event</th><th>data</th></tr>${rows.join('')}</table></details>`;
}

interface RunSection {
  html: string;
  data: { id: string; charts: ProbeChart[]; lags: LagChart[] };
}

/** Latency before, during and after each fault, per probe, with timeouts and errors apart. */
function latencyTable(r: RunResult): string {
  const rows = r.probes.flatMap((p) =>
    (p.latencyByFault ?? []).map((l) => {
      const cell = (x: PhaseLatency | null) => {
        if (!x) return '<td class="muted" colspan="5">not reverted</td>';
        const v = (n: number | undefined) =>
          n === undefined ? '—' : n < 10 ? n.toFixed(2) : String(Math.round(n));
        return `<td class="num">${v(x.latencyMs?.p50)}</td><td class="num">${v(x.latencyMs?.p99)}</td><td class="num">${v(x.latencyMs?.max)}</td><td class="num${x.timeouts ? ' bad' : ''}">${x.timeouts}</td><td class="num${x.errors ? ' bad' : ''}">${x.errors}</td>`;
      };
      const f = r.faults.find((x) => x.index === l.fault);
      return `<tr data-probe="${esc(p.name)}" data-fault="${l.fault}"><td>${esc(p.name)}</td><td>${faultLabel(l.fault)} ${esc(f ? `${f.action} ${f.target}` : '')}</td>${cell(l.before)}${cell(l.during)}${cell(l.after)}</tr>`;
    }),
  );
  if (!rows.length) return '';
  const head = (label: string) => `<th colspan="5">${label}</th>`;
  const sub =
    '<th class="num">p50</th><th class="num">p99</th><th class="num">max</th><th class="num">timeouts</th><th class="num">errors</th>';
  return `<h3>Latency by fault</h3><p class="muted">Acknowledged writes, ms, by invocation: before the fault (from the previous revert), while it was applied, after its revert; timeouts (no answer in time) and errors counted apart.</p><table class="latency-by-fault"><tr><th rowspan="2">probe</th><th rowspan="2">fault</th>${head('before')}${head('during')}${head('after')}</tr><tr>${sub}${sub}${sub}</tr>${rows.join('')}</table>`;
}

function lagBlock(c: LagChart): string {
  return `<div class="chart lag" id="${esc(c.id)}" data-system="${esc(c.system)}"><h4>replication lag ${esc(c.system)} <span class="muted">${esc(c.unit)} behind, per node, as its observation reads it, from the first fault on</span></h4></div>`;
}

function runSection(run: RunInput, index: number, linkBase: string | null): RunSection {
  const r = run.result;
  const id = `run${index}-${r.runId.replace(/[^a-z0-9]/gi, '')}`;
  const latency = run.dir ? latencyFromHistory(historyFileOf(r, run.dir), r.probes) : null;
  const charts = timelineOf(r, latency, id);
  const lags = lagChartsOf(r, id);
  const banners: string[] = [];
  if (r.status === 'incomplete')
    banners.push(
      `<div class="banner" data-figure="incomplete">INCOMPLETE: ${esc(r.error?.message ?? 'the run did not finish')}. Figures are what history.jsonl and events.jsonl held; no read-back, no expectations judged.</div>`,
    );
  else if (r.error)
    banners.push(
      `<div class="banner error">error[${esc(r.error.code)}]: ${esc(r.error.message)}${r.error.hint ? ` <span class="muted">(${esc(r.error.hint)})</span>` : ''}</div>`,
    );
  for (const b of brokenExpectations(r)) banners.push(`<div class="banner error">✘ ${esc(b)}</div>`);
  for (const m of run.regressions ?? [])
    if (m.regression)
      banners.push(
        `<div class="banner error" data-figure="regression">regression: ${esc(m.scope ? `${m.scope} ` : '')}${esc(m.text)}</div>`,
      );
  for (const w of r.warnings) banners.push(`<div class="banner">warning: ${esc(w)}</div>`);
  const own =
    linkBase && run.dir && existsSync(join(run.dir, 'report.html'))
      ? ` · <a href="${esc(relative(linkBase, join(run.dir, 'report.html')))}">this run's report</a>`
      : '';
  const rev = `${r.harness.gitRevision.slice(0, 7)}${r.harness.gitDirty ? '+' : ''}`;
  const html = `<section class="run" id="${id}" data-run-id="${esc(r.runId)}" data-scenario="${esc(r.scenario.name)}">
<h2>${esc(r.scenario.name)} ${verdictBadge(run)}</h2>
<p class="muted">${esc(r.scenario.description.trim())}</p>
<p class="meta">run ${esc(r.runId)} · ${esc(stamp(r.startedAt))} · harness ${esc(r.harness.version)} at ${esc(rev)} · <code>${esc(run.dir ?? r.runDir)}</code>${own}</p>
${banners.join('\n')}
<div class="figures">${figuresOf(r).map(figureCard).join('')}</div>
${r.probes.map((p, i) => chartBlock(charts[i]!, p)).join('\n')}
${lags.map(lagBlock).join('\n')}
${expectationsTable(r)}
${latencyTable(r)}
${lostWrites(r)}
${clientSettings(r)}
${faultsTable(r)}
${systemsTable(r)}
${eventsTable(r)}
</section>`;
  return { html, data: { id, charts, lags } };
}

function suiteHeader(input: ReportInput, sections: RunSection[], linkBase: string | null): string {
  const suite = input.suite!;
  const outcomes = input.runs.map(outcomeOf);
  const count = (o: string) => outcomes.filter((x) => x === o).length;
  const word = suite.exitCode === 0 ? 'pass' : suite.exitCode === 1 ? 'fail' : 'broken';
  const label = suite.status === 'interrupted' ? 'INTERRUPTED' : VERDICT_WORD[word];
  const rows = input.runs.map((run, i) => {
    const r = run.result;
    const h = headline(r);
    const own =
      run.dir && linkBase && existsSync(join(run.dir, 'report.html'))
        ? `<a href="${esc(relative(linkBase, join(run.dir, 'report.html')))}">report</a>`
        : '';
    const failover = failoverCell(h);
    return `<tr data-scenario="${esc(r.scenario.name)}" data-outcome="${outcomeOf(run)}"><td><a href="#${sections[i]!.data.id}">${esc(r.scenario.name)}</a></td><td>${verdictBadge(run)}</td><td class="num">${esc(failover)}</td><td class="num">${esc(formatMs(h.unavailabilityMs))}</td><td class="num">${h.lostWrites ?? '—'}</td><td class="num">${esc(formatMs(h.timeToFullRedundancyMs))}</td><td class="num">${esc(formatMs(r.durationMs))}</td><td><code>${esc(r.runId)}</code> ${own}</td></tr>`;
  });
  const notRun = suite.notRun.map(
    (s) =>
      `<tr data-scenario="${esc(s.scenario)}" data-outcome="not-run"><td>${esc(s.scenario)}</td><td class="${s.kind === 'error' ? 'mark fail' : 'muted'}" colspan="7">${esc(s.reason)}</td></tr>`,
  );
  const regressions = input.runs.flatMap((run) =>
    (run.regressions ?? [])
      .filter((m) => m.regression)
      .map(
        (m) =>
          `<li>${esc(run.result.scenario.name)}: ${esc(m.scope ? `${m.scope} ` : '')}${esc(m.text)}</li>`,
      ),
  );
  const base = suite.regression.baseline;
  return `<header class="suite" data-suite="${esc(suite.name)}" data-exit="${suite.exitCode}">
<h1>${esc(suite.name)} <span class="verdict ${word}" data-figure="suite-verdict">${label}</span></h1>
<p class="meta">${input.runs.length} runs: ${count('pass')} passed, ${count('fail')} failed, ${count('broken')} broken${suite.notRun.length ? `, ${suite.notRun.length} not run` : ''} · ${esc(formatMs(suite.durationMs))} · started ${esc(stamp(suite.startedAt))} · exit ${suite.exitCode} · <code>${esc(suite.file)}</code></p>
<p class="meta">Regressions: ${base ? `against ${esc(suite.name)} ${esc(base.id)} of ${esc(stamp(base.startedAt))}, the last that passed, bound ${suite.regression.boundPct} %` : esc(suite.regression.note)}</p>
<table class="runs"><tr><th>scenario</th><th>verdict</th><th class="num">failover</th><th class="num">unavailable</th><th class="num">lost</th><th class="num">full redundancy</th><th class="num">took</th><th>run</th></tr>${rows.join('')}${notRun.join('')}</table>
${regressions.length ? `<h3>Regressions</h3><ul class="regressions">${regressions.join('')}</ul>` : ''}
</header>`;
}

/** The report of one run or a game day, as a self-contained page; `linkBase` is where it will be saved. */
export function renderHtml(input: ReportInput, linkBase: string | null = null): string {
  const sections = input.runs.map((run, i) => runSection(run, i, linkBase));
  const head = input.suite ? suiteHeader(input, sections, linkBase) : '';
  const body = `${head}
${sections.map((s) => s.html).join('\n')}
<footer>chaos-harness report · generated ${esc(stamp(new Date().toISOString()))} · times on each run's own clock, seconds since it started · charts by uPlot</footer>`;
  return page(`${titleOf(input)} · chaos-harness`, body, { runs: sections.map((s) => s.data) });
}

export const htmlFormat: ReportFormat = {
  name: 'html',
  fileName: 'report.html',
  isFolder: false,
  render: (input) => renderHtml(input),
  write(input, out) {
    writeFileSync(out, renderHtml(input, dirname(out)));
  },
};
