import { describe, expect, it } from 'vitest';
import { availability } from '../checker/availability.ts';
import { checkWrites } from '../checker/writes.ts';
import { exitCodeOf } from '../engine/cli.ts';
import type { RunResult } from '../engine/result.ts';
import type { Op } from '../probes/history.ts';
import { formatSummary } from './summary.ts';

const ops: Op[] = [
  { probe: 'w', op: 'write', seq: 1, tInvoke: 0, tComplete: 1, outcome: 'ok', node: 'redis-a' },
  { probe: 'w', op: 'write', seq: 2, tInvoke: 100, tComplete: 101, outcome: 'ok', node: 'redis-a' },
  { probe: 'w', op: 'write', seq: 3, tInvoke: 150, tComplete: 650, outcome: 'unknown', node: 'redis-a' },
  { probe: 'w', op: 'write', seq: 4, tInvoke: 700, tComplete: 701, outcome: 'fail' },
  { probe: 'w', op: 'write', seq: 5, tInvoke: 1700, tComplete: 1701, outcome: 'ok', node: 'redis-b' },
];

function result(readBack: Set<number> | null, over: Partial<RunResult> = {}): RunResult {
  return {
    schema: 'chaos-harness/run-result',
    schemaVersion: 1,
    runId: 'abcd1234',
    scenario: { name: 'redis-head-kill', description: '', file: 'x.yaml' },
    provider: 'local',
    status: 'completed',
    verdict: 'pass',
    startedAt: '2026-01-01T00:00:00.000Z',
    clock: { origin: '2026-01-01T00:00:00.000Z', unit: 'ms', source: 'process.hrtime.bigint' },
    durationMs: 9000,
    runDir: '/runs/x',
    harness: { name: 'h', version: '0', gitRevision: 'r', gitDirty: false, command: [], node: 'v20' },
    phases: [],
    faults: [
      {
        action: 'kill',
        target: 'redis:head',
        nodes: ['redis-a'],
        method: 'docker kill',
        tInject: 120,
        tApplied: 130,
        measured: true,
      },
    ],
    probes: [],
    figures: { availability: availability(ops, 120), writes: checkWrites(ops, readBack), readBack: null },
    head: { before: 'redis-a', after: 'redis-b', recordMovedAt: 1300, promotedAt: 1290 },
    topology: { before: null, after: null },
    expectations: [
      {
        name: 'failover time',
        threshold: 3000,
        value: 1581,
        expected: '<= 3000 ms',
        actual: '1581 ms',
        verdict: 'pass',
      },
    ],
    timeline: [],
    ...over,
  };
}

describe('summary', () => {
  it('shows the figures an SRE looks for first', () => {
    const text = formatSummary(result(new Set([1, 2, 5])), false);
    expect(text).toMatch(/^redis-head-kill {2}PASS {2}run abcd1234, 9\.0 s/);
    expect(text).toMatch(/detection\s+530 ms/);
    expect(text).toMatch(/failover\s+1581 ms/);
    expect(text).toMatch(/head\s+redis-a -> redis-b\s+promoted \+1170 ms, head record moved \+1180 ms/);
    expect(text).toMatch(/5 attempted, 3 acknowledged, 1 failed, 1 unknown; lost 0/);
    expect(text).toMatch(/✔ failover time/);
  });

  it('names lost writes, and says when loss cannot be judged', () => {
    expect(formatSummary(result(new Set([1, 5])), false)).toMatch(/lost 1[\s\S]*lost: 2\b/);
    expect(formatSummary(result(null), false)).toMatch(/lost unknown \(no read-back\)/);
  });

  it('says plainly when the service never came back', () => {
    const never = { ...availability(ops.slice(0, 4), 120) };
    const text = formatSummary(
      result(null, { figures: { availability: never, writes: null, readBack: null } }),
      false,
    );
    expect(text).toMatch(/failover\s+never recovered/);
  });

  it('maps results to exit codes', () => {
    expect(exitCodeOf(result(null))).toBe(0);
    expect(exitCodeOf(result(null, { verdict: 'fail' }))).toBe(1);
    expect(exitCodeOf(result(null, { verdict: 'unknown' }))).toBe(1);
    expect(exitCodeOf(result(null, { status: 'aborted' }))).toBe(3);
    expect(exitCodeOf(result(null, { status: 'interrupted' }))).toBe(130);
    expect(
      exitCodeOf(
        result(null, { status: 'error', error: { code: 'IMAGE_NOT_FOUND', kind: 'usage', message: '' } }),
      ),
    ).toBe(2);
    expect(
      exitCodeOf(
        result(null, { status: 'error', error: { code: 'RUN_TIMEOUT', kind: 'infra', message: '' } }),
      ),
    ).toBe(3);
  });
});
