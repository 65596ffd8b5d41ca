import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTRY_PORT } from '../../agents/registry/protocol.ts';
import type { ChaosError } from '../../core/errors.ts';
import type { ContainerPlan, NodePlan, StackPlan } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import { planInput } from '../../engine/aws-plan.ts';
import { loadBalancerOf } from '../../engine/cli-infra.ts';
import { imagesFor } from '../../engine/runner.ts';
import { ROLE_ARN_PLACEHOLDER, planFaults } from '../../infra/aws/fis-plan.ts';
import {
  FIS_ACTION_PERMISSIONS,
  type TemplateInput,
  awsImages,
  renderTemplate,
  toJson,
  toYaml,
} from '../../infra/aws/template.ts';
import { type LoadedScenario, listScenarios } from '../../scenarios/load.ts';
import { activeSystems } from '../../scenarios/schema.ts';
import { LB_PROFILES } from '../../systems/web/lb.ts';
import { freePort, haveMoto, motoSkip } from './moto.ts';

/**
 * The CloudFormation template of every built-in scenario, rendered as `infra up` would render it
 * (each system's plan() with the run's PlanContext, the official images, the FIS actions its
 * faults become in `chaos plan`), and checked by cfn-lint: CloudFormation's resource
 * specifications (every property's type, allowed values and patterns, references, GetAtt
 * attributes, DependsOn, intrinsic functions) in the scenario's region.
 *
 * Where a scenario asks what AWS cannot do (Redis's head record TTL of 500 ms, the web tier's
 * `fast` health checks), the template refuses, and the test checks that refusal names the
 * setting; then it renders the scenario as the refusal's hint says to change it (the TTL at
 * 1000 ms, the `alb-defaults` profile), so that the rest of the template is linted too.
 */

const REGION = 'us-east-1';
const RUN_ID = '0123abcd';
const ZONES = ['a', 'b', 'c', 'd', 'e', 'f'].map((l) => `${REGION}${l}`);

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
const haveLint = onPath('cfn-lint');
const lintSkip = haveLint ? '' : " (skipped: cfn-lint is not on PATH; pip install 'moto[server]' cfn-lint)";

/** The endpoint registry's container, as the runner plans it (the template does not start it). */
function registryPlan(bundle: PlanContext['bundle']): ContainerPlan {
  return {
    image: 'node',
    part: 'registry',
    command: ['node', bundle.target],
    env: { CHAOS_ENTRY: 'registry', REGISTRY_PORT: String(REGISTRY_PORT) },
    ports: [REGISTRY_PORT],
    readyLog: /registry-ready/,
    files: [bundle],
  };
}

interface Rendered {
  name: string;
  input: TemplateInput;
  /** The refusals met on the way, each as code and message. */
  refusals: { code: string; message: string }[];
}

/** A scenario's template input, as infra up makes it. */
function inputOf(loaded: LoadedScenario): TemplateInput {
  const s = loaded.scenario;
  const ctx: PlanContext = {
    runId: RUN_ID,
    registryUrl: `http://registry:${REGISTRY_PORT}`,
    bundle: { source: join(tmpdir(), 'chaos-agents-0123456789abcdef.cjs'), target: '/opt/chaos/agents.cjs' },
  };
  const systems = activeSystems(s);
  const nodes = systems.flatMap((x) => x.def.plan(x.spec, ctx));
  const plan: StackPlan = {
    registry: registryPlan(ctx.bundle),
    nodes,
    sharedVolumes: systems.flatMap((x) => x.def.sharedVolumes ?? []),
  };
  const fisActions = fisActionsOf(loaded);
  const loadBalancer = loadBalancerOf(loaded);
  return {
    plan,
    runId: RUN_ID,
    scenario: s.name,
    stackName: `chaos-${s.name}-${RUN_ID}`,
    region: REGION,
    zonesInRegion: ZONES,
    azs: [...new Set(nodes.map((n) => n.az).filter((az) => /^[a-z]$/.test(az)))].sort(),
    images: awsImages(imagesFor(s), {}),
    fisActions,
    ...(loadBalancer ? { loadBalancer } : {}),
  };
}

/**
 * The FIS actions a scenario's faults become in `chaos plan`. Where the plan itself cannot be
 * made (a system whose paper plan fails), the FIS role gets every action the template knows, and
 * the test says so: the template is linted either way.
 */
