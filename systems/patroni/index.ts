import { fileURLToPath } from 'node:url';
import type { SystemDefinition } from '../../core/system.ts';
import { pgTable } from '../pg/probe.ts';
import { patroniViolations } from './cluster.ts';
import { ETCD_CLIENT_PORT } from './config.ts';
import { SYSTEM, isEtcdNode, patroniLayout } from './layout.ts';
import { LEADER_RECORD, LeaderKeyMirror } from './leader-mirror.ts';
import { DECISION_TYPES } from './log.ts';
import { awaitPatroni, observePatroni } from './observe.ts';
import { planPatroni } from './plan.ts';
import { PatroniWriterProbe, patroniWriterSettings } from './probe.ts';
import { patroniRecords } from './records.ts';
import { PATRONI_ROLES, resolvePatroniRole } from './roles.ts';
import { type PatroniSpec, type PatroniWriterProbeSpec, patroniSpec, patroniWriterSpec } from './spec.ts';

/**
 * Postgres under Patroni: three (or more) Postgres nodes over the AZs, each run by Patroni,
 * which keeps the leader key in an etcd cluster of its own nodes (one per AZ); HAProxy in front,
 * checking each node's REST API (`OPTIONS /primary`). The HA software is Patroni's own: the
 * harness brings it up, breaks it, and reads what it decided (log.ts) and what it shows
 * (`/cluster`); it writes no agent of its own. Leadership is the leader key, which a controller
 * mirrors into the registry record `patroni-leader` (leader-mirror.ts).
 */
export const patroni: SystemDefinition<PatroniSpec> = {
  name: SYSTEM,
  kind: 'patroni-etcd',
  description:
    'Postgres 15 under Patroni 3.0 with an etcd cluster (one member per AZ) and HAProxy on the REST health check',
  spec: patroniSpec,
  // A dead leader's key lives up to ttl after its last renewal; then a loop and the promotion.
  failoverThresholdMs: (spec) => spec.ttlMs,
  probes: [
    {
      kind: 'patroni-writer',
      spec: patroniWriterSpec,
      create: (spec, deps) =>
        new PatroniWriterProbe(spec as PatroniWriterProbeSpec, {
          clock: deps.clock,
          history: deps.history,
          stack: deps.stack,
          table: pgTable(spec.name),
        }),
      settings: (spec) => patroniWriterSettings(spec as PatroniWriterProbeSpec, pgTable(spec.name)),
    },
  ],
  roles: PATRONI_ROLES,
  images: [
    {
      name: 'patroni',
      env: 'CHAOS_IMAGE_PATRONI',
      // No project publishes a Patroni image: the local mode builds it (docker/patroni/Dockerfile).
      official: 'chaos-local/patroni:3.0',
      offline: 'chaos-local/patroni:3.0',
    },
    {
      name: 'etcd',
      env: 'CHAOS_IMAGE_ETCD',
      official: 'quay.io/coreos/etcd:v3.4.23',
      offline: 'chaos-local/etcd:3.4',
    },
    {
      name: 'haproxy',
      env: 'CHAOS_IMAGE_HAPROXY',
      official: 'haproxy:2.6',
      offline: 'chaos-local/haproxy:2.6',
    },
  ],
  agents: { 'patroni-node': fileURLToPath(new URL('./node-main.ts', import.meta.url)) },
  layout: (spec) => patroniLayout(spec),
  plan: planPatroni,
  awaitReady: (stack, spec, signal) => awaitPatroni(stack, spec, signal),
  observe: (stack) => observePatroni(stack),
  records: patroniRecords,
  invariants: patroniViolations,
  resolve: resolvePatroniRole,
  leadership: { record: LEADER_RECORD, promotedType: 'promoted-self' },
  decisions: [...DECISION_TYPES, 'patroni-started', 'patroni-exited'],
  controllers: (_spec, ctx) => {
    // Made when it starts: a controller is also made on paper (engine/aws-plan.ts) to read its name.
    let mirror: LeaderKeyMirror | undefined;
    const start = () => {
      mirror ??= new LeaderKeyMirror({
        registry: ctx.stack.registry(),
        members: () =>
          ctx.stack
            .nodes()
            .filter((n) => isEtcdNode(n.name))
            .flatMap((n) => {
              try {
                return [ctx.stack.endpoint(n.name, ETCD_CLIENT_PORT)];
              } catch {
                return [];
              }
            }),
        emit: ctx.emit,
      });
      mirror.start();
    };
    return [{ name: 'leader-key-mirror', start, stop: async () => mirror?.stop() }];
  },
};
