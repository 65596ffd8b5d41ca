import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { Stack } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { HaproxyRuntime, type RuntimeServer } from './haproxy-runtime.ts';
import { LB_NODE } from './layout.ts';
import { LB_RUNTIME_PORT } from './plan.ts';
import type { WebSpec } from './spec.ts';

const FORM_TIMEOUT_MS = 60_000;

export function lbRuntime(stack: Stack): HaproxyRuntime {
  const ep = stack.endpoint(LB_NODE, LB_RUNTIME_PORT);
  return new HaproxyRuntime({
    host: ep.host === 'localhost' ? '127.0.0.1' : ep.host,
    port: ep.port,
    timeoutMs: 2000,
  });
}

/**
 * The web tier as the load balancer sees it: the members are the load balancer and the heads in
 * service behind it (UP in HAProxy), in name order; there is no leader. A head the group launched is a node like the
 * others; a head it terminated is gone.
 */
export async function observeWeb(stack: Stack): Promise<SystemState> {
  const nodes = stack.nodes().filter((n) => n.system === 'web');
  let servers: RuntimeServer[] | undefined;
  try {
    servers = await lbRuntime(stack).servers();
  } catch {
    servers = undefined;
  }
  const byName = new Map((servers ?? []).map((s) => [s.name, s]));
  const states: NodeState[] = nodes.map((n) => {
    if (n.name === LB_NODE)
      return { name: n.name, az: n.az, reachable: servers !== undefined, role: 'load-balancer' };
    const s = byName.get(n.name);
    return {
      name: n.name,
      az: n.az,
      reachable: s?.state === 'UP',
      role: s
        ? `head (${s.status}${s.checkStatus ? `, check ${s.checkStatus}` : ''})`
        : 'head (not in the load balancer)',
      following: LB_NODE,
      linkUp: s?.state === 'UP',
    };
  });
  // The load balancer first, then the heads in service behind it, in name order.
  const heads = states
    .filter((s) => s.name !== LB_NODE && s.reachable)
    .map((s) => s.name)
    .sort();
  return { leader: null, members: [...(servers ? [LB_NODE] : []), ...heads], nodes: states };
}

/** What is wrong with the tier: fewer heads in service than the group's capacity, a dead load balancer. */
export function webViolations(state: SystemState, spec: WebSpec): string[] {
  const out: string[] = [];
  const lb = state.nodes.find((n) => n.name === LB_NODE);
  if (!lb?.reachable) out.push(`the load balancer ${LB_NODE} does not answer its runtime API`);
  const heads = state.members.filter((m) => m !== LB_NODE);
  if (heads.length < spec.heads)
    out.push(
      `${heads.length} of ${spec.heads} heads in service (${heads.join(', ') || 'none'}); not in service: ${
        state.nodes
          .filter((n) => n.name !== LB_NODE && !n.reachable)
          .map((n) => `${n.name} ${n.role ?? ''}`.trim())
          .join(', ') || 'none launched yet'
      }`,
    );
  return out;
}

/** Waits until every head is in service behind the load balancer. */
export async function awaitWeb(stack: Stack, spec: WebSpec, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  let last: SystemState | undefined;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    last = await observeWeb(stack);
    if (webViolations(last, spec).length === 0) return;
    await sleep(200);
  }
  throw new InfraError(
    'WEB_NOT_FORMED',
    `the web tier did not form within ${FORM_TIMEOUT_MS} ms: ${last ? webViolations(last, spec).join('; ') : 'no answer'}`,
  );
}
