import { randomBytes } from 'node:crypto';
import { Agent, get } from 'node:http';
import { hostname } from 'node:os';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../core/clock.ts';
import {
  LABEL_HARNESS,
  LABEL_HOST,
  LABEL_NODE,
  LABEL_PID,
  LABEL_RUN,
  countLeftovers,
  dockerClient,
  removeByLabel,
} from '../../infra/local/docker.ts';
import { resolveImage } from '../../infra/local/images.ts';
import { allImages } from '../../systems/index.ts';
import { HaproxyRuntime } from '../../systems/web/haproxy-runtime.ts';
import {
  HAPROXY_CONFIG_PATH,
  type HaproxyRequestLog,
  LB_PROFILES,
  REQUEST_ID_HEADER,
  REQUEST_LOG_PATH,
  haproxyCommand,
  haproxyConfig,
  parseHaproxyLog,
  parseHaproxyServerEvent,
} from '../../systems/web/lb.ts';
import { ready, skipReason } from './docker.ts';

/**
 * The web tier's load balancer on real containers: HAProxy 2.6 (the official image if the engine
 * has it, else chaos-local/haproxy:2.6 from docker/haproxy) with a generated config in front of
 * small Node HTTP servers on its own network; the runtime API from the host through a mapped
 * port, and the web tier's own command (its request log to a file). A head is killed, one is added
 * at runtime and removed again, and HAProxy's request log is checked against every request this
 * test sent.
 */
const docker = dockerClient();
const HAPROXY_IMAGES = ['haproxy:2.6', 'chaos-local/haproxy:2.6'];

async function present(image: string): Promise<boolean> {
  return docker
    .getImage(image)
    .inspect()
    .then(() => true)
    .catch(() => false);
}

let haproxyImage: string | undefined;
let nodeImage: string | undefined;
let reason = ready.ok ? '' : skipReason;
if (ready.ok) {
  for (const image of HAPROXY_IMAGES) if (!haproxyImage && (await present(image))) haproxyImage = image;
  const nodeRef = allImages().find((i) => i.name === 'node');
  if (nodeRef) nodeImage = (await resolveImage(docker, nodeRef).catch(() => undefined))?.image;
  if (!haproxyImage)
    reason = ` (skipped: neither ${HAPROXY_IMAGES.join(' nor ')} is on this engine; build it with \`docker build -t chaos-local/haproxy:2.6 --build-arg BASE=chaos-local/debian:bookworm docker/haproxy\`)`;
  else if (!nodeImage) reason = ' (skipped: no node image; run `bash docker/build-images.sh`)';
  if (reason) console.warn(`haproxy tests${reason}`);
}

const PROFILE = LB_PROFILES.fast;
const FRONTEND = 8080;
const RUNTIME = 9999;
const HEAD_PORT = 8000;
/** A head: answers every path with its name; `/slow?ms=N` after N ms. */
const HEAD_JS = `const name = process.env.NAME;
require('http').createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const wait = u.pathname === '/slow' ? Number(u.searchParams.get('ms')) || 0 : 0;
  setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(name); }, wait);
}).listen(${HEAD_PORT}, () => console.log('listening'));`;

interface Sent {
  id: string;
  path: string;
  status: number | 'error';
  body: string;
}

