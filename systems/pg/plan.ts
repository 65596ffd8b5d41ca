import { fileURLToPath } from 'node:url';
import type { NodePlan } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import { pgNodeNames } from './layout.ts';
import type { PgSpec } from './spec.ts';

export const PG_PORT = 5432;
const NODE_SCRIPT = fileURLToPath(new URL('./node.sh', import.meta.url));

/**
 * Each node: Postgres under a small supervisor script (systems/pg/node.sh), and its promotion
 * agent in the same network namespace, sharing /control. The first node initialises the cluster
 * as the primary; the standbys start from a base backup of it. Every node shares the WAL archive.
 */
export function planPg(spec: PgSpec, ctx: PlanContext): NodePlan[] {
  const nodes = pgNodeNames(spec.nodes, spec.azs);
  const primary = nodes[0]!.name;
  const syncNames =
    spec.replication === 'sync' ? `ANY 1 (${nodes.map((n) => `"${n.name}"`).join(', ')})` : '';
  return nodes.map((node) => ({
    ...node,
    ...(node.index === 0 ? {} : { after: [primary] }),
    main: {
      image: 'postgres',
      part: 'postgres',
      command: ['bash', '/opt/chaos/pg-node.sh'],
      env: {
        NODE_NAME: node.name,
        PG_ROLE: node.index === 0 ? 'primary' : 'standby',
        PRIMARY_HOST: primary,
        SYNC_COMMIT: spec.replication === 'sync' ? spec.synchronousCommit : 'on',
        SYNC_NAMES: syncNames,
      },
      ports: [PG_PORT],
      readyLog: /chaos-pg-ready/,
      process: 'postgres',
      files: [{ source: NODE_SCRIPT, target: '/opt/chaos/pg-node.sh', mode: 0o755 }],
      volumes: [
        // The node's own disk (its EBS volume on AWS): what freeze-volume freezes.
        { name: 'data', path: '/var/lib/postgresql/chaos-data', disk: true },
        { name: 'pg-archive', path: '/archive' },
        { name: 'control', path: '/control' },
      ],
      events: `pg:${node.name}`,
    },
    sidecars: [
      {
        image: 'node',
        part: 'agent',
        command: ['node', ctx.bundle.target],
        env: {
          CHAOS_ENTRY: 'pg-promotion-agent',
          NODE_NAME: node.name,
          PEERS: nodes.map((n) => n.name).join(','),
          PG_PORT: String(PG_PORT),
          REGISTRY_URL: ctx.registryUrl,
          LEASE_MS: String(spec.failoverThresholdMs),
          LEASE_MARGIN_MS: String(spec.leaseMarginMs),
          REPLICATION: spec.replication,
          CHECK_INTERVAL_MS: String(spec.checkIntervalMs),
          PING_TIMEOUT_MS: String(spec.pingTimeoutMs),
          WRITER_TTL_MS: String(spec.writerRecordTtlMs),
          PROMOTION: spec.promotion,
        },
        files: [ctx.bundle],
        volumes: [{ name: 'control', path: '/control' }],
        readyLog: /"agent-ready"/,
        events: `agent:${node.name}`,
        restartOnFailure: true,
      },
    ],
  }));
}
