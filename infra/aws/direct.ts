import {
  type AutoScalingClient,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstancesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type InstanceStateChange,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { type SSMClient, SendCommandCommand } from '@aws-sdk/client-ssm';
import { type Clock, sleep } from '../../core/clock.ts';
import { InfraError, UsageError } from '../../core/errors.ts';
import type { TimelineEvent } from '../../core/events.ts';
import { awsError } from './aws-clients.ts';
import { type Backoff, POLL_BACKOFF, nextDelay } from './experiments.ts';
import { type ApiCall, type PlanEntry, TAGS } from './fis-plan.ts';

/**
 * Faults carried out by direct calls where FIS cannot do them as the scenario means them: EC2
 * TerminateInstances and StopInstances with SkipOsShutdown (a node that dies at once, a power
 * loss: FIS's own actions shut the OS down gracefully first), StartInstances as a stop's revert,
 * Auto Scaling's TerminateInstanceInAutoScalingGroup for a web head (the group replaces it), and
 * Systems Manager's SendCommand by instance ids. Each call is an event on the run's timeline with
 * the instance ids (and node names where known).
 *
 * Instances are found only by DescribeInstances filtered on the run's tag (`chaos:run`), a system
 * node's tag (`chaos:system` or `chaos:node`, which the harness's own hosts never carry), the state
 * `running` and, where given, the zone; never by a name alone. What comes back is checked again
 * against the same selector before anything is called on it.
 */

/** Which instances: tags beside the run's own (one of chaos:system, chaos:node at least), and a zone. */
export interface InstanceSelector {
  tags: Record<string, string>;
  /** The zone's full name (`us-east-1a`). */
  az?: string | undefined;
}

/** An instance of the run, as DescribeInstances gave it. */
export interface RunInstance {
  instanceId: string;
  az?: string | undefined;
  node?: string | undefined;
  system?: string | undefined;
  state?: string | undefined;
}

/** The instance ids of a list of instances or ids. */
type Instances = readonly (string | RunInstance)[];
const idOf = (i: string | RunInstance) => (typeof i === 'string' ? i : i.instanceId);

/**
 * The DescribeInstances filters of a selector for a run. Throws a UsageError for a selector that
 * would not be scoped to one run's system nodes: no chaos:system nor chaos:node tag (a name or a
 * stack tag alone would also match the harness's own hosts), or another run's id.
 */
export function instanceFilters(runId: string, selector: InstanceSelector): Filter[] {
  if (!runId) throw new UsageError('NO_RUN_ID', 'instances are looked up by run, and no run id was given');
  const run = selector.tags[TAGS.run];
  if (run !== undefined && run !== runId)
    throw new UsageError('WRONG_RUN', `the selector names run ${run}, and this run is ${runId}`);
  if (!selector.tags[TAGS.system] && !selector.tags[TAGS.node])
    throw new UsageError(
      'UNSCOPED_SELECTOR',
      `an instance selector needs ${TAGS.system} or ${TAGS.node} (it has ${Object.keys(selector.tags).join(', ') || 'no tag'}): without one it would reach the harness's own hosts`,
    );
  const tags = { ...selector.tags, [TAGS.run]: runId };
  return [
    ...Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
    ...(selector.az ? [{ Name: 'availability-zone', Values: [selector.az] }] : []),
    { Name: 'instance-state-name', Values: ['running'] },
  ];
}

/** Whether an instance DescribeInstances returned matches the selector (checked again, here). */
export function matches(instance: Instance, runId: string, selector: InstanceSelector): boolean {
  const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value]));
  const wanted = { ...selector.tags, [TAGS.run]: runId };
  return (
    Object.entries(wanted).every(([k, v]) => tags[k] === v) &&
    (tags[TAGS.system] !== undefined || tags[TAGS.node] !== undefined) &&
    instance.State?.Name === 'running' &&
    (!selector.az || instance.Placement?.AvailabilityZone === selector.az)
  );
}

