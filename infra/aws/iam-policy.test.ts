import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NodePlan } from '../../core/provider.ts';
import { renderTemplate } from './template.ts';

/**
 * The operator policy (infra/aws/iam-policy.json) cannot fall behind the code: every AWS SDK
 * command the harness constructs (`new XxxCommand(` in infra/aws/ and the registry the harness
 * shares with the agents, agents/registry/route53.ts) is read from the source, its client
 * package mapped onto its IAM service prefix, and the policy must allow that action in a
 * statement the harness's own call can use: one that holds only for calls CloudFormation makes on
 * its behalf (`aws:CalledVia`) does not count, as the teardown's direct deletes showed.
 *
 * The nodes' instance role (in the template, not this file) is checked the same way for what the
 * agents call on the nodes: every command agents/registry/route53.ts constructs
 * (ChangeResourceRecordSets, ListResourceRecordSets; it never waits for a change with GetChange,
 * which would need `change/*` and not the zone) plus what the boot script calls through the AWS
 * CLI, and nothing more, on the stack's zone alone.
 */

const root = join(import.meta.dirname, '..', '..');
const SOURCES = [
  ...readdirSync(join(root, 'infra/aws'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => join(root, 'infra/aws', f)),
  join(root, 'agents/registry/route53.ts'),
];

/** Each SDK client package's IAM service prefix. */
const PREFIX: Record<string, string> = {
  ec2: 'ec2',
  'auto-scaling': 'autoscaling',
  cloudformation: 'cloudformation',
  fis: 'fis',
  'route-53': 'route53',
  ssm: 'ssm',
  sts: 'sts',
  cloudwatch: 'cloudwatch',
  'cloudwatch-logs': 'logs',
  s3: 's3',
  'elastic-load-balancing-v2': 'elasticloadbalancing',
  iam: 'iam',
  efs: 'elasticfilesystem',
};

/** Where a command's IAM action is not its name. */
const ACTION_OF: Record<string, string | null> = {
  's3:HeadBucket': 's3:ListBucket',
  's3:DeleteObjects': 's3:DeleteObject',
  's3:ListObjectsV2': 's3:ListBucket',
  // No permission is needed: STS answers GetCallerIdentity for any valid credentials.
  'sts:GetCallerIdentity': null,
};

interface Use {
  file: string;
  command: string;
  action: string | null;
}

/** Every `new XxxCommand(` in a file, with the action it needs (from the file's own imports). */
function commandsOf(file: string): Use[] {
  const text = readFileSync(file, 'utf8');
  const imported = new Map<string, { pkg: string; name: string }>();
  for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g))
    for (const spec of m[1]!.split(',')) {
      const [name, alias] = spec
        .replace(/^\s*type\s+/, '')
        .trim()
        .split(/\s+as\s+/);
      if (name) imported.set(alias ?? name, { pkg: m[2]!, name });
    }
  const where = relative(root, file);
  return [...text.matchAll(/new\s+([A-Za-z0-9]+Command)\s*\(/g)].map((m) => {
    const imp = imported.get(m[1]!);
    if (!imp || !PREFIX[imp.pkg])
      throw new Error(`${where}: ${m[1]} is not imported from a known @aws-sdk/client-* package`);
    const action = `${PREFIX[imp.pkg]}:${imp.name.replace(/Command$/, '')}`;
    return { file: where, command: m[1]!, action: action in ACTION_OF ? ACTION_OF[action]! : action };
  });
}

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
const matches = (pattern: string, action: string) =>
  new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`, 'i').test(action);
/** Only for calls CloudFormation makes for the caller. */
const viaCloudFormation = (s: Statement) =>
  Object.values(s.Condition ?? {}).some((c) => 'aws:CalledVia' in c);

const policy = JSON.parse(readFileSync(join(import.meta.dirname, 'iam-policy.json'), 'utf8')) as {
  Statement: Statement[];
};

describe('the operator policy allows every call the harness makes', () => {
  const uses = SOURCES.flatMap(commandsOf);

  it('finds the commands in the source (the grep works)', () => {
    const actions = new Set(uses.map((u) => u.action));
    for (const a of [
      'cloudformation:CreateStack',
      'cloudformation:ListStacks',
      'route53:ChangeResourceRecordSets',
      'route53:ListHostedZones',
      'ec2:GetConsoleOutput',
      'autoscaling:UpdateAutoScalingGroup',
      'fis:StartExperiment',
      'elasticloadbalancing:DescribeTags',
    ])
      expect(actions).toContain(a);
    expect(uses.length).toBeGreaterThan(60);
  });

  it('allows each one directly (not only through CloudFormation)', () => {
    const direct = policy.Statement.filter((s) => s.Effect === 'Allow' && !viaCloudFormation(s));
    const missing = uses
      .filter((u) => u.action !== null)
      .filter((u) => !direct.some((s) => list(s.Action).some((p) => matches(p, u.action!))))
      .map((u) => `${u.action} (${u.command} in ${u.file})`);
    expect([...new Set(missing)].sort()).toEqual([]);
  });
});

describe("the nodes' instance role allows what the agents and the boot script call, on the stack's zone", () => {
  const node: NodePlan = {
    name: 'kv-a',
    system: 'kv',
    az: 'a',
    index: 0,
    main: { image: 'kv', part: 'kv', command: ['kv-server'], ports: [6379], readyLog: /Ready/ },
    sidecars: [
      {
        image: 'node',
        part: 'agent',
        command: ['node', '/opt/chaos/agents.cjs'],
        env: { NODE_NAME: 'kv-a', REGISTRY_URL: 'http://registry:8053' },
        readyLog: /"agent-ready"/,
      },
    ],
  };
  const template = renderTemplate({
    plan: { registry: { ...node.sidecars[0]!, part: 'registry' }, nodes: [node] },
    runId: 'run1',
    scenario: 'kv',
    stackName: 'chaos-kv-run1',
    region: 'us-east-1',
    zonesInRegion: ['us-east-1a'],
    azs: ['a'],
    images: { kv: 'redis:7', node: 'node:20-bookworm-slim' },
  });
  const statements = template.Resources.InstanceRole!.Properties.Policies[0].PolicyDocument
    .Statement as Statement[];

  it("grants the registry's Route 53 calls exactly, on the zone's ARN alone", () => {
    const agentCalls = [
      ...new Set(commandsOf(join(root, 'agents/registry/route53.ts')).map((u) => u.action!)),
    ];
    // The boot script's own `aws route53 change-resource-record-sets` (the node's A record).
    const needed = [...new Set([...agentCalls, 'route53:ChangeResourceRecordSets'])].sort();
    expect(needed).toEqual(['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets']);
    const r53 = statements.filter((s) => list(s.Action).some((a) => a.startsWith('route53:')));
    expect(r53).toHaveLength(1);
    expect([...list(r53[0]!.Action)].sort()).toEqual(needed);
    expect(r53[0]!.Resource).toEqual({ 'Fn::Sub': 'arn:aws:route53:::hostedzone/${HostedZone}' });
    expect(template.Resources.HostedZone!.Type).toBe('AWS::Route53::HostedZone');
  });
});
