import type { Document } from 'mongodb';
import type { Endpoint, NodeRef } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { adminOnce, closeSoon, directClient } from './client.ts';
import { mongoViolations } from './invariants.ts';
import { MONGO_PORT, nodeOfHost } from './layout.ts';
import { MONGO_DB } from './probe.ts';
import { type MemberAccount, mongoState, parseHello, parseStatus } from './status.ts';

/**
 * A user's MongoDB replica set, attached to (`stack.attach.mongo`): no endpoint agent, no record
 * of the harness's. Who leads is what the members say of themselves (`hello`: the one that is
 * the writable primary), one reading for everything (the probe's lookup, the observation, the
 * invariants). The set names its members by the hosts in its config (`mongo1:27017`), not by the
 * containers': each host is mapped to its container through the stack's address book (its name,
 * hostname, network aliases, addresses), as a Redis replica's master is.
 */

/** One member's answers: its own account (hello, replSetGetStatus) and the set's hosts as its config has them. */
export interface MongoReading {
  account: MemberAccount;
  /** `hello.hosts`, `hello.passives` and `hello.arbiters`: every member of the config, as `host:port`. */
  hosts: string[];
  /** `replSetGetStatus` was refused for want of a login (code 13, Unauthorized): its words. */
  unauthorized?: string;
}

/** Whether a command's error is MongoDB's refusal for want of a login (code 13, Unauthorized). */
export const isUnauthorized = (e: unknown): boolean => {
  const o = e as { code?: unknown; codeName?: unknown } | undefined;
  return typeof o === 'object' && o !== null && (o.code === 13 || o.codeName === 'Unauthorized');
};

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);

/** A reading from a member's `hello` and `replSetGetStatus` documents (the status may be missing). */
export function mongoReading(hello: Document, status: Document | undefined): MongoReading {
  return {
    account: { hello: parseHello(hello), status: status ? parseStatus(status) : null },
    hosts: [...strings(hello.hosts), ...strings(hello.passives), ...strings(hello.arbiters)],
  };
}

/** One member's reading, or undefined when it did not answer `hello`. */
export async function readMongo(ep: Endpoint, timeoutMs = 500): Promise<MongoReading | undefined> {
  const [hello, status] = await adminOnce(ep, [{ hello: 1 }, { replSetGetStatus: 1 }], timeoutMs).catch(
    () => [] as (Document | Error)[],
  );
  if (!hello || hello instanceof Error) return undefined;
  const reading = mongoReading(hello, status && !(status instanceof Error) ? status : undefined);
  return status instanceof Error && isUnauthorized(status)
    ? { ...reading, unauthorized: status.message }
    : reading;
}

/**
 * A member's account with every member it names (itself, the primary, the members of its status,
 * their sync sources) by container name where the address book knows the host.
 */
export function mapAccount(a: MemberAccount, nameOf: (host: string) => string | undefined): MemberAccount {
  const map = (h: string | null) => (h === null ? null : (nameOf(h) ?? h));
  return {
    hello: { ...a.hello, me: map(a.hello.me), primary: map(a.hello.primary) },
    status: a.status
      ? {
          ...a.status,
          members: a.status.members.map((m) => ({
            ...m,
            node: map(m.node) ?? m.node,
            syncSource: map(m.syncSource),
          })),
        }
      : null,
  };
}

/**
 * Who leads: the one member that answers as the writable primary. With several (an old primary
 * not yet stepped down), the one most answering members name as primary; a tie is nobody, as is
 * none.
 */
export function mongoLeader(
  nodes: readonly { name: string; account: MemberAccount | null }[],
): string | null {
  const primaries = nodes.filter((n) => n.account?.hello.isWritablePrimary);
  if (primaries.length <= 1) return primaries[0]?.name ?? null;
  const named = (p: string) => nodes.filter((n) => n.account?.hello.primary === p).length;
  const ranked = primaries.map((p) => [p.name, named(p.name)] as const).sort((a, b) => b[1] - a[1]);
  return ranked[0]![1] > ranked[1]![1] ? ranked[0]![0] : null;
}

/**
 * The live state from every member's reading, by container: the leader, then the secondaries
 * syncing from it, then the arbiters (systems/mongo/status.ts: each member's role, sync source
 * and lag as the primary sees it).
 */
