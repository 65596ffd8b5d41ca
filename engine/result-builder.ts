import { judgeLeaderChangeCount, judgeLeadership } from '../checker/expectations.ts';
import { falseFailovers, latencyByFault } from '../checker/gray.ts';
import { check } from '../checker/index.ts';
import type { ConvergenceFigures } from '../checker/index.ts';
import { leadershipChanges } from '../checker/leadership.ts';
import { firstInvoke, outcomeSeries, probeStats } from '../checker/stats.ts';
import { type FaultWindow, measurementWindows, windowAt } from '../checker/windows.ts';
import type { ChaosError } from '../core/errors.ts';
import type { TimelineEvent } from '../core/events.ts';
import { type HistoryInput, opLog } from '../core/history.ts';
import type { ClientSettings, LagSeries, ProbeDelivery, SystemState } from '../core/result.ts';
import {
  type FaultRecord,
  type PhaseRecord,
  type ProbeResult,
  RESULT_SCHEMA,
  RESULT_SCHEMA_VERSION,
  type RunResult,
  type RunStatus,
  type SystemAction,
  type SystemResult,
} from '../core/result.ts';
import { type ProbeSpecOf, type Scenario, expectationsFor } from '../scenarios/schema.ts';
import { maskArgv, redact, secretsOf } from '../scenarios/secrets.ts';
import { systemNamed } from '../systems/index.ts';
import { POLL_INTERVAL_MS } from './convergence.ts';
import type { HarnessInfo } from './run-store.ts';

export interface ReadBackOutcome {
  node: string;
  values: ReadonlySet<number>;
}

/** Everything a run collected; the result is a pure function of it. */
export interface RunRecord {
  runId: string;
  scenario: Scenario;
  file: string;
  provider: string;
  images?: Record<string, { image: string; source: string }>;
  status: RunStatus;
  failure?: Pick<ChaosError, 'code' | 'kind' | 'message' | 'hint'>;
  startedAt: Date;
  harness: HarnessInfo;
  runDir: string;
  phases: PhaseRecord[];
  faults: FaultRecord[];
  history: HistoryInput;
  events: readonly TimelineEvent[];
  /** The steady state's span on the run's clock; null if it never ran. */
  steady: { from: number; to: number } | null;
  probes: { spec: ProbeSpecOf; system: string; settings: ClientSettings; delivery?: ProbeDelivery }[];
  readBacks: ReadonlyMap<string, ReadBackOutcome | { error: string }>;
  systems: {
    name: string;
    kind: string;
    before: SystemState | null;
    after: SystemState | null;
    convergence: ConvergenceFigures | null;
    /**
     * How long after a fault its failover may follow (the system's threshold): what a stack
     * attached to learnt from the user's own settings; else the built system's, from its spec.
     */
    failoverThresholdMs?: number;
    /** Each node's replication lag as the convergence watcher read it (engine/convergence.ts). */
    lagSamples?: readonly { t: number; lag: Record<string, number> }[];
  }[];
  durationMs: number;
  storeError?: string;
}

/**
 * Builds the canonical result from what a run collected: the checker's figures per probe and
 * per fault window, the systems' leadership changes and convergence, the expectations. A run
 * that did not complete keeps its figures but has no expectations judged: its verdict is unknown.
 * The scenario's passwords are masked in it (a probe's settings, the command line, any text).
 */
export function buildResult(r: RunRecord): RunResult {
  const secrets = secretsOf(r.scenario);
  const result = resultOf(r);
  return redact(
    {
      ...result,
      harness: { ...result.harness, command: maskArgv(result.harness.command ?? [], secrets) },
    },
    secrets,
  );
}

