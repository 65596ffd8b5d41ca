import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { type Command, Option } from 'commander';
import { NODE_IMAGE, bundleAgents } from '../agents/bundle.ts';
import { REGISTRY_PORT } from '../agents/registry/protocol.ts';
import { MonotonicClock } from '../core/clock.ts';
import { EXIT, InfraError, UsageError, formatErrorLine } from '../core/errors.ts';
import type { FaultAction } from '../core/faults.ts';
import type { NodeRef, PreflightCheck, Stack, StackPlan } from '../core/provider.ts';
import { assetsBucketName } from '../infra/aws/assets.ts';
import type { Reach } from '../infra/aws/aws-stack.ts';
import { type HarnessStack, LIFETIME_TAG, listHarnessStacks } from '../infra/aws/cloudformation.ts';
import { type AwsConfig, resolveAwsConfig } from '../infra/aws/config.ts';
import { DEFAULT_REGION } from '../infra/aws/fis-plan.ts';
import { AwsProvider, describeEntry } from '../infra/aws/provider.ts';
import { checkCaller } from '../infra/aws/rails.ts';
import {
  type RunClients,
  leftoversOf,
  removeRun,
  runClients,
  taggedRunIds,
  zoneRunIds,
} from '../infra/aws/teardown.ts';
import { DEFAULT_INSTANCE_TYPE, type LoadBalancerInput } from '../infra/aws/template.ts';
import { type LoadedScenario, loadScenario } from '../scenarios/load.ts';
import { activeSystems, isStep } from '../scenarios/schema.ts';
import { LB_NODE } from '../systems/web/layout.ts';
import { lbProfile } from '../systems/web/lb.ts';
import { HEALTH_PATH } from '../systems/web/plan.ts';
import type { WebSpec } from '../systems/web/spec.ts';
import { planInput } from './aws-plan.ts';
import { preflightExitCode } from './preflight.ts';
import { imagesFor, scenarioWaitsMs } from './runner.ts';
import { resolveTarget } from './targets.ts';

/**
 * The AWS side of the command line: `chaos infra up|status|down`, and what `chaos run --provider
 * aws` and `chaos cleanup --provider aws` need (engine/cli.ts calls them): the provider built
 * from the scenario and the flags, the plan shown with what it costs, the confirmation.
 */

export interface AwsFlags {
  region?: string | undefined;
  stack?: string | undefined;
  awsConfig?: string | undefined;
  allowAccount: string[];
  allowRegion: string[];
  yes: boolean;
  probeFrom: string;
  instanceType?: string | undefined;
}

const repeat = (v: string, all: string[]) => [...all, v];

/** The options every AWS command takes. */
export function addAwsOptions(
  cmd: Command,
  opts: { stack?: boolean; confirm?: boolean; reach?: boolean } = {},
): Command {
  cmd
    .option(
      '--region <region>',
      'the AWS region (default: AWS_REGION, else the one region chaos.aws.yaml allows, else us-east-1)',
    )
    .option('--aws-config <file>', 'the accounts and regions chaos may work in (default: ./chaos.aws.yaml)')
    .option('--allow-account <id>', 'allow this AWS account too (repeatable)', repeat, [] as string[])
    .option('--allow-region <region>', 'allow this region too (repeatable)', repeat, [] as string[]);
  if (opts.stack)
    cmd.option(
      '--stack <name>',
      'the CloudFormation stack: its name (infra up), or one already up to run on (run)',
    );
  if (opts.confirm) cmd.option('--yes', 'create the stack without asking (needed without a terminal)', false);
  if (opts.reach)
    cmd
      .addOption(
        new Option(
          '--probe-from <where>',
          "where the harness reaches the nodes from: vpc (a probe host in the stack's VPC, checked), routed (peering or a VPN), or your public address as a CIDR (a.b.c.d/32: the nodes' public addresses, opened to it)",
        ).default('vpc'),
      )
      .option('--instance-type <type>', `every node's EC2 instance type (default ${DEFAULT_INSTANCE_TYPE})`);
  return cmd;
}

