import { exitCodeOfRun } from '../core/errors.ts';
import type { RunResult } from '../core/result.ts';

/**
 * What every report reads: runs (a result and, where there is one, its run folder for the
 * history, the events and the nodes' logs), and, for a game day, the suite they belong to. A
 * single run is reported as a suite of one. Reports never run anything: they read.
 */
export interface RunInput {
  result: RunResult;
  /** The run folder (history.jsonl, events.jsonl, logs/); null for a bare result.json elsewhere. */
  dir: string | null;
  /** What moved against the baseline beyond the suite's bound (a game day's regression check). */
  regressions?: Movement[];
}

/** One figure compared between a baseline run and a run (see compare.ts). */
export interface Movement {
  /** `failover time`, `unavailability`, `lost writes`, `full redundancy`, `verdict`. */
  figure: string;
  /** Whose figure: `fault #1 (writes)`, `writes`, `redis`; empty for the run as a whole. */
  scope: string;
  unit: 'ms' | 'writes' | 'verdict';
  before: number | string | null;
  after: number | string | null;
  /** Relative change, in %, when both are numbers and the baseline is not 0. */
  changePct: number | null;
  regression: boolean;
  /** The sentence a person reads: `failover time 1.55 s -> 3.20 s, +106 %, above the 25 % regression bound`. */
  text: string;
}

export interface NotRun {
  scenario: string;
  kind: 'skipped' | 'error';
  /** For a person: `not run: the suite was interrupted before it`, `error[DOCKER_UNREACHABLE]: ...`. */
  reason: string;
  code?: string;
}

/** A game day: the suite file, its runs in order, how it ended. */
export interface SuiteInfo {
  name: string;
  file: string;
  id: string;
  startedAt: string;
  durationMs: number;
  /** Where the suite's own reports go. */
  dir: string;
  status: 'completed' | 'interrupted' | 'error';
  exitCode: number;
  /** The regression check: against which earlier suite run, with which bound, or why none. */
  regression: {
    boundPct: number;
    baseline: { id: string; dir: string; startedAt: string } | null;
    note: string;
  };
  /**
   * Scenarios of the suite that have no run: `skipped` after Ctrl-C stopped the suite, `error`
   * when the run could not start (Docker unreachable, an image missing: no run folder exists).
   */
  notRun: NotRun[];
}

export interface ReportInput {
  runs: RunInput[];
  suite?: SuiteInfo;
}

export type FormatName = 'summary' | 'json' | 'junit' | 'allure' | 'html';

/**
 * One report format. `render` gives the report as text (for stdout or a file); `write` puts it
 * at `out`, a file, or a folder for the formats that are folders (Allure results).
 */
export interface ReportFormat {
  readonly name: FormatName;
  /** Its file or folder name inside a run or suite folder. */
  readonly fileName: string;
  readonly isFolder: boolean;
  render?(input: ReportInput): string;
  write(input: ReportInput, out: string): void;
}

/** A name for the runs together: the suite's, or the scenario's for a single run. */
export function titleOf(input: ReportInput): string {
  return input.suite?.name ?? input.runs.map((r) => r.result.scenario.name).join(', ');
}

/**
 * How a run ended, in three words: `pass`; `fail` (an expectation failed or could not be
 * judged, or a regression); `broken` (it did not complete: infrastructure, interrupted, died).
 */
export type Outcome = 'pass' | 'fail' | 'broken';

export function outcomeOf(run: RunInput): Outcome {
  const code = exitCodeOfRun(run.result);
  if (code === 0) return run.regressions?.some((m) => m.regression) ? 'fail' : 'pass';
  return code === 1 ? 'fail' : 'broken';
}

/** The wall-clock time (ms since the epoch) of a time on a run's monotonic clock. */
export function wallTime(r: RunResult, t: number): number {
  return Date.parse(r.clock.origin) + t;
}

export const faultLabel = (i: number) => `fault #${i + 1}`;

