import { hostname } from 'node:os';
import {
  ChaosError,
  InfraError,
  InterruptedError,
  ScenarioError,
  UsageError,
  errorMessage,
} from '../../core/errors.ts';
import { FAULTS } from '../../core/faults.ts';
import type {
  FaultAsked,
  ImageRef,
  NodeRef,
  PreflightCheck,
  Provider,
  ProvisionOptions,
  Stack,
  StackPlan,
} from '../../core/provider.ts';
import { assetsBucketName, ensureBucket, putText, uploadAssets } from './assets.ts';
import { AwsStack, type Reach } from './aws-stack.ts';
import {
  LIFETIME_TAG,
  type StackLifetime,
  TEMPLATE_BODY_MAX,
  createStack,
  deployable,
  describeStack,
  failureReasons,
  followStack,
  harnessStackOf,
  outputsOf,
} from './cloudformation.ts';
import type { AwsConfig, BlastRadius } from './config.ts';
import { experimentsOf } from './experiments.ts';
import { type PlanEntry, type PlanInput, TAGS, planFaults } from './fis-plan.ts';
import { type CallerCheck, checkBlastRadius, checkCaller, planBlastRadius } from './rails.ts';
import { type RunClients, removeRun, runClients } from './teardown.ts';
import { type LoadBalancerInput, renderTemplate, templateAssets, toJson } from './template.ts';

/**
 * The AWS provider (`--provider aws`): a run's stack as ONE CloudFormation stack
 * (template.ts), its assets in S3 (assets.ts), its faults as FIS experiments or direct calls
 * (aws-stack.ts, fault-map.ts), the rails before anything is created (rails.ts), and a teardown
 * that leaves nothing tagged with the run (teardown.ts). It knows no system by name: the engine
 * gives it the scenario on paper (engine/aws-plan.ts `planInput`), a resolver for live targets,
 * and, for a web tier, which node an ALB stands for.
 */

export interface AwsProviderOptions {
  region: string;
  config: AwsConfig;
  /** The scenario on paper: every fault is planned (and merged per instant) from it before anything is created. */
  plan: PlanInput;
  /** The stack's name; default `chaos-<scenario>-<run id>`. */
  stackName?: string | undefined;
  /** Use the stack `stackName` as it is (one kept from `chaos infra up`), and leave it up at the end. */
  existing?: boolean;
  /** `run` (default): removed at the end of the run; `kept`: by `chaos infra down`. */
  lifetime?: StackLifetime;
  reach?: Reach;
  instanceType?: string | undefined;
  loadBalancer?: LoadBalancerInput | undefined;
  /** Record TTLs Route 53 cannot keep (the engine reads them from the systems' specs), one line each. */
  recordTtlProblems?: readonly string[];
  /**
   * The agents' Route 53 calls a second past its API's rate (the engine estimates them from the
   * systems' specs: engine/cli-infra.ts `registryRateProblems`), one line with the fix.
   */
  registryRateProblems?: readonly string[];
  /**
   * A blast radius over the scenario's own (`aws.blastRadius`, which comes with the plan, as each
   * fault's own `faults[].aws.blastRadius` does: engine/aws-plan.ts) and the config's.
   */
  blastRadius?: Partial<BlastRadius> | undefined;
  resolve?: ((stack: Stack, selector: string) => Promise<NodeRef[]>) | undefined;
  /** A line per step of provisioning and teardown, for a person watching. */
  log?: ((line: string) => void) | undefined;
}

/** A stand-in role for planning before the stack (and its FIS role) exists. */
const PLANNING_ROLE = 'arn:aws:iam::000000000000:role/chaos/planning';
const PLANNING_RUN = 'planning';

export class AwsProvider implements Provider {
  readonly name = 'aws';
  private caller: CallerCheck | undefined;
  private images: Record<string, { image: string; source: string }> | undefined;
  private readonly stacks = new Map<string, AwsStack>();
  /** Stacks being created, by run id: what a forced teardown must find before provision returns. */
  private readonly creating = new Map<string, { stackName: string; bucket?: string; stackId?: string }>();

