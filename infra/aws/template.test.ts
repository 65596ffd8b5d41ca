import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ContainerPlan, NodePlan, StackPlan } from '../../core/provider.ts';
import {
  AL2023_ARM64_PARAMETER,
  AL2023_PARAMETER,
  type CfnTemplate,
  type HealthCheckProfile,
  type TemplateInput,
  awsImages,
  fisStatements,
  renderTemplate,
  templateAssets,
  toJson,
  toYaml,
} from './template.ts';

/** A stack as the systems plan theirs: a chain of three (agents), SQL with disks and a shared archive, a web tier. */
const BUNDLE = { source: '/tmp/chaos-agents-0123.cjs', target: '/opt/chaos/agents.cjs' };
const agent = (node: string, env: Record<string, string> = {}): ContainerPlan => ({
  image: 'node',
  part: 'agent',
  command: ['node', BUNDLE.target],
  env: { NODE_NAME: node, REGISTRY_URL: 'http://registry:7070', ...env },
  files: [BUNDLE],
  readyLog: /"agent-ready"/,
  restartOnFailure: true,
});
const kv = (az: string, index: number, ttl = '1000'): NodePlan => ({
  name: `kv-${az}`,
  system: 'kv',
  az,
  index,
  main: { image: 'kv', part: 'kv', command: ['kv-server'], ports: [6379], readyLog: /Ready/ },
  sidecars: [agent(`kv-${az}`, { HEAD_TTL_MS: ttl })],
});
const sql = (az: string, index: number): NodePlan => ({
  name: `sql-${az}`,
  system: 'sql',
  az,
  index,
  ...(index === 0 ? {} : { after: ['sql-a'] }),
  main: {
    image: 'sql',
    part: 'sql',
    command: ['bash', '/opt/chaos/sql-node.sh'],
    env: { NODE_NAME: `sql-${az}` },
    ports: [5432],
    readyLog: /chaos-sql-ready/,
    files: [{ source: '/repo/systems/sql/node.sh', target: '/opt/chaos/sql-node.sh', mode: 0o755 }],
    volumes: [
      { name: 'data', path: '/var/lib/sql', disk: true },
      { name: 'archive', path: '/archive' },
      { name: 'control', path: '/control' },
    ],
  },
  sidecars: [
    { ...agent(`sql-${az}`, { WRITER_TTL_MS: '2000' }), volumes: [{ name: 'control', path: '/control' }] },
  ],
});
const head = (az: string, index: number): NodePlan => ({
  name: `web-${az}`,
  system: 'web',
  az,
  index,
  main: {
    image: 'node',
    part: 'web',
    command: ['sh', '-c', `node ${BUNDLE.target}; echo '{"node":"web-${az}"}'`],
    env: { CHAOS_ENTRY: 'web-head', NODE_NAME: `web-${az}`, PORT: '8080' },
    files: [BUNDLE],
    ports: [8080],
    readyLog: /"head-ready"/,
  },
  sidecars: [],
});
const LB: NodePlan = {
  name: 'web-lb',
  system: 'web',
  az: '-',
  index: 0,
  after: ['web-a', 'web-b', 'web-c'],
  main: {
    image: 'haproxy',
    part: 'haproxy',
    command: ['haproxy', '-f', '/etc/haproxy.cfg'],
    contents: [{ content: 'global\n', target: '/etc/haproxy.cfg' }],
    ports: [8080, 9999],
    readyLog: /New worker/,
  },
  sidecars: [],
};
const AZS = ['a', 'b', 'c'];
const PLAN: StackPlan = {
  registry: agent('registry'),
  nodes: [
    ...AZS.map((az, i) => kv(az, i)),
    ...AZS.map((az, i) => sql(az, i)),
    ...AZS.map((az, i) => head(az, i + 1)),
    LB,
  ],
  sharedVolumes: ['archive'],
};
/** An ALB target group as created with no health check set (systems/web/lb.ts, alb-defaults). */
const ALB_DEFAULTS: HealthCheckProfile = {
  name: 'alb-defaults',
  check: { intervalMs: 30_000, fall: 2, rise: 5, timeoutMs: 5000 },
  timeouts: { serverMs: 60_000 },
  deregistrationDelayMs: 300_000,
};
const FAST: HealthCheckProfile = {
  name: 'fast',
  check: { intervalMs: 500, fall: 2, rise: 2, timeoutMs: 500 },
  deregistrationDelayMs: 5000,
};
const INPUT: TemplateInput = {
  plan: PLAN,
  runId: 'run1',
  scenario: 'stack-kill',
  stackName: 'chaos-stack-kill-run1',
  region: 'us-east-1',
  zonesInRegion: ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d'],
  azs: AZS,
  images: { kv: 'redis:7', sql: 'postgres:15', node: 'node:20-bookworm-slim', haproxy: 'haproxy:2.6' },
  fisActions: ['aws:ec2:stop-instances', 'aws:network:disrupt-connectivity'],
  loadBalancer: { node: 'web-lb', healthPath: '/health', profile: ALB_DEFAULTS, pool: 'web-head' },
};

