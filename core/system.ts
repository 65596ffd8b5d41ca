import type { z } from 'zod';
import type { Clock } from './clock.ts';
import type { History } from './history.ts';
import type { ImageRef, NodePlan, NodeRef, Stack } from './provider.ts';
import type { ClientSettings, ProbeDelivery, SystemState } from './result.ts';

/**
 * A system: one kind of highly available datastore or tier (a Redis chain, Postgres streaming
 * replication). Everything the harness knows about it is here, behind one registration
 * (systems/index.ts): its spec, how its nodes are laid out over AZs, how to see who leads, the
 * roles its targets name, its invariants when whole, its probes and its agents. The runner,
 * the scenario schema, the target resolver and `chaos list` read the registration; none of them
 * knows a system by name.
 */
// biome-ignore lint/suspicious/noExplicitAny: the registration holds systems of every spec type
export interface SystemDefinition<Spec = any> {
  /** The key under `stack:` and the prefix of its targets (`redis`, `pg`). */
  name: string;
  /** What kind of system it is, for results (`redis-chain`). */
  kind: string;
  description: string;
  /** Its part of the scenario's `stack:` (zod, strict, defaults filled in). */
  spec: z.ZodType<Spec, z.ZodTypeDef, unknown>;
  /** Other systems of the stack it depends on, and the field of its spec that says so. */
  needs?(spec: Spec): { system: string; field: string }[];
  /** How long its agents wait before they fail over, for checks against the scenario's waits. */
  failoverThresholdMs?(spec: Spec): number;
  /**
   * How many requests a second its agents send the endpoint registry together while the system
   * is whole (each node's check, `checkIntervalMs` apart, counted as the agents make them): on
   * AWS each is a Route 53 API call, and Route 53 limits those per account. Absent: its agents
   * do not poll the registry.
   */
  registryCallsPerSecond?(spec: Spec): number;
  /** The probes that exercise it. */
  probes: ProbeDefinition[];
  /** The roles its targets name (`head` for `redis:head`), each with what it resolves to. */
  roles: Record<string, string>;
  /** The images its nodes run. */
  images: ImageRef[];
  /** Agent programs bundled into the agents' file: CHAOS_ENTRY name -> module path. */
  agents: Record<string, string>;
  /** Its nodes, by name and AZ, as provisioned (for static checks of node: and az: targets). */
  layout(spec: Spec): NodeRef[];
  /** What the provider starts for it. */
  plan(spec: Spec, ctx: PlanContext): NodePlan[];
  /** Volumes its plan mounts that every node shares (a WAL archive); others are per node. */
  sharedVolumes?: readonly string[];
  /** Waits until the system has formed (replication up, records written); throws with what is missing. */
  awaitReady(stack: Stack, spec: Spec, signal?: AbortSignal): Promise<void>;
  /** Its live state: who leads, the members in order, each node's role and link. */
  observe(stack: Stack, spec: Spec): Promise<SystemState>;
  /**
   * Who leads and the members in order as its records say, read quickly (no node is asked):
   * what targets are resolved against at the moment of injection.
   */
  records(stack: Stack): Promise<Pick<SystemState, 'leader' | 'members'>>;
  /** What is wrong with a state, one sentence each naming the nodes; empty when whole. */
  invariants(state: SystemState, spec: Spec): string[];
  /** The nodes a role names in a live state; empty when none. */
  resolve(role: string, state: SystemState, nodes: readonly NodeRef[], random: () => number): NodeRef[];
  /** How its leadership changes show in the events: the endpoint record, the agent's event. */
  leadership: { record: string; promotedType: string };
  /** Agent event types worth naming in an account of what it did. */
  decisions: readonly string[];
  /**
   * Steps an operator takes, as a runbook (`promote`): scheduled like faults, on a target of
   * this system; each returns how it was carried out. They are not faults: not reverted, and
   * not measured on their own unless the scenario says so.
   */
  steps?: Record<string, SystemStep<Spec>>;
  /**
   * A control plane the system needs beside its nodes (an Auto Scaling group that replaces dead
   * instances), run by the harness from the end of provisioning until the run winds up.
   */
  controllers?(spec: Spec, ctx: ControllerContext): Controller[];
}

export interface ControllerContext {
  stack: Stack;
  plan: PlanContext;
  clock: Clock;
  /** An event on the run's timeline, from `controller:<name>`. */
  emit(type: string, node: string | undefined, data?: Record<string, unknown>): void;
}

export interface Controller {
  readonly name: string;
  start(): void;
  /** Stops it; resolves once nothing it started is still under way. */
  stop(): Promise<void>;
}

export interface SystemStep<Spec> {
  /** What it does, in a few words (`chaos list`, errors). */
  does: string;
  run(stack: Stack, nodes: readonly NodeRef[], spec: Spec): Promise<string>;
}

export interface PlanContext {
  runId: string;
  /** The URL agents reach the endpoint registry at, on the stack's network. */
  registryUrl: string;
  /** Where the agents' bundle is put in an agent container, and the file to copy there. */
  bundle: { source: string; target: string };
}

export interface ProbeDefinition {
  /** The `kind:` of a probe in a scenario (`redis-writer`). */
  kind: string;
  /** Its spec (a strict zod object with `kind` as a literal, `name` and `rateHz`). */
  spec: z.AnyZodObject;
  create(spec: ProbeSpec, deps: ProbeDeps): Probe;
  /** What it needs of the machine beyond Docker (`k6`), for `chaos list`. */
  needs?: string;
  /** Checks, before anything starts, that what it needs is here; throws a ChaosError saying how to get it. */
  preflight?(): Promise<void>;
  /** Its settings from its spec alone (to rebuild a dead run's result). */
  settings(spec: ProbeSpec, runId: string): ClientSettings;
}

export interface ProbeSpec {
  kind: string;
  name: string;
  rateHz: number;
  [field: string]: unknown;
}

export interface ProbeDeps {
  runId: string;
  clock: Clock;
  history: History;
  stack: Stack;
}

/** What the runner does with a probe. */
export interface Probe {
  readonly name: string;
  readonly kind: string;
  readonly system: string;
  /** Sets up what it writes to (a table), once, before the steady state. */
  prepare?(): Promise<void>;
  start(): void;
  /** Holds its writes; resolves once none is in flight. */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
  /** Reads back everything it wrote, from the system's current leader. */
  readBack(): Promise<{ node: string; values: ReadonlySet<number> }>;
  settings(): ClientSettings;
  /** How late its operations reached the history, for a probe in another process (after stop). */
  delivery?(): ProbeDelivery | undefined;
}
