import { randomBytes } from 'node:crypto';
import { NODE_IMAGE, bundleAgents } from '../agents/bundle.ts';
import { REGISTRY_PORT } from '../agents/registry/protocol.ts';
import type { ConvergenceFigures } from '../checker/index.ts';
import { firstInvoke, probeStats } from '../checker/stats.ts';
import { measurementWindows, windowAvailability } from '../checker/windows.ts';
import { type Clock, MonotonicClock, sleep } from '../core/clock.ts';
import { ChaosError, InfraError, ScenarioError, errorMessage } from '../core/errors.ts';
import type { TimelineEvent } from '../core/events.ts';
import type { FaultAction } from '../core/faults.ts';
import { History } from '../core/history.ts';
import type { ContainerPlan, ImageRef, Provider, Stack } from '../core/provider.ts';
import type { PhaseName, PhaseRecord, RunResult, RunStatus } from '../core/result.ts';
import type { SystemState } from '../core/result.ts';
import type { Controller, PlanContext, Probe } from '../core/system.ts';
import { attachStack } from '../infra/local/attach.ts';
import { dockerClient } from '../infra/local/docker.ts';
import type { AttachSpec } from '../scenarios/attach.ts';
import type { LoadedScenario } from '../scenarios/load.ts';
import { type ActiveSystem, type Scenario, activeSystems, isStep } from '../scenarios/schema.ts';
import { probeOfKind } from '../systems/index.ts';
import { AbortGuard, describeBreach } from './abort-guard.ts';
import { attachGroups, attachNotes, attachedSystems, checkAttachedTargets } from './attach.ts';
import { ConvergenceWatcher } from './convergence.ts';
import { FaultInjector } from './fault-injector.ts';
import { type ReadBackOutcome, buildResult } from './result-builder.ts';
import { RunContext } from './run-context.ts';
import { RunStore, harnessInfo } from './run-store.ts';

/** How long the steady state waits for every probe's first request before it begins regardless (ms). */
const PROBE_START_BOUND_MS = 30_000;

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
  /** Called with the run id as soon as there is one, before anything is provisioned. */
  onRunId?: (runId: string) => void;
}

/** The scenario's own waits before recovery: what a run can not be faster than. */
export function scenarioWaitsMs(s: Scenario): number {
  const lastAt = Math.max(...s.faults.map((f) => f.at));
  const lastRevert = Math.max(...s.faults.map((f) => f.at + (f.durationMs ?? 0)));
  return s.steadyState.durationMs + Math.max(lastAt + s.observeMs, lastRevert);
}

/** The default time limit: the scenario's waits, its recovery and convergence bounds, two minutes. */
export function defaultTimeLimitMs(s: Scenario): number {
  return scenarioWaitsMs(s) + s.recovery.timeoutMs + s.recovery.convergenceTimeoutMs + 120_000;
}

/**
 * Checks a scenario against a provider before anything starts: the faults it needs must be
 * supported here (its targets were checked when it was loaded). Throws ScenarioError (exit 2).
 */
export function preflight(loaded: LoadedScenario, provider: Provider): void {
  const { scenario, file } = loaded;
  for (const f of scenario.faults) {
    if (isStep(f.action)) continue; // a system's runbook step, not the provider's fault
    const s = provider.supports({ action: f.action as FaultAction, mode: f.mode, method: f.method });
    if (!s.ok)
      throw new ScenarioError(
        'FAULT_UNSUPPORTED',
        `${file}: fault '${f.action}' cannot run on the ${provider.name} provider here: ${s.reason}`,
        {
          hint: 'provide what the reason names, or choose another fault (kill, stop and pause need only Docker)',
        },
      );
  }
}

/** The images a scenario's stack needs: its systems', and the node image the registry runs on. */
export function imagesFor(scenario: Scenario): ImageRef[] {
  // A stack attached to runs the user's images; the harness starts nothing.
  if (attachOf(scenario)) return [];
  const byName = new Map<string, ImageRef>();
  for (const { def } of activeSystems(scenario)) for (const i of def.images) byName.set(i.name, i);
  byName.set(NODE_IMAGE.name, NODE_IMAGE);
  return [...byName.values()];
}

