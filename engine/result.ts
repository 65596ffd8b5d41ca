import type { HeadChange } from '../checker/head.ts';
import type { AvailabilityFigures, ExpectationResult, Verdict, WriteFigures } from '../checker/index.ts';
import type { OutcomeSeries, ProbeStats } from '../checker/stats.ts';
import type { TopologySnapshot } from '../infra/stack.ts';
import type { RedisClientSettings } from '../probes/redis-writer.ts';
import type { HarnessInfo } from './run-store.ts';
import type { TimelineEvent } from './timeline.ts';

/** The canonical, versioned result of a run (result.json, `--json FILE`). */
export const RESULT_SCHEMA = 'chaos-harness/run-result';
export const RESULT_SCHEMA_VERSION = 1;

/**
 * - completed: every phase ran; the verdict says whether the expectations held.
 * - aborted: the run stopped early because the stack was not healthy (steady state failed).
 * - interrupted: a signal (Ctrl-C) stopped it.
 * - error: the harness or the infrastructure failed, or the run went past its time limit
 *   (`error.code` RUN_TIMEOUT).
 */
export type RunStatus = 'completed' | 'aborted' | 'interrupted' | 'error';

export interface PhaseRecord {
  name: PhaseName;
  tStart: number;
  tEnd: number;
  status: 'ok' | 'failed';
  error?: string;
}

export const PHASES = [
  'provision',
  'steady-state',
  'inject',
  'observe',
  'revert',
  'recover',
  'read-back',
  'check',
  'report',
  'teardown',
] as const;
export type PhaseName = (typeof PHASES)[number];

export interface FaultRecord {
  action: string;
  target: string;
  nodes: string[];
  peers?: string[];
  method: string;
  /** When the harness began to apply it, and when the provider said it was done. */
  tInject: number;
  tApplied: number;
  tReverted?: number;
  measured: boolean;
}

export interface ProbeSummary extends ProbeStats {
  name: string;
  kind: string;
  settings: RedisClientSettings;
  steadyState: ProbeStats;
  /** Outcomes per 250 ms bucket, on the run's clock: the probe's line on the timeline. */
  series: OutcomeSeries;
  /** Every operation, one JSON object a line, in the run folder. */
  historyFile: string;
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
  probes: ProbeSummary[];
  figures: {
    availability: AvailabilityFigures | null;
    writes: WriteFigures | null;
    readBack: { node: string; size: number } | { error: string } | null;
  };
  head: HeadChange;
  topology: { before: TopologySnapshot | null; after: TopologySnapshot | null };
  expectations: ExpectationResult[];
  checkerError?: string;
  timeline: TimelineEvent[];
}
