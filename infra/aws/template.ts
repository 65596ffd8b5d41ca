import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { ScenarioError, UsageError } from '../../core/errors.ts';
import type { ImageRef, NodePlan, StackPlan } from '../../core/provider.ts';
import { zonePlan } from '../local/zones.ts';
import { TAGS, partitionOf, zoneName } from './fis-plan.ts';
import {
  type Asset,
  USER_DATA_LIMIT,
  type UserDataContext,
  type UserDataSettings,
  assertUserDataSize,
  stackAssets,
  userDataParts,
} from './user-data.ts';

/**
 * A run's StackPlan as ONE CloudFormation template: pure and deterministic (the same input gives
 * the same template, byte for byte). It knows no system by name: what is a load balancer, and
 * how it checks its targets, comes in `loadBalancer` (engine/ or the provider fills it from the
 * web system's plan and profile).
 *
 * What it holds:
 * - the network, this stack's alone: a VPC 10.K.0.0/16 with one /24 subnet per zone as
 *   infra/local/zones.ts lays zones out (zone `a` is 10.K.1.0/24), an internet gateway and a
 *   route so instances can install Docker and pull images (a NAT gateway, with instances
 *   without public addresses, is the production choice: it costs by the hour, and every
 *   instance's security group already accepts nothing from outside the VPC), DHCP options that
 *   make the stack's private zone the search domain (so `pg-a` resolves as `pg-a.<zone>`);
 * - security groups: nodes accept any traffic from the VPC's CIDR only (and the probe host's
 *   CIDR, when the harness runs outside the VPC); the load balancer accepts HTTP from the probe
 *   host's security group (a harness inside the VPC) or its CIDR;
 * - each node an Auto Scaling group of exactly one instance in its zone's subnet, from its own
 *   launch template (Amazon Linux 2023 from SSM's public parameter, IMDSv2 required, a gp3
 *   encrypted data volume per disk of the plan, deleted with the instance), whose user data
 *   (user-data.ts) runs the node's containers. A creation policy waits for the node's
 *   `cfn-signal` (ready), and a node that comes `after` others depends on their groups: the
 *   order the local provider keeps;
 * - the web tier, when the plan has a load balancer node: an Application Load Balancer over the
 *   stack's subnets, a target group whose health check is the profile's, and ONE Auto Scaling
 *   group over the heads' zones (desired = heads) registered with it. The plan's load balancer
 *   node (HAProxy) is not started: the ALB stands for it;
 * - a shared volume (a WAL archive every node mounts) as an encrypted EFS file system with a
 *   mount target per subnet;
 * - a private Route 53 hosted zone `<stack>.chaos.internal` on the VPC, for the registry's
 *   records (the plan's registry container is not started: the zone is the registry);
 * - an instance role (SSM, read the run's assets, change the zone's records, tag its own data
 *   volume) and the FIS experiment role (trusted by fis.amazonaws.com from this account's
 *   experiments only, allowed the actions the scenario uses on the run's resources only);
 * - every resource that takes tags tagged chaos:stack (the scenario), chaos:run, and
 *   chaos:system / chaos:node / chaos:pool where they apply (fis-plan.ts, TAGS), so that every
 *   FIS target and direct call that selects by them finds what it should and nothing else.
 *
 * What it refuses (a thrown error that says what and how to fix it): a region or zone letter
 * that is not in the lists given, user data over 16 KB, a record TTL under a second or not in
 * whole seconds (Route 53 TTLs are whole seconds), a health check an ALB cannot do, and plans
 * it cannot write safely (names, paths, images without a reference).
 */

/** A load balancer's health checking, as systems/web/lb.ts's LbProfile has it (in ms). */
export interface HealthCheckProfile {
  name?: string;
  check: { intervalMs: number; fall: number; rise: number; timeoutMs: number };
  deregistrationDelayMs: number;
  /** The server timeout becomes the ALB's idle timeout, when given. */
  timeouts?: { serverMs?: number };
}

export interface LoadBalancerInput {
  /** The plan's load balancer node (`web-lb`): an ALB stands for it. */
  node: string;
  /** The heads' health check path (`/health`). */
  healthPath: string;
  profile: HealthCheckProfile;
  /** The chaos:pool tag of the heads' instances (`web-head`: fis-plan's `<system>-<role>`). */
  pool: string;
  /** The nodes behind it; by default the nodes its plan comes `after`. */
  members?: readonly string[];
  /** How a target is picked (systems/web/lb.ts's LbBalance); round-robin, the ALB's default, when absent. */
  balance?: 'round-robin' | 'least-outstanding';
}

