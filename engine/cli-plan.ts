import { relative } from 'node:path';
import type { Command } from 'commander';
import { EXIT, UsageError, formatErrorLine } from '../core/errors.ts';
import { FAULTS, type FaultAction } from '../core/faults.ts';
import {
  DEFAULT_REGION,
  type PlanEntry,
  RUN_ID_PLACEHOLDER,
  TAGS,
  alarmArnProblem,
  formatPlan,
  headingOf,
  partitionOf,
  planFaults,
  revertAfter,
  roleArnPlaceholder,
  roleArnProblem,
} from '../infra/aws/fis-plan.ts';
import { LocalProvider } from '../infra/local/provider.ts';
import { type LoadedScenario, loadScenario } from '../scenarios/load.ts';
import { planInput } from './aws-plan.ts';

/**
 * `chaos plan <scenario> [--provider aws|local]`: what each fault of a scenario becomes on a
 * provider, without starting anything. On AWS: the FIS experiment template per fault (or the
 * direct API calls, or why FIS cannot do it as asked); locally: what the local provider does.
 */

export const PLAN_PROVIDERS = ['aws', 'local'] as const;

interface PlanFlags {
  provider: string;
  region: string;
  json: boolean;
  roleArn?: string | undefined;
  stopAlarm: string[];
  runId?: string | undefined;
}

/** An AWS region's name: `us-east-1`, `eu-west-2`, `us-gov-west-1`. */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
/** A run's id as a tag value the runner and the plan agree on (the runner's are 8 hex digits). */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function registerPlanCommand(program: Command, setCode: (code: number) => void): void {
  program
    .command('plan')
    .description(
      'what each fault of a scenario becomes on a provider, nothing started: on AWS the FIS experiment template (or the API calls, or why FIS cannot)',
    )
    .argument('<scenario>', 'scenario name or file')
    .allowExcessArguments(false)
    .option('--provider <name>', 'aws or local', 'aws')
    .option('--region <region>', 'the AWS region the AZ letters are in (a -> us-east-1a)', DEFAULT_REGION)
    .option('--json', 'one JSON document: an array with an entry per fault', false)
    .option('--role-arn <arn>', 'the FIS experiment role, an IAM role ARN (a placeholder by default)')
    .option(
      '--stop-alarm <arn>',
      'a CloudWatch alarm ARN that stops the experiment (repeatable; stop condition none without)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option(
      '--run-id <id>',
      `the run whose resources the targets select (tag ${TAGS.run}; a placeholder by default)`,
    )
    .action((name: string, flags: PlanFlags) => setCode(planCommand(name, flags)));
}

export function planCommand(name: string, flags: PlanFlags): number {
  if (!(PLAN_PROVIDERS as readonly string[]).includes(flags.provider))
    throw new UsageError(
      'UNKNOWN_PROVIDER',
      `unknown provider '${flags.provider}'; known: ${PLAN_PROVIDERS.join(', ')}`,
      { hint: 'chaos plan <scenario> --provider aws' },
    );
  if (!REGION.test(flags.region))
    throw new UsageError('BAD_REGION', `'${flags.region}' is not an AWS region name`, {
      hint: 'give one such as us-east-1 or eu-west-2',
    });
  if (flags.roleArn !== undefined) {
    const problem = roleArnProblem(flags.roleArn, flags.region);
    if (problem)
      throw new UsageError('BAD_ROLE_ARN', `--role-arn '${flags.roleArn}' ${problem}`, {
        hint: `give the FIS experiment role's ARN, such as arn:${partitionOf(flags.region)}:iam::123456789012:role/fis-experiment`,
      });
  }
  for (const arn of flags.stopAlarm) {
    const problem = alarmArnProblem(arn, flags.region);
    if (problem)
      throw new UsageError('BAD_STOP_ALARM', `--stop-alarm '${arn}' ${problem}`, {
        hint: `give a CloudWatch alarm's ARN, such as arn:${partitionOf(flags.region)}:cloudwatch:${flags.region}:123456789012:alarm:writes-failing`,
      });
  }
  if (flags.runId !== undefined && !RUN_ID.test(flags.runId))
    throw new UsageError('BAD_RUN_ID', `--run-id '${flags.runId}' is not a run id`, {
      hint: 'give the id of a run (letters, digits, dot, dash, underscore; at most 64), such as 3f9a1c07',
    });
  const loaded = loadScenario(name);
  return flags.provider === 'local' ? localPlan(loaded, flags.json) : awsPlan(loaded, flags);
}

