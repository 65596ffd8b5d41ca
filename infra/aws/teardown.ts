import {
  type AutoScalingClient,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  CloudWatchLogsClient,
  DeleteLogGroupCommand,
  DescribeLogGroupsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  DeleteDhcpOptionsCommand,
  DeleteInternetGatewayCommand,
  DeleteLaunchTemplateCommand,
  DeleteNetworkAclCommand,
  DeleteRouteTableCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVolumeCommand,
  DeleteVpcCommand,
  DescribeDhcpOptionsCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeLaunchTemplatesCommand,
  DescribeNetworkAclsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  DetachVolumeCommand,
  DisassociateRouteTableCommand,
  type EC2Client,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DeleteLoadBalancerCommand,
  DeleteTargetGroupCommand,
  DescribeTagsCommand as DescribeElbTagsCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { FisClient } from '@aws-sdk/client-fis';
import { ListExperimentsCommand } from '@aws-sdk/client-fis';
import {
  type Change,
  ChangeResourceRecordSetsCommand,
  DeleteHostedZoneCommand,
  ListHostedZonesCommand,
  ListResourceRecordSetsCommand,
  ListTagsForResourcesCommand,
  Route53Client,
} from '@aws-sdk/client-route-53';
import type { S3Client } from '@aws-sdk/client-s3';
import { sleep } from '../../core/clock.ts';
import { MonotonicClock } from '../../core/clock.ts';
import { InfraError, errorMessage } from '../../core/errors.ts';
import { deletePrefix, listPrefix, s3Client } from './assets.ts';
import { type AwsClients, awsClients, awsErrorParts, clientConfig } from './aws-clients.ts';
import {
  type DeleteResult,
  cloudFormationClient,
  deleteStack,
  describeStack,
  listHarnessStacks,
} from './cloudformation.ts';
import { hasEnded, runTemplateIds, sweepRun } from './experiments.ts';
import { TAGS } from './fis-plan.ts';
import { cloudWatchClient, deleteStopAlarm, stopAlarmName } from './metrics.ts';

/**
 * Removing a run from AWS, and finding what is left of it: the one path `chaos infra down`, a
 * stack's teardown, the forced teardown and `chaos cleanup --provider aws` take.
 *
 * In order: FIS experiments of the run stopped and their templates deleted (sweepRun); the stop
 * alarm deleted; the stack's hosted zone emptied (Route 53 deletes no zone that holds records:
 * the nodes' A records and the registry's); DeleteStack, waited for; then whatever is still
 * tagged chaos:run=<run> by the run's tag, because CloudFormation can leave things (DELETE_FAILED,
 * or moto's CloudFormation, which leaves the VPC and its gateway, route table and hosted zone):
 * Auto Scaling groups, instances, load balancers and target groups, launch templates, volumes,
 * the VPC with its gateways, subnets, route tables, network ACLs and security groups, DHCP
 * options, the hosted zone, log groups under /chaos/<run>, and the run's assets in S3. IAM roles
 * and an EFS file system are left to CloudFormation (the harness has no client for them).
 */

export interface RunClients extends AwsClients {
  cf: CloudFormationClient;
  r53: Route53Client;
  cw: CloudWatchClient;
  logs: CloudWatchLogsClient;
  elb: ElasticLoadBalancingV2Client;
  s3: S3Client;
}

export function runClients(region: string): RunClients {
  const base = awsClients({ region });
  const cf = cloudFormationClient(region);
  const r53 = new Route53Client(clientConfig('ROUTE_53', { region }));
  const cw = cloudWatchClient(region);
  const logs = new CloudWatchLogsClient(clientConfig('CLOUDWATCH_LOGS', { region }));
  const elb = new ElasticLoadBalancingV2Client(clientConfig('ELASTIC_LOAD_BALANCING_V2', { region }));
  const s3 = s3Client(region);
  return {
    ...base,
    cf,
    r53,
    cw,
    logs,
    elb,
    s3,
    destroy() {
      base.destroy();
      for (const c of [cf, r53, cw, logs, elb, s3]) c.destroy();
    },
  };
}

/** What is known of a run: its id, and where found, its stack, zone and assets. */
export interface RunRef {
  runId: string;
  /** The CloudFormation stack's name or id. */
  stack?: string | undefined;
  /** The hosted zone's name (`<stack>.chaos.internal`), for finding it when the stack is gone. */
  zoneName?: string | undefined;
  zoneId?: string | undefined;
  /** The assets bucket, whose `<run>/` prefix is the run's. */
  bucket?: string | undefined;
}

export interface RemovalReport {
  /** What was removed, in a few words each (`stack chaos-x-1`, `vpc vpc-0123`). */
  removed: string[];
  /** What could not be removed, with why. */
  problems: string[];
}

export interface RemoveOptions {
  /** A line per step, for a person watching. */
  log?: ((line: string) => void) | undefined;
  /** Delete the stack and what it leaves (default); false: only the run's own things on a stack that stays. */
  stack?: boolean;
  /** How long to wait for the stack's deletion; default 30 minutes. */
  timeoutMs?: number;
  pollMs?: number;
}

const tagFilter = (runId: string) => [{ Name: `tag:${TAGS.run}`, Values: [runId] }];

/** Runs one step; a failure is a problem in the report, and the next step runs. */
async function step(report: RemovalReport, what: string, fn: () => Promise<string[] | undefined>) {
  try {
    report.removed.push(...((await fn()) ?? []));
  } catch (err) {
    report.problems.push(`${what}: ${errorMessage(err)}`);
  }
}

/** Removes everything of a run (see the file's comment). Never throws: what failed is in the report. */
export async function removeRun(
  c: RunClients,
  ref: RunRef,
  opts: RemoveOptions = {},
): Promise<RemovalReport> {
  const report: RemovalReport = { removed: [], problems: [] };
  const log = opts.log ?? (() => {});
  const { runId } = ref;
  await step(report, 'FIS', async () => {
    const r = await sweepRun(c.fis, runId);
    report.problems.push(...r.errors);
    if (r.stopped.length || r.deleted.length)
      log(`FIS: ${r.stopped.length} experiments stopped, ${r.deleted.length} templates deleted`);
    return [
      ...r.stopped.map((id) => `experiment ${id} (stopped)`),
      ...r.deleted.map((id) => `experiment template ${id}`),
    ];
  });
  await step(report, 'CloudWatch', async () => {
    const name = stopAlarmName(runId);
    const had = (await c.cw.send(new DescribeAlarmsCommand({ AlarmNames: [name] }))).MetricAlarms?.length;
    await deleteStopAlarm(c.cw, runId);
    return had ? [`alarm ${name}`] : [];
  });
  if (opts.stack === false) return report;

  const stack = ref.stack ? await describeStack(c.cf, ref.stack).catch(() => undefined) : undefined;
  const outputs = Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const zoneId = ref.zoneId ?? outputs.HostedZoneId;
  const zoneName = ref.zoneName ?? outputs.HostedZoneName;
  await step(report, 'Route 53', async () => {
    const zones = await zonesOf(c.r53, runId, zoneId, zoneName);
    let n = 0;
    for (const z of zones) n += await emptyZone(c.r53, z);
    if (n) log(`Route 53: ${n} record sets deleted from ${zones.join(', ')}`);
    return n ? [`${n} record sets`] : [];
  });
  if (stack && stack.StackStatus !== 'DELETE_COMPLETE') {
    await step(report, 'CloudFormation', async () => {
      log(`CloudFormation: deleting ${stack.StackName}`);
      const r: DeleteResult = await deleteStack(c.cf, stack.StackId!, {
        clock: new MonotonicClock(),
        log: (l) => log(`  ${l}`),
        timeoutMs: opts.timeoutMs ?? 30 * 60_000,
        pollMs: opts.pollMs ?? 5000,
      });
      report.problems.push(...r.problems.filter((p) => !/CloudFormation left a resource/.test(p)));
      return r.deleted ? [`stack ${stack.StackName}`] : [];
    });
  }
  await removeLeftovers(c, runId, report, log, zoneName, zoneId);
  if (ref.bucket)
    await step(report, 'S3', async () => {
      const n = await deletePrefix(c.s3, ref.bucket!, runId);
      return n ? [`${n} assets under s3://${ref.bucket}/${runId}/`] : [];
    });
  return report;
}

/** Every hosted zone of the harness (`*.chaos.internal`), with its chaos:run tag where it has one. */
async function harnessZones(
  r53: Route53Client,
): Promise<{ id: string; name: string; runId?: string | undefined }[]> {
  const zones: { id: string; name: string; runId?: string | undefined }[] = [];
  let Marker: string | undefined;
  do {
    const page = await r53.send(new ListHostedZonesCommand({ Marker }));
    for (const z of page.HostedZones ?? []) {
      const name = (z.Name ?? '').replace(/\.$/, '');
      if (name.endsWith('.chaos.internal') && z.Id)
        zones.push({ id: z.Id.replace(/^\/hostedzone\//, ''), name });
    }
    Marker = page.IsTruncated ? page.NextMarker : undefined;
  } while (Marker);
  for (let i = 0; i < zones.length; i += 10) {
    const batch = zones.slice(i, i + 10);
    const tags = await r53
      .send(
        new ListTagsForResourcesCommand({ ResourceType: 'hostedzone', ResourceIds: batch.map((z) => z.id) }),
      )
      .catch(() => undefined);
    for (const set of tags?.ResourceTagSets ?? []) {
      const z = batch.find((x) => x.id === set.ResourceId);
      const run = set.Tags?.find((t) => t.Key === TAGS.run)?.Value;
      if (z && run) z.runId = run;
    }
  }
  return zones;
}

/**
 * A run's hosted zones: the one named (by id, or every zone of that exact name), and any zone of
 * the harness tagged with the run or named after it (`chaos-<scenario>-<run>.chaos.internal`:
 * moto's CloudFormation does not tag the zones it makes).
 */
async function zonesOf(
  r53: Route53Client,
  runId: string,
  zoneId?: string,
  zoneName?: string,
): Promise<string[]> {
  const out = new Set<string>();
  if (zoneId) out.add(zoneId.replace(/^\/hostedzone\//, ''));
  // Listing every zone needs route53:ListHostedZones; without it, the zone named by id is enough.
  const all = await harnessZones(r53).catch((err) => {
    if (zoneId && denied(err)) return [];
    throw err;
  });
  for (const z of all)
    if (
      z.runId === runId ||
      z.name.endsWith(`-${runId}.chaos.internal`) ||
      (zoneName && z.name === zoneName.replace(/\.$/, ''))
    )
      out.add(z.id);
  return [...out];
}

/** The run ids hosted zones of the harness name (by tag, or a default stack name's last part). */
export async function zoneRunIds(r53: Route53Client): Promise<string[]> {
  const ids = new Set<string>();
  for (const z of await harnessZones(r53)) {
    const id = z.runId ?? /-([0-9a-f]{8})\.chaos\.internal$/.exec(z.name)?.[1];
    if (id) ids.add(id);
  }
  return [...ids];
}

/** Deletes every record set of a zone but its SOA and NS; how many. A zone that is gone has none. */
export async function emptyZone(r53: Route53Client, zoneId: string): Promise<number> {
  const doomed: Change[] = [];
  let start: { name?: string; type?: string } = {};
  try {
    for (;;) {
      const page = await r53.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ...(start.name ? { StartRecordName: start.name, StartRecordType: start.type as never } : {}),
        }),
      );
      // The zone's own SOA and NS stay (the harness writes no NS record of its own).
      for (const s of page.ResourceRecordSets ?? [])
        if (s.Type !== 'SOA' && s.Type !== 'NS') doomed.push({ Action: 'DELETE', ResourceRecordSet: s });
      if (!page.IsTruncated) break;
      start = { name: page.NextRecordName, type: page.NextRecordType };
    }
  } catch (err) {
    if (awsErrorParts(err).code === 'NoSuchHostedZone') return 0;
    throw err;
  }
  for (let i = 0; i < doomed.length; i += 100)
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: { Changes: doomed.slice(i, i + 100) },
      }),
    );
  return doomed.length;
}

