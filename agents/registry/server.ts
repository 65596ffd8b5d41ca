/**
 * The local endpoint registry server. It runs inside a container on the run's network (the
 * harness copies the bundled file in), keeps records in memory, and logs every change as a JSON
 * event line on stdout, which the harness puts on the run's timeline.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { REGISTRY_PORT, type RegistryRecord } from './protocol.ts';

export function startRegistryServer(
  port = REGISTRY_PORT,
  log: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
) {
  const records = new Map<string, RegistryRecord>();
  const wallNow = () => performance.timeOrigin + performance.now();

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => reply(res, 500, { error: String(err) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const m = /^\/v1\/records\/([^/?]+)$/.exec(req.url ?? '');
    if (req.url === '/healthz') return reply(res, 200, { ok: true });
    if (!m) return reply(res, 404, { error: 'no such path' });
    const name = decodeURIComponent(m[1]!);
    if (req.method === 'GET') {
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
