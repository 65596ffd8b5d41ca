import type {
  CreateExperimentTemplateActionInput,
  CreateExperimentTemplateRequest,
  CreateExperimentTemplateTargetInput,
} from '@aws-sdk/client-fis';
import {
  type AzDropMode,
  FAULTS,
  type FaultAction,
  type FreezeMethod,
  type StressResource,
} from '../../core/faults.ts';
import type { NodeRef } from '../../core/provider.ts';
import type { BlastRadius } from './config.ts';

/**
 * A scenario's faults on AWS, on paper: for each fault, the AWS FIS experiment template that does
 * it (the input of CreateExperimentTemplate), or the direct API calls where FIS cannot do it as
 * asked but EC2 or Systems Manager can, or a refusal that says what FIS cannot do and how to
 * change the scenario. Pure: it knows no system by name; the caller lays the stack out and
 * resolves each target on paper (engine/aws-plan.ts).
 *
 * Tag convention (what the AWS provider puts on what it creates, and what targets select by):
 *   chaos:stack   on every instance, data volume, subnet and Auto Scaling group of a stack (the scenario's name)
 *   chaos:run     on the same: the run's id. Every target selects by it, so that two stacks of one
 *                 scenario in an account (two runs at once) never hit each other
 *   chaos:system  on a node's instance and data volume, and on a system's Auto Scaling group: its
 *                 system (`redis`, `pg`). Only the stack's system nodes carry it: the harness's own
 *                 hosts (probes, the runner) never do, so no target selects them
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
   * The AZ Availability: Power Interruption scenario
   * (https://docs.aws.amazon.com/fis/latest/userguide/az-availability-scenario.html), "Pause
   * network connectivity": aws:network:disrupt-connectivity, scope `all`, on the zone's subnets for
   * 2 minutes (PT2M in the scenario's template), so that clients time out and DNS moves off the
   * zone; its instances stay stopped for the whole interruption.
   */
  azPowerNetworkCut: 2 * MINUTE,
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
   * The pre-configured documents for gray failures ("Pre-configured AWS FIS SSM documents",
   * https://docs.aws.amazon.com/fis/latest/userguide/actions-ssm-agent.html), with the
   * parameters each documents: AWSFIS-Run-Network-Latency (Interface, default eth0;
   * DelayMilliseconds, default 200; DurationSeconds), AWSFIS-Run-Network-Latency-Sources
   * (Interface; DelayMilliseconds; JitterMilliseconds, default 10; FlowsPercent; Sources,
   * required: IPv4 addresses or CIDR blocks, domain names, AZ names or ids, ALL, DYNAMODB, S3;
   * TrafficType ingress or egress, default ingress; DurationSeconds), AWSFIS-Run-Network-Blackhole-Port
   * (Protocol tcp or udp; Port; TrafficType ingress or egress, default ingress; DurationSeconds:
   * it drops the port's packets with iptables), AWSFIS-Run-CPU-Stress (CPU, default 0: all;
   * LoadPercent, default 100; DurationSeconds), AWSFIS-Run-Memory-Stress (Workers, default 1;
   * Percent, required; DurationSeconds), AWSFIS-Run-IO-Stress (Workers, default 1; Percent of
   * the free space, default 80; DurationSeconds), AWSFIS-Run-Disk-Fill (Percent, default 95, of
   * the root volume; DurationSeconds), each with InstallDependencies (default True). None limits
   * bandwidth or resets connections; the packet-loss documents (LossPercent) lose packets, which
   * is neither.
   */
  grayDocuments: {
    latency: 'AWSFIS-Run-Network-Latency',
    latencySources: 'AWSFIS-Run-Network-Latency-Sources',
    blackholePort: 'AWSFIS-Run-Network-Blackhole-Port',
    cpu: 'AWSFIS-Run-CPU-Stress',
    memory: 'AWSFIS-Run-Memory-Stress',
    io: 'AWSFIS-Run-IO-Stress',
    diskFill: 'AWSFIS-Run-Disk-Fill',
  },
  /**
   * The API model (botocore data/fis/2020-12-01/service-2.json): a description is at most 512
   * characters; action and target names and parameter names at most 64; an action parameter value
   * at most 1024 characters. Their patterns ("[\S]+") are not anchored (the model anchors where it
   * means the whole value: "^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$" for target parameters), so a value
   * needs one character that is not white space, and may hold white space besides: FIS's own
   * examples give documentParameters as `{"DurationSeconds": "60", ...}`.
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
  /** Its service port, for the network gray faults (blackhole). */
  port?: number | undefined;
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
  /** The gray faults' figures (latency, bandwidth, stress, fill-disk), as the scenario gives them. */
  delayMs?: number | undefined;
  jitterMs?: number | undefined;
  rateKBps?: number | undefined;
  resource?: StressResource | undefined;
  workers?: number | undefined;
  percent?: number | undefined;
  /** On AWS: the fault's `aws.durationMs` where it gives one, else its `durationMs`. */
  durationMs?: number | undefined;
  /** The local duration, where the scenario gives AWS another one. */
  localDurationMs?: number | undefined;
  /** A runbook step (not a fault): the runner carries it out. */
  step?: boolean;
  /** What this fault may touch (`faults[].aws.blastRadius`), over the scenario's and the config's. */
  blastRadius?: Partial<BlastRadius> | undefined;
  resolved: PlanTarget;
  /** For `from:` (partition). */
  resolvedFrom?: PlanTarget | undefined;
}