/**
 * The run's live EC2 resources by type, each found by its own Describe call filtered on the run's
 * tag (DescribeTags is not used: moto's keeps the tags of deleted resources).
 */
async function ec2Tagged(ec2: EC2Client, runId: string): Promise<Map<string, string[]>> {
  const Filters = tagFilter(runId);
  const byType = new Map<string, string[]>();
  const put = (type: string, ids: (string | undefined)[]) => {
    const list = ids.filter((x): x is string => Boolean(x));
    if (list.length) byType.set(type, list);
  };
  const states = await instanceStates(ec2, runId);
  put(
    'instance',
    [...states].filter(([, s]) => !['terminated', 'shutting-down'].includes(s)).map(([id]) => id),
  );
  put(
    'volume',
    ((await ec2.send(new DescribeVolumesCommand({ Filters }))).Volumes ?? []).map((v) => v.VolumeId),
  );
  put(
    'launch-template',
    ((await ec2.send(new DescribeLaunchTemplatesCommand({ Filters }))).LaunchTemplates ?? []).map(
      (t) => t.LaunchTemplateId,
    ),
  );
  put(
    'security-group',
    ((await ec2.send(new DescribeSecurityGroupsCommand({ Filters }))).SecurityGroups ?? []).map(
      (g) => g.GroupId,
    ),
  );
  put(
    'subnet',
    ((await ec2.send(new DescribeSubnetsCommand({ Filters }))).Subnets ?? []).map((x) => x.SubnetId),
  );
  put(
    'route-table',
    ((await ec2.send(new DescribeRouteTablesCommand({ Filters }))).RouteTables ?? []).map(
      (t) => t.RouteTableId,
    ),
  );
  put(
    'internet-gateway',
    ((await ec2.send(new DescribeInternetGatewaysCommand({ Filters }))).InternetGateways ?? []).map(
      (g) => g.InternetGatewayId,
    ),
  );
  put(
    'network-acl',
    ((await ec2.send(new DescribeNetworkAclsCommand({ Filters }))).NetworkAcls ?? []).map(
      (a) => a.NetworkAclId,
    ),
  );
  put(
    'dhcp-options',
    ((await ec2.send(new DescribeDhcpOptionsCommand({ Filters }))).DhcpOptions ?? []).map(
      (d) => d.DhcpOptionsId,
    ),
  );
  put(
    'vpc',
    ((await ec2.send(new DescribeVpcsCommand({ Filters }))).Vpcs ?? []).map((v) => v.VpcId),
  );
  return byType;
}

