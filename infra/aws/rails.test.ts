import { STSClient } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { ChaosError } from '../../core/errors.ts';
import { type AwsConfig, DEFAULT_BLAST_RADIUS } from './config.ts';
import type { PlanFault, PlanNode } from './fis-plan.ts';
import {
  type ReachNode,
  accountProblem,
  blastRadiusLimits,
  blastRadiusProblems,
  callerError,
  checkBlastRadius,
  checkCaller,
  reachOf,
  regionProblem,
  zonesProblem,
} from './rails.ts';

const FILE = '/work/chaos.aws.yaml';
const config = (c: Partial<AwsConfig> = {}): AwsConfig => ({
  accounts: ['111111111111'],
  regions: ['eu-west-1'],
  blastRadius: DEFAULT_BLAST_RADIUS,
  file: FILE,
  expectedFile: FILE,
  flags: [],
  ...c,
});
const nothing = config({ accounts: [], regions: [], file: undefined });

describe('the caller rails', () => {
  it('a region the config does not name is refused, naming what would allow it', () => {
    expect(regionProblem(config(), 'eu-west-1')).toBeUndefined();
    expect(regionProblem(config(), 'us-east-1')?.oneLine()).toBe(
      `error[AWS_REGION_NOT_ALLOWED]: region us-east-1 is not allowed: ${FILE} allows eu-west-1 (add us-east-1 to regions: in ${FILE}, or pass --allow-region us-east-1)`,
    );
    expect(regionProblem(nothing, 'us-east-1')?.oneLine()).toBe(
      `error[AWS_REGION_NOT_ALLOWED]: region us-east-1 is not allowed: no config (no ${FILE}, no --allow-* flags) allows no region (add us-east-1 to regions: in ${FILE}, or pass --allow-region us-east-1)`,
    );
    expect(regionProblem(config(), 'Ireland')?.code).toBe('BAD_REGION');
    expect(regionProblem(config(), 'us-east-1')?.exitCode).toBe(2);
  });

  it('an account the config does not name is refused, naming the account and what would allow it', () => {
    expect(accountProblem(config(), '111111111111', 'arn:aws:iam::111111111111:user/x')).toBeUndefined();
    const e = accountProblem(config(), '123456789012', 'arn:aws:sts::123456789012:user/moto')!;
    expect(e.oneLine()).toBe(
      `error[AWS_ACCOUNT_NOT_ALLOWED]: account 123456789012 (arn:aws:sts::123456789012:user/moto) is not allowed: ${FILE} allows 111111111111 (if chaos may run there, add '123456789012' to accounts: in ${FILE}, or pass --allow-account 123456789012; else use other credentials (AWS_PROFILE))`,
    );
    expect(e.exitCode).toBe(2);
    expect(accountProblem(nothing, '123456789012', 'arn')?.message).toContain('allows no account');
  });

  it('a region without the zones the stack is laid out over is refused', () => {
    const zones = ['us-west-1a', 'us-west-1c'];
    expect(zonesProblem(config(), 'us-west-1', zones, 2)).toBeUndefined();
    expect(zonesProblem(config(), 'us-west-1', zones, 3)?.oneLine()).toBe(
      `error[AWS_TOO_FEW_AZS]: region us-west-1 has 2 available zones (us-west-1a, us-west-1c); the stack needs 3 (run in a region with those zones (allow it in ${FILE} or with --allow-region), or lay the stack out over fewer zones)`,
    );
    expect(zonesProblem(config(), 'us-west-1', zones, ['a', 'b'])?.message).toBe(
      'region us-west-1 has 2 available zones (us-west-1a, us-west-1c); the stack needs 2 (us-west-1a, us-west-1b; us-west-1b is not available)',
    );
    expect(
      zonesProblem(config(), 'eu-west-1', ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'], ['a', 'b', 'c']),
    ).toBeUndefined();
  });

  it('what an STS failure means: no credentials, refused credentials (exit 2), no answer (exit 3)', () => {
    const err = (name: string, message: string) => Object.assign(new Error(message), { name });
    const none = callerError(
      err('CredentialsProviderError', 'Could not load credentials from any providers'),
      'eu-west-1',
      10_000,
    );
    expect(none.oneLine()).toBe(
      'error[AWS_NO_CREDENTIALS]: no AWS credentials: none in the environment, ~/.aws or an instance role (set AWS_PROFILE (after aws sso login or aws configure), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    );
    expect(none.exitCode).toBe(2);
    const refused = callerError(
      err('InvalidClientTokenId', 'The security token included in the request is invalid.'),
      'eu-west-1',
      10_000,
    );
    expect(refused.oneLine()).toBe(
      'error[AWS_BAD_CREDENTIALS]: STS refused the AWS credentials (InvalidClientTokenId: The security token included in the request is invalid.) (renew them (aws sso login) or check AWS_PROFILE and AWS_ACCESS_KEY_ID)',
    );
    expect(callerError(err('ExpiredToken', 'expired'), 'eu-west-1', 1).code).toBe('AWS_BAD_CREDENTIALS');
    const slow = callerError(
      err('TimeoutError', 'The operation was aborted due to timeout'),
      'eu-west-1',
      10_000,
    );
    expect(slow.oneLine()).toBe(
      'error[AWS_UNREACHABLE]: STS in eu-west-1 did not answer within 10000 ms (check the network, a proxy (HTTPS_PROXY) or AWS_ENDPOINT_URL)',
    );
    expect(slow.exitCode).toBe(3);
  });

  it('checkCaller refuses a region before it sends anything, and turns a credential failure into one line', async () => {
    // Nothing listens on port 1: a call that went out would fail as unreachable, not as refused.
    const nowhere = { region: 'eu-west-1', endpoint: 'http://127.0.0.1:1', maxAttempts: 1 };
    const sts = new STSClient({ ...nowhere, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    await expect(checkCaller(config(), 'us-east-1', { sts })).rejects.toMatchObject({
      code: 'AWS_REGION_NOT_ALLOWED',
    });
    const noCredentials = new STSClient({
      ...nowhere,
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        });
      },
    });
    await expect(checkCaller(config(), 'eu-west-1', { sts: noCredentials })).rejects.toMatchObject({
      code: 'AWS_NO_CREDENTIALS',
    });
    await expect(checkCaller(config(), 'eu-west-1', { sts })).rejects.toMatchObject({
      code: 'AWS_UNREACHABLE',
    });
    sts.destroy();
    noCredentials.destroy();
  });
});

// --- Blast radius ----------------------------------------------------------------------------------

const node = (name: string, system: string, az: string): ReachNode => ({ name, system, az });
const STACK = [
  node('redis-a', 'redis', 'a'),
  node('redis-b', 'redis', 'b'),
  node('redis-c', 'redis', 'c'),
  node('pg-a', 'pg', 'a'),
  node('pg-b', 'pg', 'b'),
  node('pg-c', 'pg', 'c'),
  node('pg-d', 'pg', 'a'),
];
const byName = (...names: string[]) => names.map((n) => STACK.find((s) => s.name === n)!);

describe('the blast radius', () => {
  it('one node, one zone: allowed; a zone of a three-zone stack: allowed', () => {
    expect(
      blastRadiusProblems(
        [
          { index: 1, label: 'kill redis:head', nodes: byName('redis-a') },
          { index: 2, label: 'drop-az az:b', nodes: byName('redis-b', 'pg-b') },
        ],
        STACK,
        DEFAULT_BLAST_RADIUS,
      ),
    ).toEqual([]);
  });

  it('more than half of a system is refused; exactly half is not', () => {
    const p = blastRadiusProblems(
      [
        { index: 1, label: 'stop node:redis-a', nodes: byName('redis-a', 'redis-b') },
        { index: 2, label: 'stop pg', nodes: byName('pg-a', 'pg-d') },
      ],
      STACK,
      { maxAzs: 3, maxNodeFraction: 0.5 },
    );
    expect(p).toEqual([
      {
        index: 1,
        label: 'stop node:redis-a',
        kind: 'nodes',
        message:
          "fault #1 (stop node:redis-a) touches 2 of redis's 3 nodes (redis-a, redis-b): more than blastRadius.maxNodeFraction 0.5",
        hint: 'to allow it, set faults[0].aws.blastRadius.maxNodeFraction: 0.67 (this fault), or aws.blastRadius.maxNodeFraction: 0.67 (every fault of the scenario)',
      },
    ]);
  });

  it('more than one zone is refused; a zone holding more than half of a system is refused too', () => {
    const p = blastRadiusProblems(
      [
        { index: 1, label: 'kill two', nodes: byName('redis-a', 'pg-b') },
        { index: 2, label: 'drop-az az:a', nodes: byName('redis-a', 'pg-a', 'pg-d') },
      ],
      STACK,
      DEFAULT_BLAST_RADIUS,
    );
    expect(p.map((x) => x.message)).toEqual([
      'fault #1 (kill two) touches 2 zones (a, b): more than blastRadius.maxAzs 1',
      // pg-a and pg-d are 2 of pg's 4: half, allowed.
    ]);
    expect(p[0]!.hint).toBe(
      'to allow it, set faults[0].aws.blastRadius.maxAzs: 2 (this fault), or aws.blastRadius.maxAzs: 2 (every fault of the scenario)',
    );
    const small = [node('x-a', 'x', 'a'), node('x-b', 'x', 'a'), node('x-c', 'x', 'b')];
    expect(
      blastRadiusProblems(
        [{ index: 1, label: 'drop-az az:a', nodes: small.slice(0, 2) }],
        small,
        DEFAULT_BLAST_RADIUS,
      ).map((x) => x.kind),
    ).toEqual(['nodes']);
  });

  it('random picks count at their worst: as many nodes and zones as they can reach', () => {
    const redis = byName('redis-a', 'redis-b', 'redis-c');
    expect(
      blastRadiusProblems(
        [{ index: 1, label: 'kill redis:any', nodes: [], picks: [{ count: 1, of: redis }] }],
        STACK,
        DEFAULT_BLAST_RADIUS,
      ),
    ).toEqual([]);
    const two = blastRadiusProblems(
      [{ index: 1, label: 'kill redis:any x2', nodes: [], picks: [{ count: 2, of: redis }] }],
      STACK,
      DEFAULT_BLAST_RADIUS,
    );
    expect(two.map((x) => x.message)).toEqual([
      'fault #1 (kill redis:any x2) touches 2 zones (a, b): more than blastRadius.maxAzs 1',
      "fault #1 (kill redis:any x2) touches 2 of redis's 3 nodes (picked at random): more than blastRadius.maxNodeFraction 0.5",
    ]);
  });

  it("a fault's override beats the scenario's, which beats the config's", () => {
    const wide = { index: 1, label: 'stop two', nodes: byName('redis-a', 'redis-b') };
    expect(blastRadiusProblems([wide], STACK, DEFAULT_BLAST_RADIUS)).toHaveLength(2);
    expect(
      blastRadiusProblems(
        [{ ...wide, override: { maxAzs: 2, maxNodeFraction: 0.67 } }],
        STACK,
        DEFAULT_BLAST_RADIUS,
      ),
    ).toEqual([]);
    const limits = blastRadiusLimits({ blastRadius: { maxAzs: 1, maxNodeFraction: 0.5 } }, { maxAzs: 2 });
    expect(limits).toEqual({ maxAzs: 2, maxNodeFraction: 0.5 });
    expect(blastRadiusProblems([wide], STACK, limits).map((x) => x.kind)).toEqual(['nodes']);
    expect(blastRadiusLimits({ blastRadius: DEFAULT_BLAST_RADIUS })).toEqual(DEFAULT_BLAST_RADIUS);
  });

  it('checkBlastRadius: one line naming the scenario and the first fault past the limits', () => {
    expect(() =>
      checkBlastRadius(
        's',
        [{ index: 1, label: 'kill', nodes: byName('redis-a') }],
        STACK,
        DEFAULT_BLAST_RADIUS,
      ),
    ).not.toThrow();
    let e: unknown;
    try {
      checkBlastRadius(
        'redis-double',
        [{ index: 2, label: 'stop two', nodes: byName('redis-a', 'redis-b') }],
        STACK,
        DEFAULT_BLAST_RADIUS,
      );
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ChaosError);
    expect((e as ChaosError).oneLine()).toBe(
      'error[BLAST_RADIUS]: redis-double: fault #2 (stop two) touches 2 zones (a, b): more than blastRadius.maxAzs 1 (and 1 more) (to allow it, set faults[1].aws.blastRadius.maxAzs: 2 (this fault), or aws.blastRadius.maxAzs: 2 (every fault of the scenario))',
    );
    expect((e as ChaosError).exitCode).toBe(2);
  });

  it("reachOf reads a planned fault's target: its nodes, a zone, or random picks; not a partition's from side", () => {
    const pn = (name: string, system: string, az: string, index = 0): PlanNode => ({
      name,
      system,
      az,
      index,
      disks: [],
    });
    const [a, b, c] = [
      pn('redis-a', 'redis', 'a'),
      pn('redis-b', 'redis', 'b', 1),
      pn('redis-c', 'redis', 'c', 2),
    ];
    const f = (x: Partial<PlanFault>): PlanFault => ({
      index: 1,
      at: 0,
      action: 'kill',
      target: 'redis:head',
      resolved: { kind: 'nodes', nodes: [a] },
      ...x,
    });
    expect(reachOf(f({}))).toEqual({
      index: 1,
      label: 'kill redis:head',
      nodes: [node('redis-a', 'redis', 'a')],
    });
    expect(
      reachOf(
        f({ action: 'partition', from: 'redis:replica', resolvedFrom: { kind: 'nodes', nodes: [b, c] } }),
        { maxAzs: 2 },
      ),
    ).toEqual({
      index: 1,
      label: 'partition redis:head from redis:replica',
      nodes: [node('redis-a', 'redis', 'a')],
      override: { maxAzs: 2 },
    });
    expect(
      reachOf(
        f({
          target: 'redis:any',
          resolved: { kind: 'random', system: 'redis', role: 'any', count: 1, of: [a, b, c] },
        }),
      ),
    ).toMatchObject({
      nodes: [],
      picks: [{ count: 1, of: [{ name: 'redis-a' }, { name: 'redis-b' }, { name: 'redis-c' }] }],
    });
    expect(
      reachOf(f({ action: 'drop-az', target: 'az:a', resolved: { kind: 'az', az: 'a', nodes: [a] } })).nodes,
    ).toHaveLength(1);
  });
});
