import { randomBytes } from 'node:crypto';
import { readChain } from '../agents/registry/protocol.ts';
import { availability } from '../checker/availability.ts';
import { headChange } from '../checker/head.ts';
import { check } from '../checker/index.ts';
import { outcomeSeries, probeStats } from '../checker/stats.ts';
import type { Provider, Stack, TopologySnapshot } from '../infra/stack.ts';
import { History } from '../probes/history.ts';
import { type ReadBack, RedisWriterProbe } from '../probes/redis-writer.ts';
import type { LoadedScenario } from '../scenarios/load.ts';
import type { FaultStep } from '../scenarios/schema.ts';
import { type Clock, MonotonicClock, sleep } from './clock.ts';
import { ChaosError, InfraError, InterruptedError, ScenarioError, errorMessage } from './errors.ts';
import {
  type FaultRecord,
  type PhaseName,
  type PhaseRecord,
  RESULT_SCHEMA,
  RESULT_SCHEMA_VERSION,
  type RunResult,
  type RunStatus,
} from './result.ts';
import { RunStore, harnessInfo } from './run-store.ts';
import { resolveTarget, validateStaticTargets } from './targets.ts';
import type { TimelineEvent } from './timeline.ts';

/** What a reporter may hear while a run goes on; every hook is optional. */
export interface RunReporter {
  runStart?(info: { runId: string; scenario: string; runDir: string }): void;
  phaseStart?(name: PhaseName, t: number): void;
  phaseEnd?(record: PhaseRecord): void;
  event?(event: TimelineEvent): void;
  progress?(p: { t: number; ok: number; fail: number; unknown: number }): void;
  runEnd?(result: RunResult): void;
}

export interface RunOptions {
  loaded: LoadedScenario;
  provider: Provider;
  runsDir: string;
  reporter?: RunReporter;
  /** Aborting it (Ctrl-C) stops the run at the next step; teardown still runs. */
  signal?: AbortSignal;
  argv?: string[];
  /** Leave the stack running for a look (`chaos cleanup` removes it later). */
  keepStack?: boolean;
  /** The whole run's time limit; default: the scenario's own waits plus two minutes. */
  timeLimitMs?: number;
  clock?: Clock;
}

/** The scenario's own waits: what a run can not be faster than. */
export function scenarioWaitsMs(s: LoadedScenario['scenario']): number {
  const lastAt = Math.max(...s.faults.map((f) => f.at));
  return s.steadyState.durationMs + lastAt + s.observeMs;
}

/**
 * Checks a scenario against a provider before anything starts: the faults it needs must be
 * supported here, and node:/az: targets must exist. Throws ScenarioError (exit 2).
 */
export function preflight(loaded: LoadedScenario, provider: Provider): void {
  const { scenario, file } = loaded;
  for (const f of scenario.faults) {
    const s = provider.supports(f.action);
    if (!s.ok)
      throw new ScenarioError(
        'FAULT_UNSUPPORTED',
        `${file}: fault '${f.action}' cannot run on the ${provider.name} provider here: ${s.reason}`,
        {
          hint: 'provide what the reason names, or choose another fault (kill, stop and pause need only Docker)',
        },
      );
  }
  validateStaticTargets(
    scenario.faults.flatMap((f) => [f.target, ...(f.from ? [f.from] : [])]),
    scenario.stack.redis,
    file,
  );
}

/**
 * The lifecycle of a game day:
 * provision -> steady state -> inject -> observe -> revert -> recover -> read back -> check ->
 * report -> teardown. Teardown runs whatever happened before it. The result is written to the
 * run folder at the end, also when the run failed.
 */
