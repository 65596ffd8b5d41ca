import type {
  CreateExperimentTemplateActionInput,
  CreateExperimentTemplateRequest,
  CreateExperimentTemplateTargetInput,
} from '@aws-sdk/client-fis';
import { type AzDropMode, FAULTS, type FaultAction, type FreezeMethod } from '../../core/faults.ts';
import type { NodeRef } from '../../core/provider.ts';

/**
 * A scenario's faults on AWS, on paper: for each fault, the AWS FIS experiment template that does
 * it (the input of CreateExperimentTemplate), or the direct API calls where FIS cannot do it as
 * asked but EC2 or Systems Manager can, or a refusal that says what FIS cannot do and how to
 * change the scenario. Pure: it knows no system by name; the caller lays the stack out and
 * resolves each target on paper (engine/aws-plan.ts).
 *
 * Tag convention (what the AWS provider puts on what it creates, and what targets select by):
 *   chaos:stack   on every instance, data volume and subnet of a stack (the scenario's name)
 *   chaos:system  on a node's instance and data volume: its system (`redis`, `pg`)
 *   chaos:node    on a node's instance and data volume: the node (`redis-a`)
 *   chaos:volume  on a node's data volume (its EBS volume): the volume's name in the plan (`data`)
 * A zone is never a tag: targets filter on the resource's own AZ.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * FIS's limits, as its documentation states them. Each cites where it came from.
 * Actions reference: https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html
 */
export const FIS_LIMITS = {
  /** #stop-instances: "startInstancesAfterDuration – Optional. The time to wait before starting the instance, from one minute to 12 hours." */
  startInstancesAfterDuration: { min: MINUTE, max: 12 * HOUR },
  /** #pause-volume-io: "duration – The duration, from one second to 12 hours." */
  pauseVolumeIo: { min: SECOND, max: 12 * HOUR },
  /** #disrupt-connectivity: "duration – The duration, from one minute to 12 hours." */
  disruptConnectivity: { min: MINUTE, max: 12 * HOUR },
  /** #ssm-send-command: "duration – The duration, from one minute to 12 hours." */
  sendCommand: { min: MINUTE, max: 12 * HOUR },
  /**
   * Quotas (https://docs.aws.amazon.com/fis/latest/userguide/fis-quotas.html, as Service Quotas
   * lists them): "Experiment duration in hours" 12 (L-6C1E4427) and "Action duration in hours" 12
   * (L-A7622DAA), "Actions per experiment template" 20 (L-0BFE6B67), "Parallel actions per
   * experiment" 10 (L-EB051440), "Stop conditions per experiment template" 5 (L-872EC72B), none
   * adjustable; 5 target resources per action (for example "Target Instances for
   * aws:ec2:terminate-instances", L-EE64095D, and "Target Subnets for
   * aws:network:disrupt-connectivity", L-1F59732D), adjustable.
   */
  experimentMaxMs: 12 * HOUR,
  actionsPerTemplate: 20,
  parallelActionsPerExperiment: 10,
  stopConditionsPerTemplate: 5,
  resourcesPerTargetDefault: 5,
  /**
   * #disrupt-connectivity, scope `availability-zone`: "Denies intra-VPC traffic to and from
   * subnets in other Availability Zones. The maximum number of subnets that can be targeted in a
   * VPC is 30." The scopes it documents: all, availability-zone, dynamodb, prefix-list, s3,
   * s3express, vpc.
   */
  disruptConnectivityScopes: [
    'all',
    'availability-zone',
    'dynamodb',
    'prefix-list',
    's3',
    's3express',
    'vpc',
  ],
  /**
   * Targets (https://docs.aws.amazon.com/fis/latest/userguide/targets.html#target-selection-mode):
   * ALL, COUNT(n), PERCENT(n).
   */
  selectionModes: ['ALL', 'COUNT(n)', 'PERCENT(n)'],
  /**
   * The AWSFIS-Run-Kill-Process document (https://docs.aws.amazon.com/fis/latest/userguide/actions-ssm-agent.html,
   * and the document's own description): "ProcessName: (Required) Name of the process to kill",
   * "Signal: ... (default: SIGTERM). The allowed values are: SIGTERM ... SIGKILL", and
   * InstallDependencies (default True: it installs killall). It runs `killall`, on Amazon Linux
   * and Ubuntu only.
   */
  killProcessSignals: ['SIGTERM', 'SIGKILL'],
  /**
   * The API model (botocore data/fis/2020-12-01/service-2.json): a description is at most 512
   * characters; action and target names and parameter names at most 64, without white space; an
   * action parameter value at most 1024 characters, without white space ("[\S]+").
   */
  descriptionMax: 512,
  nameMax: 64,
  parameterValueMax: 1024,
} as const;

