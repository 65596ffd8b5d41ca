import {
  type CreateExperimentTemplateActionInput,
  CreateExperimentTemplateCommand,
  type CreateExperimentTemplateRequest,
  type CreateExperimentTemplateTargetInput,
  DeleteExperimentTemplateCommand,
  type Experiment,
  type FisClient,
  GetExperimentCommand,
  ListExperimentResolvedTargetsCommand,
  ListExperimentTemplatesCommand,
  ListExperimentsCommand,
  StartExperimentCommand,
  StopExperimentCommand,
} from '@aws-sdk/client-fis';
import { type Clock, sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError, UsageError, errorMessage } from '../../core/errors.ts';
import type { TimelineEvent } from '../../core/events.ts';
import { awsError, awsErrorParts } from './aws-clients.ts';
import { FIS_LIMITS, type PlanEntry, TAGS } from './fis-plan.ts';

/**
 * A scenario's FIS faults, carried out: the `fis-template` entries of the plan (fis-plan.ts) that
 * fall at the same `at` become ONE experiment whose actions run in parallel (`mergeEntries`);
 * `FisExperiment` creates its template, starts it, polls it with backoff until it ends, maps each
 * state it is seen in onto the run's timeline, stops it on an abort, and deletes its template in
 * `cleanup()` whatever happened.
 *
 * Times. FIS takes seconds to initialise an experiment (it resolves the targets, checks the role,
 * then starts the actions), so the StartExperiment call is not when the fault took effect. The
 * **injection instant** is the `startTime` FIS gives each action in GetExperiment, mapped from the
 * wall clock onto the run's clock (`Clock.fromWall`); the StartExperiment call time is kept
 * beside it, and the gap between them (`initMs`) is a figure of its own. AWS's clock and this
 * host's are assumed in step (NTP): the mapping is as good as that.
 */

export type FisTemplateEntry = Extract<PlanEntry, { kind: 'fis-template' }>;

/**
 * `fail`: an experiment whose target selects no resource fails (FIS's default, and this module's
 * choice, set explicitly so a change of default cannot turn it into `skip`). A fault must hit
 * something: an experiment that completed having hit nothing (a tag wrong, the instances already
 * gone) would be measured as a fault that never happened. With `skip`, FIS would skip the action
 * and report the experiment completed. One empty target fails the whole experiment, the other
 * faults merged into it included: the run stops on an error that says which.
 */
export const EMPTY_TARGET_RESOLUTION_MODE = 'fail' as const;

export interface MergeOptions {
  /** The run's id: every target and the template must be scoped to it (`chaos:run`). */
  runId: string;
  /** The experiment role; the plan's by default (which must then not be the placeholder). */
  roleArn?: string | undefined;
  /** CloudWatch alarms that stop the experiment (FIS stop conditions); the plan's by default. */
  stopAlarmArns?: readonly string[] | undefined;
}

/** One experiment: the faults it carries out, its template, and which fault each action is for. */
export interface MergedExperiment {
  at: number;
  /** The faults it carries out (1-based), in the plan's order. */
  faults: number[];
  /** The nodes each fault hits on paper. */
  nodes: Record<number, string[]>;
  template: CreateExperimentTemplateRequest;
  /** Action name -> the fault it is part of. */
  actionFault: Record<string, number>;
}

/** The `chaos:fault` tag of a template that carries several faults: `1+3`. */
export const faultTag = (faults: readonly number[]) => faults.join('+');

const isPlaceholder = (arn: string) => /[<>]/.test(arn);

function limitError(message: string, hint: string): UsageError {
  return new UsageError('FIS_LIMIT', message, { hint });
}

/** `name`, or `f<fault>-name` when several faults share the template, within FIS's 64 characters. */
function keyOf(fault: number, name: string, several: boolean, taken: Set<string>): string {
  let key = several ? `f${fault}-${name}` : name;
  if (key.length > FIS_LIMITS.nameMax) key = key.slice(0, FIS_LIMITS.nameMax);
  for (let i = 2; taken.has(key); i++) {
    const suffix = `-${i}`;
    key = key.slice(0, FIS_LIMITS.nameMax - suffix.length) + suffix;
  }
  taken.add(key);
  return key;
}

/**
 * The experiment for the `fis-template` entries at one `at`: their targets and actions under
 * unique keys (as planned for one entry; `f<fault>-` before each name for several, every
 * reference rewritten), the run's tags with `chaos:fault` naming every fault, the stop
 * conditions, `emptyTargetResolutionMode: fail`. Throws a UsageError where the result breaks
 * FIS's limits (FIS_LIMITS) or where a target is not scoped to the run: pure, so the provider can
 * check every instant of a plan before it provisions anything.
 */
