import type { Experiment } from '@aws-sdk/client-fis';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../core/clock.ts';
import {
  EMPTY_TARGET_RESOLUTION_MODE,
  EXPERIMENT_SLACK_MS,
  type ExperimentView,
  type FisTemplateEntry,
  POLL_BACKOFF,
  experimentsOf,
  failureError,
  hasEnded,
  injectionOf,
  longestActionMs,
  mergeEntries,
  nextDelay,
  observe,
  parseIsoDuration,
  stateEventType,
} from './experiments.ts';
import { type PlanFault, type PlanInput, type PlanNode, planFaults } from './fis-plan.ts';

const node = (system: string, az: string, index: number): PlanNode => ({
  name: `${system}-${az}`,
  system,
  az,
  index,
  serverProcess: `${system}-server`,
  agentProcess: 'node',
  disks: system === 'sql' ? ['data'] : [],
});
const NODES = ['a', 'b', 'c'].flatMap((az, i) => [node('kv', az, i), node('sql', az, i)]);
const on = (name: string) => ({ kind: 'nodes' as const, nodes: [NODES.find((n) => n.name === name)!] });
const fault = (index: number, at: number, action: string, target: string, extra: Partial<PlanFault> = {}) =>
  ({ index, at, action, target, resolved: on(target.slice(5)), ...extra }) as PlanFault;
const ROLE = 'arn:aws:iam::123456789012:role/fis';
const ALARM = 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:writes-failing';

function entries(faults: PlanFault[], stopAlarmArns: string[] = []): FisTemplateEntry[] {
  const input: PlanInput = { scenario: 'demo', nodes: NODES, faults, observeMs: 5000 };
  return planFaults(input, { region: 'us-east-1', runId: 'run1', roleArn: ROLE, stopAlarmArns }).filter(
    (e): e is FisTemplateEntry => e.kind === 'fis-template',
  );
}

/** A clock whose wall-clock origin is W0 and whose now() is set by hand. */
const W0 = Date.UTC(2025, 0, 1);
function clockAt(now = 0): Clock & { t: number } {
  return {
    t: now,
    now() {
      return this.t;
    },
    fromWall: (ms) => ms - W0,
    toWall: (t) => t + W0,
  };
}

