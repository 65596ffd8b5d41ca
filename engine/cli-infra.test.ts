import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BLAST_RADIUS } from '../infra/aws/config.ts';
import { AwsProvider } from '../infra/aws/provider.ts';
import { loadScenarioFile } from '../scenarios/load.ts';
import { postgres } from '../systems/pg/index.ts';
import { redisChain } from '../systems/redis/index.ts';
import { planInput } from './aws-plan.ts';
import { awsProviderFor, registryRateProblems } from './cli-infra.ts';

const dir = mkdtempSync(join(tmpdir(), 'chaos-cli-infra-'));
let n = 0;
function scenario(yaml: string) {
  const file = join(dir, `s${++n}.yaml`);
  writeFileSync(file, yaml);
  return loadScenarioFile(file);
}

const redis = (fields: string) => `name: redis-rate
description: the chain's agents against Route 53's rate.
stack:
  redis: { nodes: 3${fields} }
probes:
  - { kind: redis-writer, name: pushes }
faults:
  - { at: 0, action: kill, target: redis:head }
observeMs: 5000
`;

/** A provider whose region no config allows: its preflight calls nothing (rails.ts refuses first). */
function offline(loaded: ReturnType<typeof scenario>) {
  return awsProviderFor(
    loaded,
    { allowAccount: [], allowRegion: [], yes: false, probeFrom: 'routed', region: 'eu-west-1' },
    { existing: false, lifetime: 'run' },
  );
}

describe("the agents' calls on Route 53 (the registry on AWS)", () => {
  it('each system counts what its agents call per check: redis n+3, pg 2n+1', () => {
    const r = redisChain.spec.parse({ nodes: 3, checkIntervalMs: 100 });
    expect(redisChain.registryCallsPerSecond!(r)).toBe(60);
    const p = postgres.spec.parse({ nodes: 3, checkIntervalMs: 200 });
    expect(postgres.registryCallsPerSecond!(p)).toBe(35);
  });

  it('the local defaults are refused in one line that says how far to raise checkIntervalMs; that far is enough', () => {
    expect(registryRateProblems(scenario(redis('')))).toEqual([
      'the agents would call Route 53 about 60 times a second (redis 60 at checkIntervalMs 100), more than the 5 a second its API allows an account: raise stack.redis.checkIntervalMs to at least 1200 ms (and its failoverThresholdMs above 1450 ms, so the lease outlasts a check)',
    ]);
    expect(
      registryRateProblems(
        scenario(redis(', checkIntervalMs: 1200, failoverThresholdMs: 3000, leaseMarginMs: 500')),
      ),
    ).toEqual([]);
  });

  it('two systems share the rate: each interval raised by the same factor', () => {
    const both = scenario(`name: both-rate
description: two systems' agents on one account.
stack:
  redis: { nodes: 3, checkIntervalMs: 1000, failoverThresholdMs: 5000 }
  pg: { nodes: 3, checkIntervalMs: 1000 }
probes:
  - { kind: pg-writer, name: inserts }
faults:
  - { at: 0, action: kill, target: pg:primary }
observeMs: 5000
`);
    // redis 6/s and pg 7/s: 13 a second, 2.6 times the rate.
    const [line] = registryRateProblems(both);
    expect(line).toBe(
      'the agents would call Route 53 about 13 times a second (redis 6 at checkIntervalMs 1000, pg 7 at checkIntervalMs 1000), more than the 5 a second its API allows an account: raise stack.redis.checkIntervalMs to at least 2600 ms and stack.pg.checkIntervalMs to at least 2600 ms (and its failoverThresholdMs above 3100 ms, so the lease outlasts a check)',
    );
    expect(registryRateProblems(both, 13)).toEqual([]);
  });

  it('the AWS preflight refuses it, exit 2, with the line', async () => {
    const checks = await offline(scenario(redis(''))).preflight([], []);
    const rate = checks.find((c) => c.what === 'Route 53 request rate')!;
    expect(rate.ok).toBe(false);
    expect(rate.error?.code).toBe('AWS_ROUTE53_RATE');
    expect(rate.error?.exitCode).toBe(2);
    expect(rate.error?.message).toMatch(/raise stack\.redis\.checkIntervalMs to at least 1200 ms/);
    const fine = await offline(
      scenario(
        redis(
          ', checkIntervalMs: 1200, failoverThresholdMs: 3000, leaseMarginMs: 500, headRecordTtlMs: 1000',
        ),
      ),
    ).preflight([], []);
    expect(fine.find((c) => c.what === 'Route 53 request rate')?.ok).toBe(true);
  });
});