export interface TemplateInput {
  plan: StackPlan;
  runId: string;
  /** The scenario's name: the chaos:stack tag, as fis-plan's targets select by it. */
  scenario: string;
  /** The CloudFormation stack's name; the private zone is `<stackName>.chaos.internal`. */
  stackName: string;
  region: string;
  /**
   * The zones the region has, as EC2's DescribeAvailabilityZones names them (`us-east-1a`, or
   * the letters): the stack's zone letters must be among them.
   */
  zonesInRegion: readonly string[];
  /** The regions the account can use (DescribeRegions), when known: the region must be one. */
  regions?: readonly string[];
  /** The zone letters the stack uses (`a`, `b`, `c` -> `${region}a`...). */
  azs: readonly string[];
  /** Logical image -> image reference (`redis` -> `redis:7`); on AWS, registry names. */
  images: Readonly<Record<string, string>>;
  /** The assets bucket: the AssetsBucket parameter's default (none: it must be passed at deploy). */
  assetsBucket?: string;
  /** Every node's instance type (default t3.small; an arm64 type such as t4g.small gets the arm64 AMI). */
  instanceType?: string;
  /** The FIS action ids the scenario's experiments use (`aws:ec2:stop-instances`...): the FIS role's policy. */
  fisActions?: readonly string[];
  loadBalancer?: LoadBalancerInput;
  /** Where the harness (its probes) runs when outside the VPC: its CIDR (a /32). Inside, it uses ProbeSecurityGroup. */
  probeCidr?: string;
  /** K in 10.K.0.0/16 (default: from the run id). */
  vpcOctet?: number;
  /** The first data disk's size in GiB (each further disk of a node one more, so sizes tell them apart). */
  dataVolumeGiB?: number;
  /** How long each container may take to be ready at boot (s). */
  readyTimeoutSec?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation values are any JSON
type Json = any;
export interface CfnTemplate {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Metadata: Record<string, Json>;
  Parameters: Record<string, Json>;
  Rules: Record<string, Json>;
  Resources: Record<
    string,
    {
      Type: string;
      Properties?: Json;
      DependsOn?: string[];
      CreationPolicy?: Json;
      DeletionPolicy?: string;
      UpdateReplacePolicy?: string;
    }
  >;
  Outputs: Record<string, { Description: string; Value: Json }>;
}

export const AL2023_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
export const AL2023_ARM64_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';
export const DEFAULT_INSTANCE_TYPE = 't3.small';
/** How long CloudFormation waits for a node's cfn-signal (install Docker, pull, start, ready). */
const SIGNAL_TIMEOUT = 'PT20M';
const ROOT_VOLUME_GIB = 16;

/** The FIS actions the FIS role can be given permissions for, and what each needs (FIS actions reference). */
export const FIS_ACTION_PERMISSIONS = [
  'aws:ec2:stop-instances',
  'aws:ec2:terminate-instances',
  'aws:ec2:reboot-instances',
  'aws:ebs:pause-volume-io',
  'aws:ssm:send-command',
  'aws:network:disrupt-connectivity',
  'aws:ec2:asg-insufficient-instance-capacity-error',
  'aws:fis:wait',
] as const;

const refuse = (code: string, message: string, hint: string): never => {
  throw new ScenarioError(code, message, { hint });
};
const refuseUsage = (code: string, message: string, hint: string): never => {
  throw new UsageError(code, message, { hint });
};

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** `pg-a` -> `PgA`: a CloudFormation logical id part. */
export function logicalName(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}

/** The private hosted zone's name. */
export function zoneNameOf(stackName: string): string {
  return `${stackName.toLowerCase()}.chaos.internal`;
}

interface Tag {
  Key: string;
  Value: string;
}
const tagList = (tags: Record<string, string>): Tag[] =>
  Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([Key, Value]) => ({ Key, Value }));

/** What each kind of resource is tagged with. */
function tagger(input: TemplateInput) {
  const scope = { [TAGS.stack]: input.scenario, [TAGS.run]: input.runId };
  return (extra: Record<string, string> = {}, name?: string): Tag[] =>
    tagList({ ...scope, ...(name ? { Name: `${input.stackName}-${name}` } : {}), ...extra });
}

const ref = (id: string) => ({ Ref: id });
const getAtt = (id: string, attr: string) => ({ 'Fn::GetAtt': [id, attr] });
const sub = (s: string) => ({ 'Fn::Sub': s });

/** Checks the region and zones, and returns each zone letter's full name. */
function checkZones(input: TemplateInput): void {
  const { region } = input;
  if (!REGION.test(region))
    refuseUsage(
      'AWS_REGION',
      `'${region}' is not an AWS region name`,
      'a region such as us-east-1 or eu-west-1',
    );
  if (input.regions && !input.regions.includes(region))
    refuseUsage(
      'AWS_REGION',
      `region ${region} is not one of the account's regions (${input.regions.join(', ')})`,
      'pick one of them, or enable the region for the account',
    );
  const letters = new Set<string>();
  for (const z of input.zonesInRegion) {
    if (/^[a-z]$/.test(z)) letters.add(z);
    else if (z.startsWith(region) && /^[a-z]$/.test(z.slice(region.length)))
      letters.add(z.slice(region.length));
    else
      refuseUsage(
        'AWS_ZONE',
        `zone '${z}' is not a zone of region ${region}`,
        `zones of ${region} are ${region}a, ${region}b...`,
      );
  }
  if (input.azs.length === 0)
    refuse('AWS_ZONE', 'the stack uses no zone', 'give the stack one zone at least');
  for (const az of input.azs)
    if (!letters.has(az))
      refuseUsage(
        'AWS_ZONE',
        `zone ${zoneName(region, az)} (letter '${az}') does not exist in ${region}: it has ${[...letters]
          .sort()
          .map((l) => zoneName(region, l))
          .join(', ')}`,
        `use the zone letters ${region} has in the scenario's \`azs\``,
      );
}

/**
 * Refuses records Route 53 cannot keep: a TTL setting in a container's environment (`*_TTL_MS`)
 * under a second, or not in whole seconds.
 */
function checkTtls(nodes: readonly NodePlan[]): void {
  const bad: string[] = [];
  for (const n of nodes)
    for (const c of [n.main, ...n.sidecars])
      for (const [k, v] of Object.entries(c.env ?? {}))
        if (/TTL_?MS$/i.test(k)) {
          const ms = Number(v);
          if (!Number.isFinite(ms) || ms < 1000 || ms % 1000 !== 0)
            bad.push(`${k}=${v} (${n.name}'s ${c.part})`);
        }
  if (bad.length)
    refuse(
      'AWS_RECORD_TTL',
      `Route 53 keeps record TTLs in whole seconds, 1 s at least; the plan asks ${[...new Set(bad)].join(', ')}`,
      "raise the system's record TTL in the scenario's stack (its ...RecordTtlMs field) to a whole number of seconds, 1000 ms or more, for AWS",
    );
}

