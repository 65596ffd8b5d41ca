import { fileURLToPath } from 'node:url';
import { NODE_IMAGE } from '../../agents/bundle.ts';
import type { SystemDefinition } from '../../core/system.ts';
import { chainViolations } from './invariants.ts';
import { redisNodeNames } from './layout.ts';
import { awaitChain, observeChain } from './observe.ts';
import { planChain } from './plan.ts';
import { RedisWriterProbe, probeKey, redisWriterSettings } from './probe.ts';
import { HEAD_RECORD, readChain } from './records.ts';
import { REDIS_ROLES, resolveRedisRole } from './roles.ts';
import { type RedisSpec, type RedisWriterProbeSpec, redisSpec, redisWriterSpec } from './spec.ts';

/** The self-healing Redis chain: head -> replica -> ... -> tail, a chain agent beside each node. */
export const redisChain: SystemDefinition<RedisSpec> = {
  name: 'redis',
  kind: 'redis-chain',
  description:
    'a self-healing Redis chain (head -> ... -> tail), a chain agent beside each node, a head record',
  spec: redisSpec,
  failoverThresholdMs: (spec) => spec.failoverThresholdMs,
  // Each check (agent.ts tick): every node reads the chain record; the head also renews its lease
  // (a read and a change) and reads the head record.
  registryCallsPerSecond: (spec) => ((spec.nodes + 3) * 1000) / spec.checkIntervalMs,
  probes: [
    {
      kind: 'redis-writer',
      spec: redisWriterSpec,
      create: (spec, deps) =>
        new RedisWriterProbe(spec as RedisWriterProbeSpec, {
          clock: deps.clock,
          history: deps.history,
          registry: deps.stack.registry(),
          endpoint: (node) => deps.stack.endpoint(node),
          key: probeKey(deps.runId, spec.name),
        }),
      settings: (spec, runId) =>
        redisWriterSettings(spec as RedisWriterProbeSpec, probeKey(runId, spec.name)),
    },
  ],
  roles: REDIS_ROLES,
  images: [
    { name: 'redis', env: 'CHAOS_IMAGE_REDIS', official: 'redis:7', offline: 'chaos-local/redis:7' },
    NODE_IMAGE,
  ],
  agents: { 'redis-chain-agent': fileURLToPath(new URL('./agent-main.ts', import.meta.url)) },
  layout: (spec) => redisNodeNames(spec.nodes, spec.azs),
  plan: planChain,
  awaitReady: (stack, spec, signal) => awaitChain(stack, spec.nodes, signal),
  observe: (stack) => observeChain(stack),
  records: async (stack) => {
    const { head, chain } = await readChain(stack.registry());
    return { leader: head ?? null, members: chain };
  },
  invariants: chainViolations,
  resolve: resolveRedisRole,
  leadership: { record: HEAD_RECORD, promotedType: 'became-head' },
  decisions: [
    'failover-decision',
    'became-head',
    'reattached',
    'rejoined',
    'removed-from-chain',
    'removed-dead-tail',
    'stepped-down',
    'failover-withheld',
    'fenced-self',
    'fence-lifted',
    'head-withheld',
    'lease-renewal-withheld',
    'lease-renewal-failed',
    'rejoin-withheld',
    'demoted',
    'joined',
    'agent-started',
    'agent-crashed',
    'agent-stuck',
    'agent-exited',
    'resumed',
    'local-server-restarted',
    'server-restarted',
  ],
};
