import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type Label, type Parameter, Stage, Status, type StatusDetails } from 'allure-js-commons';
import { FileSystemWriter, ReporterRuntime } from 'allure-js-commons/sdk/reporter';
import { PHASES, type PhaseRecord, type RunResult } from '../core/result.ts';
import {
  type ReportFormat,
  type ReportInput,
  type RunInput,
  brokenExpectations,
  faultLabel,
  maskSecretFields,
  outcomeOf,
  wallTime,
  whyBroken,
} from './format.ts';
import { renderHtml } from './html.ts';
import { formatSummary } from './summary.ts';

/**
 * Allure results (allure-js-commons 3): one test result per scenario run, so Allure's own
 * pages, history and trend graphs work on game days. Its phases are steps with their times
 * (the faults under `inject`, each expectation under `check`), the scenario's parameters and
 * the client settings are parameters, labels say suite, system, fault and provider, the status
 * comes from the verdict (failed: an expectation broke or a figure regressed; broken: the
 * infrastructure, an interruption, a run that died), and the attachments are the timeline
 * chart (the run's HTML report), the summary, the events, each node's log and result.json.
 * The history id is the scenario's name within its suite, so a nightly follows the last.
 */
export function writeAllureResults(input: ReportInput, resultsDir: string): string[] {
  mkdirSync(resultsDir, { recursive: true });
  const first = input.runs[0]?.result;
  const runtime = new ReporterRuntime({
    writer: new FileSystemWriter({ resultsDir }),
    environmentInfo: first
      ? {
          harness: `${first.harness.name} ${first.harness.version}`,
          'git revision': `${first.harness.gitRevision}${first.harness.gitDirty ? ' (dirty)' : ''}`,
          node: first.harness.node,
          provider: first.provider,
          ...(input.suite ? { suite: `${input.suite.name} ${input.suite.id}` } : {}),
        }
      : {},
    categories: [
      { name: 'Broken expectations', matchedStatuses: [Status.FAILED], messageRegex: '^(?!regression).*' },
      {
        name: 'Regressions against the last passing nightly',
        matchedStatuses: [Status.FAILED],
        messageRegex: '^regression.*',
      },
      { name: 'Infrastructure (the run did not complete)', matchedStatuses: [Status.BROKEN] },
    ],
  });
  const suite = input.suite?.name ?? 'chaos';
  const ids = input.runs.map((run) => writeRun(runtime, run, suite));
  runtime.writeEnvironmentInfo();
  runtime.writeCategoriesDefinitions();
  return ids;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

function statusOf(run: RunInput): { status: Status; details: StatusDetails } {
  const r = run.result;
  const outcome = outcomeOf(run);
  if (outcome === 'broken') {
    return { status: Status.BROKEN, details: { message: whyBroken(r) ?? r.status } };
  }
  if (outcome === 'fail') {
    const lines = [
      ...brokenExpectations(r),
      ...(run.regressions ?? [])
        .filter((m) => m.regression)
        .map((m) => `regression: ${m.scope ? `${m.scope} ` : ''}${m.text}`),
    ];
    // A run that failed on a regression alone has a message that starts with it: Allure's
    // categories tell the two apart by that.
    return { status: Status.FAILED, details: { message: lines.join('\n') } };
  }
  return { status: Status.PASSED, details: {} };
}

function labelsOf(r: RunResult, suite: string, regressed: boolean): Label[] {
  const labels: Label[] = [
    { name: 'parentSuite', value: 'chaos-harness' },
    { name: 'suite', value: suite },
    { name: 'subSuite', value: r.scenario.name },
    { name: 'provider', value: r.provider },
    { name: 'framework', value: 'chaos-harness' },
    { name: 'language', value: 'typescript' },
  ];
  for (const s of r.systems)
    labels.push({ name: 'system', value: s.name }, { name: 'feature', value: s.kind });
  for (const f of new Set(r.faults.map((f) => `${f.action} ${f.target}`)))
    labels.push({ name: 'fault', value: f });
  if (r.status !== 'completed') labels.push({ name: 'tag', value: r.status });
  if (regressed) labels.push({ name: 'tag', value: 'regression' });
  return labels;
}

/** The scenario as resolved (scenario.json), flattened: `stack.redis.failoverThresholdMs = 1000`. */
function scenarioParameters(dir: string | null): Parameter[] {
  const file = dir ? join(dir, 'scenario.json') : null;
  if (!file || !existsSync(file)) return [];
  let scenario: Record<string, unknown>;
  try {
    scenario = maskSecretFields(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return [];
  }
  const out: Parameter[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v === null || v === undefined) return;
    if (Array.isArray(v) && v.every((x) => typeof x !== 'object'))
      out.push({ name: prefix, value: v.join(', ') });
    else if (typeof v === 'object')
      for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else out.push({ name: prefix, value: String(v) });
  };
  for (const [k, v] of Object.entries(scenario)) {
    if (k === 'name' || k === 'description' || k === 'probes') continue; // the probes: client settings below
    if (k === 'faults' && Array.isArray(v)) {
      v.forEach((f: Record<string, unknown>, i) => {
        const extra = Object.entries(f)
          .filter(([key]) => !['action', 'target', 'at'].includes(key))
          .map(([key, x]) => `${key} ${x}`)
          .join(', ');
        out.push({
          name: faultLabel(i),
          value: `${f.action} ${f.target} at +${f.at} ms${extra ? `; ${extra}` : ''}`,
        });
      });
      continue;
    }
    walk(k, v);
  }
  return out;
}

function clientParameters(r: RunResult): Parameter[] {
  return r.probes.flatMap((p) =>
    Object.entries(maskSecretFields(p.settings)).map(([k, v]) => ({
      name: `client ${p.name}.${k}`,
      value: (typeof v === 'object' ? JSON.stringify(v) : String(v)).replaceAll(r.runId, '<run>'),
      // Shown, but not part of the test's identity in Allure's history: a run that broke before
      // its probes started has none, and must still be the same test as the night before.
      excluded: true,
    })),
  );
}

/** The phases as they ran; for a run that died, as its events tell them (each until the next began). */
function phasesOf(r: RunResult): PhaseRecord[] {
  if (r.phases.length) return r.phases;
  const starts = r.timeline
    .filter((e) => e.type === 'phase-start' && PHASES.includes(e.data?.phase as never))
    .map((e) => ({ name: e.data!.phase as PhaseRecord['name'], t: e.t }));
  return starts.map((s, i) => ({
    name: s.name,
    tStart: s.t,
    tEnd: starts[i + 1]?.t ?? r.durationMs,
    status: i === starts.length - 1 ? 'failed' : 'ok',
    ...(i === starts.length - 1 ? { error: 'the run stopped here' } : {}),
  }));
}

function writeRun(rt: ReporterRuntime, run: RunInput, suite: string): string {
  const r = run.result;
  const at = (t: number) => Math.round(wallTime(r, t));
  const { status, details } = statusOf(run);
  const regressed = Boolean(run.regressions?.some((m) => m.regression));
  const uuid = rt.startTest({
    name: r.scenario.name,
    fullName: `${suite}/${r.scenario.name}`,
    testCaseId: md5(`chaos-harness:${suite}/${r.scenario.name}`),
    historyId: md5(`chaos-harness:${suite}/${r.scenario.name}`),
    description: r.scenario.description,
    start: at(0),
    labels: labelsOf(r, suite, regressed),
    parameters: [
      { name: 'run id', value: r.runId, excluded: true },
      ...scenarioParameters(run.dir),
      ...clientParameters(r),
    ],
    links: [],
  });
  for (const phase of phasesOf(r)) {
    const step = rt.startStep(uuid, undefined, { name: phase.name, start: at(phase.tStart) });
    if (!step) continue;
    if (phase.name === 'inject') {
      for (const f of r.faults) {
        const child = rt.startStep(uuid, step, {
          name: `${faultLabel(f.index)} ${f.action} ${f.target}${f.nodes.length ? ` -> ${f.nodes.join(', ')}` : ''}`,
          start: at(f.tInject),
          parameters: [{ name: 'method', value: f.method ?? f.reason ?? '' }],
        });
        if (!child) continue;
        rt.updateStep(child, (s) => {
          s.status = f.status === 'skipped' ? Status.SKIPPED : Status.PASSED;
          s.stage = Stage.FINISHED;
          if (f.reason) s.statusDetails = { message: f.reason };
        });
        rt.stopStep(child, { stop: at(f.tApplied ?? f.tInject) });
      }
    }
    if (phase.name === 'check') {
      for (const e of r.expectations) {
        const child = rt.startStep(uuid, step, {
          name: `${e.scope.fault !== undefined ? `${faultLabel(e.scope.fault)} ` : ''}${e.name}: ${e.actual}`,
          start: at(phase.tStart),
          parameters: [{ name: 'expected', value: e.expected }],
        });
        if (!child) continue;
        rt.updateStep(child, (s) => {
          s.status = e.verdict === 'pass' ? Status.PASSED : Status.FAILED;
          s.stage = Stage.FINISHED;
          if (e.verdict !== 'pass') s.statusDetails = { message: `${e.actual}, expected ${e.expected}` };
        });
        rt.stopStep(child, { stop: at(phase.tEnd) });
      }
    }
    rt.updateStep(step, (s) => {
      s.status = phase.status === 'ok' ? Status.PASSED : Status.BROKEN;
      s.stage = Stage.FINISHED;
      if (phase.error) s.statusDetails = { message: phase.error };
    });
    rt.stopStep(step, { stop: at(phase.tEnd) });
  }
  const attach = (name: string, body: string | Buffer, contentType: string, fileExtension: string) =>
    rt.writeAttachment(uuid, null, name, Buffer.from(body), { contentType, fileExtension });
  attach('timeline chart', renderHtml({ runs: [run] }), 'text/html', 'html');
  attach('summary', formatSummary(r, false), 'text/plain', 'txt');
  const events =
    run.dir && existsSync(join(run.dir, 'events.jsonl')) ? readFileSync(join(run.dir, 'events.jsonl')) : null;
  attach('events', events ?? r.timeline.map((e) => JSON.stringify(e)).join('\n'), 'text/plain', 'jsonl');
  const logs = run.dir ? join(run.dir, 'logs') : null;
  if (logs && existsSync(logs)) {
    for (const f of readdirSync(logs).sort())
      attach(`log ${f.replace(/\.log$/, '')}`, readFileSync(join(logs, f)), 'text/plain', 'log');
  }
  attach('result.json', JSON.stringify(maskSecretFields(r), null, 2), 'application/json', 'json');
  rt.updateTest(uuid, (t) => {
    t.status = status;
    t.statusDetails = { ...details, trace: formatSummary(r, false) };
    t.stage = Stage.FINISHED;
  });
  rt.stopTest(uuid, { stop: at(r.durationMs) });
  rt.writeTest(uuid);
  return uuid;
}

export const allureFormat: ReportFormat = {
  name: 'allure',
  fileName: 'allure-results',
  isFolder: true,
  write(input, out) {
    writeAllureResults(input, out);
  },
};

/** The Allure CLI of the npm package `allure` (3.x), pinned in package.json; null when it is missing. */
export function allureCli(): string | null {
  try {
    const main = createRequire(import.meta.url).resolve('allure');
    const cli = join(dirname(dirname(main)), 'cli.js');
    return existsSync(cli) ? cli : null;
  } catch {
    return null;
  }
}

export interface AllureSite {
  dir: string;
  index: string;
  /** Allure's own counts (its summary.json). */
  stats: Record<string, number>;
  tookMs: number;
}

/**
 * Generates the Allure site (the awesome report, one self-contained index.html, plus its
 * summary.json) from results folders, with the history kept in `historyFile` (JSON lines that
 * Allure appends to), so each nightly's site shows the ones before it. Offline, about a second.
 */
export function generateAllureSite(opts: {
  resultsDirs: string[];
  outDir: string;
  historyFile: string;
  name: string;
}): AllureSite {
  const cli = allureCli();
  if (!cli) throw new Error('the allure CLI is not installed (npm ci installs the pinned allure package)');
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'chaos-allure-'));
  try {
    mkdirSync(dirname(resolve(opts.historyFile)), { recursive: true });
    const config = join(work, 'allurerc.mjs');
    writeFileSync(
      config,
      `export default ${JSON.stringify({
        name: opts.name,
        output: resolve(opts.outDir),
        historyPath: resolve(opts.historyFile),
        plugins: { awesome: { options: { singleFile: true, reportName: opts.name } } },
      })};\n`,
    );
    const res = spawnSync(
      process.execPath,
      [cli, 'generate', '--config', config, ...opts.resultsDirs.map((d) => resolve(d))],
      { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 },
    );
    const summary = join(opts.outDir, 'summary.json');
    if (res.status !== 0 || !existsSync(summary)) {
      const said = `${res.stderr ?? ''}${res.stdout ?? ''}`.trim().split('\n').slice(-3).join(' / ');
      throw new Error(
        `allure generate failed (exit ${res.status ?? res.signal}): ${said || res.error?.message}`,
      );
    }
    const stats = (JSON.parse(readFileSync(summary, 'utf8')) as { stats: Record<string, number> }).stats;
    return { dir: opts.outDir, index: join(opts.outDir, 'index.html'), stats, tookMs: Date.now() - started };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