/** The region: the flag, AWS_REGION, AWS_DEFAULT_REGION, the config's only region, us-east-1. */
export function regionOf(flags: Pick<AwsFlags, 'region'>, config: AwsConfig): string {
  return (
    flags.region ??
    process.env.AWS_REGION ??
    process.env.AWS_DEFAULT_REGION ??
    (config.regions.length === 1 ? config.regions[0]! : DEFAULT_REGION)
  );
}

export function awsConfigOf(flags: Pick<AwsFlags, 'awsConfig' | 'allowAccount' | 'allowRegion'>): AwsConfig {
  return resolveAwsConfig({
    file: flags.awsConfig,
    allowAccount: flags.allowAccount,
    allowRegion: flags.allowRegion,
  });
}

export function reachOf(probeFrom: string | undefined): Reach {
  const p = probeFrom ?? 'vpc';
  if (p === 'vpc' || p === 'routed') return { kind: p };
  if (/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(p)) return { kind: 'public', cidr: p };
  throw new UsageError('BAD_PROBE_FROM', `--probe-from '${p}' is neither vpc, routed nor a CIDR`, {
    hint: "vpc (a probe host in the stack's VPC), routed, or your public address as a.b.c.d/32",
  });
}

/** On AWS a fault lasts its `aws.durationMs` where it gives one: the runner reverts it then. */
export function withAwsDurations(loaded: LoadedScenario): LoadedScenario {
  const faults = loaded.scenario.faults.map((f) =>
    f.aws?.durationMs !== undefined ? { ...f, durationMs: f.aws.durationMs } : f,
  );
  return { ...loaded, scenario: { ...loaded.scenario, faults } };
}

/**
 * Record TTLs Route 53 cannot keep: a system's `...TtlMs` under a second or not in whole
 * seconds (as `chaos validate --provider aws` finds them, engine/cli-validate.ts).
 */
export function recordTtlProblems(loaded: LoadedScenario): string[] {
  const out: string[] = [];
  for (const { def, spec } of activeSystems(loaded.scenario))
    for (const [field, value] of Object.entries(spec as Record<string, unknown>))
      if (/TtlMs$/.test(field) && typeof value === 'number' && (value < 1000 || value % 1000 !== 0))
        out.push(
          `field 'stack.${def.name}.${field}' is ${value} ms; a Route 53 TTL is whole seconds of at least 1 (use 1000, 2000...)`,
        );
  return out;
}

/**
 * The Route 53 API requests a second the systems' agents may make together. Route 53 throttles
 * API requests per account, every caller of the account together (an HTTP 400 `Throttling`,
 * "Rate exceeded"): "five requests per second per AWS account" in the Route 53 Developer Guide's
 * quotas (docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html, "Quotas on Route
 * 53 API requests") for years; its "Throttling for Amazon Route 53 API requests" page
 * (.../throttling-api-requests.html) now gives the account a bucket of 50 refilled at 10 a
 * second, and limits record changes a second apart from that. Five leaves the other half of
 * today's sustained rate to the harness's own reads (observers, probes resolving the leader) and
 * to whatever else the account runs, and holds where the older limit still does.
 */
export const ROUTE53_REQUESTS_PER_SECOND = 5;

/**
 * The agents' registry calls on Route 53 against its rate (ROUTE53_REQUESTS_PER_SECOND): each
 * system's estimate (`registryCallsPerSecond`, from its nodes and `checkIntervalMs`), and, when
 * together they exceed it, one line naming each system's `checkIntervalMs` raised by the same
 * factor (to whole 100 ms) so that they no longer do. Empty when they fit.
 */
