import { type ChildProcess, spawn } from 'node:child_process';
import {
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetExperimentCommand, GetExperimentTemplateCommand } from '@aws-sdk/client-fis';
import { GetCommandInvocationCommand, ListCommandsCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonotonicClock } from '../../core/clock.ts';
import type { TimelineEvent } from '../../core/events.ts';
import { type AwsClients, awsClients } from '../../infra/aws/aws-clients.ts';
import {
  type DirectContext,
  findInstances,
  resolveInstanceIds,
  runPlannedCalls,
  sendCommand,
  stopInstances,
  terminateInAutoScalingGroup,
  terminateInstances,
} from '../../infra/aws/direct.ts';
import {
  EMPTY_TARGET_RESOLUTION_MODE,
  FisExperiment,
  experimentsOf,
  runTemplateIds,
  sweepRun,
} from '../../infra/aws/experiments.ts';
import { type PlanFault, type PlanInput, type PlanNode, planFaults } from '../../infra/aws/fis-plan.ts';
import { freePort, haveMoto, motoSkip } from './moto.ts';

/**
 * The AWS provider's faults carried out against moto's FIS, EC2, Auto Scaling and Systems
 * Manager (moto_server on 127.0.0.1, reached through AWS_ENDPOINT_URL as awsClients reads it).
 *
 * What moto shows: the calls as the SDK sends them and the answers as AWS gives them; EC2's
 * filters (the run scoping) and its state changes, which are immediate (stopped at once, running
 * at once after a start); Auto Scaling's termination and its replacement; Systems Manager taking a
 * command. What it cannot show: moto's FIS advances an experiment one state per GetExperiment
 * (pending, initiating, running, completed; stopping, then stopped after a stop) and carries out
 * no action: no instance is terminated or stopped by an experiment, targets selected by tags are
 * not resolved (ListExperimentResolvedTargets answers nothing), every action's startTime is the
 * StartExperiment instant (so the initialisation gap is ~0, where FIS takes seconds), and it never
 * fails an experiment (no failed state, no AccessDenied, no ValidationException: those messages
 * are unit-tested on the SDK's own exception classes). moto's EC2 ignores SkipOsShutdown (the
 * request body shows it is sent); its Auto Scaling records no scaling activity for a termination;
 * its SSM runs nothing.
 */

const REGION = 'us-east-1';
const STACK = 'faults-demo';
const RUN = 'run-one';
const OTHER = 'run-two';
const ROLE = 'arn:aws:iam::123456789012:role/fis-experiment';

const node = (system: string, az: string, index: number): PlanNode => ({
  name: `${system}-${az}`,
  system,
  az,
  index,
  serverProcess: system === 'redis' ? 'redis-server' : 'postgres',
  agentProcess: 'node',
  disks: system === 'pg' ? ['data'] : [],
});
const NODES = [node('redis', 'a', 0), node('redis', 'b', 1), node('pg', 'a', 0), node('pg', 'b', 1)];
const byName = (n: string) => NODES.find((x) => x.name === n)!;
const fault = (index: number, at: number, action: string, target: string, extra: Partial<PlanFault> = {}) =>
  ({
    index,
    at,
    action,
    target,
    resolved: { kind: 'nodes', nodes: [byName(target.slice('node:'.length))] },
    ...extra,
  }) as PlanFault;

/** Two faults at +0 (one experiment), one at +5000 alone, and two that are direct calls. */
const INPUT: PlanInput = {
  scenario: STACK,
  nodes: NODES,
  observeMs: 10_000,
  faults: [
    fault(1, 0, 'kill', 'node:redis-a'),
    fault(2, 0, 'stop', 'node:pg-a', { durationMs: 60_000 }),
    fault(3, 5000, 'drop-az', 'az:b', {
      mode: 'network',
      durationMs: 60_000,
      resolved: { kind: 'az', az: 'b', nodes: NODES.filter((n) => n.az === 'b') },
    }),
    // Longer than FIS's 12 hours of startInstancesAfterDuration: StopInstances and StartInstances.
    fault(4, 9000, 'stop', 'node:redis-b', { durationMs: 13 * 3600_000 }),
    // A signal AWSFIS-Run-Kill-Process cannot send: SendCommand with AWS-RunShellScript.
    fault(5, 9000, 'kill-process', 'node:pg-b', { process: 'server', signal: 'SIGQUIT' }),
  ],
};

