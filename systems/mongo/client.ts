import { lookup as dnsLookup } from 'node:dns';
import { type LookupFunction, isIP } from 'node:net';
import { type Document, MongoClient, type MongoClientOptions } from 'mongodb';

/** How long `close()` may take before the client is left to finish closing on its own. */
export const CLOSE_GRACE_MS = 250;

/**
 * A name lookup for the driver's sockets that answers for the stack's nodes from the stack's own
 * table (as every node's /etc/hosts does), and asks DNS for anything else. The replica set names
 * its members by node name (`mongo-a:27017`), and a driver discovering the set connects to the
 * names the members give: a client outside the stack finds them this way.
 */
export function stackLookup(addressOf: (host: string) => string | undefined): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const ip = addressOf(hostname);
    if (ip === undefined) {
      dnsLookup(hostname, options as object, callback as never);
      return;
    }
    const family = isIP(ip) === 6 ? 6 : 4;
    if (options?.all) callback(null, [{ address: ip, family }]);
    else callback(null, ip, family);
  }) as unknown as LookupFunction;
}

/** The replica-set URI over the members' hosts (`mongodb://mongo-a:27017,...?replicaSet=rs0`). */
export function replicaSetUri(hosts: readonly string[], set: string): string {
  return `mongodb://${hosts.join(',')}/?replicaSet=${encodeURIComponent(set)}`;
}

/**
 * Closes a client without depending on its servers: `close()` may first try to reach one (to end
 * its sessions), and a member cut off by a partition never answers. After `graceMs` it is left
 * to finish on its own.
 */
export async function closeSoon(client: MongoClient, graceMs = CLOSE_GRACE_MS): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    client.close().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    }),
  ]);
  clearTimeout(timer);
}

/** A client of one member alone (no discovery of the others), with short timeouts, no retries. */
export function directClient(
  target: { host: string; port: number },
  timeoutMs: number,
  extra: MongoClientOptions = {},
): MongoClient {
  return new MongoClient(`mongodb://${target.host}:${target.port}/?directConnection=true`, {
    connectTimeoutMS: timeoutMs,
    serverSelectionTimeoutMS: timeoutMs,
    socketTimeoutMS: timeoutMs * 2,
    retryReads: false,
    retryWrites: false,
    maxPoolSize: 1,
    ...extra,
  });
}

/**
 * Admin commands on one member over a fresh connection, then the connection closed (never waiting
 * on the member): for the observer, which holds nothing open between looks. Each command's
 * answer, or the error it got; the first is tried first, and if it gets no answer at all the
 * rest are not sent.
 */
export async function adminOnce(
  target: { host: string; port: number },
  commands: readonly Document[],
  timeoutMs: number,
): Promise<(Document | Error)[]> {
  const client = directClient(target, timeoutMs);
  try {
    const admin = client.db('admin');
    const out: (Document | Error)[] = [];
    for (const [i, cmd] of commands.entries()) {
      try {
        out.push(await admin.command(cmd));
      } catch (err) {
        out.push(err as Error);
        if (i === 0) break;
      }
    }
    return out;
  } finally {
    await closeSoon(client);
  }
}