  constructor(readonly opts: AwsProviderOptions) {}

  get region(): string {
    return this.opts.region;
  }

  /** The stack's zone letters (a node of no zone, such as a load balancer, is in none). */
  private zones(): string[] {
    return [...new Set(this.opts.plan.nodes.map((n) => n.az))].filter((a) => /^[a-z]$/.test(a)).sort();
  }

  /** What FIS (or a direct call) can do of the vocabulary, as `chaos plan --provider aws` says. */
  supports(fault: FaultAsked): { ok: true } | { ok: false; reason: string } {
    const fis = FAULTS[fault.action]?.fis;
    if (!fis) return { ok: false, reason: `'${fault.action}' has no AWS mapping` };
    if (fis.action === null) return { ok: false, reason: `no FIS action does a ${fault.action}: ${fis.why}` };
    if (fault.action === 'freeze-volume' && fault.method === 'cgroup')
      return {
        ok: false,
        reason:
          'method: cgroup freezes every process of the node, which no FIS action does; drop `method` (aws:ebs:pause-volume-io pauses the volume itself)',
      };
    return { ok: true };
  }

  /**
   * The limits the scenario's faults run under: the config's, the scenario's `aws.blastRadius`
   * over them (and `opts.blastRadius` over that, where the caller gives one), each fault's own
   * over all of these.
   */
  blastRadius(): ReturnType<typeof planBlastRadius> {
    const own = Object.entries(this.opts.blastRadius ?? {}).filter(([, v]) => v !== undefined);
    return planBlastRadius(this.opts.config, this.opts.plan, {
      ...this.opts.plan.blastRadius,
      ...Object.fromEntries(own),
    });
  }

  /** The plan with stand-ins for what exists only once the stack does (the run id, the FIS role). */
  planOnPaper(): PlanEntry[] {
    return planFaults(this.opts.plan, {
      region: this.opts.region,
      runId: PLANNING_RUN,
      roleArn: PLANNING_ROLE,
      stopAlarmArns: [],
    });
  }

