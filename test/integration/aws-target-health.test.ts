import { DescribeVpcsCommand, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonotonicClock } from '../../core/clock.ts';
import { AwsStack } from '../../infra/aws/aws-stack.ts';
import { type RunClients, runClients } from '../../infra/aws/teardown.ts';
import { observeWeb, webViolations } from '../../systems/web/observe.ts';
import { webSpec } from '../../systems/web/spec.ts';
import { haveMoto, motoSkip, startMoto } from './moto.ts';

/**
 * The web tier's heads as the ALB sees them (infra/aws/aws-stack.ts `loadBalancer()`, ELBv2
 * DescribeTargetHealth on the stack's TargetGroupArn) against moto 5.2.5: instances tagged as the
 * template tags them (a head of the first plan with chaos:node, a head the Auto Scaling group
 * launched with the pool's tag only), registered with a target group by instance id.
 *
 * What moto shows: DescribeTargetHealth answers for instance targets; a registered running
 * instance is `healthy` (moto runs no health check: it never says `initial` or `unhealthy`), a
 * stopped one `unused` (Target.InvalidState), a deregistered one is no longer listed; the stack
 * names each instance as its node, and finds a head launched after discovery by the run's tags.
 */

const REGION = 'us-east-1';
const RUN = 'feed0001';

describe.skipIf(!haveMoto)(`the ALB's target health on moto${motoSkip}`, () => {
  let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
  let clients: RunClients;

  beforeAll(async () => {
    moto = await startMoto(REGION);
    clients = runClients(REGION);
  });

  afterAll(async () => {
    clients?.destroy();
    await moto?.stop();
  });

  async function instance(zone: string, tags: Record<string, string>): Promise<string> {
    const out = await clients.ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.small',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: `${REGION}${zone}` },
        TagSpecifications: [
          { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    );
    return out.Instances![0]!.InstanceId!;
  }

  it('names every target as its node, finds a head the group launched later, and says which are in service', async () => {
    const vpc = (
      await clients.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))
    ).Vpcs![0]!.VpcId!;
    const tg = (
      await clients.elb.send(
        new CreateTargetGroupCommand({
          Name: `chaos-${RUN}-heads`,
          Protocol: 'HTTP',
          Port: 8080,
          VpcId: vpc,
          TargetType: 'instance',
        }),
      )
    ).TargetGroups![0]!.TargetGroupArn!;
    const run = { 'chaos:run': RUN, 'chaos:system': 'web' };
    const webA = await instance('a', { ...run, 'chaos:node': 'web-a' });
    const pooled = await instance('b', { ...run, 'chaos:pool': 'web-head' });
    // Another run's head in the same target group would be a bug elsewhere; it is named by its id.
    const stranger = await instance('c', {
      'chaos:run': 'other',
      'chaos:system': 'web',
      'chaos:pool': 'web-head',
    });
    await clients.elb.send(
      new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: webA }, { Id: pooled }] }),
    );

    const stack = new AwsStack({
      clients,
      region: REGION,
      runId: RUN,
      stackRunId: RUN,
      scenario: 'target-health-moto',
      stackName: `chaos-target-health-${RUN}`,
      stackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/x/y',
      outputs: {
        TargetGroupArn: tg,
        LoadBalancerNode: 'web-lb',
        LoadBalancerDnsName: 'internal-chaos-lb.us-east-1.elb.amazonaws.com',
        LoadBalancerPort: '80',
      },
      owned: false,
      bucket: '',
      plan: { scenario: 'target-health-moto', nodes: [], faults: [], observeMs: 0 },
      reach: { kind: 'routed' },
      clock: new MonotonicClock(),
      onEvent: () => {},
    });
    await stack.discover();
    // The probes reach the ALB by its DNS name and listener, whatever port is asked of web-lb.
    expect(stack.endpoint('web-lb')).toEqual({
      host: 'internal-chaos-lb.us-east-1.elb.amazonaws.com',
      port: 80,
    });
    const lb = stack.loadBalancer?.();
    expect(lb?.managedGroup).toBe(true);
    const byNode = async () =>
      Object.fromEntries(
        (await lb!.targets()).map((t) => [t.node, `${t.state}${t.reason ? ` ${t.reason}` : ''}`]),
      );
    expect(await byNode()).toEqual({ 'web-a': 'healthy', [`web-b-${pooled}`]: 'healthy' });

    // The group launches a head after discovery: the stack finds it by the run's tags.
    const later = await instance('c', { ...run, 'chaos:pool': 'web-head' });
    await clients.elb.send(
      new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: later }, { Id: stranger }] }),
    );
    await clients.ec2.send(new StopInstancesCommand({ InstanceIds: [webA] }));
    expect(await byNode()).toEqual({
      'web-a': 'unused Target.InvalidState',
      [`web-b-${pooled}`]: 'healthy',
      [`web-c-${later}`]: 'healthy',
      [stranger]: 'healthy',
    });
    expect(stack.nodes().map((n) => n.name)).toContain(`web-c-${later}`);

    await clients.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: stranger }] }));
    const state = await observeWeb(stack);
    expect(state.members).toEqual(['web-lb', `web-b-${pooled}`, `web-c-${later}`]);
    expect(state.nodes.find((n) => n.name === 'web-a')).toMatchObject({
      reachable: false,
      role: 'head (unused, Target.InvalidState)',
    });
    const spec = webSpec.parse({ heads: 2, azs: ['a', 'b', 'c'] });
    expect(webViolations(state, spec)).toEqual([]);
  });

  it('a target group that is gone: the load balancer is unreachable, in one sentence', async () => {
    const stack = new AwsStack({
      clients,
      region: REGION,
      runId: RUN,
      stackRunId: RUN,
      scenario: 'target-health-moto',
      stackName: `chaos-target-health-${RUN}`,
      stackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/x/y',
      outputs: {
        TargetGroupArn:
          'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef',
      },
      owned: false,
      bucket: '',
      plan: { scenario: 'target-health-moto', nodes: [], faults: [], observeMs: 0 },
      reach: { kind: 'routed' },
      clock: new MonotonicClock(),
      onEvent: () => {},
    });
    const state = await observeWeb(stack);
    expect(state.members).toEqual([]);
    expect(webViolations(state, webSpec.parse({ heads: 1, azs: ['a', 'b'] }))[0]).toMatch(
      /^the load balancer web-lb did not report its targets' health \(load-balancer \(the cloud's\): ELBv2 DescribeTargetHealth of arn:aws:elasticloadbalancing:\S+ failed: TargetGroupNotFoundException/,
    );
  });
});
