import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ChaosError, EXIT, ScenarioError, UsageError, errorMessage, exitCodeOfRun } from '../core/errors.ts';
import { OFFICIAL_IMAGE_MISSING, type Provider } from '../core/provider.ts';
import type { RunResult } from '../core/result.ts';
import { type AllureSite, generateAllureSite } from '../reports/allure.ts';
import { DEFAULT_BOUND, type RegressionBound, compareRuns } from '../reports/compare.ts';
import type { Movement, NotRun, ReportInput, RunInput, SuiteInfo } from '../reports/format.ts';
import { FORMATS } from '../reports/index.ts';
import { formatSuiteSummary } from '../reports/suite-summary.ts';
import { type LoadedScenario, loadScenario } from '../scenarios/load.ts';
import { loadRunResult } from './rebuild.ts';
import { HARNESS_ROOT } from './run-store.ts';
import { type RunReporter, preflight, runScenario } from './runner.ts';

/**
 * A game day of several scenarios: a suite file (`scenarios/suites/<name>.yaml`) lists them;
 * `chaos gameday <suite>` runs them one after another, each in its own run folder, going on
 * after one that failed, and writes the reports of the whole beside each run's own. The suite
 * can fail on a regression against its last passing run, with the bound in the suite file.
 */
export const SUITES_DIR = join(HARNESS_ROOT, 'scenarios', 'suites');

export const suiteSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a suite name is lower case letters, digits, . _ -'),
    description: z.string().default(''),
    /** Built-in scenario names (`chaos list`) or paths relative to the suite file, run in this order. */
    scenarios: z.array(z.string().min(1)).min(1, 'a suite lists at least one scenario'),
    /**
     * The regression check against the suite's last passing run (every scenario passed, no
     * regression): a time figure regresses when it grows by more than `boundPct` percent and
     * by at least `minDeltaMs`; lost writes likewise with `minDeltaWrites`.
     */
    regression: z
      .object({
        against: z.literal('last-passing').default('last-passing'),
        boundPct: z.number().positive().default(DEFAULT_BOUND.boundPct),
        minDeltaMs: z.number().nonnegative().default(DEFAULT_BOUND.minDeltaMs),
        minDeltaWrites: z.number().int().nonnegative().default(DEFAULT_BOUND.minDeltaWrites),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Suite = z.infer<typeof suiteSchema>;

export interface LoadedSuite {
  suite: Suite;
  file: string;
  scenarios: LoadedScenario[];
}

/** A suite by built-in name (`nightly`) or by path; every scenario in it is loaded and checked first. */
export function loadSuite(nameOrPath: string, dir = SUITES_DIR): LoadedSuite {
  const looksLikePath = nameOrPath.includes('/') || ['.yaml', '.yml', '.json'].includes(extname(nameOrPath));
  const file = looksLikePath
    ? resolve(nameOrPath)
    : ['.yaml', '.yml', '.json'].map((e) => join(dir, nameOrPath + e)).find((f) => existsSync(f));
  if (!file || !existsSync(file)) {
    const known = existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => /\.(ya?ml|json)$/.test(f))
          .map((f) => basename(f, extname(f)))
      : [];
    throw new UsageError(
      'UNKNOWN_SUITE',
      looksLikePath
        ? `suite file ${file} does not exist`
        : `unknown suite '${nameOrPath}'; known: ${known.join(', ') || 'none'}`,
      { hint: 'give a suite name from scenarios/suites/, or a path to a suite file' },
    );
  }
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ScenarioError('SUITE_SYNTAX', `${file}: cannot parse: ${errorMessage(err).split('\n')[0]}`, {
      hint: 'fix the YAML/JSON syntax at the position given',
    });
  }
  const parsed = suiteSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => {
      const at = i.path.length
        ? i.path
            .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
            .join('')
            .slice(1)
        : '(top level)';
      return i.code === 'unrecognized_keys'
        ? `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')} in ${at}`
        : `field '${at}': ${i.message}`;
    });
    throw new ScenarioError('SUITE_INVALID', `${file}: ${issues.join('; ')}`, {
      hint: 'a suite has name, description, scenarios (names or paths) and regression { boundPct, minDeltaMs, minDeltaWrites }',
    });
  }
  const scenarios = parsed.data.scenarios.map((s) => {
    const isPath = s.includes('/') || ['.yaml', '.yml', '.json'].includes(extname(s));
    try {
      return loadScenario(isPath ? resolve(dirname(file), s) : s);
    } catch (err) {
      if (err instanceof ChaosError) {
        throw new ScenarioError(
          err.code,
          `${file}: scenario '${s}': ${err.message}`,
          err.hint ? { hint: err.hint } : {},
        );
      }
      throw err;
    }
  });
  return { suite: parsed.data, file, scenarios };
}

