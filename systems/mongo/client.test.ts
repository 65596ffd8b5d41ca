import { describe, expect, it } from 'vitest';
import { replicaSetUri, stackLookup } from './client.ts';

describe("the driver's name lookup for the stack's members", () => {
  const lookup = stackLookup((h) => ({ 'mongo-a': '10.201.1.10', 'mongo-b': '10.201.2.10' })[h]);
  const ask = (host: string, options: { all?: boolean }) =>
    new Promise<unknown[]>((resolve) =>
      (lookup as unknown as (h: string, o: object, cb: (...a: unknown[]) => void) => void)(
        host,
        options,
        (...a) => resolve(a),
      ),
    );

  it("answers a member's name with its address on the stack's network, one or all", async () => {
    expect(await ask('mongo-a', {})).toEqual([null, '10.201.1.10', 4]);
    expect(await ask('mongo-b', { all: true })).toEqual([null, [{ address: '10.201.2.10', family: 4 }]]);
  });

  it('asks the resolver for anything else', async () => {
    const [err, address] = await ask('localhost', {});
    expect(err).toBeNull();
    expect(['127.0.0.1', '::1']).toContain(address);
  });

  it('the replica-set URI over the members', () => {
    expect(replicaSetUri(['mongo-a:27017', 'mongo-b:27017'], 'rs0')).toBe(
      'mongodb://mongo-a:27017,mongo-b:27017/?replicaSet=rs0',
    );
  });
});