/** A node of the stack, with what a fault on it needs to know. */
export interface PlanNode extends NodeRef {
  /** The name of its server process (`redis-server`, `postgres`), for kill-process. */
  serverProcess?: string | undefined;
  /** The name of its agent's process (`node`), for kill-process. */
  agentProcess?: string | undefined;
  /** The names of its own data disks (EBS volumes on AWS), for freeze-volume. */
  disks: string[];
}

/** A fault's target, resolved on paper. */
export type PlanTarget =
  /** These nodes; `role` when a role named them (resolved live at injection by the runner). */
  | { kind: 'nodes'; nodes: PlanNode[]; role?: string | undefined }
  /** Every node of a zone. */
  | { kind: 'az'; az: string; nodes: PlanNode[] }
  /** `count` nodes of a system picked at random at injection, out of `of`. */
  | { kind: 'random'; system: string; role: string; count: number; of: PlanNode[] };

export interface PlanFault {
  /** 1-based, as results and summaries number faults. */
  index: number;
  at: number;
  action: string;
  target: string;
  from?: string | undefined;
  process?: string | undefined;
  signal?: string | undefined;
  mode?: AzDropMode | undefined;
  method?: FreezeMethod | undefined;
  /** On AWS: the fault's `aws.durationMs` where it gives one, else its `durationMs`. */
  durationMs?: number | undefined;
  /** The local duration, where the scenario gives AWS another one. */
  localDurationMs?: number | undefined;
  /** A runbook step (not a fault): the runner carries it out. */
  step?: boolean;
  resolved: PlanTarget;
  /** For `from:` (partition). */
  resolvedFrom?: PlanTarget | undefined;
}

export interface PlanInput {
  scenario: string;
  nodes: PlanNode[];
  faults: PlanFault[];
  observeMs: number;
}

export interface PlanOptions {
  /** The region the AZ letters are in (`a` -> `us-east-1a`). */
  region: string;
  /** The experiment role; a placeholder by default. */
  roleArn: string;
  /** CloudWatch alarms that stop the experiment; `none` without them. */
  stopAlarmArns: readonly string[];
}

/** The placeholder for the experiment role: replace it (or pass --role-arn). */
export const ROLE_ARN_PLACEHOLDER = 'arn:aws:iam::<account-id>:role/<fis-experiment-role>';

export const DEFAULT_REGION = 'us-east-1';

export const TAGS = {
  stack: 'chaos:stack',
  system: 'chaos:system',
  node: 'chaos:node',
  volume: 'chaos:volume',
  /** On the nodes a random role picks from, when that is not every node of the system (`web-head`). */
  pool: 'chaos:pool',
} as const;

/** One call of an AWS API, for a fault FIS cannot do as asked but the API can. */
export interface ApiCall {
  /** When, after the fault's injection (`+0 ms`), or after what. */
  when: string;
  service: 'ec2' | 'ssm';
  operation: string;
  input: Record<string, unknown>;
}

interface EntryBase {
  fault: number;
  heading: string;
  action: string;
  target: string;
  at: number;
  durationMs?: number;
  /** The nodes it hits on paper. */
  nodes: string[];
  notes: string[];
}

export type PlanEntry = EntryBase &
  (
    | { kind: 'fis-template'; template: CreateExperimentTemplateRequest }
    | { kind: 'api-calls'; calls: ApiCall[] }
    | { kind: 'refused'; reason: string; hint: string }
    | { kind: 'runbook-step' }
  );

/** `PT1M`, `PT4S`, `PT1H30M`: FIS's ISO 8601 durations, in whole seconds (as its documentation gives them). */
export function isoDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms % SECOND !== 0)
    throw new Error(`${ms} ms is not a whole number of seconds`);
  const total = ms / SECOND;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const out = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  return `PT${out || '0S'}`;
}

/** `a` -> `us-east-1a`. */
export function zoneName(region: string, az: string): string {
  return `${region}${az}`;
}

