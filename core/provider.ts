import type { Clock } from './clock.ts';
import type { ChaosError } from './errors.ts';
import type { TimelineEvent } from './events.ts';
import type { AzDropMode, FaultAction, FreezeMethod, GrayParams, NodeProcess } from './faults.ts';
import type { Registry } from './registry.ts';

/**
 * What a provider (local Docker, AWS) offers the runner and the systems. A provider knows nodes,
 * networks, volumes and faults; it never knows a system by name: a system describes its nodes
 * as a plan (NodePlan) and the provider carries it out.
 */

/** One node of a stack, as targets and figures name it. */
export interface NodeRef {
  /** Its name, also its host name on the stack's network (`redis-b`, `pg-a`). */
  name: string;
  /** The system it belongs to (`redis`, `pg`). */
  system: string;
  az: string;
  /** Its position in the system's layout at provisioning time (0 = the first leader). */
  index: number;
}

/** Where a client outside the stack (a probe, an observer) reaches a node's service. */
export interface Endpoint {
  host: string;
  port: number;
}

/** One process of a node: its image (a logical name the provider resolves), command, ports. */
export interface ContainerPlan {
  /** A logical image name from a system's registration (`redis`, `node`, `postgres`). */
  image: string;
  /** A suffix for its name and log file (`redis`, `agent`). */
  part: string;
  command: string[];
  env?: Record<string, string>;
  /** Service ports a client outside the stack reaches (mapped on the host). */
  ports?: number[];
  /** The node is up once this appears in the container's output. */
  readyLog: RegExp;
  /** The name of its server process, for kill-process (`redis-server`, `postgres`). */
  process?: string;
  /**
   * Files inside the container that its process writes a log to, kept in the run's logs at the
   * end as `<node>.<name>` (the container's output is kept either way): for a log too busy for
   * the output, such as a load balancer's line per request.
   */
  logFiles?: { path: string; name: string }[];
  /** Restart it when its process dies (as a supervisor would): for agents. */
  restartOnFailure?: boolean;
  /**
   * A sidecar that waits by itself for its main container's server and for the registry (it
   * retries until they answer): started as soon as their containers have started rather than
   * once they are ready, so that its boot overlaps theirs. Its own `readyLog` is still waited for.
   */
  startEarly?: boolean;
  /** Files put into the container before it starts: the agents' bundle, scripts. */
  files?: { source: string; target: string; mode?: number }[];
  /** Files made from text, put into the container before it starts (a generated config). */
  contents?: { content: string; target: string; mode?: number }[];
  /**
   * Volumes: `name` is per node unless listed in the stack's shared volumes. `disk` marks the
   * node's own data disk (an EBS volume on AWS): what freeze-volume freezes. Only per-node
   * volumes can be disks; nothing outside the node's data (an agent's control files) may be one.
   */
  volumes?: { name: string; path: string; disk?: boolean }[];
  /**
   * Its JSON output lines are events for the timeline, from this source (`agent:redis-a`);
   * every container's output is kept in the run's logs either way.
   */
  events?: string;
  user?: string;
}

/** One node: its main process and the sidecars (agents) that share its network namespace. */
export interface NodePlan extends NodeRef {
  main: ContainerPlan;
  sidecars: ContainerPlan[];
  /** Start only once these nodes are up (a standby after its primary). */
  after?: string[];
}

