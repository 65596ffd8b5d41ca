import { basename } from 'node:path';
import type { Clock } from '../core/clock.ts';
import type { Stack } from '../core/provider.ts';
import type { ControllerContext, PlanContext } from '../core/system.ts';
import type { PlanFault, PlanInput, PlanNode, PlanTarget } from '../infra/aws/fis-plan.ts';
import type { LoadedScenario } from '../scenarios/load.ts';
import { type ActiveSystem, activeSystems, isStep } from '../scenarios/schema.ts';

/**
 * A scenario's stack and faults on paper, for infra/aws/fis-plan.ts: every node as the systems
 * lay it out (with its server and agent process names and its data disks, from the systems'
 * plans), and every target resolved as the stack stands at provisioning, where each system's
 * first node leads. Roles are resolved live at injection; this is where they start. A system
 * whose control plane is an Auto Scaling group says so, for the zone faults that must stop it.
 */

/** What a system's plan needs to be drawn up on paper: nothing of it is started. */
const PAPER: PlanContext = {
  runId: 'plan',
  registryUrl: 'http://registry',
  bundle: { source: 'agents.js', target: '/opt/chaos/agents.js' },
};

export function planInput(loaded: LoadedScenario): PlanInput {
  const s = loaded.scenario;
  const systems = activeSystems(s);
  const nodes = systems.flatMap(paperNodes);
  const faults: PlanFault[] = s.faults.map((f, i) => ({
    index: i + 1,
    at: f.at,
    action: f.action,
    target: f.target,
    from: f.from,
    process: f.process,
    signal: f.signal,
    mode: f.mode,
    method: f.method,
    ...{
      delayMs: f.delayMs,
      jitterMs: f.jitterMs,
      rateKBps: f.rateKBps,
      resource: f.resource,
      workers: f.workers,
      percent: f.percent,
    },
    durationMs: f.aws?.durationMs ?? f.durationMs,
    ...(f.aws?.durationMs !== undefined ? { localDurationMs: f.durationMs } : {}),
    ...(isStep(f.action) ? { step: true } : {}),
    ...(f.aws?.blastRadius ? { blastRadius: f.aws.blastRadius } : {}),
    resolved: resolveOnPaper(f.target, systems, nodes),
    ...(f.from ? { resolvedFrom: resolveOnPaper(f.from, systems, nodes) } : {}),
  }));
  return {
    scenario: s.name,
    nodes,
    faults,
    observeMs: s.observeMs,
    autoScaled: systems.filter(autoScaled).map((x) => x.def.name),
    ...(s.aws?.blastRadius ? { blastRadius: s.aws.blastRadius } : {}),
  };
}

/** The name of the controller that is a system's Auto Scaling group (systems/web). */
export const AUTO_SCALING_CONTROLLER = 'auto-scaling-group';

/**
 * Whether a system's nodes are kept by an Auto Scaling group: one of its controllers is one. The
 * controllers are made on paper only to read their names; nothing is started, and nothing they
 * were given (the stack, the clock) is touched until they start.
 */
function autoScaled({ def, spec }: ActiveSystem): boolean {
  if (!def.controllers) return false;
  // The stack's optional capabilities read as absent: on paper a system makes the controllers it
  // would run beside a stack of its own (the web tier's group, which on AWS is the real group).
  const optional = new Set<PropertyKey>(['loadBalancer']);
  const unused = (what: string) =>
    new Proxy({} as object, {
      get: (_, key) => {
        if (optional.has(key)) return undefined;
        throw new Error(`a controller on paper used its ${what}`);
      },
    });
  const ctx: ControllerContext = {
    stack: unused('stack') as Stack,
    plan: PAPER,
    clock: unused('clock') as Clock,
    emit: () => {},
  };
  return def.controllers(spec, ctx).some((c) => c.name === AUTO_SCALING_CONTROLLER);
}

function paperNodes({ def, spec }: ActiveSystem): PlanNode[] {
  const plans = def.plan(spec, PAPER);
  return def.layout(spec).map((ref) => {
    const p = plans.find((x) => x.name === ref.name);
    const containers = p ? [p.main, ...p.sidecars] : [];
    const agent = p?.sidecars[0]?.command[0];
    return {
      ...ref,
      serverProcess: p?.main.process,
      port: p?.main.ports?.[0],
      agentProcess: agent ? basename(agent) : undefined,
      disks: containers
        .flatMap((c) => c.volumes ?? [])
        .filter((v) => (v as { disk?: boolean }).disk)
        .map((v) => v.name),
    };
  });
}

/**
 * A target selector on paper: `node:` and `az:` as they are; a role through the system's own
 * resolver, against the state at provisioning (the first node leads, members in layout order).
 * A role that picks at random (the resolver answers differently for different draws) stays a
 * random pick, which FIS can make itself (COUNT(n)).
 */
export function resolveOnPaper(selector: string, systems: ActiveSystem[], nodes: PlanNode[]): PlanTarget {
  const [kind, arg] = selector.split(':') as [string, string];
  if (kind === 'node') return { kind: 'nodes', nodes: nodes.filter((n) => n.name === arg) };
  if (kind === 'az') return { kind: 'az', az: arg, nodes: nodes.filter((n) => n.az === arg) };
  const system = systems.find((x) => x.def.name === kind);
  const own = nodes.filter((n) => n.system === kind).sort((a, b) => a.index - b.index);
  if (!system) return { kind: 'nodes', nodes: [], role: selector };
  const state = { leader: own[0]?.name ?? null, members: own.map((n) => n.name), nodes: [] };
  const draw = (r: number) =>
    system.def
      .resolve(arg, state, own, () => r)
      .map((x) => x.name)
      .sort();
  const low = draw(0);
  const high = draw(0.999999);
  if (low.join() !== high.join()) {
    // The pool it picks from: every node some draw gives.
    const pool = new Set(Array.from({ length: 100 }, (_, i) => draw(i / 100)).flat());
    return {
      kind: 'random',
      system: kind,
      role: arg,
      count: low.length,
      of: own.filter((n) => pool.has(n.name)),
    };
  }
  return { kind: 'nodes', nodes: own.filter((n) => low.includes(n.name)), role: selector };
}