/** The heading of a fault: `#1 drop-az az:b mode network at +0 ms for 6000 ms`. */
export function headingOf(f: PlanFault, revertAfterMs: number | undefined): string {
  const parts = [`#${f.index}`, f.action, f.target];
  if (f.from) parts.push('from', f.from);
  if (f.process) parts.push('process', f.process);
  if (f.signal) parts.push('signal', f.signal);
  if (f.mode) parts.push('mode', f.mode);
  if (f.method) parts.push('method', f.method);
  parts.push('at', `+${f.at} ms`);
  if (f.durationMs !== undefined)
    parts.push(
      'for',
      f.localDurationMs !== undefined && f.localDurationMs !== f.durationMs
        ? `${f.durationMs} ms on AWS (${f.localDurationMs} ms locally)`
        : `${f.durationMs} ms`,
    );
  else if (revertAfterMs !== undefined) parts.push(`until the observe window ends (+${revertAfterMs} ms)`);
  return parts.join(' ');
}

/**
 * When the runner reverts a revertible fault that has no durationMs: when the observe window
 * ends, observeMs after the last injection or at the last due revert if later (ARCHITECTURE.md,
 * the lifecycle); in ms after this fault's injection.
 */
export function revertAfter(f: PlanFault, all: readonly PlanFault[], observeMs: number): number | undefined {
  if (f.step || !(f.action in FAULTS) || !FAULTS[f.action as FaultAction].revertible) return undefined;
  if (f.durationMs !== undefined) return f.durationMs;
  const lastAt = Math.max(...all.map((x) => x.at));
  const lastDue = Math.max(...all.map((x) => x.at + (x.durationMs ?? 0)));
  return Math.max(lastAt + observeMs, lastDue) - f.at;
}

/** Plans every fault of a scenario. */
export function planFaults(input: PlanInput, opts: PlanOptions): PlanEntry[] {
  return input.faults.map((f) => planFault(f, input, opts));
}

interface Group {
  name: string;
  tags: Record<string, string>;
  az?: string | undefined;
  selectionMode: string;
  nodes: PlanNode[];
}

const systemsOf = (nodes: readonly PlanNode[]) => [...new Set(nodes.map((n) => n.system))];

/**
 * The target groups a resolved target becomes: FIS selects by tags (all of them must match),
 * filters (the zone) and a selection mode; a set of nodes no single tag names is one group per
 * node.
 */
function groupsOf(t: PlanTarget, stack: string, all: readonly PlanNode[]): Group[] {
  const base = { [TAGS.stack]: stack };
  if (t.kind === 'az')
    return [{ name: `az-${t.az}`, tags: base, az: t.az, selectionMode: 'ALL', nodes: t.nodes }];
  if (t.kind === 'random')
    return [
      {
        name: `${t.system}-${t.role}`,
        tags: {
          ...base,
          [TAGS.system]: t.system,
          // The role picks from some of the system's nodes only (the heads, not the load balancer).
          ...(t.of.length < all.filter((n) => n.system === t.system).length
            ? { [TAGS.pool]: `${t.system}-${t.role}` }
            : {}),
        },
        selectionMode: `COUNT(${t.count})`,
        nodes: t.of,
      },
    ];
  const systems = systemsOf(t.nodes);
  if (t.nodes.length > 1 && systems.length === 1) {
    const ofSystem = all.filter((n) => n.system === systems[0]);
    if (ofSystem.length === t.nodes.length)
      return [
        {
          name: `${systems[0]}-all`,
          tags: { ...base, [TAGS.system]: systems[0]! },
          selectionMode: 'ALL',
          nodes: t.nodes,
        },
      ];
  }
  return perNode(t.nodes, stack);
}

/** One group per node, each by its own tag. */
function perNode(nodes: readonly PlanNode[], stack: string): Group[] {
  return nodes.map((n) => ({
    name: n.name,
    tags: { [TAGS.stack]: stack, [TAGS.system]: n.system, [TAGS.node]: n.name },
    az: n.az,
    selectionMode: 'ALL',
    nodes: [n],
  }));
}

/** A group split so that each part is of one system (for a process name per part). */
function bySystem(g: Group): Group[] {
  const systems = systemsOf(g.nodes);
  if (systems.length <= 1) return [g];
  return systems.map((s) => ({
    ...g,
    name: `${g.name}-${s}`,
    tags: { ...g.tags, [TAGS.system]: s },
    nodes: g.nodes.filter((n) => n.system === s),
  }));
}

function instanceTarget(g: Group, region: string): CreateExperimentTemplateTargetInput {
  return {
    resourceType: 'aws:ec2:instance',
    resourceTags: g.tags,
    // targets.html, "Example filters": instances in a zone by `Placement.AvailabilityZone`.
    ...(g.az ? { filters: [{ path: 'Placement.AvailabilityZone', values: [zoneName(region, g.az)] }] } : {}),
    selectionMode: g.selectionMode,
  };
}

