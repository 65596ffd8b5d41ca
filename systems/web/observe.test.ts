import { describe, expect, it } from 'vitest';
import type { LoadBalancerTarget, NodeRef, Stack } from '../../core/provider.ts';
import type { ControllerContext } from '../../core/system.ts';
import { web } from './index.ts';
import { MANAGED_LB_ROLE, observeWeb, webViolations } from './observe.ts';
import { type WebSpec, webSpec } from './spec.ts';

/**
 * The web tier behind the cloud's load balancer (core/provider.ts `ManagedLoadBalancer`, an ALB
 * on AWS): observed through the targets' health, never HAProxy's runtime API, and no controller
 * of the harness's own beside the cloud's group. A strict fake: any other use of the stack throws.
 */
function managedStack(
  nodes: NodeRef[],
  targets: () => Promise<LoadBalancerTarget[]>,
): Stack & { calls: number } {
  const s = {
    calls: 0,
    nodes: () => nodes,
    loadBalancer: () => ({
      managedGroup: true as const,
      targets: () => {
        s.calls++;
        return targets();
      },
    }),
  };
  return new Proxy(s, {
    get(target, key) {
      if (key in target) return target[key as keyof typeof target];
      if (key === 'then') return undefined;
      throw new Error(`the web tier used stack.${String(key)} behind a managed load balancer`);
    },
  }) as unknown as Stack & { calls: number };
}

const head = (name: string, az: string, index: number): NodeRef => ({ name, az, system: 'web', index });
const NODES = [head('web-a', 'a', 1), head('web-b', 'b', 2), head('web-c', 'c', 3)];
const spec: WebSpec = webSpec.parse({ heads: 3, azs: ['a', 'b', 'c'] });

describe('the web tier behind a managed load balancer', () => {
  it('the heads in service are the healthy targets, after the load balancer; the rest say why', async () => {
    const stack = managedStack(NODES, async () => [
      { node: 'web-a', state: 'healthy' },
      { node: 'web-b', state: 'unhealthy', reason: 'Target.FailedHealthChecks' },
      { node: 'web-c', state: 'healthy' },
    ]);
    const state = await observeWeb(stack);
    expect(stack.calls).toBe(1);
    expect(state.leader).toBeNull();
    expect(state.members).toEqual(['web-lb', 'web-a', 'web-c']);
    expect(state.nodes).toEqual([
      { name: 'web-lb', az: '-', reachable: true, role: MANAGED_LB_ROLE },
      { name: 'web-a', az: 'a', reachable: true, role: 'head (healthy)', following: 'web-lb', linkUp: true },
      {
        name: 'web-b',
        az: 'b',
        reachable: false,
        role: 'head (unhealthy, Target.FailedHealthChecks)',
        following: 'web-lb',
        linkUp: false,
      },
      { name: 'web-c', az: 'c', reachable: true, role: 'head (healthy)', following: 'web-lb', linkUp: true },
    ]);
    expect(webViolations(state, spec)).toEqual([
      '2 of 3 heads in service (web-a, web-c); not in service: web-b head (unhealthy, Target.FailedHealthChecks)',
    ]);
  });

  it("a head the cloud's group launched counts once healthy; one that is no target is not in service", async () => {
    const stack = managedStack(NODES, async () => [
      { node: 'web-a', state: 'healthy' },
      { node: 'web-b', state: 'healthy' },
      { node: 'web-c-i-0abc123', state: 'healthy' },
      { node: 'web-b-i-0def456', state: 'initial', reason: 'Elb.RegistrationInProgress' },
    ]);
    const state = await observeWeb(stack);
    expect(state.members).toEqual(['web-lb', 'web-a', 'web-b', 'web-c-i-0abc123']);
    expect(state.nodes.find((n) => n.name === 'web-c')).toMatchObject({
      reachable: false,
      role: 'head (not in the load balancer)',
    });
    expect(state.nodes.find((n) => n.name === 'web-c-i-0abc123')).toMatchObject({ az: 'c', reachable: true });
    expect(state.nodes.find((n) => n.name === 'web-b-i-0def456')).toMatchObject({
      az: 'b',
      reachable: false,
      role: 'head (initial, Elb.RegistrationInProgress)',
    });
    expect(webViolations(state, spec)).toEqual([]);
  });

  it('a load balancer whose API does not answer is unreachable, and its error is said', async () => {
    const stack = managedStack(NODES, async () => {
      throw new Error('ELBv2 DescribeTargetHealth of arn:tg: Throttling');
    });
    const state = await observeWeb(stack);
    expect(state.members).toEqual([]);
    expect(state.nodes[0]).toEqual({
      name: 'web-lb',
      az: '-',
      reachable: false,
      role: `${MANAGED_LB_ROLE}: ELBv2 DescribeTargetHealth of arn:tg: Throttling`,
    });
    expect(webViolations(state, spec)[0]).toBe(
      `the load balancer web-lb did not report its targets' health (${MANAGED_LB_ROLE}: ELBv2 DescribeTargetHealth of arn:tg: Throttling)`,
    );
    expect(webViolations(state, spec)[1]).toMatch(/^0 of 3 heads in service \(none\)/);
  });

  it("runs no controller of its own beside the cloud's group; locally, the group's emulation", () => {
    const ctx = (stack: Stack): ControllerContext => ({
      stack,
      plan: { runId: 'r', registryUrl: 'http://registry', bundle: { source: 's', target: 't' } },
      clock: { now: () => 0 } as ControllerContext['clock'],
      emit: () => {},
    });
    const managed = managedStack(NODES, async () => []);
    expect(web.controllers!(spec, ctx(managed))).toEqual([]);
    const local = { nodes: () => NODES } as unknown as Stack;
    expect(web.controllers!(spec, ctx(local)).map((c) => c.name)).toEqual(['auto-scaling-group']);
  });
});

describe('the web tier behind HAProxy (the local provider) is judged as before', () => {
  it('a load balancer that does not answer its runtime API', () => {
    const state = {
      leader: null,
      members: ['web-a'],
      nodes: [
        { name: 'web-lb', az: '-', reachable: false, role: 'load-balancer' },
        { name: 'web-a', az: 'a', reachable: true, role: 'head (UP)', following: 'web-lb', linkUp: true },
      ],
    };
    expect(webViolations(state, webSpec.parse({ heads: 1, azs: ['a'] }))).toEqual([
      'the load balancer web-lb does not answer its runtime API',
    ]);
  });
});
