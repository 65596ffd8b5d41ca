import { describe, expect, it } from 'vitest';
import { exitCodeOfRun } from '../core/errors.ts';
import type { TimelineEvent } from '../core/events.ts';
import type { Op } from '../core/history.ts';
import type { FaultRecord, RunResult } from '../core/result.ts';
import { type RunRecord, buildResult } from '../engine/result-builder.ts';
import { scenarioSchema } from '../scenarios/schema.ts';
import { redisWriterSettings } from '../systems/redis/probe.ts';
import type { RedisWriterProbeSpec } from '../systems/redis/spec.ts';
import { syntheticRun } from '../test/fixtures/results.ts';
import { formatSummary } from './summary.ts';

const w = (seq: number, tInvoke: number, tComplete: number, outcome: Op['outcome'], node?: string): Op => ({
  probe: 'writes',
  op: 'write',
  seq,
  tInvoke,
  tComplete,
  outcome,
  ...(node ? { node } : {}),
});

const scenario = scenarioSchema.parse({
  name: 'redis-head-kill',
  stack: { redis: {} },
  probes: [{ kind: 'redis-writer', name: 'writes', rateHz: 100 }],
  faults: [{ action: 'kill', target: 'redis:head' }],
  recovery: { stableMs: 0 },
  expect: { maxFailoverMs: 3000 },
});

const kill = (index: number, tInject: number, node: string): FaultRecord => ({
  index,
  action: 'kill',
  target: 'redis:head',
  nodes: [node],
  status: 'applied',
  method: 'docker kill',
  tInject,
  tApplied: tInject + 10,
  measured: true,
});

const moved = (t: number, previous: string, value: string): TimelineEvent => ({
  t,
  source: 'registry',
  type: 'record-set',
  data: { name: 'redis-head', previous, value },
});
const promoted = (t: number, node: string): TimelineEvent => ({
  t,
  source: `agent:${node}`,
  type: 'became-head',
  node,
});

/** A run record as the runner collects it; the result comes from the real builder. */
function record(over: Partial<RunRecord> = {}): RunRecord {
  return {
    runId: 'abcd1234',
    scenario,
    file: 'x.yaml',
    provider: 'local',
    status: 'completed',
    startedAt: new Date('2026-01-01T00:00:00.000Z'),
    harness: { name: 'h', version: '0', gitRevision: 'r', gitDirty: false, command: [], node: 'v20' },
    runDir: '/runs/x',
    phases: [],
    faults: [kill(0, 120, 'redis-a')],
    history: [
      w(1, 0, 1, 'ok', 'redis-a'),
      w(2, 100, 101, 'ok', 'redis-a'),
      w(3, 150, 650, 'unknown', 'redis-a'),
      w(4, 700, 701, 'fail'),
      w(5, 1700, 1701, 'ok', 'redis-b'),
      w(6, 1800, 1801, 'ok', 'redis-b'),
    ],
    events: [promoted(1290, 'redis-b'), moved(1300, 'redis-a', 'redis-b')],
    steady: { from: 0, to: 110 },
    probes: [
      {
        spec: scenario.probes[0]!,
        system: 'redis',
        settings: redisWriterSettings(scenario.probes[0]! as RedisWriterProbeSpec, 'k'),
      },
    ],
    readBacks: new Map([['writes', { node: 'redis-b', values: new Set([1, 2, 5, 6]) }]]),
    systems: [{ name: 'redis', kind: 'redis-chain', before: null, after: null, convergence: null }],
    durationMs: 9000,
    ...over,
  };
}
const summary = (r: RunResult) => formatSummary(r, false);