/** The endpoint registry's container: the node image running the agents' bundle. */
function registryPlan(bundle: { source: string; target: string }): ContainerPlan {
  return {
    image: 'node',
    part: 'registry',
    command: ['node', bundle.target],
    env: { CHAOS_ENTRY: 'registry', REGISTRY_PORT: String(REGISTRY_PORT) },
    ports: [REGISTRY_PORT],
    readyLog: /registry-ready/,
    files: [bundle],
    events: 'registry',
  };
}

const BUNDLE_TARGET = '/opt/chaos/agents.cjs';

/**
 * The lifecycle of a game day:
 * provision -> steady state -> inject -> observe -> revert -> recover -> converge -> read back
 * -> check -> report -> teardown. Teardown runs whatever happened before it, and every pending
 * revert is attempted first. The result is written to the run folder at the end, also when
 * the run failed.
 */
export async function runScenario(opts: RunOptions): Promise<RunResult> {
  const { loaded, provider, reporter = {} } = opts;
  const { scenario } = loaded;
  const clock = opts.clock ?? new MonotonicClock();
  preflight(loaded, provider);
  for (const kind of new Set(scenario.probes.map((p) => p.kind)))
    await probeOfKind(kind)?.probe.preflight?.();
  // Docker answers, images are there: checked before the run folder exists, so a machine that
  // cannot run anything gets one line and no folder. Not under the time limit (pulls are bounded).
  await provider.prepare(imagesFor(scenario));
  const bundle = attachOf(scenario)
    ? ''
    : await bundleAgents(
        Object.assign({}, ...activeSystems(scenario).map((s) => s.def.agents)) as Record<string, string>,
        // Local agents are given the http:// registry: the AWS SDK stays out of their bundle.
        { route53: provider.name !== 'local' },
      );

  const runId = randomBytes(4).toString('hex');
  opts.onRunId?.(runId);
  const startedAt = new Date(clock.toWall(0));
  const harness = harnessInfo(opts.argv);
  const store = RunStore.create(opts.runsDir, scenario, runId, startedAt, harness);
  reporter.runStart?.({ runId, scenario: scenario.name, runDir: store.dir });
  const run = new RunContext(
    clock,
    store,
    reporter,
    opts.timeLimitMs ?? defaultTimeLimitMs(scenario),
    opts.signal,
  );
  const game = new GameDay(run, loaded, provider, runId, { source: bundle, target: BUNDLE_TARGET });
  const progress = setInterval(() => reporter.progress?.({ t: clock.now(), ...game.history.counts }), 250);
  progress.unref();

  let status: RunStatus = 'completed';
  let failure: ChaosError | undefined;
  try {
    await game.play();
  } catch (err) {
    // Once the run was told to stop (a signal, the time limit), whatever failed next failed
    // because of it: say why the run stopped, not what broke on the way out.
    failure = run.signal.aborted
      ? run.stopReason()
      : err instanceof ChaosError
        ? err
        : new InfraError('RUN_FAILED', errorMessage(err), { cause: err });
    status = run.wasHalted
      ? 'halted'
      : failure.kind === 'interrupted'
        ? 'interrupted'
        : game.unhealthy
          ? 'aborted'
          : 'error';
  } finally {
    clearInterval(progress);
    await game.wrapUp();
  }

  let result: RunResult | undefined;
  try {
    result = await run.phase('check', async () =>
      buildResult({
        runId,
        scenario,
        file: loaded.file,
        provider: provider.name,
        ...(game.stack?.images ? { images: game.stack.images } : {}),
        status,
        ...(failure ? { failure } : {}),
        startedAt,
        harness,
        runDir: store.dir,
        phases: run.phases,
        faults: game.faults,
        history: game.history.log,
        events: run.events,
        steady: game.steady,
        probes: game.probes.map((p, i) => ({
          spec: scenario.probes[i]!,
          system: p.system,
          settings: p.settings(),
          ...(p.delivery?.() ? { delivery: p.delivery()! } : {}),
        })),
        readBacks: game.readBacks,
        systems: game.systems.map((s) => ({
          name: s.def.name,
          kind: s.def.kind,
          before: game.before.get(s.def.name) ?? null,
          after: game.after.get(s.def.name) ?? null,
          convergence: game.convergence.get(s.def.name) ?? null,
          ...(s.def.failoverThresholdMs
            ? { failoverThresholdMs: s.def.failoverThresholdMs(s.spec as never) }
            : {}),
          lagSamples: game.watchers.get(s.def.name)?.lagSamples ?? [],
        })),
        durationMs: 0,
      }),
    );
    await run.phase('report', () => game.history.close());
  } finally {
    // Teardown runs whatever happened before it, also when checking or reporting failed.
    await run
      .phase('teardown', async () => {
        const stack = game.stack;
        if (!stack) return;
        await stack.collectLogs(store.logsDir).catch(() => {});
        if (opts.keepStack) stack.release();
        else await stack.teardown();
      })
      .catch((err) => {
        const teardownError = new InfraError('TEARDOWN_FAILED', `teardown failed: ${errorMessage(err)}`, {
          hint: `run \`chaos cleanup --run ${runId}\``,
        });
        if (result && !failure) {
          result.status = 'error';
          result.verdict = 'unknown';
          result.expectations = [];
          result.error = {
            code: teardownError.code,
            kind: teardownError.kind,
            message: teardownError.message,
            hint: teardownError.hint ?? '',
          };
        }
      });
    run.close();
    // Judged: the history's spill file goes now, not when the log is collected (a game day
    // runs one scenario after another in this process).
    game.history.dispose();
  }
  result.warnings.push(...attachNotes(game.stack, game.systems));
  const storeError =
    run.storeError ??
    (game.history.writeError ? `history.jsonl: ${game.history.writeError.message}` : undefined);
  if (storeError) result.storeError = storeError;
  result.phases = run.phases;
  result.timeline = [...run.events].sort((a, b) => a.t - b.t);
  result.durationMs = clock.now();
  store.writeJson('result.json', result);
  // What the caller reports from (a game day's report.html and junit.xml, the summary) is what
  // the run folder holds: the events' and errors' words with the scenario's secrets masked.
  const shown = store.masked(result);
  reporter.runEnd?.(shown);
  return shown;
}

