import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import type { SuiteRecord } from '../../engine/gameday.ts';
import { formatMs } from '../../reports/format.ts';
import { validateJunit, xmllintMissing } from '../fixtures/junit-schema.ts';
import { chaos, leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const QUICK = join(ROOT, 'test/fixtures/suites/quick.yaml');
const none = { containers: 0, networks: 0 };

const suiteDirs = (runsDir: string, name = 'quick') =>
  readdirSync(join(runsDir, 'suites', name))
    .filter((d) => existsSync(join(runsDir, 'suites', name, d, 'suite.json')))
    .sort()
    .map((d) => join(runsDir, 'suites', name, d));
const record = (dir: string): SuiteRecord => JSON.parse(readFileSync(join(dir, 'suite.json'), 'utf8'));
const result = (runDir: string): RunResult => JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8'));

describe.skipIf(!ready.ok)(`chaos gameday on real containers${skipReason}`, () => {
  const runsDir = tempRunsDir();
  let out: { code: number; stdout: string; stderr: string };
  let suiteDir: string;
  let rec: SuiteRecord;

  beforeAll(async () => {
    out = await chaos(['gameday', QUICK, '--quiet', '--runs-dir', runsDir]);
    suiteDir = suiteDirs(runsDir)[0]!;
    rec = record(suiteDir!);
  }, 110_000);

  it('runs every scenario in its own folder, goes on after a failing one, and exits 1', async () => {
    expect(out.code, out.stdout + out.stderr).toBe(1);
    expect(rec.runs.map((r) => [r.scenario, r.verdict, r.exitCode])).toEqual([
      ['redis-quick', 'pass', 0],
      ['redis-quick-strict', 'fail', 1],
    ]);
    expect(new Set(rec.runs.map((r) => r.runDir)).size).toBe(2);
    for (const r of rec.runs) {
      expect(existsSync(join(r.runDir, 'result.json'))).toBe(true);
      expect(await leftovers(r.runId)).toEqual(none);
    }
  });

  it('prints one summary table with each run, why the failing one failed, and where the reports are', () => {
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^quick {2}FAIL {2}2 runs: 1 passed, 1 failed, 0 broken; [\d.]+ s; exit 1$/);
    expect(lines[1]).toMatch(
      /^ {2}scenario +verdict +failover +unavailable +lost +full redundancy +took +run$/,
    );
    const [quick, strict] = rec.runs.map((r) => result(r.runDir));
    const f = quick!.probes[0]!.windows[0]!.availability.failoverMs!;
    // As the table prints a time: ms below a second, seconds above (a loaded machine fails over slower).
    const shown = formatMs(f).replace('.', '\\.');
    expect(lines[2]).toMatch(new RegExp(`^ {2}redis-quick +PASS +${shown} +[\\d.]+ (ms|s) +0 +`));
    expect(lines[3]).toMatch(/^ {2}redis-quick-strict +FAIL /);
    const s = strict!.probes[0]!.windows[0]!.availability.failoverMs!;
    expect(out.stdout).toContain(
      `✘ redis-quick-strict: fault #1 failover time: ${Math.round(s)} ms, expected <= 1 ms`,
    );
    expect(out.stdout).toContain('regressions: no earlier passing run of this suite to compare with');
    for (const f of ['summary.txt', 'junit.xml', 'report.html', 'allure-results', 'allure-report/index.html'])
      expect(out.stdout).toContain(join(suiteDir, f));
    expect(readFileSync(join(suiteDir, 'summary.txt'), 'utf8')).toContain('redis-quick-strict');
  });

  it('writes JUnit that validates and carries the broken expectation with its figure and bound', () => {
    const xml = readFileSync(join(suiteDir, 'junit.xml'), 'utf8');
    // one testsuite per run, one testcase per expectation: only the strict run's failover bound broke
    expect(xml).toMatch(/<testsuites name="quick" tests="\d+" failures="1" errors="0" skipped="0"/);
    expect(xml.match(/<testsuite /g)).toHaveLength(2);
    expect(xml).toMatch(
      /<testcase name="fault #1 failover time" classname="chaos\.quick\.redis-quick-strict" time="[\d.]+">[\s\S]*?<failure /,
    );
    const s = result(rec.runs[1]!.runDir).probes[0]!.windows[0]!.availability.failoverMs!;
    expect(xml).toContain(
      `<failure message="fault #1 failover time: ${Math.round(s)} ms, expected &lt;= 1 ms" type="expectation">`,
    );
    if (!xmllintMissing) {
      for (const doc of [xml, readFileSync(join(rec.runs[0]!.runDir, 'junit.xml'), 'utf8')]) {
        const v = validateJunit(doc);
        expect(v.ok, v.output).toBe(true);
      }
    }
  });

  it('writes Allure results whose generated site counts the suite, and a report per run', () => {
    const summary = JSON.parse(readFileSync(join(suiteDir, 'allure-report', 'summary.json'), 'utf8'));
    expect(summary.stats).toMatchObject({ total: 2, passed: 1, failed: 1 });
    expect(out.stdout).toMatch(/allure tests {2}2: 1 passed, 1 failed, 0 broken/);
    expect(existsSync(join(runsDir, 'suites', 'quick', 'allure-history.jsonl'))).toBe(true);
    const results = readdirSync(join(suiteDir, 'allure-results')).filter((f) => f.endsWith('-result.json'));
    expect(results).toHaveLength(2);
    for (const r of rec.runs) expect(existsSync(join(r.runDir, 'report.html'))).toBe(true);
    const html = readFileSync(join(suiteDir, 'report.html'), 'utf8');
    expect(html).toContain('data-suite="quick" data-exit="1"');
    expect(html.match(/<section class="run"/g)).toHaveLength(2);
  });

  it('`chaos report --format` rebuilds every report from a run folder, also of a run that died', async () => {
    const runDir = rec.runs[0]!.runDir;
    for (const format of ['summary', 'json', 'junit']) {
      const r = await chaos(['report', runDir, '--format', format]);
      expect(r.code, `${format}: ${r.stderr}`).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(100);
    }
    expect(JSON.parse((await chaos(['report', runDir, '--format', 'json'])).stdout).runId).toBe(
      rec.runs[0]!.runId,
    );
    // a run that died half-way: its folder without result.json
    const dead = join(tempRunsDir(), 'redis-quick', 'dead');
    cpSync(runDir, dead, { recursive: true });
    rmSync(join(dead, 'result.json'));
    rmSync(join(dead, 'report.html'));
    const html = await chaos(['report', dead, '--format', 'html']);
    expect(html.code).toBe(3);
    expect(html.stderr).toMatch(
      /never finished: rebuilt from history.jsonl and events.jsonl, marked incomplete/,
    );
    const page = readFileSync(join(dead, 'report.html'), 'utf8');
    expect(page).toContain('data-status="incomplete">INCOMPLETE<');
    const junit = await chaos(['report', dead, '--format', 'junit']);
    expect(junit.stdout).toMatch(/<error message="incomplete: error\[RUN_INCOMPLETE\]/);
    const allure = await chaos(['report', dead, '--format', 'allure', '--out', join(dead, 'a')]);
    expect(allure.code).toBe(3);
    const [test] = readdirSync(join(dead, 'a')).filter((f) => f.endsWith('-result.json'));
    expect(JSON.parse(readFileSync(join(dead, 'a', test!), 'utf8')).status).toBe('broken');
  });

  it('`chaos trend` draws the stored runs; `chaos compare` passes an unchanged pair', async () => {
    const trend = await chaos(['trend', runsDir]);
    expect(trend.code, trend.stderr).toBe(0);
    expect(trend.stdout).toMatch(
      /^redis-quick +1 runs \(1 passed, 0 failed, 0 broken\) {2}failover, last 1: [\d.]+ (ms|s)$/m,
    );
    expect(trend.stdout).toContain(`trend of 2 runs over 2 scenarios: ${join(runsDir, 'trend.html')}`);
    // A run compared with itself shows nothing: refused. An unchanged copy of it passes.
    const itself = await chaos(['compare', rec.runs[0]!.runDir, rec.runs[0]!.runDir]);
    expect(itself.code).toBe(2);
    expect(itself.stderr).toMatch(/error\[COMPARE_SAME_RUN\]/);
    const copy = `${rec.runs[0]!.runDir}-copy`;
    cpSync(rec.runs[0]!.runDir, copy, { recursive: true });
    writeFileSync(
      join(copy, 'result.json'),
      JSON.stringify({ ...result(rec.runs[0]!.runDir), runId: 'c0c0c0c0' }),
    );
    const same = await chaos(['compare', rec.runs[0]!.runDir, copy]);
    rmSync(copy, { recursive: true, force: true });
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/no regression beyond the 25 % bound/);
    const other = await chaos(['compare', rec.runs[0]!.runDir, rec.runs[1]!.runDir]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/error\[COMPARE_MISMATCH\]/);
  });

  it('fails the next nightly on a regression against the last passing one, with the figures and the bound', async () => {
    // Make the first suite run the passing baseline, its redis-quick run 4 times faster.
    const base = record(suiteDir);
    writeFileSync(join(suiteDir, 'suite.json'), JSON.stringify({ ...base, exitCode: 0 }));
    const baseRun = base.runs[0]!.runDir;
    const r = result(baseRun);
    const a = r.probes[0]!.windows[0]!.availability;
    a.failoverMs = Math.round(a.failoverMs! / 4);
    a.unavailabilityMs = Math.round(a.unavailabilityMs! / 4);
    writeFileSync(join(baseRun, 'result.json'), JSON.stringify(r));
    const next = await chaos([
      'gameday',
      join(ROOT, 'test/fixtures/suites/quick-one.yaml'),
      '--quiet',
      '--runs-dir',
      runsDir,
      '--no-allure-site',
    ]);
    expect(next.code, next.stdout + next.stderr).toBe(1);
    const latest = record(suiteDirs(runsDir).at(-1)!);
    expect(latest.regression.baseline?.id).toBe(base.id);
    const moved = latest.runs[0]!.regressions.find((m) => m.figure === 'failover time')!;
    expect(moved).toMatchObject({ regression: true, before: a.failoverMs });
    expect(moved.text).toMatch(
      /^failover time \d+ ms -> [\d.]+ (ms|s), \+\d+ %, above the 25 % regression bound$/,
    );
    expect(next.stdout).toMatch(/^quick {2}FAIL {2}1 runs: 0 passed, 1 failed/m);
    expect(next.stdout).toMatch(/redis-quick +REGRESSED/);
    expect(next.stdout).toContain(`regressions against quick ${base.id} of`);
    expect(next.stdout).toContain(`✘ redis-quick  fault #1 ${moved.text}`);
    expect(readFileSync(join(latest.dir, 'junit.xml'), 'utf8')).toContain('type="regression"');
    expect(readFileSync(join(latest.runs[0]!.runDir, 'junit.xml'), 'utf8')).toContain('type="regression"');
    expect(readFileSync(join(latest.runs[0]!.runDir, 'report.html'), 'utf8')).toContain(
      'data-figure="regression"',
    );
    // and `chaos compare` says the same of the two runs
    const cmp = await chaos(['compare', baseRun, latest.runs[0]!.runDir]);
    expect(cmp.code).toBe(1);
    expect(cmp.stdout).toContain(moved.text);
  }, 110_000);
});

