import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { constants, closeSync, createReadStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../core/clock.ts';
import { InfraError, UsageError } from '../../core/errors.ts';
import { type K6Binary, findK6 } from './binary.ts';
import { type K6Operation, K6Stream, type K6StreamStats } from './stream.ts';

/**
 * Runs k6 with the probe's script (probes/k6/script.ts) and hands each request to the caller
 * as it arrives, on the run's clock. Generic: the caller gives the URLs, the rate, the timeout
 * and a bound on the duration, and gets operations; it knows no system.
 *
 * k6's output: `--out json=<FIFO>`, a named pipe made in a temporary folder and read here as
 * k6 writes it. k6 1.8.1 writes its JSON output every 200 ms (internal/output/json: a periodic
 * flush), straight to a named file, but through a 4 KiB buffer when the output is its stdout
 * (`--out json`), so that lines wait until 4 KiB have gathered. `json=/dev/stdout` does not
 * work under Node: Node's child pipes are sockets, and opening /dev/stdout on a socket fails
 * (ENXIO). Measured on 2 cores from a request's end (k6's time) to its arrival in `record`:
 *   FIFO          2/s: p50 97 ms, max 196 ms; 20/s: p50 95, max 195; 200/s: p50 109, max 250
 *   stdout (json) 2/s: p50 189 ms, max 690 ms; 20/s: p50 142, max 292; 200/s: p50 116, max 255
 * (and in test/integration/k6-probe.test.ts, FIFO at 20/s: p50 130-140 ms, max 230-240 ms),
 * so the FIFO is used, and stdout only where `mkfifo` is missing (`output: 'stdout'`).
 *
 * Stopping: k6 starts requests for `durationMs` and then gives those in flight their timeout
 * (the script's gracefulStop) and exits 0. `stop()` ends it sooner: SIGINT, upon which k6
 * aborts the test (exit 105) at once, cutting off the requests in flight without writing their
 * points; then SIGKILL after `killAfterMs`. The requests cut off are still recorded, from the
 * script's `probe_invoke` points, as `unknown` completed when k6 ended (K6Stream.end): each may
 * have been sent, and a write missing from the history would be an unexpected value at
 * read-back. k6 runs in its own process group, so a Ctrl-C meant for the harness reaches it
 * only through `stop()`.
 *
 * k6 exiting by itself with a status other than 0, or failing to start, is an error (InfraError
 * K6_FAILED, with k6's last words on stderr): `done` rejects with it, and so does `stop()`.
 */

export interface K6RunOptions {
  /** Base URLs (`http://127.0.0.1:8080`); request N goes to target N mod count. */
  targets: readonly string[];
  /** Requests per second, held while the service is down. */
  rateHz: number;
  /** Per-request timeout (connect + send + wait + receive), ms. */
  timeoutMs: number;
  /** How long requests are started for, at most, ms (k6's minimum: 1000); `stop()` ends sooner. */
  durationMs: number;
  /** The rate climbs linearly from 0 over this long, ms, then holds; default 0: the rate at once. */
  rampUpMs?: number;
  /** The share of reads (GET), 0..1; default 0: writes only (POST). */
  readRatio?: number;
  /** The first sequence number; default 1. */
  seqBase?: number;
  writePath?: string;
  readPath?: string;
  /** Virtual users allocated up front; default rate x timeout x 1.1 + 2 (k6 needs one per request in flight). */
  vus?: number;
  /** The most virtual users k6 may add when those run out; default twice `vus`. */
  maxVus?: number;
  /** Maps a wall-clock time (ms since the epoch) onto the run's clock (Clock.fromWall). */
  fromWall: (epochMs: number) => number;
  /** Each request, as it arrives; at the end, those k6 cut off. */
  record: (op: K6RunOperation) => void;
  /** The k6 binary (or its path); found with findK6() when not given. */
  k6?: K6Binary | string;
  /** How long `stop()` waits after SIGINT before SIGKILL; default 5000 ms. */
  killAfterMs?: number;
  /** Where k6 writes its JSON: a FIFO (default) or its stdout. */
  output?: 'fifo' | 'stdout';
  /** The wall clock, for the lag figures; default Date.now. */
  wallNow?: () => number;
}

export interface K6RunOperation extends K6Operation {
  /** On the run's clock. */
  tInvoke: number;
  tComplete: number;
  /** From the request's end (k6's time) to its arrival here, ms. */
  lagMs: number;
}

export interface K6RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Whether `stop()` ended it (otherwise it ran its duration out). */
  stopped: boolean;
  output: 'fifo' | 'stdout';
  stats: K6StreamStats;
  /** From a request's end to its arrival in `record`, over every request that arrived. */
  lag: { count: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  /** The last of k6's stderr (at most 8 KiB). */
  stderr: string;
  settings: { vus: number; maxVus: number; args: string[] };
}

/** Lag figures to the millisecond: the wall clocks they come from are no finer. */
const roundMs = (x: number | null) => (x === null ? null : Math.round(x));

const SCRIPT = fileURLToPath(new URL('./script.ts', import.meta.url));
const TAIL_BYTES = 8192;
/** How long the output may take to end once k6 has exited. */
const DRAIN_MS = 5000;
/** At most this many lag samples are kept (some minutes at 200/s). */
const MAX_LAG_SAMPLES = 200_000;

function validate(o: K6RunOptions): void {
  const bad = (what: string) => {
    throw new UsageError('K6_PROBE_INVALID', `k6 probe: ${what}`);
  };
  if (o.targets.length === 0) bad('no target URL');
  for (const t of o.targets) if (!/^https?:\/\/[^\s,]+$/.test(t)) bad(`target '${t}' is not an http(s) URL`);
  if (!(o.rateHz > 0) || !Number.isFinite(o.rateHz)) bad(`rate ${o.rateHz} is not a positive number`);
  if (!(o.timeoutMs > 0) || !Number.isFinite(o.timeoutMs)) bad(`timeout ${o.timeoutMs} ms is not positive`);
  if (!(o.durationMs >= 1000) || !Number.isFinite(o.durationMs)) {
    bad(`duration ${o.durationMs} ms is under 1000 ms, k6's least`);
  }
  if (o.rampUpMs !== undefined && !(o.rampUpMs >= 0 && o.rampUpMs < o.durationMs)) {
    bad(`ramp-up ${o.rampUpMs} ms is not in 0..duration`);
  }
  if (o.readRatio !== undefined && !(o.readRatio >= 0 && o.readRatio <= 1)) bad('readRatio is not in 0..1');
  if (o.seqBase !== undefined && !Number.isSafeInteger(o.seqBase)) bad('seqBase is not an integer');
}

/**
 * Go's garbage collector target for k6 unless the harness's environment sets GOGC: k6 holds one
 * JavaScript runtime per VU (1100 of them at 1000/s with a 1 s timeout) and allocates for every
 * point it writes, so at Go's default (100) its collector ran all the time: on 2 cores at
 * 1000/s most of k6's CPU (issue 16, perf). 400 lets its heap grow to 5x the live data
 * (some hundreds of MB at 1000/s) for a fraction of the collections.
 */
const K6_GOGC = '400';

/** The environment k6 runs with: the harness's, less k6's own settings (K6_DURATION...), which would override the script's. */
function k6Environment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('K6_')) env[k] = v;
  env.GOGC ??= K6_GOGC;
  return env;
}