/** One game day's moving parts, phase by phase. Every method reads on its own. */
class GameDay {
  readonly history: History;
  readonly systems: ActiveSystem[];
  stack: Stack | undefined;
  probes: Probe[] = [];
  injector: FaultInjector | undefined;
  readonly watchers = new Map<string, ConvergenceWatcher>();
  steady: { from: number; to: number } | null = null;
  readonly before = new Map<string, SystemState>();
  readonly after = new Map<string, SystemState>();
  readonly convergence = new Map<string, ConvergenceFigures>();
  readonly readBacks = new Map<string, ReadBackOutcome | { error: string }>();
  /** The steady state failed: the stack was not healthy before any fault. */
  unhealthy = false;

  constructor(
    private readonly run: RunContext,
    private readonly loaded: LoadedScenario,
    private readonly provider: Provider,
    private readonly runId: string,
    private readonly bundle: { source: string; target: string },
  ) {
    this.history = new History(run.store.path('history.jsonl'));
    const attach = attachOf(loaded.scenario);
    this.systems = attach ? attachedSystems(attach) : activeSystems(loaded.scenario);
  }

  get faults() {
    return this.injector?.records ?? [];
  }

  private get scenario(): Scenario {
    return this.loaded.scenario;
  }

  async play(): Promise<void> {
    const { run, scenario } = this;
    this.stack = await run.phase('provision', () => this.provision());
    run.checkpoint();
    const stack = this.stack;
    this.startControllers(stack);
    for (const s of this.systems) this.before.set(s.def.name, await s.def.observe(stack, s.spec));
    this.probes = scenario.probes.map((spec) =>
      // An attached system's own probe of the kind first (it knows how that stack is reached).
      (
        this.systems.flatMap((s) => s.def.probes).find((p) => p.kind === spec.kind) ??
        probeOfKind(spec.kind)!.probe
      ).create(spec, {
        runId: this.runId,
        clock: run.clock,
        history: this.history,
        stack,
      }),
    );
    this.injector = new FaultInjector(run, stack, this.probes, this.systems);
    for (const s of this.systems) {
      this.watchers.set(
        s.def.name,
        new ConvergenceWatcher(
          run.clock,
          () => s.def.observe(stack, s.spec),
          (state) => [...this.notBack(state), ...this.agentsGone(state), ...s.def.invariants(state, s.spec)],
        ),
      );
    }

    await run.phase('steady-state', async () => {
      for (const p of this.probes) await p.prepare?.();
      await this.steadyState();
    });
    const origin = this.steady!.to;
    for (const w of this.watchers.values()) w.start();
    const rule = scenario.abort;
    const guard = rule
      ? new AbortGuard(
          rule,
          this.probes.map((p) => p.name),
          // The last seconds only: the guard looks at what completed in the last one.
          () => this.history.completedAfter(run.clock.now() - 10_000),
          () => run.clock.now(),
          (b) => {
            run.emit({ t: run.clock.now(), source: 'harness', type: 'halted', data: { ...b, rule } });
            run.halt(describeBreach(b));
          },
        )
      : undefined;
    guard?.start();
    try {
      await this.faultsAndRecovery(origin);
    } finally {
      guard?.stop();
    }
    for (const p of this.probes) await p.stop();
    await run.phase('read-back', () => this.readBack());
  }

