import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../core/events.ts';
import type { RunResult } from '../core/result.ts';
import { DEFAULT_BOUND, compareRuns, formatComparison } from '../reports/compare.ts';
import type { ReportInput } from '../reports/format.ts';
import { FORMATS } from '../reports/index.ts';
import { formatSuiteSummary } from '../reports/suite-summary.ts';
import { renderTrendHtml, trendOf } from '../reports/trend.ts';
import type { AttachSpec } from '../scenarios/attach.ts';
import { loadScenarioFile, parseOverride, readVarsFile } from '../scenarios/load.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { activeSystems } from '../scenarios/schema.ts';
import { probeOfKind } from '../systems/index.ts';
import { loadRunResult } from './rebuild.ts';
import { buildResult } from './result-builder.ts';
import { RunStore, harnessInfo } from './run-store.ts';

/**
 * An attached stack's passwords never land in what a run writes or shows: the run folder's files,
 * the result, every report. Each secret is a string that appears nowhere else, so finding it
 * anywhere is a leak.
 */
const SECRETS = {
  sentinelData: 'sntl-data-Secret-1',
  sentinelOwn: 'sntl-own-Secret-2',
  pg: 'pg-Secret-from-set-3',
  redis: 'redis-Secret-inline-4',
  patroni: 'patroni-Secret-vars-5',
};
const ALL = Object.values(SECRETS);

const tmp = (what: string) => mkdtempSync(join(tmpdir(), `chaos-secrets-${what}-`));

/** Every file under a folder, recursively, as text. */
function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) for (const [k, v] of filesUnder(p)) out.set(k, v);
    else out.set(p, readFileSync(p, 'utf8'));
  }
  return out;
}

function expectNoSecret(where: string, text: string): void {
  for (const s of ALL) expect(text.includes(s), `${where} holds ${s}`).toBe(false);
}

function expectNoSecretUnder(dir: string): void {
  const files = filesUnder(dir);
  expect(files.size).toBeGreaterThan(0);
  for (const [file, text] of files) expectNoSecret(file, text);
}

/**
 * Two attached scenarios with every kind of password: one in the file, one set by --set (a
 * field, and a mapping at once), one from a --vars file.
 */
interface Loaded {
  scenario: Scenario;
  file: string;
  argv: string[];
  /** Its own passwords: what its run's error messages say. */
  secrets: string[];
}

function loadScenarios(): Loaded[] {
  const dir = tmp('scenarios');
  const sentinelPg = join(dir, 'sentinel-pg.yaml');
  writeFileSync(
    sentinelPg,
    `name: shop-secrets
stack:
  attach:
    sentinel:
      select: { label: com.example.stack=shop }
      username: shop-user
      password: ${SECRETS.sentinelData}
      sentinelUsername: shop-sentinel
      sentinelPassword: ${SECRETS.sentinelOwn}
    pg:
      select: { label: com.example.stack=shop }
      user: shop
probes:
  - { kind: sentinel-writer, name: cache, via: sentinels }
  - { kind: pg-writer, name: orders }
faults:
  - { at: 0, action: kill, target: sentinel:master }
`,
  );
  const redisPatroni = join(dir, 'redis-patroni.yaml');
  writeFileSync(
    redisPatroni,
    `name: shop-secrets-two
stack:
  attach:
    patroni: { select: { compose: shop } }
probes:
  - { kind: redis-writer, name: cache }
  - { kind: pg-writer, name: orders }
faults:
  - { at: 0, action: pause, target: redis:master }
`,
  );
  const vars = join(dir, 'vars.yaml');
  writeFileSync(vars, `stack.attach.patroni.password: ${SECRETS.patroni}\n`);
  const setPg = `stack.attach.pg.password=${SECRETS.pg}`;
  const setRedis = `stack.attach.redis={select: {compose: shop}, password: ${SECRETS.redis}}`;
  const first = loadScenarioFile(sentinelPg, [parseOverride(setPg)]);
  const second = loadScenarioFile(redisPatroni, [...readVarsFile(vars), parseOverride(setRedis)]);
  return [
    {
      ...first,
      argv: ['node', 'bin/chaos.js', 'run', sentinelPg, '--set', setPg],
      secrets: [SECRETS.sentinelData, SECRETS.sentinelOwn, SECRETS.pg],
    },
    {
      ...second,
      argv: ['node', 'bin/chaos.js', 'run', redisPatroni, '--vars', vars, `--set=${setRedis}`],
      secrets: [SECRETS.redis, SECRETS.patroni],
    },
  ];
}

