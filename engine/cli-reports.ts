import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { EXIT, UsageError, errorMessage, exitCodeOfRun, formatErrorLine } from '../core/errors.ts';
import type { Provider } from '../core/provider.ts';
import { LocalProvider } from '../infra/local/provider.ts';
import { DEFAULT_BOUND, type RegressionBound, compareRuns, formatComparison } from '../reports/compare.ts';
import { type RunInput, failoverCell } from '../reports/format.ts';
import { FORMATS, FORMAT_NAMES, type FormatName } from '../reports/index.ts';
import { formatSuiteSummary } from '../reports/suite-summary.ts';
import { trendOf, writeTrendHtml } from '../reports/trend.ts';
import { redact, secretsOf } from '../scenarios/secrets.ts';
import { loadSuite, runGameday } from './gameday.ts';
import { prepareOutputDir, prepareOutputFile } from './output-paths.ts';
import { consoleReporter } from './progress.ts';
import { loadRunResult, runDirOf } from './rebuild.ts';

/**
 * The commands around reports: `gameday` (a suite of scenarios, with every report), `trend`,
 * `compare`, and `report --format`. `engine/cli.ts` registers them with one call.
 */

/** The report command's `--format` option. */
export function reportFormatOption(): Option {
  return new Option('--format <format>', 'which report to make from the run folder')
    .choices(FORMAT_NAMES)
    .default('summary');
}

/**
 * `chaos report <run-dir> --format F [--out PATH]`: any report from a stored run folder, also a
 * run that died half-way (its result rebuilt from history.jsonl and events.jsonl, marked
 * incomplete). summary, json and junit go to stdout without --out; html to <run>/report.html,
 * allure to <run>/allure-results/. The exit code is the run's, as for the summary.
 */
