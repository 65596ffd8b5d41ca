import { describe, expect, it } from 'vitest';
import { FAULTS } from '../../core/faults.ts';
import {
  FIS_LIMITS,
  type PlanEntry,
  type PlanFault,
  type PlanInput,
  type PlanNode,
  type PlanOptions,
  ROLE_ARN_PLACEHOLDER,
  alarmArnProblem,
  formatPlan,
  headingOf,
  isoDuration,
  partitionOf,
  planFaults,
  revertAfter,
  roleArnPlaceholder,
  roleArnProblem,
} from './fis-plan.ts';

/** A stack of two systems over three zones, as systems lay theirs out (index 0 leads). */
const node = (system: string, az: string, index: number, extra: Partial<PlanNode> = {}): PlanNode => ({
  name: `${system}-${az}`,
  system,
  az,
  index,
  serverProcess: system === 'kv' ? 'kv-server' : 'sql-server',
  agentProcess: 'node',
  disks: system === 'sql' ? ['data'] : [],
  ...extra,
});
const KV = ['a', 'b', 'c'].map((az, i) => node('kv', az, i));
const SQL = ['a', 'b', 'c'].map((az, i) => node('sql', az, i));
const NODES = [...KV, ...SQL];
const OPTS: PlanOptions = {
  region: 'us-east-1',
  runId: 'run1',
  roleArn: ROLE_ARN_PLACEHOLDER,
  stopAlarmArns: [],
};
/** The tags every target of the run selects by. */
const RUN = { 'chaos:stack': 'demo', 'chaos:run': 'run1' };
const RUNNING = { path: 'State.Name', values: ['running'] };

function fault(action: string, extra: Partial<PlanFault> = {}): PlanFault {
  return {
    index: 1,
    at: 0,
    action,
    target: 'node:kv-a',
    resolved: { kind: 'nodes', nodes: [KV[0]!] },
    ...extra,
  };
}

function plan(
  faults: PlanFault[],
  opts: Partial<PlanOptions> = {},
  observeMs = 5000,
  stack: Partial<PlanInput> = {},
): PlanEntry[] {
  const input: PlanInput = { scenario: 'demo', nodes: NODES, faults, observeMs, ...stack };
  return planFaults(input, { ...OPTS, ...opts });
}

