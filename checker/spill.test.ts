import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../core/events.ts';
import { CHUNK_OPS, type Op, OpLog, SPILL_CACHE_CHUNKS, SeqSet } from '../core/history.ts';
import { scenarioSchema } from '../scenarios/schema.ts';
import { phaseLatency } from './gray.ts';
import { check } from './index.ts';
import { outcomeSeries, probeStats } from './stats.ts';

/**
 * The checker over a history spilled to disk (core/history.ts: full chunks in a file, read back a
 * few at a time) says what it says over the same history in memory.
 */
const dir = mkdtempSync(join(tmpdir(), 'checker-spill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const n = (SPILL_CACHE_CHUNKS + 3) * CHUNK_OPS + 777;
const down = [Math.floor(n * 0.6), Math.floor(n * 0.6) + 3000];
const op = (i: number): Op => {
  const failing = i >= down[0]! && i < down[1]!;
  return {
    probe: i % 10 === 9 ? 'other' : 'w',
    op: 'write',
    seq: i,
    process: i % 4,
    tInvoke: i * 0.2,
    tComplete: i * 0.2 + 0.1 + (i % 13) * 0.05,
    outcome: failing ? (i % 7 === 0 ? 'unknown' : 'fail') : 'ok',
    node: i < down[0]! ? 'a' : 'b',
    ...(failing ? { error: i % 7 === 0 ? 'Command timed out' : 'ECONNREFUSED' } : {}),
  };
};

describe('the checker over a spilled history', { timeout: 60_000 }, () => {
  const memory = new OpLog();
  const spilled = new OpLog({ spillDir: dir });
  for (let i = 0; i < n; i++) {
    memory.push(op(i));
    spilled.push(op(i));
  }
  const readBack = new SeqSet();
  for (let i = 0; i < n; i++) if (i % 50_000 !== 1 && (i < down[0]! || i >= down[1]!)) readBack.add(i);
  const tKill = down[0]! * 0.2;
  const events: TimelineEvent[] = [
    {
      t: 0,
      source: 'registry',
      type: 'record-set',
      data: { name: 'head', value: 'a', previous: null, version: 1 },
    },
    {
      t: tKill + 500,
      source: 'registry',
      type: 'record-set',
      data: { name: 'head', value: 'b', previous: 'a', version: 2 },
    },
  ];
  const expectations = scenarioSchema.parse({
    name: 'x',
    stack: { redis: {} },
    probes: [{ kind: 'redis-writer' }],
    faults: [{ action: 'kill', target: 'redis:head' }],
    expect: { maxFailoverMs: 2000 },
  }).expect;

  it('spills most of it', () => {
    expect(spilled.spillStats().written).toBe(SPILL_CACHE_CHUNKS + 3);
  });

  it('check(): the same verdict, windows, writes and one leader at a time', () => {
    const input = (history: OpLog) =>
      check({
        history,
        probe: 'w',
        windows: [{ fault: 0, from: tKill - 5, injectedAt: tKill, until: null, faults: [0] }],
        readBack,
        expect: expectations,
        stableMs: 100,
        systems: [],
        leadership: { system: 'redis', record: 'head', events },
      });
    const a = input(spilled);
    expect(a.error).toBeUndefined();
    expect(a.writes?.lost).toBeGreaterThan(0);
    expect(a).toEqual(input(memory));
  });

  it('the stats, series and latency over time ranges', () => {
    for (const [from, to] of [
      [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
      [1000, 2000],
      [tKill - 100, tKill + 1000],
    ] as const) {
      expect(probeStats(spilled, 'w', from, to)).toEqual(probeStats(memory, 'w', from, to));
      expect(phaseLatency(spilled, 'w', from, to, null)).toEqual(phaseLatency(memory, 'w', from, to, null));
    }
    expect(outcomeSeries(spilled, 'w')).toEqual(outcomeSeries(memory, 'w'));
    expect(outcomeSeries(spilled, 'other', 1000)).toEqual(outcomeSeries(memory, 'other', 1000));
  });

  it('a pass over a short time range reads only the chunks that hold it', () => {
    const before = spilled.spillStats().reads;
    probeStats(spilled, 'w', 1000, 2000);
    // 1000-2000 ms is operations 5000-10000: the first chunk, read for each of the two passes
    // at most.
    expect(spilled.spillStats().reads - before).toBeLessThanOrEqual(2);
  });
});