/** The run's running instances a selector names, with their node and zone. */
export async function findInstances(
  ec2: EC2Client,
  runId: string,
  selector: InstanceSelector,
): Promise<RunInstance[]> {
  const Filters = instanceFilters(runId, selector);
  const out: RunInstance[] = [];
  let NextToken: string | undefined;
  try {
    do {
      const page = await ec2.send(new DescribeInstancesCommand({ Filters, NextToken }));
      for (const r of page.Reservations ?? [])
        for (const i of r.Instances ?? []) {
          if (!i.InstanceId || !matches(i, runId, selector)) continue;
          const tag = (k: string) => i.Tags?.find((t) => t.Key === k)?.Value;
          out.push({
            instanceId: i.InstanceId,
            az: i.Placement?.AvailabilityZone,
            node: tag(TAGS.node),
            system: tag(TAGS.system),
            state: i.State?.Name,
          });
        }
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (err) {
    throw awsError(`EC2 DescribeInstances for run ${runId} (${describeSelector(selector)})`, err);
  }
  return out.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

/** The resolver: a run's id and a selector (tags, optional zone) -> the ids of its running instances. */
export async function resolveInstanceIds(
  ec2: EC2Client,
  runId: string,
  selector: InstanceSelector,
): Promise<string[]> {
  return (await findInstances(ec2, runId, selector)).map((i) => i.instanceId);
}

export function describeSelector(s: InstanceSelector): string {
  const tags = Object.entries(s.tags).map(([k, v]) => `${k}=${v}`);
  return [...tags, ...(s.az ? [`in ${s.az}`] : [])].join(' ');
}

export interface DirectContext {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  clock: Clock;
  emit: (event: TimelineEvent) => void;
  runId: string;
  /** The faults (1-based) the calls are for, for the events. */
  faults?: readonly number[] | undefined;
  /** Polling for a stop to finish before the revert starts the instances. */
  backoff?: Backoff | undefined;
  /** How long a stop's revert waits for the instances to be stopped (5 minutes). */
  stoppedWaitMs?: number | undefined;
}

/** One call as it went: when it was sent and answered on the run's clock, and what EC2 said of each instance. */
export interface DirectCall {
  operation: string;
  instanceIds: string[];
  tCall: number;
  tDone: number;
  states?: { instanceId: string; previous?: string | undefined; current?: string | undefined }[];
  /** SendCommand's command id; Auto Scaling's activity ids. */
  ids?: string[];
}

const EVENT: Record<string, string> = {
  TerminateInstances: 'ec2-terminate-instances',
  StopInstances: 'ec2-stop-instances',
  StartInstances: 'ec2-start-instances',
  TerminateInstanceInAutoScalingGroup: 'autoscaling-terminate-instance',
  SendCommand: 'ssm-send-command',
  DescribeInstances: 'ec2-instances-found',
};

function nodesOf(instances: Instances): string[] {
  return instances.flatMap((i) => (typeof i !== 'string' && i.node ? [i.node] : []));
}

/** Sends one call, emits its event (or `aws-call-failed`) and returns its record. */
async function call<T>(
  ctx: DirectContext,
  service: string,
  operation: string,
  instances: Instances,
  send: () => Promise<T>,
  describe: (out: T) => Pick<DirectCall, 'states' | 'ids'> & { data?: Record<string, unknown> },
): Promise<DirectCall> {
  const instanceIds = instances.map(idOf);
  const nodes = nodesOf(instances);
  const base = {
    operation: `${service}:${operation}`,
    instanceIds,
    ...(nodes.length ? { nodes } : {}),
    ...(ctx.faults ? { faults: ctx.faults } : {}),
  };
  const tCall = ctx.clock.now();
  let out: T;
  try {
    out = await send();
  } catch (err) {
    const error = awsError(`${service} ${operation} on ${instanceIds.join(', ')}`, err);
    ctx.emit({
      t: ctx.clock.now(),
      source: 'aws',
      type: 'aws-call-failed',
      ...(nodes.length ? { node: nodes.join(',') } : {}),
      data: { ...base, tCall, error: error.message },
    });
    throw error;
  }
  const tDone = ctx.clock.now();
  const { data, ...rest } = describe(out);
  ctx.emit({
    t: tDone,
    source: 'aws',
    type: EVENT[operation] ?? 'aws-call',
    ...(nodes.length ? { node: nodes.join(',') } : {}),
    data: { ...base, tCall, callMs: tDone - tCall, ...rest, ...data },
  });
  return { operation, instanceIds, tCall, tDone, ...rest };
}

const changes = (list: InstanceStateChange[] | undefined) =>
  (list ?? []).map((c) => ({
    instanceId: c.InstanceId ?? '?',
    previous: c.PreviousState?.Name,
    current: c.CurrentState?.Name,
  }));

function need(instances: Instances, what: string): void {
  if (!instances.length) throw new InfraError('NO_TARGET_INSTANCES', `${what}: no instance to call it on`);
}

/** EC2 TerminateInstances; SkipOsShutdown by default (the node dies at once, as a local kill). */
export async function terminateInstances(
  ctx: DirectContext,
  instances: Instances,
  opts: { skipOsShutdown?: boolean } = {},
): Promise<DirectCall> {
  need(instances, 'TerminateInstances');
  const SkipOsShutdown = opts.skipOsShutdown ?? true;
  return call(
    ctx,
    'ec2',
    'TerminateInstances',
    instances,
    () => ctx.ec2.send(new TerminateInstancesCommand({ InstanceIds: instances.map(idOf), SkipOsShutdown })),
    (out) => ({ states: changes(out.TerminatingInstances), data: { skipOsShutdown: SkipOsShutdown } }),
  );
}

/**
 * EC2 StopInstances. `powerLoss: true` skips the OS shutdown (SkipOsShutdown: the processes get
 * no SIGTERM, as when the power goes); false is a graceful stop. Its `revert` starts them again
 * once they are stopped.
 */
export async function stopInstances(
  ctx: DirectContext,
  instances: Instances,
  opts: { powerLoss: boolean },
): Promise<DirectCall & { revert: () => Promise<DirectCall | undefined> }> {
  need(instances, 'StopInstances');
  const done = await call(
    ctx,
    'ec2',
    'StopInstances',
    instances,
    () =>
      ctx.ec2.send(
        new StopInstancesCommand({ InstanceIds: instances.map(idOf), SkipOsShutdown: opts.powerLoss }),
      ),
    (out) => ({ states: changes(out.StoppingInstances), data: { skipOsShutdown: opts.powerLoss } }),
  );
  return { ...done, revert: () => startInstances(ctx, instances) };
}

/** The instances' states now, by id. */
async function statesOf(ctx: DirectContext, ids: readonly string[]): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  let NextToken: string | undefined;
  try {
    do {
      const page = await ctx.ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ids], NextToken }));
      for (const r of page.Reservations ?? [])
        for (const i of r.Instances ?? []) if (i.InstanceId) states.set(i.InstanceId, i.State?.Name ?? '?');
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (err) {
    throw awsError(`EC2 DescribeInstances ${ids.join(', ')}`, err);
  }
  return states;
}