describe.skipIf(!haproxyImage || !nodeImage)(`HAProxy 2.6 load balancer on real containers${reason}`, () => {
  const runId = randomBytes(4).toString('hex');
  const network = `chaos-${runId}`;
  const labels = {
    [LABEL_HARNESS]: 'true',
    [LABEL_RUN]: runId,
    [LABEL_PID]: String(process.pid),
    [LABEL_HOST]: hostname(),
  };
  const heads = new Map<string, StartedTestContainer>();
  let lb: StartedTestContainer;
  let rt: HaproxyRuntime;
  let base = '';
  const sent: Sent[] = [];
  let seq = 0;
  /** The request cut with a 502, and the one cut by closing its kept-alive connection. */
  let cut502 = '';
  let cutClosed = '';

  async function startHead(name: string): Promise<{ container: StartedTestContainer; ip: string }> {
    const container = await new GenericContainer(nodeImage!)
      .withName(`${runId}-${name}`)
      .withLabels({ ...labels, [LABEL_NODE]: name })
      .withNetworkMode(network)
      .withEnvironment({ NAME: name })
      .withCommand(['node', '-e', HEAD_JS])
      .withWaitStrategy(Wait.forLogMessage('listening'))
      .withStartupTimeout(30_000)
      .start();
    heads.set(name, container);
    return { container, ip: container.getIpAddress(network) };
  }

  /** Kept-alive connections, as a load generator keeps them. */
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

  /**
   * One GET through the frontend, recorded with its id (which HAProxy logs). On a kept-alive
   * connection of `agent`, or on a connection of its own (`Connection: close`) with `false`.
   */
  function request(path = '/', agent: Agent | false = keepAlive): Promise<Sent> {
    const id = `t-${++seq}`;
    const r: Sent = { id, path, status: 'error', body: '' };
    sent.push(r);
    return new Promise((resolve) => {
      const req = get(
        `${base}${path}`,
        { agent, headers: { [REQUEST_ID_HEADER]: id }, timeout: 10_000 },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            r.body += d;
          });
          res.on('end', () => {
            r.status = res.statusCode ?? 'error';
            resolve(r);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        r.body = `${err.code ?? ''} ${err.message}`.trim();
        resolve(r);
      });
    });
  }

  /** HAProxy's log as the web tier keeps it: the file its output goes to (systems/web/lb.ts). */
  const logFile = async (): Promise<string[]> => {
    const r = await lb.exec(['cat', REQUEST_LOG_PATH]);
    if (r.exitCode !== 0) throw new Error(`cat ${REQUEST_LOG_PATH}: ${r.output}`);
    return r.stdout.split('\n');
  };
  const logs = async (): Promise<HaproxyRequestLog[]> =>
    (await logFile()).map(parseHaproxyLog).filter((l): l is HaproxyRequestLog => l !== undefined);

  beforeAll(async () => {
    await docker.createNetwork({ Name: network, Driver: 'bridge', CheckDuplicate: true, Labels: labels });
    const [a, b] = await Promise.all([startHead('web-a'), startHead('web-b')]);
    const config = haproxyConfig({
      profile: PROFILE,
      retries: 0,
      redispatch: false,
      frontendPort: FRONTEND,
      runtimePort: RUNTIME,
      servers: [
        { name: 'web-a', address: a.ip, port: HEAD_PORT },
        { name: 'web-b', address: b.ip, port: HEAD_PORT },
      ],
      healthPath: '/health',
    });
    const albConfig = haproxyConfig({
      profile: 'alb-defaults',
      retries: 3,
      redispatch: true,
      frontendPort: FRONTEND,
      runtimePort: RUNTIME,
      servers: [{ name: 'web-a', address: a.ip, port: HEAD_PORT }],
      healthPath: '/health',
    });
    lb = await new GenericContainer(haproxyImage!)
      .withName(`${runId}-web-lb`)
      .withLabels({ ...labels, [LABEL_NODE]: 'web-lb' })
      .withNetworkMode(network)
      .withCopyContentToContainer([
        { content: config, target: HAPROXY_CONFIG_PATH },
        { content: albConfig, target: '/tmp/alb-defaults.cfg' },
      ])
      // The web tier's command: its request log to a file, its notices on standard error.
      .withCommand(haproxyCommand(HAPROXY_CONFIG_PATH))
      .withExposedPorts(FRONTEND, RUNTIME)
      .withWaitStrategy(Wait.forLogMessage('Loading success.'))
      .withStartupTimeout(30_000)
      .start();
    base = `http://${lb.getHost()}:${lb.getMappedPort(FRONTEND)}`;
    rt = new HaproxyRuntime({ host: lb.getHost(), port: lb.getMappedPort(RUNTIME) });
    // both heads have passed a check
    for (const name of ['web-a', 'web-b'])
      for (let t0 = Date.now(); (await rt.server(name))?.checkStatus !== 'L7OK'; ) {
        if (Date.now() - t0 > 10_000) throw new Error(`${name} never passed a health check`);
        await sleep(100);
      }
  });

  afterAll(async () => {
    keepAlive.destroy();
    await removeByLabel(docker, runId);
    expect(await countLeftovers(docker, runId)).toEqual({ containers: 0, networks: 0 });
  });

  it('sends requests round-robin to the two heads, both UP', async () => {
    const servers = await rt.servers();
    expect(servers.map((s) => [s.name, s.state, s.checkStatus])).toEqual([
      ['web-a', 'UP', 'L7OK'],
      ['web-b', 'UP', 'L7OK'],
    ]);
    expect(servers.map((s) => `${s.address}:${s.port}`)).toEqual(
      ['web-a', 'web-b'].map((n) => `${heads.get(n)!.getIpAddress(network)}:${HEAD_PORT}`),
    );
    const bodies: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await request();
      expect(r.status).toBe(200);
      bodies.push(r.body);
    }
    expect(new Set(bodies)).toEqual(new Set(['web-a', 'web-b']));
    for (let i = 1; i < bodies.length; i++) expect(bodies[i]).not.toBe(bodies[i - 1]);
  });

  it('marks a killed head DOWN within fall x (inter + check timeout) + slack, and sends everything to the other', async () => {
    const c = PROFILE.check;
    const bound = c.fall * (c.intervalMs + c.timeoutMs) + c.intervalMs + 1000;
    await docker.getContainer(heads.get('web-a')!.getId()).kill();
    const downAfter = await rt.awaitState('web-a', 'DOWN', { timeoutMs: bound, pollMs: 50 });
    console.log(`web-a DOWN ${downAfter} ms after the kill (bound ${bound} ms)`);
    // not before fall x inter: the checks, not something else, took it out
    expect(downAfter).toBeGreaterThanOrEqual((c.fall - 1) * c.intervalMs);
    const a = (await rt.server('web-a'))!;
    expect(a.checkStatus).toMatch(/^L4(TOUT|CON)$|^SOCKERR$/);
    expect((await rt.server('web-b'))?.state).toBe('UP');
    for (let i = 0; i < 6; i++) expect(await request()).toMatchObject({ status: 200, body: 'web-b' });
  });

  it("deletes the dead head's server, at once as it has no session left", async () => {
    // As the group must: Docker gives a killed container's address to the next container it
    // starts, and a dead head's server left in place would pass its checks again against it.
    const removed = await rt.removeServer('web-a', { drainMs: PROFILE.deregistrationDelayMs, pollMs: 50 });
    expect(removed.sessionsCut).toBe(0);
    expect(removed.drainedMs).toBeLessThan(1000);
    expect((await rt.servers()).map((s) => s.name)).toEqual(['web-b']);
  });

  it('adds a head started after HAProxy at runtime: UP and serving, without a reload', async () => {
    const pidBefore = /^Pid: (\d+)$/m.exec(await rt.command('show info'))?.[1];
    expect(pidBefore).toBeDefined();
    const { ip } = await startHead('web-c');
    expect(await rt.server('web-c')).toBeUndefined();
    await rt.addServer('web-c', ip, HEAD_PORT, PROFILE);
    await rt.awaitState('web-c', 'UP', { timeoutMs: 5000 });
    // its own health check passes (not only the UP a server gets when it leaves maintenance)
    for (let t0 = Date.now(); (await rt.server('web-c'))?.checkStatus !== 'L7OK'; ) {
      expect(Date.now() - t0).toBeLessThan(5000);
      await sleep(100);
    }
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await request();
      expect(r.status).toBe(200);
      bodies.push(r.body);
    }
    expect(bodies.filter((b) => b === 'web-c')).toHaveLength(3);
    expect(bodies.filter((b) => b === 'web-b')).toHaveLength(3);
    // the same worker process: no reload happened
    expect(/^Pid: (\d+)$/m.exec(await rt.command('show info'))?.[1]).toBe(pidBefore);
  });

  it('removes a head: drains its in-flight requests first (the deregistration delay), then deletes it', async () => {
    // two slow requests at once: round-robin gives web-c one of them
    const slow = [request('/slow?ms=1500'), request('/slow?ms=1500')];
    for (let t0 = Date.now(); ((await rt.server('web-c'))?.sessions ?? 0) === 0; ) {
      expect(Date.now() - t0).toBeLessThan(3000);
      await sleep(20);
    }
    const removed = await rt.removeServer('web-c', { drainMs: PROFILE.deregistrationDelayMs, pollMs: 50 });
    const done = await Promise.all(slow);
    expect(done.map((r) => [r.status, r.body]).sort()).toEqual([
      [200, 'web-b'],
      [200, 'web-c'],
    ]);
    expect(removed.sessionsCut).toBe(0);
    expect(removed.drainedMs).toBeGreaterThan(500);
    expect(removed.drainedMs).toBeLessThan(PROFILE.deregistrationDelayMs);
    expect((await rt.servers()).map((s) => s.name)).toEqual(['web-b']);
    for (let i = 0; i < 4; i++) expect(await request()).toMatchObject({ status: 200, body: 'web-b' });
  });

  /** Adds web-c again and sends two slow requests, one of which round-robin gives it. */
  async function slowPairWithWebC(agents: [Agent | false, Agent | false]): Promise<Promise<Sent>[]> {
    await rt.addServer('web-c', heads.get('web-c')!.getIpAddress(network), HEAD_PORT, PROFILE);
    await rt.awaitState('web-c', 'UP', { timeoutMs: 5000 });
    const slow = agents.map((a) => request('/slow?ms=3000', a));
    for (let t0 = Date.now(); ((await rt.server('web-c'))?.sessions ?? 0) === 0; ) {
      expect(Date.now() - t0).toBeLessThan(2000);
      await sleep(20);
    }
    return slow;
  }

  it("removes a head without a drain: cuts its in-flight request, a 502 on the request's own connection", async () => {
    const slow = await slowPairWithWebC([false, false]);
    expect(await rt.removeServer('web-c')).toEqual({ drainedMs: 0, sessionsCut: 1 });
    const done = await Promise.all(slow);
    expect(done.map((r) => r.status).sort()).toEqual([200, 502]);
    expect(await rt.server('web-c')).toBeUndefined();
    cut502 = done.find((r) => r.status === 502)!.id;
  });

  it('on a kept-alive connection, a cut request gets no answer at all: the connection closes', async () => {
    // HAProxy closes a kept-alive client connection whose request failed before any response,
    // so that the client retries it (what Go's HTTP client, k6's, does for idempotent requests)
    const agents: [Agent, Agent] = [
      new Agent({ keepAlive: true, maxSockets: 1 }),
      new Agent({ keepAlive: true, maxSockets: 1 }),
    ];
    for (const a of agents) expect((await request('/', a)).status).toBe(200); // not the first request on either
    const slow = await slowPairWithWebC(agents);
    expect(await rt.removeServer('web-c')).toEqual({ drainedMs: 0, sessionsCut: 1 });
    const done = await Promise.all(slow);
    for (const a of agents) a.destroy();
    expect(done.map((r) => r.status).sort()).toEqual([200, 'error']);
    const closed = done.find((r) => r.status === 'error')!;
    expect(closed.body).toMatch(/socket hang up|ECONNRESET/);
    cutClosed = closed.id;
  });

  it('accepts the alb-defaults config (haproxy -c)', async () => {
    const r = await lb.exec(['haproxy', '-c', '-f', '/tmp/alb-defaults.cfg']);
    expect(r.output).toContain('Configuration file is valid');
    expect(r.exitCode).toBe(0);
  });

  it('logs every request it answered as one parseable line: same ids, statuses, servers', async () => {
    expect(sent.length).toBeGreaterThanOrEqual(30);
    expect(cut502 && cutClosed).toBeTruthy();
    // every request but the one whose connection was closed without an answer: HAProxy does not
    // log that one (it leaves the request to the client to send again)
    const answered = sent.filter((s) => s.id !== cutClosed);
    expect(answered.every((s) => s.status !== 'error')).toBe(true);
    for (let t0 = Date.now(); (await logs()).length < answered.length && Date.now() - t0 < 5000; )
      await sleep(100);
    await sleep(500); // and nothing more comes
    const logged = await logs();
    expect(logged).toHaveLength(answered.length);
    const byId = new Map(logged.map((l) => [l.requestId, l]));
    expect([...byId.keys()].sort()).toEqual(answered.map((s) => s.id).sort());
    for (const s of answered) {
      const l = byId.get(s.id)!;
      expect(l.status).toBe(s.status);
      expect(l.uri).toBe(s.path);
      expect(l.method).toBe('GET');
      if (s.status === 200) {
        expect(l.server).toBe(s.body);
        expect(l.termination).toBe('--');
      }
      expect(l.endMs).toBeGreaterThanOrEqual(l.startMs);
      expect(Math.abs(l.acceptMs - Date.now())).toBeLessThan(120_000);
    }
    // the cut one: killed (K) on web-c while waiting for its headers
    expect(byId.get(cut502)).toMatchObject({ status: 502, server: 'web-c', termination: 'KH' });
    expect(logged.filter((l) => l.status !== 200)).toHaveLength(1);
    // health checks are not in the request log
    expect(logged.every((l) => l.uri !== '/health')).toBe(true);
    console.log(`example log line: ${(await logFile()).find((l) => parseHaproxyLog(l)?.status === 200)}`);
  });

  it("notes each server's changes of state in its log, once each", async () => {
    const events = (await logFile()).map(parseHaproxyServerEvent).filter((e) => e !== undefined);
    const of = (server: string) => events.filter((e) => e.server === server).map((e) => e.to);
    expect(of('web-a')).toEqual(['DOWN', 'DRAIN', 'MAINT']);
    expect(events.find((e) => e.server === 'web-a')?.reason).toMatch(/^Layer4 (timeout|connection problem)$/);
    // added three times (UP on leaving maintenance), drained once, taken out three times
    expect(of('web-c')).toEqual(['UP', 'DRAIN', 'MAINT', 'UP', 'MAINT', 'UP', 'MAINT']);
    expect(of('web-b')).toEqual([]);
  });
});