/** A duration for a person: `850 ms`, `1.55 s`, `2 min 05 s`. */
export function formatMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (Math.abs(v) < 1000) return `${Math.round(v)} ms`;
  if (Math.abs(v) < 60_000) return `${(v / 1000).toFixed(2)} s`;
  const s = Math.round(v / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** When a fault took effect, as its window's figures count from: its applied instant, else its injection. */
export const appliedAt = (f: { tInject: number; tApplied: number | null }) =>
  f.tApplied !== null && f.tApplied >= f.tInject ? f.tApplied : f.tInject;

/**
 * Where `t` lies from a fault, counted as its window's figures are: from the applied instant, or
 * from the injection when `t` came while the fault was still being applied (a slow stop, an FIS
 * experiment starting): a leader can move before the provider says the fault is done.
 */
export function sinceFault(
  t: number,
  f: { tInject: number; tApplied: number | null },
): { ms: number; from: 'applied' | 'injected' } {
  const applied = appliedAt(f);
  return t >= applied ? { ms: t - applied, from: 'applied' } : { ms: t - f.tInject, from: 'injected' };
}

/** The headline figures of a run, the worst over its probes and windows, for tables and trends. */
export interface Headline {
  /** The longest failover of any measured window; null when no probe saw an outage. */
  failoverMs: number | null;
  unavailabilityMs: number | null;
  /** Some window's outage did not end (no failover figure can be given). */
  unrecovered: boolean;
  /** Lost acknowledged writes over every probe; null when no read-back could count them. */
  lostWrites: number | null;
  timeToFullRedundancyMs: number | null;
  outages: number;
  /** Measured fault windows over every probe: 0 when the run never got to a fault. */
  windows: number;
}

export function headline(r: RunResult): Headline {
  let failover: number | null = null;
  let unavailable: number | null = null;
  let unrecovered = false;
  let outages = 0;
  let windows = 0;
  for (const p of r.probes) {
    for (const w of p.windows) {
      windows++;
      const a = w.availability;
      if (!a.outage) continue;
      outages++;
      if (a.failoverMs === null) unrecovered = true;
      else failover = Math.max(failover ?? 0, a.failoverMs);
      if (a.unavailabilityMs !== null) unavailable = Math.max(unavailable ?? 0, a.unavailabilityMs);
    }
  }
  const counted = r.probes.map((p) => p.writes?.lost ?? null);
  const lost =
    counted.length && counted.every((n) => n !== null) ? counted.reduce<number>((a, n) => a + n!, 0) : null;
  const redundancy = r.systems.map((s) => s.convergence?.timeToFullRedundancyMs ?? null);
  return {
    failoverMs: failover,
    unavailabilityMs: unavailable,
    unrecovered,
    lostWrites: lost,
    timeToFullRedundancyMs: redundancy.some((v) => v === null)
      ? null
      : redundancy.reduce<number | null>((a, v) => Math.max(a ?? 0, v!), null),
    outages,
    windows,
  };
}

/** The headline failover for a table: `1.53 s`, `no outage`, `not recovered`, or `—` when nothing was measured. */
export function failoverCell(h: Headline): string {
  if (h.windows === 0) return '—';
  if (h.unrecovered) return 'not recovered';
  return h.outages === 0 ? 'no outage' : formatMs(h.failoverMs);
}

/** The expectations that did not hold, one line each: `fault #1 failover time: 3200 ms, expected <= 3000 ms`. */
export function brokenExpectations(r: RunResult): string[] {
  return r.expectations
    .filter((e) => e.verdict !== 'pass')
    .map((e) => {
      const scope = [
        e.scope.fault !== undefined ? faultLabel(e.scope.fault) : '',
        e.scope.probe && r.probes.length > 1 ? `probe ${e.scope.probe}` : '',
        e.scope.system && r.systems.length > 1 ? e.scope.system : '',
      ]
        .filter(Boolean)
        .join(' ');
      const judged = e.verdict === 'unknown' ? ' (could not be judged)' : '';
      return `${scope ? `${scope} ` : ''}${e.name}: ${e.actual}, expected ${e.expected}${judged}`;
    });
}

/** Why a run did not complete, in one line, or null when it did. */
export function whyBroken(r: RunResult): string | null {
  if (r.status === 'completed') return null;
  if (r.error)
    return `${r.status}: error[${r.error.code}] ${r.error.message}${r.error.hint ? ` (${r.error.hint})` : ''}`;
  return `the run ${r.status === 'incomplete' ? 'did not finish' : `was ${r.status}`}`;
}

/** How a secret is shown: the mask the run folder's files hold (scenarios/secrets.ts, which reports may not import). */
export const SECRET_MASK = '***';

/**
 * A copy of a scenario or of a probe's settings with every field named like a password
 * (`password`, `sentinelPassword`) masked. This harness writes them masked already; a run folder
 * an older one wrote may hold them in clear, and no report shows them.
 */
export function maskSecretFields<T>(value: T): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (key !== undefined && /password$/i.test(key) && (typeof v === 'string' || typeof v === 'number'))
      return v === '' ? v : SECRET_MASK;
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(value) as T;
}

/** Escapes text for XML and HTML, attributes included. */
export function escapeXml(s: string): string {
  return (
    s
      // characters XML 1.0 cannot carry at all (a log's terminal control codes)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}