export async function runScenario(opts: RunOptions): Promise<RunResult> {
  const { loaded, provider, reporter = {} } = opts;
  const { scenario } = loaded;
  const clock = opts.clock ?? new MonotonicClock();
  preflight(loaded, provider);
  // Docker answers, images are there: checked before the run folder exists, so a machine that
  // cannot run anything gets one line and no folder. Not under the time limit (pulls are bounded).
  await provider.prepare();

  const runId = randomBytes(4).toString('hex');
  const startedAt = new Date(clock.toWall(0));
  const harness = harnessInfo(opts.argv);
  const store = RunStore.create(opts.runsDir, scenario, runId, startedAt, harness);
  reporter.runStart?.({ runId, scenario: scenario.name, runDir: store.dir });

  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason ?? 'SIGINT');
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (opts.signal?.aborted) onOuterAbort();
  const timeLimitMs = opts.timeLimitMs ?? scenarioWaitsMs(scenario) + scenario.recovery.timeoutMs + 120_000;
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    abort.abort('time limit');
  }, timeLimitMs);
  const checkpoint = () => {
    if (!abort.signal.aborted) return;
    if (timedOut) {
      throw new InfraError('RUN_TIMEOUT', `the run went past its time limit of ${timeLimitMs} ms`, {
        hint: "a phase hung: see the phases in result.json and the nodes' logs in the run folder",
      });
    }
    throw new InterruptedError(String(abort.signal.reason));
  };

  const events: TimelineEvent[] = [];
  let eventWriteError: string | undefined;
  const emit = (e: TimelineEvent) => {
    events.push(e);
    try {
      store.appendEvent(e);
    } catch (err) {
      // The run folder cannot be written (disk full, removed): keep going, teardown matters more.
      eventWriteError ??= `events.jsonl: ${errorMessage(err)}`;
    }
    reporter.event?.(e);
  };
  const phases: PhaseRecord[] = [];
  async function phase<T>(name: PhaseName, fn: () => Promise<T>): Promise<T> {
    const tStart = clock.now();
    reporter.phaseStart?.(name, tStart);
    emit({ t: tStart, source: 'harness', type: 'phase-start', data: { phase: name } });
    try {
      const value = await fn();
      const rec: PhaseRecord = { name, tStart, tEnd: clock.now(), status: 'ok' };
      phases.push(rec);
      reporter.phaseEnd?.(rec);
      return value;
    } catch (err) {
      const rec: PhaseRecord = {
        name,
        tStart,
        tEnd: clock.now(),
        status: 'failed',
        error: errorMessage(err),
      };
      phases.push(rec);
      reporter.phaseEnd?.(rec);
      throw err;
    }
  }

  const history = new History(store.path('history.jsonl'));
  const probeName = scenario.probes[0]!.name;
  let stack: Stack | undefined;
  let probes: RedisWriterProbe[] = [];
  let status = 'completed' as RunStatus;
  let failure: ChaosError | undefined;
  const faults: FaultRecord[] = [];
  const reverts: { at: number; record: FaultRecord; revert: () => Promise<void> }[] = [];
  let topologyBefore: TopologySnapshot | null = null;
  let topologyAfter: TopologySnapshot | null = null;
  let steady = { from: 0, to: 0 };
  const readBacks = new Map<string, ReadBack | { error: string }>();
  const progress = setInterval(() => reporter.progress?.({ t: clock.now(), ...history.counts }), 250);
  progress.unref();

  const doRevert = async (r: (typeof reverts)[number]) => {
    reverts.splice(reverts.indexOf(r), 1);
    await r.revert();
    r.record.tReverted = clock.now();
    emit({
      t: r.record.tReverted,
      source: 'fault',
      type: 'fault-reverted',
      node: r.record.nodes.join(','),
      data: { action: r.record.action },
    });
  };
  /** Sleeps until `t`, carrying out any revert that falls due first. */
  const waitUntil = async (t: number) => {
    for (;;) {
      checkpoint();
      const due = reverts.filter((r) => r.at <= t).sort((a, b) => a.at - b.at)[0];
      const until = due ? due.at : t;
      const wait = until - clock.now();
      if (wait > 0) await sleep(wait, abort.signal);
      checkpoint();
      if (!due) return;
      await doRevert(due);
    }
  };

  try {
    stack = await phase('provision', () =>
      provider.provisionRedisChain(scenario.stack.redis, { runId, clock, onEvent: emit }),
    );
    checkpoint();
    topologyBefore = await stack.topology();
    const live = stack;
    probes = scenario.probes.map(
      (spec) =>
        new RedisWriterProbe(spec, {
          clock,
          history,
          registry: live.registry(),
          endpoint: (node) => live.endpoint(node),
          key: `chaos:${runId}:${spec.name}`,
        }),
    );

    await phase('steady-state', async () => {
      steady = { from: clock.now(), to: 0 };
      for (const p of probes) p.start();
      await waitUntil(steady.from + scenario.steadyState.durationMs);
      steady.to = clock.now();
      const s = probeStats(history.all(), probeName, steady.from, steady.to);
      const ratio = s.attempted ? s.ok / s.attempted : 0;
      if (scenario.steadyState.durationMs > 0 && ratio < scenario.steadyState.minSuccessRatio) {
        status = 'aborted';
        throw new InfraError(
          'STEADY_STATE_FAILED',
          `before any fault only ${s.ok} of ${s.attempted} writes succeeded (${(ratio * 100).toFixed(1)}%, needed ${(scenario.steadyState.minSuccessRatio * 100).toFixed(1)}%)`,
          { hint: "the stack was not healthy; see the nodes' logs in the run folder" },
        );
      }
    });

    const steps = [...scenario.faults].sort((a, b) => a.at - b.at);
    await phase('inject', async () => {
      for (const step of steps) {
        await waitUntil(steady.to + step.at);
        await injectStep(step);
      }
    });

    async function injectStep(step: FaultStep) {
      const s = live;
      // Targets are resolved against the registry's records at this moment, not the provisioned order.
      const topo = await readChain(s.registry());
      const nodes = resolveTarget(step.target, topo, s.nodes());
      const peers = step.from
        ? resolveTarget(step.from, topo, s.nodes()).filter((p) => !nodes.includes(p))
        : undefined;
      if (step.quiesceProbes) await Promise.all(probes.map((p) => p.pause()));
      const tInject = clock.now();
      emit({
        t: tInject,
        source: 'fault',
        type: 'fault-injected',
        node: nodes.map((n) => n.name).join(','),
        data: {
          action: step.action,
          target: step.target,
          ...(peers ? { peers: peers.map((p) => p.name) } : {}),
        },
      });
      try {
        const applied = await s.inject({ action: step.action, nodes, ...(peers ? { peers } : {}) });
        const record: FaultRecord = {
          action: step.action,
          target: step.target,
          nodes: applied.nodes,
          ...(peers ? { peers: peers.map((p) => p.name) } : {}),
          method: applied.method,
          tInject,
          tApplied: clock.now(),
          measured: false,
        };
        faults.push(record);
        emit({
          t: record.tApplied,
          source: 'fault',
          type: 'fault-applied',
          node: record.nodes.join(','),
          data: { action: step.action, method: applied.method, appliedMs: record.tApplied - tInject },
        });
        if (applied.revert) {
          reverts.push({
            at: step.durationMs === undefined ? Number.POSITIVE_INFINITY : record.tApplied + step.durationMs,
            record,
            revert: applied.revert,
          });
        }
      } finally {
        if (step.quiesceProbes) for (const p of probes) p.resume();
      }
    }

    const measuredIndex = Math.max(
      0,
      steps.findIndex((s) => s.measure),
    );
    if (faults[measuredIndex]) faults[measuredIndex]!.measured = true;
    const lastInject = faults.at(-1)?.tInject ?? clock.now();

    await phase('observe', () => waitUntil(lastInject + scenario.observeMs));
    await phase('revert', async () => {
      for (const r of [...reverts].sort((a, b) => a.at - b.at)) await doRevert(r);
    });

    await phase('recover', async () => {
      const deadline = clock.now() + scenario.recovery.timeoutMs;
      const faultAt = faults[measuredIndex]?.tInject ?? 0;
      for (;;) {
        checkpoint();
        const now = clock.now();
        // The checker's own judgement, so the run stops exactly when the result will say recovered.
        if (availability(history.all(), faultAt, probeName, scenario.recovery.stableMs).recovered) return;
        if (now > deadline) {
          emit({
            t: now,
            source: 'harness',
            type: 'not-recovered',
            data: { waitedMs: scenario.recovery.timeoutMs },
          });
          return;
        }
        await sleep(50, abort.signal);
      }
    });
    for (const p of probes) await p.stop();

    await phase('read-back', async () => {
      for (const p of probes) {
        try {
          readBacks.set(p.name, await p.readBack());
        } catch (err) {
          readBacks.set(p.name, { error: errorMessage(err) });
          emit({
            t: clock.now(),
            source: 'harness',
            type: 'read-back-failed',
            data: { probe: p.name, error: errorMessage(err) },
          });
        }
      }
    });
    topologyAfter = await stack.topology().catch(() => null);
  } catch (err) {
    failure =
      err instanceof ChaosError ? err : new InfraError('RUN_FAILED', errorMessage(err), { cause: err });
    if (failure instanceof InterruptedError) status = 'interrupted';
    else if (status !== 'aborted') status = 'error';
  } finally {
    clearTimeout(limit);
    clearInterval(progress);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    for (const p of probes) await p.stop().catch(() => {});
  }

  let result: RunResult | undefined;
  let teardownError: ChaosError | undefined;
  try {
    const measured = faults.find((f) => f.measured) ?? faults[0];
    const rb = readBacks.get(probeName);
    const verdictInput = rb && 'values' in rb ? rb.values : null;
    const checked = await phase('check', async () =>
      check({
        history: history.all(),
        probe: probeName,
        faultAt: measured?.tInject ?? null,
        readBack: verdictInput,
        expect: scenario.expect,
        stableMs: scenario.recovery.stableMs,
      }),
    );

    result = {
      schema: RESULT_SCHEMA,
      schemaVersion: RESULT_SCHEMA_VERSION,
      runId,
      scenario: { name: scenario.name, description: scenario.description.trim(), file: loaded.file },
      provider: provider.name,
      ...(stack?.images ? { images: stack.images } : {}),
      status,
      verdict: status === 'completed' ? checked.verdict : 'unknown',
      ...(failure
        ? {
            error: {
              code: failure.code,
              kind: failure.kind,
              message: failure.message,
              ...(failure.hint ? { hint: failure.hint } : {}),
            },
          }
        : {}),
      startedAt: startedAt.toISOString(),
      clock: { origin: startedAt.toISOString(), unit: 'ms', source: 'process.hrtime.bigint' },
      durationMs: 0,
      runDir: store.dir,
      harness,
      phases,
      faults,
      probes: probes.map((p) => ({
        name: p.name,
        kind: 'redis-writer',
        settings: p.settings(),
        ...probeStats(history.all(), p.name),
        steadyState: probeStats(history.all(), p.name, steady.from, steady.to || Number.POSITIVE_INFINITY),
        series: outcomeSeries(history.all(), p.name),
        historyFile: 'history.jsonl',
      })),
      figures: {
        availability: checked.availability,
        writes: checked.writes,
        readBack: rb ? ('values' in rb ? { node: rb.node, size: rb.values.size } : rb) : null,
      },
      head: headChange(topologyBefore, topologyAfter, events, measured?.tInject ?? 0),
      topology: { before: topologyBefore, after: topologyAfter },
      expectations: checked.expectations,
      ...(checked.error ? { checkerError: checked.error } : {}),
      timeline: [],
    };

    await phase('report', async () => {
      await history.close();
    });
  } finally {
    // Teardown runs whatever happened before it, also when checking or reporting failed.
    await phase('teardown', async () => {
      if (!stack) return;
      await stack.collectLogs(store.logsDir).catch(() => {});
      if (opts.keepStack) stack.release();
      else await stack.teardown();
    }).catch((err) => {
      teardownError = new InfraError('TEARDOWN_FAILED', `teardown failed: ${errorMessage(err)}`, {
        hint: 'run `chaos cleanup`',
      });
    });
  }
  if (teardownError && !failure) {
    result.status = 'error';
    result.verdict = 'unknown';
    result.error = {
      code: teardownError.code,
      kind: teardownError.kind,
      message: teardownError.message,
      hint: teardownError.hint ?? '',
    };
  }

  const storeError =
    eventWriteError ?? (history.writeError ? `history.jsonl: ${history.writeError.message}` : undefined);
  if (storeError) result.storeError = storeError;
  result.phases = phases;
  result.timeline = [...events].sort((a, b) => a.t - b.t);
  result.durationMs = clock.now();
  store.writeJson('result.json', result);
  reporter.runEnd?.(result);
  return result;
}
