import type {
  ConvergenceFigures,
  ExpectationResult,
  Verdict,
  WindowFigures,
  WriteFigures,
} from '../checker/index.ts';
import type { LeadershipChange } from '../checker/leadership.ts';
import type { OutcomeSeries, ProbeStats } from '../checker/stats.ts';
import type { TopologySnapshot } from '../infra/stack.ts';
import type { RedisClientSettings } from '../probes/redis-writer.ts';
import type { HarnessInfo } from './run-store.ts';
import type { TimelineEvent } from './timeline.ts';

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
export type RunStatus = 'completed' | 'aborted' | 'interrupted' | 'error' | 'incomplete';

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
  /** When its revert fell due (injection + durationMs), if it has one. */
  tRevertDue?: number;
  tReverted?: number;
  /** Set when the revert failed; the others were still attempted. */
  revertError?: string;
  /** Opens its own measurement window (see checker/windows.ts). */
  measured: boolean;
}

export interface ProbeResult extends ProbeStats {
  name: string;
  kind: string;
  settings: RedisClientSettings;
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
  writes: WriteFigures | null;
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
  before: TopologySnapshot | null;
  after: TopologySnapshot | null;
  leadership: LeadershipChange[];
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