export interface PlanInput {
  scenario: string;
  nodes: PlanNode[];
  faults: PlanFault[];
  observeMs: number;
  /**
   * The systems whose nodes an Auto Scaling group keeps (`web`): it replaces an instance that
   * stops, and launches into the zones it is given.
   */
  autoScaled?: readonly string[] | undefined;
  /** What each fault may touch (the scenario's `aws.blastRadius`), over the config's. */
  blastRadius?: Partial<BlastRadius> | undefined;
}

export interface PlanOptions {
  /** The region the AZ letters are in (`a` -> `us-east-1a`); it gives the ARNs' partition too. */
  region: string;
  /** The run's id: every target selects by it (the `chaos:run` tag). A placeholder on paper. */
  runId: string;
  /** The experiment role; a placeholder by default. */
  roleArn: string;
  /** CloudWatch alarms that stop the experiment; `none` without them. */
  stopAlarmArns: readonly string[];
}

/**
 * The partition a region's ARNs are in (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html):
 * `aws-us-gov` for AWS GovCloud (US), `aws-cn` for the China regions, `aws` elsewhere.
 */
export function partitionOf(region: string): string {
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('cn-')) return 'aws-cn';
  return 'aws';
}

/** The placeholder for the experiment role in a region's partition: replace it (or pass --role-arn). */
export function roleArnPlaceholder(region: string): string {
  return `arn:${partitionOf(region)}:iam::<account-id>:role/<fis-experiment-role>`;
}

/** The placeholder for the experiment role in the `aws` partition. */
export const ROLE_ARN_PLACEHOLDER = roleArnPlaceholder('us-east-1');

/** The placeholder for the run's id on paper: the runner puts its own there (or pass --run-id). */
export const RUN_ID_PLACEHOLDER = '<run-id>';

export const DEFAULT_REGION = 'us-east-1';

export const TAGS = {
  stack: 'chaos:stack',
  /** The run's id, on everything the run creates: what scopes every target to one run. */
  run: 'chaos:run',
  system: 'chaos:system',
  node: 'chaos:node',
  volume: 'chaos:volume',
  /** On the nodes a random role picks from, when that is not every node of the system (`web-head`). */
  pool: 'chaos:pool',
} as const;

/** An IAM role's ARN (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html): `arn:aws:iam::123456789012:role/path/name`. */
const ROLE_ARN = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** A CloudWatch alarm's ARN, as FIS's stop conditions take it: `arn:aws:cloudwatch:us-east-1:123456789012:alarm:name`. */
const ALARM_ARN = /^arn:([a-z-]+):cloudwatch:([a-z]{2}(?:-[a-z]+)+-\d+):(\d{12}):alarm:\P{Cc}{1,255}$/u;

/** What is wrong with an experiment role's ARN for a region, in a few words; undefined when nothing. */
export function roleArnProblem(arn: string, region: string): string | undefined {
  const m = ROLE_ARN.exec(arn);
  if (!m) return `is not an IAM role ARN (arn:${partitionOf(region)}:iam::<12-digit account>:role/<name>)`;
  if (m[1] !== partitionOf(region))
    return `is in partition ${m[1]}, and region ${region} is in ${partitionOf(region)}`;
  return undefined;
}

