import { describe, expect, it } from 'vitest';
import type { NodeRef } from '../../core/provider.ts';
import { mergeEntries } from './experiments.ts';
import { FaultSchedule, isLive, livePlan, planNodeOf } from './fault-map.ts';
import type { PlanEntry, PlanFault, PlanInput, PlanNode } from './fis-plan.ts';

const node = (name: string, az: string, index: number): PlanNode => ({
  name,
  system: 'sql',
  az,
  index,
  serverProcess: 'sqld',
  agentProcess: 'node',
  disks: ['data'],
  port: 5432,
});
const NODES = [node('sql-a', 'a', 0), node('sql-b', 'b', 1), node('sql-c', 'c', 2)];
const ref = (n: PlanNode): NodeRef => ({ name: n.name, system: n.system, az: n.az, index: n.index });
const byName = (name: string) => NODES.find((n) => n.name === name)!;

const fault = (
  index: number,
  at: number,
  action: string,
  target: string,
  extra: Partial<PlanFault> = {},
): PlanFault => ({
  index,
  at,
  action,
  target,
  resolved: target.startsWith('node:')
    ? { kind: 'nodes', nodes: [byName(target.slice(5))] }
    : { kind: 'nodes', nodes: [NODES[0]!], role: target },
  ...extra,
});

const INPUT: PlanInput = {
  scenario: 'sql-demo',
  nodes: NODES,
  observeMs: 8000,
  faults: [
    fault(1, 0, 'kill', 'node:sql-c'),
    fault(2, 0, 'freeze-volume', 'sql:primary', { durationMs: 60_000 }),
    fault(3, 0, 'promote', 'sql:standby', { step: true }),
    fault(4, 5000, 'kill', 'sql:primary'),
    fault(5, 9000, 'drop-az', 'az:b', {
      mode: 'network',
      durationMs: 60_000,
      resolved: { kind: 'az', az: 'b', nodes: [NODES[1]!] },
    }),
  ],
};
const OPTS = {
  region: 'us-east-1',
  runId: 'r1',
  roleArn: 'arn:aws:iam::123456789012:role/chaos/fis',
  stopAlarmArns: [],
};

const fisTemplate = (entries: PlanEntry[], fault: number) => {
  const e = entries.find((x) => x.fault === fault);
  if (e?.kind !== 'fis-template') throw new Error(`fault #${fault} is ${e?.kind}`);
  return e.template;
};

describe("the runner's requests onto the plan", () => {
  it('each request is the earliest planned fault of its action not injected yet, never a runbook step', () => {
    const s = new FaultSchedule(INPUT);
    expect(s.match({ action: 'kill', nodes: [ref(byName('sql-c'))] }).index).toBe(1);
    expect(s.match({ action: 'freeze-volume', nodes: [ref(byName('sql-b'))] }).index).toBe(2);
    // A role now held by another node than on paper is still its fault.
    expect(s.match({ action: 'kill', nodes: [ref(byName('sql-b'))] }).index).toBe(4);
    expect(
      s.match({ action: 'drop-az', nodes: [ref(byName('sql-b'))], mode: 'network', az: 'b' }).index,
    ).toBe(5);
    expect(() => s.match({ action: 'kill', nodes: [ref(byName('sql-a'))] })).toThrow(
      /AWS_UNPLANNED_FAULT|no fault of the scenario's plan/,
    );
  });

  it('a fault the runner skipped stays behind: a later request never goes back to it', () => {
    const s = new FaultSchedule(INPUT);
    // #1 skipped (its node already down): the first request at +0 is #2's.
    expect(s.match({ action: 'freeze-volume', nodes: [ref(byName('sql-a'))] }).index).toBe(2);
    expect(s.skippedBefore(0, 2)).toEqual([1]);
    expect(s.match({ action: 'kill', nodes: [ref(byName('sql-a'))] }).index).toBe(4);
    expect(s.injected(1)).toBe(false);
  });

  it('the instant is re-planned live: a role is tagged with the node that holds it now, and a random pick is the one the runner made', () => {
    expect(isLive(INPUT.faults[1]!)).toBe(true);
    expect(isLive(INPUT.faults[0]!)).toBe(false);
    const entries = livePlan(
      INPUT,
      0,
      new Map([
        [1, { nodes: [ref(byName('sql-c'))] }],
        [2, { nodes: [ref(byName('sql-b'))] }],
      ]),
      OPTS,
    );
    expect(entries.map((e) => [e.fault, e.kind])).toEqual([
      [1, 'fis-template'],
      [2, 'fis-template'],
      [3, 'runbook-step'],
    ]);
    const freeze = fisTemplate(entries, 2);
    expect(Object.values(freeze.targets!)[0]!.resourceTags).toMatchObject({
      'chaos:node': 'sql-b',
      'chaos:run': 'r1',
    });
    // A role's target has no zone filter (sql-b is in zone b, not a as on paper).
    expect(Object.values(freeze.targets!)[0]!.filters).toBeUndefined();
    const merged = mergeEntries(
      entries.filter((e): e is Extract<PlanEntry, { kind: 'fis-template' }> => e.kind === 'fis-template'),
      { runId: 'r1' },
    );
    expect(merged.faults).toEqual([1, 2]);
    expect(Object.keys(merged.template.targets!).sort()).toEqual(['f1-sql-c', 'f2-sql-b-data']);

    const random: PlanInput = {
      ...INPUT,
      faults: [
        fault(1, 0, 'kill', 'sql:any', {
          resolved: { kind: 'random', system: 'sql', role: 'any', count: 1, of: NODES },
        }),
      ],
    };
    const picked = fisTemplate(
      livePlan(random, 0, new Map([[1, { nodes: [ref(byName('sql-c'))] }]]), OPTS),
      1,
    );
    expect(Object.values(picked.targets!)).toEqual([
      expect.objectContaining({
        selectionMode: 'ALL',
        resourceTags: expect.objectContaining({ 'chaos:node': 'sql-c' }),
      }),
    ]);
  });

  it('a node launched after provisioning is planned as its system is', () => {
    expect(planNodeOf(INPUT, { name: 'sql-b-r1', system: 'sql', az: 'b', index: 7 })).toEqual({
      name: 'sql-b-r1',
      system: 'sql',
      az: 'b',
      index: 7,
      serverProcess: 'sqld',
      agentProcess: 'node',
      disks: ['data'],
      port: 5432,
    });
  });
});