const T = renderTemplate(INPUT);
const R = T.Resources;
const ofType = (t: CfnTemplate, type: string) =>
  Object.entries(t.Resources).filter(([, r]) => r.Type === type);
const tagsOf = (tags: { Key: string; Value: string }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key, t.Value]));

/** Resource types that take no tags in CloudFormation: each one is named, so a new type is looked at. */
const UNTAGGABLE = new Set([
  'AWS::EC2::VPCDHCPOptionsAssociation',
  'AWS::EC2::VPCGatewayAttachment',
  'AWS::EC2::Route',
  'AWS::EC2::SubnetRouteTableAssociation',
  'AWS::IAM::InstanceProfile',
  'AWS::EFS::MountTarget',
  'AWS::ElasticLoadBalancingV2::Listener',
]);
/** The tags a resource carries, wherever its type keeps them. */
function resourceTags(r: CfnTemplate['Resources'][string]): Record<string, string> {
  const p = r.Properties ?? {};
  if (r.Type === 'AWS::Route53::HostedZone') return tagsOf(p.HostedZoneTags);
  if (r.Type === 'AWS::EFS::FileSystem') return tagsOf(p.FileSystemTags);
  if (r.Type === 'AWS::EC2::LaunchTemplate') return tagsOf(p.TagSpecifications[0].Tags);
  return tagsOf(p.Tags);
}