  /**
   * Everything checked before anything is created: the caller's account and the region (allowed,
   * with the zones the stack needs), record TTLs Route 53 can keep, the agents' Route 53 calls
   * within its rate, the blast radius, every fault
   * planned (a refusal is a failed check), the faults of each instant merged within FIS's limits,
   * and the images the nodes pull.
   */
  async preflight(images: readonly ImageRef[], _faults: readonly FaultAsked[]): Promise<PreflightCheck[]> {
    const checks: PreflightCheck[] = [];
    const fail = (what: string, error: ChaosError): PreflightCheck => ({
      what,
      ok: false,
      detail: error.message,
      error,
    });
    try {
      this.caller = await checkCaller(this.opts.config, this.opts.region, { azs: this.zones() });
      checks.push({
        what: 'AWS account and region',
        ok: true,
        detail: `account ${this.caller.account} (${this.caller.arn}), ${this.opts.region}: zones ${this.zones()
          .map((z) => `${this.opts.region}${z}`)
          .join(', ')}`,
      });
    } catch (err) {
      checks.push(fail('AWS account and region', asChaos(err)));
    }
    checks.push(this.reachCheck());
    const ttl = this.opts.recordTtlProblems ?? [];
    checks.push(
      ttl.length
        ? fail(
            'record TTLs',
            new ScenarioError('AWS_RECORD_TTL', ttl.join('; '), {
              hint: 'Route 53 TTLs are whole seconds of at least 1: give the system 1000, 2000...',
            }),
          )
        : { what: 'record TTLs', ok: true, detail: 'whole seconds (Route 53)' },
    );
    const rate = this.opts.registryRateProblems ?? [];
    checks.push(
      rate.length
        ? fail(
            'Route 53 request rate',
            new ScenarioError('AWS_ROUTE53_RATE', rate.join('; '), {
              hint: 'Route 53 throttles API requests per account; on AWS the agents check every second or two, not every 100 ms',
            }),
          )
        : {
            what: 'Route 53 request rate',
            ok: true,
            detail: "the agents' registry calls within Route 53's rate",
          },
    );
    try {
      const { limits: l, faults } = this.blastRadius();
      checkBlastRadius(this.opts.plan.scenario, faults, this.opts.plan.nodes, l);
      const own = faults.filter((f) => f.override).map((f) => `#${f.index}`);
      checks.push({
        what: 'blast radius',
        ok: true,
        detail: `every fault within ${l.maxAzs} zone(s) and ${l.maxNodeFraction} of a system's nodes${own.length ? ` (${own.join(', ')} within their own aws.blastRadius)` : ''}`,
      });
    } catch (err) {
      checks.push(fail('blast radius', asChaos(err)));
    }
    const entries = this.planOnPaper();
    for (const e of entries) {
      const what = `fault #${e.fault} ${e.action} ${e.target}`;
      if (e.kind === 'refused')
        checks.push(
          fail(
            what,
            new ScenarioError(
              'FAULT_UNSUPPORTED',
              `fault #${e.fault} (${e.action} ${e.target}): not on AWS: ${e.reason}`,
              { hint: e.hint },
            ),
          ),
        );
      else checks.push({ what, ok: true, detail: describeEntry(e) });
    }
    if (!entries.some((e) => e.kind === 'refused')) {
      try {
        const merged = experimentsOf(entries, {
          runId: PLANNING_RUN,
          roleArn: PLANNING_ROLE,
          stopAlarmArns: [],
        });
        checks.push({
          what: 'FIS experiments',
          ok: true,
          detail: merged.length
            ? merged.map((m) => `+${m.at} ms: ${m.faults.map((f) => `#${f}`).join(', ')}`).join('; ')
            : 'none (direct calls or runbook steps only)',
        });
      } catch (err) {
        checks.push(fail('FIS experiments', asChaos(err)));
      }
    }
    try {
      const chosen = this.chooseImages(images);
      checks.push({
        what: 'images',
        ok: true,
        detail: Object.entries(chosen)
          .map(([k, v]) => `${k}=${v.image}`)
          .join(', '),
      });
    } catch (err) {
      checks.push(fail('images', asChaos(err)));
    }
    return checks;
  }

  /**
   * Where the harness reaches the nodes from, for a run. Inside the VPC (`vpc`) needs a stack
   * that exists: a new stack's VPC cannot hold the host the harness already runs on, so a run
   * that would make its own stack is refused before anything is created.
   */
  private reachCheck(): PreflightCheck {
    const reach = this.opts.reach ?? { kind: 'vpc' };
    const what = 'harness reach';
    if (this.opts.lifetime === 'kept') return { what, ok: true, detail: 'infra up: nothing is probed' };
    if (reach.kind === 'public')
      return {
        what,
        ok: true,
        detail: `the nodes' public addresses, their service ports open to ${reach.cidr}`,
      };
    if (reach.kind === 'routed')
      return { what, ok: true, detail: "the nodes' private addresses, routed to this host (peering, a VPN)" };
    if (this.opts.existing)
      return {
        what,
        ok: true,
        detail: `inside the VPC of ${this.opts.stackName}: checked once its nodes are found`,
      };
    const error = new UsageError(
      'AWS_REACH_NEEDS_STACK',
      "--probe-from vpc (the default) runs the probes inside the stack's VPC, and a stack this run would make has no VPC yet that this host could be in",
      {
        hint: '`chaos infra up` the stack, then run on a probe host in its VPC with --stack NAME; or reach the nodes from here with --probe-from <your public IP>/32 (or --probe-from routed over peering or a VPN)',
      },
    );
    return { what, ok: false, detail: error.message, error };
  }

  /**
   * The image each node pulls from a registry: the variable's (CHAOS_IMAGE_...) where it names
   * one, else the official image. An image built on this machine (`chaos-local/...`) is nowhere
   * an instance can pull it from.
   */
  chooseImages(images: readonly ImageRef[]): Record<string, { image: string; source: string }> {
    const out: Record<string, { image: string; source: string }> = {};
    for (const i of images) {
      const own = process.env[i.env]?.trim();
      if (own?.startsWith('chaos-local/'))
        throw new UsageError(
          'AWS_LOCAL_IMAGE',
          `${i.env}=${own} is an image built on this machine: the instances pull theirs from a registry`,
          {
            hint: `unset ${i.env} (the official ${i.official} is used), or push the image to a registry the instances reach and name it there`,
          },
        );
      out[i.name] = own ? { image: own, source: i.env } : { image: i.official, source: 'official' };
    }
    return out;
  }

  async prepare(images: readonly ImageRef[]): Promise<void> {
    this.images = this.chooseImages(images);
    this.caller ??= await checkCaller(this.opts.config, this.opts.region, { azs: this.zones() });
  }

  /** The stack's name: the one given, else `chaos-<scenario>-<run id>` within a DNS label's 63. */
  stackNameFor(scenario: string, runId: string): string {
    if (this.opts.stackName) return this.opts.stackName;
    const room = 63 - 'chaos-'.length - runId.length - 1;
    const base = scenario
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, room)
      .replace(/-+$/, '');
    return `chaos-${base}-${runId}`;
  }

