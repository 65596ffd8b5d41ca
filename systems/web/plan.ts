import type { NodePlan, NodeRef } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import { LB_AZ, LB_NODE, webHeads } from './layout.ts';
import { HAPROXY_CONFIG_PATH, REQUEST_LOG_PATH, haproxyCommand, haproxyConfig } from './lb.ts';
import type { WebSpec } from './spec.ts';

/** The heads' app, and the load balancer's frontend and runtime API. */
export const HEAD_PORT = 8080;
export const LB_PORT = 8080;
export const LB_RUNTIME_PORT = 9999;
export const HEALTH_PATH = '/health';

/**
 * One web head: the reference app (systems/web/head-main.ts) from the agents' bundle on the node
 * image. `kill-process` (process: server) kills the app and leaves the instance running.
 */
export function headPlan(node: NodeRef, spec: WebSpec, ctx: PlanContext): NodePlan {
  return {
    ...node,
    main: {
      image: 'node',
      part: 'web',
      // No process supervisor: an app that dies leaves its instance running (the case only the
      // load balancer's health checks can see), and says so on the timeline.
      command: [
        'sh',
        '-c',
        `node ${ctx.bundle.target}; code=$?; printf '{"t":%s,"type":"app-exited","node":"${node.name}","exit":%s}\\n' "$(date +%s%3N)" "$code"; exec sleep infinity`,
      ],
      env: {
        CHAOS_ENTRY: 'web-head',
        NODE_NAME: node.name,
        PORT: String(HEAD_PORT),
        REGISTRY_URL: ctx.registryUrl,
        BACKENDS: spec.backends.join(','),
        REDIS_WAIT_REPLICAS: String(spec.redisWaitReplicas),
        // Well under a client's timeout: the head answers 503/504 itself rather than leave the
        // client to give up first.
        BACKEND_TIMEOUT_MS: '800',
      },
      files: [ctx.bundle],
      ports: [HEAD_PORT],
      readyLog: /"head-ready"/,
      process: 'node',
      events: `web:${node.name}`,
    },
    sidecars: [],
  };
}

/**
 * The web tier: HAProxy in front of the heads (their names resolved by HAProxy when it starts,
 * so it starts after them), with its request log in a file (`logs/web-lb.requests.log` in the
 * run folder) and its runtime API on a mapped port for the group and the observer.
 */
export function planWeb(spec: WebSpec, ctx: PlanContext): NodePlan[] {
  const heads = webHeads(spec.heads, spec.azs);
  const config = haproxyConfig({
    profile: spec.lbProfile,
    balance: spec.balance,
    retries: spec.retries,
    redispatch: spec.redispatch,
    frontendPort: LB_PORT,
    runtimePort: LB_RUNTIME_PORT,
    servers: heads.map((h) => ({ name: h.name, address: h.name, port: HEAD_PORT })),
    healthPath: HEALTH_PATH,
  });
  const lb: NodePlan = {
    name: LB_NODE,
    system: 'web',
    az: LB_AZ,
    index: 0,
    after: heads.map((h) => h.name),
    main: {
      image: 'haproxy',
      part: 'haproxy',
      command: haproxyCommand(HAPROXY_CONFIG_PATH),
      contents: [{ content: config, target: HAPROXY_CONFIG_PATH, mode: 0o644 }],
      ports: [LB_PORT, LB_RUNTIME_PORT],
      readyLog: READY_LOG,
      process: 'haproxy',
      logFiles: [{ path: REQUEST_LOG_PATH, name: 'requests.log' }],
    },
    sidecars: [],
  };
  return [...heads.map((h) => headPlan(h, spec, ctx)), lb];
}

/** What HAProxy prints once it listens (its master process has started its worker). */
export const READY_LOG = /Loading success|New worker/;