/** What is wrong with a stop condition's alarm ARN for a region, in a few words; undefined when nothing. */
export function alarmArnProblem(arn: string, region: string): string | undefined {
  const m = ALARM_ARN.exec(arn);
  if (!m)
    return `is not a CloudWatch alarm ARN (arn:${partitionOf(region)}:cloudwatch:${region}:<12-digit account>:alarm:<name>)`;
  if (m[1] !== partitionOf(region))
    return `is in partition ${m[1]}, and region ${region} is in ${partitionOf(region)}`;
  return undefined;
}

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
  if (f.delayMs !== undefined)
    parts.push('delay', `${f.delayMs} ms${f.jitterMs ? ` ± ${f.jitterMs} ms` : ''}`);
  if (f.rateKBps !== undefined) parts.push('rate', `${f.rateKBps} kB/s`);
  if (f.resource) parts.push('resource', f.resource);
  if (f.percent !== undefined) parts.push('percent', String(f.percent));
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
  /** The zone its resources are filtered on; none for a role (see `live`) or a pick among zones. */
  az?: string | undefined;
  /**
   * Re-resolved at injection (a role such as `pg:primary`): the node that holds it then may be in
   * another zone than on paper (a failover moves it), so no zone filter is put on it.
   */
  live?: boolean;
  selectionMode: string;
  nodes: PlanNode[];
}

const systemsOf = (nodes: readonly PlanNode[]) => [...new Set(nodes.map((n) => n.system))];

/** The tags every target of a run selects by: the stack's and the run's. */
function scopeOf(input: PlanInput, opts: PlanOptions): Record<string, string> {
  return { [TAGS.stack]: input.scenario, [TAGS.run]: opts.runId };
}

/**
 * The target groups a resolved target becomes: FIS selects by tags (all of them must match),
 * filters (the zone, the state) and a selection mode. Every group selects by the run's tags and a
 * system's tag, which only the stack's system nodes carry (never the harness's own hosts); a zone
 * is one group per system in it; a set of nodes no single tag names is one group per node.
 */
function groupsOf(t: PlanTarget, scope: Record<string, string>, all: readonly PlanNode[]): Group[] {
  if (t.kind === 'az')
    return systemsOf(t.nodes).map((system) => ({
      name: `az-${t.az}-${system}`,
      tags: { ...scope, [TAGS.system]: system },
      az: t.az,
      selectionMode: 'ALL',
      nodes: t.nodes.filter((n) => n.system === system),
    }));
  if (t.kind === 'random')
    return [
      {
        name: `${t.system}-${t.role}`,
        tags: {
          ...scope,
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
          tags: { ...scope, [TAGS.system]: systems[0]! },
          selectionMode: 'ALL',
          nodes: t.nodes,
        },
      ];
  }
  return perNode(t.nodes, scope, t.role !== undefined);
}

/** One group per node, each by its own tag; in its zone unless a role names it (`live`). */
function perNode(nodes: readonly PlanNode[], scope: Record<string, string>, live: boolean): Group[] {
  return nodes.map((n) => ({
    name: n.name,
    tags: { ...scope, [TAGS.system]: n.system, [TAGS.node]: n.name },
    ...(live ? { live: true } : { az: n.az }),
    selectionMode: 'ALL',
    nodes: [n],
  }));
}

/**
 * An instance target. Only running instances: a stopped one is no target (FIS's own AZ scenario
 * filters `State.Name` the same way), and an instance the group is replacing is not picked.
 */