describe('renderTemplate', () => {
  it('tags every resource that takes tags with the stack (the scenario) and the run', () => {
    for (const [id, r] of Object.entries(R)) {
      if (UNTAGGABLE.has(r.Type)) continue;
      expect({ id, tags: resourceTags(r) }).toMatchObject({
        id,
        tags: { 'chaos:stack': 'stack-kill', 'chaos:run': 'run1' },
      });
    }
  });

  it('gives each node an Auto Scaling group of exactly one, in its zone, from its own launch template', () => {
    const singles = PLAN.nodes.filter((n) => n.system !== 'web');
    for (const n of singles) {
      const id =
        n.name === 'kv-a'
          ? 'KvA'
          : n.name
              .split('-')
              .map((w) => w[0]!.toUpperCase() + w.slice(1))
              .join('');
      const asg = R[`Asg${id}`]!;
      expect(asg.Type).toBe('AWS::AutoScaling::AutoScalingGroup');
      expect(asg.Properties).toMatchObject({ MinSize: '1', MaxSize: '1', DesiredCapacity: '1' });
      expect(asg.Properties.VPCZoneIdentifier).toEqual([{ Ref: `Subnet${n.az.toUpperCase()}` }]);
      expect(asg.Properties.LaunchTemplate.LaunchTemplateId).toEqual({ Ref: `LaunchTemplate${id}` });
      expect(asg.CreationPolicy).toEqual({ ResourceSignal: { Count: 1, Timeout: 'PT20M' } });
      const tags = asg.Properties.Tags as { Key: string; Value: string; PropagateAtLaunch: boolean }[];
      expect(tags.every((t) => t.PropagateAtLaunch)).toBe(true);
      expect(tagsOf(tags)).toMatchObject({
        'chaos:system': n.system,
        'chaos:node': n.name,
        'chaos:run': 'run1',
      });
      const lt = R[`LaunchTemplate${id}`]!.Properties.LaunchTemplateData;
      expect(lt.MetadataOptions.HttpTokens).toBe('required');
      expect(lt.ImageId).toEqual({ Ref: 'ImageId' });
      const specs = Object.fromEntries(
        (lt.TagSpecifications as { ResourceType: string; Tags: [] }[]).map((s) => [
          s.ResourceType,
          tagsOf(s.Tags),
        ]),
      );
      expect(specs.instance).toMatchObject({
        'chaos:node': n.name,
        'chaos:system': n.system,
        'chaos:run': 'run1',
      });
      expect(specs.volume).toMatchObject({ 'chaos:node': n.name, 'chaos:run': 'run1' });
      // chaos:volume goes on the data volume alone, by the node itself: never on the root.
      expect(specs.volume!['chaos:volume']).toBeUndefined();
    }
    expect(ofType(T, 'AWS::AutoScaling::AutoScalingGroup')).toHaveLength(singles.length + 1);
  });

  it('gives each disk its own encrypted EBS volume, deleted with the instance, sized apart from the root', () => {
    const sqlA = R.LaunchTemplateSqlA!.Properties.LaunchTemplateData.BlockDeviceMappings;
    expect(sqlA).toEqual([
      {
        DeviceName: '/dev/xvda',
        Ebs: { VolumeSize: 16, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
      },
      {
        DeviceName: '/dev/sdf',
        Ebs: { VolumeSize: 20, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
      },
    ]);
    expect(R.LaunchTemplateKvA!.Properties.LaunchTemplateData.BlockDeviceMappings).toHaveLength(1);
  });

  it("keeps the plan's order: a node that comes after another waits for that one's group to be ready", () => {
    expect(R.AsgSqlB!.DependsOn).toContain('AsgSqlA');
    expect(R.AsgSqlA!.DependsOn).not.toContain('AsgSqlB');
    // Shared volumes: the file system's mount targets exist before a node mounts them.
    expect(R.AsgSqlA!.DependsOn).toEqual(
      expect.arrayContaining(['FileSystemTargetA', 'FileSystemTargetB', 'FileSystemTargetC']),
    );
  });

  it('lays the network out as the local zones are: a /16, a /24 per zone, each subnet in its zone', () => {
    const cidr = R.Vpc!.Properties.CidrBlock as string;
    const k = /^10\.(\d+)\.0\.0\/16$/.exec(cidr)![1];
    expect(R.SubnetA!.Properties).toMatchObject({
      CidrBlock: `10.${k}.1.0/24`,
      AvailabilityZone: 'us-east-1a',
    });
    expect(R.SubnetC!.Properties).toMatchObject({
      CidrBlock: `10.${k}.3.0/24`,
      AvailabilityZone: 'us-east-1c',
    });
    expect(R.NodeSecurityGroup!.Properties.SecurityGroupIngress).toEqual([
      { IpProtocol: '-1', CidrIp: cidr, Description: 'anything from within the VPC' },
    ]);
    expect(R.DefaultRoute!.Properties.GatewayId).toEqual({ Ref: 'InternetGateway' });
    expect(renderTemplate({ ...INPUT, vpcOctet: 42 }).Resources.Vpc!.Properties.CidrBlock).toBe(
      '10.42.0.0/16',
    );
  });

  it("puts the registry's records in a private zone of the VPC, the VPC's search domain", () => {
    expect(R.HostedZone!.Properties).toMatchObject({
      Name: 'chaos-stack-kill-run1.chaos.internal',
      VPCs: [{ VPCId: { Ref: 'Vpc' }, VPCRegion: { Ref: 'AWS::Region' } }],
    });
    expect(R.DhcpOptions!.Properties.DomainName).toBe('chaos-stack-kill-run1.chaos.internal');
  });

  it('stands an ALB for the load balancer node: its target group checks as the profile says', () => {
    expect(R.TargetGroup!.Properties).toMatchObject({
      Port: 8080,
      Protocol: 'HTTP',
      HealthCheckPath: '/health',
      HealthCheckIntervalSeconds: 30,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 5,
      UnhealthyThresholdCount: 2,
      Matcher: { HttpCode: '200' },
      TargetGroupAttributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '300' }],
    });
    expect(R.LoadBalancer!.Properties).toMatchObject({
      Type: 'application',
      Scheme: 'internal',
      Subnets: [{ Ref: 'SubnetA' }, { Ref: 'SubnetB' }, { Ref: 'SubnetC' }],
      LoadBalancerAttributes: [{ Key: 'idle_timeout.timeout_seconds', Value: '60' }],
    });
    expect(R.Listener!.Properties).toMatchObject({ Port: 8080, Protocol: 'HTTP' });
    expect(R.LoadBalancerSecurityGroup!.Properties.SecurityGroupIngress).toEqual([
      expect.objectContaining({
        FromPort: 8080,
        SourceSecurityGroupId: { 'Fn::GetAtt': ['ProbeSecurityGroup', 'GroupId'] },
      }),
    ]);
    // The load balancer node itself runs on no instance.
    expect(Object.keys(R).some((id) => /WebLb/.test(id))).toBe(false);
  });

  it("the target group picks by least outstanding requests when the web tier's balance asks it", () => {
    const least = renderTemplate({
      ...INPUT,
      loadBalancer: { ...INPUT.loadBalancer!, balance: 'least-outstanding' },
    }).Resources.TargetGroup!.Properties.TargetGroupAttributes;
    expect(least).toEqual([
      { Key: 'deregistration_delay.timeout_seconds', Value: '300' },
      { Key: 'load_balancing.algorithm.type', Value: 'least_outstanding_requests' },
    ]);
    // round-robin is the ALB's own default: nothing written for it
    const rr = renderTemplate({ ...INPUT, loadBalancer: { ...INPUT.loadBalancer!, balance: 'round-robin' } });
    expect(rr.Resources.TargetGroup!.Properties.TargetGroupAttributes).toHaveLength(1);
  });

  it('starts the heads as ONE Auto Scaling group over their zones, registered with the target group', () => {
    const asg = R.AsgWebHead!;
    expect(asg.Properties).toMatchObject({
      MinSize: '3',
      MaxSize: '3',
      DesiredCapacity: '3',
      VPCZoneIdentifier: [{ Ref: 'SubnetA' }, { Ref: 'SubnetB' }, { Ref: 'SubnetC' }],
      TargetGroupARNs: [{ Ref: 'TargetGroup' }],
    });
    expect(asg.CreationPolicy.ResourceSignal.Count).toBe(3);
    expect(tagsOf(asg.Properties.Tags)).toMatchObject({ 'chaos:pool': 'web-head', 'chaos:system': 'web' });
    expect(tagsOf(asg.Properties.Tags)['chaos:node']).toBeUndefined();
    expect(
      ofType(T, 'AWS::EC2::LaunchTemplate').filter(([id]) => id.startsWith('LaunchTemplateWeb')),
    ).toHaveLength(1);
    const ud = JSON.stringify(R.LaunchTemplateWebHead!.Properties.LaunchTemplateData.UserData);
    expect(ud).toContain('NODE_NAME=');
    expect(ud).not.toContain('web-a');
  });

  it('makes the load balancer internet-facing, open to the probe host alone, when the harness is outside', () => {
    const t = renderTemplate({ ...INPUT, probeCidr: '203.0.113.7/32' });
    expect(t.Resources.LoadBalancer!.Properties.Scheme).toBe('internet-facing');
    expect(t.Resources.LoadBalancerSecurityGroup!.Properties.SecurityGroupIngress).toContainEqual(
      expect.objectContaining({ CidrIp: '203.0.113.7/32', FromPort: 8080 }),
    );
    expect(t.Resources.NodeSecurityGroup!.Properties.SecurityGroupIngress).toContainEqual(
      expect.objectContaining({ CidrIp: '203.0.113.7/32', FromPort: 5432 }),
    );
  });

  it("trusts FIS with the run's experiments only: this account, this region's experiments", () => {
    const trust = R.FisRole!.Properties.AssumeRolePolicyDocument.Statement;
    expect(trust).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'fis.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': { 'Fn::Sub': 'arn:aws:fis:us-east-1:${AWS::AccountId}:experiment/*' } },
        },
      },
    ]);
    const gov = renderTemplate({
      ...INPUT,
      region: 'us-gov-west-1',
      zonesInRegion: ['us-gov-west-1a', 'us-gov-west-1b', 'us-gov-west-1c'],
    });
    expect(JSON.stringify(gov.Resources.FisRole!.Properties.AssumeRolePolicyDocument)).toContain(
      'arn:aws-us-gov:fis:us-gov-west-1:',
    );
  });

  it("lets the FIS role do the scenario's actions alone, on the run's resources alone", () => {
    const statements = R.FisRole!.Properties.Policies[0].PolicyDocument.Statement as {
      Sid: string;
      Action: string[];
      Resource: unknown;
      Condition?: Record<string, Record<string, unknown>>;
    }[];
    const actions = statements.flatMap((s) => s.Action);
    expect(actions).toContain('ec2:StopInstances');
    expect(actions).toContain('ec2:ReplaceNetworkAclAssociation');
    expect(actions).not.toContain('ec2:TerminateInstances');
    expect(actions).not.toContain('ssm:SendCommand');
    expect(actions).not.toContain('ec2:PauseVolumeIO');
    const stop = statements.find((s) => s.Action.includes('ec2:StopInstances'))!;
    expect(stop.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/chaos:run': 'run1' } });
    // Every statement that changes something names its resources, or is held by a condition.
    for (const s of statements)
      if (s.Resource === '*' && s.Sid !== 'ResolveTargets' && s.Sid !== 'FollowCommands')
        expect(s.Condition).toBeDefined();
    const none = renderTemplate({ ...INPUT, fisActions: [] });
    expect(none.Resources.FisRole!.Properties.Policies).toBeUndefined();
    const ssm = fisStatements(['aws:ssm:send-command'], 'eu-west-1', 'r9');
    expect(ssm[0]).toMatchObject({
      Action: ['ssm:SendCommand'],
      Condition: { StringEquals: { 'ssm:resourceTag/chaos:run': 'r9' } },
    });
    expect(fisStatements(['aws:ebs:pause-volume-io'], 'eu-west-1', 'r9')[0]).toMatchObject({
      Action: ['ec2:PauseVolumeIO'],
      Resource: { 'Fn::Sub': 'arn:aws:ec2:eu-west-1:${AWS::AccountId}:volume/*' },
    });
  });

  it("gives the instances SSM, the run's assets, the zone's records, and their own volume tags; nothing else", () => {
    const role = R.InstanceRole!.Properties;
    expect(role.ManagedPolicyArns).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    const s = role.Policies[0].PolicyDocument.Statement as {
      Action: string[];
      Resource: unknown;
      Condition?: unknown;
    }[];
    expect(s.map((x) => x.Action)).toEqual([
      ['s3:GetObject'],
      ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'],
      ['ec2:CreateTags'],
    ]);
    expect(s[0]!.Resource).toEqual({ 'Fn::Sub': 'arn:aws:s3:::${AssetsBucket}/run1/*' });
    expect(s[1]!.Resource).toEqual({ 'Fn::Sub': 'arn:aws:route53:::hostedzone/${HostedZone}' });
    expect(s[2]!.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/chaos:run': 'run1' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['chaos:volume', 'chaos:node'] },
    });
  });

  it("boots each node from its user data: settings from the stack, the boot script, the node's containers", () => {
    const parts = R.LaunchTemplateSqlB!.Properties.LaunchTemplateData.UserData['Fn::Base64'][
      'Fn::Join'
    ][1] as unknown[];
    expect(parts).toContainEqual({ 'Fn::Sub': 's3://${AssetsBucket}/run1' });
    expect(parts).toContainEqual({ Ref: 'HostedZone' });
    expect(parts).toContainEqual({ Ref: 'AWS::StackName' });
    expect(parts).toContainEqual({ 'Fn::Sub': '${FileSystem}.efs.${AWS::Region}.${AWS::URLSuffix}' });
    const text = parts.filter((p) => typeof p === 'string').join('');
    expect(text).toContain("CHAOS_SIGNAL='AsgSqlB'");
    expect(text).toContain("up main 'chaos-run1-sql-b'");
    expect(text).toContain("disk 'data' '/dev/sdf' 20");
  });

  it("gives every node's agents the stack's zone as their registry: REGISTRY_URL=route53://<the zone's Ref>/<zone>", () => {
    const lts = ofType(T, 'AWS::EC2::LaunchTemplate');
    expect(lts.length).toBeGreaterThan(1);
    for (const [id, lt] of lts) {
      const parts = lt.Properties.LaunchTemplateData.UserData['Fn::Base64']['Fn::Join'][1] as unknown[];
      const i = parts.indexOf("CHAOS_REGISTRY_URL='route53://");
      expect({ id, found: i > 0 }).toEqual({ id, found: true });
      expect(parts[i + 1]).toEqual({ Ref: 'HostedZone' });
      expect(parts[i + 2]).toBe(`/${R.HostedZone!.Properties.Name}?region=us-east-1'\n`);
      // Each container the plan gives REGISTRY_URL (the kv nodes here) gets it from there.
      const text = parts.filter((p) => typeof p === 'string').join('');
      if (id.startsWith('LaunchTemplateKv')) expect(text).toContain('-e "REGISTRY_URL=$(registry_url ');
      expect(text).not.toMatch(/-e 'REGISTRY_URL=/);
    }
  });

  it('runs a node of no zone (a regional proxy) as a group of one over every zone, and says so', () => {
    const proxy: NodePlan = { ...kv('a', 9), name: 'kv-proxy', az: '-' };
    const t = renderTemplate({ ...INPUT, plan: { ...PLAN, nodes: [...PLAN.nodes, proxy] } });
    expect(t.Resources.AsgKvProxy!.Properties).toMatchObject({
      MaxSize: '1',
      VPCZoneIdentifier: [{ Ref: 'SubnetA' }, { Ref: 'SubnetB' }, { Ref: 'SubnetC' }],
    });
    expect(t.Metadata.ChaosHarness.notes.join('\n')).toMatch(/kv-proxy is in no zone/);
  });

  it('has the outputs a provider needs', () => {
    expect(Object.keys(T.Outputs).sort()).toEqual(
      [
        'AssetsPrefix',
        'AsgKvAName',
        'AsgKvBName',
        'AsgKvCName',
        'AsgSqlAName',
        'AsgSqlBName',
        'AsgSqlCName',
        'AsgWebHeadName',
        'FileSystemId',
        'FisRoleArn',
        'HostedZoneId',
        'HostedZoneName',
        'InstanceRoleArn',
        'LoadBalancerDnsName',
        'LoadBalancerNode',
        'LoadBalancerPort',
        'ProbeSecurityGroupId',
        'SubnetAId',
        'SubnetBId',
        'SubnetCId',
        'TargetGroupArn',
        'VpcId',
      ].sort(),
    );
  });

  it('takes Amazon Linux 2023 from its SSM parameter, arm64 for a Graviton type', () => {
    expect(T.Parameters.ImageId).toMatchObject({
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: AL2023_PARAMETER,
    });
    expect(renderTemplate({ ...INPUT, instanceType: 't4g.small' }).Parameters.ImageId.Default).toBe(
      AL2023_ARM64_PARAMETER,
    );
    expect(T.Rules.SameRegion.Assertions[0].Assert).toEqual({
      'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'],
    });
  });

  it('is the same for the same input, as JSON and as YAML', () => {
    expect(toJson(renderTemplate(INPUT))).toBe(toJson(T));
    expect(JSON.parse(toJson(T))).toEqual(T);
    expect(parse(toYaml(T))).toEqual(JSON.parse(toJson(T)));
  });

  it('pulls the official images on AWS, or what their variables say', () => {
    const refs = [
      { name: 'kv', env: 'CHAOS_IMAGE_KV', official: 'redis:7', offline: 'chaos-local/redis:7' },
      {
        name: 'node',
        env: 'CHAOS_IMAGE_NODE',
        official: 'node:20-bookworm-slim',
        offline: 'chaos-local/node:20',
      },
    ];
    expect(awsImages(refs, { CHAOS_IMAGE_KV: 'registry.example.com/redis:7.2' })).toEqual({
      kv: 'registry.example.com/redis:7.2',
      node: 'node:20-bookworm-slim',
    });
  });

  it("lists the assets the instances fetch: not the load balancer node's", () => {
    const keys = templateAssets(INPUT).map((a) => a.key);
    expect(keys).toHaveLength(2);
    expect(keys.some((k) => k.endsWith('/chaos-agents-0123.cjs'))).toBe(true);
    expect(keys.some((k) => k.endsWith('/node.sh'))).toBe(true);
  });
});