export function mergeEntries(entries: readonly FisTemplateEntry[], opts: MergeOptions): MergedExperiment {
  const first = entries[0];
  if (!first) throw new Error('mergeEntries needs at least one fis-template entry');
  const at = first.at;
  const off = entries.find((e) => e.at !== at);
  if (off)
    throw new Error(`fault #${off.fault} is at +${off.at} ms, not +${at} ms: one experiment per instant`);
  const several = entries.length > 1;
  const faults = entries.map((e) => e.fault);
  const list = faults.map((f) => `#${f}`).join(', ');

  const roleArns = new Set(entries.map((e) => e.template.roleArn ?? ''));
  const roleArn = opts.roleArn ?? (roleArns.size === 1 ? [...roleArns][0]! : '');
  if (!roleArn || isPlaceholder(roleArn))
    throw new UsageError(
      'NO_ROLE_ARN',
      roleArns.size > 1 && !opts.roleArn
        ? `faults ${list} name different experiment roles (${[...roleArns].join(', ')}); one experiment has one`
        : `the experiment role of fault ${list} is a placeholder (${roleArn || 'none'})`,
      { hint: 'give the FIS experiment role with --role-arn arn:aws:iam::<account>:role/<name>' },
    );

  const targets: Record<string, CreateExperimentTemplateTargetInput> = {};
  const actions: Record<string, CreateExperimentTemplateActionInput> = {};
  const actionFault: Record<string, number> = {};
  const takenTargets = new Set<string>();
  const takenActions = new Set<string>();
  let stack: string | undefined;
  for (const e of entries) {
    const t = e.template;
    const tags = t.tags ?? {};
    if (tags[TAGS.run] !== opts.runId)
      throw new UsageError(
        'WRONG_RUN',
        `the template of fault #${e.fault} is tagged ${TAGS.run}=${tags[TAGS.run] ?? '(none)'}, and this run is ${opts.runId}`,
        { hint: 'plan the faults with the run id of the stack they are for (planFaults({runId}))' },
      );
    stack ??= tags[TAGS.stack];
    const targetKey: Record<string, string> = {};
    for (const [name, target] of Object.entries(t.targets ?? {})) {
      if (target.resourceTags?.[TAGS.run] !== opts.runId || target.resourceArns?.length)
        throw new UsageError(
          'WRONG_RUN',
          `target ${name} of fault #${e.fault} does not select by ${TAGS.run}=${opts.runId} alone: it could reach what is not this run's`,
          { hint: 'every target selects by the run tag (fis-plan.ts does so)' },
        );
      targetKey[name] = keyOf(e.fault, name, several, takenTargets);
      targets[targetKey[name]!] = target;
    }
    const actionKey: Record<string, string> = {};
    for (const name of Object.keys(t.actions ?? {}))
      actionKey[name] = keyOf(e.fault, name, several, takenActions);
    for (const [name, action] of Object.entries(t.actions ?? {})) {
      const key = actionKey[name]!;
      actions[key] = {
        ...action,
        ...(action.targets
          ? {
              targets: Object.fromEntries(
                Object.entries(action.targets).map(([type, target]) => [type, targetKey[target] ?? target]),
              ),
            }
          : {}),
        ...(action.startAfter ? { startAfter: action.startAfter.map((a) => actionKey[a] ?? a) } : {}),
      };
      actionFault[key] = e.fault;
    }
  }

  const actionCount = Object.keys(actions).length;
  if (actionCount > FIS_LIMITS.actionsPerTemplate)
    throw limitError(
      `faults ${list} at +${at} ms need ${actionCount} actions in one experiment, and FIS takes at most ${FIS_LIMITS.actionsPerTemplate} per template (quota L-0BFE6B67)`,
      'move some of these faults to another instant (each instant is one experiment), or target zones rather than nodes',
    );
  const parallel = Object.values(actions).filter((a) => !a.startAfter?.length).length;
  if (parallel > FIS_LIMITS.parallelActionsPerExperiment)
    throw limitError(
      `faults ${list} at +${at} ms need ${parallel} actions at once, and FIS runs at most ${FIS_LIMITS.parallelActionsPerExperiment} in parallel per experiment (quota L-EB051440, not adjustable)`,
      'move some of these faults to another instant (each instant is one experiment), or target zones rather than nodes',
    );

  const alarms = opts.stopAlarmArns
    ? [...new Set(opts.stopAlarmArns)]
    : [
        ...new Set(
          entries.flatMap((e) =>
            (e.template.stopConditions ?? [])
              .filter((s) => s.source === 'aws:cloudwatch:alarm' && s.value)
              .map((s) => s.value!),
          ),
        ),
      ];
  if (alarms.length > FIS_LIMITS.stopConditionsPerTemplate)
    throw limitError(
      `FIS takes at most ${FIS_LIMITS.stopConditionsPerTemplate} stop conditions per template (quota L-872EC72B); ${alarms.length} were given`,
      'give at most 5 --stop-alarm',
    );

  const description = several
    ? `chaos-harness ${stack ?? ''} faults ${list} at +${at} ms: ${entries.map((e) => `${e.action} ${e.target}`).join('; ')}`
    : (first.template.description ?? `chaos-harness ${stack ?? ''} fault #${first.fault}`);
  return {
    at,
    faults,
    nodes: Object.fromEntries(entries.map((e) => [e.fault, e.nodes])),
    actionFault,
    template: {
      description: description.slice(0, FIS_LIMITS.descriptionMax),
      roleArn,
      stopConditions: alarms.length
        ? alarms.map((value) => ({ source: 'aws:cloudwatch:alarm', value }))
        : [{ source: 'none' }],
      targets,
      actions,
      experimentOptions: { emptyTargetResolutionMode: EMPTY_TARGET_RESOLUTION_MODE },
      tags: {
        ...(stack ? { [TAGS.stack]: stack } : {}),
        [TAGS.run]: opts.runId,
        'chaos:fault': faultTag(faults),
      },
    },
  };
}

