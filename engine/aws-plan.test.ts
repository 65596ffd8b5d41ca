import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FIS_LIMITS,
  type PlanEntry,
  ROLE_ARN_PLACEHOLDER,
  RUN_ID_PLACEHOLDER,
  planFaults,
} from '../infra/aws/fis-plan.ts';
import { listScenarios, loadScenario } from '../scenarios/load.ts';
import { activeSystems } from '../scenarios/schema.ts';
import { planInput, resolveOnPaper } from './aws-plan.ts';

const FIXTURES = resolve(import.meta.dirname, '../test/fixtures/aws');
const OPTS = {
  region: 'us-east-1',
  runId: RUN_ID_PLACEHOLDER,
  roleArn: ROLE_ARN_PLACEHOLDER,
  stopAlarmArns: [],
};

/**
 * What the FIS API model (botocore data/fis/2020-12-01/service-2.json) and the FIS user guide
 * require of a CreateExperimentTemplate input; each problem as a sentence. The model's patterns
 * (`[\S]+`) are not anchored: a name or value needs one character that is not white space.
 */
function templateProblems(e: PlanEntry): string[] {
  if (e.kind !== 'fis-template') return [];
  const t = e.template;
  const out: string[] = [];
  const name = (n: string, what: string) => {
    if (!/\S/.test(n) || n.length > FIS_LIMITS.nameMax) out.push(`${what} '${n}' is not a valid name`);
  };
  if (!t.description || t.description.length > FIS_LIMITS.descriptionMax) out.push('description');
  if (!t.roleArn || t.roleArn.length < 20) out.push('roleArn');
  if (!t.stopConditions?.length) out.push('stopConditions');
  const targets = t.targets ?? {};
  for (const [n, target] of Object.entries(targets)) {
    name(n, 'target');
    if (!target.resourceType?.startsWith('aws:')) out.push(`target ${n}: resourceType`);
    if (!target.resourceTags || Object.keys(target.resourceTags).length === 0)
      out.push(`target ${n}: no tags`);
    if (!/^(ALL|COUNT\(\d+\)|PERCENT\(\d+\))$/.test(target.selectionMode ?? ''))
      out.push(`target ${n}: selectionMode ${target.selectionMode}`);
    for (const f of target.filters ?? []) if (!f.path || !f.values?.length) out.push(`target ${n}: filter`);
  }
  const actions = Object.entries(t.actions ?? {});
  if (actions.length === 0 || actions.length > FIS_LIMITS.actionsPerTemplate) out.push('actions count');
  for (const [n, a] of actions) {
    name(n, 'action');
    if (!a.actionId?.startsWith('aws:')) out.push(`action ${n}: actionId`);
    for (const [k, v] of Object.entries(a.parameters ?? {}))
      if (!/\S/.test(v) || v.length > FIS_LIMITS.parameterValueMax) out.push(`action ${n}: parameter ${k}`);
    for (const [k, ref] of Object.entries(a.targets ?? {}))
      if (!(ref in targets)) out.push(`action ${n}: target ${k} -> ${ref} does not exist`);
  }
  return out;
}

describe('the stack on paper, from the systems registration', () => {
  it("every node with its process names and data disks, from each system's plan", () => {
    const input = planInput(loadScenario('stack-head-kill'));
    const byName = Object.fromEntries(input.nodes.map((n) => [n.name, n]));
    expect(Object.keys(byName).sort()).toEqual(['pg-a', 'pg-b', 'pg-c', 'redis-a', 'redis-b', 'redis-c']);
    expect(byName['redis-b']).toMatchObject({
      system: 'redis',
      az: 'b',
      serverProcess: 'redis-server',
      agentProcess: 'node',
    });
    expect(byName['pg-a']).toMatchObject({
      system: 'pg',
      az: 'a',
      index: 0,
      serverProcess: 'postgres',
      disks: ['data'],
    });
  });

  it('roles resolve as the stack stands at provisioning; random ones stay random', () => {
    const loaded = loadScenario('stack-head-kill');
    const systems = activeSystems(loaded.scenario);
    const { nodes } = planInput(loaded);
    const names = (sel: string) => {
      const t = resolveOnPaper(sel, systems, nodes);
      return t.kind === 'random'
        ? `random ${t.count} of ${t.of.length}`
        : t.nodes.map((n) => n.name).join(',');
    };
    expect(names('redis:head')).toBe('redis-a');
    expect(names('redis:tail')).toBe('redis-c');
    expect(names('redis:replica')).toBe('redis-b,redis-c');
    expect(names('pg:primary')).toBe('pg-a');
    expect(names('pg:standby')).toBe('pg-b,pg-c');
    expect(names('redis:any')).toBe('random 1 of 3');
    expect(names('pg:any')).toBe('random 1 of 3');
    expect(names('az:b')).toBe('redis-b,pg-b');
    expect(names('node:pg-c')).toBe('pg-c');
  });
});