  /**
   * A run's stack: created (or, with `existing`, found), its nodes discovered, the metric
   * publisher and the stop alarm started. Anything created before a failure or an abort is
   * removed before this throws.
   */
  async provision(plan: StackPlan, opts: ProvisionOptions): Promise<AwsStack> {
    const stack = this.opts.existing ? await this.attach(plan, opts) : await this.create(plan, opts);
    this.stacks.set(opts.runId, stack);
    try {
      if (opts.signal?.aborted) throw new InterruptedError(String(opts.signal.reason));
      // Before the systems' readiness: never an address handed out that this host cannot reach.
      stack.assertReachable();
      await stack.startRun();
      return stack;
    } catch (err) {
      if (opts.logsDir) await stack.collectLogs(opts.logsDir).catch(() => {});
      const down = await stack.teardown().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (down && err instanceof ChaosError && !(err instanceof InterruptedError))
        throw new InfraError(err.code, `${err.message}; and removing the stack: ${errorMessage(down)}`, {
          hint: `\`chaos infra down ${stack.stackName}\` removes what is left`,
          cause: err,
        });
      throw err;
    }
  }

  /** `chaos infra up`: the stack alone, kept (no publisher, no alarm: those are a run's). */
  bringUp(plan: StackPlan, opts: ProvisionOptions): Promise<AwsStack> {
    return this.create(plan, opts);
  }

  /** A stack kept from `infra up`: found by name, checked to be this scenario's, its nodes discovered. */
  private async attach(plan: StackPlan, opts: ProvisionOptions): Promise<AwsStack> {
    const clients = runClients(this.opts.region);
    const name = this.opts.stackName ?? '';
    const found = await describeStack(clients.cf, name);
    const h = found ? harnessStackOf(found) : undefined;
    if (!found || !h) {
      clients.destroy();
      throw new UsageError('NO_SUCH_STACK', `no stack of the harness named ${name} in ${this.opts.region}`, {
        hint: '`chaos infra status` lists them; `chaos infra up <scenario>` makes one',
      });
    }
    if (h.status !== 'CREATE_COMPLETE' && h.status !== 'UPDATE_COMPLETE') {
      clients.destroy();
      throw new InfraError('STACK_NOT_READY', `stack ${name} is ${h.status}, not CREATE_COMPLETE`, {
        hint: `\`chaos infra down ${name}\` removes it`,
      });
    }
    if (h.scenario !== this.opts.plan.scenario) {
      clients.destroy();
      throw new UsageError(
        'STACK_OF_ANOTHER_SCENARIO',
        `stack ${name} was brought up for scenario ${h.scenario ?? '(none)'}, not ${this.opts.plan.scenario}`,
        { hint: `run ${h.scenario} on it, or bring one up for ${this.opts.plan.scenario}` },
      );
    }
    const stack = new AwsStack({
      clients,
      region: this.opts.region,
      runId: opts.runId,
      stackRunId: h.runId,
      scenario: this.opts.plan.scenario,
      stackName: name,
      stackId: h.id,
      outputs: h.outputs,
      owned: false,
      bucket: this.caller ? assetsBucketName(this.caller.account, this.opts.region) : '',
      plan: this.opts.plan,
      stackPlan: plan,
      images: this.images,
      reach: this.opts.reach ?? { kind: 'vpc' },
      clock: opts.clock,
      onEvent: opts.onEvent,
      signal: opts.signal,
      resolve: this.opts.resolve,
      log: this.opts.log,
    });
    await stack.discover();
    return stack;
  }