/**
 * Every instant of a plan that FIS carries out, as one experiment each, in time order; throws on
 * the first that breaks a limit. The provider calls it before provisioning, so a plan FIS cannot
 * run as merged fails before anything is created.
 */
export function experimentsOf(entries: readonly PlanEntry[], opts: MergeOptions): MergedExperiment[] {
  const byAt = new Map<number, FisTemplateEntry[]>();
  for (const e of entries) {
    if (e.kind !== 'fis-template') continue;
    byAt.set(e.at, [...(byAt.get(e.at) ?? []), e]);
  }
  return [...byAt.keys()].sort((a, b) => a - b).map((at) => mergeEntries(byAt.get(at)!, opts));
}

/** `PT1H30M4S` -> 5404000 ms; undefined for what is not an ISO 8601 duration of hours, minutes, seconds. */
export function parseIsoDuration(text: string): number | undefined {
  const m = /^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(text);
  if (!m || text === 'PT') return undefined;
  const [h, min, s] = [m[1], m[2], m[3]].map((x) => Number(x ?? 0)) as [number, number, number];
  return Math.round(((h * 60 + min) * 60 + s) * 1000);
}

/** How long FIS may take beyond the actions' own durations: initialising, stopping and booting instances. */
export const EXPERIMENT_SLACK_MS = 10 * 60_000;

/** The longest duration an action of the template asks for (`duration`, `startInstancesAfterDuration`). */
export function longestActionMs(template: CreateExperimentTemplateRequest): number {
  let longest = 0;
  for (const a of Object.values(template.actions ?? {}))
    for (const key of ['duration', 'startInstancesAfterDuration'])
      longest = Math.max(longest, parseIsoDuration(a.parameters?.[key] ?? '') ?? 0);
  return longest;
}

/** Polling: the first delay, each next one `factor` times longer up to `maxMs`; back to the first after a change. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const POLL_BACKOFF: Backoff = { initialMs: 250, maxMs: 2000, factor: 2 };

/** The delay after `previous` (the first delay when there is none, or when something changed). */
export function nextDelay(previous: number | undefined, b: Backoff = POLL_BACKOFF, changed = false): number {
  if (previous === undefined || changed) return b.initialMs;
  return Math.min(b.maxMs, previous * b.factor);
}

/** The experiment's states as FIS reports them, and what each means here. */
export const EXPERIMENT_STATES = {
  pending: { ended: false, failed: false },
  initiating: { ended: false, failed: false },
  running: { ended: false, failed: false },
  stopping: { ended: false, failed: false },
  completed: { ended: true, failed: false },
  stopped: { ended: true, failed: false },
  failed: { ended: true, failed: true },
  cancelled: { ended: true, failed: true },
} as const satisfies Record<string, { ended: boolean; failed: boolean }>;
export type ExperimentStatus = keyof typeof EXPERIMENT_STATES;

const known = (s: string): s is ExperimentStatus => s in EXPERIMENT_STATES;
export const hasEnded = (s: string | undefined) => s !== undefined && known(s) && EXPERIMENT_STATES[s].ended;

/** An action's states that say it will not start or has finished. */
const ACTION_ENDED = new Set(['completed', 'failed', 'stopped', 'cancelled', 'skipped']);

/** The timeline event type for an experiment status: `fis-experiment-running`; `fis-experiment-state` for one this module does not know. */
export function stateEventType(status: string): string {
  return known(status) ? `fis-experiment-${status}` : 'fis-experiment-state';
}

/** What one GetExperiment showed, kept to tell the next one's changes. */
export interface ExperimentView {
  status: string;
  reason?: string | undefined;
  actions: Record<
    string,
    { status?: string | undefined; startTime?: number | undefined; endTime?: number | undefined }
  >;
}

