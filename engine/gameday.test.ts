import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listScenarios } from '../scenarios/load.ts';
import { syntheticRun } from '../test/fixtures/results.ts';
import { type SuiteRecord, lastPassing, loadSuite, suiteExitCode } from './gameday.ts';

const temp = () => mkdtempSync(join(tmpdir(), 'chaos-suite-'));

function suiteFile(text: string): string {
  const dir = temp();
  writeFileSync(
    join(dir, 'scenario.yaml'),
    'name: local-one\nstack: { redis: {} }\nprobes: [{ kind: redis-writer }]\nfaults: [{ action: kill, target: redis:head }]\n',
  );
  const file = join(dir, 'suite.yaml');
  writeFileSync(file, text);
  return file;
}

describe('suites', () => {
  it('the nightly suite lists every built-in scenario (a new one must be added to it), with its bound', () => {
    const { suite, scenarios } = loadSuite('nightly');
    expect(scenarios.map((s) => s.scenario.name).sort()).toEqual(
      listScenarios()
        .map((l) => l.scenario.name)
        .sort(),
    );
    expect(suite.regression).toEqual({
      against: 'last-passing',
      boundPct: 25,
      minDeltaMs: 250,
      minDeltaWrites: 10,
    });
  });

  it('takes built-in names and paths relative to the suite file, with defaults', () => {
    const loaded = loadSuite(suiteFile('name: mine\nscenarios: [redis-head-kill, ./scenario.yaml]\n'));
    expect(loaded.scenarios.map((s) => s.scenario.name)).toEqual(['redis-head-kill', 'local-one']);
    expect(loaded.suite.regression.boundPct).toBe(25);
  });

  it('refuses a misspelt field, an unknown scenario, and an unknown suite, naming the file', () => {
    expect(() => loadSuite(suiteFile('name: x\nscenarios: [redis-head-kill]\nregresion: {}\n'))).toThrow(
      /suite\.yaml: unknown field 'regresion' in \(top level\)/,
    );
    expect(() => loadSuite(suiteFile('name: x\nscenarios: [redis-head-kil]\n'))).toThrow(
      /suite\.yaml: scenario 'redis-head-kil': unknown scenario/,
    );
    expect(() => loadSuite(suiteFile('name: x\nscenarios: []\n'))).toThrow(/at least one scenario/);
    expect(() => loadSuite('weekly')).toThrow(/unknown suite 'weekly'; known: nightly/);
  });
});

describe('a suite as a whole', () => {
  const run = (o: Parameters<typeof syntheticRun>[0] = {}) => ({ result: syntheticRun(o), dir: null });

  it('has one exit code: 130 interrupted, 3 infrastructure, 1 an expectation or a regression, 0 all passed', () => {
    expect(suiteExitCode([run(), run()], [], false)).toBe(0);
    expect(suiteExitCode([run(), run({ failoverMs: 3500 })], [], false)).toBe(1);
    expect(suiteExitCode([run({ failoverMs: 3500 }), run({ status: 'error' })], [], false)).toBe(3);
    expect(suiteExitCode([run()], [{ scenario: 'x', kind: 'error', reason: 'no Docker' }], false)).toBe(3);
    expect(
      suiteExitCode([run({ status: 'interrupted' })], [{ scenario: 'x', kind: 'skipped', reason: '' }], true),
    ).toBe(130);
    const regressed = {
      ...run(),
      regressions: [
        {
          figure: 'failover time',
          scope: '',
          unit: 'ms' as const,
          before: 1,
          after: 2,
          changePct: 100,
          regression: true,
          text: '',
        },
      ],
    };
    expect(suiteExitCode([regressed], [], false)).toBe(1);
  });

  it('compares with the last suite run that passed as a whole, never a later or a failed one', () => {
    const runs = temp();
    const record = (id: string, startedAt: string, exitCode: number) => {
      const dir = join(runs, 'suites', 'nightly', `${startedAt}-${id}`);
      mkdirSync(dir, { recursive: true });
      const rec: Partial<SuiteRecord> = {
        schema: 'chaos-harness/suite-result',
        id,
        startedAt,
        exitCode,
        runs: [],
      };
      writeFileSync(join(dir, 'suite.json'), JSON.stringify(rec));
    };
    record('a', '2026-11-18T02:00:00.000Z', 0);
    record('b', '2026-11-19T02:00:00.000Z', 0);
    record('c', '2026-11-20T02:00:00.000Z', 1);
    record('d', '2026-11-22T02:00:00.000Z', 0);
    mkdirSync(join(runs, 'suites', 'nightly', 'broken'));
    writeFileSync(join(runs, 'suites', 'nightly', 'broken', 'suite.json'), '{');
    expect(lastPassing(runs, 'nightly', '2026-11-21T02:00:00.000Z')?.id).toBe('b');
    expect(lastPassing(runs, 'nightly', '2026-11-18T01:00:00.000Z')).toBeNull();
    expect(lastPassing(runs, 'weekly', '2026-11-21T02:00:00.000Z')).toBeNull();
  });
});
