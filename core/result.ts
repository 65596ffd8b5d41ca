import type { TimelineEvent } from './events.ts';

/** A live node as its system sees it. */
export interface NodeState {
  name: string;
  az: string;
  /** It answered the observer. */
  reachable: boolean;
  /** The system's word for its role (`master`, `replica`, `primary`, `standby`). */
  role?: string;
  /** The node it replicates from, if any. */
  following?: string;
  /** Whether its replication link to that node is up. */
  linkUp?: boolean;
  /** How far behind its source it is, in the system's unit (bytes of WAL), when it can say. */
  lag?: number;
  /**
   * Its position in the replication stream (bytes), where the system reads one (Redis's
   * `master_repl_offset`): the leader's minus a node's is how far behind the leader the node is,
   * what a failover to it would lose.
   */
  offset?: number;
}

/** A system's live state: who leads (as its endpoint record names it), its members in order. */
export interface SystemState {
  leader: string | null;
  /** The members in the system's own order (the chain; the primary, then the standbys). */
  members: string[];
  nodes: NodeState[];
}

/** The client settings that shape a probe's figures; they go into the result verbatim. */
export interface ClientSettings {
  library: string;
  /** Operations per second asked for over all in-flight slots; 0 is as fast as they can. */
  rateHz: number;
  inFlight: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  retries: number;
  retryBackoffMs: number;
  /** The operation it makes, for a person (`RPUSH key <seq>`). */
  operation: string;
  /** Set when the rate climbs from 0 over this long (ms) first: the achieved rate is counted after it. */
  rampUpMs?: number;
  [setting: string]: unknown;
}

/** What a scenario expects of a probe and of the systems (scenarios/schema.ts fills in defaults). */
export interface Expectations {
  recovered: boolean;
  maxFailoverMs?: number | undefined;
  maxUnavailabilityMs?: number | undefined;
  /** A bound on lost acknowledged writes; 0 when the scenario says nothing. */
  maxLostWrites?: number | undefined;
  /** Exactly this many lost acknowledged writes, or `any`. */
  lostWrites?: number | 'any' | undefined;
  converged: boolean;
  maxTimeToFullRedundancyMs?: number | undefined;
  /** No split brain: a system's leader changes at most once per fault of a window. */
  oneLeaderChangePerFault: boolean;
  /** Exactly this many leader changes over the run, in every system or per system (0: no failover may happen). */
  leaderChanges?: number | Record<string, number> | undefined;
  /**
   * One leader at a time: at most this many writes acknowledged by a former leader (a node after
   * its system's leader record had moved away from it); 0 when the scenario says nothing, `any`
   * when it expects a split brain (reported, never judged).
   */
  writesByFormerLeader?: number | 'any' | undefined;
  /** At most this many writes reported failed that turn up in the read-back; 0 unless said, or `any`. */
  failedButPresent?: number | 'any' | undefined;
}

/** Figures and verdicts: what the checker computes, as the result carries them. */

export interface AvailabilityFigures {
  /**
   * The instant the figures are measured from: when the window's fault was applied (the
   * provider said it was done), or its injection when that is not known.
   */
  faultAt: number;
  /**
   * When the harness began to inject it: the window holds the operations completing from here
   * (absent in results written before it was recorded).
   */
  injectedAt?: number;
  /** From the injection to the applied instant (`faultAt - injectedAt`): how long applying took. */
  applyLagMs?: number;
  /** The window's end (exclusive); null when it is the last window. */
  until: number | null;
  outage: boolean;
  detectionMs: number | null;
  window: { start: number; end: number | null } | null;
  unavailabilityMs: number | null;
  failoverMs: number | null;
  recoveredAt: number | null;
  /** No outage (with a success seen), or an outage that ended in a stable success. */
  recovered: boolean;
  /** From the stable success to the window's last write; null without one. */
  stableForMs: number | null;
  outages: number;
  /** The longest stretch without an acknowledged write, from the applied instant on; null without one. */
  longestStallMs: number | null;
  /** Operations that completed in the window. */
  operations: number;
  failures: number;
  unknown: number;
}