export interface ObserveContext {
  experimentId: string;
  merged: Pick<MergedExperiment, 'faults' | 'nodes' | 'actionFault'>;
  clock: Clock;
  /** When the GetExperiment that returned it was answered, on the run's clock. */
  tObserved: number;
}

const wall = (d: Date | undefined) =>
  d instanceof Date && !Number.isNaN(d.getTime()) ? d.getTime() : undefined;

function viewOf(exp: Experiment): ExperimentView {
  return {
    status: exp.state?.status ?? 'pending',
    reason: exp.state?.reason,
    actions: Object.fromEntries(
      Object.entries(exp.actions ?? {}).map(([name, a]) => [
        name,
        { status: a.state?.status, startTime: wall(a.startTime), endTime: wall(a.endTime) },
      ]),
    ),
  };
}

/**
 * The timeline events between two GetExperiment answers: the experiment's state when it changed
 * (`fis-experiment-<status>`, at the instant it was seen, FIS giving no time for its states but
 * the end), each action's start (`fis-action-started`, at the startTime FIS gives, mapped onto
 * the run's clock) and end (`fis-action-ended`, at its endTime, with its state and reason). A
 * state FIS went through between two polls is not seen, and not invented.
 */
export function observe(
  previous: ExperimentView | undefined,
  exp: Experiment,
  ctx: ObserveContext,
): { view: ExperimentView; events: TimelineEvent[] } {
  const view = viewOf(exp);
  const { clock, merged, experimentId, tObserved } = ctx;
  const events: TimelineEvent[] = [];
  const all = merged.faults.flatMap((f) => merged.nodes[f] ?? []);
  const node = (nodes: readonly string[]) => (nodes.length ? { node: [...new Set(nodes)].join(',') } : {});
  if (!previous || previous.status !== view.status || previous.reason !== view.reason) {
    const end = wall(exp.endTime);
    events.push({
      t: tObserved,
      source: 'fis',
      type: stateEventType(view.status),
      ...node(all),
      data: {
        experimentId,
        status: view.status,
        ...(previous ? { previous: previous.status } : {}),
        ...(view.reason ? { reason: view.reason } : {}),
        faults: merged.faults,
        ...(hasEnded(view.status) && end !== undefined ? { tEnded: clock.fromWall(end) } : {}),
      },
    });
  }
  for (const [name, a] of Object.entries(view.actions)) {
    const before = previous?.actions[name];
    const fault = merged.actionFault[name];
    const base = {
      experimentId,
      action: name,
      actionId: exp.actions?.[name]?.actionId,
      ...(fault !== undefined ? { fault } : {}),
    };
    const nodes = fault !== undefined ? (merged.nodes[fault] ?? []) : [];
    if (a.startTime !== undefined && before?.startTime === undefined)
      events.push({
        t: clock.fromWall(a.startTime),
        source: 'fis',
        type: 'fis-action-started',
        ...node(nodes),
        data: { ...base, status: a.status },
      });
    if (a.status && ACTION_ENDED.has(a.status) && before?.status !== a.status)
      events.push({
        t: a.endTime !== undefined ? clock.fromWall(a.endTime) : tObserved,
        source: 'fis',
        type: 'fis-action-ended',
        ...node(nodes),
        data: { ...base, status: a.status, reason: exp.actions?.[name]?.state?.reason },
      });
  }
  return { view, events };
}

/** A fault's injection, as FIS carried it out. */
export interface FaultInjection {
  fault: number;
  /** The earliest startTime of its actions, on the run's clock: the instant it took effect. */
  tStarted: number | undefined;
  actions: { name: string; actionId?: string | undefined; status?: string | undefined; tStarted?: number }[];
}

/** When the experiment's actions began, on the run's clock. */
export interface FisInjection {
  experimentId: string;
  templateId: string;
  /** When StartExperiment was sent. */
  tStartCall: number;
  /** The earliest startTime of the experiment's actions: the injection instant. */
  tStarted: number;
  /** tStarted - tStartCall: how long FIS took to initialise and start the actions. */
  initMs: number;
  faults: FaultInjection[];
  /** Target name -> the resources FIS resolved it to (ARNs), where it reports them. */
  resolvedTargets?: Record<string, string[]> | undefined;
}

/**
 * The injection instant of an experiment from one GetExperiment answer: once every action has
 * started or ended without starting, each fault's earliest action startTime, mapped onto the
 * run's clock; undefined while some action is still to start, or when none started at all.
 */