/**
 * What a run writes, as the runner writes it (engine/runner.ts): the store, its events as they
 * happen (one with a password in an error's words), the history, the result built, then written
 * with the run's own timeline.
 */
function writeRun(
  runsDir: string,
  loaded: Loaded,
  runId: string,
): { dir: string; result: RunResult; events: TimelineEvent[] } {
  const { scenario } = loaded;
  const [one, two = one, three = two] = loaded.secrets as [string, string?, string?];
  const startedAt = new Date('2026-01-01T00:00:00.000Z');
  const harness = harnessInfo(loaded.argv);
  const store = RunStore.create(runsDir, scenario, runId, startedAt, harness);
  const events: TimelineEvent[] = [
    { t: 0, source: 'harness', type: 'phase-start', data: { phase: 'steady-state' } },
    { t: 1000, source: 'harness', type: 'phase-start', data: { phase: 'inject' } },
    {
      t: 1000,
      source: 'fault',
      type: 'fault-injected',
      node: 'shop-1',
      data: { index: 0, action: 'kill', target: scenario.faults[0]!.target, nodes: ['shop-1'] },
    },
    {
      t: 1200,
      source: 'attach',
      type: 'observe-failed',
      data: { error: `AUTH ${loaded.secrets.join(' ')} refused`, login: { password: one } },
    },
  ];
  for (const e of events) store.appendEvent(e);
  const ops = [
    { probe: 'cache', op: 'write', seq: 1, tInvoke: 100, tComplete: 101, outcome: 'ok', node: 'shop-1' },
    { probe: 'cache', op: 'write', seq: 2, tInvoke: 1100, tComplete: 1101, outcome: 'fail', node: 'shop-1' },
    { probe: 'orders', op: 'write', seq: 1, tInvoke: 100, tComplete: 101, outcome: 'ok', node: 'shop-1' },
  ];
  writeFileSync(store.path('history.jsonl'), `${ops.map((o) => JSON.stringify(o)).join('\n')}\n`);
  mkdirSync(store.logsDir, { recursive: true });
  writeFileSync(join(store.logsDir, 'shop-1.log'), 'Ready to accept connections\n');
  const result = buildResult({
    runId,
    scenario,
    file: loaded.file,
    provider: 'local',
    status: 'error',
    failure: {
      code: 'ATTACH_LOGIN',
      kind: 'infra',
      message: `shop-1 refused the login ${one}`,
      hint: `check ${three}`,
    },
    startedAt,
    harness,
    runDir: store.dir,
    phases: [{ name: 'provision', tStart: 0, tEnd: 10, status: 'failed', error: `WRONGPASS ${two}` }],
    faults: [
      {
        index: 0,
        action: 'kill',
        target: scenario.faults[0]!.target,
        nodes: ['shop-1'],
        status: 'applied',
        method: 'docker kill',
        tInject: 1000,
        tApplied: 1010,
        measured: true,
      },
    ],
    history: ops as never,
    events,
    steady: { from: 0, to: 1000 },
    probes: scenario.probes.map((spec) => {
      const { system, probe } = probeOfKind(spec.kind)!;
      // A probe whose settings named its login would not show it either.
      const settings = { ...probe.settings(spec, runId), password: two, url: `redis://:${three}@shop-1` };
      return { spec, system: system.name, settings };
    }),
    readBacks: new Map(),
    systems: activeSystems(scenario).map(({ def }) => ({
      name: def.name,
      kind: def.kind,
      before: null,
      after: null,
      convergence: null,
    })),
    durationMs: 2000,
  });
  // The runner puts the run's own timeline and phases back before it writes (engine/runner.ts).
  store.writeJson('result.json', { ...result, timeline: events });
  return { dir: store.dir, result, events };
}

/** Every report of the runs, as text: the formats, the comparison, the suite's table, the trend. */
function everyReport(runs: { result: RunResult; dir: string }[], out: string): Map<string, string> {
  const texts = new Map<string, string>();
  const input: ReportInput = { runs };
  for (const f of Object.values(FORMATS)) {
    if (f.render) texts.set(f.name, f.render(input));
    const target = join(out, `${f.name}-${f.fileName}`);
    f.write(input, target);
  }
  for (const [file, text] of filesUnder(out)) texts.set(file, text);
  const [a, b] = runs;
  const moves = compareRuns(a!.result, b!.result, DEFAULT_BOUND);
  texts.set('compare', formatComparison(a!.result, b!.result, moves, DEFAULT_BOUND));
  texts.set(
    'suite summary',
    formatSuiteSummary(
      {
        runs,
        suite: {
          name: 'nightly',
          file: 'nightly.yaml',
          id: 's1',
          startedAt: '2026-01-01T00:00:00.000Z',
          durationMs: 1,
          dir: out,
          status: 'completed',
          exitCode: 0,
          regression: { boundPct: 25, baseline: null, note: 'none' },
          notRun: [],
        },
      },
      false,
    ),
  );
  texts.set('trend', renderTrendHtml(trendOf(runs), { runsDir: out }));
  return texts;
}