/**
 * One expectation judged. `threshold` and `value` are the machine-readable pair (ms, a count or
 * a yes/no; value null when there was nothing to measure), `expected` and `actual` say the same
 * for a person. The verdict is decided from the data, never from the display text. `scope` says
 * what it was judged on: one fault's window, one probe, one system.
 */
export interface ExpectationResult {
  name: string;
  scope: { fault?: number; probe?: string; system?: string };
  threshold: number | boolean | string;
  value: number | boolean | null;
  expected: string;
  actual: string;
  verdict: Verdict;
}

export interface ConvergenceFigures {
  /** Every node that is up is back in the topology and the invariants hold. */
  converged: boolean;
  /** When the final converged state began, on the run's clock; null if never. */
  at: number | null;
  /** From the last fault's injection to `at`. */
  timeToFullRedundancyMs: number | null;
  /** What was still wrong when the wait ended (empty when converged). */
  violations: string[];
  /** How long the harness waited after recovery. */
  waitedMs: number;
  /** How often the topology was looked at, ms: the resolution of `at`. */
  pollIntervalMs: number;
}

export interface WindowFigures {
  fault: number;
  availability: AvailabilityFigures;
}

/**
 * Leadership changes of a system, read from the run's events: every move of its endpoint record
 * (the registry's own time stamp: the moment clients could start to find the new leader) after
 * provisioning, paired with the new leader's own decision to lead (`promotedAt`, the agent's
 * event) when one came before it. Each change names the fault window it fell in.
 */
export interface LeadershipChange {
  /** When the endpoint record moved. */
  t: number;
  from: string | null;
  to: string;
  /** The new leader's agent deciding to lead (the last such event before the move), or null. */
  promotedAt: number | null;
  /** The window's fault index, or null when it happened outside every window. */
  fault: number | null;
}

/**
 * A probe's operations in one phase of a fault (checker/gray.ts), by invocation: latency of the
 * acknowledged ones, and the others counted apart: timeouts (no answer in time) and errors (an
 * answer that was an error, or a lost connection).
 */
export interface PhaseLatency {
  from: number;
  /** Exclusive; null: to the end of the history. */
  to: number | null;
  operations: number;
  ok: number;
  timeouts: number;
  errors: number;
  latencyMs: { p50: number; p99: number; max: number } | null;
}

/** Latency before, during and after one fault, for one probe: a gray failure's figure. */
export interface FaultLatency {
  /** The fault's index (0-based, as `faults[].index`). */
  fault: number;
  /** From the end of the fault before (its revert) or the steady state's start, to this injection. */
  before: PhaseLatency;
  /** From the applied instant to the revert (or the next fault, or the end). */
  during: PhaseLatency;
  /**
   * From the revert to the next fault's injection (or the end); null when it was never reverted,
   * or when the next fault began before its revert (its `during` ends there).
   */
  after: PhaseLatency | null;
}

/**
 * Each node's replication lag over time, sampled by the convergence watcher from the first fault
 * on: what the system's observation reads (NodeState.lag: Postgres's WAL received but not yet
 * replayed), or, where it reads replication offsets (the Redis chain), how far behind the leader
 * each node is (the leader's offset minus the node's), in bytes.
 */
export interface LagSeries {
  /** The unit of every value (`bytes`). */
  unit: string;
  pollIntervalMs: number;
  /** Every node that ever had a lag, in name order. */
  nodes: string[];
  /** One sample per observation: its time and one value per node (null: no lag read then). */
  samples: { t: number; lag: (number | null)[] }[];
}

/**
 * A leader change while no node of the system was down (no kill, stop, pause, zone loss or
 * killed server process in force): the old leader was alive, and only slow, cut off or starved.
 */
export interface FalseFailover {
  t: number;
  from: string | null;
  to: string;
  /** The fault window it fell in, or null. */
  fault: number | null;
  /** The faults in force at that moment (their indexes and actions), none of which took a node down. */
  during: string[];
}

export interface ProbeStats {
  attempted: number;
  ok: number;
  fail: number;
  unknown: number;
  /** Acknowledged writes per second over the span from the first invocation to the last completion. */
  okPerSec: number;
  /** Latency of acknowledged writes, ms. */
  latencyMs: { p50: number; p99: number; max: number } | null;
}

