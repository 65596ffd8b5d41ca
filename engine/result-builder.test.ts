import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../core/events.ts';
import type { Op } from '../core/history.ts';
import type { SystemState } from '../core/result.ts';
import { scenarioSchema } from '../scenarios/schema.ts';
import { redisWriterSettings } from '../systems/redis/probe.ts';
import type { RedisWriterProbeSpec } from '../systems/redis/spec.ts';
import { type K6HttpProbeSpec, k6HttpSettings } from '../systems/web/probe.ts';
import { type RunRecord, buildResult } from './result-builder.ts';

const write = (probe: string, seq: number, t: number, outcome: Op['outcome'], node: string): Op => ({
  probe,
  op: 'write',
  seq,
  tInvoke: t,
  tComplete: t + 2,
  outcome,
  node,
});
const moved = (t: number, name: string, previous: string | null, value: string): TimelineEvent => ({
  t,
  source: 'registry',
  type: 'record-set',
  data: { name, previous, value },
});
const leading = (leader: string | null): SystemState => ({ leader, members: [], nodes: [] });

const base = {
  runId: 'r1',
  file: 'x.yaml',
  provider: 'local',
  status: 'completed' as const,
  startedAt: new Date('2026-01-01T00:00:00.000Z'),
  harness: { name: 'h', version: '0', gitRevision: 'r', gitDirty: false, command: [], node: 'v20' },
  runDir: '/runs/x',
  phases: [],
  faults: [
    {
      index: 0,
      action: 'kill',
      target: 'x',
      nodes: ['n'],
      status: 'applied' as const,
      method: 'docker kill',
      tInject: 1000,
      tApplied: 1010,
      measured: true,
    },
  ],
  steady: { from: 0, to: 1000 },
  durationMs: 5000,
};

/** A head kill on Redis: redis-a leads until the record moves to redis-b at 1500. */
function redisRun(over: Partial<RunRecord> = {}): RunRecord {
  const scenario = scenarioSchema.parse({
    name: 'redis-head-kill',
    stack: { redis: {} },
    probes: [{ kind: 'redis-writer', name: 'writes' }],
    faults: [{ action: 'kill', target: 'redis:head' }],
    recovery: { stableMs: 0 },
    expect: { converged: false },
  });
  const history = [
    write('writes', 1, 100, 'ok', 'redis-a'),
    write('writes', 2, 1200, 'fail', 'redis-a'),
    write('writes', 3, 1600, 'ok', 'redis-a'), // sent after the record moved away: evidence
    write('writes', 4, 1700, 'ok', 'redis-b'),
    write('writes', 5, 1800, 'ok', 'redis-b'),
  ];
  return {
    ...base,
    scenario,
    history,
    events: [moved(-100, 'redis-head', null, 'redis-a'), moved(1500, 'redis-head', 'redis-a', 'redis-b')],
    probes: [
      {
        spec: scenario.probes[0]!,
        system: 'redis',
        settings: redisWriterSettings(scenario.probes[0]! as RedisWriterProbeSpec, 'k'),
      },
    ],
    readBacks: new Map([['writes', { node: 'redis-b', values: new Set([1, 3, 4, 5]) }]]),
    systems: [
      {
        name: 'redis',
        kind: 'redis-chain',
        before: leading('redis-a'),
        after: leading('redis-b'),
        convergence: null,
      },
    ],
    ...over,
  };
}

describe('one leader at a time, in the result', () => {
  it("judges a probe against its system's leader record, scoped to the probe and the system", () => {
    const r = buildResult(redisRun());
    expect(r.probes[0]!.writesByFormerLeader).toEqual({
      record: 'redis-head',
      count: 1,
      nodes: [{ node: 'redis-a', count: 1, seqs: [3] }],
    });
    expect(r.expectations.find((e) => e.name === 'one leader at a time')).toMatchObject({
      scope: { probe: 'writes', system: 'redis' },
      value: 1,
      verdict: 'fail',
    });
    expect(r.verdict).toBe('fail');
  });

  it('passes when the scenario declares the writes of a former leader', () => {
    const run = redisRun();
    run.scenario = { ...run.scenario, expect: { ...run.scenario.expect, writesByFormerLeader: 'any' } };
    const r = buildResult(run);
    expect(r.expectations.find((e) => e.name === 'one leader at a time')?.verdict).toBe('pass');
    expect(r.verdict).toBe('pass');
  });

  it('is unknown for a system that leads when its record is missing from the events', () => {
    const r = buildResult(redisRun({ events: [] }));
    expect(r.probes[0]!.writesByFormerLeader).toBeNull();
    expect(r.expectations.find((e) => e.name === 'one leader at a time')?.verdict).toBe('unknown');
    expect(r.verdict).toBe('unknown');
  });

  it('a dead run keeps the figure, and judges nothing', () => {
    const r = buildResult(redisRun({ status: 'incomplete', readBacks: new Map() }));
    expect(r.probes[0]!.writesByFormerLeader?.count).toBe(1);
    expect(r.expectations).toEqual([]);
  });

  it('does not judge the web tier: its probe names web heads, and it has no leader record', () => {
    const scenario = scenarioSchema.parse({
      name: 'webhead-kill',
      stack: { web: { heads: 3, backends: ['pg'] }, pg: { nodes: 2 } },
      probes: [{ kind: 'k6-http', name: 'http', rateHz: 100 }],
      faults: [{ action: 'kill', target: 'web:head' }],
      recovery: { stableMs: 0 },
      expect: { converged: false },
    });
    const run: RunRecord = {
      ...base,
      scenario,
      history: [
        write('http', 1, 100, 'ok', 'web-a'),
        write('http', 2, 1200, 'fail', 'web-a'),
        write('http', 3, 1600, 'ok', 'web-b'),
        write('http', 4, 1700, 'ok', 'web-c'),
      ],
      // pg's writer record moves, and a pg node is named nowhere in the web probe's history.
      events: [moved(-100, 'pg-writer', null, 'pg-a'), moved(1500, 'pg-writer', 'pg-a', 'pg-b')],
      probes: [
        {
          spec: scenario.probes[0]!,
          system: 'web',
          settings: k6HttpSettings(scenario.probes[0]! as K6HttpProbeSpec),
        },
      ],
      readBacks: new Map([['http', { node: 'web-lb', values: new Set([1, 3, 4]) }]]),
      systems: [
        { name: 'web', kind: 'web-asg', before: leading(null), after: leading(null), convergence: null },
        {
          name: 'pg',
          kind: 'pg-streaming',
          before: leading('pg-a'),
          after: leading('pg-b'),
          convergence: null,
        },
      ],
    };
    const r = buildResult(run);
    expect(r.probes[0]!).not.toHaveProperty('writesByFormerLeader');
    expect(r.expectations.map((e) => e.name)).not.toContain('one leader at a time');
    expect(r.expectations.find((e) => e.name === 'failed writes stay absent')?.verdict).toBe('pass');
  });
});

