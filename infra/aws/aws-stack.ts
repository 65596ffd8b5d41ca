import { mkdirSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import {
  DescribeAutoScalingGroupsCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  GetConsoleOutputCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import {
  DescribeTargetHealthCommand,
  type DescribeTargetHealthCommandOutput,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import { type Clock, sleep } from '../../core/clock.ts';
import { InfraError, ScenarioError, errorMessage } from '../../core/errors.ts';
import type { TimelineEvent } from '../../core/events.ts';
import { FAULTS } from '../../core/faults.ts';
import type {
  AppliedFault,
  Endpoint,
  ExecResult,
  FaultRequest,
  LoadBalancerTarget,
  ManagedLoadBalancer,
  NodePlan,
  NodeRef,
  Stack,
  StackPlan,
} from '../../core/provider.ts';
import { awsError, awsErrorParts } from './aws-clients.ts';
import { type DirectContext, runPlannedCalls, sendCommand } from './direct.ts';
import { EXPERIMENT_SLACK_MS, FisExperiment, type FisInjection, mergeEntries } from './experiments.ts';
import { FaultSchedule, isLive, livePlan } from './fault-map.ts';
import { type PlanEntry, type PlanFault, type PlanInput, TAGS, revertAfter } from './fis-plan.ts';
import { FailureRatioPublisher, createStopAlarm } from './metrics.ts';
import { Route53Registry } from './route53-registry.ts';
import { type RemovalReport, type RunClients, leftoversOf, removeRun } from './teardown.ts';
import { logicalName } from './template.ts';
import { shellQuote } from './user-data.ts';

/**
 * A stack on AWS as the runner sees it (core/provider.ts `Stack`): the CloudFormation stack's
 * instances as nodes, found by their tags (chaos:run + chaos:node, or chaos:pool for a load
 * balancer's heads), the private Route 53 zone as the registry, faults as FIS experiments or
 * direct calls (fault-map.ts says how the runner's requests map onto experiments), SSM for the
 * runbook steps, and a teardown that leaves nothing tagged with the run.
 *
 * Where the harness reaches the nodes (`reach`): `vpc` (the default), the harness runs inside the
 * stack's VPC (a probe host in ProbeSecurityGroup) and uses the nodes' private addresses; this is
 * checked (the host must have an address in the VPC's CIDR) before any address is handed out, so
 * a harness outside never sends a packet to an address that is not the stack's. `routed`: the
 * private addresses are reachable some other way (peering, a VPN): no check. `public`: the
 * harness is outside (its CIDR was put in the template's security groups) and uses the nodes'
 * public addresses.
 */

const TARGET_STATES = new Set(['healthy', 'unhealthy', 'initial', 'draining', 'unused', 'unavailable']);

export type Reach = { kind: 'vpc' } | { kind: 'routed' } | { kind: 'public'; cidr: string };

export interface AwsStackContext {
  clients: RunClients;
  region: string;
  /** The harness's run id (the runner's), and the stack's (its tags'; another when the stack was kept from `infra up`). */
  runId: string;
  stackRunId: string;
  scenario: string;
  stackName: string;
  stackId: string;
  outputs: Record<string, string>;
  /** The stack is this run's to delete (not one kept from `infra up`, used with --stack). */
  owned: boolean;
  bucket: string;
  plan: PlanInput;
  stackPlan?: StackPlan | undefined;
  images?: Record<string, { image: string; source: string }> | undefined;
  reach: Reach;
  clock: Clock;
  onEvent: (event: TimelineEvent) => void;
  signal?: AbortSignal | undefined;
  /** Resolves a target selector live (the engine's resolver, which knows the systems). */
  resolve?: ((stack: Stack, selector: string) => Promise<NodeRef[]>) | undefined;
  log?: ((line: string) => void) | undefined;
}

interface Member {
  ref: NodeRef;
  instanceId: string;
  privateIp?: string | undefined;
  publicIp?: string | undefined;
  state?: string | undefined;
  group?: string | undefined;
  pooled: boolean;
}

/** One instant's experiment, shared by the faults of the instant. */
interface Instant {
  entries: PlanEntry[];
  experiment?: FisExperiment;
  started?: Promise<FisInjection>;
  /** How many actions of each fault have ended (from the experiment's events). */
  ended: Map<number, number>;
}

export class AwsStack implements Stack {
  readonly provider = 'aws';
  readonly runId: string;
  readonly images?: Record<string, { image: string; source: string }>;
  private readonly members = new Map<string, Member>();
  private readonly impaired = new Set<string>();
  private readonly instants = new Map<number, Instant>();
  private readonly schedule: FaultSchedule;
  private registryClient: Route53Registry | undefined;
  private vpcCidr: string | undefined;
  private publisher: FailureRatioPublisher | undefined;
  private alarmArn: string | undefined;
  private tearing: Promise<void> | undefined;
  private released = false;
  /** Every instance id ever found, with its node's name: a head gone from the group still drains under it. */
  private readonly namesById = new Map<string, string>();
  /** Instance ids a target group named that discovery was asked for once. */
  private readonly looked = new Set<string>();
  /**
   * The ALB and the heads' Auto Scaling group (core/provider.ts `ManagedLoadBalancer`), when the
   * stack has them (its outputs name a target group): the web tier reads its heads' health here.
   */
  readonly loadBalancer?: () => ManagedLoadBalancer;

  constructor(readonly ctx: AwsStackContext) {
    this.runId = ctx.runId;
    if (ctx.images) this.images = ctx.images;
    this.schedule = new FaultSchedule(ctx.plan);
    const arn = ctx.outputs.TargetGroupArn;
    if (arn) {
      const managed: ManagedLoadBalancer = { managedGroup: true, targets: () => this.targetHealth(arn) };
      this.loadBalancer = () => managed;
    }
  }

  get stackName(): string {
    return this.ctx.stackName;
  }

  get outputs(): Record<string, string> {
    return this.ctx.outputs;
  }

  // --- Discovery ------------------------------------------------------------------------------

  /** Finds the run's instances by their tags, and puts each node's A record in the zone. */
  async discover(): Promise<NodeRef[]> {
    const { clients, stackRunId, region } = this.ctx;
    const found: Instance[] = [];
    let NextToken: string | undefined;
    try {
      do {
        const page = await clients.ec2.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: `tag:${TAGS.run}`, Values: [stackRunId] },
              { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
            ],
            NextToken,
          }),
        );
        for (const r of page.Reservations ?? []) found.push(...(r.Instances ?? []));
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (err) {
      throw awsError(`EC2 DescribeInstances for run ${stackRunId}`, err);
    }
    const planned = new Map((this.ctx.stackPlan?.nodes ?? []).map((n) => [n.name, n]));
    for (const i of found) {
      const tag = (k: string) => i.Tags?.find((t) => t.Key === k)?.Value;
      const system = tag(TAGS.system);
      if (!system || !i.InstanceId) continue; // not a node of the stack (the harness's own host)
      const zone = i.Placement?.AvailabilityZone ?? '';
      const az = zone.startsWith(region) ? zone.slice(region.length) : zone;
      const pool = tag(TAGS.pool);
      // A pooled node names itself at boot (user-data.ts); until it has, its name is the one it will take.
      const name = tag(TAGS.node) ?? (pool ? `${system}-${az}-${i.InstanceId}` : undefined);
      if (!name) continue;
      const paper = planned.get(name) ?? this.ctx.plan.nodes.find((n) => n.name === name);
      const index =
        paper?.index ?? this.ctx.plan.nodes.filter((n) => n.system === system).length + this.members.size;
      this.namesById.set(i.InstanceId, name);
      this.members.set(name, {
        ref: { name, system, az, index },
        instanceId: i.InstanceId,
        privateIp: i.PrivateIpAddress,
        publicIp: i.PublicIpAddress,
        state: i.State?.Name,
        group: tag('aws:autoscaling:groupName'),
        pooled: pool !== undefined,
      });
    }
    await this.writeNodeRecords([...this.members.values()]);
    const vpc = this.ctx.outputs.VpcId;
    if (vpc) {
      const out = await clients.ec2.send(new DescribeVpcsCommand({ VpcIds: [vpc] })).catch(() => undefined);
      this.vpcCidr = out?.Vpcs?.[0]?.CidrBlock;
    }
    return this.nodes();
  }

  /**
   * `<node>.<zone>` A <private address>, TTL 1 s, for every node: what the registry's CNAMEs
   * point at. Each node upserts its own at boot too (user-data.ts); the harness writes them so
   * that they are there before any node has booted (and on an emulator where none boots).
   */
  private async writeNodeRecords(members: readonly Member[]): Promise<void> {
    const zoneId = this.ctx.outputs.HostedZoneId;
    const zone = this.ctx.outputs.HostedZoneName;
    const changes = members
      .filter((m) => m.privateIp)
      .map((m) => ({
        Action: 'UPSERT' as const,
        ResourceRecordSet: {
          Name: `${m.ref.name}.${zone}`,
          Type: 'A' as const,
          TTL: 1,
          ResourceRecords: [{ Value: m.privateIp! }],
        },
      }));
    if (!zoneId || !zone || !changes.length) return;
    try {
      await this.ctx.clients.r53.send(
        new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: changes } }),
      );
    } catch (err) {
      throw awsError(`Route 53 ChangeResourceRecordSets (the nodes' A records in ${zone})`, err);
    }
  }

  /**
   * For a run: the probes' failure ratios in CloudWatch (started first: the alarm counts missing
   * data as breaching), then the stop alarm the experiments stop on.
   */
  async startRun(): Promise<void> {
    const { clients, stackRunId, region, scenario } = this.ctx;
    this.publisher = new FailureRatioPublisher({
      runId: stackRunId,
      client: clients.cw,
      onFailure: (message) =>
        this.ctx.onEvent({
          t: this.ctx.clock.now(),
          source: 'aws',
          type: 'metric-put-failed',
          data: { message },
        }),
    });
    this.publisher.start();
    const alarm = await createStopAlarm(clients.cw, stackRunId, region, { scenario });
    this.alarmArn = alarm.arn;
    this.ctx.onEvent({
      t: this.ctx.clock.now(),
      source: 'aws',
      type: 'stop-alarm-created',
      data: { alarm: alarm.name, arn: alarm.arn },
    });
  }

  /** Counts probe outcomes for the failure-ratio metric (all probes together: the engine's counts). */
  recordOutcomes(delta: { ok: number; fail: number; unknown: number }): void {
    const p = this.publisher;
    if (!p) return;
    for (const outcome of ['ok', 'fail', 'unknown'] as const)
      for (let i = 0; i < delta[outcome]; i++) p.record({ probe: 'all', outcome });
  }

  /**
   * The target group's targets and their health (ELBv2 DescribeTargetHealth), each instance named
   * as its node. An instance not seen yet (a head the group launched since) is looked for once by
   * the run's tags (discover); one that is not found (terminated, still draining) keeps the name
   * it had, or is named by its instance id.
   */
  private async targetHealth(arn: string): Promise<LoadBalancerTarget[]> {
    let out: DescribeTargetHealthCommandOutput;
    try {
      out = await this.ctx.clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    } catch (err) {
      throw awsError(`ELBv2 DescribeTargetHealth of ${arn}`, err);
    }
    const described = (out.TargetHealthDescriptions ?? []).filter((d) => d.Target?.Id);
    const unknown = described
      .map((d) => d.Target!.Id!)
      .filter((id) => !this.namesById.has(id) && !this.looked.has(id));
    if (unknown.length) {
      for (const id of unknown) this.looked.add(id);
      await this.discover().catch(() => undefined);
    }
    return described.map((d) => {
      const id = d.Target!.Id!;
      const state = TARGET_STATES.has(d.TargetHealth?.State ?? '')
        ? (d.TargetHealth!.State as LoadBalancerTarget['state'])
        : 'unavailable';
      return {
        node: this.namesById.get(id) ?? id,
        state,
        ...(d.TargetHealth?.Reason ? { reason: d.TargetHealth.Reason } : {}),
      };
    });
  }

  // --- Stack ---------------------------------------------------------------------------------

  nodes(): NodeRef[] {
    return [...this.members.values()]
      .map((m) => m.ref)
      .sort((a, b) => a.system.localeCompare(b.system) || a.index - b.index);
  }

  private member(node: string): Member {
    const m = this.members.get(node);
    if (!m) throw new InfraError('NO_SUCH_NODE', `no node '${node}' in stack ${this.ctx.stackName}`);
    return m;
  }

  private portsOf(node: string): number[] {
    const plan = this.ctx.stackPlan?.nodes;
    const own = plan?.find((n) => n.name === node);
    const m = this.members.get(node);
    const like = own ?? plan?.find((n) => n.system === m?.ref.system && n.main.ports?.length);
    return like?.main.ports ?? [];
  }

  /** Whether this host is inside the stack's VPC: it has an IPv4 address in the VPC's CIDR. */
  insideVpc(): boolean {
    if (!this.vpcCidr) return false;
    const [base, bits] = this.vpcCidr.split('/') as [string, string];
    const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
    const num = (ip: string) => ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
    return Object.values(networkInterfaces())
      .flat()
      .some((a) => a?.family === 'IPv4' && (num(a.address) & mask) >>> 0 === (num(base) & mask) >>> 0);
  }

  /**
   * Throws HARNESS_OUTSIDE_VPC when the harness is to reach the nodes from inside the VPC and
   * this host is not in it: before the systems' readiness, which would otherwise try every node
   * until its own timeout. Called by the provider once the stack is up, for a run.
   */
  assertReachable(): void {
    const first = [...this.members.keys()][0];
    if (first !== undefined) this.hostOf(first);
  }

  endpoint(node: string, port?: number): Endpoint {
    // The node an ALB stands for (the web tier's load balancer): its DNS name and listener, an
    // internal ALB reached through the VPC's resolver, an internet-facing one (--probe-from)
    // from outside.
    const { LoadBalancerNode, LoadBalancerDnsName, LoadBalancerPort } = this.ctx.outputs;
    if (node === LoadBalancerNode && LoadBalancerDnsName)
      return { host: LoadBalancerDnsName, port: Number(LoadBalancerPort) || 80 };
    const p = port ?? this.portsOf(node)[0];
    if (p === undefined) throw new InfraError('NO_SUCH_NODE', `node '${node}' has no service port`);
    return { host: this.hostOf(node), port: p };
  }

  /** The address the harness reaches a node at, as `reach` says; checked for `vpc`. */
  private hostOf(node: string): string {
    const m = this.member(node);
    const { reach } = this.ctx;
    if (reach.kind === 'public') {
      if (!m.publicIp)
        throw new InfraError(
          'NO_PUBLIC_ADDRESS',
          `${node} (${m.instanceId}) has no public address: --probe-from ${reach.cidr} reaches the nodes from outside the VPC, through their public addresses`,
          {
            hint: 'its subnet gives one at launch (MapPublicIpOnLaunch); or run the harness on a probe host in the VPC: `chaos infra up`, then --stack NAME there',
          },
        );
      return m.publicIp;
    }
    if (reach.kind === 'vpc' && !this.insideVpc())
      throw new InfraError(
        'HARNESS_OUTSIDE_VPC',
        `${node} is at ${m.privateIp ?? '?'} in the stack's VPC (${this.ctx.outputs.VpcId ?? '?'}, ${this.vpcCidr ?? '?'}), and this host has no address in it: the systems' readiness and the probes cannot reach the nodes from here`,
        {
          hint: `run the harness on a probe host in the VPC (security group ${this.ctx.outputs.ProbeSecurityGroupId ?? 'ProbeSecurityGroupId'}), or pass --probe-from <your public IP>/32 (or --probe-from routed over peering or a VPN); \`chaos infra down ${this.ctx.stackName}\` removes a stack left up`,
        },
      );
    if (!m.privateIp)
      throw new InfraError('NO_SUCH_NODE', `${node} (${m.instanceId}) has no private address yet`);
    return m.privateIp;
  }

  registry(): Route53Registry {
    const { HostedZoneId, HostedZoneName } = this.ctx.outputs;
    if (!HostedZoneId || !HostedZoneName)
      throw new InfraError('NO_REGISTRY', `stack ${this.ctx.stackName} has no hosted zone in its outputs`);
    this.registryClient ??= new Route53Registry({
      zoneId: HostedZoneId,
      domain: HostedZoneName,
      region: this.ctx.region,
    });
    return this.registryClient;
  }

  address(node: string): string {
    const ip = this.member(node).privateIp;
    if (!ip) throw new InfraError('NO_SUCH_NODE', `node '${node}' has no address yet`);
    return ip;
  }

  async running(node: string): Promise<boolean> {
    const m = this.members.get(node);
    if (!m) return false;
    const out = await this.ctx.clients.ec2
      .send(new DescribeInstancesCommand({ InstanceIds: [m.instanceId] }))
      .catch(() => undefined);
    m.state = out?.Reservations?.[0]?.Instances?.[0]?.State?.Name;
    return m.state === 'running';
  }

  impairedZones(): ReadonlySet<string> {
    return this.impaired;
  }

  /**
   * A node's own Auto Scaling group (of one) brought back to one instance, and the instance found
   * once it is in service. A node without a group of its own (a load balancer's heads: their group
   * replaces them itself) cannot be launched by name.
   */
  async launch(plan: NodePlan): Promise<NodeRef> {
    if (this.impaired.has(plan.az))
      throw new InfraError(
        'INSUFFICIENT_CAPACITY',
        `cannot launch ${plan.name} in AZ ${plan.az}: the zone is lost (a drop-az holds it)`,
      );
    const output = this.ctx.outputs[`Asg${logicalName(plan.name)}Name`];
    if (!output)
      throw new InfraError(
        'AWS_LAUNCH_UNSUPPORTED',
        `${plan.name} has no Auto Scaling group of its own in stack ${this.ctx.stackName}: on AWS a group launches its instances itself`,
      );
    const as = this.ctx.clients.autoScaling;
    await as.send(
      new UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: output,
        MinSize: 1,
        MaxSize: 1,
        DesiredCapacity: 1,
      }),
    );
    const deadline = Date.now() + 20 * 60_000;
    for (;;) {
      const g = (await as.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [output] })))
        .AutoScalingGroups?.[0];
      if (g?.Instances?.some((i) => i.LifecycleState === 'InService')) break;
      if (Date.now() > deadline)
        throw new InfraError(
          'LAUNCH_TIMEOUT',
          `${plan.name}'s group ${output} has no instance in service after 20 minutes`,
        );
      await sleep(5000, this.ctx.signal);
    }
    await this.discover();
    return this.member(plan.name).ref;
  }

  /** Removes a node for good: its group shrinks by it (TerminateInstanceInAutoScalingGroup). */
  async terminate(node: string): Promise<void> {
    const m = this.members.get(node);
    if (!m) return;
    const as = this.ctx.clients.autoScaling;
    if (m.group) {
      const g = (await as.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [m.group] })))
        .AutoScalingGroups?.[0];
      if (g && (g.MinSize ?? 0) >= (g.DesiredCapacity ?? 0))
        await as.send(
          new UpdateAutoScalingGroupCommand({
            AutoScalingGroupName: m.group,
            MinSize: Math.max(0, (g.DesiredCapacity ?? 1) - 1),
          }),
        );
    }
    try {
      await as.send(
        new TerminateInstanceInAutoScalingGroupCommand({
          InstanceId: m.instanceId,
          ShouldDecrementDesiredCapacity: true,
        }),
      );
    } catch (err) {
      throw awsError(`Auto Scaling TerminateInstanceInAutoScalingGroup ${m.instanceId} (${node})`, err);
    }
    this.members.delete(node);
    this.ctx.onEvent({
      t: this.ctx.clock.now(),
      source: 'aws',
      type: 'autoscaling-terminate-instance',
      node,
      data: { instanceId: m.instanceId, group: m.group },
    });
  }

  /**
   * A runbook step: Systems Manager's AWS-RunShellScript runs `docker exec` into the node's main
   * container, and the harness waits for it (at most 5 minutes). Its output is what SSM keeps of
   * it: the first 24,000 characters of each stream.
   */
  async exec(node: string, command: string[]): Promise<ExecResult> {
    const m = this.member(node);
    const container = `chaos-${this.ctx.stackRunId}-${node}`;
    const line = ['docker', 'exec', container, ...command].map(shellQuote).join(' ');
    const ctx = this.directContext([]);
    const sent = await sendCommand(ctx, [{ instanceId: m.instanceId, node }], {
      documentName: 'AWS-RunShellScript',
      parameters: { commands: [line] },
      comment: `chaos ${this.ctx.stackRunId} exec on ${node}`,
      timeoutSeconds: 300,
    });
    const CommandId = sent.ids?.[0];
    if (!CommandId) throw new InfraError('SSM_NO_COMMAND', `SSM took the command for ${node} without an id`);
    const deadline = Date.now() + 5 * 60_000;
    for (let delay = 250; ; delay = Math.min(2000, delay * 2)) {
      try {
        const inv = await this.ctx.clients.ssm.send(
          new GetCommandInvocationCommand({ CommandId, InstanceId: m.instanceId }),
        );
        if (!['Pending', 'InProgress', 'Delayed'].includes(inv.Status ?? ''))
          return {
            exitCode: inv.ResponseCode ?? (inv.Status === 'Success' ? 0 : -1),
            output: `${inv.StandardOutputContent ?? ''}${inv.StandardErrorContent ?? ''}`,
          };
      } catch (err) {
        if (awsErrorParts(err).code !== 'InvocationDoesNotExist')
          throw awsError(`SSM GetCommandInvocation ${CommandId} on ${node}`, err);
      }
      if (Date.now() > deadline)
        throw new InfraError(
          'SSM_TIMEOUT',
          `the command on ${node} (SSM ${CommandId}) did not finish in 5 minutes`,
        );
      await sleep(delay);
    }
  }

  // --- Faults --------------------------------------------------------------------------------

  private directContext(faults: number[]): DirectContext {
    const { clients, clock, onEvent, stackRunId } = this.ctx;
    return {
      ec2: clients.ec2,
      autoScaling: clients.autoScaling,
      ssm: clients.ssm,
      clock,
      emit: onEvent,
      runId: stackRunId,
      faults,
    };
  }

  private planOptions() {
    return {
      region: this.ctx.region,
      runId: this.ctx.stackRunId,
      roleArn: this.ctx.outputs.FisRoleArn ?? '',
      stopAlarmArns: this.alarmArn ? [this.alarmArn] : [],
    };
  }

  /**
   * The instant's plan, live: made by its first request (its own nodes), with every other live
   * fault of the instant resolved now through the engine's resolver (fault-map.ts).
   */
  private async instantOf(f: PlanFault, req: FaultRequest): Promise<Instant> {
    const known = this.instants.get(f.at);
    if (known) return known;
    const targets = new Map<number, { nodes: readonly NodeRef[]; peers?: readonly NodeRef[] | undefined }>();
    targets.set(f.index, { nodes: req.nodes, peers: req.peers });
    for (const g of this.schedule.at(f.at)) {
      if (g.index <= f.index || !isLive(g) || !this.ctx.resolve) continue;
      const nodes = await this.ctx.resolve(this, g.target).catch(() => undefined);
      if (nodes?.length) targets.set(g.index, { nodes });
    }
    const skipped = new Set(this.schedule.skippedBefore(f.at, f.index));
    const instant: Instant = {
      entries: livePlan(this.ctx.plan, f.at, targets, this.planOptions()).filter(
        (e) => !skipped.has(e.fault),
      ),
      ended: new Map(),
    };
    this.instants.set(f.at, instant);
    return instant;
  }

  async inject(req: FaultRequest): Promise<AppliedFault> {
    const f = this.schedule.match(req);
    const instant = await this.instantOf(f, req);
    const entry = instant.entries.find((e) => e.fault === f.index);
    const names = req.nodes.map((n) => n.name);
    if (!entry || entry.kind === 'runbook-step')
      throw new InfraError(
        'AWS_UNPLANNED_FAULT',
        `fault #${f.index} (${f.action} ${f.target}) has no AWS plan`,
      );
    if (entry.kind === 'refused')
      throw new ScenarioError(
        'FAULT_UNSUPPORTED',
        `fault #${f.index} (${f.action} ${f.target} on ${names.join(', ')}): not on AWS as it stands now: ${entry.reason}`,
        { hint: entry.hint },
      );
    const applied =
      entry.kind === 'api-calls'
        ? await this.injectDirect(entry, f, names)
        : await this.injectFis(instant, f, names);
    if (req.action === 'drop-az' && req.az) {
      const az = req.az;
      this.impaired.add(az);
      const revert = applied.revert;
      return {
        ...applied,
        revert: async () => {
          try {
            await revert?.();
          } finally {
            this.impaired.delete(az);
          }
        },
      };
    }
    return applied;
  }

  private async injectDirect(
    entry: Extract<PlanEntry, { kind: 'api-calls' }>,
    f: PlanFault,
    names: string[],
  ): Promise<AppliedFault> {
    const out = await runPlannedCalls(this.directContext([f.index]), entry);
    const method = `direct: ${out.calls.map((c) => `${c.operation} ${c.instanceIds.join(',')}`).join('; ')}`;
    return {
      action: f.action as FaultRequest['action'],
      nodes: names,
      method,
      ...(out.revert
        ? {
            revert: async () => {
              await out.revert!();
            },
          }
        : {}),
    };
  }

  private async injectFis(instant: Instant, f: PlanFault, names: string[]): Promise<AppliedFault> {
    const joined = instant.started !== undefined;
    if (!instant.started) {
      const fisEntries = instant.entries.filter(
        (e): e is Extract<PlanEntry, { kind: 'fis-template' }> => e.kind === 'fis-template',
      );
      const merged = mergeEntries(fisEntries, {
        runId: this.ctx.stackRunId,
        roleArn: this.ctx.outputs.FisRoleArn,
        stopAlarmArns: this.alarmArn ? [this.alarmArn] : [],
      });
      const experiment = new FisExperiment(merged, {
        fis: this.ctx.clients.fis,
        clock: this.ctx.clock,
        signal: this.ctx.signal,
        emit: (e) => {
          if (e.type === 'fis-action-ended' && typeof e.data?.fault === 'number')
            instant.ended.set(e.data.fault, (instant.ended.get(e.data.fault) ?? 0) + 1);
          this.ctx.onEvent(e);
        },
      });
      instant.experiment = experiment;
      instant.started = experiment.start().then(() => experiment.applied());
      instant.started.catch(() => {});
    }
    const injection = await instant.started;
    const exp = instant.experiment!;
    const own = injection.faults.find((x) => x.fault === f.index);
    const actions = (own?.actions ?? []).map((a) => a.actionId ?? a.name);
    const others = exp.merged.faults.filter((x) => x !== f.index);
    const method = `FIS experiment ${injection.experimentId} (${[...new Set(actions)].join(', ') || 'no action'}${others.length ? `; one experiment with fault${others.length > 1 ? 's' : ''} ${others.map((x) => `#${x}`).join(', ')}` : ''}${joined ? ', joined' : ''}): its actions started at +${Math.round(own?.tStarted ?? injection.tStarted)} ms on the run's clock, ${Math.round(injection.initMs)} ms after StartExperiment`;
    const planned = instant.entries.find((e) => e.fault === f.index)?.nodes ?? [];
    const differs = [...planned].sort().join() !== [...names].sort().join();
    const note = differs
      ? `; FIS targets ${planned.join(', ') || 'no node'}, as resolved when the instant's experiment started`
      : '';
    const revertible = FAULTS[f.action as keyof typeof FAULTS]?.revertible ?? false;
    return {
      action: f.action as FaultRequest['action'],
      nodes: names,
      method: method + note,
      ...(revertible ? { revert: () => this.revertFis(instant, f, injection) } : {}),
    };
  }

  /**
   * A FIS fault's revert. FIS ends each action by itself after its duration (and starts stopped
   * instances, restores network ACLs: its post actions), so a revert that falls due then waits
   * for the fault's actions to end (at most the slack FIS is given). A revert before that (the
   * run is stopping, or reverting early) stops the experiment: StopExperiment ends every fault of
   * the instant at once, and FIS still completes each action's post actions.
   */
  private async revertFis(instant: Instant, f: PlanFault, injection: FisInjection): Promise<void> {
    const exp = instant.experiment!;
    const actionsOfFault = Object.values(exp.merged.actionFault).filter((x) => x === f.index).length;
    const duration = f.durationMs ?? revertAfter(f, this.ctx.plan.faults, this.ctx.plan.observeMs) ?? 0;
    const start = injection.faults.find((x) => x.fault === f.index)?.tStarted ?? injection.tStarted;
    const plannedEnd = start + duration;
    const { clock } = this.ctx;
    // The runner reverts `duration` after its injection, which came before StartExperiment: a
    // revert from then on is on time (FIS ends the actions itself, initMs later); one before it
    // (an abort, an error) is early.
    const early = this.ctx.signal?.aborted || clock.now() < injection.tStartCall + duration - 2000;
    const over = exp.finished().then(
      () => undefined,
      (err: unknown) => err,
    );
    if (early) await exp.stop(`fault #${f.index} reverted by the run before its FIS duration ended`);
    const bound = Math.max(0, plannedEnd - clock.now()) + EXPERIMENT_SLACK_MS;
    const deadline = clock.now() + bound;
    for (;;) {
      const done = (instant.ended.get(f.index) ?? 0) >= actionsOfFault;
      const settled = await Promise.race([over.then((e) => ({ e })), sleep(250).then(() => undefined)]);
      if (settled) {
        if (settled.e) throw settled.e;
        return;
      }
      if (done && !early) return;
      if (clock.now() > deadline) {
        await exp.stop(`fault #${f.index}'s actions had not ended ${bound} ms after they were due`);
        const e = await over;
        if (e) throw e;
        return;
      }
    }
  }

  // --- Logs, release, teardown ----------------------------------------------------------------

  /** Each instance's console output (EC2 GetConsoleOutput: the boot and the node's own lines), best effort. */
  async collectLogs(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'aws-stack.json'),
      `${JSON.stringify(
        {
          stack: this.ctx.stackName,
          stackId: this.ctx.stackId,
          region: this.ctx.region,
          runId: this.ctx.stackRunId,
          outputs: this.ctx.outputs,
          nodes: [...this.members.values()].map((m) => ({
            ...m.ref,
            instanceId: m.instanceId,
            privateIp: m.privateIp,
          })),
          experiments: [...this.instants.values()].flatMap((i) =>
            i.experiment
              ? [
                  {
                    templateId: i.experiment.templateId,
                    experimentId: i.experiment.experimentId,
                    faults: i.experiment.merged.faults,
                  },
                ]
              : [],
          ),
        },
        null,
        2,
      )}\n`,
    );
    for (const m of this.members.values()) {
      try {
        const out = await this.ctx.clients.ec2.send(
          new GetConsoleOutputCommand({ InstanceId: m.instanceId, Latest: true }),
        );
        const text = out.Output
          ? Buffer.from(out.Output, 'base64').toString('utf8')
          : '(no console output yet)\n';
        writeFileSync(join(dir, `${m.ref.name}.console.log`), text);
      } catch (err) {
        writeFileSync(
          join(dir, `${m.ref.name}.console.log`),
          `(console output unavailable: ${errorMessage(err)})\n`,
        );
      }
    }
  }

  release(): void {
    this.released = true;
    void this.publisher?.stop();
  }

  /**
   * Everything the run made, removed: its experiments stopped and their templates deleted, the
   * metric publisher stopped and the alarm deleted; for a stack of its own, the registry's
   * records and the nodes' A records, the stack (waited for), what CloudFormation left, the
   * assets. A stack kept from `infra up` (--stack) stays. Then nothing tagged with the run may be
   * left: what is, is the error. Safe to call more than once.
   */
  teardown(): Promise<void> {
    this.tearing ??= this.tear({});
    return this.tearing;
  }

  /** The forced path: no waiting for experiments to wind down; the stack's deletion waited for a minute at most. */
  forceTeardown(clients: RunClients): Promise<void> {
    return this.tear({ force: true, clients });
  }

  private async tear(opts: { force?: boolean; clients?: RunClients }): Promise<void> {
    const problems: string[] = [];
    const log = this.ctx.log;
    const clients = opts.clients ?? this.ctx.clients;
    if (!opts.force)
      for (const i of this.instants.values())
        await i.experiment?.cleanup().catch((err) => problems.push(errorMessage(err)));
    await this.publisher?.stop().catch(() => {});
    if (this.ctx.owned && this.registryClient) await this.registryClient.clear().catch(() => {});
    const report: RemovalReport = await removeRun(
      clients,
      {
        runId: this.ctx.stackRunId,
        stack: this.ctx.stackId,
        zoneId: this.ctx.outputs.HostedZoneId,
        zoneName: this.ctx.outputs.HostedZoneName,
        bucket: this.ctx.bucket,
      },
      { stack: this.ctx.owned, log, ...(opts.force ? { timeoutMs: 60_000, pollMs: 2000 } : {}) },
    );
    problems.push(...report.problems);
    if (this.ctx.owned && !problems.length && !opts.force) {
      const left = await leftoversOf(clients, {
        runId: this.ctx.stackRunId,
        zoneId: this.ctx.outputs.HostedZoneId,
        bucket: this.ctx.bucket,
      }).catch((err) => [`(could not list what is left: ${errorMessage(err)})`]);
      if (left.length) problems.push(`still tagged with run ${this.ctx.stackRunId}: ${left.join(', ')}`);
    }
    if (!opts.clients) this.ctx.clients.destroy();
    if (problems.length)
      throw new InfraError('AWS_TEARDOWN_INCOMPLETE', `stack ${this.ctx.stackName}: ${problems.join('; ')}`, {
        hint: `\`chaos infra down ${this.ctx.stackName}\` tries again, and says what is left`,
      });
  }

  get wasReleased(): boolean {
    return this.released;
  }
}
