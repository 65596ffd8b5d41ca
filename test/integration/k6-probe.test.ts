import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonotonicClock, sleep } from '../../core/clock.ts';
import { ChaosError } from '../../core/errors.ts';
import { type K6Binary, findK6 } from '../../probes/k6/binary.ts';
import { K6Run, type K6RunOperation } from '../../probes/k6/runner.ts';

/**
 * The k6 probe engine with the real k6 binary against a small HTTP server on 127.0.0.1 whose
 * behaviour the test switches: 200s, then 503s, then nothing listening (connection refused),
 * then a server that never answers (request timeouts). Every request k6 started must come back
 * as one operation, classified by what the server did with it (the server logs each `seq` it
 * saw), with its invoke time before its completion, soon after it completed.
 */
let k6: K6Binary | undefined;
let reason = '';
try {
  k6 = await findK6();
  if (k6.mismatch) console.warn(k6.mismatch);
} catch (err) {
  reason = err instanceof ChaosError ? err.oneLine() : String(err);
  console.warn(`k6 probe tests skipped: ${reason}`);
}
const skipReason = k6 ? '' : ` (skipped: ${reason})`;

type Mode = 'ok' | '503' | 'hang';

/** A server on 127.0.0.1 that answers by `mode`, and remembers what it did with each seq. */
class SwitchServer {
  mode: Mode = 'ok';
  readonly seen = new Map<number, Mode>();
  private server: Server | undefined;
  private readonly held = new Set<ServerResponse>();
  port = 0;

  async listen(port = 0): Promise<void> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const seq = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('seq'));
      const mode = this.mode;
      this.seen.set(seq, mode);
      req.resume();
      if (mode === 'ok') res.writeHead(200).end('ok');
      else if (mode === '503') res.writeHead(503).end('no server available');
      else this.held.add(res); // never answered: the client times out
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening and drops every connection: new connections are refused. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const res of this.held) res.destroy();
    this.held.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!;
};