/** What a suite run keeps in `suite.json`: the suite, how it ended, and where each run went. */
export interface SuiteRecord extends SuiteInfo {
  schema: 'chaos-harness/suite-result';
  runs: {
    scenario: string;
    runId: string;
    runDir: string;
    status: string;
    verdict: string;
    exitCode: number;
    durationMs: number;
    regressions: Movement[];
  }[];
  reports: Record<string, string>;
}

export interface GamedayOptions {
  loaded: LoadedSuite;
  runsDir: string;
  /** A provider for each run (a fresh one, as `chaos run` has). */
  provider: () => Provider;
  signal: AbortSignal;
  argv: string[];
  /** The live progress of each run (stderr), or nothing. */
  reporter: (scenario: string, index: number) => RunReporter;
  onRunId?: (runId: string, provider: Provider) => void;
  /** Generate the Allure site with the allure CLI (on by default). */
  allureSite?: boolean;
  now?: () => Date;
}

export interface GamedayResult {
  input: ReportInput;
  suite: SuiteInfo;
  dir: string;
  exitCode: number;
  reports: Record<string, string>;
  allure: AllureSite | { error: string } | null;
  summary: string;
}

/** Where a suite's runs keep their suite-level reports: `<runs-dir>/suites/<suite>/`. */
export const suiteHome = (runsDir: string, suite: string) => join(runsDir, 'suites', suite);

/**
 * The last run of this suite that passed as a whole (exit 0), started before `before`: the
 * baseline of the regression check. Suite folders whose suite.json cannot be read are passed over.
 */
export function lastPassing(runsDir: string, suite: string, before: string): SuiteRecord | null {
  const home = suiteHome(runsDir, suite);
  if (!existsSync(home)) return null;
  const records: SuiteRecord[] = [];
  for (const d of readdirSync(home)) {
    const f = join(home, d, 'suite.json');
    if (!existsSync(f)) continue;
    try {
      const rec = JSON.parse(readFileSync(f, 'utf8')) as SuiteRecord;
      if (rec.schema === 'chaos-harness/suite-result' && rec.exitCode === 0 && rec.startedAt < before)
        records.push(rec);
    } catch {
      // a suite folder being written, or damaged: not a baseline
    }
  }
  records.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return records.at(-1) ?? null;
}

/** The exit code of a suite: 130 interrupted, 3 infrastructure, 1 an expectation or a regression, else 0. */
export function suiteExitCode(
  runs: readonly RunInput[],
  notRun: readonly NotRun[],
  interrupted: boolean,
): number {
  if (interrupted) return EXIT.interrupted;
  const codes = runs.map((r) => exitCodeOfRun(r.result));
  if (codes.includes(EXIT.interrupted)) return EXIT.interrupted;
  if (codes.some((c) => c !== EXIT.pass && c !== EXIT.verdict) || notRun.some((n) => n.kind === 'error'))
    return EXIT.infra;
  if (codes.includes(EXIT.verdict) || runs.some((r) => r.regressions?.some((m) => m.regression)))
    return EXIT.verdict;
  return EXIT.pass;
}

