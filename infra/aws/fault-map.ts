import { InfraError } from '../../core/errors.ts';
import type { FaultRequest, NodeRef } from '../../core/provider.ts';
import {
  type PlanEntry,
  type PlanFault,
  type PlanInput,
  type PlanNode,
  type PlanOptions,
  type PlanTarget,
  planFaults,
} from './fis-plan.ts';

/**
 * How the runner's fault requests map onto the plan, and the plan onto the live stack.
 *
 * The runner injects one fault at a time (`Stack.inject`), each at its `at`, in time order, its
 * target resolved against the live stack just before; the request carries the fault's action and
 * nodes, not its place in the scenario. FIS, on the other hand, runs the faults of one instant as
 * ONE experiment (experiments.ts). So:
 *
 * - `FaultSchedule.match` finds the planned fault a request is: the earliest not yet injected
 *   with the same action (and mode, process, zone; the nodes as a tie-break), never one before
 *   the last matched in the runner's order (by time, then the scenario's order within an
 *   instant): a fault the runner skipped stays behind, unmatched.
 * - The first request of an instant re-plans that instant with the targets as they are live
 *   (`livePlan`): the request's own nodes for its fault, and, for every other fault of the
 *   instant whose target is a role or a random pick, the nodes the engine's resolver gives now
 *   (the provider's `resolve` option) or else the plan's. A role's per-node target is then tagged
 *   chaos:node=<the node that holds the role now>, and a random pick is the runner's own pick
 *   (so the nodes FIS hits are the ones the result names). The instant's experiment is started
 *   then, with every fault of the instant in it but those the runner skipped before it (their
 *   targets were down); the later requests of the instant join it and report the same
 *   injection instant. A later fault of the instant that the runner then skips has run in the
 *   experiment all the same (FIS cannot take an action out of a running experiment): its
 *   actions' events say what they did, and the result records the fault as skipped.
 */

export class FaultSchedule {
  private readonly consumed = new Set<number>();
  private lastAt = Number.NEGATIVE_INFINITY;
  private lastIndex = 0;

  constructor(private readonly input: PlanInput) {}

  /** The planned fault a request is; it counts as injected from now on. */
  match(req: FaultRequest): PlanFault {
    const names = req.nodes.map((n) => n.name).sort();
    const candidates = this.input.faults
      .filter(
        (f) =>
          !f.step &&
          !this.consumed.has(f.index) &&
          // The runner goes by time, then by the scenario's order within an instant.
          (f.at > this.lastAt || (f.at === this.lastAt && f.index > this.lastIndex)) &&
          f.action === req.action &&
          (req.mode === undefined || f.mode === req.mode) &&
          (req.process === undefined || (f.process ?? 'server') === req.process) &&
          (req.az === undefined || (f.resolved.kind === 'az' && f.resolved.az === req.az)),
      )
      .sort((a, b) => a.at - b.at || a.index - b.index);
    const earliest = candidates[0]?.at;
    const same = candidates.filter((f) => f.at === earliest);
    const f =
      same.find((x) => paperNodes(x.resolved).join() === names.join()) ??
      same.find((x) => x.resolved.kind !== 'nodes' || x.resolved.role !== undefined) ??
      same[0];
    if (!f)
      throw new InfraError(
        'AWS_UNPLANNED_FAULT',
        `no fault of the scenario's plan is a ${req.action} on ${names.join(', ') || 'no node'} now: the AWS provider plans every fault before the run, and this one was not in the plan or was injected already`,
        { hint: 'a bug: please report it with the scenario' },
      );
    this.consumed.add(f.index);
    this.lastAt = f.at;
    this.lastIndex = f.index;
    return f;
  }

  /** Whether the request for this fault has come (it was injected, or is being). */
  injected(index: number): boolean {
    return this.consumed.has(index);
  }

  /**
   * The faults of an instant the runner skipped: it injects the faults of one instant in the
   * scenario's order, so one before `index` that never came was skipped (its target was down).
   */
  skippedBefore(at: number, index: number): number[] {
    return this.at(at)
      .filter((g) => g.index < index && !this.consumed.has(g.index))
      .map((g) => g.index);
  }

  /** The planned faults at an instant, not runbook steps. */
  at(at: number): PlanFault[] {
    return this.input.faults.filter((f) => !f.step && f.at === at);
  }
}

function paperNodes(t: PlanTarget): string[] {
  return (t.kind === 'random' ? t.of : t.nodes).map((n) => n.name).sort();
}

/** Whether a fault's target is resolved at injection (a role, or a random pick). */
export function isLive(f: PlanFault): boolean {
  return f.resolved.kind === 'random' || (f.resolved.kind === 'nodes' && f.resolved.role !== undefined);
}

/** A live node as the plan knows nodes: its own paper entry, or (a node launched later) its system's. */
export function planNodeOf(input: PlanInput, ref: NodeRef): PlanNode {
  const own = input.nodes.find((n) => n.name === ref.name);
  if (own) return { ...own, az: ref.az };
  const like = input.nodes.find((n) => n.system === ref.system);
  return {
    name: ref.name,
    system: ref.system,
    az: ref.az,
    index: ref.index,
    serverProcess: like?.serverProcess,
    agentProcess: like?.agentProcess,
    disks: like?.disks ?? [],
    port: like?.port,
  };
}

/** A fault's target as it stands live: these nodes, named by the role (or the pick) that chose them. */
export function liveTarget(input: PlanInput, f: PlanFault, nodes: readonly NodeRef[]): PlanTarget {
  if (f.resolved.kind === 'az') return f.resolved;
  const role =
    f.resolved.kind === 'random' ? `${f.resolved.system}:${f.resolved.role}` : (f.resolved.role ?? f.target);
  return { kind: 'nodes', nodes: nodes.map((n) => planNodeOf(input, n)), role };
}

/**
 * The plan entries of one instant with the targets as they are live: `targets` gives, by fault
 * index, the nodes (and peers) each live fault resolves to now; the others keep the plan's.
 */
export function livePlan(
  input: PlanInput,
  at: number,
  targets: ReadonlyMap<number, { nodes: readonly NodeRef[]; peers?: readonly NodeRef[] | undefined }>,
  opts: PlanOptions,
): PlanEntry[] {
  const faults = input.faults.map((f): PlanFault => {
    const live = targets.get(f.index);
    if (f.at !== at || !live) return f;
    return {
      ...f,
      resolved: isLive(f) || f.resolved.kind === 'random' ? liveTarget(input, f, live.nodes) : f.resolved,
      ...(live.peers && f.from
        ? {
            resolvedFrom: { kind: 'nodes', nodes: live.peers.map((n) => planNodeOf(input, n)), role: f.from },
          }
        : {}),
    };
  });
  return planFaults({ ...input, faults }, opts).filter((e) => e.at === at);
}