async function instanceStates(ec2: EC2Client, runId: string): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstancesCommand({ Filters: tagFilter(runId), NextToken }));
    for (const r of page.Reservations ?? [])
      for (const i of r.Instances ?? []) if (i.InstanceId) states.set(i.InstanceId, i.State?.Name ?? '?');
    NextToken = page.NextToken;
  } while (NextToken);
  return states;
}

async function groupsOf(as: AutoScalingClient, runId: string): Promise<string[]> {
  const out: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await as.send(
      new DescribeAutoScalingGroupsCommand({
        Filters: [{ Name: `tag:${TAGS.run}`, Values: [runId] }],
        NextToken,
      }),
    );
    for (const g of page.AutoScalingGroups ?? [])
      if (g.AutoScalingGroupName) out.push(g.AutoScalingGroupName);
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

/** The run's load balancers and target groups (ELBv2 tags are read per resource, 20 at a time). */
async function elbTagged(elb: ElasticLoadBalancingV2Client, runId: string) {
  const lbs = ((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? []).flatMap((l) =>
    l.LoadBalancerArn ? [l.LoadBalancerArn] : [],
  );
  const tgs = ((await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups ?? []).flatMap((t) =>
    t.TargetGroupArn ? [t.TargetGroupArn] : [],
  );
  const ours = async (arns: string[]) => {
    const out: string[] = [];
    for (let i = 0; i < arns.length; i += 20) {
      const d = await elb.send(new DescribeElbTagsCommand({ ResourceArns: arns.slice(i, i + 20) }));
      for (const t of d.TagDescriptions ?? [])
        if (t.Tags?.some((x) => x.Key === TAGS.run && x.Value === runId) && t.ResourceArn)
          out.push(t.ResourceArn);
    }
    return out;
  };
  return { loadBalancers: await ours(lbs), targetGroups: await ours(tgs) };
}

async function removeLeftovers(
  c: RunClients,
  runId: string,
  report: RemovalReport,
  log: (line: string) => void,
  zoneName: string | undefined,
  zoneId: string | undefined,
): Promise<void> {
  const ec2 = c.ec2;
  await step(report, 'Auto Scaling', async () => {
    const groups = await groupsOf(c.autoScaling, runId);
    for (const g of groups)
      await c.autoScaling.send(
        new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: g, ForceDelete: true }),
      );
    if (groups.length) log(`Auto Scaling: ${groups.join(', ')} deleted`);
    return groups.map((g) => `group ${g}`);
  });
  await step(report, 'EC2 instances', async () => {
    const live = (await ec2Tagged(ec2, runId)).get('instance') ?? [];
    if (!live.length) return [];
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: live }));
    log(`EC2: terminating ${live.join(', ')}`);
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const states = await instanceStates(ec2, runId);
      if (live.every((id) => (states.get(id) ?? 'terminated') === 'terminated')) break;
      if (Date.now() > deadline) throw new Error(`${live.join(', ')} not terminated after 10 minutes`);
      await sleep(5000);
    }
    return live.map((id) => `instance ${id}`);
  });
  await step(report, 'load balancing', async () => {
    const { loadBalancers, targetGroups } = await elbTagged(c.elb, runId);
    for (const arn of loadBalancers)
      await c.elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: arn }));
    for (const arn of targetGroups) await c.elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: arn }));
    return [
      ...loadBalancers.map((a) => `load balancer ${a}`),
      ...targetGroups.map((a) => `target group ${a}`),
    ];
  });
  await step(report, 'launch templates', async () => {
    const ids = (await ec2Tagged(ec2, runId)).get('launch-template') ?? [];
    for (const id of ids) await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: id }));
    return ids.map((id) => `launch template ${id}`);
  });
  await step(report, 'EBS volumes', async () => {
    // Tagged ones (the launch templates tag every volume), and any still attached to a
    // terminated instance of the run (moto keeps those, untagged, where AWS deletes them).
    const states = await instanceStates(ec2, runId);
    const gone = [...states].filter(([, s]) => s === 'terminated').map(([id]) => id);
    const vols = new Map<string, { state?: string | undefined; attachedTo?: string | undefined }>();
    const take = async (Filters: { Name: string; Values: string[] }[]) => {
      let NextToken: string | undefined;
      do {
        const page = await ec2.send(new DescribeVolumesCommand({ Filters, NextToken }));
        for (const v of page.Volumes ?? [])
          if (v.VolumeId)
            vols.set(v.VolumeId, { state: v.State, attachedTo: v.Attachments?.[0]?.InstanceId });
        NextToken = page.NextToken;
      } while (NextToken);
    };
    await take(tagFilter(runId));
    for (let i = 0; i < gone.length; i += 100)
      await take([{ Name: 'attachment.instance-id', Values: gone.slice(i, i + 100) }]);
    const out: string[] = [];
    for (const [id, v] of vols) {
      if (v.attachedTo && !gone.includes(v.attachedTo)) continue; // on a live instance: terminated above, or not ours
      if (v.state === 'in-use') await ec2.send(new DetachVolumeCommand({ VolumeId: id, Force: true }));
      await ec2.send(new DeleteVolumeCommand({ VolumeId: id }));
      out.push(`volume ${id}`);
    }
    return out;
  });
  await step(report, 'Route 53 zone', async () => {
    const zones = await zonesOf(c.r53, runId, zoneId, zoneName);
    const out: string[] = [];
    for (const z of zones) {
      await emptyZone(c.r53, z);
      try {
        await c.r53.send(new DeleteHostedZoneCommand({ Id: z }));
        out.push(`hosted zone ${z}`);
      } catch (err) {
        if (awsErrorParts(err).code !== 'NoSuchHostedZone') throw err;
      }
    }
    return out;
  });
  await step(report, 'VPC', async () => removeVpcs(ec2, runId, log));
  await step(report, 'CloudWatch Logs', async () => {
    const groups = await runLogGroups(c.logs, runId);
    for (const g of groups) await c.logs.send(new DeleteLogGroupCommand({ logGroupName: g.logGroupName! }));
    return groups.map((g) => `log group ${g.logGroupName}`);
  });
}