function volumeTarget(g: Group, disk: string, region: string): CreateExperimentTemplateTargetInput {
  return {
    resourceType: 'aws:ec2:ebs-volume',
    resourceTags: { ...g.tags, [TAGS.volume]: disk },
    // DescribeVolumes gives each volume's `AvailabilityZone` (targets.html, "Resource filters").
    ...(g.az ? { filters: [{ path: 'AvailabilityZone', values: [zoneName(region, g.az)] }] } : {}),
    selectionMode: g.selectionMode,
  };
}

function subnetTarget(stack: string, az: string, region: string): CreateExperimentTemplateTargetInput {
  return {
    resourceType: 'aws:ec2:subnet',
    resourceTags: { [TAGS.stack]: stack },
    // DescribeSubnets gives each subnet's `AvailabilityZone` (targets.html, "Resource filters").
    filters: [{ path: 'AvailabilityZone', values: [zoneName(region, az)] }],
    selectionMode: 'ALL',
  };
}

type Outcome =
  | { kind: 'fis-template'; template: CreateExperimentTemplateRequest }
  | { kind: 'api-calls'; calls: ApiCall[] }
  | { kind: 'refused'; reason: string; hint: string };

const refuse = (reason: string, hint: string): Outcome => ({ kind: 'refused', reason, hint });

/** Why a duration does not fit an FIS parameter, or undefined. */
function durationProblem(
  ms: number,
  limit: { min: number; max: number },
  what: string,
): { reason: string; hint: string } | undefined {
  if (ms < limit.min)
    return {
      reason: `${what} is ${isoDuration(limit.min)} at least (FIS actions reference); this fault asks ${ms} ms`,
      hint: `give the fault \`aws: { durationMs: ${limit.min} }\` (or more): the duration on AWS, the local one unchanged`,
    };
  if (ms > limit.max)
    return {
      reason: `${what} is ${isoDuration(limit.max)} at most (FIS actions reference); this fault asks ${ms} ms`,
      hint: `lower durationMs to ${limit.max} or less`,
    };
  if (ms % SECOND !== 0)
    return {
      reason: `${what} is given in whole seconds in FIS's documentation (PT5S, PT1M); ${ms} ms would need a fraction of a second, which it does not document`,
      hint: `give the fault \`aws: { durationMs: ${Math.ceil(ms / SECOND) * SECOND} }\` (whole seconds on AWS; the local duration unchanged)`,
    };
  return undefined;
}

function planFault(f: PlanFault, input: PlanInput, opts: PlanOptions): PlanEntry {
  const revert = revertAfter(f, input.faults, input.observeMs);
  const base: EntryBase = {
    fault: f.index,
    heading: headingOf(f, revert),
    action: f.action,
    target: f.target,
    at: f.at,
    ...(f.durationMs !== undefined ? { durationMs: f.durationMs } : {}),
    nodes: nodesOf(f.resolved).map((n) => n.name),
    notes: [],
  };
  if (f.step) {
    base.notes.push(
      `a runbook step, not a fault: the runner carries it out itself at +${f.at} ms, on AWS as locally`,
    );
    return { ...base, kind: 'runbook-step' };
  }
  base.notes.push(...targetNotes(f.resolved, f.target, opts.region));
  const hit = nodesOf(f.resolved).length;
  if (hit > FIS_LIMITS.resourcesPerTargetDefault)
    base.notes.push(
      `FIS acts on ${FIS_LIMITS.resourcesPerTargetDefault} resources per target by default (an adjustable quota); this fault may select ${hit}`,
    );
  if (f.durationMs === undefined && revert !== undefined)
    base.notes.push(
      `no durationMs: the runner reverts it when the observe window ends, on paper ${revert} ms after its injection; FIS needs a fixed duration, so that is the one used here`,
    );
  const outcome = outcomeOf(f, revert, input, opts, base.notes);
  if (outcome.kind === 'fis-template') {
    const problem = quotaProblem(outcome.template, opts, base.notes);
    if (problem) return { ...base, ...problem };
  }
  return { ...base, ...outcome };
}

function nodesOf(t: PlanTarget): PlanNode[] {
  return t.kind === 'random' ? t.of : t.nodes;
}