describe('summary', () => {
  it('shows the figures an SRE looks for first, with their resolution', () => {
    const r = buildResult(record());
    const text = summary(r);
    expect(text).toMatch(/^redis-head-kill {2}UNKNOWN {2}run abcd1234, 9\.0 s/); // redundancy not observed
    // Injected at 120, applied at 130: every figure from the applied instant.
    expect(text).toMatch(/fault #1 +kill redis:head -> redis-a +at 120 ms, applied \+10 ms; docker kill/);
    expect(text).toMatch(/detection +520 ms ±\d+ ms/);
    expect(text).toMatch(/failover +1571 ms ±\d+ ms/);
    expect(text).toMatch(/leader +redis-a -> redis-b +promoted \+1160 ms, redis-head record moved \+1170 ms/);
    expect(r.faults[0]!.applyLagMs).toBe(10);
    expect(r.probes[0]!.windows[0]!.availability).toMatchObject({
      faultAt: 130,
      injectedAt: 120,
      applyLagMs: 10,
    });
    expect(text).toMatch(/6 attempted, 4 acknowledged, 1 failed, 1 unknown; lost 0/);
    expect(text).toMatch(/✔ fault #1 failover time/);
    expect(r.schemaVersion).toBe(2);
  });

  it('shows and fails writes by a former leader and failed writes read back, naming them', () => {
    // The head record moves to redis-b at 3460; redis-a still acknowledges the next two writes.
    const r = syntheticRun({ formerLeaderWrites: 2, failedButPresent: 1 });
    expect(r.verdict).toBe('fail');
    expect(r.probes[0]!.writesByFormerLeader).toEqual({
      record: 'redis-head',
      count: 2,
      nodes: [{ node: 'redis-a', count: 2, seqs: [351, 352] }],
    });
    const text = summary(r);
    expect(text).toMatch(
      /split brain +2 writes acknowledged by a former leader +after the redis-head record moved away from it/,
    );
    expect(text).toMatch(/redis-a: 351, 352/);
    expect(text).toMatch(/1 writes reported failed are present anyway: 350/);
    expect(text).toMatch(
      /✘ one leader at a time +2 acknowledged by a former leader: redis-a 2 \(seq 351, 352\)/,
    );
    expect(text).toMatch(/✘ failed writes stay absent +1 reported failed but read back: seq 350/);
    const clean = summary(syntheticRun());
    expect(clean).toMatch(/✔ one leader at a time +0 +expected <= 0 writes acknowledged/);
    expect(clean).toMatch(/✔ failed writes stay absent +0/);
    expect(clean).not.toMatch(/split brain/);
  });

  it("shows a k6 probe's history lag, and requests k6 never started, only where there is a lag", () => {
    const base = record();
    const withLag = buildResult(
      record({
        probes: [
          { ...base.probes[0]!, delivery: { count: 6, p50Ms: 131, p99Ms: 250, maxMs: 372, notStarted: 4 } },
        ],
      }),
    );
    const text = summary(withLag);
    expect(text).toMatch(/delivery +history lag p50 131 ms, p99 250 ms, max 372 ms/);
    expect(text).toMatch(/4 requests not started for want of a free VU/);
    expect(withLag.probes[0]!.delivery?.maxMs).toBe(372);
    expect(summary(buildResult(base))).not.toMatch(/delivery|history lag/);
  });

  it('fails and names lost writes; says when loss cannot be judged', () => {
    const lost = buildResult(
      record({ readBacks: new Map([['writes', { node: 'redis-b', values: new Set([1, 5, 6]) }]]) }),
    );
    expect(lost.verdict).toBe('fail');
    expect(exitCodeOfRun(lost)).toBe(1);
    expect(summary(lost)).toMatch(/lost 1[\s\S]*lost: 2\b/);
    expect(summary(lost)).toMatch(/✘ lost acknowledged writes +1 +expected <= 0/);
    expect(summary(buildResult(record({ readBacks: new Map() })))).toMatch(/lost unknown \(no read-back\)/);
  });

  it('gives each fault its own figures and names each promotion with its own time', () => {
    const history = [
      w(1, 0, 1, 'ok'),
      w(2, 110, 120, 'fail'),
      w(3, 1600, 1601, 'ok'),
      w(4, 2500, 2501, 'ok'),
      w(5, 3110, 3120, 'fail'),
      w(6, 4200, 4201, 'ok'),
      w(7, 5300, 5301, 'ok'),
    ];
    const r = buildResult(
      record({
        history,
        faults: [kill(0, 100, 'redis-a'), kill(1, 3100, 'redis-b')],
        events: [
          promoted(1150, 'redis-b'),
          moved(1162, 'redis-a', 'redis-b'),
          promoted(4390, 'redis-c'),
          moved(4401, 'redis-b', 'redis-c'),
        ],
        readBacks: new Map([['writes', { node: 'redis-c', values: new Set([1, 3, 4, 6, 7]) }]]),
      }),
    );
    const text = summary(r);
    expect(text).toMatch(
      /fault #1[\s\S]*failover +1491 ms[\s\S]*leader +redis-a -> redis-b +promoted \+1040 ms/,
    );
    expect(text).toMatch(
      /fault #2[\s\S]*failover +1091 ms[\s\S]*leader +redis-b -> redis-c +promoted \+1280 ms/,
    );
    expect(r.expectations.filter((e) => e.name === 'failover time').every((e) => e.verdict === 'pass')).toBe(
      true,
    );
  });

  it('times a promotion made while the fault was still being applied from the injection, saying so', () => {
    // A slow stop: injected at 120, the provider said done at 1600; the record moved at 1300.
    const slow = { ...kill(0, 120, 'redis-a'), tApplied: 1600 };
    // The default history with its recovery a second later, after the applied instant.
    const history = (record().history as Op[]).map((o) =>
      o.seq >= 5 ? { ...o, tInvoke: o.tInvoke + 1000, tComplete: o.tComplete + 1000 } : o,
    );
    const text = summary(buildResult(record({ faults: [slow], history })));
    expect(text).toMatch(
      /leader +redis-a -> redis-b +promoted \+1170 ms after the injection, before it was applied, redis-head record moved \+1180 ms after the injection, before it was applied/,
    );
    expect(text).not.toMatch(/\+-\d/);
  });

  it('says a fault was not confirmed applied when its method is unknown (a run rebuilt after a crash)', () => {
    const unconfirmed = { ...kill(0, 120, 'redis-a'), method: null, tApplied: null };
    const text = summary(buildResult(record({ faults: [unconfirmed] })));
    expect(text).toMatch(
      /fault #1 +kill redis:head -> redis-a +at 120 ms; not confirmed applied: the run ended before the fault's call returned/,
    );
    expect(text).not.toMatch(/null/);
  });

  it('fails a split brain: the head moving a -> b -> a -> c for one fault', () => {
    const r = buildResult(
      record({
        events: [
          promoted(1290, 'redis-b'),
          moved(1300, 'redis-a', 'redis-b'),
          moved(2300, 'redis-b', 'redis-a'),
          promoted(4390, 'redis-c'),
          moved(4401, 'redis-a', 'redis-c'),
        ],
      }),
    );
    expect(r.verdict).toBe('fail');
    const e = r.expectations.find((x) => x.name === 'leader changes')!;
    expect(e).toMatchObject({
      verdict: 'fail',
      value: 3,
      threshold: 1,
      scope: { fault: 0, system: 'redis' },
    });
    expect(e.actual).toBe('3: redis-a -> redis-b -> redis-a -> redis-c');
    expect(summary(r)).toMatch(
      /✘ fault #1 leader changes +3: redis-a -> redis-b -> redis-a -> redis-c +expected <= 1/,
    );
  });

  it('says "no outage" and what the system did when the probe saw nothing', () => {
    const r = buildResult(
      record({
        faults: [{ ...kill(0, 120, 'redis-c'), target: 'redis:tail' }],
        history: [w(1, 0, 1, 'ok'), w(2, 200, 201, 'ok'), w(3, 300, 301, 'ok')],
        events: [
          {
            t: 1325,
            source: 'agent:redis-b',
            type: 'removed-dead-tail',
            node: 'redis-b',
            data: { tail: 'redis-c' },
          },
        ],
        readBacks: new Map([['writes', { node: 'redis-a', values: new Set([1, 2, 3]) }]]),
      }),
    );
    const text = summary(r);
    expect(text).toMatch(/probe +no outage seen by the probe/);
    expect(text).toMatch(/system +redis-b removed the dead tail redis-c \+1195 ms/); // from the applied instant, 130
    expect(text).not.toMatch(/failover +\d/);
  });

  it('an interrupted run judges nothing and never says "never recovered"', () => {
    const r = buildResult(
      record({
        status: 'interrupted',
        failure: {
          code: 'INTERRUPTED',
          kind: 'interrupted',
          message: 'interrupted by SIGINT',
          hint: undefined,
        },
        history: [w(1, 0, 1, 'ok'), w(2, 130, 140, 'fail')],
        readBacks: new Map(),
      }),
    );
    expect(r.verdict).toBe('unknown');
    expect(r.expectations).toEqual([]);
    const text = summary(r);
    expect(text).toMatch(/INTERRUPTED/);
    expect(text).toMatch(/expectations not judged: the run was interrupted/);
    expect(text).not.toMatch(/never/);
    expect(exitCodeOfRun(r)).toBe(130);
  });

  it('a run with no fault says so instead of talking about "after the fault"', () => {
    const r = buildResult(
      record({
        status: 'error',
        faults: [],
        failure: { code: 'X', kind: 'infra', message: 'm', hint: undefined },
      }),
    );
    const text = summary(r);
    expect(text).toMatch(/faults +none injected/);
    expect(text).not.toMatch(/after the fault/);
  });

  it('warns when the probe fell short of its rate', () => {
    // 2 writes in 110 ms of steady state is 18/s against 100/s asked.
    const text = summary(buildResult(record()));
    expect(text).toMatch(/warning: probe writes: asked for 100 writes\/s, made 18\/s before any fault/);
  });

  it('maps results to exit codes', () => {
    const base = buildResult(record());
    expect(exitCodeOfRun({ ...base, verdict: 'pass' })).toBe(0);
    expect(exitCodeOfRun({ ...base, verdict: 'fail' })).toBe(1);
    expect(exitCodeOfRun({ ...base, verdict: 'unknown' })).toBe(1);
    expect(exitCodeOfRun({ ...base, status: 'aborted' })).toBe(3);
    expect(exitCodeOfRun({ ...base, status: 'incomplete' })).toBe(3);
    expect(exitCodeOfRun({ ...base, status: 'interrupted' })).toBe(130);
    const err = (kind: string) => ({
      ...base,
      status: 'error' as const,
      error: { code: 'E', kind, message: '' },
    });
    expect(exitCodeOfRun(err('usage'))).toBe(2);
    expect(exitCodeOfRun(err('infra'))).toBe(3);
  });
});

describe('summary of a gray fault', () => {
  it('gives latency before, during and after it, and names a leader change while every node was up', () => {
    const latency: FaultRecord = {
      index: 0,
      action: 'latency',
      target: 'redis:head',
      nodes: ['redis-a'],
      status: 'applied',
      method: 'toxiproxy latency (100 ms on every reply)',
      tInject: 120,
      tApplied: 130,
      tRevertDue: 1120,
      tReverted: 1130,
      measured: true,
    };
    const r = buildResult(
      record({
        faults: [latency],
        history: [
          w(1, 0, 1, 'ok', 'redis-a'),
          w(2, 100, 101, 'ok', 'redis-a'),
          w(3, 200, 301, 'ok', 'redis-a'),
          w(4, 400, 503, 'ok', 'redis-a'),
          w(5, 600, 1100, 'unknown', 'redis-a'),
          w(6, 1200, 1201, 'ok', 'redis-b'),
          w(7, 1300, 1302, 'ok', 'redis-b'),
        ].map((o) => (o.outcome === 'unknown' ? { ...o, error: 'Command timed out' } : o)),
        events: [promoted(890, 'redis-b'), moved(900, 'redis-a', 'redis-b')],
      }),
    );
    const text = summary(r);
    expect(text).toMatch(/latency +before +p50 1.0 \/ p99 1.0 \/ max 1.0 ms/);
    expect(text).toMatch(/during +p50 103 \/ p99 103 \/ max 103 ms \(1 timeout\)/);
    expect(text).toMatch(/after +p50 2.0 \/ p99 2.0 \/ max 2.0 ms/);
    expect(text).toMatch(/leader \(false failover\) redis-a -> redis-b while every node was up/);
    expect(text).toMatch(/false failover: redis-a -> redis-b while no node was down +during #1 latency/);
    expect(r.systems[0]!.falseFailovers).toEqual([
      { t: 900, from: 'redis-a', to: 'redis-b', fault: 0, during: ['#1 latency'] },
    ]);
  });
});