export function injectionOf(
  exp: Experiment,
  merged: Pick<MergedExperiment, 'faults' | 'actionFault'>,
  clock: Clock,
  times: { tStartCall: number; templateId: string },
): FisInjection | undefined {
  const actions = Object.entries(exp.actions ?? {});
  if (!actions.length) return undefined;
  // The first wave (actions that wait for no other) must each have started or ended; an action
  // that starts after another counts once it has started.
  const waiting = actions.some(
    ([, a]) =>
      !a.startAfter?.length && wall(a.startTime) === undefined && !ACTION_ENDED.has(a.state?.status ?? ''),
  );
  if (waiting) return undefined;
  const started = actions.flatMap(([, a]) => {
    const w = wall(a.startTime);
    return w === undefined ? [] : [clock.fromWall(w)];
  });
  if (!started.length) return undefined;
  const tStarted = Math.min(...started);
  const faults = merged.faults.map((fault): FaultInjection => {
    const own = actions
      .filter(([name]) => merged.actionFault[name] === fault)
      .map(([name, a]) => {
        const w = wall(a.startTime);
        return {
          name,
          actionId: a.actionId,
          status: a.state?.status,
          ...(w !== undefined ? { tStarted: clock.fromWall(w) } : {}),
        };
      });
    const times = own.flatMap((a) => (a.tStarted !== undefined ? [a.tStarted] : []));
    return { fault, tStarted: times.length ? Math.min(...times) : undefined, actions: own };
  });
  return {
    experimentId: exp.id ?? '',
    templateId: times.templateId,
    tStartCall: times.tStartCall,
    tStarted,
    initMs: tStarted - times.tStartCall,
    faults,
  };
}

/** The one message for an experiment that failed (or was cancelled), with FIS's reasons. */
export function failureError(exp: Experiment, faults: readonly number[]): InfraError {
  const status = exp.state?.status ?? 'failed';
  const why = exp.state?.reason ?? 'no reason given';
  const actions = Object.entries(exp.actions ?? {})
    .filter(([, a]) => a.state?.status === 'failed' || a.state?.status === 'cancelled')
    .map(
      ([name, a]) =>
        `action ${name} (${a.actionId ?? '?'}) ${a.state?.status}: ${a.state?.reason ?? 'no reason'}`,
    );
  const text = [why, ...actions].join('; ');
  const hint = /target|resolv|no resources/i.test(text)
    ? `a target selected nothing (emptyTargetResolutionMode ${EMPTY_TARGET_RESOLUTION_MODE}): check that the run's instances carry ${TAGS.run} and the system's tags, and are running`
    : /not authori[sz]ed|access ?denied|permission|assume/i.test(text)
      ? "the experiment role lacks a permission its actions need, or FIS cannot assume it: see the role's policy (AWSFaultInjectionSimulator* managed policies)"
      : 'see the experiment in the FIS console, and its log if the template configures one';
  return new InfraError(
    'FIS_EXPERIMENT_FAILED',
    `FIS experiment ${exp.id ?? '?'} (${faults.length > 1 ? 'faults' : 'fault'} ${faults.map((f) => `#${f}`).join(', ')}) ${status}: ${text}`,
    { hint },
  );
}

/** How an experiment ended. */
export interface FisOutcome {
  experimentId: string;
  status: 'completed' | 'stopped';
  reason?: string | undefined;
  /** On the run's clock: when FIS says it ended, else when it was seen ended. */
  tEnded: number;
  /** Why the harness stopped it, if it did (an abort, a breach, the time bound); else FIS stopped it (a stop condition). */
  stoppedBecause?: string | undefined;
}

export interface ExperimentContext {
  fis: FisClient;
  clock: Clock;
  emit: (event: TimelineEvent) => void;
  /** Aborting it (Ctrl-C, the run's time limit, its abort rule) stops the experiment. */
  signal?: AbortSignal | undefined;
  backoff?: Backoff | undefined;
  /**
   * The bound on the whole experiment from StartExperiment, after which it is stopped and the
   * run fails: by default its longest action's duration + EXPERIMENT_SLACK_MS.
   */
  maxWaitMs?: number | undefined;
  /** How long a stop may take before cleanup gives up waiting for it (2 minutes). */
  stopWaitMs?: number | undefined;
}

/** A promise with its resolvers, rejections handled (a caller that never awaits it is no crash). */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * One FIS experiment of a run: `start()` creates its template and starts it, then polls it in the
 * background; `applied()` resolves with the injection instant once its actions have started;
 * `finished()` when it has ended; `stop(reason)` stops it; `cleanup()` stops it if it still runs
 * and deletes its template (idempotent: call it in a `finally`, and again in a teardown).
 */
