import pc from 'picocolors';
import {
  type ReportInput,
  brokenExpectations,
  failoverCell,
  formatMs,
  headline,
  outcomeOf,
  whyBroken,
} from './format.ts';

/**
 * The one table a game day prints: a line per scenario with its verdict and headline figures
 * (the worst of its windows), then why each failed one failed, what regressed against the last
 * passing run of the suite, and what did not run.
 */
export function formatSuiteSummary(input: ReportInput, colors = pc.isColorSupported): string {
  const c = pc.createColors(colors);
  const suite = input.suite;
  const outcomes = input.runs.map(outcomeOf);
  const n = (o: string) => outcomes.filter((x) => x === o).length;
  const word =
    suite?.status === 'interrupted'
      ? c.bold(c.yellow('INTERRUPTED'))
      : suite && suite.exitCode === 0
        ? c.bold(c.green('PASS'))
        : suite && suite.exitCode === 1
          ? c.bold(c.red('FAIL'))
          : c.bold(c.yellow('BROKEN'));
  const lines: string[] = [];
  const notRun = suite?.notRun ?? [];
  lines.push(
    `${c.bold(suite?.name ?? 'runs')}  ${word}  ${input.runs.length} runs: ${n('pass')} passed, ${n('fail')} failed, ${n('broken')} broken${notRun.length ? `, ${notRun.length} not run` : ''}; ${formatMs(suite?.durationMs ?? 0)}${suite ? `; exit ${suite.exitCode}` : ''}`,
  );
  const header = ['scenario', 'verdict', 'failover', 'unavailable', 'lost', 'full redundancy', 'took', 'run'];
  const rows = input.runs.map((run, i) => {
    const r = run.result;
    const h = headline(r);
    const o = outcomes[i]!;
    const verdict =
      r.status !== 'completed'
        ? r.status.toUpperCase()
        : o === 'fail' && r.verdict === 'pass'
          ? 'REGRESSED'
          : r.verdict.toUpperCase();
    return [
      r.scenario.name,
      verdict,
      failoverCell(h),
      formatMs(h.unavailabilityMs),
      h.lostWrites === null ? '—' : String(h.lostWrites),
      formatMs(h.timeToFullRedundancyMs),
      formatMs(r.durationMs),
      r.runId,
    ];
  });
  for (const s of notRun)
    rows.push([s.scenario, s.kind === 'skipped' ? 'NOT RUN' : 'ERROR', '', '', '', '', '', '']);
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k]!.length)));
  const right = new Set([2, 3, 4, 5, 6]);
  const cell = (v: string, k: number) => (right.has(k) ? v.padStart(widths[k]!) : v.padEnd(widths[k]!));
  lines.push(`  ${c.dim(header.map(cell).join('  ').trimEnd())}`);
  rows.forEach((row, i) => {
    const text = row.map(cell).join('  ').trimEnd();
    const o = i < outcomes.length ? outcomes[i] : 'broken';
    const colored = text.replace(
      row[1]!,
      o === 'pass' ? c.green(row[1]!) : o === 'fail' ? c.red(row[1]!) : c.yellow(row[1]!),
    );
    lines.push(`  ${colored}`);
  });
  const why = input.runs.flatMap((run) => {
    const r = run.result;
    const broken = whyBroken(r);
    return [
      ...(broken ? [`${r.scenario.name}: ${broken}`] : []),
      ...brokenExpectations(r).map((e) => `${r.scenario.name}: ${e}`),
    ];
  });
  for (const s of notRun) if (s.kind === 'error') why.push(`${s.scenario}: ${s.reason}`);
  if (why.length) {
    lines.push('');
    for (const w of why) lines.push(`  ${c.red('✘')} ${w}`);
  }
  const moved = input.runs.flatMap((run) =>
    (run.regressions ?? [])
      .filter((m) => m.regression)
      .map((m) => `${run.result.scenario.name}  ${m.scope ? `${m.scope} ` : ''}${m.text}`),
  );
  if (suite) {
    lines.push('');
    const base = suite.regression.baseline;
    lines.push(
      base
        ? `  regressions against ${suite.name} ${base.id} of ${base.startedAt.replace('T', ' ').slice(0, 16)} UTC (the last that passed), bound ${suite.regression.boundPct} %: ${moved.length ? '' : 'none'}`
        : `  regressions: ${suite.regression.note}`,
    );
    for (const m of moved) lines.push(`    ${c.red('✘')} ${m}`);
  }
  const skipped = notRun.filter((s) => s.kind === 'skipped');
  if (skipped.length)
    lines.push(`  not run: ${skipped.map((s) => s.scenario).join(', ')} (${skipped[0]!.reason})`);
  return lines.join('\n');
}