  private async create(plan: StackPlan, opts: ProvisionOptions): Promise<AwsStack> {
    const { region } = this.opts;
    const log = this.opts.log ?? (() => {});
    const caller = this.caller ?? (await checkCaller(this.opts.config, region, { azs: this.zones() }));
    this.caller = caller;
    const images = this.images ?? this.chooseImages([]);
    const runId = opts.runId;
    const scenario = this.opts.plan.scenario;
    const stackName = this.stackNameFor(scenario, runId);
    if (!stackName.startsWith('chaos-'))
      throw new UsageError('AWS_STACK_NAME', `stack name '${stackName}' does not start with chaos-`, {
        hint: 'the harness (and infra/aws/iam-policy.json) only makes and removes stacks named chaos-...',
      });
    // Every instant merged within FIS's limits, and the template rendered, before anything exists.
    const paper = this.planOnPaper();
    experimentsOf(paper, { runId: PLANNING_RUN, roleArn: PLANNING_ROLE, stopAlarmArns: [] });
    const bucket = assetsBucketName(caller.account, region);
    const template = deployable(
      renderTemplate({
        plan,
        runId,
        scenario,
        stackName,
        region,
        zonesInRegion: caller.zones,
        azs: this.zones(),
        images: Object.fromEntries(Object.entries(images).map(([k, v]) => [k, v.image])),
        assetsBucket: bucket,
        ...(this.opts.instanceType ? { instanceType: this.opts.instanceType } : {}),
        fisActions: [
          ...new Set(
            paper.flatMap((e) =>
              e.kind === 'fis-template'
                ? Object.values(e.template.actions ?? {}).map((a) => a.actionId ?? '')
                : [],
            ),
          ),
        ].filter(Boolean),
        ...(this.opts.loadBalancer ? { loadBalancer: this.opts.loadBalancer } : {}),
        ...(this.opts.reach?.kind === 'public' ? { probeCidr: this.opts.reach.cidr } : {}),
      }),
    );
    const clients = runClients(region);
    const record = { stackName, bucket } as { stackName: string; bucket?: string; stackId?: string };
    this.creating.set(runId, record);
    const lifetime = this.opts.lifetime ?? 'run';
    let stackId: string | undefined;
    try {
      if (opts.signal?.aborted) throw new InterruptedError(String(opts.signal.reason));
      if (await ensureBucket(clients.s3, bucket, region)) log(`S3: bucket ${bucket} made`);
      const assets = templateAssets({
        plan,
        ...(this.opts.loadBalancer ? { loadBalancer: this.opts.loadBalancer } : {}),
      });
      const bytes = await uploadAssets(clients.s3, bucket, runId, assets);
      log(`S3: ${assets.length} assets (${Math.round(bytes / 1024)} KiB) under s3://${bucket}/${runId}/`);
      const body = toJson(template, 0);
      const url =
        Buffer.byteLength(body) > TEMPLATE_BODY_MAX
          ? await putText(clients.s3, bucket, `${runId}/template.json`, body, region)
          : undefined;
      if (opts.signal?.aborted) throw new InterruptedError(String(opts.signal.reason));
      stackId = await createStack(clients.cf, {
        name: stackName,
        ...(url ? { url } : { body }),
        tags: { scenario, runId, owner: `${hostname()}:${process.pid}`, lifetime },
      });
      record.stackId = stackId;
      log(`CloudFormation: creating ${stackName} (${TAGS.run}=${runId}, ${LIFETIME_TAG}=${lifetime})`);
      const { stack: final, events } = await followStack(clients.cf, stackId, {
        clock: opts.clock,
        onEvent: opts.onEvent,
        log: (l) => log(`  ${l}`),
        signal: opts.signal,
      });
      if (final?.StackStatus !== 'CREATE_COMPLETE') {
        const reasons = failureReasons(events);
        throw new InfraError(
          'STACK_CREATE_FAILED',
          `stack ${stackName} ${final?.StackStatus ?? 'is gone'}: ${reasons.join('; ') || final?.StackStatusReason || 'no reason given'}`,
          { hint: `it is being removed; if anything is left, \`chaos infra down ${stackName}\` removes it` },
        );
      }
      const stack = new AwsStack({
        clients,
        region,
        runId,
        stackRunId: runId,
        scenario,
        stackName,
        stackId,
        outputs: outputsOf(final),
        owned: true,
        bucket,
        plan: this.opts.plan,
        stackPlan: plan,
        images,
        reach: this.opts.reach ?? { kind: 'vpc' },
        clock: opts.clock,
        onEvent: opts.onEvent,
        signal: opts.signal,
        resolve: this.opts.resolve,
        log: this.opts.log,
      });
      this.stacks.set(runId, stack);
      try {
        const nodes = await stack.discover();
        log(
          `EC2: ${nodes.length} nodes: ${nodes.map((n) => `${n.name} (${this.opts.region}${n.az})`).join(', ')}`,
        );
      } catch (err) {
        await stack.teardown().catch(() => {});
        throw err;
      }
      return stack;
    } catch (err) {
      if (!this.stacks.has(runId)) {
        const report = await removeRun(clients, { runId, stack: stackId ?? stackName, bucket }, { log });
        clients.destroy();
        if (report.problems.length && err instanceof ChaosError && !(err instanceof InterruptedError))
          throw new InfraError(err.code, `${err.message}; removing it: ${report.problems.join('; ')}`, {
            hint: `\`chaos infra down ${stackName}\` removes what is left`,
          });
      }
      if (opts.signal?.aborted && !(err instanceof InterruptedError))
        throw new InterruptedError(String(opts.signal.reason));
      throw err;
    } finally {
      this.creating.delete(runId);
    }
  }