/**
 * EC2 StartInstances, as a stop's revert: waits (with backoff, at most stoppedWaitMs) until the
 * instances are `stopped` (EC2 starts no instance that is still stopping), then starts those that
 * are; one that was terminated meanwhile (an Auto Scaling group replaced it) is left out and said
 * so in the event. Undefined when nothing was left to start.
 */
export async function startInstances(
  ctx: DirectContext,
  instances: Instances,
): Promise<DirectCall | undefined> {
  need(instances, 'StartInstances');
  const ids = instances.map(idOf);
  const bound = ctx.stoppedWaitMs ?? 5 * 60_000;
  const deadline = ctx.clock.now() + bound;
  let delay: number | undefined;
  let states = await statesOf(ctx, ids);
  const pending = () =>
    ids.filter((id) => ['stopping', 'pending', 'shutting-down'].includes(states.get(id) ?? ''));
  while (pending().length) {
    if (ctx.clock.now() > deadline)
      throw new InfraError(
        'STOP_TOO_SLOW',
        `${pending()
          .map((id) => `${id} is ${states.get(id)}`)
          .join(', ')} ${bound} ms after the revert began; StartInstances needs them stopped`,
        { hint: 'see the instances in the EC2 console; start them by hand once stopped' },
      );
    delay = nextDelay(delay, ctx.backoff ?? POLL_BACKOFF);
    await sleep(delay);
    states = await statesOf(ctx, ids);
  }
  const gone = ids.filter(
    (id) => !states.has(id) || ['terminated', 'shutting-down'].includes(states.get(id)!),
  );
  const startable = instances.filter((i) => !gone.includes(idOf(i)) && states.get(idOf(i)) !== 'running');
  if (!startable.length) {
    ctx.emit({
      t: ctx.clock.now(),
      source: 'aws',
      type: 'ec2-start-skipped',
      data: {
        instanceIds: ids,
        states: Object.fromEntries(states),
        ...(ctx.faults ? { faults: ctx.faults } : {}),
      },
    });
    return undefined;
  }
  return call(
    ctx,
    'ec2',
    'StartInstances',
    startable,
    () => ctx.ec2.send(new StartInstancesCommand({ InstanceIds: startable.map(idOf) })),
    (out) => ({ states: changes(out.StartingInstances), data: gone.length ? { leftOut: gone } : {} }),
  );
}