describe.skipIf(!ready.ok)(`Ctrl-C during a game day${skipReason}`, () => {
  it('stops the current run, tears it down, stops the suite, still writes its reports: exit 130', async () => {
    const runsDir = tempRunsDir();
    const child: ChildProcess = spawn(
      process.execPath,
      [join(ROOT, 'bin/chaos.js'), 'gameday', QUICK, '--runs-dir', runsDir, '--no-allure-site'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let stdout = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await new Promise<void>((resolveSeen, reject) => {
      const timer = setTimeout(() => reject(new Error(`no steady state within 60 s:\n${stderr}`)), 60_000);
      child.stderr!.on('data', (d) => {
        stderr += d;
        if (stderr.includes('▸ steady-state')) {
          clearTimeout(timer);
          resolveSeen();
        }
      });
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(
      /SIGINT: stopping the current run, tearing its stack down, and stopping the suite/,
    );
    expect(stderr).not.toContain('[2/2]');
    const [dir] = suiteDirs(runsDir);
    const rec = record(dir!);
    expect(rec).toMatchObject({ status: 'interrupted', exitCode: 130 });
    expect(rec.runs.map((r) => [r.scenario, r.status])).toEqual([['redis-quick', 'interrupted']]);
    expect(rec.notRun).toEqual([
      {
        scenario: 'redis-quick-strict',
        kind: 'skipped',
        reason: 'not run: the suite was interrupted before it',
      },
    ]);
    expect(stdout).toMatch(/^quick {2}INTERRUPTED/m);
    expect(await leftovers(rec.runs[0]!.runId)).toEqual(none);
    expect(readFileSync(join(dir!, 'junit.xml'), 'utf8')).toContain(
      '<skipped message="not run: the suite was interrupted before it"/>',
    );
  }, 110_000);
});