/**
 * Writes of a probe acknowledged by a node after its system's leader record had moved away from
 * it (checker/former-leader.ts): split-brain evidence.
 */
export interface FormerLeaderWrites {
  /** The leader record judged against (`redis-head`). */
  record: string;
  count: number;
  /** Per node, in name order: how many, and every one by sequence number (ascending). */
  nodes: { node: string; count: number; seqs: number[] }[];
}

/** Writes per outcome in fixed time buckets (by completion), for timelines and charts. */
export interface OutcomeSeries {
  bucketMs: number;
  /** Start of the first bucket, on the run's clock. */
  start: number;
  columns: ['ok', 'fail', 'unknown'];
  /** One [ok, fail, unknown] triple per bucket. */
  counts: [number, number, number][];
}

/**
 * A verdict is `pass`, `fail` or `unknown` (the evidence does not allow either). Verdicts
 * compose as in Jepsen: fail beats unknown beats pass.
 */
export type Verdict = 'pass' | 'fail' | 'unknown';

export interface WriteFigures {
  verdict: 'pass' | 'fail' | 'unknown';
  attempted: number;
  acknowledged: number;
  failed: number;
  unknown: number;
  lost: number | null;
  lostSeqs: number[];
  unknownRecovered: number | null;
  unknownAbsent: number | null;
  failedButPresent: number;
  failedButPresentSeqs: number[];
  unexpected: number;
  unexpectedValues: number[];
  readBackSize: number | null;
}

export interface HarnessInfo {
  name: string;
  version: string;
  gitRevision: string;
  gitDirty: boolean | null;
  command: string[];
  node: string;
}

/** The canonical, versioned result of a run (result.json, `--json FILE`). */
export const RESULT_SCHEMA = 'chaos-harness/run-result';
/**
 * 2: figures per probe and per fault window (`probes[].windows`), systems with their state
 * before and after, leadership changes and convergence (`systems[]`), expectations with a
 * scope, faults with a status. Version 1 had one `figures` and one `head` for the whole run.
 */
export const RESULT_SCHEMA_VERSION = 2;

/**
 * - completed: every phase ran; the verdict says whether the expectations held.
 * - aborted: the run stopped early because the stack was not healthy (steady state failed).
 * - interrupted: a signal (Ctrl-C, SIGTERM) stopped it.
 * - error: the harness or the infrastructure failed, or the run went past its time limit
 *   (`error.code` RUN_TIMEOUT).
 * - incomplete: rebuilt from a run folder whose process died before writing a result.
 */
/**
 * completed: judged; aborted: unhealthy before any fault; halted: the scenario's abort rule
 * stopped it (a probe failed too much for too long); interrupted: a signal; error: something
 * broke; incomplete: rebuilt from the folder of a run that died.
 */
export type RunStatus = 'completed' | 'aborted' | 'halted' | 'interrupted' | 'error' | 'incomplete';

export const PHASES = [
  'provision',
  'steady-state',
  'inject',
  'observe',
  'revert',
  'recover',
  'converge',
  'read-back',
  'check',
  'report',
  'teardown',
] as const;
export type PhaseName = (typeof PHASES)[number];

export interface PhaseRecord {
  name: PhaseName;
  tStart: number;
  tEnd: number;
  status: 'ok' | 'failed';
  error?: string;
}

export interface FaultRecord {
  /** Its position in the scenario's fault list. */
  index: number;
  action: string;
  target: string;
  /** The nodes it hit, resolved at the moment of injection. */
  nodes: string[];
  peers?: string[];
  /** applied: carried out; skipped: nothing left to hit (the reason says why). */
  status: 'applied' | 'skipped';
  reason?: string;
  /** How it was carried out (for example `docker kill --signal SIGKILL`); null when skipped. */
  method: string | null;
  /** When the harness began to apply it, and when the provider said it was done. */
  tInject: number;
  tApplied: number | null;
  /**
   * `tApplied - tInject`: how long applying took (the figures of its window are measured from
   * `tApplied`); absent when it was not applied or its applied instant is not known.
   */
  applyLagMs?: number;
  /** When its revert fell due (injection + durationMs), if it has one. */
  tRevertDue?: number;
  tReverted?: number;
  /** Set when the revert failed; the others were still attempted. */
  revertError?: string;
  /** Opens its own measurement window (see checker/windows.ts). */
  measured: boolean;
}