export function registryRateProblems(loaded: LoadedScenario, limit = ROUTE53_REQUESTS_PER_SECOND): string[] {
  const systems = activeSystems(loaded.scenario).flatMap(({ def, spec }) => {
    const rate = def.registryCallsPerSecond?.(spec) ?? 0;
    const s = spec as { checkIntervalMs?: unknown; failoverThresholdMs?: unknown; leaseMarginMs?: unknown };
    return rate > 0 && typeof s.checkIntervalMs === 'number'
      ? [{ name: def.name, rate, interval: s.checkIntervalMs, spec: s }]
      : [];
  });
  const total = systems.reduce((sum, x) => sum + x.rate, 0);
  if (total <= limit) return [];
  const factor = total / limit;
  const fixes = systems.map((x) => {
    const needed = Math.ceil((x.interval * factor) / 100) * 100;
    const { failoverThresholdMs: lease, leaseMarginMs: margin } = x.spec;
    // The lease holder renews once a check: a check interval the lease cannot span loses it.
    const short =
      typeof lease === 'number' && typeof margin === 'number' && needed >= lease - margin
        ? ` (and its failoverThresholdMs above ${needed + margin} ms, so the lease outlasts a check)`
        : '';
    return `stack.${x.name}.checkIntervalMs to at least ${needed} ms${short}`;
  });
  const each = systems.map((x) => `${x.name} ${round1(x.rate)} at checkIntervalMs ${x.interval}`).join(', ');
  return [
    `the agents would call Route 53 about ${round1(total)} times a second (${each}), more than the ${limit} a second its API allows an account: raise ${fixes.join(' and ')}`,
  ];
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The web tier's load balancer, which an ALB stands for on AWS (the template's loadBalancer). */
export function loadBalancerOf(loaded: LoadedScenario): LoadBalancerInput | undefined {
  const web = activeSystems(loaded.scenario).find((s) => s.def.name === 'web');
  if (!web) return undefined;
  const spec = web.spec as WebSpec;
  return {
    node: LB_NODE,
    healthPath: HEALTH_PATH,
    profile: lbProfile(spec.lbProfile),
    pool: 'web-head',
    balance: spec.balance,
  };
}

/** Live target resolution for the provider: the systems' records, as the fault injector resolves. */
export function resolverFor(loaded: LoadedScenario): (stack: Stack, selector: string) => Promise<NodeRef[]> {
  const systems = activeSystems(loaded.scenario);
  return async (stack, selector) => {
    const live = await Promise.all(
      systems.map(async ({ def }) => ({ def, state: { ...(await def.records(stack)), nodes: [] } })),
    );
    return resolveTarget(selector, { systems: live, nodes: stack.nodes() }).nodes;
  };
}

export function awsProviderFor(
  loaded: LoadedScenario,
  flags: AwsFlags,
  opts: { existing: boolean; lifetime: 'run' | 'kept'; log?: ((line: string) => void) | undefined },
): AwsProvider {
  const config = awsConfigOf(flags);
  return new AwsProvider({
    region: regionOf(flags, config),
    config,
    plan: planInput(loaded),
    stackName: flags.stack,
    existing: opts.existing,
    lifetime: opts.lifetime,
    reach: reachOf(flags.probeFrom),
    instanceType: flags.instanceType,
    loadBalancer: loadBalancerOf(loaded),
    recordTtlProblems: recordTtlProblems(loaded),
    registryRateProblems: registryRateProblems(loaded),
    resolve: resolverFor(loaded),
    log: opts.log,
  });
}

/** The stack plan a run's provider gets, for `infra up` (the runner makes its own the same way). */
export async function stackPlanFor(loaded: LoadedScenario, runId: string): Promise<StackPlan> {
  const systems = activeSystems(loaded.scenario);
  const source = await bundleAgents(
    Object.assign({}, ...systems.map((s) => s.def.agents)) as Record<string, string>,
  );
  const bundle = { source, target: '/opt/chaos/agents.cjs' };
  const ctx = { runId, registryUrl: `http://registry:${REGISTRY_PORT}`, bundle };
  return {
    registry: {
      image: NODE_IMAGE.name,
      part: 'registry',
      command: ['node', bundle.target],
      env: { CHAOS_ENTRY: 'registry', REGISTRY_PORT: String(REGISTRY_PORT) },
      ports: [REGISTRY_PORT],
      readyLog: /registry-ready/,
      files: [bundle],
      events: 'registry',
    },
    nodes: systems.flatMap((s) => s.def.plan(s.spec, ctx)),
    sharedVolumes: systems.flatMap((s) => s.def.sharedVolumes ?? []),
  };
}