describe('renderTemplate refuses what AWS cannot carry out', () => {
  it('a zone letter the region does not have', () => {
    expect(() => renderTemplate({ ...INPUT, azs: ['a', 'b', 'e'] })).toThrow(
      /zone us-east-1e \(letter 'e'\) does not exist in us-east-1: it has us-east-1a, us-east-1b, us-east-1c, us-east-1d/,
    );
    expect(() => renderTemplate({ ...INPUT, zonesInRegion: ['eu-west-1a'] })).toThrow(
      /not a zone of region us-east-1/,
    );
  });

  it("a region not in the account's list, or no region at all", () => {
    expect(() => renderTemplate({ ...INPUT, regions: ['eu-west-1'] })).toThrow(
      /region us-east-1 is not one of/,
    );
    expect(() => renderTemplate({ ...INPUT, region: 'mars-1' })).toThrow(/not an AWS region name/);
  });

  it("a node outside the stack's zones", () => {
    const plan = { ...PLAN, nodes: [...PLAN.nodes, kv('d', 3)] };
    expect(() => renderTemplate({ ...INPUT, plan })).toThrow(
      /node kv-d is in zone 'd', which is not one of the stack's/,
    );
  });

  it('a record TTL under a second, or not in whole seconds, naming the setting', () => {
    const sub = { ...PLAN, nodes: [kv('a', 0, '500'), ...PLAN.nodes.slice(1)] };
    expect(() => renderTemplate({ ...INPUT, plan: sub })).toThrow(
      /Route 53 keeps record TTLs in whole seconds, 1 s at least; the plan asks HEAD_TTL_MS=500 \(kv-a's agent\)/,
    );
    const frac = { ...PLAN, nodes: [kv('a', 0, '1500'), ...PLAN.nodes.slice(1)] };
    expect(() => renderTemplate({ ...INPUT, plan: frac })).toThrow(/HEAD_TTL_MS=1500/);
    try {
      renderTemplate({ ...INPUT, plan: sub });
    } catch (err) {
      expect((err as { hint: string }).hint).toMatch(/RecordTtlMs/);
      expect((err as { code: string }).code).toBe('AWS_RECORD_TTL');
    }
  });

  it('a health check an ALB cannot do, naming the setting and its range', () => {
    expect(() =>
      renderTemplate({ ...INPUT, loadBalancer: { ...INPUT.loadBalancer!, profile: FAST } }),
    ).toThrow(
      /load balancer profile 'fast' has a check interval of 500 ms; an ALB target group's HealthCheckIntervalSeconds is 5 to 300 s/,
    );
    const slowTimeout = { ...ALB_DEFAULTS, check: { ...ALB_DEFAULTS.check, timeoutMs: 30_000 } };
    expect(() =>
      renderTemplate({ ...INPUT, loadBalancer: { ...INPUT.loadBalancer!, profile: slowTimeout } }),
    ).toThrow(/check timeout \(30000 ms\) is not under its interval/);
    const rise = { ...ALB_DEFAULTS, check: { ...ALB_DEFAULTS.check, rise: 11 } };
    expect(() =>
      renderTemplate({ ...INPUT, loadBalancer: { ...INPUT.loadBalancer!, profile: rise } }),
    ).toThrow(/HealthyThresholdCount is 2 to 10/);
  });

  it('user data over 16 KB', () => {
    const big = { ...sql('a', 0), main: { ...sql('a', 0).main, env: { BIG: 'x'.repeat(15_000) } } };
    const plan = { ...PLAN, nodes: PLAN.nodes.map((n) => (n.name === 'sql-a' ? big : n)) };
    expect(() => renderTemplate({ ...INPUT, plan })).toThrow(
      /sql-a's user data is \d+ bytes; EC2 takes 16384 at most/,
    );
  });

  it('an ALB in one zone, a FIS action it has no permissions for, a world-open probe CIDR, unlike heads', () => {
    expect(() =>
      renderTemplate({
        ...INPUT,
        azs: ['a'],
        plan: { ...PLAN, nodes: [head('a', 1), { ...LB, after: ['web-a'] }] },
      }),
    ).toThrow(/needs subnets in two zones at least/);
    expect(() => renderTemplate({ ...INPUT, fisActions: ['aws:rds:reboot-db-instances'] })).toThrow(
      /no permissions are known for FIS action aws:rds:reboot-db-instances/,
    );
    expect(() => renderTemplate({ ...INPUT, probeCidr: '0.0.0.0/0' })).toThrow(
      /opens the stack to 4294967296 addresses/,
    );
    const odd = {
      ...head('b', 2),
      main: { ...head('b', 2).main, env: { ...head('b', 2).main.env, EXTRA: '1' } },
    };
    const plan = { ...PLAN, nodes: PLAN.nodes.map((n) => (n.name === 'web-b' ? odd : n)) };
    expect(() => renderTemplate({ ...INPUT, plan })).toThrow(/web-b and web-a are planned differently/);
  });
});

describe('the operator policy (infra/aws/iam-policy.json)', () => {
  const policy = JSON.parse(readFileSync(join(import.meta.dirname, 'iam-policy.json'), 'utf8')) as {
    Version: string;
    Statement: {
      Sid: string;
      Effect: string;
      Action: string | string[];
      Resource: string | string[];
      Condition?: object;
    }[];
  };
  const actions = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
  /** Whether the policy allows an action (its wildcards as IAM reads them), in some statement. */
  const allows = (action: string) =>
    policy.Statement.some((s) =>
      actions(s).some((a) =>
        new RegExp(`^${a.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`, 'i').test(action),
      ),
    );

  it('fits a managed policy (6,144 characters without white space) and names each statement', () => {
    expect(policy.Version).toBe('2012-10-17');
    const size = JSON.stringify(policy).replace(/\s/g, '').length;
    expect(size).toBeLessThanOrEqual(6144);
    const sids = policy.Statement.map((s) => s.Sid);
    expect(new Set(sids).size).toBe(sids.length);
    for (const s of policy.Statement) expect(s.Effect).toBe('Allow');
  });

  it('uses the services a game day needs, and no others', () => {
    const services = new Set(policy.Statement.flatMap(actions).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(
      [
        'autoscaling',
        'cloudformation',
        'cloudwatch',
        'ec2',
        'elasticfilesystem',
        'elasticloadbalancing',
        'fis',
        'iam',
        'logs',
        'route53',
        's3',
        'ssm',
      ].sort(),
    );
    expect(policy.Statement.flatMap(actions).some((a) => a.endsWith(':*'))).toBe(false);
  });

  it('passes the chaos roles alone, to EC2 and FIS alone', () => {
    const pass = policy.Statement.filter((s) => actions(s).includes('iam:PassRole'));
    expect(pass).toEqual([
      expect.objectContaining({
        Resource: 'arn:aws:iam::*:role/chaos/*',
        Condition: { StringEquals: { 'iam:PassedToService': ['ec2.amazonaws.com', 'fis.amazonaws.com'] } },
      }),
    ]);
  });

  it('holds every statement that changes something by a tag, CloudFormation, or a chaos name', () => {
    const READ = /^[a-z0-9]+:(Describe|Get|List|ValidateTemplate)/i;
    // Route 53 has no condition key that names or tags the zone DeleteHostedZone deletes; the
    // teardown deletes only a zone it found by the run's tag and its chaos.internal name, and Route
    // 53 refuses to delete a zone that holds any record set but its SOA and NS.
    const UNSCOPABLE = new Set(['route53:DeleteHostedZone']);
    for (const s of policy.Statement) {
      if (actions(s).every((a) => READ.test(a) || UNSCOPABLE.has(a))) continue;
      const scoped =
        s.Condition !== undefined ||
        [s.Resource].flat().every((r) => /chaos|AWSFIS|AWS-RunShellScript|ami-amazon-linux/.test(r));
      expect({ sid: s.Sid, scoped }).toEqual({ sid: s.Sid, scoped: true });
    }
  });

  it('allows creating and deleting every kind of resource the template makes', () => {
    const needs: Record<string, string[]> = {
      'AWS::EC2::VPC': ['ec2:CreateVpc', 'ec2:DeleteVpc', 'ec2:ModifyVpcAttribute'],
      'AWS::EC2::DHCPOptions': ['ec2:CreateDhcpOptions', 'ec2:DeleteDhcpOptions'],
      'AWS::EC2::VPCDHCPOptionsAssociation': ['ec2:AssociateDhcpOptions'],
      'AWS::EC2::InternetGateway': ['ec2:CreateInternetGateway', 'ec2:DeleteInternetGateway'],
      'AWS::EC2::VPCGatewayAttachment': ['ec2:AttachInternetGateway', 'ec2:DetachInternetGateway'],
      'AWS::EC2::RouteTable': ['ec2:CreateRouteTable', 'ec2:DeleteRouteTable'],
      'AWS::EC2::Route': ['ec2:CreateRoute', 'ec2:DeleteRoute'],
      'AWS::EC2::Subnet': ['ec2:CreateSubnet', 'ec2:DeleteSubnet', 'ec2:ModifySubnetAttribute'],
      'AWS::EC2::SubnetRouteTableAssociation': ['ec2:AssociateRouteTable', 'ec2:DisassociateRouteTable'],
      'AWS::EC2::SecurityGroup': [
        'ec2:CreateSecurityGroup',
        'ec2:DeleteSecurityGroup',
        'ec2:AuthorizeSecurityGroupIngress',
      ],
      'AWS::EC2::LaunchTemplate': [
        'ec2:CreateLaunchTemplate',
        'ec2:DeleteLaunchTemplate',
        'ec2:RunInstances',
        'ec2:CreateTags',
      ],
      'AWS::AutoScaling::AutoScalingGroup': [
        'autoscaling:CreateAutoScalingGroup',
        'autoscaling:DeleteAutoScalingGroup',
        'autoscaling:UpdateAutoScalingGroup',
      ],
      'AWS::Route53::HostedZone': [
        'route53:CreateHostedZone',
        'route53:DeleteHostedZone',
        'route53:ChangeTagsForResource',
      ],
      'AWS::IAM::Role': [
        'iam:CreateRole',
        'iam:DeleteRole',
        'iam:PutRolePolicy',
        'iam:DeleteRolePolicy',
        'iam:AttachRolePolicy',
        'iam:TagRole',
      ],
      'AWS::IAM::InstanceProfile': [
        'iam:CreateInstanceProfile',
        'iam:AddRoleToInstanceProfile',
        'iam:DeleteInstanceProfile',
      ],
      'AWS::EFS::FileSystem': ['elasticfilesystem:CreateFileSystem', 'elasticfilesystem:DeleteFileSystem'],
      'AWS::EFS::MountTarget': ['elasticfilesystem:CreateMountTarget', 'elasticfilesystem:DeleteMountTarget'],
      'AWS::ElasticLoadBalancingV2::LoadBalancer': [
        'elasticloadbalancing:CreateLoadBalancer',
        'elasticloadbalancing:DeleteLoadBalancer',
      ],
      'AWS::ElasticLoadBalancingV2::TargetGroup': [
        'elasticloadbalancing:CreateTargetGroup',
        'elasticloadbalancing:ModifyTargetGroupAttributes',
      ],
      'AWS::ElasticLoadBalancingV2::Listener': [
        'elasticloadbalancing:CreateListener',
        'elasticloadbalancing:DeleteListener',
      ],
    };
    const types = [...new Set(Object.values(R).map((r) => r.Type))].sort();
    expect(types.filter((t) => !needs[t])).toEqual([]);
    for (const t of types)
      for (const a of needs[t]!)
        expect({ type: t, action: a, allowed: allows(a) }).toMatchObject({ allowed: true });
    for (const a of [
      'cloudformation:CreateStack',
      'cloudformation:DeleteStack',
      'ssm:GetParameters',
      'fis:StartExperiment',
      's3:PutObject',
    ])
      expect({ action: a, allowed: allows(a) }).toMatchObject({ allowed: true });
  });
});
