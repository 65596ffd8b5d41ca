import { DescribeAvailabilityZonesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { type ChaosError, InfraError, ScenarioError, UsageError, errorMessage } from '../../core/errors.ts';
import { clientConfig } from './aws-clients.ts';
import { type AwsConfig, type BlastRadius, describeSources } from './config.ts';
import { type PlanFault, type PlanInput, type PlanNode, zoneName } from './fis-plan.ts';

/**
 * The rails the AWS provider runs on, checked before anything is created:
 *
 * - `checkCaller`: the region is one the config allows, the credentials work (STS
 *   GetCallerIdentity), their account is one the config allows, and the region has the zones the
 *   stack is laid out over (EC2 DescribeAvailabilityZones). Each refusal is one line that says
 *   what and how to fix it, exit 2 (UsageError); an API that does not answer is exit 3.
 * - `blastRadiusProblems` / `checkBlastRadius`: no fault touches more zones than `maxAzs` (1), or
 *   more than `maxNodeFraction` (half) of a system's nodes, unless the scenario raises the limit
 *   (`aws.blastRadius` for the scenario, `faults[].aws.blastRadius` for one fault).
 */

export interface CallerCheck {
  account: string;
  /** The caller's ARN (`arn:aws:sts::123456789012:assumed-role/chaos/me`). */
  arn: string;
  region: string;
  /** The region's available zones (`eu-west-1a`, ...). */
  zones: string[];
}

export interface CheckCallerOptions {
  /** The zones the stack is laid out over, as letters (`['a', 'b', 'c']`), or how many it needs. */
  azs?: readonly string[] | number;
  /** The clients to use; by default ones for `region` (aws-clients.ts: the SDK's credential chain, AWS_ENDPOINT_URL(_STS, _EC2)). */
  sts?: Pick<STSClient, 'send'>;
  ec2?: Pick<EC2Client, 'send'>;
  /** Each call's time limit; default 10 s. */
  timeoutMs?: number;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** Errors STS answers when it got credentials it will not take. */
const REFUSED = new Set([
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
  'AccessDenied',
  'AccessDeniedException',
]);

/**
 * Who the credentials are and whether this harness may work there. Makes no change anywhere:
 * call it before anything is created.
 */
export async function checkCaller(
  config: AwsConfig,
  region: string,
  opts: CheckCallerOptions = {},
): Promise<CallerCheck> {
  // Before any call: nothing is sent to a region that is not allowed.
  const bad = regionProblem(config, region);
  if (bad) throw bad;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const sts = opts.sts ?? new STSClient(clientConfig('STS', { region }));
  let identity: { Account?: string | undefined; Arn?: string | undefined };
  try {
    identity = await sts.send(new GetCallerIdentityCommand({}), {
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw callerError(err, region, timeoutMs);
  } finally {
    if (!opts.sts) (sts as STSClient).destroy();
  }
  const account = identity.Account ?? '';
  const arn = identity.Arn ?? '';
  const refused = accountProblem(config, account, arn);
  if (refused) throw refused;
  const zones = await availableZones(region, opts.ec2, timeoutMs);
  const short = zonesProblem(config, region, zones, opts.azs ?? 0);
  if (short) throw short;
  return { account, arn, region, zones };
}

/** The file a message tells the user to edit. */
const fileToEdit = (config: AwsConfig) => config.file ?? config.expectedFile;

/** Why `region` is refused, or undefined. */
export function regionProblem(config: AwsConfig, region: string): UsageError | undefined {
  if (!REGION.test(region))
    return new UsageError('BAD_REGION', `'${region}' is not an AWS region name`, {
      hint: 'give one such as us-east-1 or eu-west-2',
    });
  if (config.regions.includes(region)) return undefined;
  const sources = describeSources(config);
  return new UsageError(
    'AWS_REGION_NOT_ALLOWED',
    `region ${region} is not allowed: ${config.regions.length ? `${sources} allows ${config.regions.join(', ')}` : `${sources} allows no region`}`,
    { hint: `add ${region} to regions: in ${fileToEdit(config)}, or pass --allow-region ${region}` },
  );
}

/** Why the credentials' account is refused, or undefined. */
export function accountProblem(config: AwsConfig, account: string, arn: string): UsageError | undefined {
  if (config.accounts.includes(account)) return undefined;
  const sources = describeSources(config);
  return new UsageError(
    'AWS_ACCOUNT_NOT_ALLOWED',
    `account ${account} (${arn}) is not allowed: ${config.accounts.length ? `${sources} allows ${config.accounts.join(', ')}` : `${sources} allows no account`}`,
    {
      hint: `if chaos may run there, add '${account}' to accounts: in ${fileToEdit(config)}, or pass --allow-account ${account}; else use other credentials (AWS_PROFILE)`,
    },
  );
}

/** Why the region's zones cannot hold the stack (`needed`: letters, or a count), or undefined. */
export function zonesProblem(
  config: AwsConfig,
  region: string,
  zones: readonly string[],
  needed: readonly string[] | number,
): UsageError | undefined {
  const want = typeof needed === 'number' ? needed : needed.length;
  const names = typeof needed === 'number' ? [] : needed.map((l) => zoneName(region, l));
  const missing = names.filter((z) => !zones.includes(z));
  if (zones.length >= want && missing.length === 0) return undefined;
  const which = names.length
    ? ` (${names.join(', ')}${missing.length ? `; ${missing.join(', ')} is not available` : ''})`
    : '';
  return new UsageError(
    'AWS_TOO_FEW_AZS',
    `region ${region} has ${zones.length} available zone${zones.length === 1 ? '' : 's'} (${zones.join(', ') || 'none'}); the stack needs ${want}${which}`,
    {
      hint: `run in a region with those zones (allow it in ${fileToEdit(config)} or with --allow-region), or lay the stack out over fewer zones`,
    },
  );
}

/** What an STS GetCallerIdentity failure means to the user: one ChaosError. */
export function callerError(err: unknown, region: string, timeoutMs: number): ChaosError {
  const name = (err as { name?: string })?.name ?? '';
  const msg = errorMessage(err);
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(msg))
    return new UsageError(
      'AWS_NO_CREDENTIALS',
      'no AWS credentials: none in the environment, ~/.aws or an instance role',
      {
        hint: 'set AWS_PROFILE (after aws sso login or aws configure), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
        cause: err,
      },
    );
  if (REFUSED.has(name))
    return new UsageError('AWS_BAD_CREDENTIALS', `STS refused the AWS credentials (${name}: ${msg})`, {
      hint: 'renew them (aws sso login) or check AWS_PROFILE and AWS_ACCESS_KEY_ID',
      cause: err,
    });
  const hint = 'check the network, a proxy (HTTPS_PROXY) or AWS_ENDPOINT_URL';
  if (name === 'AbortError' || name === 'TimeoutError')
    return new InfraError('AWS_UNREACHABLE', `STS in ${region} did not answer within ${timeoutMs} ms`, {
      hint,
      cause: err,
    });
  return new InfraError('AWS_UNREACHABLE', `STS in ${region}: ${name ? `${name}: ` : ''}${msg}`, {
    hint,
    cause: err,
  });
}

async function availableZones(
  region: string,
  client: Pick<EC2Client, 'send'> | undefined,
  timeoutMs: number,
): Promise<string[]> {
  const ec2 = client ?? new EC2Client(clientConfig('EC2', { region }));
  try {
    const out = await ec2.send(new DescribeAvailabilityZonesCommand({}), {
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
    return (out.AvailabilityZones ?? [])
      .filter((z) => z.State === 'available' && (z.ZoneType ?? 'availability-zone') === 'availability-zone')
      .map((z) => z.ZoneName ?? '')
      .filter(Boolean)
      .sort();
  } catch (err) {
    const name = (err as { name?: string })?.name ?? '';
    if (name === 'UnauthorizedOperation' || name === 'AccessDenied')
      throw new UsageError('AWS_DENIED', `EC2 DescribeAvailabilityZones in ${region} was denied (${name})`, {
        hint: 'the credentials need ec2:DescribeAvailabilityZones',
        cause: err,
      });
    throw new InfraError(
      'AWS_UNREACHABLE',
      `EC2 DescribeAvailabilityZones in ${region}: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  } finally {
    if (!client) (ec2 as EC2Client).destroy();
  }
}

// --- Blast radius -------------------------------------------------------------------------------

/** A node as the blast radius counts it. */
export interface ReachNode {
  name: string;
  system: string;
  az: string;
}

/** What one fault reaches, resolved on paper. */
export interface FaultReach {
  /** 1-based, as results number faults. */
  index: number;
  /** `kill redis:head`: how a message names the fault. */
  label: string;
  /** The nodes it touches for certain. */
  nodes: ReachNode[];
  /** Nodes picked at random at injection: `count` of `of`, counted at their worst (as many zones as can be). */
  picks?: { count: number; of: ReachNode[] }[];
  /** The fault's own limits (`faults[].aws.blastRadius`), over the scenario's. */
  override?: Partial<BlastRadius> | undefined;
}

export interface BlastRadiusProblem {
  index: number;
  label: string;
  kind: 'azs' | 'nodes';
  /** One line: what it touches and which limit it passes. */
  message: string;
  /** The override that would allow it. */
  hint: string;
}

/** The limits a scenario runs under: its own (`aws.blastRadius`) over the config's. */
export function blastRadiusLimits(
  config: Pick<AwsConfig, 'blastRadius'>,
  scenario?: Partial<BlastRadius>,
): BlastRadius {
  return { ...config.blastRadius, ...definedOnly(scenario) };
}

/**
 * Every fault that reaches past the limits. Pure. `stack` is every node of the stack (a
 * system's size is its count there).
 */
export function blastRadiusProblems(
  faults: readonly FaultReach[],
  stack: readonly ReachNode[],
  limits: BlastRadius,
): BlastRadiusProblem[] {
  const size = new Map<string, number>();
  for (const n of stack) size.set(n.system, (size.get(n.system) ?? 0) + 1);
  const out: BlastRadiusProblem[] = [];
  for (const f of faults) {
    const lim = { ...limits, ...definedOnly(f.override) };
    const certain = uniqueByName(f.nodes);
    const azs = new Set(certain.map((n) => n.az));
    const perSystem = new Map<string, string[]>();
    for (const n of certain) perSystem.set(n.system, [...(perSystem.get(n.system) ?? []), n.name]);
    const picked = new Map<string, number>();
    for (const p of f.picks ?? []) {
      // At worst, the picks land in zones the fault does not touch yet.
      const fresh = [...new Set(p.of.map((n) => n.az))].filter((z) => !azs.has(z));
      fresh.slice(0, p.count).forEach((z) => azs.add(z));
      const system = p.of[0]?.system;
      if (system) picked.set(system, (picked.get(system) ?? 0) + Math.min(p.count, p.of.length));
    }
    if (azs.size > lim.maxAzs)
      out.push({
        index: f.index,
        label: f.label,
        kind: 'azs',
        message: `fault #${f.index} (${f.label}) touches ${azs.size} zones (${[...azs].sort().join(', ')}): more than blastRadius.maxAzs ${lim.maxAzs}`,
        hint: `to allow it, set faults[${f.index - 1}].aws.blastRadius.maxAzs: ${azs.size} (this fault), or aws.blastRadius.maxAzs: ${azs.size} (every fault of the scenario)`,
      });
    for (const system of new Set([...perSystem.keys(), ...picked.keys()])) {
      const named = perSystem.get(system) ?? [];
      const count = named.length + (picked.get(system) ?? 0);
      const total = size.get(system) ?? count;
      if (total === 0 || count / total <= lim.maxNodeFraction) continue;
      const which = named.length
        ? ` (${named.join(', ')}${picked.get(system) ? ` and ${picked.get(system)} picked at random` : ''})`
        : ' (picked at random)';
      out.push({
        index: f.index,
        label: f.label,
        kind: 'nodes',
        message: `fault #${f.index} (${f.label}) touches ${count} of ${system}'s ${total} nodes${which}: more than blastRadius.maxNodeFraction ${lim.maxNodeFraction}`,
        hint: `to allow it, set faults[${f.index - 1}].aws.blastRadius.maxNodeFraction: ${roundUp(count / total)} (this fault), or aws.blastRadius.maxNodeFraction: ${roundUp(count / total)} (every fault of the scenario)`,
      });
    }
  }
  return out;
}

/** Throws a ScenarioError (exit 2) naming the first fault past the limits, and how many more there are. */
export function checkBlastRadius(
  scenario: string,
  faults: readonly FaultReach[],
  stack: readonly ReachNode[],
  limits: BlastRadius,
): void {
  const problems = blastRadiusProblems(faults, stack, limits);
  const first = problems[0];
  if (!first) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  throw new ScenarioError('BLAST_RADIUS', `${scenario}: ${first.message}${more}`, { hint: first.hint });
}

/**
 * A planned fault's reach (infra/aws/fis-plan.ts): the nodes its target resolves to. A partition's
 * `from:` side is not counted: it keeps running and reaching itself, only the target is cut off
 * (and FIS has no partition: the plan refuses it on AWS).
 */
export function reachOf(f: PlanFault, override?: Partial<BlastRadius>): FaultReach {
  const t = f.resolved;
  return {
    index: f.index,
    label: `${f.action} ${f.target}${f.from ? ` from ${f.from}` : ''}`,
    nodes: t.kind === 'random' ? [] : t.nodes.map(reachNode),
    ...(t.kind === 'random' ? { picks: [{ count: t.count, of: t.of.map(reachNode) }] } : {}),
    ...(override ? { override } : {}),
  };
}

/**
 * A plan's faults against the limits they run under: the config's, the scenario's own
 * (`aws.blastRadius`, or `scenario` where the caller gives one) over them, and each fault's own
 * (`faults[].aws.blastRadius`) over that. Runbook steps touch nothing. Pure.
 */
export function planBlastRadius(
  config: Pick<AwsConfig, 'blastRadius'>,
  input: Pick<PlanInput, 'faults' | 'nodes' | 'blastRadius'>,
  scenario: Partial<BlastRadius> | undefined = input.blastRadius,
): { limits: BlastRadius; faults: FaultReach[]; problems: BlastRadiusProblem[] } {
  const limits = blastRadiusLimits(config, scenario);
  const faults = input.faults.filter((f) => !f.step).map((f) => reachOf(f, f.blastRadius));
  return { limits, faults, problems: blastRadiusProblems(faults, input.nodes, limits) };
}

const reachNode = (n: PlanNode): ReachNode => ({ name: n.name, system: n.system, az: n.az });

function uniqueByName(nodes: readonly ReachNode[]): ReachNode[] {
  const seen = new Map<string, ReachNode>();
  for (const n of nodes) seen.set(n.name, n);
  return [...seen.values()];
}

function definedOnly(b: Partial<BlastRadius> | undefined): Partial<BlastRadius> {
  const out: Partial<BlastRadius> = {};
  if (b?.maxAzs !== undefined) out.maxAzs = b.maxAzs;
  if (b?.maxNodeFraction !== undefined) out.maxNodeFraction = b.maxNodeFraction;
  return out;
}

/** Up to two decimals, rounded up: a fraction that allows what it names. */
function roundUp(x: number): number {
  return Math.ceil(x * 100 - 1e-9) / 100;
}