function resultOf(r: RunRecord): RunResult {
  const history = opLog(r.history);
  const windows = measurementWindows(
    r.faults,
    history,
    r.probes.map((p) => p.spec.name),
    r.scenario.recovery.stableMs,
  );
  const completed = r.status === 'completed';
  const warnings: string[] = [];
  const expectations: RunResult['expectations'] = [];
  let checkerError: string | undefined;
  const verdicts: RunResult['verdict'][] = [];

  const probes: ProbeResult[] = r.probes.map(({ spec, system, settings, delivery }, index) => {
    const p = { name: spec.name, kind: spec.kind, settings, delivery };
    const rb = r.readBacks.get(p.name);
    const checked = check({
      history,
      probe: p.name,
      windows,
      readBack: rb && 'values' in rb ? rb.values : null,
      expect: expectationsFor(r.scenario, spec),
      stableMs: r.scenario.recovery.stableMs,
      // The systems are judged once, with the first probe.
      systems: index === 0 ? r.systems.map((s) => ({ name: s.name, convergence: s.convergence })) : [],
      leadership: leaderRecordOf(r, system),
    });
    verdicts.push(checked.verdict);
    expectations.push(...checked.expectations);
    if (checked.error) checkerError ??= checked.error;
    const steadyStats = r.steady
      ? probeStats(history, p.name, r.steady.from, r.steady.to)
      : probeStats([], p.name);
    // The achieved rate is counted once a ramp-up (if any) is over, when the rate asked for holds:
    // from the probe's first request (k6 starts some time into the steady state), plus the ramp.
    const ramp = p.settings.rampUpMs ?? 0;
    const rampStart =
      r.steady && ramp > 0 ? (firstInvoke(history, p.name, r.steady.from, r.steady.to) ?? r.steady.from) : 0;
    const rateFrom = r.steady ? Math.min(Math.max(r.steady.from, rampStart) + ramp, r.steady.to) : 0;
    const steadySpan = r.steady ? r.steady.to - rateFrom : 0;
    const rampedAttempts =
      r.steady && ramp > 0
        ? probeStats(history, p.name, rateFrom, r.steady.to).attempted
        : steadyStats.attempted;
    const achievedHz = steadySpan > 0 ? (rampedAttempts * 1000) / steadySpan : 0;
    const requestedHz = p.settings.rateHz > 0 ? p.settings.rateHz : null;
    const shortfall = requestedHz !== null && rampedAttempts > 0 && achievedHz < 0.9 * requestedHz;
    if (shortfall) {
      warnings.push(
        `probe ${p.name}: asked for ${requestedHz} writes/s, made ${achievedHz.toFixed(0)}/s before any fault (${Math.round((achievedHz / requestedHz!) * 100)} %): figures are coarser than asked; ${'concurrency' in spec ? "raise the probe's concurrency, unless the machine's cores are busy" : "the machine's cores are busy: lower rateHz, or run fewer things beside it"}`,
      );
    }
    return {
      name: p.name,
      kind: p.kind,
      system,
      settings: p.settings,
      ...(p.delivery ? { delivery: p.delivery } : {}),
      ...probeStats(history, p.name),
      steadyState: steadyStats,
      rate: { requestedHz, achievedHz, shortfall },
      resolution: {
        intervalMs: achievedHz > 0 ? 1000 / achievedHz : requestedHz ? 1000 / requestedHz : 0,
        timeoutMs: p.settings.commandTimeoutMs,
      },
      windows: checked.windows,
      // The figures before the first fault leave the ramp out: its seconds are at a lower rate, cold.
      latencyByFault: latencyByFault(
        history,
        p.name,
        r.faults,
        r.steady ? (ramp > 0 ? rateFrom : r.steady.from) : 0,
      ),
      writes: checked.writes,
      ...(checked.writesByFormerLeader !== undefined
        ? { writesByFormerLeader: checked.writesByFormerLeader }
        : {}),
      readBack: rb ? ('values' in rb ? { node: rb.node, size: rb.values.size } : rb) : null,
      series: outcomeSeries(history, p.name),
      historyFile: 'history.jsonl',
    };
  });

  const systems: SystemResult[] = r.systems.map((s) => {
    const def = systemNamed(s.name);
    const nodes = new Set([...(s.before?.nodes ?? []), ...(s.after?.nodes ?? [])].map((n) => n.name));
    const leadership = def ? leadershipChanges(r.events, def.leadership, windows) : [];
    const spec = (r.scenario.stack as Record<string, unknown>)[s.name];
    // A lease outlives its holder's death by up to one threshold, and the takeover follows it.
    // (A stack attached to has no spec of the built system's: its threshold is the user's own,
    // which the runner passes when the attached system learnt it.)
    const threshold =
      s.failoverThresholdMs ?? (spec === undefined ? 0 : (def?.failoverThresholdMs?.(spec as never) ?? 0));
    return {
      name: s.name,
      kind: s.kind,
      ...(def ? { leadershipRecord: def.leadership.record } : {}),
      before: s.before,
      after: s.after,
      leadership,
      falseFailovers: falseFailovers(leadership, r.faults, nodes, 2 * threshold),
      lag: lagSeries(s.lagSamples ?? []),
      actions: systemActions(r.events, windows, new Set(def?.decisions ?? []), nodes, s.name),
      convergence: s.convergence,
    };
  });

  if (r.scenario.expect.oneLeaderChangePerFault) {
    for (const s of systems) {
      const judged = judgeLeadership(s.name, windows, s.leadership);
      expectations.push(...judged);
      verdicts.push(...judged.map((e) => e.verdict));
    }
  }
  const wanted = r.scenario.expect.leaderChanges;
  if (wanted !== undefined && completed) {
    for (const s of systems) {
      const n = typeof wanted === 'number' ? wanted : wanted[s.name];
      if (n === undefined) continue;
      const judged = judgeLeaderChangeCount(s.name, s.leadership, n);
      expectations.push(judged);
      verdicts.push(judged.verdict);
    }
  }
  const verdict = !completed
    ? 'unknown'
    : verdicts.includes('fail')
      ? 'fail'
      : verdicts.includes('unknown')
        ? 'unknown'
        : 'pass';
  return {
    schema: RESULT_SCHEMA,
    schemaVersion: RESULT_SCHEMA_VERSION,
    runId: r.runId,
    scenario: { name: r.scenario.name, description: r.scenario.description.trim(), file: r.file },
    provider: r.provider,
    ...(r.images ? { images: r.images } : {}),
    status: r.status,
    verdict,
    ...(r.failure
      ? {
          error: {
            code: r.failure.code,
            kind: r.failure.kind,
            message: r.failure.message,
            ...(r.failure.hint ? { hint: r.failure.hint } : {}),
          },
        }
      : {}),
    startedAt: r.startedAt.toISOString(),
    clock: { origin: r.startedAt.toISOString(), unit: 'ms', source: 'process.hrtime.bigint' },
    durationMs: r.durationMs,
    ...(r.storeError ? { storeError: r.storeError } : {}),
    runDir: r.runDir,
    harness: r.harness,
    phases: r.phases,
    faults: r.faults.map(withApplyLag),
    probes,
    systems,
    expectations: completed ? expectations : [],
    ...(completed && checkerError ? { checkerError } : {}),
    warnings,
    timeline: [...r.events].sort((a, b) => a.t - b.t),
  };
}

