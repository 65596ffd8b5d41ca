import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSummary } from '../reports/summary.ts';
import { scenarioSchema } from '../scenarios/schema.ts';
import { faultsFromEvents, leftoverHint, loadRunResult } from './rebuild.ts';

const events = [
  { t: 100, source: 'harness', type: 'phase-start', data: { phase: 'steady-state' } },
  { t: 2100, source: 'harness', type: 'phase-start', data: { phase: 'inject' } },
  {
    t: 2100,
    source: 'fault',
    type: 'fault-injected',
    node: 'redis-a',
    data: { index: 0, action: 'kill', target: 'redis:head', nodes: ['redis-a'], measured: true },
  },
  {
    t: 2110,
    source: 'fault',
    type: 'fault-applied',
    data: { index: 0, action: 'kill', method: 'docker kill' },
  },
  {
    t: 50,
    source: 'registry',
    type: 'record-set',
    data: { name: 'redis-head', previous: null, value: 'redis-a', version: 1 },
  },
  {
    t: 2150,
    source: 'registry',
    type: 'record-set',
    data: { name: 'redis-head', previous: 'redis-a', value: 'redis-b', version: 2 },
  },
  {
    t: 2200,
    source: 'fault',
    type: 'fault-skipped',
    data: { index: 1, action: 'kill', target: 'redis:head', reason: 'redis-a is already down' },
  },
];

describe('a run folder whose process died', () => {
  it('tells its faults from its events', () => {
    const f = faultsFromEvents(events);
    expect(f).toHaveLength(2);
    expect(f[0]).toMatchObject({
      index: 0,
      status: 'applied',
      tInject: 2100,
      tApplied: 2110,
      method: 'docker kill',
    });
    expect(f[1]).toMatchObject({ index: 1, status: 'skipped', reason: 'redis-a is already down' });
  });

  it('is summarised from history.jsonl and events.jsonl, marked incomplete, with the cleanup command', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-dead-'));
    const scenario = scenarioSchema.parse({
      name: 'redis-head-kill',
      stack: { redis: {} },
      probes: [{ kind: 'redis-writer' }],
      faults: [{ action: 'kill', target: 'redis:head' }],
    });
    writeFileSync(join(dir, 'scenario.json'), JSON.stringify(scenario));
    writeFileSync(
      join(dir, 'meta.json'),
      JSON.stringify({ runId: 'dead0001', startedAt: '2026-01-01T00:00:00.000Z', harness: { command: [] } }),
    );
    writeFileSync(join(dir, 'events.jsonl'), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const ops = [
      { probe: 'writes', op: 'write', seq: 1, tInvoke: 150, tComplete: 151, outcome: 'ok' },
      { probe: 'writes', op: 'write', seq: 2, tInvoke: 2120, tComplete: 2125, outcome: 'fail' },
      // The old head acknowledges a write sent after the record moved (at 2150).
      {
        probe: 'writes',
        op: 'write',
        seq: 3,
        tInvoke: 2160,
        tComplete: 2161,
        outcome: 'ok',
        node: 'redis-a',
      },
    ];
    // The last line of a killed run may be cut short.
    writeFileSync(
      join(dir, 'history.jsonl'),
      `${ops.map((o) => JSON.stringify(o)).join('\n')}\n{"probe":"wri`,
    );
    const { result, rebuilt } = loadRunResult(dir);
    expect(rebuilt).toBe(true);
    expect(result.status).toBe('incomplete');
    expect(result.verdict).toBe('unknown');
    expect(result.probes[0]?.attempted).toBe(3);
    // The figure is kept; nothing is judged.
    expect(result.probes[0]?.writesByFormerLeader?.nodes).toEqual([{ node: 'redis-a', count: 1, seqs: [3] }]);
    expect(result.expectations).toEqual([]);
    // Injected at 2100, applied at 2110 (fault-applied): the failure at 2125 is seen 15 ms after.
    expect(result.probes[0]?.windows[0]?.availability.detectionMs).toBe(15);
    expect(result.faults[0]?.applyLagMs).toBe(10);
    const text = formatSummary(result, false);
    expect(text).toMatch(/INCOMPLETE/);
    expect(text).toMatch(/chaos cleanup --run dead0001/);
    expect(text).toMatch(/expectations not judged: the run did not finish/);
    expect(text).toMatch(/split brain +1 writes acknowledged by a former leader/);
  });

  it('a result.json path is taken as its run folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-done-'));
    const ok = { schema: 'chaos-harness/run-result', schemaVersion: 2, runId: 'x', status: 'completed' };
    writeFileSync(join(dir, 'result.json'), JSON.stringify(ok));
    expect(loadRunResult(join(dir, 'result.json')).result.runId).toBe('x');
  });

  it('a result that is cut short, foreign or of another version is refused in one line naming which', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-bad-'));
    const at = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    expect(() => loadRunResult(at('cut.json', '{"schema":"chaos-harness/run-result","schemaVer'))).toThrow(
      /is not valid JSON \(cut short\?\) at line 1, column \d+/,
    );
    expect(() => loadRunResult(at('other.json', '{"schema":"jest-results","schemaVersion":1}'))).toThrow(
      /is not a run result of this harness \(its schema is "jest-results"/,
    );
    expect(() =>
      loadRunResult(at('v9.json', '{"schema":"chaos-harness/run-result","schemaVersion":9}')),
    ).toThrow(/schema version 9; this harness reads version 2/);
    expect(() => loadRunResult(at('empty.json', ''))).toThrow(/the file is empty/);
  });
});

describe('what a dead run may have left, and how to undo it', () => {
  const fault = (index: number, action: string, nodes: string[], reverted?: number) => ({
    index,
    action,
    target: 'x',
    nodes,
    status: 'applied' as const,
    method: null,
    tInject: 0,
    tApplied: 1,
    measured: true,
    ...(reverted !== undefined ? { tReverted: reverted } : {}),
  });

  it('a stack the harness built: chaos cleanup removes it', () => {
    expect(leftoverHint(false, [fault(0, 'pause', ['redis-a'])], 'r1')).toBe(
      'its stack may still be up: `chaos cleanup --run r1` removes it',
    );
  });

  it("an attached stack: each fault still held on the user's containers, with the command that undoes it; a kill or a reverted fault is not named", () => {
    const hint = leftoverHint(
      true,
      [
        fault(0, 'kill', ['shop-1']),
        fault(1, 'pause', ['shop-2'], 500),
        fault(2, 'pause', ['shop-3']),
        fault(3, 'stop', ['shop-4']),
        fault(4, 'latency', ['shop-5', 'shop-6']),
      ],
      'r2',
    );
    expect(hint).toBe(
      'faults it held on your containers may still be in force: #3 pause on shop-3 (docker unpause shop-3); #4 stop on shop-4 (docker start shop-4); #5 latency on shop-5, shop-6 (docker restart shop-5 shop-6); what its probes wrote stays (Redis keys chaos:r2:*, Postgres tables chaos_r2_*, MongoDB collections chaos.chaos_r2_*)',
    );
    expect(leftoverHint(true, [fault(0, 'pause', ['a'], 10)], 'r3')).toMatch(/held no fault on it/);
  });
});