/**
 * Auto Scaling TerminateInstanceInAutoScalingGroup, one call per instance, with
 * ShouldDecrementDesiredCapacity false: the group keeps its size and launches a replacement, as
 * it does when a web head dies. One record per instance, with the scaling activity's id.
 */
export async function terminateInAutoScalingGroup(
  ctx: DirectContext,
  instances: Instances,
): Promise<DirectCall[]> {
  need(instances, 'TerminateInstanceInAutoScalingGroup');
  const out: DirectCall[] = [];
  for (const i of instances)
    out.push(
      await call(
        ctx,
        'autoscaling',
        'TerminateInstanceInAutoScalingGroup',
        [i],
        () =>
          ctx.autoScaling.send(
            new TerminateInstanceInAutoScalingGroupCommand({
              InstanceId: idOf(i),
              ShouldDecrementDesiredCapacity: false,
            }),
          ),
        (res) => ({
          ids: res.Activity?.ActivityId ? [res.Activity.ActivityId] : [],
          data: {
            group: res.Activity?.AutoScalingGroupName,
            activity: res.Activity?.Description,
            activityStatus: res.Activity?.StatusCode,
          },
        }),
      ),
    );
  return out;
}

export interface CommandInput {
  documentName: string;
  parameters?: Record<string, string[]> | undefined;
  comment?: string | undefined;
  timeoutSeconds?: number | undefined;
}

/** Systems Manager SendCommand by instance ids (never by Targets: tags know no zone). */
export async function sendCommand(
  ctx: DirectContext,
  instances: Instances,
  input: CommandInput,
): Promise<DirectCall> {
  need(instances, 'SendCommand');
  return call(
    ctx,
    'ssm',
    'SendCommand',
    instances,
    () =>
      ctx.ssm.send(
        new SendCommandCommand({
          InstanceIds: instances.map(idOf),
          DocumentName: input.documentName,
          ...(input.parameters ? { Parameters: input.parameters } : {}),
          ...(input.comment ? { Comment: input.comment.slice(0, 100) } : {}),
          ...(input.timeoutSeconds ? { TimeoutSeconds: input.timeoutSeconds } : {}),
        }),
      ),
    (res) => ({
      ids: res.Command?.CommandId ? [res.Command.CommandId] : [],
      data: { documentName: input.documentName, parameters: input.parameters, status: res.Command?.Status },
    }),
  );
}

/** A planned DescribeInstances call's Filters as a selector (the state filter is always added again). */
export function selectorOfCall(c: ApiCall): InstanceSelector {
  const filters = (c.input as { Filters?: { Name?: string; Values?: string[] }[] }).Filters ?? [];
  const tags: Record<string, string> = {};
  let az: string | undefined;
  for (const f of filters) {
    const [value, ...more] = f.Values ?? [];
    if (value === undefined || more.length)
      throw new UsageError(
        'BAD_PLANNED_CALL',
        `filter ${f.Name} of a planned DescribeInstances has ${f.Values?.length ?? 0} values, not one`,
      );
    if (f.Name?.startsWith('tag:')) tags[f.Name.slice(4)] = value;
    else if (f.Name === 'availability-zone') az = value;
    else if (f.Name === 'instance-state-name' && value === 'running') continue;
    else
      throw new UsageError(
        'BAD_PLANNED_CALL',
        `a planned DescribeInstances filters on ${f.Name}, which direct.ts does not take`,
      );
  }
  return { tags, ...(az ? { az } : {}) };
}

/** `<2 of the InstanceIds ... picked at random>` -> 2; undefined for all of them. */
export function pickCount(c: ApiCall): number | undefined {
  const ids = (c.input as { InstanceIds?: unknown[] }).InstanceIds;
  const text = typeof ids?.[0] === 'string' ? ids[0] : '';
  const n = /^<(\d+) of the InstanceIds/.exec(text)?.[1];
  return n ? Number(n) : undefined;
}

/** `+90000000 ms (the revert), ...` -> 90000000; undefined for a call made at injection. */
export function revertDelay(c: ApiCall): number | undefined {
  const m = /^\+(\d+) ms \(the revert\)/.exec(c.when);
  return m ? Number(m[1]) : undefined;
}

/** What a plan's direct calls did at injection, and how to revert them. */
export interface PlannedCallsResult {
  calls: DirectCall[];
  /** The instances each DescribeInstances found, in order. */
  found: RunInstance[][];
  /** The revert calls (StartInstances after a stop), due `revertAfterMs` after the injection. */
  revert?: (() => Promise<DirectCall[]>) | undefined;
  revertAfterMs?: number | undefined;
}

