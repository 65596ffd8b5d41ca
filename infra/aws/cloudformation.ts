import {
  type Stack as CfnStack,
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ListStacksCommand,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { type Clock, sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { TimelineEvent } from '../../core/events.ts';
import { awsError, awsErrorParts, clientConfig } from './aws-clients.ts';
import { TAGS } from './fis-plan.ts';
import type { CfnTemplate } from './template.ts';

/**
 * The CloudFormation side of the AWS provider: a stack created from the rendered template and
 * followed event by event until it is complete (or has failed, with every failed resource's
 * reason in one message), deleted and waited for, and the harness's stacks listed by their tags.
 *
 * The tags the provider puts on a stack (CloudFormation copies a stack's tags onto every resource
 * that takes tags), beside chaos:stack and chaos:run (fis-plan.ts, TAGS):
 *   chaos:owner     `<host>:<pid>` of the harness process that created it
 *   chaos:lifetime  `run`: made for one run, removed at its end (a stale one is `chaos cleanup
 *                   --provider aws`'s); `kept`: made by `chaos infra up`, removed by `chaos infra
 *                   down` (cleanup leaves it unless --all)
 */

export const OWNER_TAG = 'chaos:owner';
export const LIFETIME_TAG = 'chaos:lifetime';
export type StackLifetime = 'run' | 'kept';

/** A template larger than this goes to S3 and is passed by URL (CreateStack's TemplateBody limit). */
export const TEMPLATE_BODY_MAX = 51_200;

export function cloudFormationClient(region: string): CloudFormationClient {
  return new CloudFormationClient(clientConfig('CLOUDFORMATION', { region }));
}

/**
 * The template as sent: the rendered one with what CloudFormation emulators need spelled out and
 * AWS accepts either way. An all-protocol security group rule (`IpProtocol: -1`) gets `FromPort`
 * and `ToPort` -1: optional on AWS, and moto's CloudFormation (5.2.5) fails on the rule without
 * them (a KeyError, HTTP 500 on every later call about the stack).
 */
export function deployable(template: CfnTemplate): CfnTemplate {
  const out = structuredClone(template);
  for (const r of Object.values(out.Resources)) {
    if (r.Type !== 'AWS::EC2::SecurityGroup') continue;
    for (const rule of (r.Properties?.SecurityGroupIngress ?? []) as Record<string, unknown>[])
      if (rule.IpProtocol === '-1' && rule.FromPort === undefined) {
        rule.FromPort = -1;
        rule.ToPort = -1;
      }
  }
  return out;
}

export interface StackTags {
  scenario: string;
  runId: string;
  owner: string;
  lifetime: StackLifetime;
}

export function stackTags(t: StackTags): { Key: string; Value: string }[] {
  return [
    { Key: TAGS.stack, Value: t.scenario },
    { Key: TAGS.run, Value: t.runId },
    { Key: OWNER_TAG, Value: t.owner },
    { Key: LIFETIME_TAG, Value: t.lifetime },
  ];
}

/** A stack of the harness, as `infra status` and cleanup see it. */
export interface HarnessStack {
  name: string;
  id: string;
  status: string;
  reason?: string | undefined;
  created: Date | undefined;
  runId: string;
  scenario: string | undefined;
  owner: string | undefined;
  lifetime: string | undefined;
  outputs: Record<string, string>;
}

export function harnessStackOf(s: CfnStack): HarnessStack | undefined {
  const tags = Object.fromEntries((s.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const runId = tags[TAGS.run];
  if (!runId || !s.StackName || !s.StackId) return undefined;
  return {
    name: s.StackName,
    id: s.StackId,
    status: s.StackStatus ?? '?',
    reason: s.StackStatusReason,
    created: s.CreationTime,
    runId,
    scenario: tags[TAGS.stack],
    owner: tags[OWNER_TAG],
    lifetime: tags[LIFETIME_TAG],
    outputs: Object.fromEntries((s.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? ''])),
  };
}

/** The stack by name or id, or undefined when CloudFormation has none (or it was deleted). */
export async function describeStack(
  cf: CloudFormationClient,
  nameOrId: string,
): Promise<CfnStack | undefined> {
  try {
    const out = await cf.send(new DescribeStacksCommand({ StackName: nameOrId }));
    return out.Stacks?.[0];
  } catch (err) {
    const p = awsErrorParts(err);
    if (p.code === 'ValidationError' && /does not exist/i.test(p.message)) return undefined;
    throw awsError(`CloudFormation DescribeStacks ${nameOrId}`, err);
  }
}

/**
 * Every live stack of the harness in the region: ListStacks for the names (`chaos-*`, not
 * deleted), then DescribeStacks for each one's tags; a stack without chaos:run is not the
 * harness's. One stack that cannot be described is skipped, not the listing.
 */
export async function listHarnessStacks(cf: CloudFormationClient): Promise<HarnessStack[]> {
  const names: string[] = [];
  let NextToken: string | undefined;
  try {
    do {
      const page = await cf.send(new ListStacksCommand({ NextToken }));
      for (const s of page.StackSummaries ?? [])
        if (s.StackName?.startsWith('chaos-') && s.StackStatus !== 'DELETE_COMPLETE' && s.StackId)
          names.push(s.StackId);
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (err) {
    throw awsError('CloudFormation ListStacks', err);
  }
  const out: HarnessStack[] = [];
  for (const id of names) {
    const s = await describeStack(cf, id).catch(() => undefined);
    const h = s && s.StackStatus !== 'DELETE_COMPLETE' ? harnessStackOf(s) : undefined;
    if (h) out.push(h);
  }
  return out.sort((a, b) => (a.created?.getTime() ?? 0) - (b.created?.getTime() ?? 0));
}

export interface CreateStackInput {
  name: string;
  /** The template as text (at most TEMPLATE_BODY_MAX bytes), or... */
  body?: string;
  /** ...its S3 URL. */
  url?: string;
  tags: StackTags;
}

/** CreateStack (IAM capabilities for the roles the template names); the stack's id. */
export async function createStack(cf: CloudFormationClient, input: CreateStackInput): Promise<string> {
  try {
    const out = await cf.send(
      new CreateStackCommand({
        StackName: input.name,
        ...(input.url ? { TemplateURL: input.url } : { TemplateBody: input.body }),
        Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'],
        // A failed creation is rolled back (the reasons stay in its events), then deleted by the caller.
        OnFailure: 'ROLLBACK',
        Tags: stackTags(input.tags),
      }),
    );
    if (!out.StackId) throw new InfraError('CFN_NO_ID', `CloudFormation created ${input.name} without an id`);
    return out.StackId;
  } catch (err) {
    const p = awsErrorParts(err);
    if (p.code === 'AlreadyExistsException')
      throw new InfraError('STACK_EXISTS', `a CloudFormation stack named ${input.name} exists already`, {
        hint: `use it with --stack ${input.name}, or remove it with \`chaos infra down ${input.name}\``,
        cause: err,
      });
    throw awsError(`CloudFormation CreateStack ${input.name}`, err);
  }
}

/** One stack event as a line: `12:01:03 AsgPgA AWS::AutoScaling::AutoScalingGroup CREATE_IN_PROGRESS (reason)`. */
export function eventLine(e: StackEvent): string {
  const t = e.Timestamp ? e.Timestamp.toISOString().slice(11, 19) : '--:--:--';
  return `${t} ${e.LogicalResourceId ?? '?'} ${e.ResourceType ?? ''} ${e.ResourceStatus ?? ''}${e.ResourceStatusReason ? ` (${e.ResourceStatusReason})` : ''}`;
}

/** The failed resources' reasons, oldest first, each once: what a failed creation or deletion says. */
export function failureReasons(events: readonly StackEvent[]): string[] {
  const out: string[] = [];
  for (const e of [...events].sort((a, b) => (a.Timestamp?.getTime() ?? 0) - (b.Timestamp?.getTime() ?? 0))) {
    if (!/FAILED$/.test(e.ResourceStatus ?? '')) continue;
    const reason = e.ResourceStatusReason ?? 'no reason given';
    // The stack's own failure repeats its resources'; "Resource creation cancelled" is a consequence.
    if (e.ResourceType === 'AWS::CloudFormation::Stack' && out.length) continue;
    if (/Resource creation cancelled|Resource update cancelled/i.test(reason)) continue;
    const line = `${e.LogicalResourceId} (${e.ResourceType}): ${reason}`;
    if (!out.includes(line)) out.push(line);
  }
  return out;
}

export interface FollowOptions {
  clock: Clock;
  /** Each new stack event, on the run's clock. */
  onEvent?: ((event: TimelineEvent) => void) | undefined;
  /** Each new stack event as a line (for a person watching `infra up`). */
  log?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Between DescribeStacks calls; default 5000 ms. */
  pollMs?: number;
  /** How long to wait in all; default 40 minutes (the nodes' signal timeout is 20). */
  timeoutMs?: number;
}

/**
 * Follows a stack until its status is no longer IN_PROGRESS: each new event goes to the run's
 * timeline and to `log`. Returns the final stack (undefined once it is deleted) and every event
 * seen. Aborting the signal ends the wait with an InterruptedError.
 */
export async function followStack(
  cf: CloudFormationClient,
  stackId: string,
  opts: FollowOptions,
): Promise<{ stack: CfnStack | undefined; events: StackEvent[] }> {
  const seen = new Set<string>();
  const events: StackEvent[] = [];
  const deadline = Date.now() + (opts.timeoutMs ?? 40 * 60_000);
  for (;;) {
    if (opts.signal?.aborted) throw new InterruptedError(String(opts.signal.reason));
    const fresh = await newEvents(cf, stackId, seen).catch(() => []);
    for (const e of fresh) {
      events.push(e);
      opts.log?.(eventLine(e));
      opts.onEvent?.({
        t: e.Timestamp ? opts.clock.fromWall(e.Timestamp.getTime()) : opts.clock.now(),
        source: 'cloudformation',
        type: 'stack-event',
        data: {
          logicalId: e.LogicalResourceId,
          resourceType: e.ResourceType,
          status: e.ResourceStatus,
          ...(e.PhysicalResourceId ? { physicalId: e.PhysicalResourceId } : {}),
          ...(e.ResourceStatusReason ? { reason: e.ResourceStatusReason } : {}),
        },
      });
    }
    const stack = await describeStack(cf, stackId);
    if (!stack || !/_IN_PROGRESS$/.test(stack.StackStatus ?? '')) return { stack, events };
    if (Date.now() > deadline)
      throw new InfraError(
        'STACK_TIMEOUT',
        `stack ${stack.StackName} is still ${stack.StackStatus} after ${Math.round((opts.timeoutMs ?? 40 * 60_000) / 60_000)} minutes`,
        {
          hint: `see its events in the CloudFormation console; \`chaos infra down ${stack.StackName}\` removes it`,
        },
      );
    await sleep(opts.pollMs ?? 5000, opts.signal);
  }
}

/** The stack's events not seen yet, oldest first (DescribeStackEvents gives the newest first). */
async function newEvents(
  cf: CloudFormationClient,
  stackId: string,
  seen: Set<string>,
): Promise<StackEvent[]> {
  const fresh: StackEvent[] = [];
  let NextToken: string | undefined;
  page: do {
    const out = await cf.send(new DescribeStackEventsCommand({ StackName: stackId, NextToken }));
    for (const e of out.StackEvents ?? []) {
      const id = e.EventId ?? `${e.LogicalResourceId}/${e.ResourceStatus}/${e.Timestamp?.getTime()}`;
      if (seen.has(id)) break page;
      seen.add(id);
      fresh.push(e);
    }
    NextToken = out.NextToken;
  } while (NextToken);
  return fresh.reverse();
}

/** The stack's outputs, by key. */
export function outputsOf(stack: CfnStack | undefined): Record<string, string> {
  return Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
}

export interface DeleteResult {
  /** DELETE_COMPLETE, or gone: CloudFormation has no such stack any more. */
  deleted: boolean;
  /** What CloudFormation said it could not delete (DELETE_FAILED's reasons, or an error). */
  problems: string[];
}

/**
 * DeleteStack, then waits until the stack is gone or DELETE_FAILED. moto's CloudFormation deletes
 * at once inside the call and answers DependencyViolation when the stack's VPC still has what it
 * did not delete (an internet gateway, a route table): the stack is gone then, the VPC left, and
 * the caller removes what is left by its tags.
 */
export async function deleteStack(
  cf: CloudFormationClient,
  stackId: string,
  opts: Omit<FollowOptions, 'signal'>,
): Promise<DeleteResult> {
  const problems: string[] = [];
  try {
    await cf.send(new DeleteStackCommand({ StackName: stackId }));
  } catch (err) {
    const p = awsErrorParts(err);
    if (p.code === 'ValidationError' && /does not exist/i.test(p.message)) return { deleted: true, problems };
    if (p.code !== 'DependencyViolation') throw awsError(`CloudFormation DeleteStack ${stackId}`, err);
    problems.push(`CloudFormation left a resource it could not delete: ${p.message}`);
  }
  const { stack, events } = await followStack(cf, stackId, opts);
  if (!stack || stack.StackStatus === 'DELETE_COMPLETE') return { deleted: true, problems };
  problems.push(
    `stack ${stack.StackName} is ${stack.StackStatus}${stack.StackStatusReason ? ` (${stack.StackStatusReason})` : ''}`,
    ...failureReasons(events),
  );
  return { deleted: false, problems };
}
