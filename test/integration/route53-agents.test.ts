import { CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseKeeper, realTimer } from '../../agents/lease.ts';
import { parseRoute53Url, registryFromUrl, route53Url } from '../../agents/registry/from-url.ts';
import type { Registry } from '../../core/registry.ts';
import { Route53Registry as HarnessRoute53Registry } from '../../infra/aws/route53-registry.ts';
import { haveMoto, motoSkip, startMoto } from './moto.ts';

/**
 * The agents' side of the registry on AWS, against moto's Route 53: an agent is given
 * `REGISTRY_URL=route53://<zone id>/<zone>?region=<region>` (what infra/aws/user-data.ts writes
 * into node.env from the stack's zone) and builds its registry from that string alone, with
 * AWS_ENDPOINT_URL pointing at moto as an instance's SDK would point at Route 53. What it writes
 * (records, compare-and-set, a lease taken and renewed by the LeaseKeeper the agents use) is what
 * the harness's reader (infra/aws/route53-registry.ts, as aws-stack.ts builds it from the stack's
 * outputs) sees, and the other way round. Conflicts refused by Route 53 itself are proven on the
 * strict double (agents/registry/route53.test.ts): moto does not referee them.
 */

const REGION = 'eu-west-1';
const DOMAIN = 'run-5be11a02.chaos.internal';
describe.skipIf(!haveMoto)(`an agent's Route 53 registry from REGISTRY_URL on moto${motoSkip}`, () => {
  let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
  let zoneId = '';
  let url = '';
  /** The harness's reader, as aws-stack.ts builds it from the stack's outputs. */
  const harness = () => new HarnessRoute53Registry({ zoneId, domain: DOMAIN, region: REGION });

  beforeAll(async () => {
    moto = await startMoto(REGION);
    const endpoint = moto.endpoint;
    const ec2 = new EC2Client({ region: REGION });
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    ec2.destroy();
    const route53 = new Route53Client({ region: REGION });
    const zone = await route53.send(
      new CreateHostedZoneCommand({
        Name: DOMAIN,
        CallerReference: `chaos-${Date.now()}`,
        VPC: { VPCId: vpc, VPCRegion: REGION },
        HostedZoneConfig: { PrivateZone: true, Comment: 'chaos run 5be11a02' },
      }),
    );
    route53.destroy();
    zoneId = zone.HostedZone!.Id!;
    url = route53Url(zoneId, DOMAIN, REGION);
  });

  afterAll(async () => {
    await moto?.stop();
  });

  it('builds the zone registry from the URL user data gives it', () => {
    expect(url).toMatch(/^route53:\/\/[A-Z0-9]+\/run-5be11a02\.chaos\.internal\?region=eu-west-1$/);
    expect(parseRoute53Url(url).domain).toBe(DOMAIN);
    // The registry itself loads the SDK on its first call; the calls are the tests below.
  });

  it('sets and compare-and-sets records the harness reads, and reads what the harness wrote', async () => {
    const agent: Registry = registryFromUrl(url);
    expect(await agent.set('pg-writer', 'pg-a', 1000, 0)).toMatchObject({ value: 'pg-a', version: 1 });
    expect(await harness().get('pg-writer')).toEqual({
      name: 'pg-writer',
      value: 'pg-a',
      ttlMs: 1000,
      version: 1,
    });
    // A stale version is refused (the agent's own read refuses it: moto does not referee).
    expect(await agent.set('pg-writer', 'pg-b', 1000, 0)).toBeUndefined();
    expect(await agent.set('pg-writer', 'pg-b', 1000, 1)).toMatchObject({ value: 'pg-b', version: 2 });
    expect(await harness().get('pg-writer')).toMatchObject({ value: 'pg-b', version: 2 });
    // The membership record (TTL 0, not a DNS label) as the chain's agent writes it.
    expect(await agent.set('redis-chain', 'redis-a,redis-b', 0)).toMatchObject({ version: 1 });
    expect((await harness().get('redis-chain'))?.value).toBe('redis-a,redis-b');
    // The other way: the harness moves it, the agent sees the move.
    await harness().set('pg-writer', 'pg-c', 1000, 2);
    expect(await agent.get('pg-writer')).toMatchObject({ value: 'pg-c', version: 3 });
  });

  it('takes and renews a lease through the LeaseKeeper the agents use; the harness sees its holder and term; a rival is refused', async () => {
    const agent = registryFromUrl(url);
    const lost: unknown[] = [];
    const keeper = new LeaseKeeper(
      { name: 'pg-leader', holder: 'pg-a', ttlMs: 5000, marginMs: 1000 },
      {
        registry: agent,
        now: () => performance.now(),
        setTimer: realTimer,
        onLost: (info) => lost.push(info),
      },
    );
    try {
      const first = await keeper.renew();
      expect(first).toMatchObject({ status: 'held', lease: { holder: 'pg-a', term: 1 } });
      expect(keeper.holds()).toBe(true);
      const seen = await harness().getLease('pg-leader');
      const seenExpiry = Date.now() + seen!.remainingMs;
      expect(seen).toMatchObject({ name: 'pg-leader', holder: 'pg-a', ttlMs: 5000, term: 1 });
      expect(seen!.remainingMs).toBeGreaterThan(0);
      expect(seen!.remainingMs).toBeLessThanOrEqual(5000);
      // Another node's agent (its own registry from the same URL) cannot take it while it runs.
      expect(await registryFromUrl(url).acquireLease('pg-leader', 'pg-b', 5000)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 50));
      const renewed = await keeper.renew();
      expect(renewed).toMatchObject({ status: 'held', lease: { holder: 'pg-a', term: 1 }, continuous: true });
      const after = await harness().getLease('pg-leader');
      expect(after).toMatchObject({ holder: 'pg-a', term: 1 });
      // The renewal moved the expiry the harness sees later (by the time between the two, 50 ms+).
      expect(Date.now() + after!.remainingMs).toBeGreaterThan(seenExpiry + 40);
      // A clean step-down: the harness sees it run out; the rival then takes the next term.
      await keeper.release();
      expect((await harness().getLease('pg-leader'))!.remainingMs).toBeLessThanOrEqual(0);
      expect(await registryFromUrl(url).acquireLease('pg-leader', 'pg-b', 5000)).toMatchObject({
        holder: 'pg-b',
        term: 2,
      });
      expect(await harness().getLease('pg-leader')).toMatchObject({ holder: 'pg-b', term: 2 });
      expect(lost).toEqual([]);
    } finally {
      await keeper.release().catch(() => {});
    }
  });
});
