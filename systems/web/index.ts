import { fileURLToPath } from 'node:url';
import { NODE_IMAGE } from '../../agents/bundle.ts';
import { sleep } from '../../core/clock.ts';
import type { SystemDefinition } from '../../core/system.ts';
import { K6_INSTALL, findK6 } from '../../probes/k6/binary.ts';
import { AutoScalingGroup } from './group.ts';
import { LB_NODE, webLayout } from './layout.ts';
import { awaitWeb, lbRuntime, observeWeb, webViolations } from './observe.ts';
import { HEAD_PORT, LB_PORT, headPlan, planWeb } from './plan.ts';
import { K6HttpProbe, type K6HttpProbeSpec, k6HttpSettings, k6HttpSpec } from './probe.ts';
import { WEB_ROLES, resolveWebRole } from './roles.ts';
import { type WebSpec, webSpec } from './spec.ts';

/**
 * The web tier: HAProxy in front of web heads in an Auto Scaling group over the AZs, each head
 * writing through the stack's data systems; k6 as its probe.
 */
export const web: SystemDefinition<WebSpec> = {
  name: 'web',
  kind: 'web-asg',
  description:
    'a load balancer (HAProxy) in front of web heads in an Auto Scaling group over the AZs, writing through Postgres and Redis; k6 as the probe',
  spec: webSpec,
  needs: (spec) => spec.backends.map((system) => ({ system, field: 'backends' })),
  probes: [
    {
      kind: 'k6-http',
      spec: k6HttpSpec,
      create: (spec, deps) =>
        new K6HttpProbe(spec as K6HttpProbeSpec, {
          clock: deps.clock,
          history: deps.history,
          endpoint: () => deps.stack.endpoint(LB_NODE, LB_PORT),
        }),
      settings: (spec) => k6HttpSettings(spec as K6HttpProbeSpec),
      needs: `k6 (${K6_INSTALL}, or K6_BIN)`,
      preflight: async () => {
        await findK6();
      },
    },
  ],
  roles: WEB_ROLES,
  images: [
    {
      name: 'haproxy',
      env: 'CHAOS_IMAGE_HAPROXY',
      official: 'haproxy:2.6',
      offline: 'chaos-local/haproxy:2.6',
    },
    NODE_IMAGE,
  ],
  agents: { 'web-head': fileURLToPath(new URL('./head-main.ts', import.meta.url)) },
  layout: (spec) => webLayout(spec.heads, spec.azs),
  plan: planWeb,
  awaitReady: (stack, spec, signal) => awaitWeb(stack, spec, signal),
  observe: (stack) => observeWeb(stack),
  records: async (stack) => {
    const { leader, members } = await observeWeb(stack);
    return { leader, members };
  },
  invariants: webViolations,
  resolve: resolveWebRole,
  // The web tier has no leader: no record ever moves (the group's acts are its actions).
  leadership: { record: 'web-no-leader', promotedType: 'none' },
  decisions: [],
  controllers: (spec, ctx) => {
    const { stack } = ctx;
    // The cloud's own Auto Scaling group keeps the heads behind its load balancer (an ALB on AWS):
    // nothing here launches, replaces or registers a head.
    if (stack.loadBalancer) return [];
    const runtime = () => lbRuntime(stack);
    const heads = () => stack.nodes().filter((n) => n.system === 'web' && n.name !== LB_NODE);
    const group = new AutoScalingGroup(
      {
        desired: spec.heads,
        azs: spec.azs,
        replaceAfterMs: spec.replaceAfterMs,
        intervalMs: spec.reconcileIntervalMs,
      },
      {
        heads,
        running: (n) => stack.running(n),
        launch: (name, az) =>
          stack.launch(headPlan({ name, az, system: 'web', index: heads().length + 1 }, spec, ctx.plan)),
        terminate: (n) => stack.terminate(n),
        register: (n) => runtime().addServer(n.name, stack.address(n.name), HEAD_PORT, spec.lbProfile),
        deregister: async (n) => {
          await runtime().removeServer(n);
        },
        impairedZones: () => stack.impairedZones(),
        emit: ctx.emit,
        now: () => ctx.clock.now(),
        sleep,
      },
    );
    return [{ name: 'auto-scaling-group', start: () => group.start(), stop: () => group.stop() }];
  },
};
