import { fileURLToPath } from 'node:url';
import { NODE_IMAGE } from '../../agents/bundle.ts';
import type { SystemDefinition } from '../../core/system.ts';
import { pgNodeNames } from './layout.ts';
import { awaitPg, observePg, pgViolations } from './observe.ts';
import { planPg } from './plan.ts';
import { PgWriterProbe, pgTable, pgWriterSettings } from './probe.ts';
import { LEADER_LEASE, WRITER_RECORD, readWriter } from './records.ts';
import { PG_ROLES, resolvePgRole } from './roles.ts';
import { type PgSpec, type PgWriterProbeSpec, pgSpec, pgWriterSpec } from './spec.ts';

/** Postgres streaming replication: a primary, hot standbys, a shared WAL archive, promotion agents. */
export const postgres: SystemDefinition<PgSpec> = {
  name: 'pg',
  kind: 'pg-streaming',
  description:
    'Postgres streaming replication: a primary and hot standbys, a WAL archive, promotion agents, a writer record',
  spec: pgSpec,
  failoverThresholdMs: (spec) => spec.failoverThresholdMs,
  // Each check (agent.ts tick): the primary renews its lease (a read and a change) and reads the
  // writer record; each standby reads the lease and the writer record.
  registryCallsPerSecond: (spec) => ((2 * spec.nodes + 1) * 1000) / spec.checkIntervalMs,
  probes: [
    {
      kind: 'pg-writer',
      spec: pgWriterSpec,
      create: (spec, deps) =>
        new PgWriterProbe(spec as PgWriterProbeSpec, {
          clock: deps.clock,
          history: deps.history,
          registry: deps.stack.registry(),
          endpoint: (node) => deps.stack.endpoint(node),
          table: pgTable(spec.name),
        }),
      settings: (spec) => pgWriterSettings(spec as PgWriterProbeSpec, pgTable(spec.name)),
    },
  ],
  roles: PG_ROLES,
  images: [
    {
      name: 'postgres',
      env: 'CHAOS_IMAGE_POSTGRES',
      official: 'postgres:15',
      offline: 'chaos-local/postgres:15',
    },
    NODE_IMAGE,
  ],
  agents: { 'pg-promotion-agent': fileURLToPath(new URL('./agent-main.ts', import.meta.url)) },
  layout: (spec) => pgNodeNames(spec.nodes, spec.azs),
  plan: planPg,
  sharedVolumes: ['pg-archive'],
  awaitReady: (stack, spec, signal) => awaitPg(stack, spec.nodes, signal),
  observe: (stack) => observePg(stack),
  records: async (stack) => {
    const leader = await readWriter(stack.registry());
    const members = stack
      .nodes()
      .filter((n) => n.system === 'pg')
      .map((n) => n.name);
    return { leader, members: leader ? [leader, ...members.filter((m) => m !== leader)] : members };
  },
  invariants: pgViolations,
  resolve: resolvePgRole,
  leadership: { record: WRITER_RECORD, promotedType: 'became-primary' },
  steps: {
    promote: {
      does: 'the runbook: take the leader lease for the chosen standby (once the old one has run out), move the writer record to it, then pg_promote() on it (psql inside the node)',
      run: async (stack, nodes, spec) => {
        const node = nodes[0]!.name;
        const registry = stack.registry();
        // The lease first, as the agents do: nobody may lead while another's lease runs, and
        // the node's agent, finding itself the holder, renews it from then on.
        const deadline = Date.now() + spec.failoverThresholdMs + 5000;
        while (!(await registry.acquireLease(LEADER_LEASE, node, spec.failoverThresholdMs))) {
          if (Date.now() > deadline) {
            const held = await registry.getLease(LEADER_LEASE);
            throw new Error(
              `the leader lease is still held by ${held?.holder ?? '?'}: ${node} cannot be promoted while it runs`,
            );
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        await registry.set(WRITER_RECORD, node, spec.writerRecordTtlMs);
        const r = await stack.exec(node, [
          'psql',
          '-U',
          'postgres',
          '-h',
          '127.0.0.1',
          '-tAc',
          'SELECT pg_promote(true, 60)',
        ]);
        const promoted =
          (r.exitCode === 0 && /^t\b/m.test(r.output.trim())) || /recovery is not in progress/.test(r.output);
        if (!promoted)
          throw new Error(`pg_promote() on ${node} failed: ${r.output.trim().split('\n').at(-1)}`);
        return `runbook on ${node}: leader lease and writer record -> ${node}, then psql -c 'SELECT pg_promote()'`;
      },
    },
  },
  decisions: [
    'lease-expired',
    'failover-decision',
    'promoting',
    'promotion-failed',
    'became-primary',
    'following',
    'fenced',
    'fenced-self',
    'primary-unhealthy',
    'lease-renewal-failed',
    'demoting',
    'promotion-deferred',
    'failover-withheld',
    'promotion-left-to-operator',
    'agent-started',
    'agent-crashed',
    'agent-stuck',
    'agent-exited',
  ],
};