/** An AWS error that says the caller may not do it. */
function denied(err: unknown): boolean {
  if (err instanceof InfraError) return err.code === 'AWS_ACCESS_DENIED';
  const p = awsErrorParts(err);
  return /AccessDenied|UnauthorizedOperation|Forbidden/i.test(p.code) || p.status === 403;
}

/** The run's log groups (`/chaos/<run>...`); none where the caller may not list them. */
async function runLogGroups(logs: CloudWatchLogsClient, runId: string) {
  try {
    return (
      (await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: `/chaos/${runId}` }))).logGroups ??
      []
    );
  } catch (err) {
    if (denied(err)) return [];
    throw err;
  }
}

/** The run's VPCs with what they hold: gateways, subnets, route tables, ACLs, groups; then DHCP options. */
async function removeVpcs(ec2: EC2Client, runId: string, log: (line: string) => void): Promise<string[]> {
  const tagged = await ec2Tagged(ec2, runId);
  const out: string[] = [];
  for (const vpc of tagged.get('vpc') ?? []) {
    const inVpc = [{ Name: 'vpc-id', Values: [vpc] }];
    const igws =
      (
        await ec2.send(
          new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpc] }] }),
        )
      ).InternetGateways ?? [];
    for (const g of igws) {
      await ec2.send(
        new DetachInternetGatewayCommand({ InternetGatewayId: g.InternetGatewayId!, VpcId: vpc }),
      );
      await ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: g.InternetGatewayId! }));
      out.push(`internet gateway ${g.InternetGatewayId}`);
    }
    for (const s of (await ec2.send(new DescribeSubnetsCommand({ Filters: inVpc }))).Subnets ?? []) {
      await ec2.send(new DeleteSubnetCommand({ SubnetId: s.SubnetId! }));
      out.push(`subnet ${s.SubnetId}`);
    }
    for (const t of (await ec2.send(new DescribeRouteTablesCommand({ Filters: inVpc }))).RouteTables ?? []) {
      if (t.Associations?.some((a) => a.Main)) continue;
      for (const a of t.Associations ?? [])
        if (a.RouteTableAssociationId)
          await ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId }));
      await ec2.send(new DeleteRouteTableCommand({ RouteTableId: t.RouteTableId! }));
      out.push(`route table ${t.RouteTableId}`);
    }
    for (const a of (await ec2.send(new DescribeNetworkAclsCommand({ Filters: inVpc }))).NetworkAcls ?? []) {
      if (a.IsDefault) continue;
      await ec2.send(new DeleteNetworkAclCommand({ NetworkAclId: a.NetworkAclId! }));
      out.push(`network ACL ${a.NetworkAclId}`);
    }
    // Groups may name each other (the load balancer's names the probe host's): two rounds.
    for (let round = 0; round < 2; round++) {
      for (const g of (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: inVpc })))
        .SecurityGroups ?? []) {
        if (g.GroupName === 'default') continue;
        try {
          await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId! }));
          out.push(`security group ${g.GroupId}`);
        } catch (err) {
          if (round === 1) throw err;
        }
      }
    }
    await ec2.send(new DeleteVpcCommand({ VpcId: vpc }));
    log(`EC2: VPC ${vpc} deleted, with what CloudFormation left in it`);
    out.push(`vpc ${vpc}`);
  }
  for (const id of tagged.get('dhcp-options') ?? []) {
    try {
      await ec2.send(new DeleteDhcpOptionsCommand({ DhcpOptionsId: id }));
      out.push(`DHCP options ${id}`);
    } catch (err) {
      if (!/NotFound/.test(awsErrorParts(err).code)) throw err;
    }
  }
  return out;
}

