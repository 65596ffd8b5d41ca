import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  ListMetricsCommand,
  ListTagsForResourceCommand,
} from '@aws-sdk/client-cloudwatch';
import { CreateVpcCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateHostedZoneCommand, ListHostedZonesCommand, Route53Client } from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosError } from '../../core/errors.ts';
import { planInput } from '../../engine/aws-plan.ts';
import { type AwsConfig, DEFAULT_BLAST_RADIUS } from '../../infra/aws/config.ts';
import { alarmArnProblem } from '../../infra/aws/fis-plan.ts';
import {
  FailureRatioPublisher,
  cloudWatchClient,
  createStopAlarm,
  deleteStopAlarm,
  stopAlarmName,
} from '../../infra/aws/metrics.ts';
import { blastRadiusProblems, checkCaller, reachOf } from '../../infra/aws/rails.ts';
import { listScenarios, loadScenario } from '../../scenarios/load.ts';
import { freePort, haveMoto, motoSkip } from './moto.ts';

/**
 * The rails and the stop condition against moto: STS GetCallerIdentity (moto's account is
 * 123456789012), EC2 DescribeAvailabilityZones (moto's us-west-1 has two zones, ca-central-1 has
 * a, b and d), CloudWatch PutMetricData, ListMetrics, GetMetricData, PutMetricAlarm,
 * DescribeAlarms, ListTagsForResource and DeleteAlarms, through the SDK's default credential chain
 * and AWS_ENDPOINT_URL, as the provider builds its clients.
 *
 * What moto cannot show: it takes any credentials (a refused key is unit-tested on the error
 * STS gives); its alarms never change state (no evaluation: that the alarm goes to ALARM on
 * failures or silence, and that FIS stops on it, is CloudWatch's and FIS's documented behaviour);
 * ListMetrics lists a series once per put.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const MOTO_ACCOUNT = '123456789012';
const FILE = '/work/chaos.aws.yaml';
const config = (c: Partial<AwsConfig>): AwsConfig => ({
  accounts: [MOTO_ACCOUNT],
  regions: ['us-east-1'],
  blastRadius: DEFAULT_BLAST_RADIUS,
  file: FILE,
  expectedFile: FILE,
  flags: [],
  ...c,
});

/** The variables the SDK's credential chain reads; set or cleared per test, restored after. */
const CREDENTIAL_ENV = [
  'AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
] as const;

