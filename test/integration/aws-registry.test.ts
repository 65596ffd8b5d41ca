import { CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Route53Registry } from '../../agents/registry/route53.ts';
import { haveMoto, motoSkip, startMoto } from './moto.ts';

/**
 * The Route 53 registry (agents/registry/route53.ts) against moto's Route 53: a VPC, a private
 * hosted zone associated with it, records set, read and moved, leases taken, renewed, taken over
 * and released, and the zone emptied for teardown, through the SDK as the registry builds it
 * (AWS_ENDPOINT_URL, dummy credentials).
 *
 * What moto cannot show: moto 5.2.5 does not referee a compare-and-set. It accepts a DELETE whose
 * values are not the record set's current ones as long as such a record set was ever created
 * (it checks its journal of changes, then deletes by name and type), and it accepts a CREATE of a
 * record set that exists (adding a second one beside it). So only the happy paths are asserted
 * here; where a conditional write is refused below, it is the registry's own read that refuses it
 * before anything is sent. Route 53's refusal of a stale write (InvalidChangeBatch), two writers
 * from one version, and lease take-overs racing are proven on the strict double in
 * agents/registry/route53.test.ts. The last test here records moto's leniency, so that a moto
 * that starts refusing shows up.
 */

const REGION = 'eu-west-1';
const DOMAIN = 'run-3f9a1c07.chaos.internal';
describe.skipIf(!haveMoto)(`the Route 53 registry on moto${motoSkip}`, () => {
  let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
  let route53: Route53Client;
  let zoneId = '';
  const wall = { offset: 0 };
  /** A registry as the provider builds it: the SDK's client from the environment. */
  const registry = () =>
    new Route53Registry({ zoneId, domain: DOMAIN, region: REGION, wallNow: () => Date.now() + wall.offset });

  async function recordSets(): Promise<ResourceRecordSet[]> {
    return (
      (await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }))).ResourceRecordSets ??
      []
    );
  }
  const find = async (name: string, type: string) =>
    (await recordSets()).filter((s) => s.Name === `${name}.` && s.Type === type);

  beforeAll(async () => {
    moto = await startMoto(REGION);
    const ec2 = new EC2Client({ region: REGION });
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    ec2.destroy();
    route53 = new Route53Client({ region: REGION });
    const zone = await route53.send(
      new CreateHostedZoneCommand({
        Name: DOMAIN,
        CallerReference: `chaos-${Date.now()}`,
        VPC: { VPCId: vpc, VPCRegion: REGION },
        HostedZoneConfig: { PrivateZone: true, Comment: 'chaos run 3f9a1c07' },
      }),
    );
    zoneId = zone.HostedZone!.Id!;
    expect(zone.HostedZone?.Config?.PrivateZone).toBe(true);
    // The stack's own record for each node: what the registry's CNAMEs point at.
    await route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: ['redis-a', 'redis-b'].map((n, i) => ({
            Action: 'CREATE',
            ResourceRecordSet: {
              Name: `${n}.${DOMAIN}`,
              Type: 'A',
              TTL: 60,
              ResourceRecords: [{ Value: `10.0.1.${10 + i}` }],
            },
          })),
        },
      }),
    );
  });

  afterAll(async () => {
    route53?.destroy();
    await moto?.stop();
  });

  it('a record is set, read and moved: the CNAME clients resolve follows it, the TXT keeps its version', async () => {
    const r = registry();
    expect(await r.get('redis-head')).toBeUndefined();
    expect(await r.set('redis-head', 'redis-a', 1000, 0)).toEqual({
      name: 'redis-head',
      value: 'redis-a',
      ttlMs: 1000,
      version: 1,
    });
    expect(await find(`redis-head.${DOMAIN}`, 'CNAME')).toEqual([
      {
        Name: `redis-head.${DOMAIN}.`,
        Type: 'CNAME',
        TTL: 1,
        ResourceRecords: [{ Value: `redis-a.${DOMAIN}` }],
      },
    ]);
    const txt = await find(`redis-head._registry.${DOMAIN}`, 'TXT');
    expect(txt).toHaveLength(1);
    expect(txt[0]!.ResourceRecords![0]!.Value).toMatch(/^"v=1" "w=[0-9a-z]{8}" "value=redis-a"$/);

    expect(await registry().set('redis-head', 'redis-b', 2000, 1)).toMatchObject({
      value: 'redis-b',
      version: 2,
    });
    expect(await r.get('redis-head')).toEqual({
      name: 'redis-head',
      value: 'redis-b',
      ttlMs: 2000,
      version: 2,
    });
    expect(await find(`redis-head.${DOMAIN}`, 'CNAME')).toEqual([
      {
        Name: `redis-head.${DOMAIN}.`,
        Type: 'CNAME',
        TTL: 2,
        ResourceRecords: [{ Value: `redis-b.${DOMAIN}` }],
      },
    ]);
    expect(await find(`redis-head._registry.${DOMAIN}`, 'TXT')).toHaveLength(1);
    // Refused by the registry's own read (v2 is not v1; the record exists): nothing is sent.
    expect(await r.set('redis-head', 'redis-a', 1000, 1)).toBeUndefined();
    expect(await r.set('redis-head', 'redis-a', 1000, 0)).toBeUndefined();
    // A write without a version reads and lands on top.
    expect(await r.set('redis-head', 'redis-a', 1000)).toMatchObject({ version: 3 });
  });

  it('a membership list has no CNAME; moving a record from a node to a list deletes its CNAME', async () => {
    const r = registry();
    await r.set('redis-chain', 'redis-a', 0);
    expect(await find(`redis-chain.${DOMAIN}`, 'CNAME')).toHaveLength(1);
    expect(await r.set('redis-chain', 'redis-a,redis-b', 0, 1)).toMatchObject({ version: 2 });
    expect(await find(`redis-chain.${DOMAIN}`, 'CNAME')).toEqual([]);
    expect(await registry().get('redis-chain')).toEqual({
      name: 'redis-chain',
      value: 'redis-a,redis-b',
      ttlMs: 0,
      version: 2,
    });
  });

  it('a lease is taken, renewed in its term, refused to another, taken over once run out, released', async () => {
    const a = registry();
    const b = registry();
    const got = await a.acquireLease('pg-leader', 'pg-a', 10_000);
    expect(got).toMatchObject({ name: 'pg-leader', holder: 'pg-a', ttlMs: 10_000, term: 1 });
    expect(got!.remainingMs).toBeGreaterThan(9000);
    expect(await a.acquireLease('pg-leader', 'pg-a', 10_000)).toMatchObject({ holder: 'pg-a', term: 1 });
    expect(await b.acquireLease('pg-leader', 'pg-b', 10_000)).toBeUndefined();
    expect(await b.getLease('pg-leader')).toMatchObject({ holder: 'pg-a', term: 1 });
    // Ten seconds later on every host's clock: the lease has run out.
    wall.offset = 10_001;
    expect((await b.getLease('pg-leader'))!.remainingMs).toBeLessThanOrEqual(0);
    expect(await b.acquireLease('pg-leader', 'pg-b', 10_000)).toMatchObject({ holder: 'pg-b', term: 2 });
    expect(await a.acquireLease('pg-leader', 'pg-a', 10_000)).toBeUndefined();
    await a.releaseLease('pg-leader', 'pg-a');
    expect(await a.getLease('pg-leader')).toMatchObject({ holder: 'pg-b', term: 2 });
    await b.releaseLease('pg-leader', 'pg-b');
    const released = await a.getLease('pg-leader');
    expect(released).toMatchObject({ holder: 'pg-b', term: 2 });
    expect(released!.remainingMs).toBeLessThanOrEqual(0);
    expect(await a.acquireLease('pg-leader', 'pg-a', 10_000)).toMatchObject({ holder: 'pg-a', term: 3 });
    expect(await find(`pg-leader._lease.${DOMAIN}`, 'TXT')).toHaveLength(1);
    wall.offset = 0;
  });

  it("clear() leaves the zone as the stack made it: its SOA, NS and the nodes' records", async () => {
    expect(await registry().clear()).toBe(4);
    expect((await recordSets()).map((s) => `${s.Name} ${s.Type}`).sort()).toEqual(
      [`${DOMAIN}. NS`, `${DOMAIN}. SOA`, `redis-a.${DOMAIN}. A`, `redis-b.${DOMAIN}. A`].sort(),
    );
  });

  it('moto 5.2.5 does not referee a compare-and-set (known): a stale DELETE and a CREATE of what exists are accepted', async () => {
    const name = `stale._registry.${DOMAIN}`;
    const txt = (v: string): ResourceRecordSet => ({
      Name: name,
      Type: 'TXT',
      TTL: 1,
      ResourceRecords: [{ Value: `"v=${v}"` }],
    });
    const change = (Changes: { Action: 'CREATE' | 'DELETE'; ResourceRecordSet: ResourceRecordSet }[]) =>
      route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes } }));
    await change([{ Action: 'CREATE', ResourceRecordSet: txt('1') }]);
    await change([
      { Action: 'DELETE', ResourceRecordSet: txt('1') },
      { Action: 'CREATE', ResourceRecordSet: txt('2') },
    ]);
    // Route 53 refuses this batch (v=1 is no longer there); moto takes it.
    await change([
      { Action: 'DELETE', ResourceRecordSet: txt('1') },
      { Action: 'CREATE', ResourceRecordSet: txt('3') },
    ]);
    expect((await find(name, 'TXT')).map((s) => s.ResourceRecords?.[0]?.Value)).toEqual(['"v=3"']);
    // Route 53 refuses a CREATE of a record set that exists; moto adds a second one.
    await change([{ Action: 'CREATE', ResourceRecordSet: txt('4') }]);
    expect(await find(name, 'TXT')).toHaveLength(2);
  });
});