function targetNotes(t: PlanTarget, selector: string, region: string): string[] {
  if (t.kind === 'az')
    return [
      `${selector} is AZ ${zoneName(region, t.az)}: ${t.nodes.map((n) => n.name).join(', ')} on paper; FIS selects by the stack's tag and the resource's own zone`,
    ];
  if (t.kind === 'random')
    return [
      `${selector} is ${t.count} node of ${t.system} picked at random at injection; FIS picks it the same way (COUNT(${t.count}) of ${t.of.map((n) => n.name).join(', ')})`,
    ];
  if (t.role)
    return [
      `${selector} is resolved live at injection; on paper it is ${t.nodes.map((n) => n.name).join(', ') || 'no node'}, as at provisioning (index 0 leads): the runner re-resolves it at injection and sets the chaos:node tag of the template to the node that holds the role then`,
    ];
  return [];
}

function template(
  f: PlanFault,
  input: PlanInput,
  opts: PlanOptions,
  targets: Record<string, CreateExperimentTemplateTargetInput>,
  actions: Record<string, CreateExperimentTemplateActionInput>,
): CreateExperimentTemplateRequest {
  const description = `chaos-harness ${input.scenario} fault #${f.index}: ${f.action} ${f.target}${f.mode ? ` (${f.mode})` : ''}`;
  return {
    description: description.slice(0, FIS_LIMITS.descriptionMax),
    roleArn: opts.roleArn,
    stopConditions: opts.stopAlarmArns.length
      ? opts.stopAlarmArns.map((value) => ({ source: 'aws:cloudwatch:alarm', value }))
      : [{ source: 'none' }],
    targets,
    actions,
    tags: {
      [TAGS.stack]: input.scenario,
      'chaos:fault': String(f.index),
    },
  };
}

function outcomeOf(
  f: PlanFault,
  revert: number | undefined,
  input: PlanInput,
  opts: PlanOptions,
  notes: string[],
): Outcome {
  const stack = input.scenario;
  const groups = () => groupsOf(f.resolved, stack, input.nodes);
  const { region } = opts;
  switch (f.action) {
    case 'pause':
      return refuse(
        `FIS cannot pause a node: ${(FAULTS.pause.fis as { why: string }).why}`,
        'on AWS use stop (the node goes away and comes back after durationMs, 60000 or more) or freeze-volume (its I/O stalls); keep pause for the local provider',
      );
    case 'partition':
      return refuse(
        `FIS cannot cut ${f.target} off from ${f.from ?? 'other nodes'}: ${(FAULTS.partition.fis as { why: string }).why}`,
        'on AWS cut a whole zone off instead (drop-az with mode: network, FIS aws:network:disrupt-connectivity), or keep the partition for the local provider',
      );
    case 'kill': {
      const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
      const actions: Record<string, CreateExperimentTemplateActionInput> = {};
      for (const g of groups()) {
        targets[g.name] = instanceTarget(g, region);
        actions[`terminate-${g.name}`] = {
          actionId: 'aws:ec2:terminate-instances',
          description: `terminate ${g.nodes.map((n) => n.name).join(', ')}`,
          targets: { Instances: g.name },
        };
      }
      notes.push('TerminateInstances cannot be undone: the node does not come back, as locally');
      return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
    }
    case 'stop': {
      const d = revert!;
      if (d > FIS_LIMITS.startInstancesAfterDuration.max && d % SECOND === 0) {
        notes.push(
          `FIS restarts instances ${isoDuration(FIS_LIMITS.startInstancesAfterDuration.max)} after stopping them at most; EC2 itself has no such limit, so the runner calls it directly`,
        );
        return { kind: 'api-calls', calls: stopStartCalls(groups(), region, d) };
      }
      const problem = durationProblem(
        d,
        FIS_LIMITS.startInstancesAfterDuration,
        'startInstancesAfterDuration of aws:ec2:stop-instances',
      );
      if (problem) return refuse(problem.reason, problem.hint);
      const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
      const actions: Record<string, CreateExperimentTemplateActionInput> = {};
      for (const g of groups()) {
        targets[g.name] = instanceTarget(g, region);
        actions[`stop-${g.name}`] = {
          actionId: 'aws:ec2:stop-instances',
          description: `stop ${g.nodes.map((n) => n.name).join(', ')} and start them again after ${d} ms`,
          parameters: { startInstancesAfterDuration: isoDuration(d) },
          targets: { Instances: g.name },
        };
      }
      notes.push(
        'the instances come back with their EBS volumes, as a node does locally after a power loss; an instance takes tens of seconds to stop and to boot, which the duration does not include',
      );
      return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
    }
    case 'kill-process':
      return killProcess(f, groups(), input, opts, notes);
    case 'freeze-volume':
      return freezeVolume(f, revert!, groups(), input, opts, notes);
    case 'drop-az':
      return dropAz(f, revert!, input, opts, notes);
    default:
      return refuse(`'${f.action}' has no AWS mapping in this harness`, 'see core/faults.ts');
  }
}

