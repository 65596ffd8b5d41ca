import type { Instance } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import {
  describeSelector,
  instanceFilters,
  matches,
  pick,
  pickCount,
  revertDelay,
  selectorOfCall,
} from './direct.ts';
import { type PlanFault, type PlanInput, type PlanNode, planFaults } from './fis-plan.ts';

const instance = (tags: Record<string, string>, state = 'running', az = 'us-east-1a'): Instance => ({
  InstanceId: 'i-1',
  State: { Name: state as never },
  Placement: { AvailabilityZone: az },
  Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});
const NODE = { 'chaos:stack': 'demo', 'chaos:run': 'run1', 'chaos:system': 'kv', 'chaos:node': 'kv-a' };

describe('instanceFilters: always the run, a system node, running', () => {
  it("the selector's tags, the run's tag, the zone, the state", () => {
    expect(instanceFilters('run1', { tags: { 'chaos:system': 'kv' }, az: 'us-east-1b' })).toEqual([
      { Name: 'tag:chaos:system', Values: ['kv'] },
      { Name: 'tag:chaos:run', Values: ['run1'] },
      { Name: 'availability-zone', Values: ['us-east-1b'] },
      { Name: 'instance-state-name', Values: ['running'] },
    ]);
    expect(instanceFilters('run1', { tags: { 'chaos:node': 'kv-a', 'chaos:run': 'run1' } })).toEqual([
      { Name: 'tag:chaos:node', Values: ['kv-a'] },
      { Name: 'tag:chaos:run', Values: ['run1'] },
      { Name: 'instance-state-name', Values: ['running'] },
    ]);
  });

  it("refuses a selector by Name or stack alone (the harness's own hosts match those), another run, no run", () => {
    expect(() => instanceFilters('run1', { tags: { Name: 'kv-a' } })).toThrow(
      /needs chaos:system or chaos:node \(it has Name\)/,
    );
    expect(() => instanceFilters('run1', { tags: { 'chaos:stack': 'demo' } })).toThrow(/harness's own hosts/);
    expect(() => instanceFilters('run1', { tags: { 'chaos:run': 'run2', 'chaos:system': 'kv' } })).toThrow(
      /names run run2, and this run is run1/,
    );
    expect(() => instanceFilters('', { tags: { 'chaos:system': 'kv' } })).toThrow(/no run id/);
  });

  it('matches: what DescribeInstances returns is checked again, so a filter an endpoint ignored hits nothing else', () => {
    const sel = { tags: { 'chaos:system': 'kv' }, az: 'us-east-1a' };
    expect(matches(instance(NODE), 'run1', sel)).toBe(true);
    expect(matches(instance({ ...NODE, 'chaos:run': 'run2' }), 'run1', sel)).toBe(false);
    expect(matches(instance(NODE, 'stopped'), 'run1', sel)).toBe(false);
    expect(matches(instance(NODE, 'running', 'us-east-1b'), 'run1', sel)).toBe(false);
    // The harness's own host: the run's tags and a node's Name, no system.
    const host = { 'chaos:stack': 'demo', 'chaos:run': 'run1', Name: 'kv-a' };
    expect(matches(instance(host), 'run1', { tags: { 'chaos:stack': 'demo' } })).toBe(false);
    expect(matches(instance({}), 'run1', sel)).toBe(false);
  });

  it('describeSelector reads as the filters', () => {
    expect(describeSelector({ tags: { 'chaos:system': 'kv' }, az: 'us-east-1a' })).toBe(
      'chaos:system=kv in us-east-1a',
    );
  });
});

const node = (system: string, az: string, index: number): PlanNode => ({
  name: `${system}-${az}`,
  system,
  az,
  index,
  serverProcess: `${system}-server`,
  agentProcess: 'node',
  disks: [],
});
const NODES = ['a', 'b', 'c'].map((az, i) => node('kv', az, i));

function plan(f: Partial<PlanFault>) {
  const input: PlanInput = {
    scenario: 'demo',
    nodes: NODES,
    observeMs: 5000,
    faults: [
      {
        index: 1,
        at: 0,
        action: 'stop',
        target: 'az:a',
        resolved: { kind: 'az', az: 'a', nodes: [NODES[0]!] },
        ...f,
      },
    ],
  };
  const [entry] = planFaults(input, {
    region: 'us-east-1',
    runId: 'run1',
    roleArn: 'arn:aws:iam::123456789012:role/fis',
    stopAlarmArns: [],
  });
  if (entry?.kind !== 'api-calls') throw new Error(`not api-calls: ${entry?.kind}`);
  return entry;
}

describe("a plan's api-calls, read", () => {
  it("a long stop: DescribeInstances's filters as a selector, StopInstances with SkipOsShutdown, the revert after its delay", () => {
    const entry = plan({ durationMs: 13 * 3600_000 });
    expect(entry.calls.map((c) => c.operation)).toEqual([
      'DescribeInstances',
      'StopInstances',
      'StartInstances',
    ]);
    expect(selectorOfCall(entry.calls[0]!)).toEqual({
      tags: { 'chaos:stack': 'demo', 'chaos:run': 'run1', 'chaos:system': 'kv' },
      az: 'us-east-1a',
    });
    expect(entry.calls[1]!.input).toMatchObject({ SkipOsShutdown: true });
    expect(revertDelay(entry.calls[1]!)).toBeUndefined();
    expect(revertDelay(entry.calls[2]!)).toBe(13 * 3600_000);
    expect(pickCount(entry.calls[1]!)).toBeUndefined();
  });

  it('a random pick: how many', () => {
    expect(
      pickCount({
        when: '+0 ms',
        service: 'ssm',
        operation: 'SendCommand',
        input: {
          InstanceIds: ['<1 of the InstanceIds DescribeInstances returned for kv-any, picked at random>'],
        },
      }),
    ).toBe(1);
  });

  it('a filter direct.ts does not know, or one with several values, is refused', () => {
    const call = (Filters: unknown) => ({
      when: '+0 ms',
      service: 'ec2' as const,
      operation: 'DescribeInstances',
      input: { Filters },
    });
    expect(() => selectorOfCall(call([{ Name: 'vpc-id', Values: ['vpc-1'] }]))).toThrow(/filters on vpc-id/);
    expect(() => selectorOfCall(call([{ Name: 'tag:chaos:system', Values: ['kv', 'sql'] }]))).toThrow(
      /has 2 values, not one/,
    );
  });

  it('pick takes n distinct items at random, all of them at most', () => {
    const seq = [0.9, 0.1, 0.5];
    let i = 0;
    expect(pick(['a', 'b', 'c', 'd'], 2, () => seq[i++]!)).toEqual(['d', 'a']);
    expect(pick(['a', 'b'], 5).sort()).toEqual(['a', 'b']);
  });
});
