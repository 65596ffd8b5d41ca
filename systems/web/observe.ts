import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { LoadBalancerTarget, ManagedLoadBalancer, Stack } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { HaproxyRuntime, type RuntimeServer } from './haproxy-runtime.ts';
import { LB_AZ, LB_NODE } from './layout.ts';
import { LB_RUNTIME_PORT } from './plan.ts';
import type { WebSpec } from './spec.ts';

const FORM_TIMEOUT_MS = 60_000;
/**
 * Behind the cloud's load balancer: an ALB's default health check (every 30 s, healthy after 5)
 * puts a registered head in service 150 s after it answers, at the earliest.
 */
const MANAGED_FORM_TIMEOUT_MS = 300_000;

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
  const managed = stack.loadBalancer?.();
  if (managed) return observeManaged(stack, managed);
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

/** The role of the load balancer when the cloud runs it (an ALB): what webViolations tells it by. */
export const MANAGED_LB_ROLE = "load-balancer (the cloud's)";

/**
 * The web tier behind the cloud's load balancer (an ALB on AWS): the heads in service are its
 * healthy targets, in name order, after the load balancer itself, which is reachable when it
 * reported its targets' health. A head the stack knows that is no target is listed as not in the
 * load balancer; a target the stack does not know as a node (a head the group launched, or one
 * still draining) is listed under the name the stack gave it.
 */
async function observeManaged(stack: Stack, lb: ManagedLoadBalancer): Promise<SystemState> {
  let targets: LoadBalancerTarget[] | undefined;
  let error: string | undefined;
  try {
    targets = await lb.targets();
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const byName = new Map((targets ?? []).map((t) => [t.node, t]));
  const known = stack.nodes().filter((n) => n.system === 'web' && n.name !== LB_NODE);
  const azOf = new Map(known.map((n) => [n.name, n.az]));
  const names = [...new Set([...known.map((n) => n.name), ...byName.keys()])];
  const heads: NodeState[] = names.map((name) => {
    const t = byName.get(name);
    const healthy = t?.state === 'healthy';
    return {
      name,
      // A head the group launched is named <system>-<zone letter>-<instance id> (infra/aws/template.ts).
      az: azOf.get(name) ?? /^[a-z0-9]+-([a-z])-i-[0-9a-f]+$/.exec(name)?.[1] ?? '',
      reachable: healthy,
      role: t ? `head (${t.state}${t.reason ? `, ${t.reason}` : ''})` : 'head (not in the load balancer)',
      following: LB_NODE,
      linkUp: healthy,
    };
  });
  const lbState: NodeState = {
    name: LB_NODE,
    az: LB_AZ,
    reachable: targets !== undefined,
    role: error ? `${MANAGED_LB_ROLE}: ${error}` : MANAGED_LB_ROLE,
  };
  const inService = heads
    .filter((h) => h.reachable)
    .map((h) => h.name)
    .sort();
  return {
    leader: null,
    members: [...(targets ? [LB_NODE] : []), ...inService],
    nodes: [lbState, ...heads],
  };
}

/** What is wrong with the tier: fewer heads in service than the group's capacity, a dead load balancer. */
export function webViolations(state: SystemState, spec: WebSpec): string[] {
  const out: string[] = [];
  const lb = state.nodes.find((n) => n.name === LB_NODE);
  if (lb?.role?.startsWith(MANAGED_LB_ROLE)) {
    if (!lb.reachable)
      out.push(`the load balancer ${LB_NODE} did not report its targets' health (${lb.role})`);
  } else if (!lb?.reachable) out.push(`the load balancer ${LB_NODE} does not answer its runtime API`);
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
  const formMs = stack.loadBalancer ? MANAGED_FORM_TIMEOUT_MS : FORM_TIMEOUT_MS;
  const deadline = Date.now() + formMs;
  let last: SystemState | undefined;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    last = await observeWeb(stack);
    if (webViolations(last, spec).length === 0) return;
    await sleep(200);
  }
  throw new InfraError(
    'WEB_NOT_FORMED',
    `the web tier did not form within ${formMs} ms: ${last ? webViolations(last, spec).join('; ') : 'no answer'}`,
  );
}