  /** inject -> observe -> revert -> recover -> converge: where the abort rule watches. */
  private async faultsAndRecovery(origin: number): Promise<void> {
    const { run, scenario } = this;
    await run.phase('inject', () => this.injector!.runSchedule(scenario.faults, origin));
    // A fault that hit nothing changed nothing: time is counted from the last one that did.
    const lastInject = Math.max(
      origin,
      ...this.faults.filter((f) => f.status === 'applied').map((f) => f.tInject),
    );
    await run.phase('observe', () =>
      this.injector!.waitUntil(Math.max(lastInject + scenario.observeMs, this.injector!.lastDue())),
    );
    await run.phase('revert', async () => {
      const error = await this.injector!.revertAll();
      if (error) throw error;
    });
    await run.phase('recover', () => this.recover());
    await run.phase('converge', () => this.converge(lastInject));
  }

  /**
   * Nodes that do not answer although no fault holds them down: only a killed node stays away
   * for good; a stopped or paused one is back once its fault is reverted, and must rejoin.
   */
  private notBack(state: SystemState): string[] {
    const killed = new Set(
      this.faults.filter((f) => f.action === 'kill' && f.status === 'applied').flatMap((f) => f.nodes),
    );
    const held = new Set(this.injector?.heldDown() ?? []);
    return state.nodes
      .filter((n) => !n.reachable && !killed.has(n.name) && !held.has(n.name))
      .map((n) => `${n.name} does not answer, though no fault holds it down any more`);
  }

  /**
   * A node whose agent exited for good is not redundant, however its server looks: nothing
   * watches it, and it would never take over. The last word in arrival order counts: an agent
   * started again (a power-on) after it exited is back.
   */
  private agentsGone(state: SystemState): string[] {
    const last = new Map<string, TimelineEvent>();
    for (const e of this.run.events)
      if (e.node && (e.type === 'agent-exited' || e.type === 'agent-started')) last.set(e.node, e);
    return state.nodes
      .filter((n) => last.get(n.name)?.type === 'agent-exited')
      .map(
        (n) =>
          `${n.name}'s agent exited (code ${String(last.get(n.name)!.data?.exitCode ?? '?')}) and was not restarted: nothing watches this node or fails over to it`,
      );
  }

  private planContext(): PlanContext {
    return { runId: this.runId, registryUrl: `http://registry:${REGISTRY_PORT}`, bundle: this.bundle };
  }