function only(
  faults: PlanFault[],
  opts: Partial<PlanOptions> = {},
  observeMs = 5000,
  stack: Partial<PlanInput> = {},
): PlanEntry {
  const entries = plan(faults, opts, observeMs, stack);
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

function templateOf(e: PlanEntry) {
  if (e.kind !== 'fis-template') throw new Error(`expected a template, got ${e.kind}: ${JSON.stringify(e)}`);
  return e.template;
}

function refusalOf(e: PlanEntry) {
  if (e.kind !== 'refused') throw new Error(`expected a refusal, got ${e.kind}`);
  return e;
}

describe('FIS durations', () => {
  it('are ISO 8601 in whole seconds, as FIS gives them (PT1M, PT5S, PT6H)', () => {
    expect(isoDuration(60_000)).toBe('PT1M');
    expect(isoDuration(4000)).toBe('PT4S');
    expect(isoDuration(6 * 3_600_000)).toBe('PT6H');
    expect(isoDuration(5_400_000)).toBe('PT1H30M');
    expect(isoDuration(3_723_000)).toBe('PT1H2M3S');
    expect(isoDuration(0)).toBe('PT0S');
    expect(() => isoDuration(1500)).toThrow(/whole number of seconds/);
  });
});

describe('a fault that FIS can do becomes a CreateExperimentTemplate input', () => {
  it('kill on a role: terminate-instances on the node that holds it at provisioning, by its tags, in any zone (the runner re-resolves it)', () => {
    const e = only([
      fault('kill', { target: 'kv:head', resolved: { kind: 'nodes', nodes: [KV[0]!], role: 'kv:head' } }),
    ]);
    const t = templateOf(e);
    expect(t.roleArn).toBe(ROLE_ARN_PLACEHOLDER);
    expect(t.stopConditions).toEqual([{ source: 'none' }]);
    expect(t.targets).toEqual({
      'kv-a': {
        resourceType: 'aws:ec2:instance',
        resourceTags: { ...RUN, 'chaos:system': 'kv', 'chaos:node': 'kv-a' },
        filters: [RUNNING],
        selectionMode: 'ALL',
      },
    });
    expect(Object.values(t.actions!)).toEqual([
      expect.objectContaining({ actionId: 'aws:ec2:terminate-instances', targets: { Instances: 'kv-a' } }),
    ]);
    expect(t.tags).toEqual({ ...RUN, 'chaos:fault': '1' });
    // As the provider sends it: an empty target fails the experiment, never skipped.
    expect(t.experimentOptions).toEqual({ emptyTargetResolutionMode: 'fail' });
    expect(e.heading).toBe('#1 kill kv:head at +0 ms');
    expect(e.notes.join('\n')).toMatch(
      /resolved live at injection; on paper it is kv-a.*re-resolves it at injection.*no zone filter/,
    );
  });

  it('a role keeps no zone filter of its node on paper (pg:primary moves to another zone on failover); a node named by name keeps its zone', () => {
    const role = templateOf(
      only([
        fault('freeze-volume', {
          target: 'sql:primary',
          durationMs: 5000,
          resolved: { kind: 'nodes', nodes: [SQL[0]!], role: 'sql:primary' },
        }),
      ]),
    );
    expect(Object.values(role.targets!).map((x) => x.filters)).toEqual([undefined]);
    const stop = templateOf(
      only([
        fault('stop', {
          target: 'sql:primary',
          durationMs: 60_000,
          resolved: { kind: 'nodes', nodes: [SQL[0]!], role: 'sql:primary' },
        }),
      ]),
    );
    expect(stop.targets!['sql-a']!.filters).toEqual([RUNNING]);
    const byName = templateOf(
      only([fault('kill', { target: 'node:sql-a', resolved: { kind: 'nodes', nodes: [SQL[0]!] } })]),
    );
    expect(byName.targets!['sql-a']!.filters).toEqual([
      { path: 'Placement.AvailabilityZone', values: ['us-east-1a'] },
      RUNNING,
    ]);
  });

  it('the region names the zones: az b in eu-west-2 is eu-west-2b', () => {
    const t = templateOf(
      only([fault('kill', { target: 'node:kv-b', resolved: { kind: 'nodes', nodes: [KV[1]!] } })], {
        region: 'eu-west-2',
      }),
    );
    expect(t.targets!['kv-b']!.filters).toEqual([
      { path: 'Placement.AvailabilityZone', values: ['eu-west-2b'] },
      RUNNING,
    ]);
  });

  it('every instance target selects running instances only (State.Name), as FIS scenarios do', () => {
    const faults: PlanFault[] = [
      fault('kill'),
      fault('stop', { durationMs: 60_000 }),
      fault('kill-process', { process: 'server' }),
      fault('kill', {
        target: 'kv:any',
        resolved: { kind: 'random', system: 'kv', role: 'any', count: 1, of: KV },
      }),
      fault('drop-az', {
        target: 'az:a',
        mode: 'power',
        durationMs: 60_000,
        resolved: { kind: 'az', az: 'a', nodes: [KV[0]!, SQL[0]!] },
      }),
    ];
    const instanceTargets = faults.flatMap((f) =>
      Object.values(templateOf(only([f])).targets!).filter((x) => x.resourceType === 'aws:ec2:instance'),
    );
    expect(instanceTargets.length).toBeGreaterThanOrEqual(6);
    for (const x of instanceTargets) expect(x.filters).toContainEqual(RUNNING);
  });

  it('every target selects by the run (chaos:run), not by the scenario alone: two stacks of one scenario never hit each other', () => {
    const faults: PlanFault[] = [
      fault('kill'),
      fault('kill', { target: 'kv:all', resolved: { kind: 'nodes', nodes: KV } }),
      fault('kill', {
        target: 'kv:any',
        resolved: { kind: 'random', system: 'kv', role: 'any', count: 1, of: KV },
      }),
      fault('freeze-volume', { durationMs: 2000, resolved: { kind: 'nodes', nodes: SQL } }),
      fault('kill-process', {
        target: 'az:c',
        process: 'server',
        resolved: { kind: 'az', az: 'c', nodes: [KV[2]!, SQL[2]!] },
      }),
      fault('drop-az', {
        target: 'az:b',
        mode: 'network',
        durationMs: 60_000,
        resolved: { kind: 'az', az: 'b', nodes: [KV[1]!, SQL[1]!] },
      }),
      fault('drop-az', {
        target: 'az:a',
        mode: 'power',
        durationMs: 60_000,
        resolved: { kind: 'az', az: 'a', nodes: [KV[0]!, SQL[0]!] },
      }),
    ];
    for (const runId of ['run1', 'run2']) {
      for (const f of faults) {
        const t = templateOf(only([f], { runId }, 5000, { autoScaled: ['kv'] }));
        for (const [name, x] of Object.entries(t.targets!))
          expect(x.resourceTags, `${f.action} ${f.target} ${name}`).toMatchObject({
            'chaos:stack': 'demo',
            'chaos:run': runId,
          });
        expect(t.tags).toMatchObject({ 'chaos:run': runId });
      }
    }
    // The direct calls too.
    const direct = only([fault('stop', { durationMs: 13 * 3_600_000 })], { runId: 'run2' });
    if (direct.kind !== 'api-calls') throw new Error(direct.kind);
    expect(direct.calls[0]!.input).toMatchObject({
      Filters: expect.arrayContaining([{ Name: 'tag:chaos:run', Values: ['run2'] }]),
    });
  });

  it("a zone's instance targets are the run's system nodes (a chaos:system tag per system), never the harness's own hosts", () => {
    const t = templateOf(
      only([
        fault('stop', {
          target: 'az:b',
          durationMs: 60_000,
          resolved: { kind: 'az', az: 'b', nodes: [KV[1]!, SQL[1]!] },
        }),
      ]),
    );
    expect(Object.values(t.targets!).map((x) => x.resourceTags)).toEqual([
      { ...RUN, 'chaos:system': 'kv' },
      { ...RUN, 'chaos:system': 'sql' },
    ]);
    expect(Object.values(t.targets!).map((x) => x.filters)).toEqual([
      [{ path: 'Placement.AvailabilityZone', values: ['us-east-1b'] }, RUNNING],
      [{ path: 'Placement.AvailabilityZone', values: ['us-east-1b'] }, RUNNING],
    ]);
  });

  it('every node of a system is one target by the system tag; a random pick is COUNT(n) among them', () => {
    const all = templateOf(
      only([fault('kill', { target: 'kv:all', resolved: { kind: 'nodes', nodes: KV } })]),
    );
    expect(all.targets).toEqual({
      'kv-all': {
        resourceType: 'aws:ec2:instance',
        resourceTags: { ...RUN, 'chaos:system': 'kv' },
        filters: [RUNNING],
        selectionMode: 'ALL',
      },
    });
    const any = templateOf(
      only([
        fault('kill', {
          target: 'kv:any',
          resolved: { kind: 'random', system: 'kv', role: 'any', count: 1, of: KV },
        }),
      ]),
    );
    expect(any.targets!['kv-any']).toMatchObject({
      resourceTags: { 'chaos:system': 'kv' },
      selectionMode: 'COUNT(1)',
    });
  });

  it('two nodes no single tag names are two targets and two actions', () => {
    const t = templateOf(
      only([
        fault('kill', {
          target: 'kv:replica',
          resolved: { kind: 'nodes', nodes: [KV[1]!, KV[2]!], role: 'kv:replica' },
        }),
      ]),
    );
    expect(Object.keys(t.targets!)).toEqual(['kv-b', 'kv-c']);
    expect(Object.values(t.actions!).map((a) => a.targets)).toEqual([
      { Instances: 'kv-b' },
      { Instances: 'kv-c' },
    ]);
  });

  it('stop: stop-instances with startInstancesAfterDuration; the plan says FIS stops gracefully, where the local stop is a power loss', () => {
    const e = only([fault('stop', { durationMs: 120_000 })]);
    expect(Object.values(templateOf(e).actions!)).toEqual([
      expect.objectContaining({
        actionId: 'aws:ec2:stop-instances',
        parameters: { startInstancesAfterDuration: 'PT2M' },
      }),
    ]);
    expect(e.notes.join('\n')).toMatch(
      /aws:ec2:stop-instances shuts the OS down gracefully .*FIS has no parameter to skip it/,
    );
    expect(e.notes.join('\n')).toMatch(/StopInstances with SkipOsShutdown: true directly/);
  });

  it('kill: the plan says FIS terminates after a graceful OS shutdown, not a SIGKILL', () => {
    const notes = only([fault('kill')]).notes.join('\n');
    expect(notes).toMatch(/aws:ec2:terminate-instances shuts the OS down gracefully first/);
    expect(notes).toMatch(/TerminateInstances with SkipOsShutdown: true directly/);
    expect(notes).not.toMatch(/dies at once \(SIGKILL\)|without a shutdown/);
  });

  it("the vocabulary's FIS parts promise no SIGKILL and no missing shutdown for EC2's stop and terminate", () => {
    for (const action of ['kill', 'stop', 'drop-az'] as const) {
      const fis = FAULTS[action].fis;
      expect(fis.action).not.toBeNull();
      const note = 'note' in fis ? (fis.note ?? '') : '';
      expect(note, action).toMatch(
        /graceful OS shutdown, which FIS cannot skip|graceful OS shutdown first, which FIS cannot skip/,
      );
      expect(note, action).not.toMatch(/SIGKILL|without a shutdown|no shutdown/);
    }
    expect((FAULTS.kill.fis as { note: string }).note).toMatch(/TerminateInstances with SkipOsShutdown/);
    expect((FAULTS.stop.fis as { note: string }).note).toMatch(/StopInstances with SkipOsShutdown/);
  });

  it('stop on nodes an Auto Scaling group keeps: completeIfInstancesTerminated (the group may replace the stopped instance)', () => {
    const e = only([fault('stop', { durationMs: 120_000 })], {}, 5000, { autoScaled: ['kv'] });
    expect(Object.values(templateOf(e).actions!)[0]!.parameters).toEqual({
      startInstancesAfterDuration: 'PT2M',
      completeIfInstancesTerminated: 'true',
    });
    expect(e.notes.join('\n')).toMatch(/Auto Scaling group of kv replaces/);
  });

  it('a stop without durationMs lasts until the observe window ends, and says so', () => {
    const f = fault('stop');
    expect(revertAfter(f, [f], 70_000)).toBe(70_000);
    const e = only([f], {}, 70_000);
    expect(Object.values(templateOf(e).actions!)[0]!.parameters).toEqual({
      startInstancesAfterDuration: 'PT1M10S',
    });
    expect(e.heading).toBe('#1 stop node:kv-a at +0 ms until the observe window ends (+70000 ms)');
    expect(e.notes.join('\n')).toMatch(/no durationMs: the runner reverts it when the observe window ends/);
  });

  it('drop-az network: disrupt-connectivity, scope availability-zone, on the zone subnets of the stack', () => {
    const e = only([
      fault('drop-az', {
        target: 'az:b',
        mode: 'network',
        durationMs: 60_000,
        resolved: { kind: 'az', az: 'b', nodes: [KV[1]!, SQL[1]!] },
      }),
    ]);
    expect(e.heading).toBe('#1 drop-az az:b mode network at +0 ms for 60000 ms');
    const t = templateOf(e);
    expect(t.targets).toEqual({
      'subnets-b': {
        resourceType: 'aws:ec2:subnet',
        resourceTags: RUN,
        filters: [{ path: 'AvailabilityZone', values: ['us-east-1b'] }],
        selectionMode: 'ALL',
      },
    });
    expect(t.actions).toEqual({
      'disrupt-b': expect.objectContaining({
        actionId: 'aws:network:disrupt-connectivity',
        parameters: { scope: 'availability-zone', duration: 'PT1M' },
        targets: { Subnets: 'subnets-b' },
      }),
    });
    expect(FIS_LIMITS.disruptConnectivityScopes).toContain('availability-zone');
  });

  it("drop-az power: the zone's instances stop and start again, and its subnets deny all traffic for the scenario's 2 minutes, as FIS's AZ power interruption", () => {
    const e = only([
      fault('drop-az', {
        target: 'az:a',
        mode: 'power',
        durationMs: 600_000,
        resolved: { kind: 'az', az: 'a', nodes: [KV[0]!, SQL[0]!] },
      }),
    ]);
    const t = templateOf(e);
    expect(t.targets!['az-a-kv']).toEqual({
      resourceType: 'aws:ec2:instance',
      resourceTags: { ...RUN, 'chaos:system': 'kv' },
      filters: [{ path: 'Placement.AvailabilityZone', values: ['us-east-1a'] }, RUNNING],
      selectionMode: 'ALL',
    });
    expect(t.targets!['az-a-sql']!.resourceTags).toEqual({ ...RUN, 'chaos:system': 'sql' });
    expect(t.targets!['subnets-a']!.resourceType).toBe('aws:ec2:subnet');
    expect(t.actions!['stop-az-a-kv']).toMatchObject({
      actionId: 'aws:ec2:stop-instances',
      parameters: { startInstancesAfterDuration: 'PT10M', completeIfInstancesTerminated: 'true' },
      targets: { Instances: 'az-a-kv' },
    });
    // The network part lasts as the scenario's (PT2M), not the whole power loss.
    expect(t.actions!['disrupt-network-a']).toMatchObject({
      actionId: 'aws:network:disrupt-connectivity',
      parameters: { scope: 'all', duration: 'PT2M' },
      targets: { Subnets: 'subnets-a' },
    });
    // No Auto Scaling group in this stack: no launch errors to inject.
    expect(Object.values(t.actions!).map((a) => a.actionId)).not.toContain(
      'aws:ec2:asg-insufficient-instance-capacity-error',
    );
    expect(e.notes.join('\n')).toMatch(/deny all traffic for the first 120000 ms/);
    expect(e.notes.join('\n')).toMatch(/stop-instances shuts the OS down gracefully/);
    // A power loss shorter than the scenario's cut: the network comes back with the power.
    const short = templateOf(
      only([
        fault('drop-az', {
          target: 'az:a',
          mode: 'power',
          durationMs: 90_000,
          resolved: { kind: 'az', az: 'a', nodes: [KV[0]!, SQL[0]!] },
        }),
      ]),
    );
    expect(short.actions!['disrupt-network-a']!.parameters).toEqual({ scope: 'all', duration: 'PT1M30S' });
  });

  it('drop-az power on a stack with an Auto Scaling group: its launches in the zone fail for the whole power loss, and the stop completes if the group terminates a stopped instance', () => {
    const e = only(
      [
        fault('drop-az', {
          target: 'az:b',
          mode: 'power',
          durationMs: 600_000,
          resolved: { kind: 'az', az: 'b', nodes: [KV[1]!, SQL[1]!] },
        }),
      ],
      {},
      5000,
      { autoScaled: ['kv'] },
    );
    const t = templateOf(e);
    expect(t.targets!['group-kv']).toEqual({
      resourceType: 'aws:ec2:autoscaling-group',
      resourceTags: { ...RUN, 'chaos:system': 'kv' },
      selectionMode: 'ALL',
    });
    expect(t.actions!['pause-launches-kv-b']).toEqual({
      actionId: 'aws:ec2:asg-insufficient-instance-capacity-error',
      description: 'fail the launches of the kv Auto Scaling group in us-east-1b for 600000 ms',
      parameters: { availabilityZoneIdentifiers: 'us-east-1b', duration: 'PT10M', percentage: '100' },
      targets: { AutoScalingGroups: 'group-kv' },
    });
    expect(t.actions!['stop-az-b-kv']!.parameters).toEqual({
      startInstancesAfterDuration: 'PT10M',
      completeIfInstancesTerminated: 'true',
    });
    expect(e.notes.join('\n')).toMatch(/cannot relaunch into the lost zone/);
  });

  it('drop-az power on a zone the stack has no node in is refused (nothing to stop)', () => {
    const r = refusalOf(
      only([
        fault('drop-az', {
          target: 'az:d',
          mode: 'power',
          durationMs: 60_000,
          resolved: { kind: 'az', az: 'd', nodes: [] },
        }),
      ]),
    );
    expect(r.reason).toMatch(/az:d names no node of the stack on paper \(nothing runs in us-east-1d\)/);
  });

  it('freeze-volume on a role: pause-volume-io on the data volume of the node, by its tags, in whichever zone it is at injection', () => {
    const e = only([
      fault('freeze-volume', {
        target: 'sql:primary',
        durationMs: 5000,
        resolved: { kind: 'nodes', nodes: [SQL[0]!], role: 'sql:primary' },
      }),
    ]);
    const t = templateOf(e);
    expect(t.targets).toEqual({
      'sql-a-data': {
        resourceType: 'aws:ec2:ebs-volume',
        resourceTags: {
          ...RUN,
          'chaos:system': 'sql',
          'chaos:node': 'sql-a',
          'chaos:volume': 'data',
        },
        selectionMode: 'ALL',
      },
    });
    expect(Object.values(t.actions!)).toEqual([
      expect.objectContaining({
        actionId: 'aws:ebs:pause-volume-io',
        parameters: { duration: 'PT5S' },
        targets: { Volumes: 'sql-a-data' },
      }),
    ]);
  });

  it('freeze-volume on volumes in several zones: one target and action per zone (FIS pauses volumes of one zone at a time)', () => {
    const t = templateOf(
      only([
        fault('freeze-volume', {
          target: 'sql:all',
          durationMs: 3000,
          resolved: { kind: 'nodes', nodes: SQL },
        }),
      ]),
    );
    expect(Object.values(t.targets!).map((x) => x.filters)).toEqual(
      ['a', 'b', 'c'].map((az) => [{ path: 'AvailabilityZone', values: [`us-east-1${az}`] }]),
    );
    expect(Object.keys(t.actions!)).toHaveLength(3);
  });

  it('kill-process: send-command with AWSFIS-Run-Kill-Process, the process named by the plan, the signal given', () => {
    const t = templateOf(only([fault('kill-process', { process: 'server', signal: 'SIGTERM' })]));
    const [action] = Object.values(t.actions!);
    expect(action).toMatchObject({
      actionId: 'aws:ssm:send-command',
      parameters: {
        documentArn: 'arn:aws:ssm:us-east-1::document/AWSFIS-Run-Kill-Process',
        documentParameters: '{"ProcessName":"kv-server","Signal":"SIGTERM"}',
        duration: 'PT1M',
      },
    });
    // The agent, with no signal given: SIGKILL, as the scenario's default (the document's is SIGTERM).
    const agent = templateOf(only([fault('kill-process', { process: 'agent' })]));
    expect(Object.values(agent.actions!)[0]!.parameters!.documentParameters).toBe(
      '{"ProcessName":"node","Signal":"SIGKILL"}',
    );
  });

  it('kill-process over a zone of two systems: one action per system, each with its own process name', () => {
    const t = templateOf(
      only([
        fault('kill-process', {
          target: 'az:c',
          process: 'server',
          resolved: { kind: 'az', az: 'c', nodes: [KV[2]!, SQL[2]!] },
        }),
      ]),
    );
    expect(
      Object.values(t.actions!).map((a) => JSON.parse(a.parameters!.documentParameters!).ProcessName),
    ).toEqual(['kv-server', 'sql-server']);
    expect(Object.values(t.targets!).map((x) => x.resourceTags!['chaos:system'])).toEqual(['kv', 'sql']);
  });

  it('the ARNs are in the partition of the region: aws-us-gov for us-gov-*, aws-cn for cn-*, else aws', () => {
    expect(partitionOf('us-gov-west-1')).toBe('aws-us-gov');
    expect(partitionOf('cn-north-1')).toBe('aws-cn');
    expect(partitionOf('eu-west-2')).toBe('aws');
    const arn = (region: string) =>
      Object.values(templateOf(only([fault('kill-process', { process: 'server' })], { region })).actions!)[0]!
        .parameters!.documentArn;
    expect(arn('us-gov-west-1')).toBe('arn:aws-us-gov:ssm:us-gov-west-1::document/AWSFIS-Run-Kill-Process');
    expect(arn('cn-northwest-1')).toBe('arn:aws-cn:ssm:cn-northwest-1::document/AWSFIS-Run-Kill-Process');
    expect(arn('ap-south-1')).toBe('arn:aws:ssm:ap-south-1::document/AWSFIS-Run-Kill-Process');
    expect(roleArnPlaceholder('cn-north-1')).toBe('arn:aws-cn:iam::<account-id>:role/<fis-experiment-role>');
  });

  it('a parameter value may hold white space (the API pattern [\\S]+ is not anchored): a process name with a space makes a template', () => {
    const spaced = node('kv', 'a', 0, { serverProcess: 'kv server' });
    const e = only([
      fault('kill-process', {
        process: 'server',
        signal: 'SIGTERM',
        resolved: { kind: 'nodes', nodes: [spaced] },
      }),
    ]);
    expect(Object.values(templateOf(e).actions!)[0]!.parameters!.documentParameters).toBe(
      '{"ProcessName":"kv server","Signal":"SIGTERM"}',
    );
  });

  it('stop conditions: the alarms given, else none', () => {
    const arn = 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:writes-failing';
    const t = templateOf(only([fault('kill')], { stopAlarmArns: [arn] }));
    expect(t.stopConditions).toEqual([{ source: 'aws:cloudwatch:alarm', value: arn }]);
  });

  it('a runbook step is neither a template nor a refusal', () => {
    expect(only([fault('promote', { step: true })]).kind).toBe('runbook-step');
  });
});

describe('what FIS cannot do as asked is refused, saying why and how to change the scenario', () => {
  it('partition: FIS cuts per subnet, never between two chosen nodes', () => {
    const r = refusalOf(
      only([
        fault('partition', {
          target: 'kv:head',
          from: 'kv:replica',
          durationMs: 4000,
          resolved: { kind: 'nodes', nodes: [KV[0]!], role: 'kv:head' },
        }),
      ]),
    );
    expect(r.reason).toMatch(
      /FIS cannot cut kv:head off from kv:replica: FIS disrupts connectivity per subnet/,
    );
    expect(r.hint).toMatch(/drop-az with mode: network/);
    expect(r.heading).toBe('#1 partition kv:head from kv:replica at +0 ms for 4000 ms');
  });

  it('pause: no FIS action freezes an instance', () => {
    const r = refusalOf(only([fault('pause', { durationMs: 3000 })]));
    expect(r.reason).toMatch(/FIS cannot pause a node: no FIS action freezes an instance/);
    expect(r.hint).toMatch(/stop .*freeze-volume/);
  });

  it("a duration below the action's minimum: stop and drop-az need a minute", () => {
    const stop = refusalOf(only([fault('stop', { durationMs: 4000 })]));
    expect(stop.reason).toMatch(
      /startInstancesAfterDuration of aws:ec2:stop-instances is PT1M at least .* asks 4000 ms/,
    );
    expect(stop.hint).toMatch(/aws: \{ durationMs: 60000 \}/);
    const az = { kind: 'az' as const, az: 'a', nodes: [KV[0]!, SQL[0]!] };
    const network = refusalOf(
      only([fault('drop-az', { target: 'az:a', mode: 'network', durationMs: 8000, resolved: az })]),
    );
    expect(network.reason).toMatch(/aws:network:disrupt-connectivity is PT1M at least .* asks 8000 ms/);
    const power = refusalOf(
      only([fault('drop-az', { target: 'az:a', mode: 'power', durationMs: 6000, resolved: az })]),
    );
    expect(power.reason).toMatch(/PT1M at least .* asks 6000 ms/);
  });

  it('pause-volume-io: at least a second, at most 12 h, in whole seconds', () => {
    const sql = { kind: 'nodes' as const, nodes: [SQL[0]!] };
    expect(refusalOf(only([fault('freeze-volume', { durationMs: 500, resolved: sql })])).reason).toMatch(
      /PT1S at least/,
    );
    expect(refusalOf(only([fault('freeze-volume', { durationMs: 1500, resolved: sql })])).reason).toMatch(
      /whole seconds/,
    );
    expect(
      refusalOf(only([fault('freeze-volume', { durationMs: 13 * 3_600_000, resolved: sql })])).reason,
    ).toMatch(/PT12H at most/);
    expect(templateOf(only([fault('freeze-volume', { durationMs: 1000, resolved: sql })]))).toBeDefined();
  });

  it('freeze-volume on a node without a data disk, or with the cgroup method', () => {
    expect(refusalOf(only([fault('freeze-volume', { durationMs: 2000 })])).reason).toMatch(
      /kv-a has no data disk/,
    );
    const sql = { kind: 'nodes' as const, nodes: [SQL[0]!] };
    expect(
      refusalOf(only([fault('freeze-volume', { durationMs: 2000, method: 'cgroup', resolved: sql })])).reason,
    ).toMatch(/cgroup freezes every process/);
  });

  it('more actions than FIS runs in parallel (10): one per node of eleven', () => {
    const many = Array.from({ length: 11 }, (_, i) => node('kv', 'a', i, { name: `kv-a${i}` }));
    const r = refusalOf(
      only([fault('kill', { target: 'kv:replica', resolved: { kind: 'nodes', nodes: many.slice(0, 11) } })]),
    );
    expect(r.reason).toMatch(/11 actions at once .* at most 10 in parallel/);
  });

  it('a parameter value longer than 1024 characters', () => {
    const long = node('kv', 'a', 0, { serverProcess: 'k'.repeat(1100) });
    const r = refusalOf(
      only([fault('kill-process', { process: 'server', resolved: { kind: 'nodes', nodes: [long] } })]),
    );
    expect(r.reason).toMatch(
      /parameter documentParameters of action kill-server-kv-a is not a valid FIS parameter value \(1 to 1024 characters, not all white space\)/,
    );
  });

  it('more than five stop alarms', () => {
    const arns = Array.from({ length: 6 }, (_, i) => `arn:aws:cloudwatch:us-east-1:123456789012:alarm:a${i}`);
    expect(refusalOf(only([fault('kill')], { stopAlarmArns: arns })).reason).toMatch(
      /at most 5 stop conditions/,
    );
  });
});

describe('where FIS cannot but the API can, the plan is the API calls', () => {
  it('a stop longer than 12 h: StopInstances with SkipOsShutdown (a power loss, not Force) now, StartInstances at the revert', () => {
    const e = only([fault('stop', { durationMs: 13 * 3_600_000 })], {}, 5000);
    if (e.kind !== 'api-calls') throw new Error(e.kind);
    expect(e.calls.map((c) => `${c.service}:${c.operation}`)).toEqual([
      'ec2:DescribeInstances',
      'ec2:StopInstances',
      'ec2:StartInstances',
    ]);
    expect(e.calls[1]!.input).toEqual({
      InstanceIds: ['<the InstanceIds DescribeInstances returned for kv-a>'],
      SkipOsShutdown: true,
    });
    expect(e.calls[2]!.when).toMatch(/^\+46800000 ms/);
    expect(e.calls[0]!.input).toEqual({
      Filters: [
        { Name: 'tag:chaos:stack', Values: ['demo'] },
        { Name: 'tag:chaos:run', Values: ['run1'] },
        { Name: 'tag:chaos:system', Values: ['kv'] },
        { Name: 'tag:chaos:node', Values: ['kv-a'] },
        { Name: 'availability-zone', Values: ['us-east-1a'] },
        { Name: 'instance-state-name', Values: ['running'] },
      ],
    });
    expect(e.notes.join('\n')).toMatch(/SkipOsShutdown: no graceful OS shutdown, a power loss/);
  });

  it('kill-process with a signal AWSFIS-Run-Kill-Process does not send: SSM SendCommand with AWS-RunShellScript', () => {
    const e = only([fault('kill-process', { process: 'server', signal: 'SIGQUIT' })]);
    if (e.kind !== 'api-calls') throw new Error(e.kind);
    expect(e.calls.map((c) => `${c.service}:${c.operation}`)).toEqual([
      'ec2:DescribeInstances',
      'ssm:SendCommand',
    ]);
    expect(e.calls[1]).toEqual({
      when: '+0 ms, once DescribeInstances has answered',
      service: 'ssm',
      operation: 'SendCommand',
      input: {
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: ['<the InstanceIds DescribeInstances returned for kv-a>'],
        Parameters: { commands: ['pkill --signal QUIT -x kv-server'] },
      },
    });
  });

  it('kill-process through SendCommand keeps the zone: on az:c it reaches the zone c instances only, by DescribeInstances in that zone', () => {
    const e = only([
      fault('kill-process', {
        target: 'az:c',
        process: 'server',
        signal: 'SIGHUP',
        resolved: { kind: 'az', az: 'c', nodes: [KV[2]!, SQL[2]!] },
      }),
    ]);
    if (e.kind !== 'api-calls') throw new Error(e.kind);
    const describes = e.calls.filter((c) => c.operation === 'DescribeInstances');
    expect(describes).toHaveLength(2);
    for (const d of describes)
      expect((d.input as { Filters: unknown[] }).Filters).toContainEqual({
        Name: 'availability-zone',
        Values: ['us-east-1c'],
      });
    const sends = e.calls.filter((c) => c.operation === 'SendCommand');
    expect(sends.map((c) => c.input)).toEqual([
      {
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: ['<the InstanceIds DescribeInstances returned for az-c-kv>'],
        Parameters: { commands: ['pkill --signal HUP -x kv-server'] },
      },
      {
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: ['<the InstanceIds DescribeInstances returned for az-c-sql>'],
        Parameters: { commands: ['pkill --signal HUP -x sql-server'] },
      },
    ]);
    // Nothing selects by tag alone: that would reach every zone.
    for (const c of sends) expect(c.input).not.toHaveProperty('Targets');
  });

  it('a random pick through SendCommand signals the picked instance only, not the whole pool', () => {
    const e = only([
      fault('kill-process', {
        target: 'kv:any',
        process: 'server',
        signal: 'SIGHUP',
        resolved: { kind: 'random', system: 'kv', role: 'any', count: 1, of: KV },
      }),
    ]);
    if (e.kind !== 'api-calls') throw new Error(e.kind);
    expect(e.calls[1]!.input).toMatchObject({
      InstanceIds: ['<1 of the InstanceIds DescribeInstances returned for kv-any, picked at random>'],
    });
  });
});

describe("the experiment role and stop alarms are checked as ARNs of the region's partition", () => {
  it('role ARNs', () => {
    expect(roleArnProblem('arn:aws:iam::123456789012:role/fis-experiment', 'us-east-1')).toBeUndefined();
    expect(
      roleArnProblem('arn:aws:iam::123456789012:role/service-role/fis.exp@x', 'eu-west-2'),
    ).toBeUndefined();
    expect(roleArnProblem('arn:aws-us-gov:iam::123456789012:role/fis', 'us-gov-west-1')).toBeUndefined();
    expect(roleArnProblem('fis-experiment', 'us-east-1')).toMatch(/^is not an IAM role ARN/);
    expect(roleArnProblem('arn:aws:iam::1234:role/fis', 'us-east-1')).toMatch(/^is not an IAM role ARN/);
    expect(roleArnProblem('arn:aws:iam::123456789012:user/me', 'us-east-1')).toMatch(
      /^is not an IAM role ARN/,
    );
    expect(roleArnProblem('arn:aws:iam::123456789012:role/fis', 'cn-north-1')).toBe(
      'is in partition aws, and region cn-north-1 is in aws-cn',
    );
  });

  it('alarm ARNs', () => {
    expect(
      alarmArnProblem('arn:aws:cloudwatch:us-east-1:123456789012:alarm:writes failing', 'us-east-1'),
    ).toBeUndefined();
    expect(alarmArnProblem('writes-failing', 'us-east-1')).toMatch(/^is not a CloudWatch alarm ARN/);
    expect(alarmArnProblem('arn:aws:sns:us-east-1:123456789012:topic', 'us-east-1')).toMatch(
      /^is not a CloudWatch alarm ARN/,
    );
    expect(alarmArnProblem('arn:aws:cloudwatch:us-gov-west-1:123456789012:alarm:a', 'us-gov-west-1')).toBe(
      'is in partition aws, and region us-gov-west-1 is in aws-us-gov',
    );
  });
});

describe('formatPlan', () => {
  it('prints each fault with its template, calls or refusal', () => {
    const text = formatPlan(plan([fault('kill'), fault('pause', { index: 2, durationMs: 3000 })]));
    expect(text).toMatch(/^#1 kill node:kv-a at \+0 ms\n {2}FIS experiment template/);
    expect(text).toMatch(/"chaos:run": "run1"/);
    expect(text).toMatch(/#2 pause node:kv-a at \+0 ms for 3000 ms\n {2}refused: FIS cannot pause a node/);
  });
});

describe('headings', () => {
  it('name the fault, its options and its times', () => {
    const f = fault('kill-process', {
      index: 2,
      at: 1500,
      target: 'kv:head',
      process: 'agent',
      signal: 'SIGTERM',
    });
    expect(headingOf(f, undefined)).toBe('#2 kill-process kv:head process agent signal SIGTERM at +1500 ms');
  });
});

describe('gray faults on AWS: send-command with the AWSFIS- document that does the same, or why none does', () => {
  const doc = (e: PlanEntry) => {
    const [a] = Object.values(templateOf(e).actions!);
    expect(a!.actionId).toBe('aws:ssm:send-command');
    return {
      arn: a!.parameters!.documentArn,
      params: JSON.parse(a!.parameters!.documentParameters!) as Record<string, string>,
      duration: a!.parameters!.duration,
    };
  };
  const long = { durationMs: 60_000 };

  it('latency to every client: AWSFIS-Run-Network-Latency with the delay; with jitter, -Sources ALL', () => {
    expect(doc(only([fault('latency', { ...long, delayMs: 150 })]))).toEqual({
      arn: 'arn:aws:ssm:us-east-1::document/AWSFIS-Run-Network-Latency',
      params: { DelayMilliseconds: '150', Interface: 'eth0', DurationSeconds: '60' },
      duration: 'PT1M',
    });
    expect(doc(only([fault('latency', { ...long, delayMs: 150, jitterMs: 20 })])).params).toEqual({
      DelayMilliseconds: '150',
      JitterMilliseconds: '20',
      Sources: 'ALL',
      TrafficType: 'egress',
      DurationSeconds: '60',
    });
  });

  it('latency on a link: AWSFIS-Run-Network-Latency-Sources, the peers as its Sources', () => {
    const e = only([
      fault('latency', {
        ...long,
        delayMs: 300,
        from: 'node:kv-b',
        resolvedFrom: { kind: 'nodes', nodes: [KV[1]!] },
      }),
    ]);
    const d = doc(e);
    expect(d.arn).toBe('arn:aws:ssm:us-east-1::document/AWSFIS-Run-Network-Latency-Sources');
    expect(d.params).toMatchObject({
      Sources: '<the private IPv4 addresses of kv-b>',
      TrafficType: 'egress',
    });
    expect(e.notes.join('\n')).toMatch(/only node:kv-a's side/);
  });

  it('blackhole to every client: AWSFIS-Run-Network-Blackhole-Port on the service port, saying it refuses where ours accepts', () => {
    const kv = KV.map((n) => ({ ...n, port: 6379 }));
    const e = only([fault('blackhole', { ...long, resolved: { kind: 'nodes', nodes: [kv[0]!] } })]);
    expect(doc(e)).toMatchObject({
      arn: 'arn:aws:ssm:us-east-1::document/AWSFIS-Run-Network-Blackhole-Port',
      params: { Protocol: 'tcp', Port: '6379', TrafficType: 'ingress', DurationSeconds: '60' },
    });
    expect(e.notes.join('\n')).toMatch(/not even accepted/);
  });

  it('refuses what no document does: bandwidth, reset, a blackholed link', () => {
    expect(refusalOf(only([fault('bandwidth', { ...long, rateKBps: 64 })])).reason).toMatch(
      /FIS cannot limit bandwidth: no FIS action or AWSFIS- document limits bandwidth/,
    );
    expect(refusalOf(only([fault('reset', long)])).reason).toMatch(/FIS cannot reset connections/);
    expect(
      refusalOf(
        only([
          fault('blackhole', {
            ...long,
            from: 'node:kv-b',
            resolvedFrom: { kind: 'nodes', nodes: [KV[1]!] },
          }),
        ]),
      ).reason,
    ).toMatch(/takes a protocol and a port, no sources/);
  });

  it('stress: the CPU, memory or IO document with its own parameters', () => {
    expect(doc(only([fault('stress', { ...long, resource: 'cpu', percent: 80 })]))).toMatchObject({
      arn: 'arn:aws:ssm:us-east-1::document/AWSFIS-Run-CPU-Stress',
      params: { CPU: '0', LoadPercent: '80', DurationSeconds: '60' },
    });
    expect(
      doc(only([fault('stress', { ...long, resource: 'memory', percent: 50, workers: 2 })])),
    ).toMatchObject({
      arn: 'arn:aws:ssm:us-east-1::document/AWSFIS-Run-Memory-Stress',
      params: { Workers: '2', Percent: '50', DurationSeconds: '60' },
    });
    expect(doc(only([fault('stress', { ...long, resource: 'io' })]))).toMatchObject({
      arn: 'arn:aws:ssm:us-east-1::document/AWSFIS-Run-IO-Stress',
      params: { Workers: '1', DurationSeconds: '60' },
    });
  });

  it('fill-disk: AWSFIS-Run-Disk-Fill, saying it fills the root volume', () => {
    const e = only([
      fault('fill-disk', {
        ...long,
        percent: 90,
        target: 'node:sql-a',
        resolved: { kind: 'nodes', nodes: [SQL[0]!] },
      }),
    ]);
    expect(doc(e)).toMatchObject({
      arn: 'arn:aws:ssm:us-east-1::document/AWSFIS-Run-Disk-Fill',
      params: { Percent: '90', DurationSeconds: '60' },
    });
    expect(e.notes.join('\n')).toMatch(/root volume/);
  });

  it('a gray fault shorter than a minute is refused with the duration FIS needs', () => {
    const r = refusalOf(only([fault('latency', { delayMs: 100, durationMs: 4000 })]));
    expect(r.reason).toMatch(/aws:ssm:send-command is PT1M at least/);
    expect(r.hint).toMatch(/aws: \{ durationMs: 60000 \}/);
  });
});