/**
 * The leader record a probe of `system` is judged against (one leader at a time), or undefined
 * when its system has no leader: its record never appears in the events and its observed state
 * names no leader (the web tier: a k6 probe's `node` is a web head, which leads nothing). A
 * system that has a leader but whose record is missing from the events is judged, as unknown.
 */
function leaderRecordOf(r: RunRecord, system: string) {
  const def = systemNamed(system);
  if (!def) return undefined;
  const { record } = def.leadership;
  const state = r.systems.find((s) => s.name === system);
  const seen = r.events.some(
    (e) => e.source === 'registry' && e.type === 'record-set' && e.data?.name === record,
  );
  const leads = Boolean(state?.before?.leader ?? state?.after?.leader);
  return seen || leads ? { system, record, events: r.events } : undefined;
}

/** The lag samples as a series: one column per node that ever had a lag; null when none had. */
function lagSeries(samples: readonly { t: number; lag: Record<string, number> }[]): LagSeries | null {
  const nodes = [...new Set(samples.flatMap((s) => Object.keys(s.lag)))].sort();
  if (!nodes.length) return null;
  return {
    unit: 'bytes',
    pollIntervalMs: POLL_INTERVAL_MS,
    nodes,
    samples: samples.map((s) => ({ t: s.t, lag: nodes.map((n) => s.lag[n] ?? null) })),
  };
}

/** A fault record with how long applying it took, where both instants are known. */
function withApplyLag(f: FaultRecord): FaultRecord {
  if (f.status !== 'applied' || f.tApplied === null || f.tApplied < f.tInject) return f;
  return { ...f, applyLagMs: f.tApplied - f.tInject };
}

function systemActions(
  events: readonly TimelineEvent[],
  windows: readonly FaultWindow[],
  decisions: ReadonlySet<string>,
  nodes: ReadonlySet<string>,
  system: string,
): SystemAction[] {
  // The agents' decisions on the system's nodes, and every act of its control plane.
  return events
    .filter(
      (e) =>
        (e.source.startsWith('agent:') &&
          decisions.has(e.type) &&
          (nodes.size === 0 || nodes.has(e.node ?? e.source.slice('agent:'.length)))) ||
        e.source === `controller:${system}`,
    )
    .sort((a, b) => a.t - b.t)
    .map((e) => ({
      t: e.t,
      node: e.node ?? (e.source.startsWith('agent:') ? e.source.slice('agent:'.length) : e.source),
      type: e.type,
      data: e.data ?? {},
      fault: windowAt(windows, e.t)?.fault ?? null,
    }));
}