// --- What it costs ----------------------------------------------------------------------------

/**
 * On-demand list prices in us-east-1 (Linux), USD, as AWS's pricing pages gave them when this
 * table was written (2024): aws.amazon.com/ec2/pricing/on-demand, /ebs/pricing (gp3 $0.08 per
 * GB-month), /elasticloadbalancing/pricing (ALB $0.0225 an hour, plus LCUs), /fis/pricing ($0.10
 * per action-minute). Other regions, and later prices, differ: an estimate, said so where shown.
 */
export const PRICES = {
  source:
    'us-east-1 on-demand list prices (aws.amazon.com/ec2/pricing/on-demand, /ebs/pricing, /elasticloadbalancing/pricing, /fis/pricing) as of 2024; other regions and later prices differ, and data transfer, EFS, CloudWatch and Route 53 (cents) are not counted',
  instanceHour: {
    't3.micro': 0.0104,
    't3.small': 0.0208,
    't3.medium': 0.0416,
    't3.large': 0.0832,
    't3a.small': 0.0188,
    't3a.medium': 0.0376,
    't4g.small': 0.0168,
    't4g.medium': 0.0336,
    't4g.large': 0.0672,
    'm5.large': 0.096,
    'm6i.large': 0.096,
    'm6g.large': 0.077,
    'm7g.large': 0.0816,
    'c5.large': 0.085,
    'c6i.large': 0.085,
  } as Record<string, number>,
  gp3GbMonth: 0.08,
  albHour: 0.0225,
  fisActionMinute: 0.1,
} as const;

const HOURS_PER_MONTH = 730;
const ROOT_GIB = 16;
const DATA_GIB = 20;

export interface CostEstimate {
  instances: number;
  instanceType: string;
  /** USD an hour; undefined when the type is not in the table. */
  instancesPerHour: number | undefined;
  volumesGiB: number;
  volumesPerHour: number;
  albPerHour: number;
  perHour: number | undefined;
  /** FIS action-minutes of one run of the scenario's faults, and what they cost. */
  fisActionMinutes: number;
  fisCost: number;
}

export function estimateCost(
  plan: StackPlan,
  lb: LoadBalancerInput | undefined,
  instanceType: string,
  fisActionMinutes: number,
): CostEstimate {
  const nodes = plan.nodes.filter((n) => n.name !== lb?.node);
  const disks = nodes.reduce(
    (sum, n) =>
      sum +
      new Set(
        [n.main, ...n.sidecars].flatMap((c) =>
          (c.volumes ?? [])
            .filter((v) => v.disk && !(plan.sharedVolumes ?? []).includes(v.name))
            .map((v) => v.name),
        ),
      ).size,
    0,
  );
  const hourly = PRICES.instanceHour[instanceType];
  const volumesGiB = nodes.length * ROOT_GIB + disks * DATA_GIB;
  const volumesPerHour = (volumesGiB * PRICES.gp3GbMonth) / HOURS_PER_MONTH;
  const albPerHour = lb ? PRICES.albHour : 0;
  const instancesPerHour = hourly === undefined ? undefined : hourly * nodes.length;
  return {
    instances: nodes.length,
    instanceType,
    instancesPerHour,
    volumesGiB,
    volumesPerHour,
    albPerHour,
    perHour: instancesPerHour === undefined ? undefined : instancesPerHour + volumesPerHour + albPerHour,
    fisActionMinutes,
    fisCost: fisActionMinutes * PRICES.fisActionMinute,
  };
}

const usd = (x: number) => `$${x < 0.1 ? x.toFixed(4) : x.toFixed(2)}`;