  /** The stack a run is on, once provisioned. */
  stackOf(runId: string): AwsStack | undefined {
    return this.stacks.get(runId);
  }

  /**
   * The forced path (a second Ctrl-C): every experiment of the run stopped, its templates and
   * alarm deleted, the stack's deletion requested and waited for a minute at most, what it left
   * removed where it is gone. A stack still being created is found by its name.
   */
  async forceTeardown(runId: string): Promise<void> {
    const clients = runClients(this.opts.region);
    try {
      const stack = this.stacks.get(runId);
      if (stack) {
        await stack.forceTeardown(clients);
        return;
      }
      const making = this.creating.get(runId);
      if (making)
        await removeRun(
          clients,
          {
            runId,
            stack: making.stackId ?? making.stackName,
            ...(making.bucket ? { bucket: making.bucket } : {}),
          },
          { timeoutMs: 60_000, pollMs: 2000, ...(this.opts.log ? { log: this.opts.log } : {}) },
        );
    } finally {
      clients.destroy();
    }
  }
}

/** One plan entry in a few words: `FIS aws:ec2:terminate-instances`, `direct: ec2 StopInstances...`. */
export function describeEntry(e: PlanEntry): string {
  if (e.kind === 'fis-template')
    return `FIS ${[...new Set(Object.values(e.template.actions ?? {}).map((a) => a.actionId))].join(', ')}`;
  if (e.kind === 'api-calls')
    return `direct: ${[...new Set(e.calls.filter((c) => c.operation !== 'DescribeInstances').map((c) => `${c.service} ${c.operation}`))].join(', ')}`;
  if (e.kind === 'refused') return `refused: ${e.reason}`;
  return 'runbook step (the runner)';
}

function asChaos(err: unknown): ChaosError {
  return err instanceof ChaosError ? err : new InfraError('AWS_FAILED', errorMessage(err), { cause: err });
}

export type { RunClients };
