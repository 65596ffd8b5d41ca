import { fileURLToPath } from 'node:url';
import { NODE_IMAGE } from '../../agents/bundle.ts';
import type { Stack } from '../../core/provider.ts';
import type { SystemDefinition } from '../../core/system.ts';
import { PROXY_PORT, SENTINEL_PORT } from './config.ts';
import { sentinelViolations } from './invariants.ts';
import { PROXY_NODE, sentinelLayout } from './layout.ts';
import { addressBook, awaitSentinel, observeSentinel, sentinelNodes, sentinelRecords } from './observe.ts';
import { planSentinel } from './plan.ts';
import { SentinelWriterProbe, probeKey, sentinelWriterSettings } from './probe.ts';
import { SENTINEL_ROLES, resolveSentinelRole } from './roles.ts';
import { awaitSeed, observeSeed, seedViolations } from './seed-observe.ts';
import { planSeed, seedLauncher } from './seed-plan.ts';
import { type SentinelSpec, type SentinelWriterProbeSpec, sentinelSpec, sentinelWriterSpec } from './spec.ts';
import { MASTER_RECORD } from './watch.ts';

/** The probe's view of the stack: addresses inside and outside, and the Sentinels' master. */
function probeDeps(stack: Stack) {
  const nodeAt = (ip: string) => addressBook(stack).get(ip);
  return {
    proxy: () => stack.endpoint(PROXY_NODE, PROXY_PORT),
    sentinels: () => sentinelNodes(stack).map((n) => stack.endpoint(n.name, SENTINEL_PORT)),
    nodeAt,
    nat: (ip: string, port: number) => {
      const node = nodeAt(ip);
      if (!node) return undefined;
      try {
        return { node, endpoint: stack.endpoint(node, port) };
      } catch {
        return undefined;
      }
    },
    // The master a majority of the Sentinels hands out, or, with no Sentinel (the seed's
    // monitor), the one its configuration names.
    master: async () => {
      const node = (await sentinelRecords(stack)).leader;
      return node ? { node, endpoint: stack.endpoint(node) } : undefined;
    },
  };
}

/**
 * Redis with Sentinel: a master and replicas over the AZs, a Sentinel beside the first node of
 * each AZ, HAProxy in front following `role:master`; or, with `monitor: seed`, the source
 * material's master/slave pair behind two monitor hosts (seed.ts). There is no endpoint record of the
 * harness's making here: clients find the master through HAProxy or the Sentinels. The leader
 * record (`sentinel-master`) is a mirror the Sentinels' watchers keep in the registry, moved on
 * every `+switch-master` (watch.ts): the history `one leader at a time` and the leadership
 * changes read, unchanged from the other systems. The promotion event is Sentinel's own
 * `+promoted-slave`, naming the replica it promoted.
 */
export const sentinel: SystemDefinition<SentinelSpec> = {
  name: 'sentinel',
  kind: 'redis-sentinel',
  description:
    "Redis master and replicas over the AZs, a Sentinel beside the first node of each AZ (quorum 2), HAProxy in front following role:master; or, with monitor: seed, the source material's monitor pair",
  spec: sentinelSpec,
  failoverThresholdMs: (spec) => spec.downAfterMs,
  probes: [
    {
      kind: 'sentinel-writer',
      spec: sentinelWriterSpec,
      create: (spec, deps) =>
        new SentinelWriterProbe(spec as SentinelWriterProbeSpec, {
          clock: deps.clock,
          history: deps.history,
          key: probeKey(deps.runId, spec.name),
          ...probeDeps(deps.stack),
        }),
      settings: (spec, runId) =>
        sentinelWriterSettings(spec as SentinelWriterProbeSpec, probeKey(runId, spec.name)),
    },
  ],
  roles: SENTINEL_ROLES,
  images: [
    { name: 'redis', env: 'CHAOS_IMAGE_REDIS', official: 'redis:7', offline: 'chaos-local/redis:7' },
    {
      name: 'haproxy',
      env: 'CHAOS_IMAGE_HAPROXY',
      official: 'haproxy:2.6',
      offline: 'chaos-local/haproxy:2.6',
    },
    NODE_IMAGE,
  ],
  agents: {
    'sentinel-watch': fileURLToPath(new URL('./watch-main.ts', import.meta.url)),
    'sentinel-seed-monitor': fileURLToPath(new URL('./seed-main.ts', import.meta.url)),
  },
  layout: sentinelLayout,
  plan: (spec, ctx) => (spec.monitor === 'seed' ? planSeed(spec, ctx) : planSentinel(spec, ctx)),
  awaitReady: (stack, spec, signal) =>
    spec.monitor === 'seed' ? awaitSeed(stack, signal) : awaitSentinel(stack, spec, signal),
  observe: (stack, spec) => (spec.monitor === 'seed' ? observeSeed(stack) : observeSentinel(stack)),
  // With Sentinel, what a majority of them hands out; with the seed's monitor (no Sentinel
  // answers), the leader record its watchers write.
  records: sentinelRecords,
  invariants: (state, spec) =>
    spec.monitor === 'seed' ? seedViolations(state) : sentinelViolations(state, spec),
  controllers: (spec, ctx) => (spec.monitor === 'seed' ? [seedLauncher(spec, ctx)] : []),
  resolve: resolveSentinelRole,
  leadership: { record: MASTER_RECORD, promotedType: '+promoted-slave' },
  decisions: [
    '+sdown',
    '-sdown',
    '+odown',
    '-odown',
    '+try-failover',
    '+elected-leader',
    '+selected-slave',
    '+promoted-slave',
    '+switch-master',
    '+convert-to-slave',
    '+fix-slave-config',
    '+failover-end',
    '+failover-end-for-timeout',
    '-failover-abort-not-elected',
    '-failover-abort-no-good-slave',
    '+reboot',
    '+tilt',
    // the seed's monitor
    'failover-decision',
    'failover-waiting',
    'failover-impossible',
    'failover-conflict',
    'failover-lease-lost',
    'proxy-repointed',
    'replacement-requested',
    'replacement-attached',
    'replacement-failed',
    'agent-crashed',
    'agent-stuck',
    'agent-exited',
  ],
};
