import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { type Document, Long, ObjectId } from 'mongodb';
import { adminOnce } from './client.ts';
import { FakeMember } from './fake-mongod.ts';

/**
 * A stand-in for mongod inside a container, for the one test of the harness's own side of the
 * Mongo stack that can run where no mongod image can be had (test/integration/mongo.test.ts): the
 * plan's containers, the endpoint agents (initiating the set, putting its priorities back,
 * claiming the record), the observer over the mapped ports, the probe discovering the set by its
 * members' names, the read-back, the teardown. It answers what the harness asks of a member
 * (`hello`, `replSetInitiate` / `replSetReconfig` / `replSetGetConfig` / `replSetGetStatus`,
 * `create`, `insert`, `find`) over the wire protocol, and passes a config on to the other
 * members as real members do by heartbeat.
 *
 * It is no database and holds no election: the data member the config ranks first is primary
 * in term 1 for good, the others its secondaries, always caught up. Nothing about failover, loss
 * or durability can be learnt from it; the scenarios need the real mongod for that.
 */
const NOT_YET_INITIALIZED = {
  ok: 0,
  code: 94,
  codeName: 'NotYetInitialized',
  errmsg: 'no replset config has been received',
};

interface Member {
  _id: number;
  host: string;
  priority?: number;
  arbiterOnly?: boolean;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const port = Number(flag('--port') ?? 27017);
  const setName = flag('--replSet') ?? 'rs0';
  const member = new FakeMember('stand-in', [], setName);
  let config: Document | null = null;
  let self: string | null = null;
  const stored = new Map<string, Set<unknown>>();

  const members = () => (config?.members ?? []) as Member[];
  const primaryHost = () => {
    const data = members().filter((m) => !m.arbiterOnly);
    const top = Math.max(...data.map((m) => m.priority ?? 1));
    return data.find((m) => (m.priority ?? 1) === top)?.host ?? null;
  };
  const isPrimary = () => self !== null && self === primaryHost();
  const isArbiter = () => members().some((m) => m.host === self && m.arbiterOnly);
  const wire = () => ({
    maxBsonObjectSize: 16777216,
    maxMessageSizeBytes: 48000000,
    maxWriteBatchSize: 100000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  });

  /** Which member of the config this process is: the one whose name resolves to one of its addresses. */
  const whoAmI = async (cfg: Document): Promise<string | null> => {
    const mine = new Set(
      Object.values(networkInterfaces())
        .flat()
        .map((i) => i?.address),
    );
    for (const m of (cfg.members ?? []) as Member[]) {
      const name = m.host.split(':')[0]!;
      const { address } = await lookup(name, { family: 4 }).catch(() => ({ address: '' }));
      if (mine.has(address)) return m.host;
    }
    return null;
  };
  const install = async (cfg: Document, version: number) => {
    config = { ...cfg, version, term: 1 };
    self = await whoAmI(config);
  };
  /** Passes the config on to the other members, as heartbeats do. */
  const spread = (cfg: Document) => {
    for (const m of members()) {
      if (m.host === self) continue;
      const [host, p] = m.host.split(':');
      void adminOnce({ host: host!, port: Number(p) }, [{ standInInstall: cfg }], 2000).catch(() => {});
    }
  };

  member.helloDoc = () =>
    !config || !self
      ? {
          helloOk: true,
          isWritablePrimary: false,
          ismaster: false,
          secondary: false,
          info: 'Does not have a valid replica set config',
          isreplicaset: true,
          ...wire(),
        }
      : {
          helloOk: true,
          isWritablePrimary: isPrimary(),
          ismaster: isPrimary(),
          secondary: !isPrimary() && !isArbiter(),
          ...(isArbiter() ? { arbiterOnly: true } : {}),
          setName,
          setVersion: config.version,
          hosts: members()
            .filter((m) => !m.arbiterOnly)
            .map((m) => m.host),
          arbiters: members()
            .filter((m) => m.arbiterOnly)
            .map((m) => m.host),
          primary: primaryHost(),
          me: self,
          ...(isPrimary() ? { electionId: new ObjectId('7fffffff0000000000000001') } : {}),
          ...wire(),
        };

  member.handlers.set('replSetInitiate', async (cmd) => {
    if (config) return { ok: 0, code: 23, codeName: 'AlreadyInitialized', errmsg: 'already initialized' };
    await install(cmd.replSetInitiate as Document, 1);
    spread(config!);
    return { ok: 1 };
  });
  member.handlers.set('standInInstall', async (cmd) => {
    await install(cmd.standInInstall as Document, Number((cmd.standInInstall as Document).version ?? 1));
    return { ok: 1 };
  });
  member.handlers.set('replSetReconfig', async (cmd) => {
    const next = cmd.replSetReconfig as Document;
    await install(next, Number(next.version));
    spread(config!);
    return { ok: 1 };
  });
  member.handlers.set('replSetGetConfig', () => (config ? { config, ok: 1 } : NOT_YET_INITIALIZED));
  member.handlers.set('replSetGetStatus', () => {
    if (!config) return NOT_YET_INITIALIZED;
    const now = new Date();
    const primary = primaryHost();
    const state = (m: Member) => (m.arbiterOnly ? 7 : m.host === primary ? 1 : 2);
    const names: Record<number, string> = { 1: 'PRIMARY', 2: 'SECONDARY', 7: 'ARBITER' };
    const mine = members().find((m) => m.host === self);
    return {
      set: setName,
      date: now,
      myState: mine ? state(mine) : 0,
      term: 1,
      members: members().map((m) => ({
        _id: m._id,
        name: m.host,
        health: 1,
        state: state(m),
        stateStr: names[state(m)],
        syncSourceHost: state(m) === 2 ? primary : '',
        ...(m.arbiterOnly ? {} : { optimeDate: now, lastAppliedWallTime: now }),
        ...(m.host === self ? { self: true } : {}),
      })),
      ok: 1,
    };
  });
  const notPrimary = { ok: 0, code: 10107, codeName: 'NotWritablePrimary', errmsg: 'not primary' };
  member.handlers.set('create', () => (isPrimary() ? { ok: 1 } : notPrimary));
  member.handlers.set('insert', (cmd) => {
    if (!isPrimary()) return notPrimary;
    const ns = `${cmd.$db}.${cmd.insert}`;
    const ids = stored.get(ns) ?? new Set();
    stored.set(ns, ids);
    for (const d of cmd.documents as Document[]) ids.add(d._id);
    return { ok: 1, n: (cmd.documents as Document[]).length };
  });
  member.handlers.set('find', (cmd) => {
    const ns = `${cmd.$db}.${cmd.find}`;
    return {
      cursor: { id: Long.ZERO, ns, firstBatch: [...(stored.get(ns) ?? [])].map((_id) => ({ _id })) },
      ok: 1,
    };
  });

  await member.listen('0.0.0.0', port);
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(
    `${JSON.stringify({ t: { $date: new Date().toISOString() }, s: 'I', c: 'NETWORK', id: 23016, ctx: 'listener', msg: 'Waiting for connections', attr: { port, standIn: true } })}\n`,
  );
}
