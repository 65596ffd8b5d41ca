import type { RunResult } from '../core/result.ts';
import { type Movement, faultLabel, formatMs } from './format.ts';

/**
 * What moved between a baseline run and a run of the same scenario, and whether it moved beyond
 * the regression bound. A time figure regresses when it grew by more than `boundPct` percent
 * and by at least `minDeltaMs` (the probe sees to a few ms, the topology to 250 ms: a 40 ms
 * failover that becomes 60 ms is noise, not a regression); lost writes likewise with
 * `minDeltaWrites`. An outage the baseline did not have, a window that no longer recovers, a
 * verdict that went from pass to fail and a run that no longer completes are regressions
 * whatever the bound.
 */
export interface RegressionBound {
  boundPct: number;
  minDeltaMs: number;
  minDeltaWrites: number;
}

export const DEFAULT_BOUND: RegressionBound = { boundPct: 25, minDeltaMs: 250, minDeltaWrites: 10 };

export function compareRuns(
  baseline: RunResult,
  run: RunResult,
  bound: RegressionBound = DEFAULT_BOUND,
): Movement[] {
  const out: Movement[] = [];
  if (baseline.status !== run.status) {
    out.push(
      words(
        'status',
        '',
        baseline.status,
        run.status,
        baseline.status === 'completed',
        'the run no longer completes',
      ),
    );
  }
  if (baseline.status === 'completed' && run.status === 'completed' && baseline.verdict !== run.verdict) {
    out.push(
      words(
        'verdict',
        '',
        baseline.verdict.toUpperCase(),
        run.verdict.toUpperCase(),
        baseline.verdict === 'pass',
        'an expectation no longer holds',
      ),
    );
  }
  const many = run.probes.length > 1;
  for (const p of run.probes) {
    const b = baseline.probes.find((x) => x.name === p.name);
    if (!b) continue;
    for (const w of p.windows) {
      const bw = b.windows.find((x) => x.fault === w.fault)?.availability;
      if (!bw) continue;
      const a = w.availability;
      const scope = `${faultLabel(w.fault)}${many || p.name !== 'writes' ? ` (${p.name})` : ''}`;
      out.push(
        timeFigure(
          'failover time',
          scope,
          bw.outage,
          bw.failoverMs,
          a.outage,
          a.failoverMs,
          a.recovered,
          bound,
        ),
      );
      out.push(
        timeFigure(
          'unavailability',
          scope,
          bw.outage,
          bw.unavailabilityMs,
          a.outage,
          a.unavailabilityMs,
          a.recovered,
          bound,
        ),
      );
    }
    if (b.writes && p.writes && b.writes.lost !== null && p.writes.lost !== null) {
      out.push(countFigure('lost writes', p.name, b.writes.lost, p.writes.lost, bound));
    }
  }
  for (const s of run.systems) {
    const before = baseline.systems.find((x) => x.name === s.name)?.convergence;
    const after = s.convergence;
    if (!before?.converged || !after) continue;
    if (!after.converged) {
      out.push(
        words(
          'full redundancy',
          s.name,
          formatMs(before.timeToFullRedundancyMs),
          'not reached',
          true,
          'the stack no longer heals',
        ),
      );
      continue;
    }
    out.push(
      timeFigure(
        'full redundancy',
        s.name,
        true,
        before.timeToFullRedundancyMs,
        true,
        after.timeToFullRedundancyMs,
        true,
        bound,
      ),
    );
  }
  return out;
}

function words(
  figure: string,
  scope: string,
  before: string,
  after: string,
  regression: boolean,
  why: string,
): Movement {
  return {
    figure,
    scope,
    unit: 'verdict',
    before,
    after,
    changePct: null,
    regression,
    text: `${figure} ${before} -> ${after}${regression ? `, a regression: ${why}` : ''}`,
  };
}

const pct = (v: number) => `${v >= 0 ? '+' : ''}${Math.round(v)} %`;