/** The plan shown before anything is created: what, where, how long, what it costs, which FIS actions. */
export function planLines(args: {
  command: string;
  loaded: LoadedScenario;
  provider: AwsProvider;
  account: string;
  stackName: string;
  plan: StackPlan;
  mode: 'kept' | 'run';
}): string[] {
  const { loaded, provider, plan } = args;
  const lb = provider.opts.loadBalancer;
  const type = provider.opts.instanceType ?? DEFAULT_INSTANCE_TYPE;
  const entries = provider.planOnPaper();
  const actionMinutes = entries.reduce((sum, e) => {
    if (e.kind !== 'fis-template') return sum;
    const minutes = Math.max(1, Math.ceil((e.durationMs ?? 60_000) / 60_000));
    return sum + Object.keys(e.template.actions ?? {}).length * minutes;
  }, 0);
  const cost = estimateCost(plan, lb, type, actionMinutes);
  const nodes = plan.nodes.filter((n) => n.name !== lb?.node);
  const zones = [...new Set(nodes.map((n) => n.az))].sort();
  const runMinutes = Math.ceil(
    (scenarioWaitsMs(loaded.scenario) +
      loaded.scenario.recovery.timeoutMs +
      loaded.scenario.recovery.convergenceTimeoutMs) /
      60_000,
  );
  const upHours = args.mode === 'run' ? (15 + runMinutes + 10) / 60 : 1;
  const lines = [
    `${args.command}: ${loaded.scenario.name} on AWS, account ${args.account}, ${provider.region} (zones ${zones.map((z) => `${provider.region}${z}`).join(', ')})`,
    `  stack ${args.stackName} (CloudFormation), ${LIFETIME_TAG}=${args.mode}: ${args.mode === 'kept' ? 'stays up until `chaos infra down ' + args.stackName + '`' : 'removed when the run ends'}`,
    `  instances: ${cost.instances} x ${type} (${nodes.map((n) => n.name).join(', ')}), each in an Auto Scaling group${lb ? `; an Application Load Balancer for ${lb.node}` : ''}`,
    `  volumes: ${cost.volumesGiB} GiB of gp3 (a ${ROOT_GIB} GiB root per instance, ${DATA_GIB} GiB per data disk)`,
    '  also: a VPC with a subnet per zone and an internet gateway, a private Route 53 zone, IAM roles for the nodes and for FIS, the assets in S3, a CloudWatch metric and alarm per run',
    `  estimated cost: ${cost.perHour === undefined ? `${type} is not in the harness's price table; volumes ${usd(cost.volumesPerHour)}/h` : `${usd(cost.perHour)} an hour (instances ${usd(cost.instancesPerHour!)}, volumes ${usd(cost.volumesPerHour)}${lb ? `, ALB ${usd(cost.albPerHour)} plus its LCUs` : ''})`}; FIS ${usd(cost.fisCost)} a run (${cost.fisActionMinutes} action-minute${cost.fisActionMinutes === 1 ? '' : 's'})${cost.perHour !== undefined ? `; about ${usd(cost.perHour * upHours + (args.mode === 'run' ? cost.fisCost : 0))} for ${args.mode === 'run' ? 'the whole run' : 'an hour up'}` : ''}`,
    `    (an estimate: ${PRICES.source})`,
    `  expected time: 8 to 15 minutes to create (instances boot, install Docker, pull the images; each node has 20 to report ready)${args.mode === 'run' ? `, the run itself ${runMinutes} minutes at most,` : ','} about 5 to delete`,
    '  faults:',
    ...entries.map((e) => `    #${e.fault} ${e.action} ${e.target} at +${e.at} ms: ${describeEntry(e)}`),
  ];
  return lines;
}

/**
 * Asks on the terminal; with --yes, does not. Without a terminal and without --yes, refuses:
 * nothing billable is made without someone saying so.
 */
export async function confirmCreation(what: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY)
    throw new UsageError(
      'CONFIRMATION_NEEDED',
      `${what} creates billable AWS resources, and there is no terminal to confirm on`,
      {
        hint: 'pass --yes to create them without asking',
      },
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question('Create these resources? [y/N] ')).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes')
      throw new UsageError('NOT_CONFIRMED', 'nothing was created: the plan was not confirmed', {
        hint: 'answer y to create it, or pass --yes',
      });
  } finally {
    rl.close();
  }
}

