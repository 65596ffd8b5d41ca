import type { NodePlan } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import {
  DATA_ROOT,
  ETCD_CLIENT_PORT,
  ETCD_DATA_ROOT,
  HAPROXY_CONFIG,
  LB_PORT,
  LB_RUNTIME_PORT,
  PATRONI_CONFIG,
  PG_PORT,
  REST_PORT,
  etcdCommand,
  haproxyConfig,
  patroniConfig,
} from './config.ts';
import { LB_AZ, LB_NODE, SYSTEM, etcdNodes, patroniNodes } from './layout.ts';
import { READY_LINE } from './node-main.ts';
import type { PatroniSpec } from './spec.ts';

/**
 * The stack: etcd members on nodes of their own (one per AZ, started together: a member waits
 * for a majority before it serves), then the first Patroni node (it bootstraps the cluster and
 * takes the leader key), then the others (each clones it with pg_basebackup), then HAProxy (it
 * resolves the nodes' names when it starts).
 *
 * Why etcd on its own nodes rather than beside Postgres: it is what Patroni's documentation and
 * most production deployments do, so that etcd's quorum does not share a failure with a database
 * (a busy disk or a stuck Postgres node slows etcd's fsyncs and heartbeats, and an etcd beside
 * the primary would be cut off with it). It is also what makes a partition between the primary
 * and its replicas a question for Patroni alone: the primary still reaches a majority of etcd,
 * keeps its key, and nobody fails over. Each AZ still has one member, so losing an AZ costs one
 * member and leaves a majority.
 */
export function planPatroni(spec: PatroniSpec, ctx: PlanContext): NodePlan[] {
  const pgNodes = patroniNodes(spec.nodes, spec.azs);
  const etcd = etcdNodes(spec.etcdMembers, spec.azs);
  const members = etcd.map((e) => e.name);
  const first = pgNodes[0]!.name;

  const etcdPlans: NodePlan[] = etcd.map((e) => ({
    ...e,
    main: {
      image: 'etcd',
      part: 'etcd',
      command: etcdCommand(e.name, members, `chaos-${ctx.runId}`),
      ports: [ETCD_CLIENT_PORT],
      // etcd 3.4 with the zap logger says this once it has joined a majority and serves clients.
      readyLog: /serving client traffic|ready to serve client requests/,
      process: 'etcd',
      volumes: [{ name: 'etcd-data', path: ETCD_DATA_ROOT, disk: true }],
    },
    sidecars: [],
  }));

  const pgPlans: NodePlan[] = pgNodes.map((n) => ({
    ...n,
    after: n.name === first ? members : [...members, first],
    main: {
      image: 'patroni',
      part: 'patroni',
      command: ['node', ctx.bundle.target],
      env: {
        CHAOS_ENTRY: 'patroni-node',
        NODE_NAME: n.name,
        PATRONI_CONFIG,
        DATA_ROOT,
      },
      ports: [PG_PORT, REST_PORT],
      readyLog: new RegExp(READY_LINE),
      process: 'postgres',
      files: [ctx.bundle],
      contents: [
        {
          content: patroniConfig({ node: n.name, etcd: members, spec }),
          target: PATRONI_CONFIG,
          mode: 0o644,
        },
      ],
      // The node's own disk (its EBS volume on AWS): what freeze-volume freezes.
      volumes: [{ name: 'data', path: DATA_ROOT, disk: true }],
      events: `patroni:${n.name}`,
    },
    sidecars: [],
  }));

  const lb: NodePlan = {
    name: LB_NODE,
    system: SYSTEM,
    az: LB_AZ,
    index: 200,
    after: pgNodes.map((n) => n.name),
    main: {
      image: 'haproxy',
      part: 'haproxy',
      command: ['haproxy', '-W', '-db', '-f', HAPROXY_CONFIG],
      contents: [
        {
          content: haproxyConfig({ check: spec.haproxy, servers: pgNodes.map((n) => n.name) }),
          target: HAPROXY_CONFIG,
          mode: 0o644,
        },
      ],
      ports: [LB_PORT, LB_RUNTIME_PORT],
      readyLog: /Loading success|New worker/,
      process: 'haproxy',
    },
    sidecars: [],
  };
  return [...etcdPlans, ...pgPlans, lb];
}