export function attachedMongoState(
  nodes: readonly { name: string; az: string; reading: MongoReading | undefined }[],
  nameOf: (host: string) => string | undefined,
): SystemState {
  const accounts = nodes.map((n) => ({
    name: n.name,
    account: n.reading ? mapAccount(n.reading.account, nameOf) : null,
  }));
  const refs: NodeRef[] = nodes.map((n, index) => ({ name: n.name, az: n.az, system: 'mongo', index }));
  return mongoState(refs, new Map(accounts.map((a) => [a.name, a.account])), mongoLeader(accounts));
}

/**
 * Full redundancy of a user's replica set: systems/mongo/invariants.ts on the data members (one
 * PRIMARY among those that answer, every other one a SECONDARY syncing from it within `maxLagMs`
 * of oplog), and every arbiter that answers an ARBITER. A member that does not answer is not
 * required anywhere; the set elects a new primary by itself.
 */
export function attachedMongoViolations(t: SystemState, spec: { maxLagMs: number }): string[] {
  const arbiter = (n: { role?: string | undefined }) => n.role === 'arbiter';
  return mongoViolations({ ...t, nodes: t.nodes.filter((n) => !arbiter(n)) }, spec);
}

/** The members' hosts (without the port) as the set's config names them, and any not on the port the probe seeds at. */
export function configHosts(readings: readonly (MongoReading | undefined)[]): {
  hosts: string[];
  offPort: string[];
} {
  const all = [...new Set(readings.flatMap((r) => r?.hosts ?? []))].sort();
  return {
    hosts: [...new Set(all.map((h) => nodeOfHost(h)!))],
    offPort: all.filter((h) => !h.endsWith(`:${MONGO_PORT}`)),
  };
}

/**
 * Why the attach cannot take this set however long it waits (one line), else undefined: members
 * on a port other than 27017 (the mongo-writer seeds the driver at port 27017 of the config's
 * hosts, so another port is not supported yet); authentication on (`replSetGetStatus` refused
 * with code 13, Unauthorized: the attach takes no MongoDB login yet).
 */
export function mongoRefusal(
  readings: readonly (MongoReading | undefined)[],
  port: number,
): string | undefined {
  const refused = readings.find((r) => r?.unauthorized !== undefined)?.unauthorized;
  if (refused !== undefined)
    return `the set requires authentication (replSetGetStatus refused: ${refused.replace(/\s+/g, ' ')}): attaching to a MongoDB with authentication on is not supported yet (stack.attach.mongo takes no login)`;
  const { offPort } = configHosts(readings);
  if (offPort.length)
    return `the set's config names ${offPort.join(', ')}, and stack.attach.mongo.port is ${port}: attaching to a set whose members are not on port ${MONGO_PORT} is not supported yet (the mongo-writer reaches each member at port ${MONGO_PORT} of its host)`;
  return undefined;
}

/** The set's electionTimeoutMillis from a member's `replSetGetConfig` (MongoDB's default 10 s). */
export async function readElectionTimeout(ep: Endpoint, timeoutMs = 1000): Promise<number | undefined> {
  const [answer] = await adminOnce(ep, [{ replSetGetConfig: 1 }], timeoutMs).catch(() => [] as Document[]);
  if (!answer || answer instanceof Error) return undefined;
  const v = (answer.config as { settings?: { electionTimeoutMillis?: unknown } } | undefined)?.settings
    ?.electionTimeoutMillis;
  const n = typeof v === 'number' ? v : Number(v ?? Number.NaN);
  return Number.isFinite(n) && n > 0 ? n : 10_000;
}

/** The collection a mongo-writer writes to in an attached set: the run's own, dropped at the end. */
export const attachedMongoCollection = (runId: string, probe: string) =>
  `chaos_${runId}_${probe.replace(/-/g, '_')}`.toLowerCase();

/** How long a drop waits for a majority of the set to have it. */
export const DROP_WTIMEOUT_MS = 5000;

/** Drops the run's collections (`chaos_<run>_*` in the harness's database) from the primary; their names. */
export async function dropRunCollections(ep: Endpoint, runId: string): Promise<string[]> {
  // The socket outlasts the drop's majority wait (wtimeoutMS 5000): a slow majority is answered, not cut off.
  const client = directClient(ep, 2000, { socketTimeoutMS: DROP_WTIMEOUT_MS + 5000 });
  try {
    const db = client.db(MONGO_DB);
    const prefix = attachedMongoCollection(runId, '');
    const names = (await db.listCollections({}, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((n) => n.startsWith(prefix));
    for (const n of names)
      await db.collection(n).drop({ writeConcern: { w: 'majority', wtimeoutMS: DROP_WTIMEOUT_MS } });
    return names;
  } finally {
    await closeSoon(client, 1000);
  }
}