export class FisExperiment {
  templateId: string | undefined;
  experimentId: string | undefined;
  /** When StartExperiment was sent, and when it answered, on the run's clock. */
  tStartCall: number | undefined;
  tStartReturned: number | undefined;
  private view: ExperimentView | undefined;
  private readonly appliedD = deferred<FisInjection>();
  private readonly finishedD = deferred<FisOutcome>();
  private stopReason: string | undefined;
  private stopSent = false;
  /** GetExperiment and StopExperiment answers are taken one at a time, in the order they came. */
  private seenQueue: Promise<unknown> = Promise.resolve();
  private wake: AbortController | undefined;
  private closed = false;
  private polling: Promise<void> | undefined;
  private cleaning: Promise<void> | undefined;
  private resolvedTargets: Record<string, string[]> | undefined;
  private readonly onAbort = () => {
    this.stop(`aborted: ${String(this.ctx.signal?.reason ?? 'signal')}`).catch(() => {});
  };

  constructor(
    readonly merged: MergedExperiment,
    private readonly ctx: ExperimentContext,
  ) {}

  private get label(): string {
    const f = this.merged.faults;
    return `${f.length > 1 ? 'faults' : 'fault'} ${f.map((x) => `#${x}`).join(', ')}`;
  }

  private emit(type: string, data: Record<string, unknown>, t = this.ctx.clock.now()): void {
    const nodes = [...new Set(this.merged.faults.flatMap((f) => this.merged.nodes[f] ?? []))];
    this.ctx.emit({
      t,
      source: 'fis',
      type,
      ...(nodes.length ? { node: nodes.join(',') } : {}),
      data: { faults: this.merged.faults, ...data },
    });
  }

  private interrupted(): InterruptedError {
    return new InterruptedError(String(this.ctx.signal?.reason ?? 'SIGINT'));
  }