function instanceTarget(g: Group, region: string): CreateExperimentTemplateTargetInput {
  return {
    resourceType: 'aws:ec2:instance',
    resourceTags: g.tags,
    filters: [
      // targets.html, "Example filters": instances in a zone by `Placement.AvailabilityZone`,
      // running ones by `State.Name`.
      ...(g.az ? [{ path: 'Placement.AvailabilityZone', values: [zoneName(region, g.az)] }] : []),
      { path: 'State.Name', values: ['running'] },
    ],
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

function subnetTarget(
  scope: Record<string, string>,
  az: string,
  region: string,
): CreateExperimentTemplateTargetInput {
  return {
    resourceType: 'aws:ec2:subnet',
    resourceTags: scope,
    // DescribeSubnets gives each subnet's `AvailabilityZone` (targets.html, "Resource filters").
    filters: [{ path: 'AvailabilityZone', values: [zoneName(region, az)] }],
    selectionMode: 'ALL',
  };
}

/** A system's Auto Scaling group (resource type `aws:ec2:autoscaling-group`), by the run's tags and its system. */
function groupTarget(scope: Record<string, string>, system: string): CreateExperimentTemplateTargetInput {
  return {
    resourceType: 'aws:ec2:autoscaling-group',
    resourceTags: { ...scope, [TAGS.system]: system },
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
    const problem = quotaProblem(outcome.template, opts);
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
      `${selector} is AZ ${zoneName(region, t.az)}: ${t.nodes.map((n) => n.name).join(', ')} on paper; the targets select the run's system nodes there by their tags (${TAGS.stack}, ${TAGS.run}, ${TAGS.system}: the harness's own hosts carry no ${TAGS.system}) and the resource's own zone`,
    ];
  if (t.kind === 'random')
    return [
      `${selector} is ${t.count} node of ${t.system} picked at random at injection; FIS picks it the same way (COUNT(${t.count}) of ${t.of.map((n) => n.name).join(', ')})`,
    ];
  if (t.role)
    return [
      `${selector} is resolved live at injection; on paper it is ${t.nodes.map((n) => n.name).join(', ') || 'no node'}, as at provisioning (index 0 leads): the runner re-resolves it at injection and sets the chaos:node tag of the template to the node that holds the role then; no zone filter, as that node may be in another zone by then (a failover moves a leader)`,
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
    // What the provider sends (experiments.ts): a target that selects nothing fails the
    // experiment rather than being skipped, so a fault that hit nothing is never measured.
    experimentOptions: { emptyTargetResolutionMode: 'fail' },
    tags: {
      ...scopeOf(input, opts),
      'chaos:fault': String(f.index),
    },
  };
}

/** What FIS's instance actions do to the OS, where the local provider kills outright. */
const GRACEFUL = {
  terminate:
    "FIS's aws:ec2:terminate-instances shuts the OS down gracefully first (EC2 TerminateInstances without SkipOsShutdown; FIS has no parameter to skip it): the node's processes get SIGTERM and may flush or hand over, where the local kill is a SIGKILL; for a node that dies at once, call EC2 TerminateInstances with SkipOsShutdown: true directly",
  stop: "FIS's aws:ec2:stop-instances shuts the OS down gracefully (EC2 StopInstances without SkipOsShutdown; FIS has no parameter to skip it): the node's processes get SIGTERM and may flush or hand over, which a power loss does not give them (the local stop is a SIGKILL); for a power loss, call EC2 StopInstances with SkipOsShutdown: true directly, then StartInstances",
} as const;

/** Whether some of these nodes are kept by an Auto Scaling group (which replaces a stopped instance). */
function autoScaledIn(nodes: readonly PlanNode[], input: PlanInput): string[] {
  const scaled = input.autoScaled ?? [];
  return systemsOf(nodes).filter((s) => scaled.includes(s));
}

function outcomeOf(
  f: PlanFault,
  revert: number | undefined,
  input: PlanInput,
  opts: PlanOptions,
  notes: string[],
): Outcome {
  const scope = scopeOf(input, opts);
  const groups = () => groupsOf(f.resolved, scope, input.nodes);
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
      const gs = groups();
      if (!gs.length) return noNodes(f, region);
      const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
      const actions: Record<string, CreateExperimentTemplateActionInput> = {};
      for (const g of gs) {
        targets[g.name] = instanceTarget(g, region);
        actions[`terminate-${g.name}`] = {
          actionId: 'aws:ec2:terminate-instances',
          description: `terminate ${g.nodes.map((n) => n.name).join(', ')}`,
          targets: { Instances: g.name },
        };
      }
      notes.push(
        'TerminateInstances cannot be undone: the node does not come back, as locally',
        GRACEFUL.terminate,
      );
      return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
    }
    case 'stop': {
      const d = revert!;
      const gs = groups();
      if (!gs.length) return noNodes(f, region);
      if (d > FIS_LIMITS.startInstancesAfterDuration.max && d % SECOND === 0) {
        notes.push(
          `FIS restarts instances ${isoDuration(FIS_LIMITS.startInstancesAfterDuration.max)} after stopping them at most; EC2 itself has no such limit, so the runner calls it directly`,
          'StopInstances with SkipOsShutdown: no graceful OS shutdown, a power loss as the local stop is (Force is for an instance stuck in stopping, and shuts down gracefully first)',
        );
        return { kind: 'api-calls', calls: stopStartCalls(gs, region, d) };
      }
      const problem = durationProblem(
        d,
        FIS_LIMITS.startInstancesAfterDuration,
        'startInstancesAfterDuration of aws:ec2:stop-instances',
      );
      if (problem) return refuse(problem.reason, problem.hint);
      const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
      const actions: Record<string, CreateExperimentTemplateActionInput> = {};
      for (const g of gs) {
        const scaled = autoScaledIn(g.nodes, input).length > 0;
        targets[g.name] = instanceTarget(g, region);
        actions[`stop-${g.name}`] = {
          actionId: 'aws:ec2:stop-instances',
          description: `stop ${g.nodes.map((n) => n.name).join(', ')} and start them again after ${d} ms`,
          parameters: {
            startInstancesAfterDuration: isoDuration(d),
            ...(scaled ? { completeIfInstancesTerminated: 'true' } : {}),
          },
          targets: { Instances: g.name },
        };
      }
      notes.push(
        'the instances come back with their EBS volumes, as a node does locally after a power loss; an instance takes tens of seconds to stop and to boot, which the duration does not include',
        GRACEFUL.stop,
      );
      const scaled = autoScaledIn(nodesOf(f.resolved), input);
      if (scaled.length)
        notes.push(
          `the Auto Scaling group of ${scaled.join(', ')} replaces (terminates) an instance that stays stopped: completeIfInstancesTerminated lets the action complete then instead of failing to start it`,
        );
      return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
    }
    case 'kill-process':
      return killProcess(f, groups(), input, opts, notes);
    case 'freeze-volume':
      return freezeVolume(f, revert!, groups(), input, opts, notes);
    case 'drop-az':
      return dropAz(f, revert!, input, opts, notes);
    case 'latency':
    case 'bandwidth':
    case 'blackhole':
    case 'reset':
    case 'stress':
    case 'fill-disk':
      return grayFault(f, revert!, groups(), input, opts, notes);
    default:
      return refuse(`'${f.action}' has no AWS mapping in this harness`, 'see core/faults.ts');
  }
}