/** An ALB target group's health check from a profile, or a refusal that names the setting. */
function healthCheck(lb: LoadBalancerInput) {
  const p = lb.profile;
  const c = p.check;
  const name = p.name ? `load balancer profile '${p.name}'` : 'the load balancer profile';
  const seconds = (ms: number, what: string, min: number, max: number, alb: string): number => {
    if (!Number.isInteger(ms / 1000) || ms / 1000 < min || ms / 1000 > max)
      refuse(
        'AWS_HEALTH_CHECK',
        `${name} has ${what} ${ms} ms; an ALB target group's ${alb} is ${min} to ${max} s in whole seconds`,
        "use a profile an ALB can do on AWS (the web system's lbProfile: alb-defaults)",
      );
    return ms / 1000;
  };
  const count = (n: number, what: string, alb: string): number => {
    if (!Number.isInteger(n) || n < 2 || n > 10)
      refuse(
        'AWS_HEALTH_CHECK',
        `${name} has ${what} ${n}; an ALB target group's ${alb} is 2 to 10`,
        "use a profile an ALB can do on AWS (the web system's lbProfile: alb-defaults)",
      );
    return n;
  };
  const interval = seconds(c.intervalMs, 'a check interval of', 5, 300, 'HealthCheckIntervalSeconds');
  const timeout = seconds(c.timeoutMs, 'a check timeout of', 2, 120, 'HealthCheckTimeoutSeconds');
  if (timeout >= interval)
    refuse(
      'AWS_HEALTH_CHECK',
      `${name}'s check timeout (${c.timeoutMs} ms) is not under its interval (${c.intervalMs} ms), as an ALB needs`,
      'make the timeout shorter than the interval',
    );
  const delay = seconds(
    p.deregistrationDelayMs,
    'a deregistration delay of',
    0,
    3600,
    'deregistration_delay.timeout_seconds',
  );
  if (!/^\/[\x21-\x7e]{0,1023}$/.test(lb.healthPath))
    refuse(
      'AWS_HEALTH_CHECK',
      `health check path '${lb.healthPath}' is not an ALB's`,
      "a path that starts with '/', 1024 characters at most",
    );
  const idle = p.timeouts?.serverMs;
  return {
    HealthCheckProtocol: 'HTTP',
    HealthCheckPath: lb.healthPath,
    HealthCheckIntervalSeconds: interval,
    HealthCheckTimeoutSeconds: timeout,
    HealthyThresholdCount: count(c.rise, 'rise (passed checks to be healthy)', 'HealthyThresholdCount'),
    UnhealthyThresholdCount: count(c.fall, 'fall (failed checks to be unhealthy)', 'UnhealthyThresholdCount'),
    Matcher: { HttpCode: '200' },
    deregistrationDelay: delay,
    idleTimeout:
      idle === undefined
        ? undefined
        : seconds(idle, 'a server timeout of', 1, 4000, 'idle_timeout.timeout_seconds'),
  };
}

/** Statements of the FIS role's policy for the actions used, every target resource of the run's. */
export function fisStatements(actions: readonly string[], region: string, runId: string): Json[] {
  const p = partitionOf(region);
  const arn = (service: string, resource: string) =>
    sub(`arn:${p}:${service}:${region}:\${AWS::AccountId}:${resource}`);
  const ofRun = { StringEquals: { [`aws:ResourceTag/${TAGS.run}`]: runId } };
  const unknown = actions.filter((a) => !(FIS_ACTION_PERMISSIONS as readonly string[]).includes(a));
  if (unknown.length)
    refuse(
      'AWS_FIS_ACTION',
      `no permissions are known for FIS action ${unknown.join(', ')}`,
      `the template knows ${FIS_ACTION_PERMISSIONS.join(', ')}`,
    );
  const has = (a: string) => actions.includes(a);
  const out: Json[] = [];
  const instances = (sid: string, action: string[]) =>
    out.push({
      Sid: sid,
      Effect: 'Allow',
      Action: action,
      Resource: arn('ec2', 'instance/*'),
      Condition: ofRun,
    });
  // Targets are resolved by tags through the services' Describe calls, which take no resource.
  const describe = new Set<string>();
  if (has('aws:ec2:stop-instances')) {
    instances('StopStartRunInstances', ['ec2:StopInstances', 'ec2:StartInstances']);
    describe.add('ec2:DescribeInstances');
  }
  if (has('aws:ec2:terminate-instances')) {
    instances('TerminateRunInstances', ['ec2:TerminateInstances']);
    describe.add('ec2:DescribeInstances');
  }
  if (has('aws:ec2:reboot-instances')) {
    instances('RebootRunInstances', ['ec2:RebootInstances']);
    describe.add('ec2:DescribeInstances');
  }
  if (has('aws:ebs:pause-volume-io')) {
    out.push({
      Sid: 'PauseRunVolumes',
      Effect: 'Allow',
      Action: ['ec2:PauseVolumeIO'],
      Resource: arn('ec2', 'volume/*'),
      Condition: ofRun,
    });
    describe.add('ec2:DescribeVolumes');
  }
  if (has('aws:ssm:send-command')) {
    out.push(
      {
        Sid: 'SendCommandToRunInstances',
        Effect: 'Allow',
        Action: ['ssm:SendCommand'],
        Resource: arn('ec2', 'instance/*'),
        // Run Command checks an instance's tags by ssm:resourceTag (Systems Manager's "Restrict
        // access to Run Command based on tags").
        Condition: { StringEquals: { [`ssm:resourceTag/${TAGS.run}`]: runId } },
      },
      {
        Sid: 'SendFisDocuments',
        Effect: 'Allow',
        Action: ['ssm:SendCommand'],
        Resource: `arn:${p}:ssm:${region}::document/AWSFIS-Run-*`,
      },
      {
        Sid: 'FollowCommands',
        Effect: 'Allow',
        Action: ['ssm:ListCommands', 'ssm:CancelCommand'],
        Resource: '*',
      },
    );
    describe.add('ec2:DescribeInstances');
  }
  if (has('aws:network:disrupt-connectivity')) {
    // As the FIS actions reference lists them (and AWSFaultInjectionSimulatorNetworkAccess scopes
    // them): the action swaps the subnets' network ACL for one of its own, tagged managedByFIS.
    out.push(
      {
        Sid: 'CreateFisNetworkAcl',
        Effect: 'Allow',
        Action: ['ec2:CreateNetworkAcl'],
        Resource: arn('ec2', 'network-acl/*'),
        Condition: { StringEquals: { 'aws:RequestTag/managedByFIS': 'true' } },
      },
      {
        Sid: 'CreateFisNetworkAclInRunVpc',
        Effect: 'Allow',
        Action: ['ec2:CreateNetworkAcl'],
        Resource: arn('ec2', 'vpc/*'),
        Condition: ofRun,
      },
      {
        Sid: 'TagFisNetworkAcl',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: arn('ec2', 'network-acl/*'),
        Condition: {
          StringEquals: { 'ec2:CreateAction': 'CreateNetworkAcl', 'aws:RequestTag/managedByFIS': 'true' },
        },
      },
      {
        Sid: 'ChangeFisNetworkAcl',
        Effect: 'Allow',
        Action: ['ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAcl'],
        Resource: arn('ec2', 'network-acl/*'),
        Condition: { StringEquals: { 'ec2:ResourceTag/managedByFIS': 'true' } },
      },
      {
        // Swapping back puts the subnet's own ACL (untagged: the VPC's default one) in again.
        Sid: 'SwapNetworkAcls',
        Effect: 'Allow',
        Action: ['ec2:ReplaceNetworkAclAssociation'],
        Resource: arn('ec2', 'network-acl/*'),
      },
    );
    for (const a of [
      'ec2:DescribeManagedPrefixLists',
      'ec2:DescribeNetworkAcls',
      'ec2:DescribeSubnets',
      'ec2:DescribeVpcs',
      'ec2:GetManagedPrefixListEntries',
    ])
      describe.add(a);
  }
  if (has('aws:ec2:asg-insufficient-instance-capacity-error')) {
    out.push({
      Sid: 'InjectCapacityErrors',
      Effect: 'Allow',
      Action: ['ec2:InjectApiError'],
      Resource: '*',
      Condition: { StringEquals: { 'ec2:FisActionId': 'aws:ec2:asg-insufficient-instance-capacity-error' } },
    });
    describe.add('autoscaling:DescribeAutoScalingGroups');
  }
  if (describe.size)
    out.push({ Sid: 'ResolveTargets', Effect: 'Allow', Action: [...describe].sort(), Resource: '*' });
  return out;
}

