import { Long } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { MonotonicClock, sleep } from '../../core/clock.ts';
import { History, type Op } from '../../core/history.ts';
import { FakeMember } from './fake-mongod.ts';
import { MongoWriterProbe } from './probe.ts';
import { ENDPOINT_RECORD } from './records.ts';
import { mongoWriterSpec } from './spec.ts';

/**
 * The probe with the real driver, against two stand-in members that speak the wire protocol
 * (fake-mongod.ts) on loopback addresses of their own, port 27017 as in the stack: the driver
 * discovers the set by the members' names, which the probe's lookup maps to those addresses as
 * the stack's would. What each member answers is up to each test.
 */
const ADDR: Record<string, string> = { 'mongo-a': '127.0.71.1', 'mongo-b': '127.0.71.2' };
const HOSTS = ['mongo-a:27017', 'mongo-b:27017'];

let a: FakeMember;
let b: FakeMember;
/** What each member applied. */
const stored = new Map<string, Set<number>>();
const running: MongoWriterProbe[] = [];

const applies = (m: FakeMember) => (cmd: Record<string, unknown>) => {
  for (const d of cmd.documents as { _id: number }[]) stored.get(m.name)!.add(d._id);
  return { ok: 1, n: 1 };
};
const notPrimary = () => ({ ok: 0, code: 10107, codeName: 'NotWritablePrimary', errmsg: 'not primary' });

const listening = await (async () => {
  const probe = new FakeMember('probe', []);
  try {
    await probe.listen(ADDR['mongo-a']!, 27017);
    await probe.close();
    return { ok: true as const };
  } catch (err) {
    return { ok: false as const, reason: (err as Error).message };
  }
})();

beforeEach(async () => {
  a = new FakeMember('mongo-a', HOSTS);
  b = new FakeMember('mongo-b', HOSTS);
  stored.set('mongo-a', new Set());
  stored.set('mongo-b', new Set());
  a.primary = true;
  b.primaryName = 'mongo-a';
  a.handlers.set('insert', applies(a));
  b.handlers.set('insert', notPrimary);
  await a.listen(ADDR['mongo-a']!, 27017);
  await b.listen(ADDR['mongo-b']!, 27017);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await a.close();
  await b.close();
});

function probe(spec: Record<string, unknown> = {}, registry = new MemoryRegistry()) {
  const history = new History();
  const p = new MongoWriterProbe(
    mongoWriterSpec.parse({ kind: 'mongo-writer', name: 't', rateHz: 40, ...spec }),
    {
      clock: new MonotonicClock(),
      history,
      registry,
      endpoint: (n) => ({ host: ADDR[n]!, port: 27017 }),
      address: (n) => ADDR[n]!,
      members: () => ['mongo-a', 'mongo-b'],
      collection: 'writes_t',
    },
  );
  running.push(p);
  return { p, history, writes: () => history.all().filter((o) => o.op === 'write') };
}

async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

const oks = (ops: Op[], node?: string) => ops.filter((o) => o.outcome === 'ok' && (!node || o.node === node));

