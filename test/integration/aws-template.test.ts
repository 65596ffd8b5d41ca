import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REGISTRY_PORT } from '../../agents/registry/protocol.ts';
import type { ChaosError } from '../../core/errors.ts';
import type { ContainerPlan, NodePlan, StackPlan } from '../../core/provider.ts';
import type { PlanContext } from '../../core/system.ts';
import { planInput } from '../../engine/aws-plan.ts';
import { imagesFor } from '../../engine/runner.ts';
import { ROLE_ARN_PLACEHOLDER, planFaults } from '../../infra/aws/fis-plan.ts';
import { type TemplateInput, awsImages, renderTemplate, toJson, toYaml } from '../../infra/aws/template.ts';
import { type LoadedScenario, listScenarios } from '../../scenarios/load.ts';
import { activeSystems } from '../../scenarios/schema.ts';
import { LB_NODE } from '../../systems/web/layout.ts';
import { LB_PROFILES, lbProfile } from '../../systems/web/lb.ts';
import { HEALTH_PATH } from '../../systems/web/plan.ts';
import type { WebSpec } from '../../systems/web/spec.ts';

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
  const fisActions = planFaults(planInput(loaded), {
    region: REGION,
    runId: RUN_ID,
    roleArn: ROLE_ARN_PLACEHOLDER,
    stopAlarmArns: [],
  }).flatMap((e) =>
    e.kind === 'fis-template' ? Object.values(e.template.actions ?? {}).map((a) => a.actionId!) : [],
  );
  const web = systems.find((x) => x.def.name === 'web');
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
    ...(web
      ? {
          loadBalancer: {
            node: LB_NODE,
            healthPath: HEALTH_PATH,
            profile: lbProfile((web.spec as WebSpec).lbProfile),
            pool: 'web-head',
          },
        }
      : {}),
  };
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
    const files = rendered.map((r) => {
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