/** Failed checks, one line each on stderr; their exit code. */
function reportFailed(failed: PreflightCheck[]): number {
  for (const c of failed)
    process.stderr.write(
      `${formatErrorLine(c.error ?? { code: 'PREFLIGHT', message: `${c.what}: ${c.detail}` })}\n`,
    );
  return preflightExitCode(failed);
}

// --- infra up -----------------------------------------------------------------------------

async function infraUp(name: string, flags: AwsFlags): Promise<number> {
  const loaded = withAwsDurations(loadScenario(name));
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  const provider = awsProviderFor(loaded, flags, { existing: false, lifetime: 'kept', log });
  const faults = loaded.scenario.faults
    .filter((f) => !isStep(f.action))
    .map((f) => ({ action: f.action as FaultAction, mode: f.mode, method: f.method }));
  const checks = await provider.preflight(imagesFor(loaded.scenario), faults);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length) return reportFailed(failed);
  const runId = randomBytes(4).toString('hex');
  const plan = await stackPlanFor(loaded, runId);
  await provider.prepare(imagesFor(loaded.scenario));
  const account = /account (\d{12})/.exec(checks[0]?.detail ?? '')?.[1] ?? '?';
  const stackName = provider.stackNameFor(loaded.scenario.name, runId);
  process.stdout.write(
    `${planLines({ command: 'chaos infra up', loaded, provider, account, stackName, plan, mode: 'kept' }).join('\n')}\n`,
  );
  await confirmCreation('chaos infra up', flags.yes);
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${sig}: stopping, removing what was created (again to force)\n`);
      controller.abort(sig);
      return;
    }
    const done = () => process.exit(EXIT.interrupted);
    provider.forceTeardown(runId).then(done, done);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const stack = await provider.bringUp(plan, {
      runId,
      scenarioName: loaded.scenario.name,
      clock: new MonotonicClock(),
      onEvent: () => {},
      signal: controller.signal,
    });
    const outputs = stack.outputs;
    stack.release();
    process.stdout.write(`stack ${stack.stackName} is up (run ${runId}):\n`);
    for (const n of stack.nodes()) process.stdout.write(`  node ${n.name} (${provider.region}${n.az})\n`);
    for (const [k, v] of Object.entries(outputs).sort(([a], [b]) => a.localeCompare(b)))
      process.stdout.write(`  ${k}: ${v}\n`);
    process.stdout.write(
      `run on it: chaos run ${loaded.scenario.name} --provider aws --stack ${stack.stackName}; remove it: chaos infra down ${stack.stackName}\n`,
    );
    return EXIT.pass;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// --- infra status -------------------------------------------------------------------------

/** Whether the process that owns a stack still runs: only known for this host. */
export function ownerState(owner: string | undefined): 'alive' | 'gone' | 'elsewhere' | 'unknown' {
  const m = /^(.*):(\d+)$/.exec(owner ?? '');
  if (!m) return 'unknown';
  if (m[1] !== hostname()) return 'elsewhere';
  try {
    process.kill(Number(m[2]), 0);
    return 'alive';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'gone';
  }
}

function age(d: Date | undefined): string {
  if (!d) return '?';
  const min = Math.max(0, Math.round((Date.now() - d.getTime()) / 60_000));
  return min < 60 ? `${min}m` : `${Math.floor(min / 60)}h${String(min % 60).padStart(2, '0')}m`;
}

function ownerText(s: HarnessStack): string {
  const state = ownerState(s.owner);
  const who = s.owner ?? 'unknown';
  if (state === 'elsewhere') return `${who} (another host)`;
  if (state === 'unknown') return 'unknown';
  return `${who} (${state})`;
}

async function infraStatus(
  flags: Pick<AwsFlags, 'region' | 'awsConfig' | 'allowAccount' | 'allowRegion'>,
  json: boolean,
): Promise<number> {
  const config = awsConfigOf(flags);
  const region = regionOf(flags, config);
  const c = runClients(region);
  try {
    const stacks = await listHarnessStacks(c.cf);
    if (json) {
      process.stdout.write(
        `${JSON.stringify(
          stacks.map((s) => ({ ...s, ownerProcess: ownerState(s.owner) })),
          null,
          2,
        )}\n`,
      );
      return EXIT.pass;
    }
    if (!stacks.length) {
      process.stdout.write(`no stack of the harness in ${region}\n`);
      return EXIT.pass;
    }
    const rows = [
      ['STACK', 'RUN', 'SCENARIO', 'STATUS', 'AGE', 'LIFETIME', 'OWNER (process)'],
      ...stacks.map((s) => [
        s.name,
        s.runId,
        s.scenario ?? '?',
        s.status,
        age(s.created),
        s.lifetime ?? '?',
        ownerText(s),
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      process.stdout.write(
        `${r
          .map((x, i) => x.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
      );
    return EXIT.pass;
  } finally {
    c.destroy();
  }
}