describe.skipIf(!listening.ok)(
  `the Mongo probe with the driver, against stand-in members${listening.ok ? '' : ` (skipped: cannot listen on ${ADDR['mongo-a']}:27017: ${listening.reason})`}`,
  () => {
    it('through the replica set: finds the primary itself, w: 1, each write attributed to the member that took it; the read-back from the primary, majority', async () => {
      const { p, writes } = probe({ writeConcern: 1 });
      await p.prepare();
      expect(a.received.find((c) => 'create' in c)).toMatchObject({
        create: 'writes_t',
        writeConcern: { w: 'majority' },
      });
      p.start();
      await until('5 writes acknowledged', () => oks(writes()).length >= 5);
      await p.stop();
      const ops = writes();
      expect(ops.every((o) => o.outcome === 'ok' && o.node === 'mongo-a')).toBe(true);
      expect(ops.map((o) => o.seq)).toEqual([...stored.get('mongo-a')!]);
      const insert = a.received.find((c) => 'insert' in c)!;
      expect(insert).toMatchObject({ insert: 'writes_t', $db: 'chaos', writeConcern: { w: 1 } });
      expect(insert).not.toHaveProperty('txnNumber'); // no retryable writes

      a.handlers.set('find', (cmd) => ({
        cursor: {
          id: Long.ZERO,
          ns: `chaos.${cmd.find}`,
          firstBatch: [...stored.get('mongo-a')!].map((_id) => ({ _id })),
        },
        ok: 1,
      }));
      const back = await p.readBack();
      expect(back.node).toBe('mongo-a');
      expect([...back.values]).toEqual([...stored.get('mongo-a')!]);
      expect(a.received.find((c) => 'find' in c)).toMatchObject({ readConcern: { level: 'majority' } });
    });

    it('a failover: the old primary refuses (NotWritablePrimary: fail, not applied), the driver moves to the new one', async () => {
      const { p, writes } = probe({ writeConcern: 1, serverSelectionTimeoutMs: 3000 });
      await p.prepare();
      p.start();
      await until('writes on mongo-a', () => oks(writes(), 'mongo-a').length >= 3);
      // mongo-a steps down: it refuses writes at once, and says so in its hello a moment later;
      // mongo-b wins term 2.
      a.handlers.set('insert', notPrimary);
      await until('a write refused by mongo-a', () => writes().some((o) => o.outcome === 'fail'));
      a.primary = false;
      a.primaryName = 'mongo-b';
      b.term = 2;
      b.primary = true;
      b.primaryName = null;
      b.handlers.set('insert', applies(b));
      await until('writes on mongo-b', () => oks(writes(), 'mongo-b').length >= 3);
      await p.stop();
      const ops = writes();
      for (const o of ops) {
        if (o.outcome === 'ok') expect(stored.get(o.node!)!.has(o.seq)).toBe(true);
        if (o.outcome === 'fail') {
          expect(o.node).toBe('mongo-a');
          expect(o.error).toMatch(/not primary/);
          expect([...stored.values()].some((s) => s.has(o.seq))).toBe(false);
        }
      }
      expect(ops.filter((o) => o.outcome === 'unknown')).toEqual([]);
    });

    it("w: 'majority' not met in time: a write-concern error, applied on the primary: unknown", async () => {
      const { p, writes } = probe({ writeConcern: 'majority', wtimeoutMs: 150 });
      a.handlers.set('insert', (cmd) => {
        applies(a)(cmd);
        return {
          ok: 1,
          n: 1,
          writeConcernError: {
            code: 64,
            codeName: 'WriteConcernFailed',
            errmsg: 'waiting for replication timed out',
            errInfo: { wtimeout: true },
          },
        };
      });
      await p.prepare();
      p.start();
      await until('3 writes', () => writes().length >= 3);
      await p.stop();
      expect(writes().every((o) => o.outcome === 'unknown' && o.node === 'mongo-a')).toBe(true);
      expect(writes()[0]!.error).toMatch(/^MongoWriteConcernError: waiting for replication timed out/);
      expect(a.received.find((c) => 'insert' in c)).toMatchObject({
        writeConcern: { w: 'majority', wtimeout: 150 },
      });
    });

    it('sent and never answered: unknown after the socket timeout; no primary at all: fail, never sent', async () => {
      a.handlers.set('insert', () => 'hang');
      const hung = probe({ writeConcern: 1, socketTimeoutMs: 200 });
      await hung.p.prepare();
      hung.p.start();
      await until('2 writes', () => hung.writes().length >= 2);
      await hung.p.stop();
      expect(
        hung
          .writes()
          .slice(0, 2)
          .every((o) => o.outcome === 'unknown' && o.node === 'mongo-a'),
      ).toBe(true);

      a.primary = false;
      a.primaryName = null;
      const none = probe({ writeConcern: 1, serverSelectionTimeoutMs: 150 });
      none.p.start();
      await until('2 writes', () => none.writes().length >= 2);
      await none.p.stop();
      expect(
        none
          .writes()
          .slice(0, 2)
          .every((o) => o.outcome === 'fail' && o.node === undefined),
      ).toBe(true);
    });

    it('through the endpoint record: the node it names, directly; a record naming a secondary is refused there', async () => {
      const registry = new MemoryRegistry();
      await registry.set(ENDPOINT_RECORD, 'mongo-a', 100);
      const { p, writes } = probe({ writeConcern: 1, connect: 'endpoint-record' }, registry);
      await p.prepare();
      p.start();
      await until('writes on mongo-a', () => oks(writes(), 'mongo-a').length >= 3);
      await registry.set(ENDPOINT_RECORD, 'mongo-b', 100);
      await until('a write refused by mongo-b', () =>
        writes().some((o) => o.outcome === 'fail' && o.node === 'mongo-b'),
      );
      b.primary = true;
      b.term = 2;
      b.handlers.set('insert', applies(b));
      await until('writes on mongo-b', () => oks(writes(), 'mongo-b').length >= 3);
      await p.stop();
      for (const o of oks(writes())) expect(stored.get(o.node!)!.has(o.seq)).toBe(true);
      expect(p.settings()).toMatchObject({
        writeConcern: 1,
        connect: `the node the ${ENDPOINT_RECORD} record names, directly`,
      });
    });
  },
);