const standbys = (faultAws: string, scenarioAws: string) => `name: stop-standbys
description: both standbys stopped, in two zones.
stack:
  pg: { nodes: 3 }
probes:
  - { kind: pg-writer, name: inserts }
faults:
  - { at: 0, action: kill, target: 'node:pg-a' }
  - { at: 5000, action: stop, target: pg:standby, durationMs: 60000${faultAws} }
observeMs: 5000
${scenarioAws}`;

describe('blast radius overrides from the scenario', () => {
  it('a fault touching two zones is refused under the config; its own aws.blastRadius.maxAzs: 2 allows it', async () => {
    const refused = offline(scenario(standbys('', '')));
    expect(refused.blastRadius().problems.map((p) => [p.index, p.kind, p.hint])).toEqual([
      [
        2,
        'azs',
        'to allow it, set faults[1].aws.blastRadius.maxAzs: 2 (this fault), or aws.blastRadius.maxAzs: 2 (every fault of the scenario)',
      ],
      [
        2,
        'nodes',
        'to allow it, set faults[1].aws.blastRadius.maxNodeFraction: 0.67 (this fault), or aws.blastRadius.maxNodeFraction: 0.67 (every fault of the scenario)',
      ],
    ]);
    const check = (await refused.preflight([], [])).find((c) => c.what === 'blast radius')!;
    expect(check.ok).toBe(false);
    expect(check.error?.oneLine()).toMatch(
      /^error\[BLAST_RADIUS\]: stop-standbys: fault #2 \(stop pg:standby\) touches 2 zones \(b, c\): more than blastRadius\.maxAzs 1 \(and 1 more\)/,
    );

    // The zones from the fault, the share of nodes from the scenario: the fault's own over the scenario's.
    const allowed = offline(
      scenario(
        standbys(
          ', aws: { blastRadius: { maxAzs: 2 } }',
          'aws: { blastRadius: { maxNodeFraction: 0.67 } }\n',
        ),
      ),
    );
    expect(
      planInput(scenario(standbys(', aws: { blastRadius: { maxAzs: 2 } }', ''))).faults[1]!.blastRadius,
    ).toEqual({ maxAzs: 2 });
    expect(allowed.blastRadius().limits).toEqual({ maxAzs: 1, maxNodeFraction: 0.67 });
    expect(allowed.blastRadius().problems).toEqual([]);
    const ok = (await allowed.preflight([], [])).find((c) => c.what === 'blast radius')!;
    expect(ok).toMatchObject({
      ok: true,
      detail:
        "every fault within 1 zone(s) and 0.67 of a system's nodes (#2 within their own aws.blastRadius)",
    });

    // The zones alone are not enough: two of pg's three nodes is still past half.
    const zonesOnly = offline(scenario(standbys(', aws: { blastRadius: { maxAzs: 2 } }', '')));
    expect(zonesOnly.blastRadius().problems.map((p) => p.kind)).toEqual(['nodes']);
  });

  it("the scenario's aws.blastRadius is over the config's; the provider's own option over the scenario's", () => {
    const loaded = scenario(standbys('', 'aws: { blastRadius: { maxAzs: 2, maxNodeFraction: 1 } }\n'));
    const input = planInput(loaded);
    expect(input.blastRadius).toEqual({ maxAzs: 2, maxNodeFraction: 1 });
    const config = {
      accounts: [],
      regions: [],
      blastRadius: DEFAULT_BLAST_RADIUS,
      expectedFile: 'x',
      flags: [],
    };
    expect(new AwsProvider({ region: 'eu-west-1', config, plan: input }).blastRadius().problems).toEqual([]);
    expect(
      new AwsProvider({ region: 'eu-west-1', config, plan: input, blastRadius: { maxAzs: 1 } })
        .blastRadius()
        .problems.map((p) => p.kind),
    ).toEqual(['azs']);
  });
});