/**
 * A gray fault as aws:ssm:send-command with the AWSFIS- document that does the same on an
 * instance, or a refusal that says which part FIS has no document for.
 */
function grayFault(
  f: PlanFault,
  d: number,
  groups: Group[],
  input: PlanInput,
  opts: PlanOptions,
  notes: string[],
): Outcome {
  const docs = FIS_LIMITS.grayDocuments;
  const why = (a: FaultAction) => (FAULTS[a].fis as { why?: string }).why ?? '';
  if (f.action === 'bandwidth')
    return refuse(
      `FIS cannot limit bandwidth: ${why('bandwidth')}`,
      'on AWS use latency (AWSFIS-Run-Network-Latency) for a slow link, or keep bandwidth for the local provider',
    );
  if (f.action === 'reset')
    return refuse(
      `FIS cannot reset connections: ${why('reset')}`,
      'on AWS use blackhole (AWSFIS-Run-Network-Blackhole-Port: the port goes silent) or kill-process, or keep reset for the local provider',
    );
  if (f.action === 'blackhole' && f.from)
    return refuse(
      `FIS cannot blackhole one link: ${docs.blackholePort} takes a protocol and a port, no sources, so it would silence ${f.target}'s port for every client, not only ${f.from}`,
      'drop `from` (every client), or on AWS cut a zone off (drop-az mode network), or keep the link fault for the local provider',
    );
  if (!groups.length) return noNodes(f, opts.region);
  const problem = durationProblem(d, FIS_LIMITS.sendCommand, 'the duration of aws:ssm:send-command');
  if (problem) return refuse(problem.reason, problem.hint);
  const seconds = String(d / SECOND);
  let document: string;
  let parameters: Record<string, string>;
  switch (f.action) {
    case 'latency': {
      const peers = f.resolvedFrom ? nodesOf(f.resolvedFrom) : [];
      if (!f.from && !f.jitterMs) {
        document = docs.latency;
        parameters = {
          DelayMilliseconds: String(f.delayMs ?? 200),
          Interface: 'eth0',
          DurationSeconds: seconds,
        };
        notes.push(
          `${docs.latency} delays everything the instance sends on eth0 (tc), its replication and its calls to the registry too, where the local fault delays only the replies of its service port`,
        );
      } else {
        document = docs.latencySources;
        parameters = {
          DelayMilliseconds: String(f.delayMs ?? 200),
          JitterMilliseconds: String(f.jitterMs ?? 0),
          Sources: f.from ? `<the private IPv4 addresses of ${peers.map((n) => n.name).join(', ')}>` : 'ALL',
          TrafficType: 'egress',
          DurationSeconds: seconds,
        };
        notes.push(
          f.from
            ? `${docs.latencySources} delays what the instance sends to the Sources (tc, egress): the runner puts the private addresses of ${f.from} (${peers.map((n) => n.name).join(', ') || 'no node on paper'}) there at injection; the local fault delays the replies on both sides' service ports of the link, FIS only ${f.target}'s side`
            : `${docs.latencySources} with Sources ALL, for the jitter that ${docs.latency} does not take`,
        );
      }
      break;
    }
    case 'blackhole': {
      const ports = [...new Set(nodesOf(f.resolved).map((n) => n.port))];
      if (ports.some((p) => p === undefined) || ports.length !== 1)
        return refuse(
          `${f.target} has ${ports.length > 1 ? 'several service ports' : 'no service port'} in its plan: ${docs.blackholePort} takes one port`,
          'target nodes of one system',
        );
      document = docs.blackholePort;
      parameters = {
        Protocol: 'tcp',
        Port: String(ports[0]),
        TrafficType: 'ingress',
        DurationSeconds: seconds,
      };
      notes.push(
        `${docs.blackholePort} drops the port's packets (iptables): a new connection is not even accepted (the client's connect times out), where the local blackhole accepts it and never answers; open connections go silent in both`,
      );
      break;
    }
    case 'stress': {
      const r = f.resource ?? 'cpu';
      document = docs[r];
      parameters =
        r === 'cpu'
          ? {
              CPU: String(f.workers ?? 0),
              LoadPercent: String(f.percent ?? 100),
              DurationSeconds: seconds,
            }
          : r === 'memory'
            ? { Workers: String(f.workers ?? 1), Percent: String(f.percent ?? 10), DurationSeconds: seconds }
            : { Workers: String(f.workers ?? 1), DurationSeconds: seconds };
      notes.push(
        `${document} runs stress-ng on the whole instance, where the local fault runs it in the node's cgroup (sharing the node's part of the machine)${r === 'io' ? `; ${docs.io} fills Percent (default 80) of the free space of the root volume with its files, not the data disk` : ''}`,
      );
      break;
    }
    default: {
      document = docs.diskFill;
      parameters = { Percent: String(f.percent ?? 95), DurationSeconds: seconds };
      notes.push(
        `${docs.diskFill} fills the instance's root volume, where the local fault fills the node's data disk: a data directory on its own EBS volume is not filled on AWS; FIS may not be able to cancel it if the disk reaches 100 %`,
      );
    }
  }
  const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
  const actions: Record<string, CreateExperimentTemplateActionInput> = {};
  for (const g of groups) {
    targets[g.name] = instanceTarget(g, opts.region);
    actions[`${f.action}-${g.name}`] = {
      actionId: 'aws:ssm:send-command',
      description: `${f.action} on ${g.nodes.map((n) => n.name).join(', ')} for ${d} ms`,
      parameters: {
        documentArn: `arn:${partitionOf(opts.region)}:ssm:${opts.region}::document/${document}`,
        documentParameters: JSON.stringify(parameters),
        duration: isoDuration(d),
      },
      targets: { Instances: g.name },
    };
  }
  notes.push(
    `${document} installs its dependencies unless InstallDependencies is False (Amazon Linux, Ubuntu, RHEL 8 and 9, CentOS 9 only): the instances need SSM Agent, an instance profile for Systems Manager and their package repositories; the action's duration and DurationSeconds are both ${isoDuration(d)}`,
  );
  return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
}

