import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  CreateExperimentTemplateCommand,
  type CreateExperimentTemplateRequest,
  FisClient,
  GetExperimentCommand,
  GetExperimentTemplateCommand,
  ListExperimentResolvedTargetsCommand,
  StartExperimentCommand,
} from '@aws-sdk/client-fis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planInput } from '../../engine/aws-plan.ts';
import {
  type ApiCall,
  type PlanEntry,
  ROLE_ARN_PLACEHOLDER,
  RUN_ID_PLACEHOLDER,
  planFaults,
} from '../../infra/aws/fis-plan.ts';
import { listScenarios, loadScenario } from '../../scenarios/load.ts';
import { freePort, haveMoto, motoSkip } from './moto.ts';

/**
 * `chaos plan --provider aws`, checked against a real FIS API: every template the plan makes for
 * the built-in scenarios and for test/fixtures/aws/ is created on moto's FIS through
 * @aws-sdk/client-fis, read back and compared, and one experiment is started. Moto stores
 * templates and experiments as given: it does not run actions, nor resolve targets selected by
 * tags (its resolved targets are the ARNs a template lists, none here), nor check action ids or
 * parameters against FIS's actions. So this proves the shape (what the SDK serialises and the API
 * returns), not that an action would run; the limits are checked by the plan itself and its
 * unit tests. Where the plan is direct API calls, moto's EC2 does filter: the DescribeInstances a
 * plan makes is run against instances of two runs, two zones and the harness's own host, and
 * moto's SSM takes the SendCommand that follows.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURES = join(ROOT, 'test/fixtures/aws');
const OPTS = {
  region: 'us-east-1',
  runId: RUN_ID_PLACEHOLDER,
  roleArn: ROLE_ARN_PLACEHOLDER,
  stopAlarmArns: [],
};

/** `node bin/chaos.js ...`: exit code, stdout, stderr. */
function chaos(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin/chaos.js'), ...args],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        done({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

/** One call of EC2's query API on moto (which takes any credentials); the XML it answers. */
async function ec2(endpoint: string, params: Record<string, string>): Promise<string> {
  const r = await fetch(`${endpoint}/`, {
    method: 'POST',
    body: new URLSearchParams({ Version: '2016-11-15', ...params }),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization:
        'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
    },
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`EC2 ${params.Action}: ${r.status} ${text.slice(0, 300)}`);
  return text;
}

/** One call of Systems Manager's JSON API on moto. */
async function ssm(endpoint: string, operation: string, input: unknown): Promise<unknown> {
  const r = await fetch(`${endpoint}/`, {
    method: 'POST',
    body: JSON.stringify(input),
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AmazonSSM.${operation}`,
      authorization:
        'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=0',
    },
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`SSM ${operation}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** A planned DescribeInstances call's filters as query parameters. */
function filterParams(call: ApiCall): Record<string, string> {
  const { Filters } = call.input as { Filters: { Name: string; Values: string[] }[] };
  const out: Record<string, string> = {};
  Filters.forEach((f, i) => {
    out[`Filter.${i + 1}.Name`] = f.Name;
    f.Values.forEach((v, j) => {
      out[`Filter.${i + 1}.Value.${j + 1}`] = v;
    });
  });
  return out;
}

/** Every fixture and built-in scenario, planned; the templates among their entries. */
function templates(): { from: string; entry: PlanEntry; template: CreateExperimentTemplateRequest }[] {
  const files = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => loadScenario(join(FIXTURES, f)));
  return [...listScenarios(), ...files].flatMap((loaded) =>
    planFaults(planInput(loaded), OPTS).flatMap((entry) =>
      entry.kind === 'fis-template'
        ? [{ from: `${loaded.scenario.name} ${entry.heading}`, entry, template: entry.template }]
        : [],
    ),
  );
}

describe.skipIf(!haveMoto)(`FIS templates on moto's FIS API${motoSkip}`, () => {
  let moto: ChildProcess | undefined;
  let client: FisClient;
  let motoLog = '';
  let url = '';

  beforeAll(async () => {
    const port = await freePort();
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    moto.stdout?.on('data', (d: Buffer) => {
      motoLog += d.toString();
    });
    moto.stderr?.on('data', (d: Buffer) => {
      motoLog += d.toString();
    });
    url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await fetch(`${url}/moto-api/`);
        break;
      } catch {
        if (Date.now() > deadline || moto.exitCode !== null)
          throw new Error(`moto_server did not answer on ${url}: ${motoLog.slice(-500)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    client = new FisClient({
      region: 'us-east-1',
      endpoint: url,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
  });

  afterAll(async () => {
    client?.destroy();
    if (moto && moto.exitCode === null) {
      const exited = new Promise((r) => moto!.once('exit', r));
      moto.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (moto.exitCode === null) moto.kill('SIGKILL');
    }
  });

  it('the plans cover every FIS action the fault vocabulary maps to', () => {
    const ids = new Set(
      templates().flatMap((t) => Object.values(t.template.actions ?? {}).map((a) => a.actionId)),
    );
    expect([...ids].sort()).toEqual([
      'aws:ebs:pause-volume-io',
      'aws:ec2:asg-insufficient-instance-capacity-error',
      'aws:ec2:stop-instances',
      'aws:ec2:terminate-instances',
      'aws:network:disrupt-connectivity',
      'aws:ssm:send-command',
    ]);
    const names = templates().map((t) => t.from);
    for (const needed of [
      'redis-head-kill',
      'az-drop-power-aws',
      'az-drop-network-aws',
      'pg-volume-freeze-aws',
      'fullstack-az-power',
    ])
      expect(names.some((n) => n.startsWith(`${needed} `))).toBe(true);
  });

  it('each template is created, read back with its actions, targets and parameters as planned', async () => {
    const all = templates();
    expect(all.length).toBeGreaterThanOrEqual(6);
    for (const { from, template } of all) {
      const created = await client.send(new CreateExperimentTemplateCommand(template));
      const id = created.experimentTemplate?.id;
      expect(id, from).toBeTruthy();
      const got = (await client.send(new GetExperimentTemplateCommand({ id }))).experimentTemplate!;
      expect(got.actions, from).toEqual(template.actions);
      expect(got.targets, from).toEqual(template.targets);
      expect(got.stopConditions, from).toEqual(template.stopConditions);
      expect(got.description, from).toBe(template.description);
      expect(got.roleArn, from).toBe(template.roleArn);
      expect(got.tags, from).toEqual(template.tags);
    }
  });

  it('an experiment starts from a created template (moto neither runs its actions nor resolves its tag targets)', async () => {
    const power = templates().find((t) => t.from.startsWith('az-drop-power-aws '))!;
    const { experimentTemplate } = await client.send(new CreateExperimentTemplateCommand(power.template));
    const started = await client.send(
      new StartExperimentCommand({
        experimentTemplateId: experimentTemplate!.id,
        tags: { 'chaos:run': 'test' },
      }),
    );
    const experiment = started.experiment!;
    expect(experiment.experimentTemplateId).toBe(experimentTemplate!.id);
    expect(['pending', 'initiating', 'running', 'completed']).toContain(experiment.state?.status);
    const got = (await client.send(new GetExperimentCommand({ id: experiment.id }))).experiment!;
    expect(Object.keys(got.actions ?? {}).sort()).toEqual([
      'disrupt-network-a',
      'stop-az-a-pg',
      'stop-az-a-redis',
    ]);
    expect(got.targets).toEqual(power.template.targets);
    // Targets by tag are not resolved by moto: nothing is listed (FIS would list the instances and subnets).
    const resolved = await client.send(
      new ListExperimentResolvedTargetsCommand({ experimentId: experiment.id }),
    );
    expect(resolved.resolvedTargets ?? []).toEqual([]);
  });

  it("an experiment starts from fullstack-az-power's template: the zone's stops, the network cut and the Auto Scaling group's launch errors", async () => {
    const power = templates().find((t) => t.from.startsWith('fullstack-az-power '))!;
    const { experimentTemplate } = await client.send(new CreateExperimentTemplateCommand(power.template));
    expect(experimentTemplate?.targets?.['group-web']).toMatchObject({
      resourceType: 'aws:ec2:autoscaling-group',
      resourceTags: { 'chaos:system': 'web', 'chaos:run': RUN_ID_PLACEHOLDER },
    });
    const started = await client.send(
      new StartExperimentCommand({ experimentTemplateId: experimentTemplate!.id }),
    );
    const got = (await client.send(new GetExperimentCommand({ id: started.experiment!.id }))).experiment!;
    expect(got.actions?.['pause-launches-web-b']).toMatchObject({
      actionId: 'aws:ec2:asg-insufficient-instance-capacity-error',
      parameters: { availabilityZoneIdentifiers: 'us-east-1b', duration: 'PT2M', percentage: '100' },
      targets: { AutoScalingGroups: 'group-web' },
    });
  });

  it("the direct calls' DescribeInstances picks the run's running system nodes in the zone only (moto's EC2 filters), and SSM takes SendCommand by their ids", async () => {
    const loaded = loadScenario(join(FIXTURES, 'az-kill-process-quit.yaml'));
    const stack = loaded.scenario.name;
    const run = 'run-one';
    const [entry] = planFaults(planInput(loaded), { ...OPTS, runId: run });
    if (entry!.kind !== 'api-calls') throw new Error(entry!.kind);
    const ami = /<imageId>([^<]+)<\/imageId>/.exec(await ec2(url, { Action: 'DescribeImages' }))![1]!;
    const launch = async (az: string, tags: Record<string, string>) => {
      const params: Record<string, string> = {
        Action: 'RunInstances',
        ImageId: ami,
        MinCount: '1',
        MaxCount: '1',
        'Placement.AvailabilityZone': `us-east-1${az}`,
        'TagSpecification.1.ResourceType': 'instance',
      };
      Object.entries(tags).forEach(([k, v], i) => {
        params[`TagSpecification.1.Tag.${i + 1}.Key`] = k;
        params[`TagSpecification.1.Tag.${i + 1}.Value`] = v;
      });
      return /<instanceId>([^<]+)<\/instanceId>/.exec(await ec2(url, params))![1]!;
    };
    const node = (system: string, name: string, runId = run) => ({
      'chaos:stack': stack,
      'chaos:run': runId,
      'chaos:system': system,
      'chaos:node': name,
    });
    const redisA = await launch('a', node('redis', 'redis-a'));
    const pgA = await launch('a', node('pg', 'pg-a'));
    // What must not be hit: the same scenario's other run, another zone, a stopped instance,
    // the harness's own host (the run's tags, no system).
    await launch('a', node('redis', 'redis-a', 'run-two'));
    const redisB = await launch('b', node('redis', 'redis-b'));
    const stopped = await launch('a', node('pg', 'pg-a'));
    await ec2(url, { Action: 'StopInstances', 'InstanceId.1': stopped });
    await launch('a', { 'chaos:stack': stack, 'chaos:run': run, 'chaos:part': 'probe-host' });

    const picked: string[][] = [];
    for (const call of entry!.calls) {
      if (call.operation === 'DescribeInstances') {
        const text = await ec2(url, { Action: 'DescribeInstances', ...filterParams(call) });
        picked.push([...text.matchAll(/<instanceId>([^<]+)<\/instanceId>/g)].map((m) => m[1]!));
        continue;
      }
      expect(call.operation).toBe('SendCommand');
      const ids = picked.at(-1)!;
      const { InstanceIds: _, ...rest } = call.input as { InstanceIds: string[] };
      type Sent = {
        Command: { InstanceIds: string[]; DocumentName: string; Parameters: Record<string, string[]> };
      };
      const sent = (await ssm(url, 'SendCommand', { ...rest, InstanceIds: ids })) as Sent;
      // Moto takes the call as planned; it then adds every instance it has to a command without
      // Targets (it resolves an empty tag filter), which SSM does not: what the command reaches is
      // the ids DescribeInstances picked.
      expect(sent.Command.InstanceIds).toEqual(expect.arrayContaining(ids));
      expect(sent.Command.DocumentName).toBe('AWS-RunShellScript');
      expect(sent.Command.Parameters).toEqual((call.input as { Parameters: unknown }).Parameters);
    }
    expect(picked).toEqual([[redisA], [pgA]]);
    // Why not SendCommand's own Targets: tags know no zone, and the run's redis nodes of every
    // zone answer them (moto resolves Targets by tag as SSM does).
    const byTags = (await ssm(url, 'SendCommand', {
      DocumentName: 'AWS-RunShellScript',
      Targets: [
        { Key: 'tag:chaos:stack', Values: [stack] },
        { Key: 'tag:chaos:run', Values: [run] },
        { Key: 'tag:chaos:system', Values: ['redis'] },
      ],
      Parameters: { commands: ['true'] },
    })) as { Command: { InstanceIds: string[] } };
    expect(byTags.Command.InstanceIds).toContain(redisB);
  });

  it('`chaos plan <file> --provider aws --json` prints templates that moto accepts as they are', async () => {
    const r = await chaos(['plan', join(FIXTURES, 'pg-volume-freeze.yaml'), '--provider', 'aws', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const entries = JSON.parse(r.stdout) as PlanEntry[];
    expect(entries.map((e) => e.kind)).toEqual(['fis-template', 'fis-template']);
    for (const e of entries) {
      if (e.kind !== 'fis-template') continue;
      const created = await client.send(new CreateExperimentTemplateCommand(e.template));
      expect(created.experimentTemplate?.actions).toEqual(e.template.actions);
    }
  });
});

describe('chaos plan on the command line', () => {
  it('a drop-az network FIS can do: exit 0, the heading, then the template; --json parses', async () => {
    const file = join(FIXTURES, 'az-drop-network.yaml');
    const text = await chaos(['plan', file, '--provider', 'aws']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('#1 drop-az az:b mode network at +0 ms for 60000 ms');
    expect(text.stdout).toMatch(/"actionId": "aws:network:disrupt-connectivity"/);
    expect(text.stdout).toMatch(/"scope": "availability-zone",\s+"duration": "PT1M"/);
    const json = await chaos(['plan', file, '--provider', 'aws', '--json', '--region', 'eu-west-1']);
    expect(json.code).toBe(0);
    const [entry] = JSON.parse(json.stdout) as PlanEntry[];
    expect(entry!.kind).toBe('fis-template');
    if (entry!.kind === 'fis-template')
      expect(entry!.template.targets!['subnets-b']!.filters).toEqual([
        { path: 'AvailabilityZone', values: ['eu-west-1b'] },
      ]);
  });

  it('the built-in az-drop-network: its AWS duration (2 min; 8 s locally) makes a valid template, exit 0', async () => {
    const r = await chaos(['plan', 'az-drop-network', '--provider', 'aws', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [entry] = JSON.parse(r.stdout) as PlanEntry[];
    expect(entry!.kind).toBe('fis-template');
    if (entry!.kind !== 'fis-template') return;
    expect(Object.values(entry!.template.actions!)[0]).toMatchObject({
      actionId: 'aws:network:disrupt-connectivity',
      parameters: { scope: 'availability-zone', duration: 'PT2M' },
    });
    const text = await chaos(['plan', 'az-drop-network', '--provider', 'aws']);
    expect(text.stdout).toContain(
      '#1 drop-az az:a mode network at +0 ms for 120000 ms on AWS (8000 ms locally)',
    );
  });

  it('a local duration FIS cannot take, with no AWS one: the plan, then one refusal line, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-plan-'));
    const file = join(dir, 'short-cut.yaml');
    writeFileSync(
      file,
      readFileSync(join(ROOT, 'scenarios/az-drop-network.yaml'), 'utf8')
        .replace(/^name: .*$/m, 'name: short-cut')
        .replace(', aws: { durationMs: 120000 }', ''),
    );
    const r = await chaos(['plan', file, '--provider', 'aws', '--json']);
    expect(r.code).toBe(2);
    const [entry] = JSON.parse(r.stdout) as PlanEntry[];
    expect(entry).toMatchObject({ kind: 'refused' });
    expect((entry as { reason: string }).reason).toMatch(
      /disrupt-connectivity is PT1M at least .* asks 8000 ms/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^error\[PLAN_REFUSED\]: 1 of 1 faults cannot be done on AWS as asked: #1 drop-az/,
    );
  });

  it('refusals: everything is printed, then one error line, exit 2', async () => {
    const r = await chaos(['plan', 'redis-head-partition', '--provider', 'aws']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('#1 partition redis:head from redis:replica at +0 ms for 4000 ms');
    expect(r.stdout).toMatch(/refused: FIS cannot cut redis:head off from redis:replica/);
    expect(r.stdout).toMatch(/how to change the scenario: .*drop-az with mode: network/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error\[PLAN_REFUSED\]: 1 of 1 faults/);
  });

  it('--provider local says what the local provider does', async () => {
    const r = await chaos(['plan', 'redis-head-kill', '--provider', 'local']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('#1 kill redis:head at +0 ms');
    expect(r.stdout).toMatch(/local: the node dies at once \(SIGKILL\)/);
  });

  it('--run-id scopes every target to that run; the partition of the ARNs follows the region', async () => {
    const r = await chaos([
      'plan',
      'fullstack-az-power',
      '--json',
      '--run-id',
      '3f9a1c07',
      '--region',
      'us-gov-west-1',
      '--role-arn',
      'arn:aws-us-gov:iam::123456789012:role/fis-experiment',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [entry] = JSON.parse(r.stdout) as PlanEntry[];
    if (entry!.kind !== 'fis-template') throw new Error(entry!.kind);
    for (const t of Object.values(entry!.template.targets!))
      expect(t.resourceTags).toMatchObject({ 'chaos:stack': 'fullstack-az-power', 'chaos:run': '3f9a1c07' });
    expect(entry!.template.roleArn).toBe('arn:aws-us-gov:iam::123456789012:role/fis-experiment');
    const placeholder = await chaos(['plan', 'redis-head-kill', '--region', 'cn-north-1']);
    expect(placeholder.stdout).toContain(
      'roleArn is a placeholder: replace arn:aws-cn:iam::<account-id>:role/<fis-experiment-role>',
    );
  });

  it('--role-arn and --stop-alarm must be ARNs of the region: one line naming the flag and the value, exit 2', async () => {
    const role = await chaos(['plan', 'redis-head-kill', '--role-arn', 'fis-experiment']);
    expect(role.code).toBe(2);
    expect(role.stdout).toBe('');
    expect(role.stderr.trim().split('\n')).toHaveLength(1);
    expect(role.stderr).toMatch(
      /^error\[BAD_ROLE_ARN\]: --role-arn 'fis-experiment' is not an IAM role ARN \(arn:aws:iam::<12-digit account>:role\/<name>\)/,
    );
    const partition = await chaos([
      'plan',
      'redis-head-kill',
      '--region',
      'cn-north-1',
      '--role-arn',
      'arn:aws:iam::123456789012:role/fis',
    ]);
    expect(partition.code).toBe(2);
    expect(partition.stderr).toMatch(
      /^error\[BAD_ROLE_ARN\]: --role-arn 'arn:aws:iam::123456789012:role\/fis' is in partition aws, and region cn-north-1 is in aws-cn/,
    );
    const alarm = await chaos([
      'plan',
      'redis-head-kill',
      '--stop-alarm',
      'arn:aws:cloudwatch:us-east-1:123456789012:alarm:ok',
      '--stop-alarm',
      'writes-failing',
    ]);
    expect(alarm.code).toBe(2);
    expect(alarm.stderr.trim().split('\n')).toHaveLength(1);
    expect(alarm.stderr).toMatch(
      /^error\[BAD_STOP_ALARM\]: --stop-alarm 'writes-failing' is not a CloudWatch alarm ARN/,
    );
    const good = await chaos([
      'plan',
      'redis-head-kill',
      '--json',
      '--role-arn',
      'arn:aws:iam::123456789012:role/fis-experiment',
      '--stop-alarm',
      'arn:aws:cloudwatch:us-east-1:123456789012:alarm:writes-failing',
    ]);
    expect(good.code, good.stderr).toBe(0);
    const runId = await chaos(['plan', 'redis-head-kill', '--run-id', 'a b']);
    expect(runId.code).toBe(2);
    expect(runId.stderr).toMatch(/^error\[BAD_RUN_ID\]: --run-id 'a b' is not a run id/);
  });

  it('wrong input: one line, exit 2', async () => {
    const scenario = await chaos(['plan', 'redis-head-klil', '--provider', 'aws']);
    expect(scenario.code).toBe(2);
    expect(scenario.stderr.trim().split('\n')).toHaveLength(1);
    expect(scenario.stderr).toMatch(/^error\[UNKNOWN_SCENARIO\]: unknown scenario 'redis-head-klil'/);
    const provider = await chaos(['plan', 'redis-head-kill', '--provider', 'gcp']);
    expect(provider.code).toBe(2);
    expect(provider.stderr.trim()).toBe(
      "error[UNKNOWN_PROVIDER]: unknown provider 'gcp'; known: aws, local (chaos plan <scenario> --provider aws)",
    );
    const region = await chaos(['plan', 'redis-head-kill', '--region', 'mars']);
    expect(region.code).toBe(2);
    expect(region.stderr).toMatch(/^error\[BAD_REGION\]: 'mars' is not an AWS region name/);
  });
});