describe('mergeEntries: the faults at one instant are one experiment', () => {
  it('one entry keeps its names; the run tags, the fault, emptyTargetResolutionMode fail', () => {
    const [e] = entries([fault(1, 0, 'kill', 'node:kv-a')]);
    const m = mergeEntries([e!], { runId: 'run1' });
    expect(m.faults).toEqual([1]);
    expect(m.template.actions).toEqual(e!.template.actions);
    expect(m.template.targets).toEqual(e!.template.targets);
    expect(m.template.description).toBe(e!.template.description);
    expect(m.template.tags).toEqual({ 'chaos:stack': 'demo', 'chaos:run': 'run1', 'chaos:fault': '1' });
    expect(m.template.experimentOptions).toEqual({ emptyTargetResolutionMode: 'fail' });
    expect(EMPTY_TARGET_RESOLUTION_MODE).toBe('fail');
    expect(m.template.stopConditions).toEqual([{ source: 'none' }]);
    expect(m.actionFault).toEqual({ 'terminate-kv-a': 1 });
  });

  it('two entries: their actions and targets side by side under f<fault>- keys, references rewritten, both faults tagged', () => {
    // Both faults target kv-a: the same target name in each plan, two keys here.
    const es = entries([
      fault(1, 0, 'kill', 'node:kv-a'),
      fault(2, 0, 'freeze-volume', 'node:sql-b', { durationMs: 4000 }),
      fault(3, 0, 'stop', 'node:kv-a', { durationMs: 60_000 }),
    ]);
    expect(es).toHaveLength(3);
    const m = mergeEntries(es, { runId: 'run1' });
    expect(Object.keys(m.template.targets!).sort()).toEqual(['f1-kv-a', 'f2-sql-b-data', 'f3-kv-a']);
    expect(m.template.actions).toEqual({
      'f1-terminate-kv-a': {
        ...es[0]!.template.actions!['terminate-kv-a'],
        targets: { Instances: 'f1-kv-a' },
      },
      'f2-pause-io-sql-b': {
        ...es[1]!.template.actions!['pause-io-sql-b'],
        targets: { Volumes: 'f2-sql-b-data' },
      },
      'f3-stop-kv-a': { ...es[2]!.template.actions!['stop-kv-a'], targets: { Instances: 'f3-kv-a' } },
    });
    expect(m.template.targets!['f2-sql-b-data']).toEqual(es[1]!.template.targets!['sql-b-data']);
    expect(m.actionFault).toEqual({ 'f1-terminate-kv-a': 1, 'f2-pause-io-sql-b': 2, 'f3-stop-kv-a': 3 });
    expect(m.template.tags!['chaos:fault']).toBe('1+2+3');
    expect(m.template.description).toBe(
      'chaos-harness demo faults #1, #2, #3 at +0 ms: kill node:kv-a; freeze-volume node:sql-b; stop node:kv-a',
    );
    expect(m.nodes).toEqual({ 1: ['kv-a'], 2: ['sql-b'], 3: ['kv-a'] });
    // Every action's targets name a target of the template.
    for (const a of Object.values(m.template.actions!))
      for (const t of Object.values(a.targets ?? {})) expect(m.template.targets).toHaveProperty([t]);
  });

  it("stop conditions: the alarms given, else the plan's; more than FIS takes is refused", () => {
    const es = entries([fault(1, 0, 'kill', 'node:kv-a'), fault(2, 0, 'kill', 'node:kv-b')], [ALARM]);
    expect(mergeEntries(es, { runId: 'run1' }).template.stopConditions).toEqual([
      { source: 'aws:cloudwatch:alarm', value: ALARM },
    ]);
    const six = Array.from({ length: 6 }, (_, i) => `${ALARM}-${i}`);
    expect(() => mergeEntries(es, { runId: 'run1', stopAlarmArns: six })).toThrow(
      /at most 5 stop conditions per template \(quota L-872EC72B\); 6 were given/,
    );
  });

  it('more parallel actions than FIS runs at once: refused with the quota, and how to change the scenario', () => {
    const nodes = NODES.map((n) => n.name);
    const es = entries(
      [...nodes, ...nodes].map((n, i) =>
        i < nodes.length
          ? fault(i + 1, 0, 'kill', `node:${n}`)
          : fault(i + 1, 0, 'stop', `node:${n}`, { durationMs: 60_000 }),
      ),
    );
    expect(es).toHaveLength(12);
    expect(() => mergeEntries(es.slice(0, 10), { runId: 'run1' })).not.toThrow();
    expect(() => mergeEntries(es.slice(0, 11), { runId: 'run1' })).toThrow(
      /need 11 actions at once, and FIS runs at most 10 in parallel per experiment \(quota L-EB051440/,
    );
    try {
      mergeEntries(es, { runId: 'run1' });
    } catch (err) {
      expect((err as { code: string }).code).toBe('FIS_LIMIT');
      expect((err as { hint: string }).hint).toMatch(/another instant/);
    }
  });

  it('refuses what is not this run, a placeholder role, and entries of different instants', () => {
    const [e] = entries([fault(1, 0, 'kill', 'node:kv-a')]);
    expect(() => mergeEntries([e!], { runId: 'run2' })).toThrow(
      /tagged chaos:run=run1, and this run is run2/,
    );
    const loose = structuredClone(e!);
    loose.template.targets!['kv-a']!.resourceTags = { 'chaos:system': 'kv' };
    expect(() => mergeEntries([loose], { runId: 'run1' })).toThrow(/does not select by chaos:run=run1/);
    const placeholder = structuredClone(e!);
    placeholder.template.roleArn = 'arn:aws:iam::<account-id>:role/<fis-experiment-role>';
    expect(() => mergeEntries([placeholder], { runId: 'run1' })).toThrow(
      /experiment role .* is a placeholder/,
    );
    expect(mergeEntries([placeholder], { runId: 'run1', roleArn: ROLE }).template.roleArn).toBe(ROLE);
    const [a, b] = entries([fault(1, 0, 'kill', 'node:kv-a'), fault(2, 500, 'kill', 'node:kv-b')]);
    expect(() => mergeEntries([a!, b!], { runId: 'run1' })).toThrow(/fault #2 is at \+500 ms, not \+0 ms/);
  });

  it('experimentsOf: one experiment per instant, in time order; direct calls and refusals left out', () => {
    const input: PlanInput = {
      scenario: 'demo',
      nodes: NODES,
      observeMs: 5000,
      faults: [
        fault(1, 3000, 'kill', 'node:kv-c'),
        fault(2, 0, 'kill', 'node:kv-a'),
        fault(3, 0, 'pause', 'node:kv-b', { durationMs: 1000 }),
        fault(4, 0, 'kill', 'node:sql-a'),
      ],
    };
    const plan = planFaults(input, { region: 'us-east-1', runId: 'run1', roleArn: ROLE, stopAlarmArns: [] });
    expect(plan.map((e) => e.kind)).toEqual(['fis-template', 'fis-template', 'refused', 'fis-template']);
    expect(experimentsOf(plan, { runId: 'run1' }).map((m) => [m.at, m.faults])).toEqual([
      [0, [2, 4]],
      [3000, [1]],
    ]);
  });
});

describe('durations and backoff', () => {
  it('parseIsoDuration reads what isoDuration writes', () => {
    expect(parseIsoDuration('PT1M')).toBe(60_000);
    expect(parseIsoDuration('PT1H30M4S')).toBe(5_404_000);
    expect(parseIsoDuration('PT0.5S')).toBe(500);
    expect(parseIsoDuration('PT')).toBeUndefined();
    expect(parseIsoDuration('P1D')).toBeUndefined();
  });

  it('the bound on an experiment is its longest action plus the slack', () => {
    const es = entries([
      fault(1, 0, 'stop', 'node:kv-a', { durationMs: 120_000 }),
      fault(2, 0, 'freeze-volume', 'node:sql-a', { durationMs: 4000 }),
    ]);
    expect(longestActionMs(mergeEntries(es, { runId: 'run1' }).template)).toBe(120_000);
    expect(EXPERIMENT_SLACK_MS).toBe(600_000);
  });

  it('polls start at 250 ms, double up to 2 s, and start over after a change', () => {
    const delays: number[] = [];
    let d: number | undefined;
    for (let i = 0; i < 6; i++) {
      d = nextDelay(d);
      delays.push(d);
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 2000, 2000]);
    expect(nextDelay(2000, POLL_BACKOFF, true)).toBe(250);
    expect(nextDelay(700, { initialMs: 100, maxMs: 1000, factor: 3 })).toBe(1000);
  });
});

/** A GetExperiment answer: the experiment's state, and each action's state and times. */
function experiment(
  status: string,
  actions: Record<
    string,
    { status: string; start?: number; end?: number; reason?: string; startAfter?: string[] }
  >,
  extra: Partial<Experiment> = {},
): Experiment {
  return {
    id: 'EXP1',
    state: { status: status as never, reason: `Experiment is ${status}` },
    actions: Object.fromEntries(
      Object.entries(actions).map(([name, a]) => [
        name,
        {
          actionId: name.includes('stop') ? 'aws:ec2:stop-instances' : 'aws:ec2:terminate-instances',
          state: { status: a.status as never, reason: a.reason ?? a.status },
          ...(a.start !== undefined ? { startTime: new Date(W0 + a.start) } : {}),
          ...(a.end !== undefined ? { endTime: new Date(W0 + a.end) } : {}),
          ...(a.startAfter ? { startAfter: a.startAfter } : {}),
        },
      ]),
    ),
    ...extra,
  };
}

const MERGED = {
  faults: [1, 2],
  nodes: { 1: ['kv-a'], 2: ['sql-b'] },
  actionFault: { 'f1-terminate-kv-a': 1, 'f2-stop-sql-b': 2 },
};

describe('observe: experiment states as timeline events', () => {
  it('pending, initiating, running, completed: one event per state seen, with the experiment id; action starts at their startTime', () => {
    const clock = clockAt();
    const seen: { type: string; t: number; node?: string; data?: Record<string, unknown> }[] = [];
    let view: ExperimentView | undefined;
    const steps: [number, Experiment][] = [
      [
        10,
        experiment('pending', {
          'f1-terminate-kv-a': { status: 'pending' },
          'f2-stop-sql-b': { status: 'pending' },
        }),
      ],
      [
        300,
        experiment('initiating', {
          'f1-terminate-kv-a': { status: 'pending' },
          'f2-stop-sql-b': { status: 'pending' },
        }),
      ],
      // Seen again unchanged: nothing.
      [
        800,
        experiment('initiating', {
          'f1-terminate-kv-a': { status: 'pending' },
          'f2-stop-sql-b': { status: 'pending' },
        }),
      ],
      [
        4200,
        experiment('running', {
          'f1-terminate-kv-a': { status: 'running', start: 3900 },
          'f2-stop-sql-b': { status: 'running', start: 3950 },
        }),
      ],
      [
        9000,
        experiment(
          'completed',
          {
            'f1-terminate-kv-a': { status: 'completed', start: 3900, end: 5000 },
            'f2-stop-sql-b': { status: 'completed', start: 3950, end: 8500 },
          },
          { endTime: new Date(W0 + 8600) },
        ),
      ],
    ];
    for (const [t, exp] of steps) {
      clock.t = t;
      const out = observe(view, exp, { experimentId: 'EXP1', merged: MERGED, clock, tObserved: t });
      view = out.view;
      seen.push(...out.events);
    }
    expect(seen.map((e) => [e.type, e.t, e.node])).toEqual([
      ['fis-experiment-pending', 10, 'kv-a,sql-b'],
      ['fis-experiment-initiating', 300, 'kv-a,sql-b'],
      ['fis-experiment-running', 4200, 'kv-a,sql-b'],
      ['fis-action-started', 3900, 'kv-a'],
      ['fis-action-started', 3950, 'sql-b'],
      ['fis-experiment-completed', 9000, 'kv-a,sql-b'],
      ['fis-action-ended', 5000, 'kv-a'],
      ['fis-action-ended', 8500, 'sql-b'],
    ]);
    expect(seen[2]!.data).toEqual({
      experimentId: 'EXP1',
      status: 'running',
      previous: 'initiating',
      reason: 'Experiment is running',
      faults: [1, 2],
    });
    expect(seen[3]!.data).toEqual({
      experimentId: 'EXP1',
      action: 'f1-terminate-kv-a',
      actionId: 'aws:ec2:terminate-instances',
      fault: 1,
      status: 'running',
    });
    expect(seen[5]!.data).toMatchObject({ status: 'completed', tEnded: 8600 });
    expect(seen[7]!.data).toMatchObject({ status: 'completed', reason: 'completed', fault: 2 });
  });

  it('a state passed between two polls is not invented; stopping and stopped; failed with its reason', () => {
    const clock = clockAt();
    const first = observe(
      undefined,
      experiment('running', { 'f1-terminate-kv-a': { status: 'running', start: 50 } }),
      { experimentId: 'EXP1', merged: MERGED, clock, tObserved: 100 },
    );
    expect(first.events.map((e) => e.type)).toEqual(['fis-experiment-running', 'fis-action-started']);
    expect(first.events[0]!.data).not.toHaveProperty('previous');
    const stopping = observe(
      first.view,
      experiment('stopping', { 'f1-terminate-kv-a': { status: 'stopping', start: 50 } }),
      { experimentId: 'EXP1', merged: MERGED, clock, tObserved: 200 },
    );
    expect(stopping.events.map((e) => e.type)).toEqual(['fis-experiment-stopping']);
    const stopped = observe(
      stopping.view,
      experiment('stopped', { 'f1-terminate-kv-a': { status: 'stopped', start: 50, end: 260 } }),
      { experimentId: 'EXP1', merged: MERGED, clock, tObserved: 300 },
    );
    expect(stopped.events.map((e) => [e.type, e.t])).toEqual([
      ['fis-experiment-stopped', 300],
      ['fis-action-ended', 260],
    ]);
    const failed = observe(
      undefined,
      experiment(
        'failed',
        { 'f1-terminate-kv-a': { status: 'failed', reason: 'Target resolution returned empty set' } },
        { state: { status: 'failed', reason: 'Target resolution returned empty set' } },
      ),
      { experimentId: 'EXP1', merged: MERGED, clock, tObserved: 50 },
    );
    expect(failed.events.map((e) => [e.type, e.data?.reason])).toEqual([
      ['fis-experiment-failed', 'Target resolution returned empty set'],
      ['fis-action-ended', 'Target resolution returned empty set'],
    ]);
  });

  it('every state FIS reports has an event type; cancelled, failed, completed, stopped end the experiment', () => {
    const all = [
      'pending',
      'initiating',
      'running',
      'completed',
      'stopping',
      'stopped',
      'failed',
      'cancelled',
    ];
    expect(all.map(stateEventType)).toEqual(all.map((s) => `fis-experiment-${s}`));
    expect(stateEventType('paused')).toBe('fis-experiment-state');
    expect(all.filter(hasEnded)).toEqual(['completed', 'stopped', 'failed', 'cancelled']);
    expect(hasEnded('paused')).toBe(false);
  });
});

describe("injectionOf: the injection instant is the actions' startTime", () => {
  const times = { tStartCall: 1000, templateId: 'T1' };

  it('none while an action is still to start; then each fault at its earliest action, and the gap from StartExperiment', () => {
    const clock = clockAt();
    expect(
      injectionOf(
        experiment('running', {
          'f1-terminate-kv-a': { status: 'running', start: 4200 },
          'f2-stop-sql-b': { status: 'initiating' },
        }),
        MERGED,
        clock,
        times,
      ),
    ).toBeUndefined();
    const inj = injectionOf(
      experiment('running', {
        'f1-terminate-kv-a': { status: 'running', start: 4200 },
        'f2-stop-sql-b': { status: 'running', start: 4351 },
      }),
      MERGED,
      clock,
      times,
    )!;
    expect(inj).toEqual({
      experimentId: 'EXP1',
      templateId: 'T1',
      tStartCall: 1000,
      tStarted: 4200,
      initMs: 3200,
      faults: [
        {
          fault: 1,
          tStarted: 4200,
          actions: [
            {
              name: 'f1-terminate-kv-a',
              actionId: 'aws:ec2:terminate-instances',
              status: 'running',
              tStarted: 4200,
            },
          ],
        },
        {
          fault: 2,
          tStarted: 4351,
          actions: [
            {
              name: 'f2-stop-sql-b',
              actionId: 'aws:ec2:stop-instances',
              status: 'running',
              tStarted: 4351,
            },
          ],
        },
      ],
    });
  });

  it('mapped from the wall clock: a host clock with another origin gives the same instant on the run', () => {
    const shifted: Clock = { now: () => 0, fromWall: (ms) => ms - (W0 + 500), toWall: (t) => t + W0 + 500 };
    const inj = injectionOf(
      experiment('running', { 'f1-terminate-kv-a': { status: 'running', start: 4200 } }),
      { faults: [1], actionFault: { 'f1-terminate-kv-a': 1 } },
      shifted,
      times,
    )!;
    expect(inj.tStarted).toBe(3700);
    expect(inj.initMs).toBe(2700);
  });

  it('an action that ended without starting (skipped) does not hold it up; none started at all is no injection', () => {
    const clock = clockAt();
    const inj = injectionOf(
      experiment('running', {
        'f1-terminate-kv-a': { status: 'running', start: 2000 },
        'f2-stop-sql-b': { status: 'skipped' },
      }),
      MERGED,
      clock,
      times,
    )!;
    expect(inj.faults.map((f) => f.tStarted)).toEqual([2000, undefined]);
    expect(
      injectionOf(experiment('failed', { 'f1-terminate-kv-a': { status: 'failed' } }), MERGED, clock, times),
    ).toBeUndefined();
    // An action that waits for another does not hold up the first wave.
    expect(
      injectionOf(
        experiment('running', {
          'f1-terminate-kv-a': { status: 'running', start: 2000 },
          'f2-stop-sql-b': { status: 'pending', startAfter: ['f1-terminate-kv-a'] },
        }),
        MERGED,
        clock,
        times,
      )?.tStarted,
    ).toBe(2000);
  });
});

describe('failureError', () => {
  it("one message: the experiment, its faults, FIS's reason and each failed action's", () => {
    const e = failureError(
      experiment(
        'failed',
        {
          'f1-terminate-kv-a': { status: 'failed', reason: 'Target resolution returned empty set' },
          'f2-stop-sql-b': { status: 'cancelled', reason: 'Experiment failed' },
        },
        { state: { status: 'failed', reason: 'Target resolution returned empty set for target f1-kv-a' } },
      ),
      [1, 2],
    );
    expect(e.code).toBe('FIS_EXPERIMENT_FAILED');
    expect(e.message).toBe(
      'FIS experiment EXP1 (faults #1, #2) failed: Target resolution returned empty set for target f1-kv-a; action f1-terminate-kv-a (aws:ec2:terminate-instances) failed: Target resolution returned empty set; action f2-stop-sql-b (aws:ec2:stop-instances) cancelled: Experiment failed',
    );
    expect(e.hint).toMatch(/a target selected nothing \(emptyTargetResolutionMode fail\)/);
    const denied = failureError(
      experiment(
        'failed',
        {},
        { state: { status: 'failed', reason: 'Unable to assume role arn:aws:iam::1:role/fis' } },
      ),
      [3],
    );
    expect(denied.message).toBe(
      'FIS experiment EXP1 (fault #3) failed: Unable to assume role arn:aws:iam::1:role/fis',
    );
    expect(denied.hint).toMatch(/experiment role/);
  });
});