export function reportInFormat(path: string, flags: { format: string; out?: string }): number {
  const format = FORMATS[flags.format as FormatName];
  if (!format)
    throw new UsageError('UNKNOWN_FORMAT', `unknown report format '${flags.format}'`, {
      hint: `one of ${FORMAT_NAMES.join(', ')}`,
    });
  const dir = runDirOf(path);
  const { result, rebuilt } = loadRunResult(path);
  const input = { runs: [{ result, dir }] };
  const defaultOut =
    format.name === 'html' || format.name === 'allure' ? join(dir, format.fileName) : undefined;
  const target = flags.out ?? defaultOut;
  if (target) {
    const out = format.isFolder ? prepareOutputDir(target, '--out') : prepareOutputFile(target, '--out');
    format.write(input, out);
    process.stdout.write(`${format.name} report of run ${result.runId}: ${out}\n`);
  } else {
    process.stdout.write(format.render!(input));
  }
  if (rebuilt)
    process.stderr.write(
      `note: run ${result.runId} never finished: rebuilt from history.jsonl and events.jsonl, marked incomplete; ${result.error?.hint ?? `if its stack is still up, \`chaos cleanup --run ${result.runId}\` removes it`}\n`,
    );
  return exitCodeOfRun(result);
}

/** Every run folder under a runs folder (`<runs>/<scenario>/<run>/`), each loaded or rebuilt. */
export function collectRuns(runsDir: string): RunInput[] {
  const root = resolve(runsDir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new UsageError('NO_RUNS', `${root} is not a folder of runs`, {
      hint: 'give the folder `chaos run` writes to (--runs-dir, CHAOS_RUNS_DIR, default runs)',
    });
  }
  const runs: RunInput[] = [];
  for (const scenario of readdirSync(root).sort()) {
    const sdir = join(root, scenario);
    if (scenario === 'suites' || !statSync(sdir).isDirectory()) continue;
    for (const run of readdirSync(sdir).sort()) {
      const dir = join(sdir, run);
      if (!existsSync(join(dir, 'result.json')) && !existsSync(join(dir, 'meta.json'))) continue;
      try {
        runs.push({ result: loadRunResult(dir).result, dir });
      } catch (err) {
        process.stderr.write(`note: ${dir} skipped: ${errorMessage(err)}\n`);
      }
    }
  }
  return runs;
}

function trendCommand(runsDir: string, flags: { out?: string }): number {
  const runs = collectRuns(runsDir);
  if (runs.length === 0)
    throw new UsageError(
      'NO_RUNS',
      `${resolve(runsDir)} holds no runs (no <scenario>/<run>/ folder with a result.json or meta.json)`,
      {
        hint: 'give the folder `chaos run` writes to (--runs-dir, CHAOS_RUNS_DIR, default runs)',
      },
    );
  const trends = trendOf(runs);
  const out = prepareOutputFile(flags.out ?? join(runsDir, 'trend.html'), '--out');
  writeTrendHtml(trends, resolve(runsDir), out);
  const width = Math.max(8, ...trends.map((t) => t.scenario.length));
  for (const t of trends) {
    const last = t.points.slice(-5);
    const figures = last.map(failoverCell).join(' -> ');
    process.stdout.write(
      `${t.scenario.padEnd(width)}  ${String(t.points.length).padStart(3)} runs (${t.counts.pass} passed, ${t.counts.fail} failed, ${t.counts.broken} broken)  failover, last ${last.length}: ${figures}\n`,
    );
  }
  process.stdout.write(`trend of ${runs.length} runs over ${trends.length} scenarios: ${out}\n`);
  return 0;
}

function compareCommand(baselinePath: string, runPath: string, flags: RegressionBound): number {
  const baseline = loadRunResult(baselinePath).result;
  const run = loadRunResult(runPath).result;
  if (baseline.runId === run.runId)
    throw new UsageError(
      'COMPARE_SAME_RUN',
      `both arguments are run ${run.runId}: a run compared with itself shows nothing`,
      {
        hint: 'give an earlier run of the same scenario first (ls runs/<scenario>/)',
      },
    );
  if (baseline.scenario.name !== run.scenario.name) {
    throw new UsageError(
      'COMPARE_MISMATCH',
      `the runs are of different scenarios: ${baseline.scenario.name} and ${run.scenario.name}`,
      { hint: 'compare two runs of the same scenario' },
    );
  }
  const moves = compareRuns(baseline, run, flags);
  process.stdout.write(`${formatComparison(baseline, run, moves, flags)}\n`);
  return moves.some((m) => m.regression) ? EXIT.verdict : EXIT.pass;
}

async function gamedayCommand(
  name: string,
  flags: { runsDir: string; quiet: boolean; allureSite: boolean },
  argv: string[],
): Promise<number> {
  const loaded = loadSuite(name);
  const runsDir = prepareOutputDir(flags.runsDir, '--runs-dir (or CHAOS_RUNS_DIR)');
  const controller = new AbortController();
  let current: { runId: string; provider: Provider } | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(
        `\n${sig}: stopping the current run, tearing its stack down, and stopping the suite (again to force)\n`,
      );
      controller.abort(sig);
      return;
    }
    if (signals > 2) return;
    process.stderr.write(
      `${sig} again: removing everything of run ${current?.runId ?? '(none yet)'} and leaving now\n`,
    );
    const done = () => process.exit(EXIT.interrupted);
    (current ? current.provider.forceTeardown(current.runId) : Promise.resolve()).then(done, done);
  };
  const onCrash = (err: unknown) => {
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return;
    process.stderr.write(
      `${formatErrorLine({ code: 'INTERNAL', message: `the harness failed: ${errorMessage(err).split('\n')[0]}`, hint: 'tearing the stack down; a bug: please report it' })}\n`,
    );
    controller.abort('an internal error');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  try {
    const total = loaded.scenarios.length;
    // The suite's passwords (its attached stacks'), masked in what this command prints.
    const secrets = secretsOf(loaded.scenarios.map((s) => s.scenario));
    process.stderr.write(`gameday ${loaded.suite.name}: ${total} scenarios from ${loaded.file}\n`);
    const res = await runGameday({
      loaded,
      runsDir,
      provider: () => new LocalProvider(),
      signal: controller.signal,
      argv,
      allureSite: flags.allureSite,
      reporter: (scenario, i) => {
        process.stderr.write(`\n[${i + 1}/${total}] ${scenario}\n`);
        if (flags.quiet) return {};
        const shown = consoleReporter();
        return {
          ...shown,
          phaseEnd: (r) => shown.phaseEnd?.(redact(r, secrets)),
          event: (e) => shown.event?.(redact(e, secrets)),
        };
      },
      onRunId: (runId, provider) => {
        current = { runId, provider };
      },
    });
    const tty = Boolean(process.stdout.isTTY);
    process.stdout.write(`\n${formatSuiteSummary(redact(res.input, secrets), tty)}\n\n`);
    process.stdout.write(`  suite folder  ${res.dir}\n`);
    for (const [what, path] of Object.entries(res.reports))
      process.stdout.write(`  ${what.padEnd(12)}  ${path}\n`);
    if (res.allure && 'stats' in res.allure) {
      const s = res.allure.stats;
      process.stdout.write(
        `  allure tests  ${s.total}: ${s.passed ?? 0} passed, ${s.failed ?? 0} failed, ${s.broken ?? 0} broken (site in ${res.allure.tookMs} ms)\n`,
      );
    } else if (res.allure) {
      process.stderr.write(`warning: no Allure site: ${res.allure.error}\n`);
    }
    process.stdout.write('  per run       report.html and junit.xml in each run folder\n');
    return res.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
}

const number = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new UsageError('BAD_NUMBER', `${what} must be a number >= 0, not '${v}'`);
  return n;
};

/** Registers gameday, trend and compare on the program. */
export function registerReportCommands(
  program: Command,
  argv: string[],
  setCode: (code: number) => void,
): void {
  const runsDir = () =>
    new Option('--runs-dir <dir>', 'where run folders go').default('runs').env('CHAOS_RUNS_DIR');
  program
    .command('gameday')
    .description(
      'run a suite of scenarios one after another (scenarios/suites/<name>.yaml or a file) and write every report',
    )
    .argument('<suite>', 'suite name or file')
    .allowExcessArguments(false)
    .addOption(runsDir())
    .option('-q, --quiet', 'no live progress; only the summary table', false)
    .option('--no-allure-site', 'write the Allure results but do not generate the site')
    .action(async (name: string, flags: { runsDir: string; quiet: boolean; allureSite: boolean }) =>
      setCode(await gamedayCommand(name, flags, argv)),
    );
  program
    .command('trend')
    .description("one HTML page of every scenario's figures and verdicts over the stored runs")
    .argument('[runs-dir]', 'the runs folder (default: CHAOS_RUNS_DIR or runs)')
    .allowExcessArguments(false)
    .option('--out <file>', 'where the page goes (default: <runs-dir>/trend.html)')
    .action((dir: string | undefined, flags: { out?: string }) =>
      setCode(trendCommand(dir ?? process.env.CHAOS_RUNS_DIR ?? 'runs', flags)),
    );
  program
    .command('compare')
    .description('what moved between two runs of a scenario; exit 1 on a regression beyond the bound')
    .argument('<baseline-run>', 'the run folder (or result.json) to compare with')
    .argument('<run>', 'the run folder (or result.json) to judge')
    .allowExcessArguments(false)
    .option(
      '--bound <pct>',
      'a figure regresses when it grows by more than this, in %',
      number('--bound'),
      DEFAULT_BOUND.boundPct,
    )
    .option(
      '--min-delta-ms <ms>',
      '... and by at least this many ms',
      number('--min-delta-ms'),
      DEFAULT_BOUND.minDeltaMs,
    )
    .option(
      '--min-delta-writes <n>',
      '... and lost writes by at least this many',
      number('--min-delta-writes'),
      DEFAULT_BOUND.minDeltaWrites,
    )
    .action((a: string, b: string, flags: { bound: number; minDeltaMs: number; minDeltaWrites: number }) =>
      setCode(
        compareCommand(a, b, {
          boundPct: flags.bound,
          minDeltaMs: flags.minDeltaMs,
          minDeltaWrites: flags.minDeltaWrites,
        }),
      ),
    );
}
