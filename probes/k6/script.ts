/**
 * The k6 script of the HTTP probe: k6 1.x runs this TypeScript file itself (`k6 run script.ts`);
 * it is type-checked with the project's tsc against @types/k6 and never imported by Node (it
 * imports k6's own modules). probes/k6/runner.ts passes everything through `-e NAME=value`
 * (`__ENV`):
 *
 *   PROBE_TARGETS      base URLs, comma-separated (`http://127.0.0.1:8080`); request N goes to
 *                      target N mod count
 *   PROBE_RATE_HZ      requests per second, held while the service is down
 *                      (`constant-arrival-rate`: a request does not wait for the one before)
 *   PROBE_DURATION_MS  how long requests are started for (the runner can stop k6 sooner)
 *   PROBE_RAMP_MS      default 0: the rate from the first request; otherwise the rate climbs
 *                      linearly from 0 over this long, then holds (`ramping-arrival-rate`)
 *   PROBE_TIMEOUT_MS   per-request timeout (connect + send + wait + receive)
 *   PROBE_VUS          virtual users allocated up front: at least rate x timeout, so that
 *                      requests hanging until their timeout do not hold back the rate
 *   PROBE_MAX_VUS      the most k6 may add beyond them
 *   PROBE_READ_RATIO   the share of reads, 0..1 (default 0: writes only), spread evenly
 *   PROBE_SEQ_BASE     the first sequence number (default 1)
 *   PROBE_WRITE_PATH   default `/write`: a write is `POST <target><path>?seq=N`, empty body
 *   PROBE_READ_PATH    default `/read`:  a read is `GET <target><path>?seq=N`
 *
 * Every request has a sequence number unique across VUs (the iteration's number in the test,
 * `exec.scenario.iterationInTest`, plus PROBE_SEQ_BASE) and carries it, with its invoke time
 * (`Date.now()` right before it starts) and its kind, as VU metadata
 * (`exec.vu.metrics.metadata`): metadata reaches `--out json` beside a point's tags but is not
 * indexed, so one value per request does not make a time series per request as a tag would.
 * Before each request a `probe_invoke` counter point with the same metadata says it started,
 * so that a request cut off by the end of k6 (whose own points k6 then never writes) is still
 * known to have been sent.
 *
 * No Idempotency-Key header is sent: with one, Go's HTTP client (under k6) re-sends a request
 * by itself on a reused connection that closed, and one operation would hide two attempts.
 */
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';

function env(name: string, fallback?: string): string {
  const value = __ENV[name];
  if (value !== undefined && value !== '') return value;
  if (fallback === undefined) throw new Error(`k6 probe script: ${name} is not set`);
  return fallback;
}

function positive(name: string, fallback?: string): number {
  const n = Number(env(name, fallback));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`k6 probe script: ${name} must be a positive number`);
  return n;
}

const targets = env('PROBE_TARGETS')
  .split(',')
  .map((t) => t.trim().replace(/\/+$/, ''))
  .filter((t) => t !== '');
const rateHz = positive('PROBE_RATE_HZ');
const durationMs = Math.round(positive('PROBE_DURATION_MS'));
const timeoutMs = Math.round(positive('PROBE_TIMEOUT_MS'));
const rampMs = Math.max(0, Math.min(durationMs, Math.round(Number(env('PROBE_RAMP_MS', '0')) || 0)));
const vus = Math.ceil(positive('PROBE_VUS', String(Math.ceil((rateHz * timeoutMs) / 1000) + 1)));
const maxVus = Math.max(vus, Math.ceil(positive('PROBE_MAX_VUS', String(vus * 2))));
const readRatio = Math.min(1, Math.max(0, Number(env('PROBE_READ_RATIO', '0')) || 0));
const seqBase = Math.trunc(Number(env('PROBE_SEQ_BASE', '1')));
const writePath = env('PROBE_WRITE_PATH', '/write');
const readPath = env('PROBE_READ_PATH', '/read');
if (targets.length === 0) throw new Error('k6 probe script: PROBE_TARGETS names no URL');

// A whole number of requests per second as is; any other rate as requests per 1000 s, which
// the executor spaces just as evenly (it starts one every timeUnit / rate).
const integral = Number.isInteger(rateHz);
const perUnit = integral ? rateHz : Math.round(rateHz * 1000);

export const options: Options = {
  discardResponseBodies: true,
  // A redirect is an answer of its own, not followed.
  maxRedirects: 0,
  // The tags the probe reads, and nothing of high cardinality: `url` would repeat the
  // request's `name` tag (k6 sets it so when `name` is given), `vu` and `iter` are not needed.
  systemTags: ['status', 'method', 'name', 'error', 'error_code', 'expected_response'],
  scenarios: {
    probe: {
      ...(rampMs > 0
        ? {
            // A step from nothing to the full rate opens a connection per VU within a second
            // (VUs are taken in turn) while every process behind is still cold: a ramp spreads both.
            executor: 'ramping-arrival-rate' as const,
            startRate: 0,
            stages: [
              { duration: `${rampMs}ms`, target: perUnit },
              ...(durationMs > rampMs ? [{ duration: `${durationMs - rampMs}ms`, target: perUnit }] : []),
            ],
          }
        : {
            executor: 'constant-arrival-rate' as const,
            rate: perUnit,
            duration: `${durationMs}ms`,
          }),
      timeUnit: integral ? '1s' : '1000s',
      preAllocatedVUs: vus,
      maxVUs: maxVus,
      // Requests still in flight when the duration ends get their timeout to finish.
      gracefulStop: `${timeoutMs + 1000}ms`,
    },
  },
};

const invoked = new Counter('probe_invoke');

/** Whether request `seq` is a read: reads spread evenly, `readRatio` of all requests. */
function isRead(seq: number): boolean {
  return Math.floor((seq + 1) * readRatio) > Math.floor(seq * readRatio);
}

export default function (): void {
  const seq = seqBase + exec.scenario.iterationInTest;
  const op = isRead(seq) ? 'read' : 'write';
  const target = targets[((seq % targets.length) + targets.length) % targets.length] as string;
  const metadata = exec.vu.metrics.metadata;
  metadata.seq = String(seq);
  metadata.op = op;
  metadata.t = String(Date.now());
  invoked.add(1);
  // `throw`: a failed request throws instead of logging a warning to stderr for each one (k6
  // has written its points by then either way), so stderr keeps what k6 itself has to say.
  const params = { timeout: `${timeoutMs}ms`, tags: { name: op, target }, throw: true };
  try {
    if (op === 'read') http.get(`${target}${readPath}?seq=${seq}`, params);
    else http.post(`${target}${writePath}?seq=${seq}`, null, params);
  } catch {
    // its outcome is in its points (error, error_code), read by probes/k6/stream.ts
  }
}