/**
 * For a probe whose operations reach the history from another process (k6): from an
 * operation's end to its record in the history. The figures keep the operation's own times; the
 * lag is what the live progress and the harness's decisions run behind by.
 */
export interface ProbeDelivery {
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Operations the load generator did not start for want of a free slot (k6's dropped_iterations). */
  notStarted: number;
}

export interface ProbeResult extends ProbeStats {
  name: string;
  kind: string;
  /** The system it exercises. */
  system: string;
  settings: ClientSettings;
  /** Only for a probe in another process (k6). */
  delivery?: ProbeDelivery;
  steadyState: ProbeStats;
  /** The rate asked for and the rate seen before any fault; shortfall when below 90 % of it. */
  rate: { requestedHz: number | null; achievedHz: number; shortfall: boolean };
  /**
   * How finely the probe sees: one write every `intervalMs` (the failover and unavailability
   * figures are known to about that), and a hung write is only seen failing at its
   * `timeoutMs` (detection can be late by up to that).
   */
  resolution: { intervalMs: number; timeoutMs: number };
  /** Availability figures per measured fault. */
  windows: WindowFigures[];
  /** Latency before, during and after each applied fault (absent in results before it was kept). */
  latencyByFault?: FaultLatency[];
  writes: WriteFigures | null;
  /**
   * Writes acknowledged by a former leader (split-brain evidence); null when the leader record's
   * history is not in the events; absent when the probe's system has no leader (the web tier).
   */
  writesByFormerLeader?: FormerLeaderWrites | null;
  readBack: { node: string; size: number } | { error: string } | null;
  /** Outcomes per 250 ms bucket, on the run's clock: the probe's line on the timeline. */
  series: OutcomeSeries;
  /** Every operation, one JSON object a line, in the run folder. */
  historyFile: string;
}

/** An agent's decision, for the summary's account of what a system did. */
export interface SystemAction {
  t: number;
  node: string;
  type: string;
  data: Record<string, unknown>;
  fault: number | null;
}

export interface SystemResult {
  name: string;
  kind: string;
  /** The endpoint record clients resolve its leader through (`redis-head`). */
  leadershipRecord?: string;
  before: SystemState | null;
  after: SystemState | null;
  leadership: LeadershipChange[];
  /** Leader changes while none of its nodes was down (absent in results before it was kept). */
  falseFailovers?: FalseFailover[];
  /** Each node's replication lag over time, where the system reads one. */
  lag?: LagSeries | null;
  actions: SystemAction[];
  convergence: ConvergenceFigures | null;
}

export interface RunResult {
  schema: typeof RESULT_SCHEMA;
  schemaVersion: typeof RESULT_SCHEMA_VERSION;
  runId: string;
  scenario: { name: string; description: string; file: string };
  provider: string;
  images?: Record<string, { image: string; source: string }>;
  status: RunStatus;
  verdict: Verdict;
  error?: { code: string; kind: string; message: string; hint?: string };
  startedAt: string;
  /** Every time in this result (`t`, `tStart`, `tInject`, ...) is ms on one monotonic clock from `origin`. */
  clock: { origin: string; unit: 'ms'; source: 'process.hrtime.bigint' };
  /** From before the preparation (Docker check, images) to the end of teardown. */
  durationMs: number;
  /** Set when history.jsonl or events.jsonl could not be written in full (the figures are still whole). */
  storeError?: string;
  runDir: string;
  harness: HarnessInfo;
  phases: PhaseRecord[];
  faults: FaultRecord[];
  probes: ProbeResult[];
  systems: SystemResult[];
  expectations: ExpectationResult[];
  /** Why the verdict could not be decided in full (the checker failed, or had nothing to judge). */
  checkerError?: string;
  /** Warnings a reader should see beside the figures (a probe that fell short of its rate). */
  warnings: string[];
  timeline: TimelineEvent[];
}