function fisActionsOf(loaded: LoadedScenario): string[] {
  try {
    return planFaults(planInput(loaded), {
      region: REGION,
      runId: RUN_ID,
      roleArn: ROLE_ARN_PLACEHOLDER,
      stopAlarmArns: [],
    }).flatMap((e) =>
      e.kind === 'fis-template' ? Object.values(e.template.actions ?? {}).map((a) => a.actionId!) : [],
    );
  } catch (err) {
    console.warn(
      `${loaded.scenario.name}: chaos plan failed (${(err as Error).message}); the FIS role gets every action`,
    );
    return [...FIS_ACTION_PERMISSIONS];
  }
}

/** What the refusals' hints say to do, done: each TTL at a whole second, the ALB's own defaults. */
function fixed(input: TemplateInput, code: string): TemplateInput {
  if (code === 'AWS_RECORD_TTL') {
    const nodes: NodePlan[] = input.plan.nodes.map((n) => ({
      ...n,
      main: raiseTtls(n.main),
      sidecars: n.sidecars.map(raiseTtls),
    }));
    return { ...input, plan: { ...input.plan, nodes } };
  }
  if (code === 'AWS_HEALTH_CHECK' && input.loadBalancer)
    return { ...input, loadBalancer: { ...input.loadBalancer, profile: LB_PROFILES['alb-defaults'] } };
  throw new Error(`no fix for ${code}`);
}
function raiseTtls(c: ContainerPlan): ContainerPlan {
  const env = Object.fromEntries(
    Object.entries(c.env ?? {}).map(([k, v]) =>
      /TTL_MS$/.test(k) ? [k, String(Math.max(1000, Math.ceil(Number(v) / 1000) * 1000))] : [k, v],
    ),
  );
  return { ...c, env };
}

function render(loaded: LoadedScenario): Rendered {
  let input = inputOf(loaded);
  const refusals: Rendered['refusals'] = [];
  for (;;) {
    try {
      renderTemplate(input);
      return { name: loaded.scenario.name, input, refusals };
    } catch (err) {
      const e = err as ChaosError;
      if (!e.code || refusals.some((r) => r.code === e.code)) throw err;
      refusals.push({ code: e.code, message: e.message });
      input = fixed(input, e.code);
    }
  }
}