function timeFigure(
  figure: string,
  scope: string,
  hadOutage: boolean,
  before: number | null,
  hasOutage: boolean,
  after: number | null,
  recovered: boolean,
  bound: RegressionBound,
): Movement {
  const base = { figure, scope, unit: 'ms' as const, before, after };
  if (!hasOutage) {
    return {
      ...base,
      after: null,
      changePct: null,
      regression: false,
      text: `${figure} ${hadOutage ? formatMs(before) : 'no outage'} -> no outage`,
    };
  }
  if (after === null) {
    return {
      ...base,
      changePct: null,
      regression: true,
      text: `${figure} ${hadOutage ? formatMs(before) : 'no outage'} -> ${recovered ? 'not measured' : 'not recovered'}, a regression`,
    };
  }
  if (!hadOutage || before === null) {
    return {
      ...base,
      changePct: null,
      regression: true,
      text: `${figure} ${hadOutage ? 'not recovered' : 'no outage'} -> ${formatMs(after)}, a regression: an outage the baseline did not have`,
    };
  }
  return relative(base, before, after, bound.boundPct, bound.minDeltaMs, formatMs, (d) => formatMs(d));
}

function countFigure(figure: string, scope: string, before: number, after: number, bound: RegressionBound) {
  const n = (v: number) => `${v}`;
  return relative(
    { figure, scope, unit: 'writes' as const, before, after },
    before,
    after,
    bound.boundPct,
    bound.minDeltaWrites,
    n,
    (d) => `${d} writes`,
  );
}

function relative(
  base: Pick<Movement, 'figure' | 'scope' | 'unit' | 'before' | 'after'>,
  before: number,
  after: number,
  boundPct: number,
  floor: number,
  show: (v: number) => string,
  showDelta: (d: number) => string,
): Movement {
  const delta = after - before;
  const changePct = before === 0 ? (delta === 0 ? 0 : null) : (delta / before) * 100;
  const change = changePct === null ? (delta > 0 ? 'up from 0' : 'down to 0') : pct(changePct);
  const beyond = changePct === null ? delta > 0 : changePct > boundPct;
  const regression = beyond && delta >= floor;
  const verdict = regression
    ? `above the ${boundPct} % regression bound`
    : beyond
      ? `beyond the ${boundPct} % bound but only ${showDelta(delta)} more (the floor is ${showDelta(floor)})`
      : delta > 0
        ? `within the ${boundPct} % bound`
        : delta < 0
          ? 'better'
          : 'unchanged';
  return {
    ...base,
    changePct,
    regression,
    text: `${base.figure} ${show(before)} -> ${show(after)}, ${change}, ${verdict}`,
  };
}

/** The lines `chaos compare` prints, and whether any is a regression. */
export function formatComparison(
  baseline: RunResult,
  run: RunResult,
  moves: Movement[],
  bound: RegressionBound,
): string {
  const who = (r: RunResult) =>
    `run ${r.runId} (${r.startedAt.replace('T', ' ').slice(0, 16)}, ${r.harness.gitRevision.slice(0, 7)}${r.harness.gitDirty ? '+' : ''})`;
  const lines = [`${run.scenario.name}: ${who(baseline)} -> ${who(run)}`];
  const width = Math.max(0, ...moves.map((m) => m.scope.length));
  for (const m of moves) lines.push(`  ${m.regression ? '✘' : ' '} ${m.scope.padEnd(width)}  ${m.text}`);
  const n = moves.filter((m) => m.regression).length;
  lines.push(
    n
      ? `REGRESSION: ${n} figure${n > 1 ? 's' : ''} moved beyond the bound (${bound.boundPct} %, at least ${bound.minDeltaMs} ms or ${bound.minDeltaWrites} writes)`
      : `no regression beyond the ${bound.boundPct} % bound`,
  );
  return lines.join('\n');
}