function describeInstancesCall(g: Group, region: string): ApiCall {
  return {
    when: '+0 ms',
    service: 'ec2',
    operation: 'DescribeInstances',
    input: {
      Filters: [
        ...Object.entries(g.tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
        ...(g.az ? [{ Name: 'availability-zone', Values: [zoneName(region, g.az)] }] : []),
        { Name: 'instance-state-name', Values: ['running'] },
      ],
    },
  };
}

function stopStartCalls(groups: Group[], region: string, d: number): ApiCall[] {
  const ids = '<the InstanceIds DescribeInstances returned>';
  return [
    ...groups.map((g) => describeInstancesCall(g, region)),
    { when: '+0 ms', service: 'ec2', operation: 'StopInstances', input: { InstanceIds: [ids], Force: true } },
    {
      when: `+${d} ms (the revert), once the instances are stopped`,
      service: 'ec2',
      operation: 'StartInstances',
      input: { InstanceIds: [ids] },
    },
  ];
}

function killProcess(
  f: PlanFault,
  groups: Group[],
  input: PlanInput,
  opts: PlanOptions,
  notes: string[],
): Outcome {
  const which = f.process === 'agent' ? 'agent' : 'server';
  const nameOf = (n: PlanNode) => (which === 'agent' ? n.agentProcess : n.serverProcess);
  const missing = nodesOf(f.resolved).filter((n) => !nameOf(n));
  if (missing.length)
    return refuse(
      `${missing.map((n) => n.name).join(', ')} ${missing.length > 1 ? 'have' : 'has'} no ${which} process named in its plan`,
      `kill another process, or a node that has a ${which}`,
    );
  // killall matches one name: one group per system (each system names its own process).
  const parts = groups.flatMap(bySystem);
  const signal = f.signal ?? 'SIGKILL';
  if (!(FIS_LIMITS.killProcessSignals as readonly string[]).includes(signal)) {
    notes.push(
      `AWSFIS-Run-Kill-Process sends only ${FIS_LIMITS.killProcessSignals.join(' or ')}; Systems Manager's AWS-RunShellScript sends ${signal} directly`,
    );
    return {
      kind: 'api-calls',
      calls: parts.map((g) => ({
        when: '+0 ms',
        service: 'ssm',
        operation: 'SendCommand',
        input: {
          DocumentName: 'AWS-RunShellScript',
          Targets: Object.entries(g.tags).map(([k, v]) => ({ Key: `tag:${k}`, Values: [v] })),
          Parameters: {
            commands: [`pkill --signal ${signal.replace(/^SIG/, '')} -x ${nameOf(g.nodes[0]!)}`],
          },
        },
      })),
    };
  }
  const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
  const actions: Record<string, CreateExperimentTemplateActionInput> = {};
  for (const g of parts) {
    const processName = nameOf(g.nodes[0]!)!;
    targets[g.name] = instanceTarget(g, opts.region);
    actions[`kill-${which}-${g.name}`] = {
      actionId: 'aws:ssm:send-command',
      description: `${signal} to ${processName} on ${g.nodes.map((n) => n.name).join(', ')}`,
      parameters: {
        documentArn: `arn:aws:ssm:${opts.region}::document/AWSFIS-Run-Kill-Process`,
        // Compact JSON: a parameter value may hold no white space (the API model's "[\S]+").
        documentParameters: JSON.stringify({ ProcessName: processName, Signal: signal }),
        duration: isoDuration(FIS_LIMITS.sendCommand.min),
      },
      targets: { Instances: g.name },
    };
  }
  notes.push(
    `duration ${isoDuration(FIS_LIMITS.sendCommand.min)} is the least FIS allows for aws:ssm:send-command; the process is signalled when the command runs`,
    'AWSFIS-Run-Kill-Process runs killall on Amazon Linux and Ubuntu, and installs it first unless InstallDependencies is False: the instances need SSM Agent, an instance profile for Systems Manager, and their package repositories (or killall baked in)',
  );
  if (which === 'agent')
    notes.push(
      `killall matches by name: every process named ${[...new Set(parts.map((g) => nameOf(g.nodes[0]!)))].join(', ')} on the instance gets the signal, so the agent must be the only one`,
    );
  return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
}

function freezeVolume(
  f: PlanFault,
  d: number,
  groups: Group[],
  input: PlanInput,
  opts: PlanOptions,
  notes: string[],
): Outcome {
  if (f.method === 'cgroup')
    return refuse(
      'method: cgroup freezes every process of the node, which no FIS action does (as for pause)',
      'drop `method` (or give fsfreeze): on AWS the volume itself is paused (aws:ebs:pause-volume-io)',
    );
  const problem = durationProblem(d, FIS_LIMITS.pauseVolumeIo, 'the duration of aws:ebs:pause-volume-io');
  if (problem) return refuse(problem.reason, problem.hint);
  const noDisk = nodesOf(f.resolved).filter((n) => n.disks.length === 0);
  if (noDisk.length)
    return refuse(
      `${noDisk.map((n) => n.name).join(', ')} ${noDisk.length > 1 ? 'have' : 'has'} no data disk in its plan: nothing for aws:ebs:pause-volume-io to pause`,
      "target a node whose system keeps its data on its own disk (the system's spec says how)",
    );
  // "The target volumes must be in the same Availability Zone" (#pause-volume-io): one target
  // and action per zone; nodes whose disks are named differently get their own.
  const parts = groups.flatMap((g) => {
    const disk = g.nodes[0]!.disks[0]!;
    if (g.nodes.some((n) => !n.disks.includes(disk)))
      return perNode(g.nodes, input.scenario).map((x) => ({ g: x, disk: x.nodes[0]!.disks[0]! }));
    if (g.az || g.selectionMode !== 'ALL') return [{ g, disk }];
    const azs = [...new Set(g.nodes.map((n) => n.az))];
    return azs.map((az) => ({
      g:
        azs.length === 1
          ? { ...g, az }
          : { ...g, name: `${g.name}-${az}`, az, nodes: g.nodes.filter((n) => n.az === az) },
      disk,
    }));
  });
  const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
  const actions: Record<string, CreateExperimentTemplateActionInput> = {};
  for (const { g, disk } of parts) {
    targets[`${g.name}-${disk}`] = volumeTarget(g, disk, opts.region);
    actions[`pause-io-${g.name}`] = {
      actionId: 'aws:ebs:pause-volume-io',
      description: `pause the I/O of the ${disk} volume of ${g.nodes.map((n) => n.name).join(', ')} for ${d} ms`,
      parameters: { duration: isoDuration(d) },
      targets: { Volumes: `${g.name}-${disk}` },
    };
  }
  notes.push(
    'aws:ebs:pause-volume-io pauses the volume itself (block I/O), where fsfreeze freezes its file system; it needs Nitro instances, and volumes of one zone per action',
  );
  if (d < MINUTE)
    notes.push(
      'FIS: with a short duration the I/O is paused for that long, but the experiment takes longer to complete (it takes time to start)',
    );
  if (parts.some(({ g }) => g.selectionMode !== 'ALL'))
    notes.push('one volume picked at random may be in any zone; FIS pauses volumes of one zone per action');
  return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
}

function dropAz(f: PlanFault, d: number, input: PlanInput, opts: PlanOptions, notes: string[]): Outcome {
  if (f.resolved.kind !== 'az')
    return refuse('drop-az takes a zone', 'give it target az:LETTER (the schema says so too)');
  const { az } = f.resolved;
  const zone = zoneName(opts.region, az);
  const stack = input.scenario;
  const subnets = `subnets-${az}`;
  if (f.mode === 'network') {
    const problem = durationProblem(
      d,
      FIS_LIMITS.disruptConnectivity,
      'the duration of aws:network:disrupt-connectivity',
    );
    if (problem) return refuse(problem.reason, problem.hint);
    notes.push(
      `scope availability-zone: FIS denies intra-VPC traffic between the subnets of ${zone} and those of the other zones (a cloned network ACL, restored after); the instances keep running, as locally`,
      'traffic from outside the VPC is not denied: for the same cut as locally, the probes run inside the VPC, in another zone',
      'quotas: 5 target subnets per action by default (adjustable), 30 subnets per VPC for this scope',
    );
    return {
      kind: 'fis-template',
      template: template(
        f,
        input,
        opts,
        { [subnets]: subnetTarget(stack, az, opts.region) },
        {
          [`disrupt-${az}`]: {
            actionId: 'aws:network:disrupt-connectivity',
            description: `cut ${zone} off from the other zones for ${d} ms`,
            parameters: { scope: 'availability-zone', duration: isoDuration(d) },
            targets: { Subnets: subnets },
          },
        },
      ),
    };
  }
  // Power: FIS's AZ Availability: Power Interruption scenario
  // (https://docs.aws.amazon.com/fis/latest/userguide/az-availability-scenario.html) stops the
  // zone's instances with startInstancesAfterDuration and denies its subnets' traffic with
  // aws:network:disrupt-connectivity, scope `all`; its other sub-actions (Auto Scaling, RDS,
  // ElastiCache, EBS, ARC) have nothing to act on in this stack.
  const problem =
    durationProblem(
      d,
      FIS_LIMITS.startInstancesAfterDuration,
      'startInstancesAfterDuration of aws:ec2:stop-instances',
    ) ??
    durationProblem(d, FIS_LIMITS.disruptConnectivity, 'the duration of aws:network:disrupt-connectivity');
  if (problem) return refuse(problem.reason, problem.hint);
  const instances = `instances-${az}`;
  const g: Group = {
    name: instances,
    tags: { [TAGS.stack]: stack },
    az,
    selectionMode: 'ALL',
    nodes: f.resolved.nodes,
  };
  notes.push(
    `as FIS's AZ power interruption scenario: the zone's instances stop and start again after ${d} ms with their volumes, and its subnets deny all traffic for as long`,
    'an instance takes tens of seconds to stop and to boot, which the duration does not include',
  );
  return {
    kind: 'fis-template',
    template: template(
      f,
      input,
      opts,
      { [instances]: instanceTarget(g, opts.region), [subnets]: subnetTarget(stack, az, opts.region) },
      {
        [`stop-instances-${az}`]: {
          actionId: 'aws:ec2:stop-instances',
          description: `power off every instance of ${zone}, on again after ${d} ms`,
          parameters: { startInstancesAfterDuration: isoDuration(d) },
          targets: { Instances: instances },
        },
        [`disrupt-network-${az}`]: {
          actionId: 'aws:network:disrupt-connectivity',
          description: `deny all traffic of the subnets of ${zone} for ${d} ms`,
          parameters: { scope: 'all', duration: isoDuration(d) },
          targets: { Subnets: subnets },
        },
      },
    ),
  };
}

/** What a template breaks of FIS's quotas and the API's limits, as a refusal; notes for the adjustable ones. */
function quotaProblem(
  t: CreateExperimentTemplateRequest,
  opts: PlanOptions,
  notes: string[],
): { kind: 'refused'; reason: string; hint: string } | undefined {
  const actions = Object.keys(t.actions ?? {}).length;
  if (actions > FIS_LIMITS.parallelActionsPerExperiment)
    return {
      kind: 'refused',
      reason: `this fault needs ${actions} actions at once (one per node), and FIS runs at most ${FIS_LIMITS.parallelActionsPerExperiment} in parallel per experiment (quota L-EB051440, not adjustable)`,
      hint: 'target fewer nodes, or a whole zone (az:LETTER), which is one action',
    };
  if (opts.stopAlarmArns.length > FIS_LIMITS.stopConditionsPerTemplate)
    return {
      kind: 'refused',
      reason: `FIS takes at most ${FIS_LIMITS.stopConditionsPerTemplate} stop conditions per template (quota L-872EC72B); ${opts.stopAlarmArns.length} were given`,
      hint: 'give at most 5 --stop-alarm',
    };
  for (const [name, action] of Object.entries(t.actions ?? {})) {
    for (const [key, value] of Object.entries(action.parameters ?? {})) {
      if (value.length > FIS_LIMITS.parameterValueMax || /\s/.test(value))
        return {
          kind: 'refused',
          reason: `parameter ${key} of action ${name} is not a valid FIS parameter value (at most ${FIS_LIMITS.parameterValueMax} characters, no white space)`,
          hint: 'shorten the names it is made of',
        };
    }
  }
  return undefined;
}

/** The plan as a person reads it: per fault its heading, then the template, the calls or the refusal. */
export function formatPlan(entries: readonly PlanEntry[]): string {
  const out: string[] = [];
  for (const e of entries) {
    out.push(e.heading);
    if (e.kind === 'fis-template') {
      out.push(
        '  FIS experiment template (CreateExperimentTemplate input; aws fis create-experiment-template --cli-input-json):',
      );
      out.push(indent(JSON.stringify(e.template, null, 2), 4));
    } else if (e.kind === 'api-calls') {
      out.push('  not FIS: direct API calls');
      for (const c of e.calls)
        out.push(`    ${c.when}  ${c.service} ${c.operation} ${JSON.stringify(c.input)}`);
    } else if (e.kind === 'refused') {
      out.push(`  refused: ${e.reason}`);
      out.push(`  how to change the scenario: ${e.hint}`);
    } else {
      out.push('  runbook step');
    }
    for (const n of e.notes) out.push(`  note: ${n}`);
    out.push('');
  }
  return out.join('\n');
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}