  /** Creates the template and starts the experiment; polling goes on in the background. */
  async start(): Promise<void> {
    if (this.templateId) throw new Error('FisExperiment.start() called twice');
    const { fis, signal } = this.ctx;
    if (signal?.aborted) throw this.interrupted();
    const tags = this.merged.template.tags ?? {};
    try {
      const created = await fis.send(new CreateExperimentTemplateCommand(this.merged.template));
      this.templateId = created.experimentTemplate?.id;
    } catch (err) {
      throw awsError(`FIS CreateExperimentTemplate for ${this.label}`, err);
    }
    if (!this.templateId)
      throw new InfraError('FIS_NO_ID', `FIS created the template of ${this.label} without an id`);
    this.emit('fis-template-created', { templateId: this.templateId });
    if (signal?.aborted || this.stopReason) throw this.interrupted();

    this.tStartCall = this.ctx.clock.now();
    let exp: Experiment | undefined;
    try {
      exp = (await fis.send(new StartExperimentCommand({ experimentTemplateId: this.templateId, tags })))
        .experiment;
    } catch (err) {
      throw awsError(`FIS StartExperiment (template ${this.templateId}) for ${this.label}`, err);
    }
    this.tStartReturned = this.ctx.clock.now();
    this.experimentId = exp?.id;
    if (!this.experimentId || !exp)
      throw new InfraError('FIS_NO_ID', `FIS started the experiment of ${this.label} without an id`);
    this.emit(
      'fis-experiment-started',
      {
        experimentId: this.experimentId,
        templateId: this.templateId,
        tStartCall: this.tStartCall,
        callMs: this.tStartReturned - this.tStartCall,
      },
      this.tStartCall,
    );
    this.polling = this.poll();
    await this.seen(exp);
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted || this.stopReason)
      await this.stop(this.stopReason ?? `aborted: ${String(signal?.reason)}`);
  }

  /** Resolves with the injection instant once the actions have started; rejects if the experiment ends first. */
  applied(): Promise<FisInjection> {
    return this.appliedD.promise;
  }

  /** Resolves when the experiment has completed or stopped; rejects when it failed or could not be followed. */
  finished(): Promise<FisOutcome> {
    return this.finishedD.promise;
  }

  /** The status FIS last gave. */
  get status(): string | undefined {
    return this.view?.status;
  }

  /** Stops the experiment (an abort, a breach); resolves once FIS took the StopExperiment. */
  async stop(reason: string): Promise<void> {
    this.stopReason ??= reason;
    if (!this.experimentId || hasEnded(this.view?.status) || this.stopSent) return;
    this.stopSent = true;
    this.emit('fis-stop-requested', { experimentId: this.experimentId, reason });
    try {
      const out = await this.ctx.fis.send(new StopExperimentCommand({ id: this.experimentId }));
      // FIS answers with the experiment as the stop left it (stopping): a state seen like any other.
      if (out.experiment) await this.seen(out.experiment);
    } catch (err) {
      const { code } = awsErrorParts(err);
      // It ended meanwhile (FIS answers a stop of a finished experiment with a conflict).
      if (code !== 'ConflictException' && code !== 'ResourceNotFoundException') {
        this.stopSent = false;
        throw awsError(`FIS StopExperiment ${this.experimentId} (${this.label})`, err);
      }
    } finally {
      this.wake?.abort();
    }
  }

  /**
   * Stops the experiment if it still runs (and waits for it to end, within stopWaitMs), then
   * deletes the template. Idempotent: a second call after one that succeeded does nothing, one
   * while it runs waits for it, one after it failed tries again.
   */
  cleanup(): Promise<void> {
    this.cleaning ??= this.clean().catch((err) => {
      this.cleaning = undefined;
      throw err;
    });
    return this.cleaning;
  }

  private async clean(): Promise<void> {
    this.ctx.signal?.removeEventListener('abort', this.onAbort);
    const problems: string[] = [];
    if (this.experimentId && !hasEnded(this.view?.status)) {
      try {
        await this.stop(this.stopReason ?? 'cleanup');
        const wait = this.ctx.stopWaitMs ?? 120_000;
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => {
          timer = setTimeout(() => r('late'), wait);
        });
        const ended = await Promise.race([
          this.finishedD.promise.then(
            () => 'ended' as const,
            () => 'ended' as const,
          ),
          late,
        ]);
        clearTimeout(timer);
        if (ended === 'late') problems.push(`experiment ${this.experimentId} did not stop within ${wait} ms`);
      } catch (err) {
        problems.push(errorMessage(err));
      }
    }
    this.closed = true;
    this.wake?.abort();
    await this.polling;
    if (this.templateId) {
      try {
        await this.ctx.fis.send(new DeleteExperimentTemplateCommand({ id: this.templateId }));
        this.emit('fis-template-deleted', { templateId: this.templateId });
      } catch (err) {
        if (awsErrorParts(err).code !== 'ResourceNotFoundException')
          problems.push(awsError(`FIS DeleteExperimentTemplate ${this.templateId}`, err).message);
      }
    }
    if (problems.length)
      throw new InfraError(
        'FIS_CLEANUP_FAILED',
        `cleaning up the FIS experiment of ${this.label}: ${problems.join('; ')}`,
        {
          hint: `delete what is left: aws fis stop-experiment --id ${this.experimentId ?? '?'}; aws fis delete-experiment-template --id ${this.templateId ?? '?'}`,
        },
      );
  }

  /** Takes one GetExperiment answer: events, the injection instant, the end. */
  private seen(exp: Experiment): Promise<boolean> {
    const next = this.seenQueue.then(() => this.take(exp));
    this.seenQueue = next.catch(() => {});
    return next;
  }

  private async take(exp: Experiment): Promise<boolean> {
    // An answer sent before the end was seen (a StopExperiment's) says nothing new.
    if (hasEnded(this.view?.status)) return false;
    const before = this.view;
    const { view, events } = observe(before, exp, {
      experimentId: this.experimentId!,
      merged: this.merged,
      clock: this.ctx.clock,
      tObserved: this.ctx.clock.now(),
    });
    const changed = !before || before.status !== view.status;
    if (
      changed &&
      this.resolvedTargets === undefined &&
      (view.status === 'running' || hasEnded(view.status))
    ) {
      this.resolvedTargets = await this.listResolvedTargets();
    }
    for (const e of events) {
      if (e.type === stateEventType(view.status) && this.resolvedTargets && changed)
        e.data = { ...e.data, resolvedTargets: this.resolvedTargets };
      this.ctx.emit(e);
    }
    this.view = view;
    const injection = injectionOf(exp, this.merged, this.ctx.clock, {
      tStartCall: this.tStartCall!,
      templateId: this.templateId!,
    });
    if (injection) this.appliedD.resolve({ ...injection, resolvedTargets: this.resolvedTargets });
    if (hasEnded(view.status)) this.end(exp);
    return changed || events.length > 0;
  }

  private end(exp: Experiment): void {
    const status: string = exp.state?.status ?? '';
    const endWall = wall(exp.endTime);
    if (status === 'completed' || status === 'stopped') {
      const outcome: FisOutcome = {
        experimentId: this.experimentId!,
        status,
        reason: exp.state?.reason,
        tEnded: endWall !== undefined ? this.ctx.clock.fromWall(endWall) : this.ctx.clock.now(),
        ...(status === 'stopped' && this.stopReason ? { stoppedBecause: this.stopReason } : {}),
      };
      this.appliedD.reject(
        new InfraError(
          'FIS_NOT_STARTED',
          `FIS experiment ${this.experimentId} (${this.label}) ${status} before its actions started${this.stopReason ? ` (${this.stopReason})` : ''}: ${exp.state?.reason ?? ''}`,
        ),
      );
      this.finishedD.resolve(outcome);
      return;
    }
    const error =
      status === 'cancelled' && this.stopReason
        ? new InfraError(
            'FIS_NOT_STARTED',
            `FIS experiment ${this.experimentId} (${this.label}) was cancelled (${this.stopReason})`,
          )
        : failureError(exp, this.merged.faults);
    this.appliedD.reject(error);
    this.finishedD.reject(error);
  }

  /** Where FIS reports them: target name -> the ARNs it resolved. Undefined where it cannot say. */
  private async listResolvedTargets(): Promise<Record<string, string[]> | undefined> {
    const out: Record<string, string[]> = {};
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.ctx.fis.send(
          new ListExperimentResolvedTargetsCommand({ experimentId: this.experimentId!, nextToken }),
        );
        for (const t of page.resolvedTargets ?? []) {
          const name = t.targetName ?? '?';
          const id = t.targetInformation?.arn ?? JSON.stringify(t.targetInformation ?? {});
          out[name] = [...(out[name] ?? []), id];
        }
        nextToken = page.nextToken;
      } while (nextToken);
    } catch {
      return undefined;
    }
    return out;
  }

  private async poll(): Promise<void> {
    const { fis, clock } = this.ctx;
    const backoff = this.ctx.backoff ?? POLL_BACKOFF;
    const bound = this.ctx.maxWaitMs ?? longestActionMs(this.merged.template) + EXPERIMENT_SLACK_MS;
    const deadline = this.tStartCall! + bound;
    let giveUpAt: number | undefined;
    let delay = nextDelay(undefined, backoff);
    while (!this.closed && !hasEnded(this.view?.status)) {
      this.wake = new AbortController();
      await sleep(delay, this.wake.signal);
      if (this.closed) return;
      let exp: Experiment | undefined;
      try {
        exp = (await fis.send(new GetExperimentCommand({ id: this.experimentId! }))).experiment;
      } catch (err) {
        const error = awsError(`FIS GetExperiment ${this.experimentId} (${this.label})`, err);
        this.appliedD.reject(error);
        this.finishedD.reject(error);
        this.stop('it could not be followed').catch(() => {});
        return;
      }
      const changed = exp ? await this.seen(exp) : false;
      delay = nextDelay(delay, backoff, changed);
      if (hasEnded(this.view?.status)) return;
      const now = clock.now();
      if (giveUpAt === undefined && now > deadline) {
        giveUpAt = now + (this.ctx.stopWaitMs ?? 120_000);
        await this.stop(`it ran past its bound of ${bound} ms`).catch(() => {});
      } else if (giveUpAt !== undefined && now > giveUpAt) {
        const error = new InfraError(
          'FIS_TIMEOUT',
          `FIS experiment ${this.experimentId} (${this.label}) was still ${this.view?.status} ${Math.round(now - this.tStartCall!)} ms after it was started, and did not stop`,
          { hint: `stop it by hand: aws fis stop-experiment --id ${this.experimentId}` },
        );
        this.appliedD.reject(error);
        this.finishedD.reject(error);
        return;
      }
    }
  }
}