// --- infra down and cleanup ----------------------------------------------------------------

/** The rails before anything is removed: the account and region must be allowed. */
async function railsFor(flags: Pick<AwsFlags, 'region' | 'awsConfig' | 'allowAccount' | 'allowRegion'>) {
  const config = awsConfigOf(flags);
  const region = regionOf(flags, config);
  const caller = await checkCaller(config, region);
  return { config, region, caller };
}

async function removeAndCheck(
  c: RunClients,
  s: HarnessStack | undefined,
  runId: string,
  bucket: string,
): Promise<string[]> {
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  const ref = {
    runId,
    ...(s ? { stack: s.id, zoneId: s.outputs.HostedZoneId, zoneName: s.outputs.HostedZoneName } : {}),
    bucket,
  };
  const report = await removeRun(c, ref, { log });
  const left = await leftoversOf(c, ref);
  return [...report.problems, ...(left.length ? [`still tagged with run ${runId}: ${left.join(', ')}`] : [])];
}

async function infraDown(name: string, flags: AwsFlags): Promise<number> {
  const { region, caller } = await railsFor(flags);
  const c = runClients(region);
  try {
    const s = (await listHarnessStacks(c.cf)).find((x) => x.name === name);
    if (!s)
      throw new UsageError('NO_SUCH_STACK', `no stack of the harness named ${name} in ${region}`, {
        hint: '`chaos infra status` lists them; `chaos cleanup --provider aws --run <id>` removes what a run left without a stack',
      });
    process.stderr.write(`removing stack ${s.name} (run ${s.runId}) and what it leaves\n`);
    const problems = await removeAndCheck(c, s, s.runId, assetsBucketName(caller.account, region));
    if (problems.length)
      throw new InfraError('AWS_TEARDOWN_INCOMPLETE', `stack ${name}: ${problems.join('; ')}`, {
        hint: `try again: chaos infra down ${name}`,
      });
    process.stdout.write(`stack ${name} removed: nothing tagged chaos:run=${s.runId} is left\n`);
    return EXIT.pass;
  } finally {
    c.destroy();
  }
}

/**
 * `chaos cleanup --provider aws`: the runs whose harness process is gone (their stacks' owner, on
 * this host), and the runs that left tagged resources without a stack; `--run` one run; `--all`
 * every run of the harness in the region, kept stacks and running ones included.
 */