describe.skipIf(!haveMoto)(`AWS faults on moto (FIS, EC2, Auto Scaling, SSM)${motoSkip}`, () => {
  let moto: ChildProcess | undefined;
  let motoLog = '';
  let clients: AwsClients;
  const clock = new MonotonicClock();
  const ids: Record<string, string> = {};
  const subnets: Record<string, string> = {};

  const direct = (events: TimelineEvent[], faults?: number[]): DirectContext => ({
    ec2: clients.ec2,
    autoScaling: clients.autoScaling,
    ssm: clients.ssm,
    clock,
    emit: (e) => events.push(e),
    runId: RUN,
    ...(faults ? { faults } : {}),
  });

  async function stateOf(id: string): Promise<string | undefined> {
    const out = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
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
    const url = `http://127.0.0.1:${port}`;
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
    clients = awsClients({
      region: REGION,
      env: { AWS_ENDPOINT_URL: url },
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 2,
    });

    // One VPC, a subnet in each of two zones, tagged as the stack's.
    const vpc = (await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    for (const [az, cidr] of [
      ['a', '10.0.1.0/24'],
      ['b', '10.0.2.0/24'],
    ] as const) {
      const s = await clients.ec2.send(
        new CreateSubnetCommand({
          VpcId: vpc,
          CidrBlock: cidr,
          AvailabilityZone: `${REGION}${az}`,
          TagSpecifications: [
            {
              ResourceType: 'subnet',
              Tags: [
                { Key: 'chaos:stack', Value: STACK },
                { Key: 'chaos:run', Value: RUN },
              ],
            },
          ],
        }),
      );
      subnets[az] = s.Subnet!.SubnetId!;
    }
    const ami = (await clients.ec2.send(new DescribeImagesCommand({}))).Images![0]!.ImageId!;
    const launch = async (key: string, az: 'a' | 'b', tags: Record<string, string>) => {
      const out = await clients.ec2.send(
        new RunInstancesCommand({
          ImageId: ami,
          MinCount: 1,
          MaxCount: 1,
          SubnetId: subnets[az],
          TagSpecifications: [
            { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
          ],
        }),
      );
      ids[key] = out.Instances![0]!.InstanceId!;
    };
    const tagsOf = (n: PlanNode, run: string) => ({
      'chaos:stack': STACK,
      'chaos:run': run,
      'chaos:system': n.system,
      'chaos:node': n.name,
      Name: n.name,
    });
    for (const n of NODES) await launch(`${RUN}/${n.name}`, n.az as 'a' | 'b', tagsOf(n, RUN));
    // The same scenario's other run, in the same zones, with the same node names.
    for (const n of NODES) await launch(`${OTHER}/${n.name}`, n.az as 'a' | 'b', tagsOf(n, OTHER));
    // The harness's own hosts: one with the run's tags and a node's Name but no system, one with no tag.
    await launch('probe-host', 'a', { 'chaos:stack': STACK, 'chaos:run': RUN, Name: 'redis-a' });
    await launch('untagged', 'a', { Name: 'redis-a' });
  });

  afterAll(async () => {
    clients?.destroy();
    if (moto && moto.exitCode === null) {
      const exited = new Promise((r) => moto!.once('exit', r));
      moto.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (moto.exitCode === null) moto.kill('SIGKILL');
    }
  });

  it("the resolver returns the run's running system nodes only: never another run's, nor the harness's own hosts, nor by a Name", async () => {
    const redis = await resolveInstanceIds(clients.ec2, RUN, { tags: { 'chaos:system': 'redis' } });
    expect(redis).toEqual([ids[`${RUN}/redis-a`], ids[`${RUN}/redis-b`]].sort());
    const inA = await findInstances(clients.ec2, RUN, {
      tags: { 'chaos:system': 'redis' },
      az: `${REGION}a`,
    });
    expect(inA).toEqual([
      {
        instanceId: ids[`${RUN}/redis-a`],
        az: `${REGION}a`,
        node: 'redis-a',
        system: 'redis',
        state: 'running',
      },
    ]);
    // A node's name: the run's node, not the other run's nor the probe host called redis-a.
    expect(await resolveInstanceIds(clients.ec2, RUN, { tags: { 'chaos:node': 'redis-a' } })).toEqual([
      ids[`${RUN}/redis-a`],
    ]);
    expect(await resolveInstanceIds(clients.ec2, OTHER, { tags: { 'chaos:node': 'redis-a' } })).toEqual([
      ids[`${OTHER}/redis-a`],
    ]);
    // Every system node of the run, by the stack tag and each system: the hosts are in neither.
    const all = [
      ...(await resolveInstanceIds(clients.ec2, RUN, {
        tags: { 'chaos:stack': STACK, 'chaos:system': 'redis' },
      })),
      ...(await resolveInstanceIds(clients.ec2, RUN, {
        tags: { 'chaos:stack': STACK, 'chaos:system': 'pg' },
      })),
    ];
    expect(all.sort()).toEqual(NODES.map((n) => ids[`${RUN}/${n.name}`]).sort());
    expect(all).not.toContain(ids['probe-host']);
    expect(all).not.toContain(ids.untagged);
    // A Name or the stack alone is refused before any call.
    await expect(resolveInstanceIds(clients.ec2, RUN, { tags: { Name: 'redis-a' } })).rejects.toThrow(
      /needs chaos:system or chaos:node/,
    );
    await expect(resolveInstanceIds(clients.ec2, RUN, { tags: { 'chaos:stack': STACK } })).rejects.toThrow(
      /harness's own hosts/,
    );
    await expect(
      resolveInstanceIds(clients.ec2, RUN, { tags: { 'chaos:run': OTHER, 'chaos:system': 'redis' } }),
    ).rejects.toThrow(/names run run-two, and this run is run-one/);
  });

  it('two faults at +0 are one experiment: created tagged, started, polled through its states, stopped, and its template deleted', async () => {
    const entries = planFaults(INPUT, { region: REGION, runId: RUN, roleArn: ROLE, stopAlarmArns: [] });
    expect(entries.map((e) => e.kind)).toEqual([
      'fis-template',
      'fis-template',
      'fis-template',
      'api-calls',
      'api-calls',
    ]);
    const [atZero] = experimentsOf(entries, { runId: RUN });
    expect(atZero!.faults).toEqual([1, 2]);
    const events: TimelineEvent[] = [];
    const exp = new FisExperiment(atZero!, { fis: clients.fis, clock, emit: (e) => events.push(e) });
    try {
      await exp.start();
      const template = (await clients.fis.send(new GetExperimentTemplateCommand({ id: exp.templateId })))
        .experimentTemplate!;
      expect(template.tags).toEqual({ 'chaos:stack': STACK, 'chaos:run': RUN, 'chaos:fault': '1+2' });
      expect(template.experimentOptions?.emptyTargetResolutionMode).toBe(EMPTY_TARGET_RESOLUTION_MODE);
      expect(Object.keys(template.actions ?? {}).sort()).toEqual(['f1-terminate-redis-a', 'f2-stop-pg-a']);
      expect(template.actions?.['f2-stop-pg-a']?.targets).toEqual({ Instances: 'f2-pg-a' });

      const injection = await exp.applied();
      expect(injection.experimentId).toBe(exp.experimentId);
      // moto gives every action the StartExperiment instant as its startTime.
      expect(injection.tStarted).toBeGreaterThanOrEqual(exp.tStartCall! - 20);
      expect(injection.tStarted).toBeLessThanOrEqual(exp.tStartReturned! + 20);
      expect(injection.initMs).toBeCloseTo(injection.tStarted - injection.tStartCall, 6);
      expect(injection.faults.map((f) => [f.fault, f.actions.map((a) => a.name)])).toEqual([
        [1, ['f1-terminate-redis-a']],
        [2, ['f2-stop-pg-a']],
      ]);
      // Targets by tag: moto resolves none, and says so by an empty list.
      expect(injection.resolvedTargets).toEqual({});

      await exp.stop('a breach');
      const outcome = await exp.finished();
      expect(outcome).toMatchObject({ status: 'stopped', stoppedBecause: 'a breach' });
      const got = (await clients.fis.send(new GetExperimentCommand({ id: exp.experimentId }))).experiment!;
      expect(got.tags).toMatchObject({ 'chaos:run': RUN, 'chaos:fault': '1+2' });
    } finally {
      await exp.cleanup();
      await exp.cleanup();
    }
    expect(await runTemplateIds(clients.fis, RUN)).toEqual([]);
    // moto carries out no action: the instances the experiment targets still run.
    expect(await stateOf(ids[`${RUN}/redis-a`]!)).toBe('running');

    const types = events.map((e) => e.type);
    expect(types).toEqual([
      'fis-template-created',
      'fis-experiment-started',
      'fis-experiment-pending',
      'fis-experiment-initiating',
      'fis-experiment-running',
      'fis-action-started',
      'fis-action-started',
      'fis-stop-requested',
      'fis-experiment-stopping',
      'fis-experiment-stopped',
      'fis-action-ended',
      'fis-action-ended',
      'fis-template-deleted',
    ]);
    for (const e of events.filter((x) => x.type.startsWith('fis-experiment-')))
      expect(e.data).toMatchObject({ experimentId: exp.experimentId, faults: [1, 2] });
    expect(events.find((e) => e.type === 'fis-experiment-running')?.data?.resolvedTargets).toEqual({});
    expect(events.find((e) => e.type === 'fis-experiment-stopping')?.data).toMatchObject({
      previous: 'running',
    });
    const started = events.filter((e) => e.type === 'fis-action-started');
    expect(started.map((e) => [e.data?.action, e.node])).toEqual([
      ['f1-terminate-redis-a', 'redis-a'],
      ['f2-stop-pg-a', 'pg-a'],
    ]);
    // The action's event is at its startTime, the injection instant.
    expect(started[0]!.t).toBeCloseTo((await exp.applied()).tStarted, 6);
    expect(events.filter((e) => e.type === 'fis-action-ended').map((e) => e.data?.status)).toEqual([
      'stopped',
      'stopped',
    ]);
  });

  it('an experiment left alone is polled to completed with backoff; an abort before it starts leaves no template', async () => {
    const entries = planFaults(INPUT, { region: REGION, runId: RUN, roleArn: ROLE, stopAlarmArns: [] });
    const [, atFive] = experimentsOf(entries, { runId: RUN });
    expect(atFive!.faults).toEqual([3]);
    const events: TimelineEvent[] = [];
    const exp = new FisExperiment(atFive!, { fis: clients.fis, clock, emit: (e) => events.push(e) });
    try {
      await exp.start();
      const t0 = clock.now();
      const outcome = await exp.finished();
      // pending -> initiating -> running -> completed is three GetExperiment calls on moto, after
      // 250, 250 and 250 ms (each change resets the backoff): about 750 ms, not 3 x 2 s.
      expect(clock.now() - t0).toBeLessThan(2000);
      expect(outcome.status).toBe('completed');
      expect(outcome.stoppedBecause).toBeUndefined();
      expect((await exp.applied()).faults[0]!.actions[0]!.name).toBe('disrupt-b');
    } finally {
      await exp.cleanup();
    }
    expect(events.map((e) => e.type).filter((t) => t.startsWith('fis-experiment-'))).toEqual([
      'fis-experiment-started',
      'fis-experiment-pending',
      'fis-experiment-initiating',
      'fis-experiment-running',
      'fis-experiment-completed',
    ]);
    expect(events.find((e) => e.type === 'fis-experiment-completed')?.data?.tEnded).toEqual(
      expect.any(Number),
    );
    expect(events.find((e) => e.type === 'fis-action-ended')?.data).toMatchObject({
      action: 'disrupt-b',
      actionId: 'aws:network:disrupt-connectivity',
      status: 'completed',
      fault: 3,
    });

    // An abort (Ctrl-C) while the template is being created: no experiment starts, cleanup deletes it.
    const abort = new AbortController();
    const aborted = new FisExperiment(atFive!, {
      fis: clients.fis,
      clock,
      signal: abort.signal,
      emit: (e) => {
        if (e.type === 'fis-template-created') abort.abort('SIGINT');
      },
    });
    await expect(aborted.start()).rejects.toThrow(/interrupted by SIGINT/);
    expect(aborted.experimentId).toBeUndefined();
    expect(await runTemplateIds(clients.fis, RUN)).toEqual([aborted.templateId]);
    await aborted.cleanup();
    expect(await runTemplateIds(clients.fis, RUN)).toEqual([]);
  });

  it('an abort once the experiment runs stops it; sweepRun finds nothing of the run left', async () => {
    const entries = planFaults(INPUT, { region: REGION, runId: RUN, roleArn: ROLE, stopAlarmArns: [] });
    const [atZero] = experimentsOf(entries, { runId: RUN });
    const abort = new AbortController();
    const events: TimelineEvent[] = [];
    const exp = new FisExperiment(atZero!, {
      fis: clients.fis,
      clock,
      signal: abort.signal,
      emit: (e) => events.push(e),
    });
    try {
      await exp.start();
      await exp.applied();
      abort.abort('SIGINT');
      const outcome = await exp.finished();
      expect(outcome).toMatchObject({ status: 'stopped', stoppedBecause: 'aborted: SIGINT' });
    } finally {
      await exp.cleanup();
    }
    expect(events.find((e) => e.type === 'fis-stop-requested')?.data?.reason).toBe('aborted: SIGINT');
    expect(await sweepRun(clients.fis, RUN)).toEqual({ stopped: [], deleted: [], errors: [] });
  });

  it("direct calls reach EC2 (moto's state changes are immediate) on the run's instances only, each an event with the ids", async () => {
    const events: TimelineEvent[] = [];
    const ctx = direct(events, [7]);
    // What the SDK sends: moto ignores SkipOsShutdown, so the request body is where it shows.
    const sent: string[] = [];
    clients.ec2.middlewareStack.add(
      (next) => async (args) => {
        const body = (args.request as { body?: unknown }).body;
        if (typeof body === 'string') sent.push(body);
        return next(args);
      },
      { step: 'finalizeRequest', name: 'capture-body' },
    );
    const pgA = await findInstances(clients.ec2, RUN, { tags: { 'chaos:node': 'pg-a' } });
    const stop = await stopInstances(ctx, pgA, { powerLoss: true });
    expect(stop.states).toEqual([
      { instanceId: ids[`${RUN}/pg-a`], previous: 'running', current: 'stopping' },
    ]);
    expect(await stateOf(ids[`${RUN}/pg-a`]!)).toBe('stopped');
    expect(await stateOf(ids[`${OTHER}/pg-a`]!)).toBe('running');
    // Stopped: no longer found, so no later fault hits it.
    expect(await resolveInstanceIds(clients.ec2, RUN, { tags: { 'chaos:node': 'pg-a' } })).toEqual([]);
    const start = await stop.revert();
    expect(start?.operation).toBe('StartInstances');
    expect(await stateOf(ids[`${RUN}/pg-a`]!)).toBe('running');

    const redisA = await findInstances(clients.ec2, RUN, { tags: { 'chaos:node': 'redis-a' } });
    await terminateInstances(ctx, redisA);
    expect(await stateOf(ids[`${RUN}/redis-a`]!)).toBe('terminated');
    expect(await stateOf(ids[`${OTHER}/redis-a`]!)).toBe('running');
    expect(await stateOf(ids['probe-host']!)).toBe('running');

    expect(events.map((e) => [e.source, e.type, e.node, e.data?.instanceIds])).toEqual([
      ['aws', 'ec2-stop-instances', 'pg-a', [ids[`${RUN}/pg-a`]]],
      ['aws', 'ec2-start-instances', 'pg-a', [ids[`${RUN}/pg-a`]]],
      ['aws', 'ec2-terminate-instances', 'redis-a', [ids[`${RUN}/redis-a`]]],
    ]);
    expect(events[0]!.data).toMatchObject({
      operation: 'ec2:StopInstances',
      skipOsShutdown: true,
      faults: [7],
    });
    expect(events[2]!.data).toMatchObject({ skipOsShutdown: true });
    expect(events[0]!.t).toBeGreaterThanOrEqual(events[0]!.data!.tCall as number);
    clients.ec2.middlewareStack.remove('capture-body');
    expect(sent.find((b) => b.startsWith('Action=StopInstances'))).toMatch(/SkipOsShutdown=true/);
    expect(sent.find((b) => b.startsWith('Action=TerminateInstances'))).toMatch(/SkipOsShutdown=true/);
    expect(sent.find((b) => b.startsWith('Action=StartInstances'))).not.toMatch(/SkipOsShutdown/);
  });

  it("a plan's direct calls: the long stop (StopInstances, then StartInstances as its revert) and SendCommand by the ids found", async () => {
    const entries = planFaults(INPUT, { region: REGION, runId: RUN, roleArn: ROLE, stopAlarmArns: [] });
    const longStop = entries.find((e) => e.fault === 4)!;
    const killProcess = entries.find((e) => e.fault === 5)!;
    if (longStop.kind !== 'api-calls' || killProcess.kind !== 'api-calls') throw new Error('not api-calls');
    const events: TimelineEvent[] = [];
    const stopped = await runPlannedCalls(direct(events), longStop);
    expect(stopped.found.map((g) => g.map((i) => i.instanceId))).toEqual([[ids[`${RUN}/redis-b`]]]);
    expect(stopped.revertAfterMs).toBe(13 * 3600_000);
    expect(await stateOf(ids[`${RUN}/redis-b`]!)).toBe('stopped');
    expect(await stateOf(ids[`${OTHER}/redis-b`]!)).toBe('running');
    await stopped.revert!();
    expect(await stateOf(ids[`${RUN}/redis-b`]!)).toBe('running');

    const killed = await runPlannedCalls(direct(events), killProcess);
    expect(killed.revert).toBeUndefined();
    const commandId = killed.calls[0]!.ids![0]!;
    const listed = await clients.ssm.send(new ListCommandsCommand({ CommandId: commandId }));
    expect(listed.Commands?.[0]).toMatchObject({
      DocumentName: 'AWS-RunShellScript',
      Parameters: { commands: ['pkill --signal QUIT -x postgres'] },
    });
    // moto's SSM took it for the instance it was sent to (and runs nothing).
    const invocation = await clients.ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: ids[`${RUN}/pg-b`] }),
    );
    expect(invocation.DocumentName).toBe('AWS-RunShellScript');

    expect(events.map((e) => [e.type, e.data?.instanceIds])).toEqual([
      ['ec2-instances-found', [ids[`${RUN}/redis-b`]]],
      ['ec2-stop-instances', [ids[`${RUN}/redis-b`]]],
      ['ec2-start-instances', [ids[`${RUN}/redis-b`]]],
      ['ec2-instances-found', [ids[`${RUN}/pg-b`]]],
      ['ssm-send-command', [ids[`${RUN}/pg-b`]]],
    ]);
    expect(events.filter((e) => e.type !== 'ec2-instances-found').map((e) => e.data?.faults)).toEqual([
      [4],
      [4],
      [5],
    ]);
    expect(events[1]!.data).toMatchObject({ skipOsShutdown: true });
    expect(events[4]!.data).toMatchObject({ documentName: 'AWS-RunShellScript' });

    // A plan whose DescribeInstances finds nothing (the node is gone) fails: a fault must hit something.
    await terminateInstances(direct([]), [ids[`${RUN}/pg-b`]!]);
    await expect(runPlannedCalls(direct([]), killProcess)).rejects.toThrow(
      /no running instance of run run-one matches chaos:stack=faults-demo chaos:run=run-one chaos:system=pg chaos:node=pg-b/,
    );
  });

  it('a web head terminated through its Auto Scaling group: the group keeps its size and replaces it; another run untouched', async () => {
    const ami = (await clients.ec2.send(new DescribeImagesCommand({}))).Images![0]!.ImageId!;
    const lt = await clients.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'web',
        LaunchTemplateData: { ImageId: ami, InstanceType: 't3.micro' },
      }),
    );
    const group = async (run: string) => {
      await clients.autoScaling.send(
        new CreateAutoScalingGroupCommand({
          AutoScalingGroupName: `${STACK}-${run}-web`,
          LaunchTemplate: { LaunchTemplateId: lt.LaunchTemplate!.LaunchTemplateId!, Version: '$Latest' },
          MinSize: 2,
          MaxSize: 2,
          DesiredCapacity: 2,
          VPCZoneIdentifier: `${subnets.a},${subnets.b}`,
          Tags: [
            { Key: 'chaos:stack', Value: STACK, PropagateAtLaunch: true },
            { Key: 'chaos:run', Value: run, PropagateAtLaunch: true },
            { Key: 'chaos:system', Value: 'web', PropagateAtLaunch: true },
          ],
        }),
      );
    };
    await group(RUN);
    await group(OTHER);
    const web = await findInstances(clients.ec2, RUN, { tags: { 'chaos:system': 'web' } });
    const otherWeb = await resolveInstanceIds(clients.ec2, OTHER, { tags: { 'chaos:system': 'web' } });
    expect(web).toHaveLength(2);
    expect(otherWeb).toHaveLength(2);
    expect(otherWeb).not.toContain(web[0]!.instanceId);

    const events: TimelineEvent[] = [];
    const [done] = await terminateInAutoScalingGroup(direct(events, [6]), [web[0]!]);
    expect(done!.ids).toHaveLength(1);
    expect(await stateOf(web[0]!.instanceId)).toBe('terminated');
    const g = (
      await clients.autoScaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [`${STACK}-${RUN}-web`] }),
      )
    ).AutoScalingGroups![0]!;
    expect(g.DesiredCapacity).toBe(2);
    const members = (g.Instances ?? []).map((i) => i.InstanceId);
    expect(members).not.toContain(web[0]!.instanceId);
    expect(members).toHaveLength(2);
    for (const id of otherWeb) expect(await stateOf(id)).toBe('running');
    expect(events).toEqual([
      expect.objectContaining({
        source: 'aws',
        type: 'autoscaling-terminate-instance',
        data: expect.objectContaining({
          operation: 'autoscaling:TerminateInstanceInAutoScalingGroup',
          instanceIds: [web[0]!.instanceId],
          faults: [6],
        }),
      }),
    ]);

    // SendCommand by ids straight (as the provider calls it for a runbook or a process kill).
    const events2: TimelineEvent[] = [];
    const sent = await sendCommand(direct(events2), [web[1]!], {
      documentName: 'AWS-RunShellScript',
      parameters: { commands: ['true'] },
    });
    expect(sent.ids).toHaveLength(1);
    expect(events2[0]).toMatchObject({
      type: 'ssm-send-command',
      data: { instanceIds: [web[1]!.instanceId] },
    });
  });
});
