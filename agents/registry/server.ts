/**
 * The local endpoint registry server. It runs inside a container on the run's network (the
 * harness copies the bundled file in), keeps records in memory, and logs every change as a JSON
 * event line on stdout, which the harness puts on the run's timeline.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { LeaseTable } from './leases.ts';
import { REGISTRY_PORT, type RegistryRecord } from './protocol.ts';

export function startRegistryServer(
  port = REGISTRY_PORT,
  log: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
) {
  const records = new Map<string, RegistryRecord>();
  const wallNow = () => performance.timeOrigin + performance.now();
  // Lease changes are timeline events too (renewals are not: they come every few hundred ms).
  const leases = new LeaseTable(undefined, (c) => log(JSON.stringify({ t: wallNow(), ...c })));

  /** Requests waiting for a record to change, by record name. */
  const waiting = new Map<string, Set<() => void>>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => reply(res, 500, { error: String(err) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    if (req.url === '/healthz') return reply(res, 200, { ok: true });
    const l = /^\/v1\/leases\/([^/?]+)$/.exec(req.url ?? '');
    if (l) return handleLease(decodeURIComponent(l[1]!), req, res);
    const [path, query] = (req.url ?? '').split('?', 2) as [string, string | undefined];
    const m = /^\/v1\/records\/([^/?]+)$/.exec(path);
    if (!m) return reply(res, 404, { error: 'no such path' });
    const name = decodeURIComponent(m[1]!);
    if (req.method === 'GET') {
      // `?after=<version>&waitMs=<ms>`: answered once the record is at another version than
      // `after` (0: none), or after waitMs (at most 10 s) with what it is then.
      const q = new URLSearchParams(query ?? '');
      const after = Number(q.get('after'));
      const waitMs = Math.min(Number(q.get('waitMs')) || 0, 10_000);
      if (q.has('after') && waitMs > 0 && (records.get(name)?.version ?? 0) === after)
        await new Promise<void>((resolve) => {
          const set = waiting.get(name) ?? new Set();
          waiting.set(name, set);
          const done = () => {
            clearTimeout(timer);
            set.delete(done);
            res.off('close', done);
            resolve();
          };
          const timer = setTimeout(done, waitMs);
          set.add(done);
          res.on('close', done);
        });
      const rec = records.get(name);
      return rec ? reply(res, 200, rec) : reply(res, 404, { error: `no record ${name}` });
    }
    if (req.method === 'PUT') {
      const body = JSON.parse(await readBody(req)) as {
        value?: unknown;
        ttlMs?: unknown;
        ifVersion?: unknown;
      };
      if (typeof body.value !== 'string' || typeof body.ttlMs !== 'number') {
        return reply(res, 400, { error: 'body needs value (string) and ttlMs (number)' });
      }
      const current = records.get(name);
      const currentVersion = current?.version ?? 0;
      if (typeof body.ifVersion === 'number' && body.ifVersion !== currentVersion) {
        return reply(res, 409, { error: 'version conflict', current: current ?? null });
      }
      const next: RegistryRecord = {
        name,
        value: body.value,
        ttlMs: body.ttlMs,
        version: currentVersion + 1,
      };
      records.set(name, next);
      for (const wake of [...(waiting.get(name) ?? [])]) wake();
      log(
        JSON.stringify({
          t: wallNow(),
          type: 'record-set',
          name,
          value: next.value,
          previous: current?.value ?? null,
          version: next.version,
          ttlMs: next.ttlMs,
        }),
      );
      return reply(res, 200, next);
    }
    return reply(res, 405, { error: 'GET or PUT' });
  }

  /** GET: the lease; PUT {holder, ttlMs}: acquire or renew (409 while another holds it); DELETE {holder}. */
  async function handleLease(name: string, req: IncomingMessage, res: ServerResponse) {
    if (req.method === 'GET') {
      const lease = leases.get(name);
      return lease ? reply(res, 200, lease) : reply(res, 404, { error: `no lease ${name}` });
    }
    if (req.method !== 'PUT' && req.method !== 'DELETE')
      return reply(res, 405, { error: 'GET, PUT or DELETE' });
    const body = JSON.parse(await readBody(req)) as { holder?: unknown; ttlMs?: unknown };
    if (typeof body.holder !== 'string') return reply(res, 400, { error: 'body needs holder (string)' });
    if (req.method === 'DELETE') {
      leases.release(name, body.holder);
      return reply(res, 200, { ok: true });
    }
    if (typeof body.ttlMs !== 'number' || !(body.ttlMs > 0))
      return reply(res, 400, { error: 'body needs ttlMs (a positive number)' });
    const lease = leases.acquire(name, body.holder, body.ttlMs);
    return lease
      ? reply(res, 200, lease)
      : reply(res, 409, { error: 'held by another', current: leases.get(name) });
  }

  server.on('close', () => leases.close());
  server.listen(port, () => log(JSON.stringify({ t: wallNow(), type: 'registry-ready', port })));
  return server;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      data += c;
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