export async function awsCleanupCommand(
  flags: Pick<AwsFlags, 'region' | 'awsConfig' | 'allowAccount' | 'allowRegion'> & {
    run?: string;
    all: boolean;
    dryRun: boolean;
  },
): Promise<number> {
  const { region, caller } = await railsFor(flags);
  const c = runClients(region);
  const bucket = assetsBucketName(caller.account, region);
  try {
    const stacks = await listHarnessStacks(c.cf);
    const notes: string[] = [];
    let targets: { runId: string; stack?: HarnessStack }[];
    if (flags.run) targets = [{ runId: flags.run, ...stacksOf(stacks, flags.run) }];
    else {
      const withStack = stacks.filter((s) => {
        if (flags.all) return true;
        const state = ownerState(s.owner);
        if (s.lifetime === 'kept') return false;
        if (state === 'elsewhere')
          notes.push(`${s.name}: its owner ${s.owner} is on another host; --run ${s.runId} removes it`);
        return state === 'gone' || state === 'unknown';
      });
      const tagged = new Set([...(await taggedRunIds(c.ec2)), ...(await zoneRunIds(c.r53))]);
      const stackless = [...tagged].filter((id) => !stacks.some((s) => s.runId === id)).sort();
      targets = [
        ...withStack.map((s) => ({ runId: s.runId, stack: s })),
        ...stackless.map((runId) => ({ runId })),
      ];
    }
    let removed = 0;
    const problems: string[] = [];
    for (const t of targets) {
      if (flags.dryRun) {
        const left = await leftoversOf(c, {
          runId: t.runId,
          ...(t.stack ? { zoneId: t.stack.outputs.HostedZoneId } : {}),
          bucket,
        });
        process.stdout.write(
          `run ${t.runId}${t.stack ? ` (stack ${t.stack.name})` : ''}: ${left.length ? left.join(', ') : 'nothing'}\n`,
        );
        removed += left.length;
        continue;
      }
      process.stderr.write(`removing run ${t.runId}${t.stack ? ` (stack ${t.stack.name})` : ''}\n`);
      const p = await removeAndCheck(c, t.stack, t.runId, bucket);
      problems.push(...p);
      if (!p.length) removed++;
    }
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    const scope = flags.run ? `run ${flags.run}` : `${targets.length} ${flags.all ? '' : 'stale '}runs`;
    process.stdout.write(
      flags.dryRun
        ? `would remove ${removed} resources of ${scope} in ${region}\n`
        : `removed ${removed} of ${scope} in ${region}\n`,
    );
    if (problems.length) {
      process.stderr.write(
        `${formatErrorLine({ code: 'AWS_TEARDOWN_INCOMPLETE', message: problems.join('; '), hint: 'run it again' })}\n`,
      );
      return EXIT.infra;
    }
    return EXIT.pass;
  } finally {
    c.destroy();
  }
}

function stacksOf(stacks: HarnessStack[], runId: string): { stack?: HarnessStack } {
  const s = stacks.find((x) => x.runId === runId);
  return s ? { stack: s } : {};
}

// --- registration ----------------------------------------------------------------------------

export function registerInfraCommands(program: Command, setCode: (code: number) => void): void {
  const infra = program
    .command('infra')
    .description('a stack on AWS by itself: bring one up for a scenario, list them, remove one');
  addAwsOptions(
    infra
      .command('up')
      .description(
        "create a scenario's stack on AWS and leave it up (shows the plan and its cost first; asks unless --yes)",
      )
      .argument('<scenario>', 'scenario name or file')
      .allowExcessArguments(false)
      .addOption(new Option('--provider <name>', 'the provider (aws only)').default('aws').choices(['aws'])),
    { stack: true, confirm: true, reach: true },
  ).action(async (name: string, flags: AwsFlags) => setCode(await infraUp(name, flags)));
  addAwsOptions(
    infra
      .command('status')
      .description(
        'every stack of the harness in the region: name, run, status, age, and whether its owner process runs',
      )
      .allowExcessArguments(false)
      .addOption(new Option('--provider <name>', 'the provider (aws only)').default('aws').choices(['aws']))
      .option('--json', 'as JSON', false),
  ).action(async (flags: AwsFlags & { json: boolean }) => setCode(await infraStatus(flags, flags.json)));
  addAwsOptions(
    infra
      .command('down')
      .description('delete a stack of the harness, wait, and remove what CloudFormation leaves behind')
      .argument('<stack>', 'the stack name, as `chaos infra status` lists it')
      .allowExcessArguments(false)
      .addOption(new Option('--provider <name>', 'the provider (aws only)').default('aws').choices(['aws'])),
  ).action(async (name: string, flags: AwsFlags) => setCode(await infraDown(name, flags)));
}