describe('passwords in what a run writes', () => {
  it('the run folder holds none: scenario.json masks each password field, the rest stays as run', () => {
    const runsDir = tmp('runs');
    const loaded = loadScenarios();
    for (const [i, l] of loaded.entries()) {
      const { dir, events } = writeRun(runsDir, l, `run0000${i}`);
      expectNoSecretUnder(dir);
      const written = JSON.parse(readFileSync(join(dir, 'scenario.json'), 'utf8'));
      const attach = written.stack.attach;
      if (i === 0) {
        expect(attach.sentinel).toMatchObject({
          username: 'shop-user',
          password: '***',
          sentinelUsername: 'shop-sentinel',
          sentinelPassword: '***',
        });
        expect(attach.pg).toMatchObject({ user: 'shop', password: '***', database: 'postgres' });
      } else {
        expect(attach.redis.password).toBe('***');
        expect(attach.patroni.password).toBe('***');
      }
      // The command line: each --set shown, its password masked.
      const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
      expect(meta.harness.command.join(' ')).toMatch(/--set/);
      expect(meta.harness.command.join(' ')).toContain('password');
      // The run's own events are left as they came: the checker reads them.
      expect(String(events.at(-1)!.data!.error)).toContain(l.secrets[0]);
    }
    // The run itself still has every password, as given.
    const attachOf = (i: number) => (loaded[i]!.scenario.stack as { attach: AttachSpec }).attach;
    expect(attachOf(0).sentinel).toMatchObject({
      password: SECRETS.sentinelData,
      sentinelPassword: SECRETS.sentinelOwn,
    });
    expect(attachOf(0).pg?.password).toBe(SECRETS.pg);
    expect(attachOf(1).redis?.password).toBe(SECRETS.redis);
    expect(attachOf(1).patroni?.password).toBe(SECRETS.patroni);
  });

  it('the result built (--json, the summary) and every report of it hold none', () => {
    const runsDir = tmp('runs');
    const runs = loadScenarios().map((l, i) => {
      const { result, dir } = writeRun(runsDir, l, `run1000${i}`);
      expectNoSecret('the result in memory', JSON.stringify(result));
      expect(result.probes[0]!.settings.password).toBe('***');
      return { result, dir };
    });
    for (const [what, text] of everyReport(runs, tmp('reports'))) expectNoSecret(what, text);
  });

  it('a dead run is rebuilt from the masked folder, and reported without them', () => {
    const runsDir = tmp('runs');
    const runs = loadScenarios().map((l, i) => {
      const { dir } = writeRun(runsDir, l, `dead000${i}`);
      rmSync(join(dir, 'result.json'));
      const { result, rebuilt } = loadRunResult(dir);
      expect(rebuilt).toBe(true);
      expect(result.status).toBe('incomplete');
      expect(result.probes.map((p) => p.name)).toEqual(['cache', 'orders']);
      expect(result.probes[0]!.attempted).toBe(2);
      expect(result.faults[0]).toMatchObject({ action: 'kill', nodes: ['shop-1'] });
      return { result, dir };
    });
    for (const [what, text] of everyReport(runs, tmp('reports'))) expectNoSecret(what, text);
    for (const r of runs) expectNoSecretUnder(r.dir);
  });

  it('a folder an older harness wrote (passwords in clear) is reported without them', () => {
    const runsDir = tmp('runs');
    const runs = loadScenarios().map((l, i) => {
      const { dir, result } = writeRun(runsDir, l, `old0000${i}`);
      // As written before passwords were masked: the scenario, the command line and the settings in clear.
      writeFileSync(join(dir, 'scenario.json'), JSON.stringify(l.scenario));
      writeFileSync(
        join(dir, 'result.json'),
        JSON.stringify({
          ...result,
          harness: { ...result.harness, command: l.argv },
          probes: result.probes.map((p) => ({ ...p, settings: { ...p.settings, password: l.secrets[0] } })),
          error: { ...result.error, message: `refused ${l.secrets[1]}` },
        }),
      );
      return { result: loadRunResult(dir).result, dir };
    });
    for (const r of runs) expectNoSecret('the result loaded', JSON.stringify(r.result));
    for (const [what, text] of everyReport(runs, tmp('reports'))) expectNoSecret(what, text);
  });
});
