import type { NodePlan, NodeRef } from '../../core/provider.ts';
import type { Controller, ControllerContext, PlanContext } from '../../core/system.ts';
import {
  HAPROXY_CONF,
  PROXY_PORT,
  PROXY_RUNTIME_PORT,
  monitorHaproxyConf,
  seedBalancerConf,
} from './config.ts';
import { SYSTEM, dataNodes, monitorNodes, proxyNode } from './layout.ts';
import { PROXY_READY_LOG, redisServer } from './plan.ts';
import { type LaunchRequest, SEED_LAUNCH, parseJson } from './seed.ts';
import type { SentinelSpec } from './spec.ts';
import { MASTER_RECORD_TTL_MS } from './watch.ts';

/** How often the seed's check PINGs the master: three misses in a row span `downAfterMs`. */
export const seedIntervalMs = (spec: SentinelSpec) => Math.max(50, Math.round(spec.downAfterMs / 3));

/**
 * The source material's stack (`monitor: seed`): a master and its slave (no Sentinel), two
 * monitor hosts in the first two AZs, each HAProxy relaying to the master and the watcher that
 * fails over (seed.ts), and a load balancer in front of them (its ELB), where clients connect.
 */
export function planSeed(spec: SentinelSpec, ctx: PlanContext): NodePlan[] {
  const [master, slave] = dataNodes(spec.nodes, spec.azs) as [NodeRef, NodeRef];
  const monitors = monitorNodes(spec);
  const data: NodePlan[] = [
    { ...master, main: redisServer(spec, undefined, []), sidecars: [] },
    { ...slave, after: [master.name], main: redisServer(spec, master.name, []), sidecars: [] },
  ];
  const intervalMs = seedIntervalMs(spec);
  const mons: NodePlan[] = monitors.map((m) => ({
    ...m,
    after: [master.name, slave.name],
    main: {
      image: 'haproxy',
      part: 'haproxy',
      command: ['haproxy', '-W', '-db', '-f', HAPROXY_CONF],
      contents: [{ content: monitorHaproxyConf(master.name), target: HAPROXY_CONF, mode: 0o644 }],
      ports: [PROXY_PORT, PROXY_RUNTIME_PORT],
      readyLog: PROXY_READY_LOG,
      process: 'haproxy',
    },
    sidecars: [
      {
        image: 'node',
        part: 'monitor',
        command: ['node', ctx.bundle.target],
        env: {
          CHAOS_ENTRY: 'sentinel-seed-monitor',
          NODE_NAME: m.name,
          MASTER: master.name,
          SLAVE: slave.name,
          REGISTRY_URL: ctx.registryUrl,
          INTERVAL_MS: String(intervalMs),
          PING_TIMEOUT_MS: String(Math.min(intervalMs, 1000)),
        },
        files: [ctx.bundle],
        readyLog: /"agent-ready"/,
        events: `agent:${m.name}`,
        restartOnFailure: true,
      },
    ],
  }));
  const lb: NodePlan = {
    ...proxyNode(spec),
    after: monitors.map((m) => m.name),
    main: {
      image: 'haproxy',
      part: 'haproxy',
      command: ['haproxy', '-W', '-db', '-f', HAPROXY_CONF],
      contents: [
        {
          content: seedBalancerConf({ check: spec.proxy, monitors: monitors.map((m) => m.name) }),
          target: HAPROXY_CONF,
          mode: 0o644,
        },
      ],
      ports: [PROXY_PORT, PROXY_RUNTIME_PORT],
      readyLog: PROXY_READY_LOG,
      process: 'haproxy',
    },
    sidecars: [],
  };
  return [...data, ...mons, lb];
}

/**
 * The launcher: what the source's failover script asked EC2 for, done by the harness beside the
 * stack as AWS would. It watches the registry record `seed-launch`; for each new request it
 * launches a Redis node replicating from the new master (by address), in the zone of the node it
 * replaces or, while that zone is lost, the first one that is not, and answers in the same record
 * with the node's name and address (or the error).
 */
export function seedLauncher(spec: SentinelSpec, ctx: ControllerContext): Controller {
  // Nothing it was given is touched before it starts (a plan on paper reads only its name).
  let stopped = false;
  let loop: Promise<void> | undefined;
  let handled = 0;
  let launched = 0;
  const once = async () => {
    const { stack } = ctx;
    const registry = stack.registry();
    const rec = await registry.get(SEED_LAUNCH).catch(() => undefined);
    if (!rec || rec.version <= handled) return;
    handled = rec.version;
    const req = parseJson<LaunchRequest>(rec.value);
    if (!req || req.node || req.error) return;
    const replaced = stack.nodes().find((n) => n.name === req.replaces);
    const impaired = stack.impairedZones();
    const az = [replaced?.az, ...spec.azs].find((z): z is string => z !== undefined && !impaired.has(z));
    const answer = async (r: LaunchRequest) => {
      const set = await registry.set(SEED_LAUNCH, JSON.stringify(r), MASTER_RECORD_TTL_MS, rec.version);
      if (set) handled = set.version;
    };
    if (!az) {
      ctx.emit('launch-failed', req.replaces, { error: 'every zone is lost' });
      await answer({ ...req, error: 'every zone is lost' });
      return;
    }
    const taken = new Set(stack.nodes().map((n) => n.name));
    let name: string;
    do name = `sentinel-${az}-r${++launched}`;
    while (taken.has(name));
    const node: NodeRef = { name, system: SYSTEM, az, index: stack.nodes().length };
    ctx.emit('launching', name, { az, replaces: req.replaces, replicaOf: req.replicaOf.name });
    try {
      await stack.launch({ ...node, main: redisServer(spec, req.replicaOf.ip, []), sidecars: [] });
      const ip = stack.address(name);
      ctx.emit('launched', name, { ip });
      await answer({ ...req, node: { name, ip } });
    } catch (err) {
      const error = String((err as Error)?.message ?? err).split('\n')[0]!;
      ctx.emit('launch-failed', name, { error });
      await answer({ ...req, error });
    }
  };
  return {
    name: 'seed-launcher',
    start: () => {
      loop ??= (async () => {
        while (!stopped) {
          await once().catch(() => {});
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
    },
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