function noNodes(f: PlanFault, region: string): Outcome {
  return refuse(
    `${f.target} names no node of the stack on paper${f.resolved.kind === 'az' ? ` (nothing runs in ${zoneName(region, f.resolved.az)})` : ''}: an FIS target would select nothing`,
    'target a node, role or zone the stack has',
  );
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

/** The instance ids a call takes: what DescribeInstances returned for the group, or a random pick of them. */
function idsOf(g: Group): string {
  const count = /^COUNT\((\d+)\)$/.exec(g.selectionMode)?.[1];
  return count
    ? `<${count} of the InstanceIds DescribeInstances returned for ${g.name}, picked at random>`
    : `<the InstanceIds DescribeInstances returned for ${g.name}>`;
}

function stopStartCalls(groups: Group[], region: string, d: number): ApiCall[] {
  return [
    ...groups.flatMap((g): ApiCall[] => [
      describeInstancesCall(g, region),
      {
        when: '+0 ms',
        service: 'ec2',
        operation: 'StopInstances',
        input: { InstanceIds: [idsOf(g)], SkipOsShutdown: true },
      },
    ]),
    ...groups.map(
      (g): ApiCall => ({
        when: `+${d} ms (the revert), once the instances are stopped`,
        service: 'ec2',
        operation: 'StartInstances',
        input: { InstanceIds: [idsOf(g)] },
      }),
    ),
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
  if (!groups.length) return noNodes(f, opts.region);
  const missing = nodesOf(f.resolved).filter((n) => !nameOf(n));
  if (missing.length)
    return refuse(
      `${missing.map((n) => n.name).join(', ')} ${missing.length > 1 ? 'have' : 'has'} no ${which} process named in its plan`,
      `kill another process, or a node that has a ${which}`,
    );
  // killall matches one name; every group is of one system (each system names its own process).
  const signal = f.signal ?? 'SIGKILL';
  if (!(FIS_LIMITS.killProcessSignals as readonly string[]).includes(signal)) {
    notes.push(
      `AWSFIS-Run-Kill-Process sends only ${FIS_LIMITS.killProcessSignals.join(' or ')}; Systems Manager's AWS-RunShellScript sends ${signal} directly`,
      "SendCommand's targets cannot filter on a zone or a state: DescribeInstances picks the run's running instances (in the zone, where the target has one) and SendCommand names them by id",
    );
    return {
      kind: 'api-calls',
      calls: groups.flatMap((g): ApiCall[] => [
        describeInstancesCall(g, opts.region),
        {
          when: '+0 ms, once DescribeInstances has answered',
          service: 'ssm',
          operation: 'SendCommand',
          input: {
            DocumentName: 'AWS-RunShellScript',
            InstanceIds: [idsOf(g)],
            Parameters: {
              commands: [`pkill --signal ${signal.replace(/^SIG/, '')} -x ${nameOf(g.nodes[0]!)}`],
            },
          },
        },
      ]),
    };
  }
  const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
  const actions: Record<string, CreateExperimentTemplateActionInput> = {};
  for (const g of groups) {
    const processName = nameOf(g.nodes[0]!)!;
    targets[g.name] = instanceTarget(g, opts.region);
    actions[`kill-${which}-${g.name}`] = {
      actionId: 'aws:ssm:send-command',
      description: `${signal} to ${processName} on ${g.nodes.map((n) => n.name).join(', ')}`,
      parameters: {
        documentArn: `arn:${partitionOf(opts.region)}:ssm:${opts.region}::document/AWSFIS-Run-Kill-Process`,
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
      `killall matches by name: every process named ${[...new Set(groups.map((g) => nameOf(g.nodes[0]!)))].join(', ')} on the instance gets the signal, so the agent must be the only one`,
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
  if (!groups.length) return noNodes(f, opts.region);
  const noDisk = nodesOf(f.resolved).filter((n) => n.disks.length === 0);
  if (noDisk.length)
    return refuse(
      `${noDisk.map((n) => n.name).join(', ')} ${noDisk.length > 1 ? 'have' : 'has'} no data disk in its plan: nothing for aws:ebs:pause-volume-io to pause`,
      "target a node whose system keeps its data on its own disk (the system's spec says how)",
    );
  const scope = scopeOf(input, opts);
  // "The target volumes must be in the same Availability Zone" (#pause-volume-io): one target
  // and action per zone; nodes whose disks are named differently get their own. A role's node is
  // one volume, in whichever zone it is at injection.
  const parts = groups.flatMap((g) => {
    const disk = g.nodes[0]!.disks[0]!;
    if (g.nodes.some((n) => !n.disks.includes(disk)))
      return perNode(g.nodes, scope, g.live === true).map((x) => ({ g: x, disk: x.nodes[0]!.disks[0]! }));
    if (g.az || g.live || g.selectionMode !== 'ALL') return [{ g, disk }];
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
  const scope = scopeOf(input, opts);
  const subnets = `subnets-${az}`;
  const subnetNote = `a subnet's cut denies everything in it: the harness's own hosts (probes, the runner) belong in subnets not tagged ${TAGS.stack}/${TAGS.run} for the stack`;
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
      subnetNote,
      'quotas: 5 target subnets per action by default (adjustable), 30 subnets per VPC for this scope',
    );
    return {
      kind: 'fis-template',
      template: template(
        f,
        input,
        opts,
        { [subnets]: subnetTarget(scope, az, opts.region) },
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
  // (https://docs.aws.amazon.com/fis/latest/userguide/az-availability-scenario.html): it stops the
  // zone's instances with startInstancesAfterDuration and completeIfInstancesTerminated ("Stop
  // Instances", "Stop ASG Instances"), makes the Auto Scaling groups' launches in the zone fail
  // with aws:ec2:asg-insufficient-instance-capacity-error for as long ("Pause ASG Scaling"), and
  // denies all traffic of its subnets for 2 minutes ("Pause network connectivity"); its other
  // sub-actions (RDS, ElastiCache, EBS, ARC) have nothing to act on in this stack.
  const problem = durationProblem(
    d,
    FIS_LIMITS.startInstancesAfterDuration,
    'startInstancesAfterDuration of aws:ec2:stop-instances',
  );
  if (problem) return refuse(problem.reason, problem.hint);
  const cut = Math.min(d, FIS_LIMITS.azPowerNetworkCut);
  const groups = groupsOf(f.resolved, scope, input.nodes);
  if (!groups.length) return noNodes(f, opts.region);
  const scaled = (input.autoScaled ?? []).filter((s) => input.nodes.some((n) => n.system === s));
  const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
  const actions: Record<string, CreateExperimentTemplateActionInput> = {};
  for (const g of groups) {
    targets[g.name] = instanceTarget(g, opts.region);
    actions[`stop-${g.name}`] = {
      actionId: 'aws:ec2:stop-instances',
      description: `power off the ${g.nodes[0]!.system} instances of ${zone}, on again after ${d} ms`,
      parameters: { startInstancesAfterDuration: isoDuration(d), completeIfInstancesTerminated: 'true' },
      targets: { Instances: g.name },
    };
  }
  targets[subnets] = subnetTarget(scope, az, opts.region);
  actions[`disrupt-network-${az}`] = {
    actionId: 'aws:network:disrupt-connectivity',
    description: `deny all traffic of the subnets of ${zone} for ${cut} ms`,
    parameters: { scope: 'all', duration: isoDuration(cut) },
    targets: { Subnets: subnets },
  };
  for (const system of scaled) {
    targets[`group-${system}`] = groupTarget(scope, system);
    actions[`pause-launches-${system}-${az}`] = {
      actionId: 'aws:ec2:asg-insufficient-instance-capacity-error',
      description: `fail the launches of the ${system} Auto Scaling group in ${zone} for ${d} ms`,
      parameters: { availabilityZoneIdentifiers: zone, duration: isoDuration(d), percentage: '100' },
      targets: { AutoScalingGroups: `group-${system}` },
    };
  }
  notes.push(
    `as FIS's AZ power interruption scenario: the zone's instances stop and start again after ${d} ms with their volumes; its subnets deny all traffic ${cut < d ? `for the first ${cut} ms, the instances staying off after` : `for ${cut} ms, as long as the power loss`} (the scenario cuts for 2 minutes, so that clients time out and DNS moves off the zone)`,
    'completeIfInstancesTerminated: an instance an Auto Scaling group replaces (terminates) while it is stopped ends the action instead of failing it, as in the scenario',
    GRACEFUL.stop,
    subnetNote,
    'an instance takes tens of seconds to stop and to boot, which the duration does not include',
  );
  if (scaled.length)
    notes.push(
      `the Auto Scaling group of ${scaled.join(', ')} gets insufficient-capacity errors for every launch in ${zone} for ${d} ms (the scenario's Pause ASG Scaling): it cannot relaunch into the lost zone and replaces what it loses in the others, as the local group does`,
    );
  return { kind: 'fis-template', template: template(f, input, opts, targets, actions) };
}

/** What a template breaks of FIS's quotas and the API's limits, as a refusal. */
function quotaProblem(
  t: CreateExperimentTemplateRequest,
  opts: PlanOptions,
): { kind: 'refused'; reason: string; hint: string } | undefined {
  const actions = Object.keys(t.actions ?? {}).length;
  if (actions > FIS_LIMITS.parallelActionsPerExperiment)
    return {
      kind: 'refused',
      reason: `this fault needs ${actions} actions at once (one per node), and FIS runs at most ${FIS_LIMITS.parallelActionsPerExperiment} in parallel per experiment (quota L-EB051440, not adjustable)`,
      hint: 'target fewer nodes, or a whole zone (az:LETTER), which is one action per system',
    };
  if (opts.stopAlarmArns.length > FIS_LIMITS.stopConditionsPerTemplate)
    return {
      kind: 'refused',
      reason: `FIS takes at most ${FIS_LIMITS.stopConditionsPerTemplate} stop conditions per template (quota L-872EC72B); ${opts.stopAlarmArns.length} were given`,
      hint: 'give at most 5 --stop-alarm',
    };
  for (const [name, action] of Object.entries(t.actions ?? {})) {
    for (const [key, value] of Object.entries(action.parameters ?? {})) {
      if (value.length > FIS_LIMITS.parameterValueMax || !/\S/.test(value))
        return {
          kind: 'refused',
          reason: `parameter ${key} of action ${name} is not a valid FIS parameter value (1 to ${FIS_LIMITS.parameterValueMax} characters, not all white space); it has ${value.length}`,
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
