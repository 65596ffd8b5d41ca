import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyYaml } from 'yaml';
import {
  type FaultRecord,
  type PhaseLatency,
  type ProbeResult,
  RESULT_SCHEMA,
  type RunResult,
} from '../core/result.ts';
import { DEFAULT_BOUND, compareRuns } from './compare.ts';
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
  maskSecretFields,
  outcomeOf,
  sinceFault,
  titleOf,
  wallTime,
} from './format.ts';
import {
  type LagChart,
  type Origin,
  type ProbeChart,
  type Stall,
  afterOf,
  convergedEarly,
  historyFiguresOf,
  historyFileOf,
  lagChartsOf,
  originOf,
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

/** A time on the page: seconds from the run's origin, signed, to the millisecond. */
function at(t: number, o: Origin): string {
  const v = Math.round(t - o.t) / 1000;
  return `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(3)} s`;
}

/** A leader's move from its fault, as the window's figures count (see sinceFault). */
function movedAfter(t: number, f: FaultRecord): string {
  const x = sinceFault(t, f);
  return x.from === 'applied'
    ? `${formatMs(x.ms)} after ${faultLabel(f.index)} was applied`
    : `${formatMs(x.ms)} after ${faultLabel(f.index)} was injected, while it was being applied`;
}

function figuresOf(r: RunResult, o: Origin, stalls: Map<string, Stall[]>): Figure[] {
  const out: Figure[] = [];
  const many = r.probes.length > 1;
  const ended = r.status === 'completed';
  for (const f of r.faults) {
    if (f.status !== 'applied') continue;
    const lag = f.tApplied === null ? null : f.tApplied - f.tInject;
    out.push({
      figure: 'apply-lag',
      label: `${faultLabel(f.index)} applied`,
      value: lag,
      text: lag === null ? 'not known' : `+${msText(lag)}`,
      note:
        lag === null
          ? `injected at ${at(f.tInject, o)}; the figures count from the injection`
          : `after its injection at ${at(f.tInject, o)}: the time the provider took to carry it out; applied at ${at(f.tApplied!, o)}, where the figures count from`,
      attrs: { fault: f.index, injected: f.tInject, applied: f.tApplied ?? '' },
    });
  }
  for (const p of r.probes) {
    const who = many ? ` (${p.name})` : '';
    const res = `±${p.resolution.intervalMs < 2 ? p.resolution.intervalMs.toFixed(1) : Math.round(p.resolution.intervalMs)} ms`;
    for (const w of p.windows) {
      const a = w.availability;
      const attrs = { probe: p.name, fault: w.fault };
      const f = `${faultLabel(w.fault)}${who}`;
      const after = `after ${faultLabel(w.fault)} was applied`;
      const st = stalls.get(p.name)?.find((x) => x.fault === w.fault);
      const placed = st && a.longestStallMs !== null && Math.abs(st.ms - a.longestStallMs) < 0.01 ? st : null;
      const stall: Figure = {
        figure: 'stall',
        label: `${f} longest stall`,
        value: a.longestStallMs,
        text: a.longestStallMs === null ? 'nothing acknowledged' : msText(a.longestStallMs),
        note: `the longest stretch with no write acknowledged, ${after}${placed ? `: ${at(placed.from, o)} -> ${at(placed.to, o)}${placed.open ? ' (the last write seen)' : ''}` : ''}`,
        ...(a.longestStallMs === null ? { tone: 'bad' as const } : {}),
        attrs: placed ? { ...attrs, from: placed.from, to: placed.to } : attrs,
      };
      if (!a.outage) {
        out.push({
          figure: 'outage',
          label: `${f} outage`,
          value: 0,
          text: a.recovered ? 'none seen' : 'no write completed',
          note: `the probe saw no failed write ${after}`,
          tone: a.recovered ? 'good' : 'bad',
          attrs,
        });
        out.push(stall);
        continue;
      }
      out.push({
        figure: 'failover',
        label: `${f} failover`,
        value: a.failoverMs,
        text:
          a.failoverMs === null ? (ended ? 'not recovered' : 'not seen to its end') : msText(a.failoverMs),
        note: `${after}: the first write that stays ok, at ${a.recoveredAt === null ? '—' : at(a.recoveredAt, o)}, ${res}`,
        ...(a.failoverMs === null ? { tone: 'bad' as const } : {}),
        attrs,
      });
      out.push({
        figure: 'unavailability',
        label: `${f} unavailable`,
        value: a.unavailabilityMs,
        text: msText(a.unavailabilityMs),
        note: 'the first failed write sent -> the first success after the last failure',
        attrs,
      });
      out.push({
        figure: 'detection',
        label: `${f} detection`,
        value: a.detectionMs,
        text: msText(a.detectionMs),
        note: `${after}: the first failed write; late by up to the ${p.resolution.timeoutMs} ms timeout`,
        attrs,
      });
      out.push(stall);
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
  const last = r.faults.filter((f) => f.status === 'applied').sort((a, b) => b.tInject - a.tInject)[0];
  for (const s of r.systems) {
    for (const l of s.leadership) {
      const f = l.fault === null ? undefined : r.faults.find((x) => x.index === l.fault);
      out.push({
        figure: 'leader',
        label: `${r.systems.length > 1 ? `${s.name} ` : ''}leader${l.fault === null ? '' : ` (${faultLabel(l.fault)})`}`,
        value: null,
        text: `${l.from ?? '?'} → ${l.to}`,
        note: `${s.leadershipRecord ?? 'record'} moved at ${at(l.t, o)}${f ? `, ${movedAfter(l.t, f)}` : ''}`,
        attrs: { system: s.name },
      });
    }
    const c = s.convergence;
    if (c) {
      const early =
        c.converged && c.at !== null
          ? r.probes.filter((p) => p.system === s.name).some((p) => convergedEarly(r, p, c.at!) !== null)
          : false;
      out.push({
        figure: 'full-redundancy',
        label: `${r.systems.length > 1 ? `${s.name} ` : ''}full redundancy`,
        value: c.timeToFullRedundancyMs,
        text: c.converged ? msText(c.timeToFullRedundancyMs) : 'not reached',
        note: c.converged
          ? `after ${last ? `${faultLabel(last.index)}'s injection (the last fault)` : 'the last fault'}, at ${c.at === null ? '—' : at(c.at, o)}, ±${c.pollIntervalMs} ms${early ? "; before the probe's failover: the topology healed first (see under the chart)" : ''}`
          : c.violations.join('; '),
        tone: c.converged ? 'good' : 'bad',
        attrs: { system: s.name, ...(early ? { early: 'true' } : {}) },
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
    const s = maskSecretFields(p.settings);
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

function chartBlock(c: ProbeChart, p: ProbeResult, o: Origin): string {
  const keys = [
    ['fault', 'fault window (injection -> the probe recovered)'],
    ['duration', 'fault in force (injection -> revert)'],
    ['unavailable', 'unavailability window'],
    ['stall', 'longest stall'],
    ['applied', 'fault applied'],
    ['failover', 'failover'],
    ['record', 'endpoint record moved'],
    ['decision', 'agent decision'],
    ['converged', 'full redundancy'],
  ]
    .map(([k, v]) => `<span class="key-${k}">${esc(v!)}</span>`)
    .join('');
  const notes = c.notes.map((n) => `<p class="chart-note">${esc(n)}</p>`).join('');
  return `<div class="chart" id="${esc(c.id)}" data-probe="${esc(p.name)}"><h4>probe ${esc(p.name)} <span class="muted">${esc(p.kind)} on ${esc(p.system)}, writes per ${c.bucketMs} ms bucket, seconds from ${esc(o.label)}${c.latency ? '' : '; latency not shown: no history.jsonl'}</span></h4></div><div class="legend-keys">${keys}</div>${notes}`;
}

/** The scenario as run (its scenario.json), or null when the run folder does not hold it. */
function scenarioOf(dir: string | null): Record<string, unknown> | null {
  if (!dir) return null;
  try {
    const v = JSON.parse(readFileSync(join(dir, 'scenario.json'), 'utf8'));
    return v && typeof v === 'object' ? maskSecretFields(v) : null;
  } catch {
    return null;
  }
}

/** An expectation's promise in words: `failover time <= 3000 ms`, `recovered: writes succeed again`. */
const promise = (e: { name: string; expected: string }) =>
  /^[<>=]/.test(e.expected) ? `${e.name} ${e.expected}` : `${e.name}: ${e.expected}`;

/**
 * The hypothesis the run tested, in words: the steady state, the faults, and what the scenario
 * expects of the system through them (its expectations, each with whom it is judged on).
 */
function hypothesis(r: RunResult, scenario: Record<string, unknown> | null): string {
  const steady = scenario?.steadyState as { durationMs?: number; minSuccessRatio?: number } | undefined;
  const steadyText =
    steady?.minSuccessRatio !== undefined && steady.durationMs !== undefined
      ? `at least ${+(steady.minSuccessRatio * 100).toFixed(2)} % of writes succeed over ${formatMs(steady.durationMs)}`
      : 'the probes write and succeed';
  const planned =
    (scenario?.faults as { at?: number; action?: string; target?: string; durationMs?: number }[]) ?? [];
  const faults = (
    r.faults.length
      ? r.faults.map((f) => ({
          index: f.index,
          action: f.action,
          target: f.target,
          skipped: f.status === 'skipped',
        }))
      : planned.map((f, index) => ({
          index,
          action: f.action ?? '?',
          target: f.target ?? '?',
          skipped: false,
        }))
  ).map((f) => {
    const plan = planned[f.index];
    const when = plan?.at ? ` at +${formatMs(plan.at)}` : '';
    const span = plan?.durationMs ? ` for ${formatMs(plan.durationMs)}` : '';
    return `${faultLabel(f.index)} ${f.action} ${f.target}${when}${span}${f.skipped ? ' (skipped)' : ''}`;
  });
  const groups = new Map<string, { text: string; scopes: string[]; verdicts: string[] }>();
  for (const e of r.expectations) {
    const key = `${e.name}\u0000${e.expected}`;
    const g = groups.get(key) ?? { text: promise(e), scopes: [], verdicts: [] };
    const scope = [
      e.scope.fault !== undefined ? faultLabel(e.scope.fault) : '',
      e.scope.probe ?? e.scope.system ?? '',
    ]
      .filter(Boolean)
      .join(' ');
    if (scope && !g.scopes.includes(scope)) g.scopes.push(scope);
    g.verdicts.push(e.verdict);
    groups.set(key, g);
  }
  const items = [...groups.values()].map(
    (g) =>
      `<li data-hypothesis="${esc(g.text)}">${esc(g.text)}${g.scopes.length ? ` <span class="muted">(${esc(g.scopes.join(', '))})</span>` : ''}</li>`,
  );
  const expect = scenario?.expect as Record<string, unknown> | undefined;
  if (!items.length && expect)
    for (const [k, v] of Object.entries(expect))
      items.push(
        `<li data-hypothesis="${esc(k)}">${esc(`${k} ${typeof v === 'object' ? keyValues(v) : String(v)}`)}</li>`,
      );
  const broken = r.expectations.filter((e) => e.verdict !== 'pass').length;
  const held =
    r.status !== 'completed'
      ? `<p class="muted" data-held="unjudged">Not judged: the run ${r.status === 'incomplete' ? 'did not finish' : `was ${esc(r.status)}`}.</p>`
      : !r.expectations.length
        ? ''
        : broken
          ? `<p class="bad" data-held="false">It did not hold: ${broken} of ${r.expectations.length} expectations broke (below).</p>`
          : `<p class="good" data-held="true">It held: all ${r.expectations.length} expectations passed.</p>`;
  return `<div class="hypothesis" data-section="hypothesis"><h3>Hypothesis</h3><p>In steady state (${esc(steadyText)}), when ${faults.length ? esc(faults.join(', then ')) : 'nothing is injected'}, we expect:</p><ul>${items.join('') || '<li class="muted">nothing stated</li>'}</ul>${held}</div>`;
}

/** Operations per outcome and ok writes per second from the series' full buckets from `from` on. */
function seriesAfter(p: ProbeResult, from: number) {
  const { start, bucketMs, counts } = p.series;
  let ok = 0;
  let fail = 0;
  let unknown = 0;
  let buckets = 0;
  // the last bucket is partial: the probe stopped inside it
  for (let i = 0; i < counts.length - 1; i++) {
    if (start + i * bucketMs < from) continue;
    const c = counts[i]!;
    ok += c[0];
    fail += c[1];
    unknown += c[2];
    buckets++;
  }
  return buckets
    ? {
        ok,
        fail,
        unknown,
        attempted: ok + fail + unknown,
        okPerSec: ok / ((buckets * bucketMs) / 1000),
        spanMs: buckets * bucketMs,
      }
    : null;
}

/**
 * The steady state before the faults and after them, side by side: each system's leader,
 * members and nodes as observed before the first fault and after the run, and each probe's
 * figures in its steady state and from its recovery from the last fault on.
 */
function steadyStates(
  r: RunResult,
  o: Origin,
  after: Map<string, { p50: number; p99: number; max: number } | null>,
): string {
  if (!r.systems.length && !r.probes.length) return '';
  const steady = r.phases.find((p) => p.name === 'steady-state');
  const rows: string[] = [];
  const row = (what: string, before: string, later: string, attrs = '') =>
    rows.push(`<tr${attrs}><td>${what}</td><td>${before}</td><td>${later}</td></tr>`);
  const none = '<span class="muted">not observed</span>';
  for (const s of r.systems) {
    const b = s.before;
    const a = s.after;
    const sys = r.systems.length > 1 ? `${esc(s.name)} ` : '';
    row(
      `${sys}leader`,
      b ? esc(b.leader ?? 'none') : none,
      a ? esc(a.leader ?? 'none') : none,
      ` data-system="${esc(s.name)}" data-row="leader"`,
    );
    row(
      `${sys}members`,
      b ? esc(b.members.join(' → ') || '—') : none,
      a ? esc(a.members.join(' → ') || '—') : none,
      ` data-system="${esc(s.name)}" data-row="members"`,
    );
    const names = [...new Set([...(b?.nodes ?? []), ...(a?.nodes ?? [])].map((n) => n.name))].sort();
    for (const name of names) {
      const cell = (st: typeof b) => {
        if (!st) return none;
        const n = st.nodes.find((x) => x.name === name);
        if (!n) return '<span class="muted">—</span>';
        if (!n.reachable) return '<span class="bad">down</span>';
        return esc(
          [
            n.role ?? 'up',
            n.following ? `of ${n.following}` : '',
            n.linkUp === false ? 'link down' : '',
            n.lag !== undefined ? `lag ${n.lag}` : '',
            `AZ ${n.az}`,
          ]
            .filter(Boolean)
            .join(', '),
        );
      };
      row(
        `${sys}<code>${esc(name)}</code>`,
        cell(b),
        cell(a),
        ` data-system="${esc(s.name)}" data-node="${esc(name)}"`,
      );
    }
  }
  for (const p of r.probes) {
    const ss = p.steadyState;
    const from = afterOf(r, p);
    const later = from === null ? null : seriesAfter(p, from);
    const pct = (ok: number, all: number) => (all ? `${+((ok / all) * 100).toFixed(2)} %` : '—');
    const noAfter =
      from === null
        ? `<span class="muted">${r.faults.some((f) => f.status === 'applied') ? 'not recovered' : 'no fault applied'}</span>`
        : '<span class="muted">no full bucket after the recovery</span>';
    const attrs = (k: string) => ` data-probe="${esc(p.name)}" data-row="${k}"`;
    row(
      `${esc(p.name)} ok writes/s`,
      ss.attempted ? `${ss.okPerSec.toFixed(1)}` : '—',
      later ? later.okPerSec.toFixed(1) : noAfter,
      attrs('rate'),
    );
    row(
      `${esc(p.name)} writes ok`,
      `${ss.ok} of ${ss.attempted} (${pct(ss.ok, ss.attempted)})${ss.fail + ss.unknown ? `, ${ss.fail} failed, ${ss.unknown} unknown` : ''}`,
      later
        ? `${later.ok} of ${later.attempted} (${pct(later.ok, later.attempted)})${later.fail + later.unknown ? `, ${later.fail} failed, ${later.unknown} unknown` : ''} <span class="muted">over ${formatMs(later.spanMs)}</span>`
        : noAfter,
      attrs('ok'),
    );
    const lat = (l: { p50: number; p99: number; max: number } | null | undefined) =>
      l
        ? `p50 ${latText(l.p50)}, p99 ${latText(l.p99)}, max ${latText(l.max)} ms`
        : '<span class="muted">—</span>';
    row(
      `${esc(p.name)} latency`,
      lat(ss.latencyMs),
      later
        ? after.has(p.name)
          ? lat(after.get(p.name))
          : '<span class="muted">no history.jsonl</span>'
        : noAfter,
      attrs('latency'),
    );
  }
  const afterFrom = r.probes.map((p) => afterOf(r, p)).filter((v): v is number => v !== null);
  const beforeHead = steady
    ? `before the faults <span class="muted">(steady state ${at(steady.tStart, o)} -> ${at(steady.tEnd, o)}; the systems as observed before ${faultLabel(0)})</span>`
    : 'before the faults';
  const afterHead = `after the faults <span class="muted">(the probes from their recovery${afterFrom.length ? `, ${at(Math.max(...afterFrom), o)}` : ''}, on; the systems at the end of the run)</span>`;
  return `<h3>Steady state before and after</h3><table class="steady" data-section="steady-state"><tr><th></th><th>${beforeHead}</th><th>${afterHead}</th></tr>${rows.join('')}</table>`;
}

const latText = (v: number) => (v < 10 ? v.toFixed(2) : String(Math.round(v)));

/** The newest earlier run of the same scenario in the same runs folder, with a result.json. */
export function previousRunOf(dir: string, r: RunResult): { result: RunResult; dir: string } | null {
  const parent = dirname(dir);
  const own = basename(dir);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return null;
  }
  for (const name of names
    .filter((n) => n < own)
    .sort()
    .reverse()) {
    const file = join(parent, name, 'result.json');
    if (!existsSync(file)) continue;
    try {
      const prev = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
      if (prev.schema !== RESULT_SCHEMA || prev.scenario?.name !== r.scenario.name || prev.runId === r.runId)
        continue;
      return { result: prev, dir: join(parent, name) };
    } catch {}
  }
  return null;
}

/** A path for an href: relative to where the page is saved, each segment encoded. */
const href = (from: string, to: string) => relative(from, to).split(sep).map(encodeURIComponent).join('/');

/** What moved since the previous run of the same scenario (reports/compare.ts), with a link to it. */
function comparison(run: RunInput, linkBase: string | null): string {
  if (!run.dir) return '';
  const prev = previousRunOf(run.dir, run.result);
  if (!prev) return '';
  const moves = compareRuns(prev.result, run.result);
  const base = linkBase ?? run.dir;
  const page = join(prev.dir, 'report.html');
  const link = existsSync(page)
    ? `<a href="${esc(href(base, page))}">its report</a>`
    : `<a href="${esc(href(base, prev.dir))}/">its folder</a>`;
  const p = prev.result;
  const rev = `${p.harness.gitRevision.slice(0, 7)}${p.harness.gitDirty ? '+' : ''}`;
  const n = moves.filter((m) => m.regression).length;
  const rows = moves.map(
    (m) =>
      `<tr data-figure-moved="${esc(m.figure)}" data-regression="${m.regression}"><td class="mark ${m.regression ? 'fail' : 'pass'}">${m.regression ? '✘' : ''}</td><td>${esc(m.scope)}</td><td>${esc(m.text)}</td></tr>`,
  );
  return `<h3>Against the previous run</h3><div class="comparison" data-section="comparison" data-baseline="${esc(p.runId)}" data-regressions="${n}"><p>Run ${esc(p.runId)} of the same scenario, ${esc(stamp(p.startedAt))}, harness at ${esc(rev)}, ${esc(p.status === 'completed' ? p.verdict.toUpperCase() : p.status.toUpperCase())} (${link}). ${n ? `<span class="bad">${n} figure${n > 1 ? 's' : ''} moved beyond the ${DEFAULT_BOUND.boundPct} % bound.</span>` : `No figure moved beyond the ${DEFAULT_BOUND.boundPct} % bound.`}</p><table class="compare">${rows.join('')}</table></div>`;
}

const size = (bytes: number) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1 << 20
      ? `${(bytes / 1024).toFixed(1)} kB`
      : `${(bytes / (1 << 20)).toFixed(1)} MB`;

/** Each node's log in the run folder, and the run's own files, as links relative to the page. */
function logLinks(run: RunInput, linkBase: string | null): string {
  if (!run.dir) return '';
  const base = linkBase ?? run.dir;
  const logs = join(run.dir, 'logs');
  let files: string[] = [];
  try {
    files = readdirSync(logs)
      .filter((f) => f.endsWith('.log'))
      .sort();
  } catch {}
  const link = (file: string, text: string, extra = '') => {
    let bytes = '';
    try {
      bytes = size(statSync(file).size);
    } catch {}
    return `<li><a href="${esc(href(base, file))}">${text}</a> <span class="muted">${esc([extra, bytes].filter(Boolean).join(', '))}</span></li>`;
  };
  const items = files.map((f) => {
    const [node, ...rest] = f.replace(/\.log$/, '').split('.');
    return link(join(logs, f), `<code>${esc(node!)}</code>`, rest.join('.'));
  });
  const own = ['result.json', 'events.jsonl', 'history.jsonl', 'scenario.json', 'meta.json']
    .filter((f) => existsSync(join(run.dir!, f)))
    .map((f) => link(join(run.dir!, f), `<code>${esc(f)}</code>`));
  if (!items.length && !own.length) return '';
  return `<h3>Logs</h3><div class="files" data-section="logs">${items.length ? `<ul class="logs">${items.join('')}</ul>` : '<p class="muted">No node logs in the run folder.</p>'}${own.length ? `<p class="muted">The run's own files:</p><ul class="logs">${own.join('')}</ul>` : ''}</div>`;
}

/** The scenario as it ran (scenario.json, defaults filled in), as YAML, folded. */
function scenarioBlock(
  run: RunInput,
  scenario: Record<string, unknown> | null,
  linkBase: string | null,
): string {
  if (!scenario || !run.dir) return '';
  const file = join(run.dir, 'scenario.json');
  return `<details class="scenario" data-section="scenario"><summary>The scenario as run <span class="muted">(scenario.json: ${esc(run.result.scenario.file)} with its defaults filled in, as YAML)</span></summary><pre><code>${esc(stringifyYaml(scenario, { lineWidth: 0 }))}</code></pre><p class="muted"><a href="${esc(href(linkBase ?? run.dir, file))}">scenario.json</a></p></details>`;
}

function faultsTable(r: RunResult, o: Origin): string {
  if (!r.faults.length) return '<h3>Faults</h3><p class="muted">None injected.</p>';
  const rows = r.faults.map((f) => {
    const t = (v: number | null | undefined) => (v === null || v === undefined ? '—' : at(v, o));
    const state =
      f.status === 'skipped'
        ? `skipped: ${f.reason ?? ''}`
        : f.revertError
          ? `revert failed: ${f.revertError}`
          : (f.method ?? '');
    const gap = f.tApplied === null ? '—' : `${Math.round(f.tApplied - f.tInject)} ms`;
    const held = f.tReverted === undefined ? '—' : formatMs(f.tReverted - f.tInject);
    return `<tr data-fault="${f.index}"><td>${faultLabel(f.index)}</td><td>${esc(f.action)} ${esc(f.target)}</td><td>${esc(f.nodes.join(', '))}${f.peers ? ` from ${esc(f.peers.join(', '))}` : ''}</td><td class="num">${t(f.tInject)}</td><td class="num">${t(f.tApplied)}</td><td class="num" data-figure="apply-gap">${gap}</td><td class="num">${t(f.tReverted)}</td><td class="num">${held}</td><td>${esc(state)}</td></tr>`;
  });
  return `<h3>Faults</h3><table class="faults"><tr><th></th><th>what</th><th>nodes</th><th class="num">injected</th><th class="num">applied</th><th class="num">applying took</th><th class="num">reverted</th><th class="num">in force</th><th>how</th></tr>${rows.join('')}</table>`;
}

function systemsTable(r: RunResult, o: Origin): string {
  if (!r.systems.length) return '';
  const rows = r.systems.map((s) => {
    const moves = s.leadership
      .map((l) => `${esc(l.from ?? '?')} → ${esc(l.to)} at ${at(l.t, o)}`)
      .join('<br>');
    const falsely = (s.falseFailovers ?? [])
      .map(
        (f) =>
          `${esc(f.from ?? '?')} → ${esc(f.to)} at ${at(f.t, o)}${f.during.length ? ` (during ${esc(f.during.join(', '))})` : ''}`,
      )
      .join('<br>');
    return `<tr><td>${esc(s.name)} <span class="muted">${esc(s.kind)}</span></td><td>${moves || '<span class="muted">none</span>'}</td><td data-figure="false-failovers" class="${falsely ? 'bad' : 'muted'}">${falsely || 'none'}</td></tr>`;
  });
  return `<h3>Systems</h3><table><tr><th>system</th><th>leader changes</th><th>false failovers <span class="muted">(a leader change while no node was down)</span></th></tr>${rows.join('')}</table>`;
}

/** A value for a person: numbers without float noise, text quoted when it has spaces. */
function plain(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return String(a >= 100 ? Math.round(v) : a >= 1 ? +v.toFixed(1) : +v.toPrecision(2));
  }
  if (typeof v === 'string') return v === '' || /[\s="]/.test(v) ? JSON.stringify(v) : v;
  if (Array.isArray(v)) return v.map(plain).join(',');
  if (typeof v === 'object') return `{${keyValues(v)}}`;
  return String(v);
}

/** An event's data as `key=value` text, nested keys dotted: `deadMaster=redis-a downForMs=1000`. */
export function keyValues(data: unknown): string {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return plain(data);
  const out: string[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v);
      if (!entries.length) out.push(`${prefix}={}`);
      for (const [k, x] of entries) walk(prefix ? `${prefix}.${k}` : k, x);
    } else out.push(`${prefix}=${plain(v)}`);
  };
  for (const [k, x] of Object.entries(data)) walk(k, x);
  return out.join(' ');
}

/** Events that only say something came up, every time, in every run. */
const QUIET_EVENTS = new Set(['agent-ready', 'registry-ready']);

function eventsTable(r: RunResult, o: Origin): string {
  const events = r.timeline.filter((e) => !QUIET_EVENTS.has(e.type));
  if (!events.length) return '';
  const rows = events.map(
    (e) =>
      `<tr><td class="num">${at(e.t, o)}</td><td>${esc(e.source)}</td><td>${esc(e.type)}</td><td class="kv">${esc(keyValues(e.data ?? {}))}</td></tr>`,
  );
  return `<details class="events"><summary>Every event (${events.length}) <span class="muted">seconds from ${esc(o.label)}</span></summary><table class="events"><tr><th class="num">t</th><th>source</th><th>event</th><th>data</th></tr>${rows.join('')}</table></details>`;
}

interface RunSection {
  html: string;
  /** `origin`: where the run's times count from, ms on its clock (see `originOf`). */
  data: { id: string; origin: number; originLabel: string; charts: ProbeChart[]; lags: LagChart[] };
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

function lagBlock(c: LagChart, o: Origin): string {
  return `<div class="chart lag" id="${esc(c.id)}" data-system="${esc(c.system)}"><h4>replication lag ${esc(c.system)} <span class="muted">${esc(c.unit)} behind, per node, as its observation reads it, from the first fault on; seconds from ${esc(o.label)}</span></h4></div>`;
}

/** What the page's times count from, in a sentence, with the instant's wall-clock time. */
function originLine(r: RunResult, o: Origin): string {
  const wall = new Date(wallTime(r, o.t)).toISOString().replace('T', ' ').slice(0, 23);
  const what =
    o.fault === null
      ? `the run's clock origin (${wall} UTC), as no fault was applied`
      : `${faultLabel(o.fault)}'s applied instant (${wall} UTC, ${formatMs(o.t)} after the run started), where its window's figures count from; earlier times are negative`;
  return `<p class="meta origin" data-origin="${o.t}" data-origin-fault="${o.fault ?? ''}">Every time on this page is seconds from ${esc(what)}. Durations say what they count from.</p>`;
}

function runSection(run: RunInput, index: number, linkBase: string | null): RunSection {
  const r = run.result;
  const id = `run${index}-${r.runId.replace(/[^a-z0-9]/gi, '')}`;
  const origin = originOf(r);
  const history = run.dir ? historyFiguresOf(historyFileOf(r, run.dir), r) : null;
  const charts = timelineOf(r, history, id, origin);
  const lags = lagChartsOf(r, id, origin);
  const scenario = scenarioOf(run.dir);
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
      ? ` · <a href="${esc(href(linkBase, join(run.dir, 'report.html')))}">this run's report</a>`
      : '';
  const rev = `${r.harness.gitRevision.slice(0, 7)}${r.harness.gitDirty ? '+' : ''}`;
  const html = `<section class="run" id="${id}" data-run-id="${esc(r.runId)}" data-scenario="${esc(r.scenario.name)}">
<h2>${esc(r.scenario.name)} ${verdictBadge(run)}</h2>
<p class="muted">${esc(r.scenario.description.trim())}</p>
<p class="meta">run ${esc(r.runId)} · ${esc(stamp(r.startedAt))} · harness ${esc(r.harness.version)} at ${esc(rev)} · <code>${esc(run.dir ?? r.runDir)}</code>${own}</p>
${originLine(r, origin)}
${banners.join('\n')}
${hypothesis(r, scenario)}
<div class="figures">${figuresOf(r, origin, history?.stalls ?? new Map())
    .map(figureCard)
    .join('')}</div>
${r.probes.map((p, i) => chartBlock(charts[i]!, p, origin)).join('\n')}
${lags.map((c) => lagBlock(c, origin)).join('\n')}
${steadyStates(r, origin, history?.after ?? new Map())}
${comparison(run, linkBase)}
${expectationsTable(r)}
${latencyTable(r)}
${lostWrites(r)}
${clientSettings(r)}
${faultsTable(r, origin)}
${systemsTable(r, origin)}
${logLinks(run, linkBase)}
${scenarioBlock(run, scenario, linkBase)}
${eventsTable(r, origin)}
</section>`;
  return { html, data: { id, origin: origin.t, originLabel: origin.label, charts, lags } };
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
        ? `<a href="${esc(href(linkBase, join(run.dir, 'report.html')))}">report</a>`
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
<footer>chaos-harness report · generated ${esc(stamp(new Date().toISOString()))} · times in seconds from each run's first fault's applied instant (or its start, without a fault) · charts by uPlot</footer>`;
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
