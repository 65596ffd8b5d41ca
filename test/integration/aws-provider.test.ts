import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { ListStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAlarmsCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import {
  GetExperimentTemplateCommand,
  ListExperimentTemplatesCommand,
  ListExperimentsCommand,
} from '@aws-sdk/client-fis';
import { ListHostedZonesCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListCommandsCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonotonicClock } from '../../core/clock.ts';
import type { TimelineEvent } from '../../core/events.ts';
import type { FaultRequest, NodeRef } from '../../core/provider.ts';
import { awsProviderFor, stackPlanFor, withAwsDurations } from '../../engine/cli-infra.ts';
import { imagesFor } from '../../engine/runner.ts';
import type { AwsStack } from '../../infra/aws/aws-stack.ts';
import { type RunClients, leftoversOf, runClients } from '../../infra/aws/teardown.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { freePort, haveMoto, motoSkip } from './moto.ts';

/**
 * The AWS provider against moto (moto_server 5.2.5 on 127.0.0.1, reached through
 * AWS_ENDPOINT_URL): `chaos infra up|status|down`, `chaos run --provider aws`, `chaos cleanup
 * --provider aws` as a person runs them (the CLI in a child process, no terminal), and the
 * provider's stack driven as the runner drives it (inject, revert, exec, launch, terminate,
 * teardown).
 *
 * What moto shows: the template is taken as CloudFormation takes it (every resource created with
 * the stack's and the run's tags, its outputs), the instances found by their tags, the run's
 * assets and template in S3, the Route 53 records the registry moves, the metric and the stop
 * alarm, the FIS templates created from the live plan (a role re-resolved at injection, tagged
 * with the node that holds it then), started, polled, stopped and deleted, EC2 and Auto Scaling
 * taking the direct calls, and a teardown after which nothing tagged with the run is left.
 *
 * Where moto differs from AWS, and what the provider or this test does about it:
 * - its CloudFormation fails on a security group rule of all protocols without FromPort/ToPort (a
 *   KeyError, then HTTP 500 on every call about the stack): the provider sends the template with
 *   them spelled out (-1), which AWS takes as well (cloudformation.ts `deployable`);
 * - it creates the private hosted zone as a public one, and puts none of the template's tags on
 *   it: the zone is found by its id (the stack's outputs) or its name, never by a tag alone;
 * - it tags no EBS volume from a launch template's TagSpecifications, and keeps the volumes of
 *   terminated instances attached: teardown removes volumes by tag and those of the run's
 *   terminated instances;
 * - DeleteStack answers DependencyViolation (the VPC's gateway and route table are still there)
 *   and leaves the VPC, its internet gateway, route table and the hosted zone: teardown removes
 *   them by the run's tag (and the zone by its name), as `chaos infra down` does after a
 *   DELETE_FAILED on AWS;
 * - it keeps tags of deleted resources in DescribeTags: what is left is listed by each
 *   resource's own Describe call with a tag filter;
 * - it skips AWS::CloudWatch::Alarm and AWS::FIS::ExperimentTemplate in a template without a
 *   word: the template has neither (the provider creates the alarm and the experiments itself);
 * - no instance boots (no user data runs, no cfn-signal is needed: a creation policy is not
 *   waited on), so no node ever answers, and instances get no public address; the FIS actions do
 *   nothing and its experiments move one state per GetExperiment;
 * - IAM roles and an EFS file system are not checked (the harness has no IAM or EFS client).
 */

const ROOT = resolve(import.meta.dirname, '../..');
const REGION = 'us-east-1';
const MOTO_ACCOUNT = '123456789012';
const ENV_KEYS = [
  'AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_EC2_METADATA_DISABLED',
];

/**
 * A scenario whose four faults take every path: at +0 a kill by name and a freeze of a role
 * (one experiment; the role re-resolved live), at +5 s a stop longer than FIS's 12 hours (EC2
 * StopInstances and StartInstances), at +9 s a signal FIS's document cannot send (SSM SendCommand).
 */
const SCENARIO = `name: aws-provider-moto
description: every way the AWS provider carries a fault out, on moto.
stack:
  pg:
    nodes: 3
    checkIntervalMs: 1400  # 7 Route 53 calls a check: 5 a second, Route 53's rate
probes:
  - kind: pg-writer
    name: inserts
faults:
  - { at: 0, action: kill, target: 'node:pg-c' }
  - { at: 0, action: freeze-volume, target: pg:primary, durationMs: 60000 }
  - { at: 5000, action: stop, target: 'node:pg-a', durationMs: 46800000 }
  - { at: 9000, action: kill-process, target: 'node:pg-b', process: server, signal: SIGQUIT }
observeMs: 8000
`;

describe.skipIf(!haveMoto)(`the AWS provider on moto${motoSkip}`, () => {
  let moto: ChildProcess | undefined;
  let motoLog = '';
  let url = '';
  let dir = '';
  let scenarioFile = '';
  let allowed = '';
  let elsewhere = '';
  let clients: RunClients;
  const saved: Record<string, string | undefined> = {};

  /** The harness's command line, in a child process without a terminal. */
  function chaos(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      AWS_ENDPOINT_URL: url,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: REGION,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_CONFIG_FILE: '/nonexistent/config',
      NODE_NO_WARNINGS: '1',
    };
    return new Promise((done) => {
      const p = spawn('node', [join(ROOT, 'bin/chaos.js'), ...args], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      p.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      p.on('exit', (code) => done({ code, stdout, stderr }));
    });
  }

  const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error['));

  /** Stacks, VPCs and buckets in moto: what "nothing was created" is checked on. */
  async function anything(): Promise<{ stacks: number; vpcs: number; buckets: number; zones: number }> {
    const stacks = (await clients.cf.send(new ListStacksCommand({}))).StackSummaries ?? [];
    const vpcs =
      (
        await clients.ec2.send(
          new DescribeVpcsCommand({ Filters: [{ Name: 'tag-key', Values: ['chaos:run'] }] }),
        )
      ).Vpcs ?? [];
    const buckets = (await clients.s3.send(new ListBucketsCommand({}))).Buckets ?? [];
    const zones = (await clients.r53.send(new ListHostedZonesCommand({}))).HostedZones ?? [];
    return {
      stacks: stacks.filter((s) => s.StackStatus !== 'DELETE_COMPLETE').length,
      vpcs: vpcs.length,
      buckets: buckets.length,
      zones: zones.length,
    };
  }

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
    for (const k of ENV_KEYS) saved[k] = process.env[k];
    for (const k of ENV_KEYS) delete process.env[k];
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: url,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: REGION,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_CONFIG_FILE: '/nonexistent/config',
    });
    dir = mkdtempSync(join(tmpdir(), 'chaos-aws-provider-'));
    scenarioFile = join(dir, 'aws-provider-moto.yaml');
    writeFileSync(scenarioFile, SCENARIO);
    allowed = join(dir, 'chaos.aws.yaml');
    writeFileSync(allowed, `accounts: ['${MOTO_ACCOUNT}']\nregions: [${REGION}]\n`);
    elsewhere = join(dir, 'elsewhere.aws.yaml');
    writeFileSync(elsewhere, `accounts: ['111111111111']\nregions: [${REGION}]\n`);
    clients = runClients(REGION);
  });

  afterAll(async () => {
    clients?.destroy();
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    if (moto && moto.exitCode === null) {
      const exited = new Promise((r) => moto!.once('exit', r));
      moto.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (moto.exitCode === null) moto.kill('SIGKILL');
    }
  });

  it('an account outside the allow-list is refused in one line before anything is created', async () => {
    const r = await chaos(['infra', 'up', scenarioFile, '--aws-config', elsewhere, '--yes']);
    expect(r.code).toBe(2);
    expect(errorLines(r.stderr)).toEqual([
      `error[AWS_ACCOUNT_NOT_ALLOWED]: account ${MOTO_ACCOUNT} (arn:aws:sts::${MOTO_ACCOUNT}:user/moto) is not allowed: ${elsewhere} allows 111111111111 (if chaos may run there, add '${MOTO_ACCOUNT}' to accounts: in ${elsewhere}, or pass --allow-account ${MOTO_ACCOUNT}; else use other credentials (AWS_PROFILE))`,
    ]);
    expect(r.stdout).toBe('');
    expect(await anything()).toEqual({ stacks: 0, vpcs: 0, buckets: 0, zones: 0 });
  });

  it('infra up without --yes and without a terminal shows the plan, then refuses in one line; nothing is created', async () => {
    const r = await chaos(['infra', 'up', scenarioFile, '--aws-config', allowed]);
    expect(r.code).toBe(2);
    expect(errorLines(r.stderr)).toEqual([
      'error[CONFIRMATION_NEEDED]: chaos infra up creates billable AWS resources, and there is no terminal to confirm on (pass --yes to create them without asking)',
    ]);
    expect(r.stdout).toMatch(/instances: 3 x t3\.small \(pg-a, pg-b, pg-c\)/);
    expect(r.stdout).toMatch(
      /estimated cost: \$0\.\d+ an hour .*\n +\(an estimate: us-east-1 on-demand list prices/,
    );
    expect(r.stdout).toMatch(/expected time: 8 to 15 minutes to create/);
    expect(r.stdout).toMatch(/#1 kill node:pg-c at \+0 ms: FIS aws:ec2:terminate-instances/);
    expect(r.stdout).toMatch(/#3 stop node:pg-a at \+5000 ms: direct: ec2 StopInstances, ec2 StartInstances/);
    expect(await anything()).toEqual({ stacks: 0, vpcs: 0, buckets: 0, zones: 0 });
  });

  it('infra up makes the stack with every resource tagged with the run; infra status lists it; infra down leaves nothing', async () => {
    const up = await chaos(['infra', 'up', scenarioFile, '--aws-config', allowed, '--yes']);
    expect(errorLines(up.stderr)).toEqual([]);
    expect(up.code).toBe(0);
    const name = /stack (chaos-aws-provider-moto-[0-9a-f]{8}) is up \(run ([0-9a-f]{8})\)/.exec(up.stdout);
    expect(name).not.toBeNull();
    const [, stack, runId] = name as unknown as [string, string, string];
    expect(up.stderr).toMatch(/CloudFormation: creating .* \(chaos:run=[0-9a-f]{8}, chaos:lifetime=kept\)/);
    expect(up.stderr).toMatch(/AWS::CloudFormation::Stack CREATE_COMPLETE/);
    expect(up.stdout).toMatch(/HostedZoneId: \w+/);

    const run = [{ Name: 'tag:chaos:run', Values: [runId] }];
    const tagsOf = (tags: { Key?: string; Value?: string }[] | undefined) =>
      Object.fromEntries((tags ?? []).map((t) => [t.Key, t.Value]));
    const instances = (
      await clients.ec2.send(new DescribeInstancesCommand({ Filters: run }))
    ).Reservations!.flatMap((r) => r.Instances ?? []);
    expect(instances.map((i) => tagsOf(i.Tags)['chaos:node']).sort()).toEqual(['pg-a', 'pg-b', 'pg-c']);
    for (const i of instances)
      expect(tagsOf(i.Tags)).toMatchObject({
        'chaos:stack': 'aws-provider-moto',
        'chaos:run': runId,
        'chaos:system': 'pg',
      });
    const subnets = (await clients.ec2.send(new DescribeSubnetsCommand({ Filters: run }))).Subnets ?? [];
    expect(subnets.map((s) => s.AvailabilityZone).sort()).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
    for (const s of subnets) expect(tagsOf(s.Tags)['chaos:stack']).toBe('aws-provider-moto');
    expect((await clients.ec2.send(new DescribeVpcsCommand({ Filters: run }))).Vpcs).toHaveLength(1);
    expect(
      ((await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: run }))).SecurityGroups ?? [])
        .length,
    ).toBe(2);
    const groups =
      (
        await clients.autoScaling.send(
          new DescribeAutoScalingGroupsCommand({ Filters: [{ Name: 'tag:chaos:run', Values: [runId] }] }),
        )
      ).AutoScalingGroups ?? [];
    expect(groups).toHaveLength(3);
    // moto tags no volume from a launch template: each instance's data volume is there, untagged.
    const volumes = (
      await clients.ec2.send(
        new DescribeVolumesCommand({
          Filters: [{ Name: 'attachment.instance-id', Values: instances.map((i) => i.InstanceId!) }],
        }),
      )
    ).Volumes!;
    expect(volumes.filter((v) => v.Size === 20)).toHaveLength(3);
    // The nodes' A records, which the registry's CNAMEs point at.
    const zoneId = /HostedZoneId: (\w+)/.exec(up.stdout)![1]!;
    const sets = (await clients.r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId })))
      .ResourceRecordSets!;
    expect(sets.filter((s) => s.Type === 'A').map((s) => s.Name!.split('.')[0])).toEqual([
      'pg-a',
      'pg-b',
      'pg-c',
    ]);

    const status = await chaos(['infra', 'status']);
    expect(status.code).toBe(0);
    const row = status.stdout.split('\n').find((l) => l.startsWith(stack));
    expect(row).toMatch(
      new RegExp(
        `^${stack} +${runId} +aws-provider-moto +CREATE_COMPLETE +\\d+m +kept +\\S+:\\d+ \\(gone\\)$`,
      ),
    );

    const down = await chaos(['infra', 'down', stack, '--aws-config', allowed]);
    expect(errorLines(down.stderr)).toEqual([]);
    expect(down.code).toBe(0);
    expect(down.stdout).toBe(`stack ${stack} removed: nothing tagged chaos:run=${runId} is left\n`);
    // moto's DeleteStack leaves the VPC and the zone: removed by the run's tag and the zone's name.
    expect(down.stderr).toMatch(/VPC vpc-\w+ deleted, with what CloudFormation left in it/);
    expect(await leftoversOf(clients, { runId, bucket: `chaos-assets-${MOTO_ACCOUNT}-${REGION}` })).toEqual(
      [],
    );
    expect((await chaos(['infra', 'status'])).stdout).toBe(`no stack of the harness in ${REGION}\n`);
  });

  it("a run's stack: FIS experiments from the live plan, direct calls, the registry, the metric and alarm; teardown leaves nothing", async () => {
    const loaded = withAwsDurations(loadScenario(scenarioFile));
    const provider = awsProviderFor(
      loaded,
      {
        allowAccount: [MOTO_ACCOUNT],
        allowRegion: [REGION],
        yes: true,
        probeFrom: 'routed',
        awsConfig: allowed,
      },
      { existing: false, lifetime: 'run' },
    );
    const checks = await provider.preflight(imagesFor(loaded.scenario), []);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.what === 'FIS experiments')?.detail).toBe('+0 ms: #1, #2');
    await provider.prepare(imagesFor(loaded.scenario));
    const runId = 'beef0001';
    const events: TimelineEvent[] = [];
    const clock = new MonotonicClock();
    const stack = (await provider.provision(await stackPlanFor(loaded, runId), {
      runId,
      scenarioName: loaded.scenario.name,
      clock,
      onEvent: (e) => events.push(e),
    })) as AwsStack;
    let torn = false;
    try {
      expect(stack.provider).toBe('aws');
      expect(stack.nodes().map((n) => `${n.name}@${n.az}`)).toEqual(['pg-a@a', 'pg-b@b', 'pg-c@c']);
      expect(events.some((e) => e.source === 'cloudformation' && e.data?.status === 'CREATE_COMPLETE')).toBe(
        true,
      );
      // The metric (the harness's heartbeat first) and the stop alarm on it.
      const alarms = (
        await clients.cw.send(new DescribeAlarmsCommand({ AlarmNames: [`chaos-${runId}-probe-failures`] }))
      ).MetricAlarms!;
      expect(alarms).toHaveLength(1);
      expect(alarms[0]!.TreatMissingData).toBe('breaching');
      const metrics = (
        await clients.cw.send(
          new ListMetricsCommand({
            Namespace: 'ChaosHarness',
            Dimensions: [{ Name: 'RunId', Value: runId }],
          }),
        )
      ).Metrics!;
      expect(metrics.length).toBeGreaterThan(0);

      // The registry: records move as compare-and-set, the CNAME follows to the node's A record.
      const registry = stack.registry();
      expect(await registry.set('pg-writer', 'pg-a', 1000, 0)).toMatchObject({ version: 1 });
      expect(await registry.set('pg-writer', 'pg-b', 1000, 1)).toMatchObject({ value: 'pg-b', version: 2 });
      expect(await registry.set('pg-writer', 'pg-c', 1000, 1)).toBeUndefined();
      const zone = stack.outputs.HostedZoneName!;
      const sets = (
        await clients.r53.send(
          new ListResourceRecordSetsCommand({ HostedZoneId: stack.outputs.HostedZoneId! }),
        )
      ).ResourceRecordSets!;
      expect(sets.find((s) => s.Type === 'CNAME')).toMatchObject({
        Name: `pg-writer.${zone}.`,
        ResourceRecords: [{ Value: `pg-b.${zone}` }],
      });

      // +0: the kill by name comes first; the freeze of pg:primary (pg-b now, not pg-a as on paper)
      // is resolved live through the registry and merged into the same experiment.
      const node = (name: string): NodeRef => stack.nodes().find((n) => n.name === name)!;
      const kill: FaultRequest = { action: 'kill', nodes: [node('pg-c')] };
      const applied = await stack.inject(kill);
      expect(applied.method).toMatch(
        /^FIS experiment \S+ \(aws:ec2:terminate-instances; one experiment with fault #2\): its actions started at \+\d+ ms/,
      );
      expect(applied.revert).toBeUndefined();
      const freeze = await stack.inject({ action: 'freeze-volume', nodes: [node('pg-b')] });
      expect(freeze.method).toMatch(/\(aws:ebs:pause-volume-io; one experiment with fault #1, joined\)/);
      const templates = (await clients.fis.send(new ListExperimentTemplatesCommand({}))).experimentTemplates!;
      expect(templates).toHaveLength(1);
      const t = (await clients.fis.send(new GetExperimentTemplateCommand({ id: templates[0]!.id! })))
        .experimentTemplate!;
      expect(t.tags).toEqual({
        'chaos:stack': 'aws-provider-moto',
        'chaos:run': runId,
        'chaos:fault': '1+2',
      });
      expect(t.roleArn).toBe(stack.outputs.FisRoleArn);
      expect(t.stopConditions).toEqual([{ source: 'aws:cloudwatch:alarm', value: alarms[0]!.AlarmArn }]);
      expect(t.targets!['f1-pg-c']!.resourceTags).toMatchObject({ 'chaos:node': 'pg-c', 'chaos:run': runId });
      expect(t.targets!['f2-pg-b-data']!.resourceTags).toMatchObject({
        'chaos:node': 'pg-b',
        'chaos:volume': 'data',
      });
      // Reverted at once (before its 60 s): the experiment is stopped.
      await freeze.revert!();
      const exps = (await clients.fis.send(new ListExperimentsCommand({}))).experiments!;
      expect(exps.map((e) => e.state?.status)).toEqual(['stopped']);
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining([
          'fis-template-created',
          'fis-experiment-started',
          'fis-stop-requested',
          'fis-experiment-stopped',
        ]),
      );

      // +5 s: a 13-hour stop, by EC2 directly (SkipOsShutdown), started again by its revert.
      const stop = await stack.inject({ action: 'stop', nodes: [node('pg-a')] });
      expect(stop.method).toMatch(/^direct: StopInstances i-\w+$/);
      expect(await stack.running('pg-a')).toBe(false);
      await stop.revert!();
      expect(await stack.running('pg-a')).toBe(true);
      // +9 s: SIGQUIT, which AWSFIS-Run-Kill-Process does not send: Systems Manager directly.
      const quit = await stack.inject({
        action: 'kill-process',
        nodes: [node('pg-b')],
        process: 'server',
        signal: 'SIGQUIT',
      });
      expect(quit.method).toMatch(/^direct: SendCommand i-\w+$/);
      const commands = (await clients.ssm.send(new ListCommandsCommand({}))).Commands!;
      expect(commands.map((c) => c.Parameters?.commands)).toContainEqual(['pkill --signal QUIT -x postgres']);

      // A runbook step through SSM (moto runs nothing: an empty output, exit 0).
      expect(await stack.exec('pg-a', ['true'])).toEqual({ exitCode: 0, output: '' });
      // Auto Scaling: a node removed for good, and its group of one launching it again.
      const before = (
        await clients.ec2.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: 'tag:chaos:node', Values: ['pg-c'] },
              { Name: 'tag:chaos:run', Values: [runId] },
            ],
          }),
        )
      )
        .Reservations!.flatMap((r) => r.Instances!)
        .find((i) => i.State?.Name === 'running')!.InstanceId!;
      await stack.terminate('pg-c');
      expect(stack.nodes().map((n) => n.name)).toEqual(['pg-a', 'pg-b']);
      const plan = (await stackPlanFor(loaded, runId)).nodes.find((n) => n.name === 'pg-c')!;
      await stack.launch(plan);
      expect(stack.nodes().map((n) => n.name)).toEqual(['pg-a', 'pg-b', 'pg-c']);
      expect(
        events.filter((e) => e.type === 'autoscaling-terminate-instance').map((e) => e.data?.instanceId),
      ).toEqual([before]);

      const logs = join(dir, 'logs');
      await stack.collectLogs(logs);
      expect(readdirSync(logs).sort()).toEqual([
        'aws-stack.json',
        'pg-a.console.log',
        'pg-b.console.log',
        'pg-c.console.log',
      ]);
      expect(JSON.parse(readFileSync(join(logs, 'aws-stack.json'), 'utf8')).experiments).toHaveLength(1);

      await stack.teardown();
      torn = true;
      expect(
        await clients.fis.send(new ListExperimentTemplatesCommand({})).then((o) => o.experimentTemplates),
      ).toEqual([]);
      expect(
        await leftoversOf(clients, {
          runId,
          bucket: `chaos-assets-${MOTO_ACCOUNT}-${REGION}`,
          zoneId: stack.outputs.HostedZoneId,
        }),
      ).toEqual([]);
    } finally {
      if (!torn) await stack.teardown().catch(() => {});
    }
  });

  it('chaos run --provider aws with --probe-from vpc (the default) is refused before anything is created: a new stack has no VPC to probe from yet', async () => {
    const r = await chaos([
      'run',
      scenarioFile,
      '--provider',
      'aws',
      '--aws-config',
      allowed,
      '--yes',
      '--runs-dir',
      join(dir, 'runs'),
    ]);
    expect(r.code).toBe(2);
    expect(errorLines(r.stderr)).toEqual([
      "error[AWS_REACH_NEEDS_STACK]: --probe-from vpc (the default) runs the probes inside the stack's VPC, and a stack this run would make has no VPC yet that this host could be in (`chaos infra up` the stack, then run on a probe host in its VPC with --stack NAME; or reach the nodes from here with --probe-from <your public IP>/32 (or --probe-from routed over peering or a VPN))",
    ]);
    expect((await anything()).stacks).toBe(0);
  });

  it('chaos run --stack on a stack kept up: --dry-run lists the AWS checks; the run stops in one line (this host is not in its VPC), removes only its own things, and the stack stays for infra down', async () => {
    const up = await chaos([
      'infra',
      'up',
      scenarioFile,
      '--aws-config',
      allowed,
      '--yes',
      '--stack',
      'chaos-kept-on-moto',
    ]);
    expect(up.code).toBe(0);
    const runId = /\(run ([0-9a-f]{8})\)/.exec(up.stdout)![1]!;
    const dry = await chaos([
      'run',
      scenarioFile,
      '--provider',
      'aws',
      '--aws-config',
      allowed,
      '--stack',
      'chaos-kept-on-moto',
      '--dry-run',
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/checks passed; nothing was started/);
    expect(dry.stdout).toMatch(
      /✔ AWS account and region +account 123456789012 .*us-east-1: zones us-east-1a, us-east-1b, us-east-1c/,
    );
    expect(dry.stdout).toMatch(
      /✔ harness reach +inside the VPC of chaos-kept-on-moto: checked once its nodes are found/,
    );
    expect(dry.stdout).toMatch(/✔ FIS experiments +\+0 ms: #1, #2/);
    const r = await chaos([
      'run',
      scenarioFile,
      '--provider',
      'aws',
      '--aws-config',
      allowed,
      '--stack',
      'chaos-kept-on-moto',
      '--runs-dir',
      join(dir, 'runs'),
    ]);
    expect(r.code).toBe(3);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^error\[HARNESS_OUTSIDE_VPC\]: pg-a is at 10\.\d+\.1\.\d+ in the stack's VPC \(vpc-\w+, 10\.\d+\.0\.0\/16\), and this host has no address in it: the systems' readiness and the probes cannot reach the nodes from here \(run the harness on a probe host in the VPC \(security group sg-\w+\)/,
    );
    // The run's own alarm is gone; the stack it ran on is not.
    expect(
      (await clients.cw.send(new DescribeAlarmsCommand({ AlarmNames: [`chaos-${runId}-probe-failures`] })))
        .MetricAlarms,
    ).toEqual([]);
    expect((await chaos(['infra', 'status'])).stdout).toMatch(
      /chaos-kept-on-moto +\w+ +aws-provider-moto +CREATE_COMPLETE/,
    );
    const down = await chaos(['infra', 'down', 'chaos-kept-on-moto', '--aws-config', allowed]);
    expect(down.code).toBe(0);
    expect(await leftoversOf(clients, { runId, bucket: `chaos-assets-${MOTO_ACCOUNT}-${REGION}` })).toEqual(
      [],
    );
  });

  it('a full chaos run --provider aws stops where the systems would get ready, in one line, and leaves nothing tagged with the run', async () => {
    // Reached from outside (the nodes' public addresses, opened to 127.0.0.1/32): moto gives
    // its instances none, so the provider refuses to hand out an address before any packet goes
    // to a node, and the run is torn down.
    const runs = join(dir, 'runs');
    const r = await chaos([
      'run',
      scenarioFile,
      '--provider',
      'aws',
      '--aws-config',
      allowed,
      '--yes',
      '--runs-dir',
      runs,
      '--probe-from',
      '127.0.0.1/32',
    ]);
    expect(r.code).toBe(3);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error\[NO_PUBLIC_ADDRESS\]: pg-a \(i-\w+\) has no public address/);
    expect(r.stderr).toMatch(/▸ teardown/);
    const folder = /run folder: (\S+)/.exec(r.stderr)![1]!;
    const result = JSON.parse(readFileSync(join(folder, 'result.json'), 'utf8'));
    expect(result).toMatchObject({ provider: 'aws', status: 'error', error: { code: 'NO_PUBLIC_ADDRESS' } });
    expect(readdirSync(join(folder, 'logs'))).toContain('aws-stack.json');
    const runId = result.runId as string;
    expect(await leftoversOf(clients, { runId, bucket: `chaos-assets-${MOTO_ACCOUNT}-${REGION}` })).toEqual(
      [],
    );
    expect((await chaos(['cleanup', '--provider', 'aws', '--aws-config', allowed, '--dry-run'])).stdout).toBe(
      `would remove 0 resources of 0 stale runs in ${REGION}\n`,
    );
  });
});