/**
 * Everything still tagged with the run, or named after it, in a few words each: an empty list
 * when nothing of it is left. What `infra down` and the tests check after removing a run.
 */
export async function leftoversOf(c: RunClients, ref: RunRef): Promise<string[]> {
  const { runId } = ref;
  const out: string[] = [];
  for (const [type, ids] of await ec2Tagged(c.ec2, runId)) for (const id of ids) out.push(`${type} ${id}`);
  for (const g of await groupsOf(c.autoScaling, runId)) out.push(`auto-scaling-group ${g}`);
  const { loadBalancers, targetGroups } = await elbTagged(c.elb, runId);
  out.push(
    ...loadBalancers.map((a) => `load-balancer ${a}`),
    ...targetGroups.map((a) => `target-group ${a}`),
  );
  // ListStacks may be denied (it takes no resource): the stack's own deletion was waited for by id.
  const stacks = await listHarnessStacks(c.cf).catch((err) => {
    if (denied(err)) return [];
    throw err;
  });
  for (const s of stacks) if (s.runId === runId) out.push(`stack ${s.name} (${s.status})`);
  for (const id of await runTemplateIds(c.fis, runId)) out.push(`experiment-template ${id}`);
  out.push(...(await runningExperiments(c.fis, runId)).map((id) => `experiment ${id} (not ended)`));
  const alarm = stopAlarmName(runId);
  if ((await c.cw.send(new DescribeAlarmsCommand({ AlarmNames: [alarm] }))).MetricAlarms?.length)
    out.push(`alarm ${alarm}`);
  for (const z of await zonesOf(c.r53, runId, ref.zoneId, ref.zoneName)) {
    const alive = await c.r53
      .send(new ListResourceRecordSetsCommand({ HostedZoneId: z, MaxItems: 1 }))
      .then(() => true)
      .catch(() => false);
    if (alive) out.push(`hosted-zone ${z}`);
  }
  if (ref.bucket)
    for (const k of await listPrefix(c.s3, ref.bucket, runId)) out.push(`s3://${ref.bucket}/${k}`);
  for (const g of await runLogGroups(c.logs, runId)) out.push(`log-group ${g.logGroupName}`);
  return out;
}

async function runningExperiments(fis: FisClient, runId: string): Promise<string[]> {
  const out: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await fis.send(new ListExperimentsCommand({ nextToken }));
    for (const e of page.experiments ?? [])
      if (e.tags?.[TAGS.run] === runId && e.id && !hasEnded(e.state?.status)) out.push(e.id);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

/** Every run id that has a VPC or a live instance tagged in the region (for cleanup, beside the stacks). */
export async function taggedRunIds(ec2: EC2Client): Promise<string[]> {
  const ids = new Set<string>();
  const Filters = [{ Name: 'tag-key', Values: [TAGS.run] }];
  const runOf = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined) =>
    tags?.find((t) => t.Key === TAGS.run)?.Value;
  for (const v of (await ec2.send(new DescribeVpcsCommand({ Filters }))).Vpcs ?? []) {
    const id = runOf(v.Tags);
    if (id) ids.add(id);
  }
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          ...Filters,
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
        NextToken,
      }),
    );
    for (const r of page.Reservations ?? [])
      for (const i of r.Instances ?? []) {
        const id = runOf(i.Tags);
        if (id) ids.add(id);
      }
    NextToken = page.NextToken;
  } while (NextToken);
  return [...ids].sort();
}