/** The deploy-time values' longest forms, to size user data before it is deployed. */
const LONGEST = {
  zoneId: 'Z'.padEnd(32, '0'),
  efs: `fs-${'0'.repeat(17)}.efs.cn-northwest-1.amazonaws.com.cn`,
  bucket: 'b'.repeat(63),
  stack: 's'.repeat(128),
};

/** Renders the stack plan as one CloudFormation template. */
export function renderTemplate(input: TemplateInput): CfnTemplate {
  const { plan, region, runId } = input;
  checkZones(input);
  if (!/^[a-zA-Z][-a-zA-Z0-9]{0,127}$/.test(input.stackName))
    refuseUsage(
      'AWS_STACK_NAME',
      `'${input.stackName}' is not a CloudFormation stack name`,
      'a letter, then letters, digits and -; 128 at most',
    );
  const zone = zoneNameOf(input.stackName);
  if (input.stackName.length > 63)
    refuseUsage(
      'AWS_STACK_NAME',
      `stack name '${input.stackName}' is longer than a DNS label (63)`,
      'a shorter stack name',
    );
  const partition = partitionOf(region);
  const tags = tagger(input);
  const octet =
    input.vpcOctet ??
    (Number.parseInt(createHash('sha256').update(runId).digest('hex').slice(0, 4), 16) % 254) + 1;
  if (!Number.isInteger(octet) || octet < 0 || octet > 255)
    refuseUsage('AWS_VPC_CIDR', `vpcOctet ${octet} is not 0 to 255`, 'the K of 10.K.0.0/16');
  const zones = zonePlan(octet);
  const vpcCidr = zones.subnet;
  if (input.probeCidr !== undefined) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(input.probeCidr);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32)
      refuseUsage(
        'AWS_PROBE_CIDR',
        `probe CIDR '${input.probeCidr}' is not an IPv4 CIDR`,
        'the harness host as a.b.c.d/32',
      );
    if (Number(m![5]) < 16)
      refuseUsage(
        'AWS_PROBE_CIDR',
        `probe CIDR ${input.probeCidr} opens the stack to ${2 ** (32 - Number(m![5]))} addresses`,
        'give the harness host alone (a /32), or run the harness in the VPC (ProbeSecurityGroup)',
      );
  }
  const instanceType = input.instanceType ?? DEFAULT_INSTANCE_TYPE;
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType))
    refuseUsage('AWS_INSTANCE_TYPE', `'${instanceType}' is not an EC2 instance type`, 'such as t3.small');
  const arm = /^[a-z]+\d+[a-z]*g[a-z]*\./.test(instanceType);

  // Which nodes are instances, and which one the ALB stands for.
  const lb = input.loadBalancer;
  const lbNode = lb ? plan.nodes.find((n) => n.name === lb.node) : undefined;
  if (lb && !lbNode)
    refuse(
      'AWS_LOAD_BALANCER',
      `the plan has no load balancer node '${lb.node}'`,
      `nodes: ${plan.nodes.map((n) => n.name).join(', ')}`,
    );
  const poolNames = new Set(
    lbNode
      ? (lb!.members ??
          (lbNode.after?.length
            ? lbNode.after
            : plan.nodes.filter((n) => n.system === lbNode.system && n !== lbNode).map((n) => n.name)))
      : [],
  );
  const pool = plan.nodes.filter((n) => poolNames.has(n.name));
  if (lbNode && pool.length === 0)
    refuse(
      'AWS_LOAD_BALANCER',
      `load balancer ${lbNode.name} has no nodes behind it`,
      'its plan names them in `after`',
    );
  const singles = plan.nodes.filter((n) => n !== lbNode && !poolNames.has(n.name));
  const instanceNodes = [...singles, ...pool];
  /** In no zone (`-`): a regional service, as the local provider places it outside every zone. */
  const regional = (n: NodePlan) => !/^[a-z]$/.test(n.az);
  for (const n of instanceNodes)
    if (!regional(n) && !input.azs.includes(n.az))
      refuse(
        'AWS_ZONE',
        `node ${n.name} is in zone '${n.az}', which is not one of the stack's (${input.azs.join(', ')})`,
        'every node that runs on an instance is in one of the stack zones',
      );
  checkTtls(instanceNodes);
  const ids = new Map<string, string>();
  for (const n of plan.nodes) {
    const id = logicalName(n.name);
    const other = [...ids].find(([, v]) => v === id);
    if (other)
      refuse(
        'AWS_NODE_NAME',
        `nodes ${other[0]} and ${n.name} make the same logical id ${id}`,
        'give nodes names that differ by more than punctuation',
      );
    ids.set(n.name, id);
  }

  const R: CfnTemplate['Resources'] = {};
  const outputs: CfnTemplate['Outputs'] = {};
  const notes: string[] = [
    "The plan's registry container is not started: the private hosted zone is the registry.",
    `Node names resolve through the zone ${zone} (the VPC's search domain); each node upserts its own A record at boot.`,
  ];

  // Network.
  R.Vpc = {
    Type: 'AWS::EC2::VPC',
    Properties: {
      CidrBlock: vpcCidr,
      EnableDnsSupport: true,
      EnableDnsHostnames: true,
      Tags: tags({}, 'vpc'),
    },
  };
  R.DhcpOptions = {
    Type: 'AWS::EC2::DHCPOptions',
    Properties: { DomainName: zone, DomainNameServers: ['AmazonProvidedDNS'], Tags: tags({}, 'dhcp') },
  };
  R.DhcpOptionsAssociation = {
    Type: 'AWS::EC2::VPCDHCPOptionsAssociation',
    Properties: { VpcId: ref('Vpc'), DhcpOptionsId: ref('DhcpOptions') },
  };
  R.InternetGateway = { Type: 'AWS::EC2::InternetGateway', Properties: { Tags: tags({}, 'igw') } };
  R.GatewayAttachment = {
    Type: 'AWS::EC2::VPCGatewayAttachment',
    Properties: { VpcId: ref('Vpc'), InternetGatewayId: ref('InternetGateway') },
  };
  R.RouteTable = {
    Type: 'AWS::EC2::RouteTable',
    Properties: { VpcId: ref('Vpc'), Tags: tags({}, 'routes') },
  };
  // Out to the internet through the gateway: Docker's packages and the images. A NAT gateway
  // (and instances without public addresses) is the production choice.
  R.DefaultRoute = {
    Type: 'AWS::EC2::Route',
    DependsOn: ['GatewayAttachment'],
    Properties: {
      RouteTableId: ref('RouteTable'),
      DestinationCidrBlock: '0.0.0.0/0',
      GatewayId: ref('InternetGateway'),
    },
  };
  const subnetId = (az: string) => `Subnet${az.toUpperCase()}`;
  for (const az of input.azs) {
    R[subnetId(az)] = {
      Type: 'AWS::EC2::Subnet',
      Properties: {
        VpcId: ref('Vpc'),
        CidrBlock: zones.cidr(az),
        AvailabilityZone: zoneName(region, az),
        MapPublicIpOnLaunch: true,
        Tags: tags({}, `subnet-${az}`),
      },
    };
    R[`${subnetId(az)}Routes`] = {
      Type: 'AWS::EC2::SubnetRouteTableAssociation',
      Properties: { SubnetId: ref(subnetId(az)), RouteTableId: ref('RouteTable') },
    };
    outputs[`${subnetId(az)}Id`] = {
      Description: `The subnet of zone ${zoneName(region, az)}`,
      Value: ref(subnetId(az)),
    };
  }
  R.ProbeSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: `chaos ${input.stackName}: the harness probe host in the VPC (reaches the load balancer)`,
      VpcId: ref('Vpc'),
      Tags: tags({}, 'probe'),
    },
  };
  const servicePorts = [...new Set(instanceNodes.flatMap((n) => n.main.ports ?? []))].sort((a, b) => a - b);
  R.NodeSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: `chaos ${input.stackName}: nodes accept any traffic from the VPC only`,
      VpcId: ref('Vpc'),
      SecurityGroupIngress: [
        // All protocols, without ports: AWS ignores ports on such a rule and cfn-lint warns of them
        // (W3687); moto needs them, so cloudformation.ts adds FromPort/ToPort -1 when it sends it.
        { IpProtocol: '-1', CidrIp: vpcCidr, Description: 'anything from within the VPC' },
        ...(input.probeCidr
          ? servicePorts.map((port) => ({
              IpProtocol: 'tcp',
              FromPort: port,
              ToPort: port,
              CidrIp: input.probeCidr,
              Description: 'the harness probes, from outside the VPC',
            }))
          : []),
      ],
      Tags: tags({}, 'nodes'),
    },
  };

  // The registry's zone.
  R.HostedZone = {
    Type: 'AWS::Route53::HostedZone',
    Properties: {
      Name: zone,
      HostedZoneConfig: { Comment: `chaos harness run ${runId} (${input.scenario}): endpoint records` },
      VPCs: [{ VPCId: ref('Vpc'), VPCRegion: ref('AWS::Region') }],
      HostedZoneTags: tags(),
    },
  };

  // Shared volumes: one EFS file system, a folder per volume.
  const usedShared = (plan.sharedVolumes ?? []).filter((v) =>
    instanceNodes.some((n) =>
      [n.main, ...n.sidecars].some((c) => (c.volumes ?? []).some((x) => x.name === v)),
    ),
  );
  const mountTargets = usedShared.length ? input.azs.map((az) => `FileSystemTarget${az.toUpperCase()}`) : [];
  if (usedShared.length) {
    R.FileSystem = {
      Type: 'AWS::EFS::FileSystem',
      // A game day's archive: it goes with the stack.
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: {
        Encrypted: true,
        PerformanceMode: 'generalPurpose',
        ThroughputMode: 'elastic',
        FileSystemTags: tags({}, 'shared'),
      },
    };
    input.azs.forEach((az, i) => {
      R[mountTargets[i]!] = {
        Type: 'AWS::EFS::MountTarget',
        Properties: {
          FileSystemId: ref('FileSystem'),
          SubnetId: ref(subnetId(az)),
          SecurityGroups: [getAtt('NodeSecurityGroup', 'GroupId')],
        },
      };
    });
    outputs.FileSystemId = {
      Description: `The shared volumes (${usedShared.join(', ')})`,
      Value: ref('FileSystem'),
    };
  }

  // Roles.
  R.InstanceRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      Path: '/chaos/',
      Description: `chaos run ${runId}: a node's instance`,
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      },
      ManagedPolicyArns: [`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`],
      Policies: [
        {
          PolicyName: 'chaos-node',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'ReadRunAssets',
                Effect: 'Allow',
                Action: ['s3:GetObject'],
                Resource: sub(`arn:${partition}:s3:::\${AssetsBucket}/${runId}/*`),
              },
              {
                Sid: 'MoveStackRecords',
                Effect: 'Allow',
                Action: ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'],
                Resource: sub(`arn:${partition}:route53:::hostedzone/\${HostedZone}`),
              },
              {
                // A launch template tags all of an instance's volumes alike; the node tags its
                // data volume (never the root) for pause-volume-io, and a pooled node its name.
                Sid: 'TagOwnDataVolumeAndName',
                Effect: 'Allow',
                Action: ['ec2:CreateTags'],
                Resource: [
                  sub(`arn:${partition}:ec2:${region}:\${AWS::AccountId}:volume/*`),
                  sub(`arn:${partition}:ec2:${region}:\${AWS::AccountId}:instance/*`),
                ],
                Condition: {
                  StringEquals: { [`aws:ResourceTag/${TAGS.run}`]: runId },
                  'ForAllValues:StringEquals': { 'aws:TagKeys': [TAGS.volume, TAGS.node] },
                },
              },
            ],
          },
        },
      ],
      Tags: tags(),
    },
  };
  R.InstanceProfile = {
    Type: 'AWS::IAM::InstanceProfile',
    Properties: { Path: '/chaos/', Roles: [ref('InstanceRole')] },
  };
  const fis = fisStatements([...new Set(input.fisActions ?? [])].sort(), region, runId);
  R.FisRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      Path: '/chaos/',
      Description: `chaos run ${runId}: FIS experiments on the run's resources`,
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'fis.amazonaws.com' },
            Action: 'sts:AssumeRole',
            // Only this account's experiments in this region (the confused deputy).
            Condition: {
              StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') },
              ArnLike: {
                'aws:SourceArn': sub(`arn:${partition}:fis:${region}:\${AWS::AccountId}:experiment/*`),
              },
            },
          },
        ],
      },
      ...(fis.length
        ? {
            Policies: [
              { PolicyName: 'chaos-fis-actions', PolicyDocument: { Version: '2012-10-17', Statement: fis } },
            ],
          }
        : {}),
      Tags: tags(),
    },
  };

  // Nodes.
  const baseCtx: Omit<UserDataContext, 'diskDevices'> = {
    runId,
    scenario: input.scenario,
    images: input.images,
    disks: 'ebs',
    sharedVolumes: usedShared,
    ec2: true,
    ...(input.readyTimeoutSec ? { readyTimeoutSec: input.readyTimeoutSec } : {}),
  };
  const settings = (signal: string): UserDataSettings<Json> => ({
    assets: sub(`s3://\${AssetsBucket}/${runId}`),
    region,
    zoneId: ref('HostedZone'),
    zoneName: zone,
    ...(usedShared.length ? { efs: sub('${FileSystem}.efs.${AWS::Region}.${AWS::URLSuffix}') } : {}),
    stack: ref('AWS::StackName'),
    signalResource: signal,
  });
  const longest = (signal: string): UserDataSettings => ({
    assets: `s3://${LONGEST.bucket}/${runId}`,
    region,
    zoneId: LONGEST.zoneId,
    zoneName: zone,
    ...(usedShared.length ? { efs: LONGEST.efs } : {}),
    stack: LONGEST.stack,
    signalResource: signal,
  });
  const asgIds = new Map<string, string>();
  const poolId = lbNode ? `${logicalName(lb!.pool)}` : '';
  for (const n of singles) asgIds.set(n.name, `Asg${ids.get(n.name)}`);
  for (const n of pool) asgIds.set(n.name, `Asg${poolId}`);

  const launchTemplate = (
    id: string,
    node: NodePlan,
    ctx: UserDataContext,
    signal: string,
    kind: Record<string, string>,
  ) => {
    const parts = userDataParts<Json>(node, ctx, settings(signal));
    assertUserDataSize(
      userDataParts<string>(node, ctx, longest(signal)).join(''),
      ctx.pool ? `pool ${lb!.pool}` : node.name,
    );
    const disks = Object.entries(ctx.diskDevices ?? {});
    R[id] = {
      Type: 'AWS::EC2::LaunchTemplate',
      Properties: {
        LaunchTemplateData: {
          ImageId: ref('ImageId'),
          InstanceType: instanceType,
          IamInstanceProfile: { Arn: getAtt('InstanceProfile', 'Arn') },
          SecurityGroupIds: [getAtt('NodeSecurityGroup', 'GroupId')],
          MetadataOptions: {
            HttpEndpoint: 'enabled',
            HttpTokens: 'required',
            // 2: the agents in containers reach IMDS for the instance role's credentials.
            HttpPutResponseHopLimit: 2,
          },
          BlockDeviceMappings: [
            {
              DeviceName: '/dev/xvda',
              Ebs: {
                VolumeSize: ROOT_VOLUME_GIB,
                VolumeType: 'gp3',
                Encrypted: true,
                DeleteOnTermination: true,
              },
            },
            ...disks.map(([, d]) => ({
              DeviceName: d.device,
              Ebs: { VolumeSize: d.sizeGiB, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
            })),
          ],
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags(kind, node.name) },
            { ResourceType: 'volume', Tags: tags(kind) },
          ],
          UserData: { 'Fn::Base64': { 'Fn::Join': ['', parts] } },
        },
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: tags(kind) }],
      },
    };
  };
  const dependsOn = (n: NodePlan, own: string) => {
    const after = (n.after ?? []).map((a) => asgIds.get(a)).filter((a): a is string => !!a && a !== own);
    return [...new Set(['DefaultRoute', 'DhcpOptionsAssociation', ...mountTargets, ...after])].sort();
  };
  const asgTags = (kind: Record<string, string>, name: string) =>
    tags(kind, name).map((t) => ({ ...t, PropagateAtLaunch: true }));
  const disksOf = (n: NodePlan) => {
    const out: Record<string, { device: string; sizeGiB: number }> = {};
    const names = [
      ...new Set(
        [n.main, ...n.sidecars].flatMap((c) =>
          (c.volumes ?? []).filter((v) => v.disk && !usedShared.includes(v.name)).map((v) => v.name),
        ),
      ),
    ];
    if (names.length > 10)
      refuse('AWS_DISK', `${n.name} has ${names.length} disks`, 'ten at most (/dev/sdf to /dev/sdo)');
    names.forEach((v, i) => {
      out[v] = { device: `/dev/sd${String.fromCharCode(102 + i)}`, sizeGiB: (input.dataVolumeGiB ?? 20) + i };
    });
    if ((input.dataVolumeGiB ?? 20) <= ROOT_VOLUME_GIB && names.length)
      refuse(
        'AWS_DISK',
        `data disks of ${input.dataVolumeGiB} GiB are not larger than the root volume (${ROOT_VOLUME_GIB} GiB)`,
        'a node tells its disks by size: make them larger',
      );
    return out;
  };

  for (const n of singles) {
    const id = ids.get(n.name)!;
    const kind = { [TAGS.system]: n.system, [TAGS.node]: n.name };
    const asg = asgIds.get(n.name)!;
    launchTemplate(`LaunchTemplate${id}`, n, { ...baseCtx, diskDevices: disksOf(n) }, asg, kind);
    R[asg] = {
      Type: 'AWS::AutoScaling::AutoScalingGroup',
      DependsOn: dependsOn(n, asg),
      CreationPolicy: { ResourceSignal: { Count: 1, Timeout: SIGNAL_TIMEOUT } },
      Properties: {
        MinSize: '1',
        MaxSize: '1',
        DesiredCapacity: '1',
        // A regional node's group spans every zone: lost with its zone, it is launched in another.
        VPCZoneIdentifier: regional(n) ? input.azs.map((az) => ref(subnetId(az))) : [ref(subnetId(n.az))],
        LaunchTemplate: {
          LaunchTemplateId: ref(`LaunchTemplate${id}`),
          Version: getAtt(`LaunchTemplate${id}`, 'LatestVersionNumber'),
        },
        HealthCheckType: 'EC2',
        HealthCheckGracePeriod: 300,
        Tags: asgTags(kind, n.name),
      },
    };
    outputs[`${asg}Name`] = { Description: `The Auto Scaling group of node ${n.name}`, Value: ref(asg) };
  }

  if (lbNode) {
    const first = pool[0]!;
    const prefix = first.system;
    const ctx: UserDataContext = { ...baseCtx, pool: { prefix }, diskDevices: disksOf(first) };
    // One launch template for every head: their plans must differ by their names alone.
    const render = (n: NodePlan) =>
      JSON.stringify(userDataParts<Json>({ ...n, az: first.az, index: first.index }, ctx, settings('x')));
    const mine = render(first);
    for (const n of pool.slice(1))
      if (render(n) !== mine)
        refuse(
          'AWS_POOL',
          `${n.name} and ${first.name} are planned differently, beyond their names: one launch template cannot start both`,
          'the nodes behind a load balancer must be alike (an Auto Scaling group starts them from one template)',
        );
    const heads = pool.length;
    const kind = { [TAGS.system]: first.system, [TAGS.pool]: lb!.pool };
    const asg = `Asg${poolId}`;
    const lbKind = { [TAGS.system]: lbNode.system };
    const hc = healthCheck(lb!);
    const listenerPort = lbNode.main.ports?.[0] ?? 80;
    const targetPort = first.main.ports?.[0];
    if (targetPort === undefined)
      refuse(
        'AWS_LOAD_BALANCER',
        `${first.name} has no port for the load balancer to send to`,
        'its main container lists its port first',
      );
    if (input.azs.length < 2)
      refuse(
        'AWS_LOAD_BALANCER',
        `an Application Load Balancer needs subnets in two zones at least; the stack has ${input.azs.join(', ')}`,
        'give the scenario two zones or more',
      );
    const zonesOfPool = [...new Set(pool.map((n) => n.az))].sort();
    launchTemplate(`LaunchTemplate${poolId}`, first, ctx, asg, kind);
    R.LoadBalancerSecurityGroup = {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: {
        GroupDescription: `chaos ${input.stackName}: the load balancer accepts HTTP from the probe host`,
        VpcId: ref('Vpc'),
        SecurityGroupIngress: [
          {
            IpProtocol: 'tcp',
            FromPort: listenerPort,
            ToPort: listenerPort,
            SourceSecurityGroupId: getAtt('ProbeSecurityGroup', 'GroupId'),
            Description: 'the harness probe host in the VPC',
          },
          ...(input.probeCidr
            ? [
                {
                  IpProtocol: 'tcp',
                  FromPort: listenerPort,
                  ToPort: listenerPort,
                  CidrIp: input.probeCidr,
                  Description: 'the harness probes, from outside',
                },
              ]
            : []),
        ],
        Tags: tags(lbKind, 'load-balancer'),
      },
    };
    R.LoadBalancer = {
      Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
      DependsOn: ['GatewayAttachment'],
      Properties: {
        Type: 'application',
        // Internal unless the harness probes from outside the VPC.
        Scheme: input.probeCidr ? 'internet-facing' : 'internal',
        Subnets: input.azs.map((az) => ref(subnetId(az))),
        SecurityGroups: [getAtt('LoadBalancerSecurityGroup', 'GroupId')],
        ...(hc.idleTimeout !== undefined
          ? {
              LoadBalancerAttributes: [
                { Key: 'idle_timeout.timeout_seconds', Value: String(hc.idleTimeout) },
              ],
            }
          : {}),
        Tags: tags(lbKind, 'alb'),
      },
    };
    const { deregistrationDelay, idleTimeout: _, ...check } = hc;
    R.TargetGroup = {
      Type: 'AWS::ElasticLoadBalancingV2::TargetGroup',
      Properties: {
        VpcId: ref('Vpc'),
        Protocol: 'HTTP',
        Port: targetPort,
        TargetType: 'instance',
        ...check,
        TargetGroupAttributes: [
          { Key: 'deregistration_delay.timeout_seconds', Value: String(deregistrationDelay) },
          ...(lb!.balance === 'least-outstanding'
            ? [{ Key: 'load_balancing.algorithm.type', Value: 'least_outstanding_requests' }]
            : []),
        ],
        Tags: tags(lbKind, 'heads'),
      },
    };
    R.Listener = {
      Type: 'AWS::ElasticLoadBalancingV2::Listener',
      Properties: {
        LoadBalancerArn: ref('LoadBalancer'),
        Port: listenerPort,
        Protocol: 'HTTP',
        DefaultActions: [{ Type: 'forward', TargetGroupArn: ref('TargetGroup') }],
      },
    };
    R[asg] = {
      Type: 'AWS::AutoScaling::AutoScalingGroup',
      DependsOn: dependsOn(first, asg),
      CreationPolicy: { ResourceSignal: { Count: heads, Timeout: SIGNAL_TIMEOUT } },
      Properties: {
        MinSize: String(heads),
        MaxSize: String(heads),
        DesiredCapacity: String(heads),
        VPCZoneIdentifier: zonesOfPool.map((az) => ref(subnetId(az))),
        LaunchTemplate: {
          LaunchTemplateId: ref(`LaunchTemplate${poolId}`),
          Version: getAtt(`LaunchTemplate${poolId}`, 'LatestVersionNumber'),
        },
        TargetGroupARNs: [ref('TargetGroup')],
        HealthCheckType: 'EC2',
        HealthCheckGracePeriod: 300,
        Tags: asgTags(kind, lb!.pool),
      },
    };
    outputs[`${asg}Name`] = {
      Description: `The Auto Scaling group of ${pool.map((n) => n.name).join(', ')} (behind ${lbNode.name})`,
      Value: ref(asg),
    };
    outputs.LoadBalancerDnsName = {
      Description: `The ALB that stands for ${lbNode.name}`,
      Value: getAtt('LoadBalancer', 'DNSName'),
    };
    outputs.TargetGroupArn = { Description: "The heads' target group", Value: ref('TargetGroup') };
    // Which node of the plan the ALB is, and its listener: where the probes reach it.
    outputs.LoadBalancerNode = { Description: 'The node of the plan the ALB stands for', Value: lbNode.name };
    outputs.LoadBalancerPort = { Description: "The ALB's listener port", Value: String(listenerPort) };
    notes.push(
      `${lbNode.name} is an Application Load Balancer (listener ${listenerPort}, targets on ${targetPort}); its plan's container is not started.`,
      `${pool.map((n) => n.name).join(', ')} are one Auto Scaling group of ${heads}; each head is named ${prefix}-<zone letter>-<instance id> at boot.`,
    );
  }
  for (const n of singles.filter(regional))
    notes.push(
      `${n.name} is in no zone: an Auto Scaling group of one over every zone of the stack runs it (locally it outlives any zone's loss; here it is launched again in another zone). Its instance is in some zone: zone faults must leave it out by name.`,
    );
  notes.push(
    "Single-node groups replace a member that dies (EC2 health checks, ReplaceUnhealthy kept on): a killed node comes back as a new instance with a blank data disk, and a stopped one may be replaced too, which FIS's stop-instances is planned for (completeIfInstancesTerminated).",
  );

  outputs.VpcId = { Description: `The stack's VPC (${vpcCidr})`, Value: ref('Vpc') };
  outputs.HostedZoneId = { Description: `The private zone ${zone}`, Value: ref('HostedZone') };
  outputs.HostedZoneName = { Description: "The private zone's name", Value: zone };
  outputs.FisRoleArn = { Description: 'The FIS experiment role', Value: getAtt('FisRole', 'Arn') };
  outputs.InstanceRoleArn = { Description: "The nodes' instance role", Value: getAtt('InstanceRole', 'Arn') };
  outputs.ProbeSecurityGroupId = {
    Description: "For the harness's probe host in the VPC",
    Value: getAtt('ProbeSecurityGroup', 'GroupId'),
  };
  outputs.AssetsPrefix = {
    Description: "Where the run's assets are",
    Value: sub(`s3://\${AssetsBucket}/${runId}/`),
  };

  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `chaos harness: ${input.scenario}, run ${runId}, in ${region} (${input.azs.map((a) => zoneName(region, a)).join(', ')})`,
    Metadata: {
      ChaosHarness: {
        runId,
        scenario: input.scenario,
        region,
        zones: input.azs,
        userDataLimit: USER_DATA_LIMIT,
        notes,
      },
      // The stack's zones are the scenario's letters (`b` is `${region}b`, where FIS targets
      // filter), not whichever zones Fn::GetAZs lists first.
      'cfn-lint': { config: { ignore_checks: ['W3010'] } },
    },
    Parameters: {
      ImageId: {
        Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
        Default: arm ? AL2023_ARM64_PARAMETER : AL2023_PARAMETER,
        Description: "The nodes' machine image: Amazon Linux 2023, from its public SSM parameter",
      },
      AssetsBucket: {
        Type: 'String',
        AllowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
        Description: `The S3 bucket whose prefix ${runId}/ holds the run's assets (the agents' bundle, scripts)`,
        ...(input.assetsBucket ? { Default: input.assetsBucket } : {}),
      },
    },
    Rules: {
      SameRegion: {
        Assertions: [
          {
            Assert: { 'Fn::Equals': [ref('AWS::Region'), region] },
            AssertDescription: `This template is for ${region}: its zones and ARNs are that region's.`,
          },
        ],
      },
    },
    Resources: R,
    Outputs: outputs,
  };
}

/**
 * The image references the nodes pull on AWS: each logical image's official one (a registry
 * name such as `redis:7`), or what its environment variable says (`CHAOS_IMAGE_REDIS`). The
 * offline images docker/build-images.sh builds exist on one machine only: never these.
 */
export function awsImages(
  refs: readonly ImageRef[],
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  return Object.fromEntries(refs.map((r) => [r.name, env[r.env] || r.official]));
}

/** The assets a template's nodes fetch at boot (the load balancer node has none: the ALB is it). */
export function templateAssets(input: Pick<TemplateInput, 'plan' | 'loadBalancer'>): Asset[] {
  return stackAssets(input.plan, input.loadBalancer ? [input.loadBalancer.node] : []);
}

/** The template as JSON text. */
export function toJson(t: CfnTemplate, indent = 2): string {
  return `${JSON.stringify(t, null, indent)}\n`;
}

/** The template as YAML text (long-form intrinsics: `Fn::Join:`, `Ref:`). */
export function toYaml(t: CfnTemplate): string {
  return stringify(t, { lineWidth: 0, aliasDuplicateObjects: false });
}