const scenarios = listScenarios();
const rendered = scenarios.map(render);
/** Settings no built-in scenario uses, linted all the same: each is a scenario changed. */
const variants = [
  (() => {
    const base = scenarios.find((x) => x.scenario.name === 'webhead-kill')!;
    const { stack } = base.scenario;
    return render({
      ...base,
      scenario: {
        ...base.scenario,
        name: 'webhead-kill-least-outstanding',
        stack: { ...stack, web: { ...stack.web!, balance: 'least-outstanding' as const } },
      },
    });
  })(),
];
const dir = mkdtempSync(join(tmpdir(), 'chaos-cfn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the AWS template of every built-in scenario', () => {
  it('renders, or refuses only what Route 53 and an ALB cannot do, naming the setting', () => {
    expect(rendered.map((r) => r.name)).toEqual(scenarios.map((s) => s.scenario.name));
    for (const r of rendered)
      for (const f of r.refusals) {
        if (f.code === 'AWS_RECORD_TTL') expect(f.message).toMatch(/[A-Z_]*TTL_MS=\d+ \(/);
        else
          expect({ scenario: r.name, ...f }).toMatchObject({
            code: 'AWS_HEALTH_CHECK',
            message: /lbProfile|profile 'fast'/,
          });
      }
    // Redis's head record is 500 ms by default: every Redis scenario meets the TTL refusal.
    const redis = rendered.filter((r) =>
      r.input.plan.nodes.some((n) => n.sidecars.some((c) => c.env?.HEAD_TTL_MS)),
    );
    expect(redis.length).toBeGreaterThan(0);
    for (const r of rendered.filter(
      (x) => scenarios.find((s) => s.scenario.name === x.name)!.scenario.stack.redis,
    ))
      expect(r.refusals.map((f) => f.code)).toContain('AWS_RECORD_TTL');
  });

  it('is deterministic: the same scenario gives the same template', () => {
    for (const r of rendered) expect(toJson(renderTemplate(r.input))).toBe(toJson(renderTemplate(r.input)));
  });

  it.skipIf(!haveLint)(`passes cfn-lint, JSON and YAML${lintSkip}`, () => {
    const least = variants[0]!.input.loadBalancer?.balance;
    expect(least).toBe('least-outstanding');
    const files = [...rendered, ...variants].map((r) => {
      const file = join(dir, `${r.name}.json`);
      writeFileSync(file, toJson(renderTemplate(r.input)));
      return file;
    });
    const yaml = join(dir, `${rendered[0]!.name}.yaml`);
    writeFileSync(yaml, toYaml(renderTemplate(rendered[0]!.input)));
    const args = ['--regions', REGION, '--', ...files, yaml];
    const r = spawnSync('cfn-lint', args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    const version = execFileSync('cfn-lint', ['--version'], { encoding: 'utf8' }).trim();
    console.log(
      `${version}: cfn-lint --regions ${REGION} -- <${files.length} JSON templates> <1 YAML>: exit ${r.status}`,
    );
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});

/** A template's policy document with its intrinsics resolved as CloudFormation would in an account. */
function resolved(doc: unknown): unknown {
  const values: Record<string, string> = {
    'AWS::AccountId': '123456789012',
    'AWS::Region': REGION,
    AssetsBucket: 'chaos-assets-123456789012',
    HostedZone: 'Z0123456789ABCDEFGHIJ',
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o['Fn::Sub'] === 'string')
        return o['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_, k: string) => values[k] ?? `?${k}`);
      if (typeof o.Ref === 'string') return values[o.Ref] ?? `?${o.Ref}`;
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(doc);
}

/**
 * The policy documents on IAM's own grammar, on moto's IAM (which refuses a malformed document
 * as IAM does: an action without its service, a bad condition operator, an effect other than
 * Allow or Deny). The operator's policy as a managed policy; every role of every template as a
 * role with its trust policy and its inline policy, its intrinsics resolved as in an account.
 */
describe.skipIf(!haveMoto)(`the policies on IAM's grammar (moto)${motoSkip}`, () => {
  let moto: ChildProcess | undefined;
  let url = '';
  let log = '';

  beforeAll(async () => {
    const port = await freePort();
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    moto.stdout?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    moto.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await fetch(`${url}/moto-api/`);
        break;
      } catch {
        if (Date.now() > deadline || moto.exitCode !== null)
          throw new Error(`moto_server did not answer: ${log.slice(-500)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  afterAll(async () => {
    if (moto && moto.exitCode === null) {
      const exited = new Promise((r) => moto!.once('exit', r));
      moto.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (moto.exitCode === null) moto.kill('SIGKILL');
    }
  });

  /** One call of IAM's query API; the XML it answers, or the error. */
  async function iam(params: Record<string, string>): Promise<{ ok: boolean; text: string }> {
    const r = await fetch(`${url}/`, {
      method: 'POST',
      body: new URLSearchParams({ Version: '2010-05-08', ...params }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization:
          'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
      },
    });
    return { ok: r.ok, text: await r.text() };
  }

  it("takes the operator's policy, and refuses a malformed one", async () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../infra/aws/iam-policy.json'), 'utf8');
    const created = await iam({ Action: 'CreatePolicy', PolicyName: 'chaos-operator', PolicyDocument: doc });
    expect(created.text).toContain('<PolicyName>chaos-operator</PolicyName>');
    const bad = JSON.parse(doc);
    bad.Statement[0].Action = ['ec2 DescribeInstances'];
    const refused = await iam({
      Action: 'CreatePolicy',
      PolicyName: 'bad',
      PolicyDocument: JSON.stringify(bad),
    });
    expect(refused.ok).toBe(false);
    expect(refused.text).toContain('MalformedPolicyDocument');
  });

  it('takes every role of every template: its trust policy and its inline policies', async () => {
    let roles = 0;
    for (const r of rendered) {
      const t = renderTemplate(r.input);
      for (const [id, res] of Object.entries(t.Resources)) {
        if (res.Type !== 'AWS::IAM::Role') continue;
        const name = `${r.name}-${id}`.slice(0, 64);
        const role = await iam({
          Action: 'CreateRole',
          RoleName: name,
          Path: res.Properties.Path,
          AssumeRolePolicyDocument: JSON.stringify(resolved(res.Properties.AssumeRolePolicyDocument)),
        });
        expect({ role: name, answer: role.text.slice(0, 300) }).toMatchObject({
          answer: expect.stringContaining('<CreateRoleResult>'),
        });
        for (const p of res.Properties.Policies ?? []) {
          const put = await iam({
            Action: 'PutRolePolicy',
            RoleName: name,
            PolicyName: p.PolicyName,
            PolicyDocument: JSON.stringify(resolved(p.PolicyDocument)),
          });
          expect({
            role: name,
            policy: p.PolicyName,
            ok: put.ok,
            answer: put.ok ? '' : put.text.slice(0, 300),
          }).toMatchObject({ ok: true });
        }
        roles++;
      }
    }
    expect(roles).toBe(rendered.length * 2);
  });
});