  /** The registry and every system's nodes, then each system formed (replication up, records written). */
  private async provision(): Promise<Stack> {
    const { run, scenario } = this;
    const attach = attachOf(scenario);
    if (attach) return this.attach(attach);
    const ctx = this.planContext();
    const stack = await this.provider.provision(
      {
        registry: registryPlan(this.bundle),
        nodes: this.systems.flatMap((s) => s.def.plan(s.spec, ctx)),
        sharedVolumes: this.systems.flatMap((s) => s.def.sharedVolumes ?? []),
      },
      {
        runId: this.runId,
        scenarioName: scenario.name,
        clock: run.clock,
        onEvent: run.emit,
        signal: run.signal,
        logsDir: run.store.logsDir,
        faults: scenario.faults
          .filter((f) => !isStep(f.action))
          .map((f) => ({ action: f.action as FaultAction, mode: f.mode, method: f.method })),
      },
    );
    // From here on the stack is ours to tear down, also if a system never forms.
    this.stack = stack;
    await Promise.all(this.systems.map((s) => s.def.awaitReady(stack, s.spec, run.signal)));
    return stack;
  }
  /** A stack the user runs: found and attached to, nothing started; then each system whole. */
  private async attach(attach: AttachSpec): Promise<Stack> {
    const { run, scenario } = this;
    if (this.provider.name !== 'local')
      throw new ScenarioError(
        'ATTACH_LOCAL_ONLY',
        `${this.loaded.file}: stack.attach finds containers on the local Docker engine; the ${this.provider.name} provider cannot attach`,
        { hint: 'run it with the local provider' },
      );
    const stack = await attachStack(dockerClient(), attachGroups(attach), {
      runId: this.runId,
      scenarioName: scenario.name,
      clock: run.clock,
      onEvent: run.emit,
      signal: run.signal,
    });
    this.stack = stack;
    checkAttachedTargets(this.loaded.file, scenario.faults, stack);
    await Promise.all(this.systems.map((s) => s.def.awaitReady(stack, s.spec, run.signal)));
    return stack;
  }

  private async steadyState(): Promise<void> {
    const { run, scenario } = this;
    const started = run.clock.now();
    for (const p of this.probes) p.start();
    // The steady state begins once every probe makes requests: k6 sets up its VUs first, which on
    // a busy machine took longer than a 4 s steady state (0 of 0 writes, a stack taken for sick).
    const from = await this.probesStarted(started);
    await run.sleepUntil(from + scenario.steadyState.durationMs);
    this.steady = { from, to: run.clock.now() };
    if (scenario.steadyState.durationMs === 0) return;
    for (const p of this.probes) {
      const s = probeStats(this.history.log, p.name, from, this.steady.to);
      const ratio = s.attempted ? s.ok / s.attempted : 0;
      if (ratio < scenario.steadyState.minSuccessRatio) {
        this.unhealthy = true;
        throw new InfraError(
          'STEADY_STATE_FAILED',
          `before any fault only ${s.ok} of ${s.attempted} writes of probe ${p.name} succeeded (${(ratio * 100).toFixed(1)}%, needed ${(scenario.steadyState.minSuccessRatio * 100).toFixed(1)}%)`,
          { hint: "the stack was not healthy; see the nodes' logs in the run folder" },
        );
      }
    }
  }

  /**
   * When every probe has made its first request since `started`: the latest of their first
   * invoke times, polled from the history; at most PROBE_START_BOUND_MS after `started` (a
   * probe that made none by then is judged by the steady state as it stands).
   */
  private async probesStarted(started: number): Promise<number> {
    const { run } = this;
    const firsts = new Map<string, number>();
    while (firsts.size < this.probes.length && run.clock.now() - started < PROBE_START_BOUND_MS) {
      for (const p of this.probes) {
        if (firsts.has(p.name)) continue;
        const t = firstInvoke(this.history.log, p.name, started, Number.POSITIVE_INFINITY, true);
        if (t !== null) firsts.set(p.name, t);
      }
      if (firsts.size < this.probes.length) await run.sleepUntil(run.clock.now() + 20);
    }
    return firsts.size < this.probes.length ? run.clock.now() : Math.max(started, ...firsts.values());
  }