export async function runGameday(opts: GamedayOptions): Promise<GamedayResult> {
  const { loaded, runsDir } = opts;
  const now = opts.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const id = randomBytes(4).toString('hex');
  // Every scenario must be able to run here before the first starts (a partition needs iptables).
  const here = opts.provider();
  for (const s of loaded.scenarios) preflight(s, here);
  const home = suiteHome(runsDir, loaded.suite.name);
  const dir = join(home, `${started.toISOString().replace(/[:.]/g, '-')}-${id}`);
  mkdirSync(dir, { recursive: true });

  const runs: RunInput[] = [];
  const notRun: NotRun[] = [];
  for (const [index, scenario] of loaded.scenarios.entries()) {
    const name = scenario.scenario.name;
    if (opts.signal.aborted) {
      notRun.push({
        scenario: name,
        kind: 'skipped',
        reason: 'not run: the suite was interrupted before it',
      });
      continue;
    }
    const provider = opts.provider();
    let result: RunResult;
    try {
      result = await runScenario({
        loaded: scenario,
        provider,
        runsDir,
        signal: opts.signal,
        argv: opts.argv,
        reporter: opts.reporter(name, index),
        onRunId: (runId) => opts.onRunId?.(runId, provider),
      });
    } catch (err) {
      // Before its run folder existed: Docker unreachable, an image missing. The next may still run.
      const e = err instanceof ChaosError ? err : undefined;
      // An official-only image this machine cannot have (mongo, where no registry answers): the
      // scenario is skipped, saying how to get it; the suite is not failed for what no build fixes.
      const noImage = e?.code === OFFICIAL_IMAGE_MISSING;
      notRun.push({
        scenario: name,
        kind: noImage ? 'skipped' : 'error',
        reason: e ? `${noImage ? 'not run: ' : ''}${e.oneLine()}` : `error[INTERNAL]: ${errorMessage(err)}`,
        code: e?.code ?? 'INTERNAL',
      });
      continue;
    }
    const run: RunInput = { result, dir: result.runDir };
    runs.push(run);
    // Each run's own reports, beside its result.json, as soon as it ended.
    writeReport(run, 'html', join(result.runDir, 'report.html'));
    writeReport(run, 'junit', join(result.runDir, 'junit.xml'));
  }

  // The regression check against the last suite run that passed as a whole.
  const bound: RegressionBound = loaded.suite.regression;
  const baseline = lastPassing(runsDir, loaded.suite.name, started.toISOString());
  let note = 'no earlier passing run of this suite to compare with';
  if (baseline) {
    note = `against ${loaded.suite.name} ${baseline.id}`;
    for (const run of runs) {
      const before = baseline.runs.find((b) => b.scenario === run.result.scenario.name);
      if (!before || run.result.status !== 'completed') continue;
      try {
        run.regressions = compareRuns(loadRunResult(before.runDir).result, run.result, bound);
      } catch {
        // the baseline's run folder is gone: nothing to compare this scenario with
        continue;
      }
      // the run's own reports say it too
      if (run.regressions.some((m) => m.regression)) {
        writeReport(run, 'html', join(run.result.runDir, 'report.html'));
        writeReport(run, 'junit', join(run.result.runDir, 'junit.xml'));
      }
    }
  }
  const interrupted = opts.signal.aborted;
  const exitCode = suiteExitCode(runs, notRun, interrupted);
  const suite: SuiteInfo = {
    name: loaded.suite.name,
    file: loaded.file,
    id,
    startedAt: started.toISOString(),
    durationMs: performance.now() - t0,
    dir,
    status: interrupted ? 'interrupted' : 'completed',
    exitCode,
    regression: {
      boundPct: bound.boundPct,
      baseline: baseline ? { id: baseline.id, dir: baseline.dir, startedAt: baseline.startedAt } : null,
      note,
    },
    notRun,
  };
  const input: ReportInput = { suite, runs };
  const reports: Record<string, string> = {};
  for (const f of ['summary', 'junit', 'html', 'allure'] as const) {
    const out = join(dir, FORMATS[f].fileName);
    if (writeReport(input, f, out)) reports[f] = out;
  }
  let allure: GamedayResult['allure'] = null;
  if (opts.allureSite !== false && reports.allure) {
    try {
      allure = generateAllureSite({
        resultsDirs: [reports.allure],
        outDir: join(dir, 'allure-report'),
        historyFile: join(home, 'allure-history.jsonl'),
        name: loaded.suite.name,
      });
      reports['allure site'] = allure.index;
    } catch (err) {
      allure = { error: errorMessage(err) };
    }
  }
  const record: SuiteRecord = {
    schema: 'chaos-harness/suite-result',
    ...suite,
    runs: runs.map((r) => ({
      scenario: r.result.scenario.name,
      runId: r.result.runId,
      runDir: r.result.runDir,
      status: r.result.status,
      verdict: r.result.verdict,
      exitCode: exitCodeOfRun(r.result),
      durationMs: r.result.durationMs,
      regressions: r.regressions ?? [],
    })),
    reports,
  };
  writeFileSync(join(dir, 'suite.json'), `${JSON.stringify(record, null, 2)}\n`);
  return { input, suite, dir, exitCode, reports, allure, summary: formatSuiteSummary(input, false) };
}

/** Writes one report; a report that cannot be written is said on stderr, never the end of a suite. */
function writeReport(input: RunInput | ReportInput, format: keyof typeof FORMATS, out: string): boolean {
  const report: ReportInput = 'runs' in input ? input : { runs: [input] };
  try {
    FORMATS[format].write(report, out);
    return true;
  } catch (err) {
    process.stderr.write(
      `warning: the ${format} report could not be written to ${out}: ${errorMessage(err)}\n`,
    );
    return false;
  }
}
