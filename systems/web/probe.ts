import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { ms, probeName } from '../../core/durations.ts';
import { type History, SeqSet } from '../../core/history.ts';
import type { Endpoint } from '../../core/provider.ts';
import type { ClientSettings, ProbeDelivery } from '../../core/result.ts';
import type { Probe } from '../../core/system.ts';
import { K6_VERSION } from '../../probes/k6/binary.ts';
import { K6Run, type K6RunResult } from '../../probes/k6/runner.ts';
import { LB_NODE } from './layout.ts';

/** A `k6-http` probe: k6 at a constant arrival rate against the load balancer, every request in the history. */
export const k6HttpSpec = z
  .object({
    kind: z
      .literal('k6-http')
      .describe('k6 at a constant arrival rate against the load balancer, every request in the history.'),
    name: probeName,
    /** Requests per second, held while the service is down (k6's constant-arrival-rate). */
    rateHz: z
      .number()
      .min(1)
      .max(5000)
      .default(100)
      .describe(
        "Requests per second (Hz), held while the service is down (k6's constant-arrival-rate; reached at the end of rampUpMs when one is set).",
      ),
    /** Per request: connect, send, wait and receive. */
    timeoutMs: ms(10)
      .default(1000)
      .describe('Per request (ms): connect, send, wait and receive; a request past it is unknown.'),
    /**
     * A step from nothing to the full rate makes k6 open a connection per VU within the first
     * second (it takes its VUs in turn) while the load balancer, the heads and the database are
     * still cold; a ramp spreads both out, as a load test's warm-up does.
     */
    rampUpMs: ms(0)
      .default(0)
      .describe(
        "The rate climbs linearly from 0 over this long (ms) at the start, then holds (k6's ramping-arrival-rate); the steady state's achieved rate is counted after it. 0: the full rate from the first request.",
      ),
    /** The share of reads (GET); the rest are writes (POST) read back end to end after recovery. */
    readRatio: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe('The share of reads (GET); the rest are writes (POST), read back end to end after recovery.'),
  })
  .strict();
export type K6HttpProbeSpec = z.infer<typeof k6HttpSpec>;

/** k6 must be able to run the whole scenario; `stop()` ends it sooner. */
const K6_DURATION_BOUND_MS = 4 * 3600_000;

export function k6HttpSettings(spec: K6HttpProbeSpec): ClientSettings {
  return {
    library: `k6 ${K6_VERSION} (${spec.rampUpMs > 0 ? `ramping-arrival-rate: from 0 over ${spec.rampUpMs} ms, then constant` : 'constant-arrival-rate'})`,
    rateHz: spec.rateHz,
    inFlight: Math.ceil((spec.rateHz * spec.timeoutMs * 1.1) / 1000 + 2),
    connectTimeoutMs: spec.timeoutMs,
    commandTimeoutMs: spec.timeoutMs,
    retries: 0,
    retryBackoffMs: 0,
    operation: `POST /write?seq=<seq> through the load balancer${spec.readRatio > 0 ? `, ${Math.round(spec.readRatio * 100)} % GET /read` : ''}`,
    ...(spec.rampUpMs > 0 ? { rampUpMs: spec.rampUpMs } : {}),
  };
}

/**
 * HTTP load through the web tier's load balancer, by k6 (probes/k6/): each request is an
 * operation in the history, with its invoke time from the script and its end from k6, as it
 * happens (about 150 ms behind). A write acknowledged (200) went through every backend of the
 * heads; after recovery the writes are read back through the load balancer (`GET /writes`), and
 * a write counts as kept only if every backend has it.
 */
export class K6HttpProbe implements Probe {
  readonly kind = 'k6-http';
  readonly system = 'web';
  readonly name: string;
  private run: K6Run | undefined;
  private starting: Promise<void> | undefined;
  private failure: unknown;
  lastResult: K6RunResult | undefined;

  constructor(
    private readonly spec: K6HttpProbeSpec,
    private readonly deps: { clock: Clock; history: History; endpoint: () => Endpoint },
  ) {
    this.name = spec.name;
  }

  private url(): string {
    const ep = this.deps.endpoint();
    return `http://${ep.host === 'localhost' ? '127.0.0.1' : ep.host}:${ep.port}`;
  }

  start(): void {
    const { clock, history } = this.deps;
    this.starting = K6Run.start({
      targets: [this.url()],
      rateHz: this.spec.rateHz,
      timeoutMs: this.spec.timeoutMs,
      durationMs: K6_DURATION_BOUND_MS,
      rampUpMs: this.spec.rampUpMs,
      readRatio: this.spec.readRatio,
      fromWall: (t) => clock.fromWall(t),
      record: (op) =>
        history.record({
          probe: this.name,
          op: op.op,
          seq: op.seq,
          tInvoke: op.tInvoke,
          tComplete: op.tComplete,
          outcome: op.outcome,
          node: LB_NODE,
          ...(op.error ? { error: op.error } : {}),
          ...(op.cutOff && this.stopping ? { cutByProbe: true as const } : {}),
        }),
    }).then(
      (run) => {
        this.run = run;
      },
      (err) => {
        this.failure = err;
      },
    );
  }

  /** k6 holds its rate whatever happens: it cannot hold its requests for a fault's boundary. */
  async pause(): Promise<void> {}

  resume(): void {}

  private stopping = false;

  async stop(): Promise<void> {
    this.stopping = true;
    await this.starting;
    if (this.failure) throw this.failure;
    if (this.run) this.lastResult = await this.run.stop();
  }

  async readBack(): Promise<{ node: string; values: ReadonlySet<number> }> {
    const res = await fetch(`${this.url()}/writes`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET /writes through the load balancer: HTTP ${res.status}`);
    const body = (await res.json()) as Record<string, number[]>;
    const lists = Object.values(body);
    if (lists.length === 0) throw new Error('GET /writes returned no backend');
    // Bitmaps of sequence numbers (SeqSet), as every other probe's read-back: a long run's
    // values cost bits, not a hash set's 40-odd bytes each.
    const sets = lists.map((l) => SeqSet.of(l.map(Number)));
    const [first, ...rest] = sets;
    const values = new SeqSet();
    for (const v of first!) if (rest.every((r) => r.has(v))) values.add(v);
    // A write some backends have and others lack: name where, so a lost write points at the
    // backend that lost it.
    const names = Object.keys(body);
    const partial = names
      .map((name, i) => [name, [...sets[i]!].filter((v) => !values.has(v)).length] as const)
      .filter(([, n]) => n > 0)
      .map(([name, n]) => `${n} only in ${name}`);
    return {
      node: `${LB_NODE} (${names.join(' + ')}${partial.length ? `; ${partial.join(', ')}` : ''})`,
      values,
    };
  }

  delivery(): ProbeDelivery | undefined {
    const r = this.lastResult;
    if (!r) return undefined;
    return { ...r.lag, notStarted: r.stats.droppedIterations };
  }

  settings(): ClientSettings {
    return k6HttpSettings(this.spec);
  }
}