describe('false failovers and the threshold a failover may follow a fault by', () => {
  // A pause of redis-a from 1000 to 1200; the record moves at 1500, after the revert.
  const paused = (over: Partial<RunRecord>) =>
    redisRun({
      faults: [{ ...base.faults[0]!, action: 'pause', nodes: ['redis-a'], tReverted: 1200 }],
      ...over,
    });

  it("the system's own threshold (from its spec, 1000 ms for the chain) covers a takeover just after the revert", () => {
    expect(buildResult(paused({})).systems[0]!.falseFailovers).toEqual([]);
  });

  it('a threshold the runner passes (what an attached stack learnt from the user) goes over the spec', () => {
    const run = paused({});
    run.systems = [{ ...run.systems[0]!, failoverThresholdMs: 0 }];
    expect(buildResult(run).systems[0]!.falseFailovers).toMatchObject([{ from: 'redis-a', to: 'redis-b' }]);
  });
});

describe("a probe's achieved rate", () => {
  /** A k6 probe at 10/s over a 2000 ms steady state, ramping up over `rampUpMs`. */
  const webRun = (rampUpMs: number, times: number[]): RunRecord => {
    const scenario = scenarioSchema.parse({
      name: 'web-ramp',
      stack: { web: { heads: 3, backends: ['pg'] }, pg: { nodes: 2 } },
      probes: [{ kind: 'k6-http', name: 'http', rateHz: 10, rampUpMs }],
      steadyState: { durationMs: 2000 },
      faults: [{ action: 'kill', target: 'web:head' }],
      recovery: { stableMs: 0 },
      expect: { converged: false },
    });
    return {
      ...base,
      steady: { from: 0, to: 2000 },
      scenario,
      history: times.map((t, i) => write('http', i + 1, t, 'ok', 'web-lb')),
      events: [],
      probes: [
        {
          spec: scenario.probes[0]!,
          system: 'web',
          settings: k6HttpSettings(scenario.probes[0]! as K6HttpProbeSpec),
        },
      ],
      readBacks: new Map([['http', { node: 'web-lb', values: new Set(times.map((_, i) => i + 1)) }]]),
      systems: [],
    };
  };
  // Three requests in the ramp's first second, then ten a second: 10/s once the ramp is over.
  const ramped = [100, 500, 900, ...Array.from({ length: 10 }, (_, i) => 1000 + i * 100)];

  it('is counted after the ramp-up, where the rate asked for holds', () => {
    const r = buildResult(webRun(1000, ramped));
    expect(r.probes[0]!.settings.library).toMatch(/ramping-arrival-rate: from 0 over 1000 ms/);
    expect(r.probes[0]!.rate).toMatchObject({ requestedHz: 10, achievedHz: 10, shortfall: false });
    expect(r.warnings.filter((w) => w.includes('asked for'))).toEqual([]);
  });

  it("the ramp is counted from the probe's first request: k6 starts some time into the steady state", () => {
    // The first request at 500 ms; the ramp ends at 1500; 10/s from there.
    const late = [500, 900, 1300, 1500, 1600, 1700, 1800, 1900];
    const r = buildResult(webRun(1000, late));
    expect(r.probes[0]!.rate).toMatchObject({ requestedHz: 10, achievedHz: 10, shortfall: false });
  });

  it('without a ramp-up, over the whole steady state: the same requests fall short', () => {
    const r = buildResult(webRun(0, ramped));
    expect(r.probes[0]!.rate).toMatchObject({ requestedHz: 10, achievedHz: 6.5, shortfall: true });
  });
});