  /** Waits until every measured window has recovered (the checker's own judgement), or the timeout. */
  private async recover(): Promise<void> {
    const { run, scenario } = this;
    const deadline = run.clock.now() + scenario.recovery.timeoutMs;
    const windows = measurementWindows(
      this.faults,
      this.history.log,
      this.probes.map((p) => p.name),
      scenario.recovery.stableMs,
    );
    for (;;) {
      run.checkpoint();
      const pending = this.probes.flatMap((p) =>
        windows.filter(
          (w) =>
            !windowAvailability(this.history.log, w, p.name, scenario.recovery.stableMs, w.until).recovered,
        ),
      );
      if (pending.length === 0) return;
      if (run.clock.now() > deadline) {
        run.emit({
          t: run.clock.now(),
          source: 'harness',
          type: 'not-recovered',
          data: {
            waitedMs: scenario.recovery.timeoutMs,
            faults: [...new Set(pending.map((w) => w.fault + 1))],
          },
        });
        return;
      }
      await sleep(50, run.signal);
    }
  }

  /** Waits (bounded) until every system is whole again: every node that is up back in it. */
  private async converge(lastInject: number): Promise<void> {
    const { run, scenario } = this;
    const since = Math.max(lastInject, ...this.faults.map((f) => f.tReverted ?? Number.NEGATIVE_INFINITY));
    await Promise.all(
      [...this.watchers].map(async ([name, watcher]) => {
        const c = await watcher.waitConverged(
          scenario.recovery.convergenceTimeoutMs,
          Math.max(1000, scenario.recovery.stableMs),
          lastInject,
          since,
          run.signal,
        );
        this.convergence.set(name, c);
        run.emit({
          t: run.clock.now(),
          source: 'harness',
          type: c.converged ? 'converged' : 'not-converged',
          data: {
            system: name,
            ...(c.at === null ? {} : { at: c.at }),
            ...(c.converged ? {} : { violations: c.violations }),
          },
        });
      }),
    );
    run.checkpoint();
  }

  private async readBack(): Promise<void> {
    for (const p of this.probes) {
      try {
        const rb = await p.readBack();
        this.readBacks.set(p.name, { node: rb.node, values: rb.values });
      } catch (err) {
        this.readBacks.set(p.name, { error: errorMessage(err) });
        this.run.emit({
          t: this.run.clock.now(),
          source: 'harness',
          type: 'read-back-failed',
          data: { probe: p.name, error: errorMessage(err) },
        });
      }
    }
  }

  /**
   * After the play, whatever happened: the probes stop, every pending revert is attempted
   * (each an event; on AWS a stopped instance would stay behind otherwise), the watchers stop,
   * and every system's final state is read.
   */
  /** The systems' control planes (an Auto Scaling group), from now until the run winds up. */
  private startControllers(stack: Stack): void {
    const { run } = this;
    for (const s of this.systems) {
      for (const c of s.def.controllers?.(s.spec, {
        stack,
        plan: this.planContext(),
        clock: run.clock,
        emit: (type, node, data) =>
          run.emit({
            t: run.clock.now(),
            source: `controller:${s.def.name}`,
            type,
            ...(node ? { node } : {}),
            ...(data ? { data } : {}),
          }),
      }) ?? []) {
        this.controllers.push(c);
        c.start();
      }
    }
  }

  readonly controllers: Controller[] = [];

  async wrapUp(): Promise<void> {
    for (const p of this.probes) await p.stop().catch(() => {});
    if (this.injector?.pendingReverts) await this.injector.revertAll();
    for (const w of this.watchers.values()) await w.stop();
    for (const c of this.controllers) await c.stop().catch(() => {});
    const stack = this.stack;
    if (!stack) return;
    for (const s of this.systems) {
      const state = await s.def
        .observe(stack, s.spec)
        .catch(() => this.watchers.get(s.def.name)?.snapshot ?? null);
      if (state) this.after.set(s.def.name, state);
    }
  }
}

/** The stack a scenario attaches to instead of building one, if it does. */
export function attachOf(scenario: Pick<Scenario, 'stack'>): AttachSpec | undefined {
  return (scenario.stack as { attach?: AttachSpec }).attach;
}