function awsPlan(loaded: LoadedScenario, flags: PlanFlags): number {
  const s = loaded.scenario;
  const roleArn = flags.roleArn ?? roleArnPlaceholder(flags.region);
  const runId = flags.runId ?? RUN_ID_PLACEHOLDER;
  const entries = planFaults(planInput(loaded), {
    region: flags.region,
    runId,
    roleArn,
    stopAlarmArns: flags.stopAlarm,
  });
  if (flags.json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
  else {
    const lines = [
      `${s.name} on AWS, on paper: ${entries.length} ${entries.length === 1 ? 'fault' : 'faults'}, region ${flags.region} (${relative(process.cwd(), loaded.file) || loaded.file})`,
      `  resources by tag: ${TAGS.stack}=${s.name} and ${TAGS.run}=${runId} on every instance, data volume, subnet and Auto Scaling group of the run; ${TAGS.system} on the stack's system nodes (never the harness's own hosts) and groups; ${TAGS.node} on instances and data volumes; ${TAGS.volume} on data volumes`,
      ...(flags.runId === undefined
        ? [
            `  ${TAGS.run} is a placeholder: the runner puts its run's id for ${RUN_ID_PLACEHOLDER} (or give --run-id)`,
          ]
        : []),
      ...(flags.roleArn === undefined
        ? [`  roleArn is a placeholder: replace ${roleArn} (or give --role-arn)`]
        : []),
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n${formatPlan(entries)}`);
  }
  return refusals(
    entries.filter((e) => e.kind === 'refused'),
    entries.length,
    'on AWS as asked',
  );
}

function refusals(
  refused: readonly Pick<PlanEntry, 'fault' | 'action'>[],
  of: number,
  where: string,
): number {
  if (!refused.length) return EXIT.pass;
  process.stderr.write(
    `${formatErrorLine({
      code: 'PLAN_REFUSED',
      message: `${refused.length} of ${of} faults cannot be done ${where}: ${refused.map((e) => `#${e.fault} ${e.action}`).join(', ')}`,
      hint: 'each refusal above says how to change the scenario',
    })}\n`,
  );
  return EXIT.usage;
}

/** What the local provider does with each fault, and whether it can here. */
function localPlan(loaded: LoadedScenario, json: boolean): number {
  const s = loaded.scenario;
  const provider = new LocalProvider();
  const input = planInput(loaded);
  const entries = input.faults.map((f) => {
    const heading = headingOf(f, revertAfter(f, input.faults, input.observeMs));
    if (f.step) return { fault: f.index, action: f.action, heading, kind: 'runbook-step' as const };
    const kind = FAULTS[f.action as FaultAction];
    const can = provider.supports({ action: f.action as FaultAction, mode: f.mode, method: f.method });
    return {
      fault: f.index,
      action: f.action,
      heading,
      kind: can.ok ? ('supported' as const) : ('refused' as const),
      does: kind.does,
      ...(can.ok ? {} : { reason: can.reason }),
    };
  });
  if (json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
  else {
    const lines = [`${s.name} on the local provider (Docker), on paper`, ''];
    for (const e of entries) {
      lines.push(e.heading);
      if (e.kind === 'runbook-step') lines.push('  runbook step: the runner carries it out');
      else {
        lines.push(`  local: ${e.does}`);
        if (e.kind === 'refused') lines.push(`  not here: ${e.reason}`);
      }
      lines.push('');
    }
    process.stdout.write(lines.join('\n'));
  }
  return refusals(
    entries.filter((e) => e.kind === 'refused'),
    entries.length,
    'by the local provider here',
  );
}
