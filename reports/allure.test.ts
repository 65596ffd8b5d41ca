import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticRun } from '../test/fixtures/results.ts';
import { allureCli, generateAllureSite, writeAllureResults } from './allure.ts';
import type { ReportInput } from './format.ts';

/** A run folder with what a real one holds beside result.json: the scenario, events, logs. */
function runFolder(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `chaos-run-${name}-`));
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'logs', 'redis-a.redis.log'), 'Ready to accept connections\n');
  writeFileSync(join(dir, 'logs', 'redis-b.agent.log'), '{"type":"became-head"}\n');
  writeFileSync(join(dir, 'events.jsonl'), '{"t":1,"source":"fault","type":"fault-injected"}\n');
  writeFileSync(
    join(dir, 'scenario.json'),
    JSON.stringify({
      name,
      description: 'x',
      stack: { redis: { nodes: 3, failoverThresholdMs: 1000 } },
      probes: [{ kind: 'redis-writer' }],
      faults: [{ at: 0, action: 'kill', target: 'redis:head', quiesceProbes: false }],
      observeMs: 4000,
    }),
  );
  return dir;
}

function suiteInput(): ReportInput {
  return {
    suite: {
      name: 'nightly',
      file: 'nightly.yaml',
      id: 'cafe0001',
      startedAt: '2026-11-20T02:00:00.000Z',
      durationMs: 60_000,
      dir: '/x',
      status: 'completed',
      exitCode: 3,
      regression: { boundPct: 25, baseline: null, note: 'none' },
      notRun: [],
    },
    runs: [
      {
        result: syntheticRun({ scenario: 'redis-head-kill', runId: 'aaaa0001' }),
        dir: runFolder('redis-head-kill'),
      },
      {
        result: syntheticRun({ scenario: 'redis-head-pause', runId: 'aaaa0002', failoverMs: 3300 }),
        dir: runFolder('redis-head-pause'),
      },
      {
        result: syntheticRun({ scenario: 'pg-primary-kill', runId: 'aaaa0003', status: 'error' }),
        dir: null,
      },
    ],
  };
}

const results = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('-result.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
    .sort((a, b) => a.name.localeCompare(b.name));

describe('Allure results', () => {
  it('writes one test result per run, its status from the verdict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-allure-results-'));
    writeAllureResults(suiteInput(), dir);
    const all = results(dir);
    expect(all.map((r) => [r.name, r.status, r.stage])).toEqual([
      ['pg-primary-kill', 'broken', 'finished'],
      ['redis-head-kill', 'passed', 'finished'],
      ['redis-head-pause', 'failed', 'finished'],
    ]);
    const pause = all[2];
    expect(pause.statusDetails.message).toBe('fault #1 failover time: 3301 ms, expected <= 3000 ms');
    expect(all[0].statusDetails.message).toMatch(/error\[PROVISION_FAILED\] redis-b did not start/);
    expect(new Set(all.map((r) => r.historyId)).size).toBe(3);
  });

  it('has the phases as steps with their times, faults and expectations inside', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-allure-results-'));
    writeAllureResults(suiteInput(), dir);
    const kill = results(dir)[1];
    const origin = Date.parse('2026-11-20T02:00:00.000Z');
    expect(kill.steps.map((s: { name: string }) => s.name)).toEqual([
      'provision',
      'steady-state',
      'inject',
      'observe',
    ]);
    expect(kill.steps[2]).toMatchObject({ start: origin + 2000, stop: origin + 2020, status: 'passed' });
    expect(kill.steps[2].steps[0]).toMatchObject({
      name: 'fault #1 kill redis:head -> redis-a',
      start: origin + 1985, // injected
      stop: origin + 2000, // applied
    });
    expect(kill.start).toBe(origin);
    expect(kill.stop).toBe(origin + 10_000);
  });

  it('labels suite, system, fault and provider; scenario and client settings are parameters', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-allure-results-'));
    writeAllureResults(suiteInput(), dir);
    const kill = results(dir)[1];
    const labels = Object.fromEntries(
      kill.labels.map((l: { name: string; value: string }) => [l.name, l.value]),
    );
    expect(labels).toMatchObject({
      suite: 'nightly',
      system: 'redis',
      fault: 'kill redis:head',
      provider: 'local',
    });
    const params = Object.fromEntries(
      kill.parameters.map((p: { name: string; value: string }) => [p.name, p.value]),
    );
    expect(params).toMatchObject({
      'stack.redis.failoverThresholdMs': '1000',
      'fault #1': 'kill redis:head at +0 ms; quiesceProbes false',
      observeMs: '4000',
      'client writes.library': 'ioredis 5',
      'client writes.commandTimeoutMs': expect.any(String),
      'run id': 'aaaa0001',
    });
    // what may differ from one night to the next is not part of the test's identity in the history
    const excluded = kill.parameters
      .filter((p: { excluded?: boolean }) => p.excluded)
      .map((p: { name: string }) => p.name);
    expect(excluded).toContain('run id');
    expect(excluded).toContain('client writes.library');
    expect(excluded).not.toContain('stack.redis.failoverThresholdMs');
  });

  it('attaches the timeline chart, the summary, the events and each node log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-allure-results-'));
    writeAllureResults(suiteInput(), dir);
    const kill = results(dir)[1];
    expect(kill.attachments.map((a: { name: string; type: string }) => [a.name, a.type])).toEqual([
      ['timeline chart', 'text/html'],
      ['summary', 'text/plain'],
      ['events', 'text/plain'],
      ['log redis-a.redis', 'text/plain'],
      ['log redis-b.agent', 'text/plain'],
      ['result.json', 'application/json'],
    ]);
    const chart = readFileSync(join(dir, kill.attachments[0].source), 'utf8');
    expect(chart).toMatch(/^<!doctype html>/);
    expect(chart).toContain('uPlot');
    expect(readFileSync(join(dir, kill.attachments[3].source), 'utf8')).toContain('Ready to accept');
  });

  it.skipIf(!allureCli())(
    '`allure generate` makes a site whose counts match, and carries history to the next',
    () => {
      const work = mkdtempSync(join(tmpdir(), 'chaos-allure-site-'));
      const history = join(work, 'history.jsonl');
      const resultsDir = join(work, 'results-1');
      writeAllureResults(suiteInput(), resultsDir);
      const site = generateAllureSite({
        resultsDirs: [resultsDir],
        outDir: join(work, 'site-1'),
        historyFile: history,
        name: 'nightly',
      });
      expect(site.stats).toMatchObject({ total: 3, passed: 1, failed: 1, broken: 1 });
      expect(readFileSync(site.index, 'utf8').length).toBeGreaterThan(10_000);
      // the next nightly: the same tests are no longer new
      const next = join(work, 'results-2');
      writeAllureResults(suiteInput(), next);
      generateAllureSite({
        resultsDirs: [next],
        outDir: join(work, 'site-2'),
        historyFile: history,
        name: 'nightly',
      });
      const summary = JSON.parse(readFileSync(join(work, 'site-2', 'summary.json'), 'utf8'));
      expect(summary.newTests).toEqual([]);
      expect(readFileSync(history, 'utf8').trim().split('\n')).toHaveLength(2);
    },
    60_000,
  );
});