/** The ids of the experiment templates tagged with a run's id (what cleanup leaves, if anything). */
export async function runTemplateIds(fis: FisClient, runId: string): Promise<string[]> {
  const ids: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await fis.send(new ListExperimentTemplatesCommand({ nextToken }));
    for (const t of page.experimentTemplates ?? []) if (t.tags?.[TAGS.run] === runId && t.id) ids.push(t.id);
    nextToken = page.nextToken;
  } while (nextToken);
  return ids;
}

/**
 * The forced path: stops every experiment of a run that has not ended and deletes every template
 * of it, found by the `chaos:run` tag. Safe at any time, more than once. Returns what it did.
 */
export async function sweepRun(
  fis: FisClient,
  runId: string,
): Promise<{ stopped: string[]; deleted: string[]; errors: string[] }> {
  const stopped: string[] = [];
  const deleted: string[] = [];
  const errors: string[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await fis.send(new ListExperimentsCommand({ nextToken }));
      for (const e of page.experiments ?? []) {
        if (e.tags?.[TAGS.run] !== runId || !e.id || hasEnded(e.state?.status)) continue;
        try {
          await fis.send(new StopExperimentCommand({ id: e.id }));
          stopped.push(e.id);
        } catch (err) {
          errors.push(awsError(`FIS StopExperiment ${e.id}`, err).message);
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
    for (const id of await runTemplateIds(fis, runId)) {
      try {
        await fis.send(new DeleteExperimentTemplateCommand({ id }));
        deleted.push(id);
      } catch (err) {
        if (awsErrorParts(err).code !== 'ResourceNotFoundException')
          errors.push(awsError(`FIS DeleteExperimentTemplate ${id}`, err).message);
      }
    }
  } catch (err) {
    errors.push(awsError(`FIS: listing run ${runId}'s experiments`, err).message);
  }
  return { stopped, deleted, errors };
}