describe.skipIf(!k6)(`k6 probe engine with the real k6${skipReason}`, () => {
  const server = new SwitchServer();
  beforeAll(() => server.listen());
  afterAll(() => server.close());

  it('classifies 200s, 503s, refused connections and timeouts, request by request, as they come', async () => {
    const clock = new MonotonicClock();
    const ops: K6RunOperation[] = [];
    const late: number[] = [];
    const rateHz = 20;
    const timeoutMs = 500;
    const run = await K6Run.start({
      k6: k6!,
      targets: [`http://127.0.0.1:${server.port}`],
      rateHz,
      timeoutMs,
      durationMs: 30_000,
      seqBase: 1000,
      fromWall: (ms) => clock.fromWall(ms),
      record: (op) => {
        // It arrives after it completed, on the same clock.
        if (!op.cutOff && op.tComplete > clock.now() + 1) late.push(op.seq);
        ops.push(op);
      },
    });
    const tStart = clock.now();
    // Each phase lasts 1.5 s once k6 has started sending.
    const waitFor = async (n: number) => {
      for (let i = 0; i < 200 && ops.length < n; i++) await sleep(50);
    };
    await waitFor(1);
    await sleep(1500);
    server.mode = '503';
    await sleep(1500);
    const port = server.port;
    await server.close();
    await sleep(1500);
    server.mode = 'hang';
    await server.listen(port);
    await sleep(1500);
    const result = await run.stop();

    expect(result.stopped).toBe(true);
    expect(result.exitCode === 105 || result.signal === 'SIGINT').toBe(true);
    expect(result.stats.unparsable).toBe(0);
    expect(result.stats.unmatched).toBe(0);
    // rate x timeout virtual users: none short while every request hangs.
    expect(result.stats.droppedIterations).toBe(0);
    expect(late).toEqual([]);

    // One operation per request k6 started, each seq once, from seqBase up without a gap.
    expect(ops.length).toBe(result.stats.invoked);
    const seqs = ops.map((o) => o.seq).sort((a, b) => a - b);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs[0]).toBe(1000);
    expect(seqs[seqs.length - 1]).toBe(1000 + seqs.length - 1);
    // About 6 s at 20/s: the rate held through refusals and hangs.
    expect(ops.length).toBeGreaterThanOrEqual(0.7 * 6 * rateHz);

    for (const op of ops) {
      expect(op.tInvoke).toBeLessThanOrEqual(op.tComplete);
      expect(op.tInvoke).toBeGreaterThanOrEqual(tStart - 5);
      if (op.durationMs !== undefined)
        expect(op.tComplete - op.tInvoke).toBeGreaterThanOrEqual(op.durationMs);
    }

    const by = (pred: (o: K6RunOperation) => boolean) => ops.filter(pred);
    const okOps = by((o) => server.seen.get(o.seq) === 'ok');
    const lbOps = by((o) => server.seen.get(o.seq) === '503');
    const hungOps = by((o) => server.seen.get(o.seq) === 'hang');
    const unseen = by((o) => !server.seen.has(o.seq));
    for (const o of okOps) expect([o.seq, o.outcome, o.status]).toEqual([o.seq, 'ok', 200]);
    for (const o of lbOps)
      expect([o.seq, o.outcome, o.status, o.errorCode]).toEqual([o.seq, 'fail', 503, 1503]);
    for (const o of hungOps) {
      // Timed out after it was written, or still hanging when k6 was stopped.
      expect(o.outcome).toBe('unknown');
      if (!o.cutOff) {
        expect(o.errorCode).toBe(1050);
        expect(o.durationMs).toBeGreaterThan(0);
        expect(o.tComplete - o.tInvoke).toBeGreaterThanOrEqual(timeoutMs - 1);
        expect(o.tComplete - o.tInvoke).toBeLessThan(timeoutMs + 250);
      }
    }
    // Refused, or (on a kept-alive connection the server closed under it) cut off mid-request.
    const refused = unseen.filter((o) => o.errorCode === 1212);
    for (const o of refused) expect([o.outcome, o.status, o.durationMs]).toEqual(['fail', 0, 0]);
    for (const o of unseen.filter((x) => x.errorCode !== 1212)) {
      expect([o.seq, o.outcome]).toEqual([o.seq, 'unknown']);
    }
    const perPhase = 0.6 * 1.5 * rateHz;
    expect(okOps.length).toBeGreaterThanOrEqual(perPhase);
    expect(lbOps.length).toBeGreaterThanOrEqual(perPhase);
    expect(refused.length).toBeGreaterThanOrEqual(perPhase);
    expect(hungOps.length).toBeGreaterThanOrEqual(perPhase);
    expect(hungOps.filter((o) => !o.cutOff).length).toBeGreaterThan(0);
    expect(hungOps.filter((o) => o.cutOff).length).toBeGreaterThan(0);
    expect(result.stats.cutOff).toBe(ops.filter((o) => o.cutOff).length);

    // From a request's end in k6 to its arrival in `record`: k6 writes its output every 200 ms.
    const lags = ops.filter((o) => !o.cutOff).map((o) => o.lagMs);
    const figures = { p50: quantile(lags, 0.5), p99: quantile(lags, 0.99), max: Math.max(...lags) };
    console.log(
      `k6 probe: ${ops.length} requests (${okOps.length} ok, ${lbOps.length} 503, ${refused.length} refused, ` +
        `${hungOps.length} hung, ${unseen.length - refused.length} cut by the close ` +
        `[${unseen.filter((o) => o.errorCode !== 1212).map((o) => o.error ?? o.errorCode)}]); lag from completion to record: ` +
        `p50 ${figures.p50.toFixed(0)} ms, p99 ${figures.p99.toFixed(0)} ms, max ${figures.max.toFixed(0)} ms ` +
        `(runner: ${JSON.stringify(result.lag)})`,
    );
    expect(lags.every((l) => l >= 0)).toBe(true);
    expect(figures.p50).toBeLessThan(500);
    expect(result.lag.count).toBe(lags.length);
  });

  it('ends by itself after its duration, every request completed', async () => {
    server.mode = 'ok';
    const clock = new MonotonicClock();
    const ops: K6RunOperation[] = [];
    const run = await K6Run.start({
      k6: k6!,
      targets: [`http://127.0.0.1:${server.port}/`, `http://localhost:${server.port}`],
      rateHz: 10,
      timeoutMs: 500,
      durationMs: 1500,
      readRatio: 0.25,
      fromWall: (ms) => clock.fromWall(ms),
      record: (op) => ops.push(op),
    });
    const result = await run.done;
    expect(result).toMatchObject({ exitCode: 0, stopped: false });
    expect(run.running).toBe(false);
    expect(ops.length).toBe(result.stats.invoked);
    expect(ops.length).toBeGreaterThanOrEqual(12);
    expect(ops.length).toBeLessThanOrEqual(17);
    expect(ops.every((o) => o.outcome === 'ok' && !o.cutOff)).toBe(true);
    // A quarter are reads, spread evenly; requests alternate between the two targets.
    const reads = ops.filter((o) => o.op === 'read').length;
    expect(Math.abs(reads - ops.length / 4)).toBeLessThanOrEqual(1);
    expect(new Set(ops.map((o) => o.target))).toEqual(
      new Set([`http://127.0.0.1:${server.port}`, `http://localhost:${server.port}`]),
    );
    // stop() after the end changes nothing.
    expect(await run.stop()).toBe(result);
  });

  it('climbs to its rate over the ramp-up, then holds it', async () => {
    server.mode = 'ok';
    const clock = new MonotonicClock();
    const ops: K6RunOperation[] = [];
    const run = await K6Run.start({
      k6: k6!,
      targets: [`http://127.0.0.1:${server.port}`],
      rateHz: 100,
      timeoutMs: 500,
      durationMs: 3000,
      rampUpMs: 2000,
      fromWall: (ms) => clock.fromWall(ms),
      record: (op) => ops.push(op),
    });
    const result = await run.done;
    expect(result).toMatchObject({ exitCode: 0, stopped: false });
    expect(result.settings.args).toContain('PROBE_RAMP_MS=2000');
    expect(ops.every((o) => o.outcome === 'ok')).toBe(true);
    // 0 -> 100/s over 2 s, then 100/s for 1 s: about 25 + 75 + 100 requests, second by second.
    expect(ops.length).toBeGreaterThanOrEqual(185);
    expect(ops.length).toBeLessThanOrEqual(210);
    // Seconds counted back from the last request, which starts 10 ms before the end (at 100/s).
    const t0 = Math.max(...ops.map((o) => o.tInvoke)) + 10 - 3000;
    const inSecond = (s: number) =>
      ops.filter((o) => o.tInvoke - t0 >= s * 1000 && o.tInvoke - t0 < (s + 1) * 1000).length;
    expect(inSecond(0)).toBeLessThanOrEqual(40);
    expect(inSecond(1)).toBeGreaterThanOrEqual(60);
    expect(inSecond(1)).toBeLessThanOrEqual(90);
    expect(inSecond(2)).toBeGreaterThanOrEqual(92);
  });

  it("reads k6's stdout instead of a FIFO when asked", async () => {
    server.mode = '503';
    const ops: K6RunOperation[] = [];
    const run = await K6Run.start({
      k6: k6!,
      targets: [`http://127.0.0.1:${server.port}`],
      rateHz: 10,
      timeoutMs: 500,
      durationMs: 1000,
      output: 'stdout',
      fromWall: (ms) => ms,
      record: (op) => ops.push(op),
    });
    const result = await run.done;
    expect(result).toMatchObject({ exitCode: 0, output: 'stdout' });
    expect(result.stats.unparsable).toBe(0);
    expect(ops.length).toBe(result.stats.invoked);
    expect(ops.length).toBeGreaterThanOrEqual(8);
    expect(ops.every((o) => o.outcome === 'fail' && o.status === 503)).toBe(true);
  });

  it('says so when k6 dies on its own, keeping what it recorded', async () => {
    server.mode = 'ok';
    const clock = new MonotonicClock();
    const ops: K6RunOperation[] = [];
    const run = await K6Run.start({
      k6: k6!,
      targets: [`http://127.0.0.1:${server.port}`],
      rateHz: 20,
      timeoutMs: 500,
      durationMs: 20_000,
      fromWall: (ms) => clock.fromWall(ms),
      record: (op) => ops.push(op),
    });
    for (let i = 0; i < 100 && ops.length < 3; i++) await sleep(50);
    expect(ops.length).toBeGreaterThanOrEqual(3);
    process.kill(run.pid!, 'SIGKILL');
    await expect(run.done).rejects.toThrow(/k6 was killed by SIGKILL after/);
    await expect(run.stop()).rejects.toMatchObject({ code: 'K6_FAILED', kind: 'infra' });
    expect(ops.every((o) => o.outcome === 'ok' || o.cutOff)).toBe(true);
  });
});