export interface StackPlan {
  /** The endpoint registry (DNS records with TTLs): started first, reached as `registry`. */
  registry: ContainerPlan;
  nodes: NodePlan[];
  /** Volumes every node that mounts them shares (a WAL archive). */
  sharedVolumes?: string[];
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

/** What a scenario asks of a provider, before anything starts. */
export interface FaultAsked {
  action: FaultAction;
  mode?: AzDropMode | undefined;
  method?: FreezeMethod | undefined;
}

export interface FaultRequest {
  action: FaultAction;
  nodes: NodeRef[];
  /** partition: the nodes cut off from `nodes`. */
  peers?: NodeRef[];
  /** partition: cut `nodes` off from the endpoint registry as well. */
  registry?: boolean;
  /** kill-process: which process, and the signal. */
  process?: NodeProcess;
  signal?: string;
  /** drop-az: how the zone is lost, and which zone (every node of it is in `nodes`). */
  mode?: AzDropMode;
  az?: string;
  /** freeze-volume: the method the scenario demands (default: the real one where it can be had). */
  method?: FreezeMethod;
  /** latency, bandwidth, blackhole, reset, stress, fill-disk: how much (core/faults.ts). */
  gray?: GrayParams;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

/** A target's state as a cloud load balancer reports it (ELBv2 `TargetHealth.State`). */
export type TargetState = 'healthy' | 'unhealthy' | 'initial' | 'draining' | 'unused' | 'unavailable';

/** One target registered with a cloud load balancer, named as the stack names its nodes. */
export interface LoadBalancerTarget {
  node: string;
  /** `healthy` is in service: the load balancer sends it requests. */
  state: TargetState;
  /** Why it is not healthy, as the load balancer says (`Target.FailedHealthChecks`). */
  reason?: string;
}

/**
 * A load balancer the provider's cloud runs in front of a pool of nodes (an ALB and its target
 * group on AWS), with the pool kept by the cloud's own Auto Scaling group. A system that would
 * otherwise run its own load balancer (HAProxy) and its own group (a controller) reads the
 * targets' health here instead, and leaves launching and replacing the pool's nodes to the cloud.
 */
export interface ManagedLoadBalancer {
  /**
   * Every target the load balancer knows now, with its health; throws when the load balancer
   * (its API) does not answer. A node the group launched after provisioning is named too.
   */
  targets(): Promise<LoadBalancerTarget[]>;
  /** The pool behind it is the cloud's Auto Scaling group: it launches and replaces nodes itself. */
  readonly managedGroup: true;
}

/** A stack as brought up by a provider: nodes, endpoints, faults, teardown. */
export interface Stack {
  readonly runId: string;
  readonly provider: string;
  /** The images (or machine images) the stack runs, and where each choice came from. */
  readonly images?: Record<string, { image: string; source: string }>;
  nodes(): NodeRef[];
  /** A node's service port as a client outside the stack reaches it (the first port by default). */
  endpoint(node: string, port?: number): Endpoint;
  /** The endpoint registry, as a client outside the stack reaches it. */
  registry(): Registry;
  /** A node's address on the stack's own network (what a load balancer inside the stack uses). */
  address(node: string): string;
  /** Whether a node's main process runs (an instance's state, not whether it answers). */
  running(node: string): Promise<boolean>;
  /**
   * Starts a node after provisioning (an Auto Scaling group's launch). Fails with an InfraError
   * INSUFFICIENT_CAPACITY while its zone is lost (as FIS's AZ scenarios make launches fail).
   */
  launch(plan: NodePlan): Promise<NodeRef>;
  /** Removes a node for good (an Auto Scaling group's termination). */
  terminate(node: string): Promise<void>;
  /** Zones lost now (a drop-az in force): no node can be launched there. */
  impairedZones(): ReadonlySet<string>;
  /** Runs a command inside a node's main process's environment (a runbook step). */
  exec(node: string, command: string[]): Promise<ExecResult>;
  inject(request: FaultRequest): Promise<AppliedFault>;
  /** Writes each node's log into `dir`. */
  collectLogs(dir: string): Promise<void>;
  /** Stops following the stack (logs, events) and leaves it running: for `--keep`. */
  release(): void;
  /** Removes everything the stack started. Safe to call more than once. */
  teardown(): Promise<void>;
  /**
   * The cloud's own load balancer and Auto Scaling group, where the provider runs them (AWS: an
   * ALB, its target group and the heads' group); absent where the stack's own nodes balance the
   * load (the local provider: HAProxy, and a controller of the system's that emulates a group).
   */
  loadBalancer?(): ManagedLoadBalancer;
}

export interface ProvisionOptions {
  runId: string;
  /** For labels, so a stack left behind says what it was. */
  scenarioName?: string;
  clock: Clock;
  /** Receives agents' and the registry's events, already mapped onto the run's clock. */
  onEvent: (event: TimelineEvent) => void;
  /** Aborting it stops provisioning at the next step; what was started is removed. */
  signal?: AbortSignal;
  /** Where each node's log goes when provisioning fails (before what was started is removed). */
  logsDir?: string;
  /**
   * The faults the run will ask for, so the provider can prepare what they need (the local
   * provider puts disks on loop-mounted volumes only when a volume is to be frozen).
   */
  faults?: readonly FaultAsked[];
}

/** A logical image: what a system needs, and where it can be had. */
export interface ImageRef {
  /** The logical name plans use (`redis`). */
  name: string;
  /** The environment variable that overrides it. */
  env: string;
  /** The official image, where a registry can be reached. */
  official: string;
  /** The image docker/build-images.sh builds from Debian's packages; absent when `officialOnly`. */
  offline?: string;
  /**
   * Why no image of it can be built offline (its server is in no Debian package): an official-only
   * image. docker/build-images.sh and `chaos list --images` skip it, saying so; a run that needs
   * it and cannot have it says how to get it (`docker pull <official>`, or the variable `env`).
   */
  officialOnly?: string;
}

/**
 * The error code of a run that needs an official-only image this machine cannot have: what a game
 * day skips a scenario for, saying why, rather than fail the suite.
 */
export const OFFICIAL_IMAGE_MISSING = 'OFFICIAL_IMAGE_MISSING';

/** One thing a run needs of the machine, checked before anything starts. */
export interface PreflightCheck {
  /** What was checked, in a few words (`Docker engine`, `image postgres`). */
  what: string;
  ok: boolean;
  /** What was found: the version, the image chosen, the free space; or what is missing. */
  detail: string;
  /** Missing: the error to report (its hint says the command that fixes it). */
  error?: ChaosError;
}

export interface Provider {
  readonly name: string;
  /**
   * Every check of what a run of these images and faults needs here, without starting or
   * pulling anything: the engine, the images, the rights, the disk. Each missing thing is one
   * failed check whose error says how to fix it.
   */
  preflight?(images: readonly ImageRef[], faults: readonly FaultAsked[]): Promise<PreflightCheck[]>;
  /** Whether this provider can apply a fault here, and if not, why: asked before anything starts. */
  supports(fault: FaultAsked): { ok: true } | { ok: false; reason: string };
  /**
   * Checks, before a run starts, that the provider can work here (its engine answers, the
   * images can be had); throws a ChaosError saying what is missing and how to fix it.
   */
  prepare(images: readonly ImageRef[]): Promise<void>;
  provision(plan: StackPlan, opts: ProvisionOptions): Promise<Stack>;
  /**
   * The forced path (a second Ctrl-C): removes everything of the run, including what is still
   * being created, as fast as it safely can. Safe to call at any time, more than once.
   */
  forceTeardown(runId: string): Promise<void>;
}
