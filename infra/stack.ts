import type { Clock } from '../core/clock.ts';
import type { TimelineEvent } from '../core/events.ts';
import type { Registry } from '../core/registry.ts';
import type { FaultAction, RedisStackSpec } from '../scenarios/schema.ts';

/** One node of a stack: a datastore process with its agent, or a support service. */
export interface StackNode {
  /** Its name, also its host name on the stack's network (`redis-b`). */
  name: string;
  role: 'redis' | 'registry';
  az: string;
  /** Position in the chain at provisioning time (0 = head), for redis nodes. */
  index?: number;
}

/** Where a client outside the stack (a probe) reaches a node's service. */
export interface Endpoint {
  host: string;
  port: number;
}

/** A fault as applied: the record of what was touched, and how to undo it. */
export interface AppliedFault {
  action: FaultAction;
  nodes: string[];
  /** How the fault was carried out (for example `docker kill -s KILL`, `iptables DROP`). */
  method: string;
  /** Undoes the fault; absent when it cannot be undone (kill). */
  revert?: () => Promise<void>;
}

export interface FaultRequest {
  action: FaultAction;
  nodes: StackNode[];
  /** partition: the nodes cut off from `nodes`. */
  peers?: StackNode[];
}

/** What a live Redis node reports about itself. */
export interface RedisNodeState {
  name: string;
  az: string;
  reachable: boolean;
  role?: 'master' | 'slave';
  master?: string;
  linkUp?: boolean;
}

export interface TopologySnapshot {
  head: string | undefined;
  chain: string[];
  nodes: RedisNodeState[];
}

/** A stack as brought up by a provider: nodes, endpoints, faults, teardown. */
export interface Stack {
  readonly runId: string;
  readonly provider: string;
  /** The images (or machine images) the stack runs, and where each choice came from. */
  readonly images?: Record<string, { image: string; source: string }>;
  nodes(): StackNode[];
  endpoint(node: string): Endpoint;
  /** The endpoint registry, as a client outside the stack reaches it. */
  registry(): Registry;
  inject(request: FaultRequest): Promise<AppliedFault>;
  topology(): Promise<TopologySnapshot>;
  /** Writes each node's log into `dir`. */
  collectLogs(dir: string): Promise<void>;
  /** Stops following the stack (logs, events) and leaves it running: for `--keep`. */
  release(): void;
  /** Removes everything the stack started. Safe to call more than once. */
  teardown(): Promise<void>;
}

export interface ProvisionOptions {
  runId: string;
  /** For labels, so a stack left behind says what it was. */
  scenarioName?: string;
  /** Aborting it stops provisioning at the next step; what was started is removed. */
  signal?: AbortSignal;
  clock: Clock;
  /** Receives agents' and the registry's events, already mapped onto the run's clock. */
  onEvent: (event: TimelineEvent) => void;
}

export interface Provider {
  readonly name: string;
  /** Whether this provider can apply a fault here, and if not, why: asked before anything starts. */
  supports(action: FaultAction): { ok: true } | { ok: false; reason: string };
  /**
   * Checks, before a run starts, that the provider can work here (its engine answers, its
   * images can be had); throws a ChaosError saying what is missing and how to fix it.
   */
  prepare(): Promise<void>;
  provisionRedisChain(spec: RedisStackSpec, opts: ProvisionOptions): Promise<Stack>;
  /**
   * The forced path (a second Ctrl-C): removes everything of the run, including what is still
   * being created, as fast as it safely can. Safe to call at any time, more than once.
   */
  forceTeardown(runId: string): Promise<void>;
}
