import { describe, expect, it } from 'vitest';
import {
  FIS_LIMITS,
  type PlanEntry,
  type PlanFault,
  type PlanInput,
  type PlanNode,
  type PlanOptions,
  ROLE_ARN_PLACEHOLDER,
  headingOf,
  isoDuration,
  planFaults,
  revertAfter,
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
const OPTS: PlanOptions = { region: 'us-east-1', roleArn: ROLE_ARN_PLACEHOLDER, stopAlarmArns: [] };

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

function plan(faults: PlanFault[], opts: Partial<PlanOptions> = {}, observeMs = 5000): PlanEntry[] {
  const input: PlanInput = { scenario: 'demo', nodes: NODES, faults, observeMs };
  return planFaults(input, { ...OPTS, ...opts });
}

function only(faults: PlanFault[], opts: Partial<PlanOptions> = {}, observeMs = 5000): PlanEntry {
  const entries = plan(faults, opts, observeMs);
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
  it('kill on a role: terminate-instances on the node that holds it at provisioning, by its tags and zone; the runner re-resolves it', () => {
    const e = only([
      fault('kill', { target: 'kv:head', resolved: { kind: 'nodes', nodes: [KV[0]!], role: 'kv:head' } }),
    ]);
    const t = templateOf(e);
    expect(t.roleArn).toBe(ROLE_ARN_PLACEHOLDER);
    expect(t.stopConditions).toEqual([{ source: 'none' }]);
    expect(t.targets).toEqual({
      'kv-a': {
        resourceType: 'aws:ec2:instance',
        resourceTags: { 'chaos:stack': 'demo', 'chaos:system': 'kv', 'chaos:node': 'kv-a' },
        filters: [{ path: 'Placement.AvailabilityZone', values: ['us-east-1a'] }],
        selectionMode: 'ALL',
      },
    });
    expect(Object.values(t.actions!)).toEqual([
      expect.objectContaining({ actionId: 'aws:ec2:terminate-instances', targets: { Instances: 'kv-a' } }),
    ]);
    expect(t.tags).toEqual({ 'chaos:stack': 'demo', 'chaos:fault': '1' });
    expect(e.heading).toBe('#1 kill kv:head at +0 ms');
    expect(e.notes.join('\n')).toMatch(
      /resolved live at injection; on paper it is kv-a.*re-resolves it at injection/,
    );
  });

  it('the region names the zones: az b in eu-west-2 is eu-west-2b', () => {
    const t = templateOf(
      only([fault('kill', { target: 'node:kv-b', resolved: { kind: 'nodes', nodes: [KV[1]!] } })], {
        region: 'eu-west-2',
      }),
    );
    expect(t.targets!['kv-b']!.filters).toEqual([
      { path: 'Placement.AvailabilityZone', values: ['eu-west-2b'] },
    ]);
  });

  it('every node of a system is one target by the system tag; a random pick is COUNT(n) among them', () => {
    const all = templateOf(
      only([fault('kill', { target: 'kv:all', resolved: { kind: 'nodes', nodes: KV } })]),
    );
    expect(all.targets).toEqual({
      'kv-all': {
        resourceType: 'aws:ec2:instance',
        resourceTags: { 'chaos:stack': 'demo', 'chaos:system': 'kv' },
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

  it('stop: stop-instances with startInstancesAfterDuration', () => {
    const t = templateOf(only([fault('stop', { durationMs: 120_000 })]));
    expect(Object.values(t.actions!)).toEqual([
      expect.objectContaining({
        actionId: 'aws:ec2:stop-instances',
        parameters: { startInstancesAfterDuration: 'PT2M' },
      }),
    ]);
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
        resourceTags: { 'chaos:stack': 'demo' },
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

  it("drop-az power: the zone's instances stop and start again, and its subnets deny all traffic, as FIS's AZ power interruption", () => {
    const t = templateOf(
      only([
        fault('drop-az', {
          target: 'az:a',
          mode: 'power',
          durationMs: 90_000,
          resolved: { kind: 'az', az: 'a', nodes: [KV[0]!, SQL[0]!] },
        }),
      ]),
    );
    expect(t.targets!['instances-a']).toEqual({
      resourceType: 'aws:ec2:instance',
      resourceTags: { 'chaos:stack': 'demo' },
      filters: [{ path: 'Placement.AvailabilityZone', values: ['us-east-1a'] }],
      selectionMode: 'ALL',
    });
    expect(t.targets!['subnets-a']!.resourceType).toBe('aws:ec2:subnet');
    expect(t.actions!['stop-instances-a']).toMatchObject({
      actionId: 'aws:ec2:stop-instances',
      parameters: { startInstancesAfterDuration: 'PT1M30S' },
      targets: { Instances: 'instances-a' },
    });
    expect(t.actions!['disrupt-network-a']).toMatchObject({
      actionId: 'aws:network:disrupt-connectivity',
      parameters: { scope: 'all', duration: 'PT1M30S' },
      targets: { Subnets: 'subnets-a' },
    });
  });

  it('freeze-volume: pause-volume-io on the data volume of the node, by its tags and zone', () => {
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
          'chaos:stack': 'demo',
          'chaos:system': 'sql',
          'chaos:node': 'sql-a',
          'chaos:volume': 'data',
        },
        filters: [{ path: 'AvailabilityZone', values: ['us-east-1a'] }],
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

  it('more than five stop alarms', () => {
    const arns = Array.from({ length: 6 }, (_, i) => `arn:aws:cloudwatch:us-east-1:123456789012:alarm:a${i}`);
    expect(refusalOf(only([fault('kill')], { stopAlarmArns: arns })).reason).toMatch(
      /at most 5 stop conditions/,
    );
  });
});

describe('where FIS cannot but the API can, the plan is the API calls', () => {
  it('a stop longer than 12 h: StopInstances (forced) now, StartInstances at the revert', () => {
    const e = only([fault('stop', { durationMs: 13 * 3_600_000 })], {}, 5000);
    if (e.kind !== 'api-calls') throw new Error(e.kind);
    expect(e.calls.map((c) => `${c.service}:${c.operation}`)).toEqual([
      'ec2:DescribeInstances',
      'ec2:StopInstances',
      'ec2:StartInstances',
    ]);
    expect(e.calls[1]!.input).toMatchObject({ Force: true });
    expect(e.calls[2]!.when).toMatch(/^\+46800000 ms/);
    expect(e.calls[0]!.input).toEqual({
      Filters: [
        { Name: 'tag:chaos:stack', Values: ['demo'] },
        { Name: 'tag:chaos:system', Values: ['kv'] },
        { Name: 'tag:chaos:node', Values: ['kv-a'] },
        { Name: 'availability-zone', Values: ['us-east-1a'] },
        { Name: 'instance-state-name', Values: ['running'] },
      ],
    });
  });

  it('kill-process with a signal AWSFIS-Run-Kill-Process does not send: SSM SendCommand with AWS-RunShellScript', () => {
    const e = only([fault('kill-process', { process: 'server', signal: 'SIGQUIT' })]);
    if (e.kind !== 'api-calls') throw new Error(e.kind);
    expect(e.calls).toEqual([
      {
        when: '+0 ms',
        service: 'ssm',
        operation: 'SendCommand',
        input: {
          DocumentName: 'AWS-RunShellScript',
          Targets: [
            { Key: 'tag:chaos:stack', Values: ['demo'] },
            { Key: 'tag:chaos:system', Values: ['kv'] },
            { Key: 'tag:chaos:node', Values: ['kv-a'] },
          ],
          Parameters: { commands: ['pkill --signal QUIT -x kv-server'] },
        },
      },
    ]);
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