function quantile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))]!;
}

export class K6Run {
  /** Resolves once k6 has exited and all its output has been recorded; rejects when k6 failed. */
  readonly done: Promise<K6RunResult>;
  private readonly stream = new K6Stream();
  private readonly lags: number[] = [];
  private stderrTail = '';
  private stopRequested = false;
  private exited = false;
  private recordError: unknown;
  private readonly killSafetyNet = () => this.child.kill('SIGKILL');

  private constructor(
    private readonly opts: K6RunOptions,
    private readonly child: ChildProcess,
    private readonly output: 'fifo' | 'stdout',
    private readonly lines: Readable,
    private readonly fifo: string | undefined,
    private readonly settings: K6RunResult['settings'],
  ) {
    process.once('exit', this.killSafetyNet);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-TAIL_BYTES);
    });
    // In FIFO mode stdout says little (a deprecation notice at most): kept with stderr.
    if (output === 'fifo') {
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (d: string) => {
        this.stderrTail = (this.stderrTail + d).slice(-TAIL_BYTES);
      });
    }
    this.done = this.run();
    this.done.catch(() => {}); // the caller may never ask; the rejection is theirs when they do
  }

  /** Starts k6; resolves once it is spawned (its requests begin some 100 ms later). */
  static async start(opts: K6RunOptions): Promise<K6Run> {
    validate(opts);
    const k6 = typeof opts.k6 === 'string' ? opts.k6 : (opts.k6 ?? (await findK6())).path;
    const vus = Math.max(1, Math.ceil(opts.vus ?? (opts.rateHz * opts.timeoutMs * 1.1) / 1000 + 2));
    const maxVus = Math.max(vus, Math.ceil(opts.maxVus ?? vus * 2));
    let output = opts.output ?? 'fifo';
    let dir: string | undefined;
    let fifo: string | undefined;
    if (output === 'fifo') {
      dir = mkdtempSync(join(tmpdir(), 'chaos-k6-'));
      fifo = join(dir, 'out.jsonl');
      try {
        execFileSync('mkfifo', ['-m', '600', fifo], { stdio: 'ignore', timeout: 5000 });
      } catch {
        rmSync(dir, { recursive: true, force: true });
        dir = undefined;
        fifo = undefined;
        output = 'stdout';
      }
    }
    const vars: Record<string, string> = {
      PROBE_TARGETS: opts.targets.join(','),
      PROBE_RATE_HZ: String(opts.rateHz),
      PROBE_DURATION_MS: String(Math.round(opts.durationMs)),
      PROBE_RAMP_MS: String(Math.round(opts.rampUpMs ?? 0)),
      PROBE_TIMEOUT_MS: String(Math.round(opts.timeoutMs)),
      PROBE_VUS: String(vus),
      PROBE_MAX_VUS: String(maxVus),
      PROBE_READ_RATIO: String(opts.readRatio ?? 0),
      PROBE_SEQ_BASE: String(opts.seqBase ?? 1),
      PROBE_WRITE_PATH: opts.writePath ?? '/write',
      PROBE_READ_PATH: opts.readPath ?? '/read',
    };
    const args = [
      'run',
      '--quiet',
      '--summary-mode=disabled', // `--no-summary` is deprecated in k6 1.x
      '--no-usage-report', // k6 would report to its makers over the network at the end
      '--no-color',
      // No REST API: two probes would fight over its port, and it cannot end a
      // constant-arrival-rate test without cutting its requests off either (k6 1.8.1 refuses to
      // pause that executor; a stop through the API cuts like SIGINT: both measured).
      '--address=',
      '--include-system-env-vars=false',
      '--out',
      fifo ? `json=${fifo}` : 'json',
      ...Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      SCRIPT,
    ];
    const child = spawn(k6, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: k6Environment(),
      detached: true,
    });
    const lines = fifo ? createReadStream(fifo, { encoding: 'utf8' }) : child.stdout!;
    const run = new K6Run(opts, child, output, lines, fifo, { vus, maxVus, args: [k6, ...args] });
    run.done
      .finally(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
      })
      .catch(() => {});
    return run;
  }

  /** k6's process id (undefined if it did not start). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether k6 is still running. */
  get running(): boolean {
    return !this.exited;
  }

  /** Counts so far. */
  stats(): Readonly<K6StreamStats> {
    return this.stream.stats;
  }

  /**
   * Ends k6 (SIGINT, then SIGKILL after `killAfterMs`) and resolves once all its output has
   * been recorded, with the requests it cut off as `unknown`. Rejects if k6 had failed.
   */
  async stop(): Promise<K6RunResult> {
    if (!this.exited && !this.stopRequested) {
      this.stopRequested = true;
      this.child.kill('SIGINT');
      const killAfter = this.opts.killAfterMs ?? 5000;
      const timer = setTimeout(() => {
        if (!this.exited) this.child.kill('SIGKILL');
      }, killAfter);
      this.done.finally(() => clearTimeout(timer)).catch(() => {});
    }
    return this.done;
  }

  private async run(): Promise<K6RunResult> {
    const started = Date.now();
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>(
      (resolve) => {
        this.child.once('error', (err) => resolve({ code: null, signal: null, spawnError: err }));
        this.child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    const ended = new Promise<void>((resolve) => {
      const rl = createInterface({ input: this.lines, crlfDelay: Number.POSITIVE_INFINITY });
      rl.on('line', (line) => this.onLine(line));
      rl.once('close', resolve);
      this.lines.once('error', () => resolve());
    });
    const { code, signal, spawnError } = await exit;
    this.exited = true;
    process.removeListener('exit', this.killSafetyNet);
    // A FIFO k6 never opened (it failed first) keeps our open waiting: open it for writing
    // and close it, which ends the read. Harmless when k6 did open it.
    if (this.fifo) unblockFifo(this.fifo);
    let drained = await Promise.race([ended.then(() => true), sleep(DRAIN_MS).then(() => false)]);
    if (!drained && this.fifo) {
      unblockFifo(this.fifo);
      drained = await Promise.race([ended.then(() => true), sleep(1000).then(() => false)]);
    }
    if (!drained) this.lines.destroy();
    const wallEnd = (this.opts.wallNow ?? Date.now)();
    for (const op of this.stream.end(wallEnd)) this.deliver(op, wallEnd);

    const sorted = [...this.lags].sort((a, b) => a - b);
    const result: K6RunResult = {
      exitCode: code,
      signal,
      stopped: this.stopRequested,
      output: this.output,
      stats: { ...this.stream.stats },
      lag: {
        count: sorted.length,
        p50Ms: roundMs(quantile(sorted, 0.5)),
        p99Ms: roundMs(quantile(sorted, 0.99)),
        maxMs: roundMs(sorted.length ? sorted[sorted.length - 1]! : null),
      },
      stderr: this.stderrTail,
      settings: this.settings,
    };
    if (spawnError) {
      throw new InfraError('K6_FAILED', `k6 did not start: ${spawnError.message}`, {
        hint: 'check K6_BIN or the k6 on PATH',
        cause: spawnError,
      });
    }
    // Once asked to stop, k6 exits 105 (it aborted the test), or 0 if it had just finished, or
    // dies of the signal itself before its handler is in place (during its start-up).
    const stoppedCleanly = code === 0 || code === 105 || signal === 'SIGINT' || signal === 'SIGKILL';
    if (code !== 0 && !(this.stopRequested && stoppedCleanly)) {
      const how = code === null ? `was killed by ${signal}` : `exited with status ${code}`;
      const last = lastWords(this.stderrTail);
      throw new InfraError(
        'K6_FAILED',
        `k6 ${how} after ${((Date.now() - started) / 1000).toFixed(1)} s${last ? `: ${last}` : ''}`,
        { hint: `its command: ${this.settings.args.join(' ')}` },
      );
    }
    if (this.recordError !== undefined) throw this.recordError;
    return result;
  }

  private onLine(line: string): void {
    const wall = (this.opts.wallNow ?? Date.now)();
    for (const op of this.stream.push(line)) this.deliver(op, wall);
  }

  private deliver(op: K6Operation, arrivedWall: number): void {
    // A request cut off by the end of k6 has no end of its own: no lag to speak of.
    const lagMs = op.cutOff ? 0 : arrivedWall - op.tCompleteWall;
    if (!op.cutOff && this.lags.length < MAX_LAG_SAMPLES) this.lags.push(lagMs);
    try {
      this.opts.record({
        ...op,
        tInvoke: this.opts.fromWall(op.tInvokeWall),
        tComplete: this.opts.fromWall(op.tCompleteWall),
        lagMs,
      });
    } catch (err) {
      this.recordError ??= err;
    }
  }
}

function unblockFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // no reader waiting (ENXIO), or gone: nothing to unblock
  }
}

/** k6's last meaningful line on stderr, with logrus's fields reduced to the message. */
function lastWords(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines[lines.length - 1];
  if (!last) return '';
  const msg = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(last)?.[1];
  return (msg ? msg.replace(/\\n/g, ' ').replace(/\\t/g, ' ').replace(/\\"/g, '"') : last).slice(0, 300);
}