describe('every built-in scenario on AWS', () => {
  const all = listScenarios();
  it.each(all.map((l) => [l.scenario.name, l] as const))(
    '%s: each fault is a valid template, API calls, a runbook step or a refusal with a hint',
    (_name, loaded) => {
      const entries = planFaults(planInput(loaded), OPTS);
      expect(entries).toHaveLength(loaded.scenario.faults.length);
      for (const e of entries) {
        expect(templateProblems(e)).toEqual([]);
        if (e.kind === 'refused') expect(e.hint.length).toBeGreaterThan(10);
      }
    },
  );

  it('the checks above catch a broken template', () => {
    const [e] = planFaults(planInput(loadScenario('redis-head-kill')), OPTS);
    const broken = structuredClone(e!);
    if (broken.kind !== 'fis-template') throw new Error(broken.kind);
    broken.template.actions!['terminate-redis-a']!.targets = { Instances: 'nowhere' };
    broken.template.actions!['terminate-redis-a']!.parameters = { note: '  ', fine: 'two words' };
    broken.template.targets!['redis-a']!.selectionMode = 'SOME';
    expect(templateProblems(broken)).toEqual([
      'target redis-a: selectionMode SOME',
      'action terminate-redis-a: parameter note',
      'action terminate-redis-a: target Instances -> nowhere does not exist',
    ]);
  });

  it('redis-head-kill is one terminate-instances on the head at provisioning', () => {
    const [e] = planFaults(planInput(loadScenario('redis-head-kill')), OPTS);
    expect(e!.kind).toBe('fis-template');
    if (e!.kind !== 'fis-template') return;
    expect(Object.values(e!.template.actions!).map((a) => a.actionId)).toEqual([
      'aws:ec2:terminate-instances',
    ]);
    expect(e!.template.targets!['redis-a']!.resourceTags).toMatchObject({ 'chaos:node': 'redis-a' });
  });

  it('az-drop-power: 6 s locally, 2 min on AWS (its `aws.durationMs`): FIS restarts instances after 1 min at the earliest', () => {
    const input = planInput(loadScenario('az-drop-power'));
    expect(input.faults[0]).toMatchObject({ durationMs: 120_000, localDurationMs: 6000 });
    const [e] = planFaults(input, OPTS);
    expect(e!.kind).toBe('fis-template');
    const short = { ...input, faults: [{ ...input.faults[0]!, durationMs: 6000 }] };
    const [refused] = planFaults(short, OPTS);
    expect(refused!.kind).toBe('refused');
    if (refused!.kind === 'refused') expect(refused!.reason).toMatch(/PT1M at least .* asks 6000 ms/);
  });

  it('webhead-kill: COUNT(1) among the heads only (tagged chaos:pool), never the load balancer', () => {
    const input = planInput(loadScenario('webhead-kill'));
    const t = input.faults[0]!.resolved;
    expect(t.kind === 'random' && t.of.map((n) => n.name)).toEqual(['web-a', 'web-b', 'web-c']);
    const [e] = planFaults(input, OPTS);
    expect(e!.kind).toBe('fis-template');
    if (e!.kind === 'fis-template')
      expect(Object.values(e!.template.targets!)[0]).toMatchObject({
        resourceTags: { 'chaos:system': 'web', 'chaos:pool': 'web-head' },
        selectionMode: 'COUNT(1)',
      });
  });

  it('the web tier is kept by an Auto Scaling group (its controller), the data systems are not', () => {
    expect(planInput(loadScenario('fullstack-az-power')).autoScaled).toEqual(['web']);
    expect(planInput(loadScenario('az-drop-power')).autoScaled).toEqual([]);
  });

  it("fullstack-az-power: the group's launches in the lost zone fail for the whole power loss; every stop completes if the group terminates its instance; the network is cut for the scenario's 2 minutes", () => {
    const [e] = planFaults(planInput(loadScenario('fullstack-az-power')), OPTS);
    if (e!.kind !== 'fis-template') throw new Error(e!.kind);
    const { actions, targets } = e!.template;
    expect(Object.keys(actions!).sort()).toEqual([
      'disrupt-network-b',
      'pause-launches-web-b',
      'stop-az-b-pg',
      'stop-az-b-redis',
      'stop-az-b-web',
    ]);
    expect(actions!['pause-launches-web-b']).toMatchObject({
      actionId: 'aws:ec2:asg-insufficient-instance-capacity-error',
      parameters: { availabilityZoneIdentifiers: 'us-east-1b', duration: 'PT2M', percentage: '100' },
      targets: { AutoScalingGroups: 'group-web' },
    });
    expect(targets!['group-web']).toMatchObject({
      resourceType: 'aws:ec2:autoscaling-group',
      resourceTags: { 'chaos:system': 'web', 'chaos:run': RUN_ID_PLACEHOLDER },
    });
    for (const name of ['stop-az-b-pg', 'stop-az-b-redis', 'stop-az-b-web'])
      expect(actions![name]!.parameters).toEqual({
        startInstancesAfterDuration: 'PT2M',
        completeIfInstancesTerminated: 'true',
      });
    expect(actions!['disrupt-network-b']!.parameters).toEqual({ scope: 'all', duration: 'PT2M' });
    // The load balancer is in no zone: the zone's web target is its heads.
    expect(e!.nodes).not.toContain('web-lb');
  });

  it('pg-volume-freeze: pg:primary keeps no zone filter of pg-a on paper (it moves on failover); node:pg-c keeps its zone', () => {
    const entries = planFaults(planInput(loadScenario(join(FIXTURES, 'pg-volume-freeze.yaml'))), OPTS);
    const targetsOf = (e: PlanEntry) => {
      if (e.kind !== 'fis-template') throw new Error(e.kind);
      return Object.values(e.template.targets!);
    };
    expect(targetsOf(entries[0]!).map((t) => t.filters)).toEqual([undefined]);
    expect(targetsOf(entries[1]!).map((t) => t.filters)).toEqual([
      [{ path: 'AvailabilityZone', values: ['us-east-1c'] }],
    ]);
  });

  it('redis-head-partition and redis-head-pause are refused', () => {
    for (const name of ['redis-head-partition', 'redis-head-pause'])
      expect(planFaults(planInput(loadScenario(name)), OPTS).map((e) => e.kind)).toEqual(['refused']);
  });
});