describe('k6 probe engine, k6 failing to run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-k6-fake-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = {
    targets: ['http://127.0.0.1:9'],
    rateHz: 5,
    timeoutMs: 500,
    durationMs: 2000,
    fromWall: (ms: number) => ms,
    record: () => {},
  };

  it('surfaces its exit status and last words on stderr', async () => {
    const fake = join(dir, 'k6');
    // What k6 1.8.1 prints for an invalid configuration (logrus escapes the message's newlines).
    writeFileSync(
      fake,
      [
        '#!/bin/sh',
        "cat >&2 <<'EOF'",
        'time="2026-11-23T19:58:28Z" level=error msg="There were problems with the specified script configuration:\\n\\t- bad"',
        'EOF',
        'exit 104',
        '',
      ].join('\n'),
    );
    chmodSync(fake, 0o755);
    const run = await K6Run.start({ ...base, k6: fake });
    await expect(run.done).rejects.toThrow(
      /k6 exited with status 104 after [\d.]+ s: There were problems with the specified script configuration: {2}- bad/,
    );
  });

  it('refuses options k6 would refuse, before starting it', async () => {
    await expect(K6Run.start({ ...base, k6: '/nonexistent', durationMs: 500 })).rejects.toMatchObject({
      code: 'K6_PROBE_INVALID',
    });
    await expect(K6Run.start({ ...base, k6: '/nonexistent', targets: ['127.0.0.1:80'] })).rejects.toThrow(
      /not an http\(s\) URL/,
    );
    await expect(
      K6Run.start({ ...base, k6: '/nonexistent', durationMs: 2000, rampUpMs: 2000 }),
    ).rejects.toThrow(/ramp-up 2000 ms is not in 0..duration/);
  });

  it('says how to install k6 when there is none', async () => {
    const env = { PATH: dir.replace(/$/, '-none') };
    await expect(findK6({ env, goPath: async () => undefined, home: dir })).rejects.toMatchObject({
      code: 'K6_MISSING',
      kind: 'usage',
      hint: expect.stringContaining('go install go.k6.io/k6@v1.8.1'),
    });
    await expect(findK6({ env: { K6_BIN: join(dir, 'nope') } })).rejects.toThrow(
      /K6_BIN=.*nope is not an executable/,
    );
  });

  it('finds k6 through GOPATH and reads its version, warning of another one', async () => {
    const bin = join(dir, 'gopath', 'bin');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'k6'), '#!/bin/sh\necho "k6 v1.7.0 (go1.25.1, linux/amd64)"\n');
    chmodSync(join(bin, 'k6'), 0o755);
    const found = await findK6({
      env: { PATH: '/nonexistent' },
      goPath: async () => join(dir, 'gopath'),
      home: dir,
    });
    expect(found).toMatchObject({ path: join(bin, 'k6'), from: 'GOPATH', version: 'v1.7.0' });
    expect(found.mismatch).toMatch(/is v1\.7\.0; the harness is tested with v1\.8\.1/);
  });
});