/**
 * Carries out an `api-calls` entry of the plan: each DescribeInstances finds the run's instances
 * (an empty answer is an error: a fault must hit something), the call after it is made on them
 * (a random pick of them where the plan says so); calls marked as the revert are returned as
 * `revert`, each StartInstances on what the StopInstances of the same rank stopped.
 */
export async function runPlannedCalls(
  ctx: DirectContext,
  entry: Extract<PlanEntry, { kind: 'api-calls' }>,
  random: () => number = Math.random,
): Promise<PlannedCallsResult> {
  const faultCtx = { ...ctx, faults: ctx.faults ?? [entry.fault] };
  const found: RunInstance[][] = [];
  const calls: DirectCall[] = [];
  const stopped: RunInstance[][] = [];
  const reverts: ApiCall[] = [];
  for (const c of entry.calls) {
    if (revertDelay(c) !== undefined) {
      reverts.push(c);
      continue;
    }
    if (c.operation === 'DescribeInstances') {
      const selector = selectorOfCall(c);
      const tCall = ctx.clock.now();
      const instances = await findInstances(ctx.ec2, ctx.runId, selector);
      ctx.emit({
        t: ctx.clock.now(),
        source: 'aws',
        type: EVENT.DescribeInstances!,
        ...(instances.some((i) => i.node) ? { node: nodesOf(instances).join(',') } : {}),
        data: {
          operation: 'ec2:DescribeInstances',
          selector: describeSelector(selector),
          instanceIds: instances.map((i) => i.instanceId),
          faults: faultCtx.faults,
          tCall,
        },
      });
      if (!instances.length)
        throw new InfraError(
          'NO_TARGET_INSTANCES',
          `fault #${entry.fault} (${entry.action} ${entry.target}): no running instance of run ${ctx.runId} matches ${describeSelector(selector)}`,
          {
            hint: "the run's instances carry chaos:run and chaos:system/chaos:node tags; a node a fault already took down is not running",
          },
        );
      found.push(instances);
      continue;
    }
    const group = found.at(-1);
    if (!group)
      throw new UsageError(
        'BAD_PLANNED_CALL',
        `${c.operation} of fault #${entry.fault} comes before any DescribeInstances`,
      );
    const n = pickCount(c);
    const on = n === undefined ? group : pick(group, n, random);
    const input = c.input as {
      SkipOsShutdown?: boolean;
      DocumentName?: string;
      Parameters?: Record<string, string[]>;
    };
    switch (c.operation) {
      case 'StopInstances':
        calls.push(await stopInstances(faultCtx, on, { powerLoss: input.SkipOsShutdown === true }));
        stopped.push(on);
        break;
      case 'TerminateInstances':
        calls.push(await terminateInstances(faultCtx, on, { skipOsShutdown: input.SkipOsShutdown === true }));
        break;
      case 'SendCommand':
        calls.push(
          await sendCommand(faultCtx, on, {
            documentName: input.DocumentName ?? '',
            parameters: input.Parameters,
            comment: `chaos ${ctx.runId} fault #${entry.fault}`,
          }),
        );
        break;
      default:
        throw new UsageError(
          'BAD_PLANNED_CALL',
          `direct.ts does not make ${c.service} ${c.operation} (fault #${entry.fault})`,
        );
    }
  }
  if (!reverts.length) return { calls, found };
  for (const r of reverts)
    if (r.operation !== 'StartInstances')
      throw new UsageError(
        'BAD_PLANNED_CALL',
        `a revert of fault #${entry.fault} is ${r.operation}; direct.ts reverts with StartInstances`,
      );
  if (reverts.length !== stopped.length)
    throw new UsageError(
      'BAD_PLANNED_CALL',
      `fault #${entry.fault} plans ${reverts.length} StartInstances for ${stopped.length} StopInstances`,
    );
  return {
    calls,
    found,
    revertAfterMs: revertDelay(reverts[0]!),
    revert: async () => {
      const out: DirectCall[] = [];
      for (const group of stopped) {
        const started = await startInstances(faultCtx, group);
        if (started) out.push(started);
      }
      return out;
    },
  };
}

/** `n` of the instances, at random (as FIS's COUNT(n) picks). */
export function pick<T>(items: readonly T[], n: number, random: () => number = Math.random): T[] {
  const rest = [...items];
  const out: T[] = [];
  while (out.length < n && rest.length) out.push(rest.splice(Math.floor(random() * rest.length), 1)[0]!);
  return out;
}