describe('the built-in scenarios and the blast radius', () => {
  it('every built-in scenario and AWS fixture keeps within the default blast radius (one zone, at most half a system)', () => {
    const fixtures = readdirSync(join(ROOT, 'test/fixtures/aws'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => loadScenario(join(ROOT, 'test/fixtures/aws', f)));
    const loaded = [...listScenarios(), ...fixtures];
    expect(loaded.length).toBeGreaterThan(10);
    for (const l of loaded) {
      const input = planInput(l);
      const faults = input.faults.filter((f) => !f.step).map((f) => reachOf(f));
      expect(blastRadiusProblems(faults, input.nodes, DEFAULT_BLAST_RADIUS), l.scenario.name).toEqual([]);
    }
  });
});

describe.skipIf(!haveMoto)(`the AWS rails and the stop condition on moto${motoSkip}`, () => {
  let moto: ChildProcess | undefined;
  let motoLog = '';
  let url = '';
  const saved: Record<string, string | undefined> = {};

  /** The environment of a run with moto's dummy credentials (or none). */
  function env(credentials: boolean) {
    for (const k of CREDENTIAL_ENV) delete process.env[k];
    process.env.AWS_ENDPOINT_URL = url;
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    if (credentials)
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  }

  beforeAll(async () => {
    for (const k of CREDENTIAL_ENV) saved[k] = process.env[k];
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
  });

  afterAll(async () => {
    for (const k of CREDENTIAL_ENV) {
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

  async function refusal(p: Promise<unknown>): Promise<ChaosError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof ChaosError)) throw new Error(`expected a ChaosError, got ${String(err)}`);
    return err;
  }

  it('an allowed account and region with the zones the stack needs: who the caller is and the zones', async () => {
    env(true);
    expect(await checkCaller(config({}), 'us-east-1', { azs: ['a', 'b', 'c'] })).toEqual({
      account: MOTO_ACCOUNT,
      arn: `arn:aws:sts::${MOTO_ACCOUNT}:user/moto`,
      region: 'us-east-1',
      zones: ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'],
    });
  });

  it('an account outside the allow-list is refused before anything is created, and nothing is', async () => {
    env(true);
    const region = 'us-east-1';
    const ec2 = new EC2Client({ region });
    const route53 = new Route53Client({ region });
    const cw = cloudWatchClient(region);
    const vpcsBefore = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.length ?? 0;
    // What the provider does: the rails first, then the stack, its zone and its alarm.
    async function provision(c: AwsConfig) {
      await checkCaller(c, region, { azs: ['a', 'b', 'c'] });
      const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc!.VpcId!;
      await route53.send(
        new CreateHostedZoneCommand({
          Name: 'run-refused.chaos.internal',
          CallerReference: 'run-refused',
          VPC: { VPCId: vpc, VPCRegion: region },
          HostedZoneConfig: { PrivateZone: true },
        }),
      );
      await createStopAlarm(cw, 'run-refused', region);
    }
    const e = await refusal(provision(config({ accounts: ['111111111111'] })));
    expect(e.oneLine()).toBe(
      `error[AWS_ACCOUNT_NOT_ALLOWED]: account ${MOTO_ACCOUNT} (arn:aws:sts::${MOTO_ACCOUNT}:user/moto) is not allowed: ${FILE} allows 111111111111 (if chaos may run there, add '${MOTO_ACCOUNT}' to accounts: in ${FILE}, or pass --allow-account ${MOTO_ACCOUNT}; else use other credentials (AWS_PROFILE))`,
    );
    expect(e.exitCode).toBe(2);
    expect((await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.length ?? 0).toBe(vpcsBefore);
    expect((await route53.send(new ListHostedZonesCommand({}))).HostedZones ?? []).toEqual([]);
    expect(
      (await cw.send(new DescribeAlarmsCommand({ AlarmNames: [stopAlarmName('run-refused')] })))
        .MetricAlarms ?? [],
    ).toEqual([]);
    ec2.destroy();
    route53.destroy();
    cw.destroy();
  });

  it('no credentials at all: one line that says so and how to give them', async () => {
    env(false);
    const e = await refusal(checkCaller(config({}), 'us-east-1'));
    expect(e.oneLine()).toBe(
      'error[AWS_NO_CREDENTIALS]: no AWS credentials: none in the environment, ~/.aws or an instance role (set AWS_PROFILE (after aws sso login or aws configure), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    );
    expect(e.exitCode).toBe(2);
  });

  it('a region that is not allowed, or lacks the zones the stack needs, is refused in one line', async () => {
    env(true);
    const notAllowed = await refusal(checkCaller(config({}), 'eu-west-1'));
    expect(notAllowed.oneLine()).toBe(
      `error[AWS_REGION_NOT_ALLOWED]: region eu-west-1 is not allowed: ${FILE} allows us-east-1 (add eu-west-1 to regions: in ${FILE}, or pass --allow-region eu-west-1)`,
    );
    const two = await refusal(checkCaller(config({ regions: ['us-west-1'] }), 'us-west-1', { azs: 3 }));
    expect(two.oneLine()).toBe(
      `error[AWS_TOO_FEW_AZS]: region us-west-1 has 2 available zones (us-west-1a, us-west-1b); the stack needs 3 (run in a region with those zones (allow it in ${FILE} or with --allow-region), or lay the stack out over fewer zones)`,
    );
    const lettered = await refusal(
      checkCaller(config({ regions: ['ca-central-1'] }), 'ca-central-1', { azs: ['a', 'b', 'c'] }),
    );
    expect(lettered.message).toBe(
      'region ca-central-1 has 3 available zones (ca-central-1a, ca-central-1b, ca-central-1d); the stack needs 3 (ca-central-1a, ca-central-1b, ca-central-1c; ca-central-1c is not available)',
    );
  });

  it('the probes’ failure ratios are put in CloudWatch, per probe and for the run', async () => {
    env(true);
    const cw = cloudWatchClient('us-east-1');
    const failures: string[] = [];
    const publisher = new FailureRatioPublisher({
      runId: 'run-metrics',
      client: cw,
      intervalMs: 60_000,
      onFailure: (m) => failures.push(m),
    });
    publisher.start();
    for (let i = 0; i < 6; i++) publisher.record({ probe: 'redis-writer', outcome: 'ok' });
    publisher.record({ probe: 'redis-writer', outcome: 'fail' });
    publisher.record({ probe: 'redis-writer', outcome: 'unknown' });
    publisher.record({ probe: 'pg-writer', outcome: 'ok' });
    const report = await publisher.stop();
    expect(failures).toEqual([]);
    // The heartbeat at start, then the run's series and two probes'.
    expect(report).toEqual({ puts: 2, failedPuts: 0, data: 4, droppedData: 0 });
    const listed = await cw.send(
      new ListMetricsCommand({ Namespace: 'ChaosHarness', MetricName: 'ProbeFailureRatio' }),
    );
    const series = new Set(
      (listed.Metrics ?? []).map((m) =>
        (m.Dimensions ?? [])
          .map((d) => `${d.Name}=${d.Value}`)
          .sort()
          .join(','),
      ),
    );
    expect([...series].sort()).toEqual([
      'Probe=pg-writer,RunId=run-metrics',
      'Probe=redis-writer,RunId=run-metrics',
      'RunId=run-metrics',
    ]);
    const now = Date.now();
    const got = await cw.send(
      new GetMetricDataCommand({
        StartTime: new Date(now - 600_000),
        EndTime: new Date(now + 60_000),
        MetricDataQueries: [
          ['run', [{ Name: 'RunId', Value: 'run-metrics' }]],
          [
            'redis',
            [
              { Name: 'RunId', Value: 'run-metrics' },
              { Name: 'Probe', Value: 'redis-writer' },
            ],
          ],
        ].map(([id, dims]) => ({
          Id: id as string,
          MetricStat: {
            Metric: {
              Namespace: 'ChaosHarness',
              MetricName: 'ProbeFailureRatio',
              Dimensions: dims as { Name: string; Value: string }[],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        })),
      }),
    );
    const max = (id: string) => Math.max(...(got.MetricDataResults?.find((r) => r.Id === id)?.Values ?? []));
    expect(max('redis')).toBe(0.25);
    expect(max('run')).toBe(0.25);
    cw.destroy();
  });

  it('the stop alarm: created over the run series, tagged with the run, its ARN fit for FIS; deleted at teardown', async () => {
    env(true);
    const cw = cloudWatchClient('us-east-1');
    const alarm = await createStopAlarm(cw, 'run-metrics', 'us-east-1', { scenario: 'redis-head-kill' });
    expect(alarm).toEqual({
      name: 'chaos-run-metrics-probe-failures',
      arn: `arn:aws:cloudwatch:us-east-1:${MOTO_ACCOUNT}:alarm:chaos-run-metrics-probe-failures`,
    });
    expect(alarmArnProblem(alarm.arn, 'us-east-1')).toBeUndefined();
    const described =
      (await cw.send(new DescribeAlarmsCommand({ AlarmNames: [alarm.name] }))).MetricAlarms ?? [];
    expect(described).toHaveLength(1);
    expect(described[0]).toMatchObject({
      Namespace: 'ChaosHarness',
      MetricName: 'ProbeFailureRatio',
      Dimensions: [{ Name: 'RunId', Value: 'run-metrics' }],
      Statistic: 'Maximum',
      Period: 10,
      EvaluationPeriods: 6,
      Threshold: 0.5,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
    });
    const tags = (await cw.send(new ListTagsForResourceCommand({ ResourceARN: alarm.arn }))).Tags ?? [];
    expect(tags).toEqual(
      expect.arrayContaining([
        { Key: 'chaos:run', Value: 'run-metrics' },
        { Key: 'chaos:stack', Value: 'redis-head-kill' },
      ]),
    );
    await deleteStopAlarm(cw, 'run-metrics');
    expect(
      (await cw.send(new DescribeAlarmsCommand({ AlarmNames: [alarm.name] }))).MetricAlarms ?? [],
    ).toEqual([]);
    // Teardown may run twice (a signal during teardown): the second finds nothing and is fine.
    await deleteStopAlarm(cw, 'run-metrics');
    cw.destroy();
  });

  it('a publisher whose CloudWatch is gone counts its failures and carries on', async () => {
    env(true);
    const dead = new CloudWatchClient({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:1',
      maxAttempts: 1,
    });
    const publisher = new FailureRatioPublisher({ runId: 'run-dead', client: dead });
    publisher.record({ probe: 'w', outcome: 'fail' });
    await expect(publisher.flush()).resolves.toBeUndefined();
    expect(publisher.report()).toMatchObject({ puts: 0, failedPuts: 1, droppedData: 2 });
    dead.destroy();
  });
});
