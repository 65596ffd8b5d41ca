import type { Outcome } from '../../core/history.ts';

/**
 * k6's `--out json` output, read line by line into one operation per request of the probe's
 * script (probes/k6/script.ts). Pure: lines in, operations out, no clock, no I/O.
 *
 * What k6 1.8.1 writes (measured, and read in its source: internal/output/json/wrapper.go,
 * lib/netext/httpext/tracer.go and transport.go): one JSON object a line, either a metric's
 * declaration, `{"type":"Metric","data":{...},"metric":"http_reqs"}`, once per metric, or a
 * sample, `{"metric":"http_reqs","type":"Point","data":{"time","value","tags","metadata"}}`.
 * Each HTTP request gives 9 points at once, in this order: `http_reqs`, `http_req_duration`,
 * `http_req_blocked`, `_connecting`, `_tls_handshaking`, `_sending`, `_waiting`, `_receiving`,
 * `http_req_failed`; all with the same `data.time`, the same tags (`status`, `error_code`,
 * `error`, `method`, `name`, `expected_response`, and the script's `target`) and the same
 * metadata, the VU's `exec.vu.metrics.metadata` when the request started (`seq`, `op`, `t`).
 * The iteration's `data_sent`, `data_received`, `iteration_duration` and `iterations` points,
 * and the script's `probe_invoke` point written just before the request, carry the metadata
 * too. Metadata values are strings.
 *
 * `data.time` is when the request ended, to the nanosecond (RFC 3339 with the machine's zone):
 * k6 stamps every point of a request with the moment its tracer finished (after the response
 * body was read, or when the error came back). The request's start is not in the output: the
 * script puts its own `Date.now()` (ms) in the metadata (`t`), read just before the request.
 * Measured on loopback (k6 1.8.1, 2 cores, 240 requests): `time` - `t` exceeds k6's
 * `http_req_duration` by 0.2 to 4.6 ms, 0.8 ms at the median: what comes before sending, which
 * that figure leaves out (waiting for and opening a connection: the 4 ms ones are the first
 * request of a connection), plus up to 1 ms because `Date.now()` is whole milliseconds (which
 * only ever moves the start earlier). A request that hung until its 500 ms timeout spans
 * 500.6 to 501.9 ms.
 *
 * Classification of a request (issue 9): `fail` only when it certainly never reached a web
 * head, `unknown` when it may have, `ok` for a 2xx answer. With k6's error codes
 * (https://grafana.com/docs/k6/latest/javascript-api/error-codes/; the constants in
 * lib/netext/httpext/error_codes.go of k6 v1.8.1) and statuses:
 *
 * | k6 error_code / status | what k6 says it is | outcome |
 * |---|---|---|
 * | 1020 | invalid URL | fail: never sent |
 * | 1100-1199 (1101 no such host, 1110 blacklisted IP, 1111 blocked hostname) | DNS | fail: no connection |
 * | 1210-1219 (1210 dial error, 1211 dial timeout, 1212 connection refused, 1213 dial errno) | TCP dial | fail: no connection |
 * | 1300-1399 (1301 TLS header, 1310 unknown authority, 1311 hostname mismatch) | TLS handshake | fail: the request is written only after the handshake |
 * | 1050 with nothing written (http_req_duration 0) | request timeout while connecting or waiting for a connection | fail |
 * | 1050 after the request was written (http_req_duration > 0) | request timeout | unknown |
 * | 1220 | connection reset by peer | unknown |
 * | 1000, 1010, 1200-1202, 1600-1699 and any other | generic, non-TCP, TCP, broken pipe, HTTP/2 | unknown |
 * | status 2xx, no error | answered | ok |
 * | status 503 (error_code 1503) | the load balancer had no server for it (HAProxy's 503) | fail |
 * | status 502, 504 | a head failed or timed out behind the load balancer | unknown |
 * | other 5xx | a server error: the app may have done part of the work | unknown |
 * | 4xx | refused as it stood (bad request, too many, 408 incomplete request) | fail |
 * | 1xx, 3xx (redirects are not followed) | not an acknowledgement, but the app may have acted (POST-redirect-GET) | unknown |
 *
 * k6 tags a 4xx/5xx answer with error_code 1000 + status (1503 for a 503): those go by the
 * status. A 503 is taken as the load balancer's: HAProxy answers 503 only when it has no server
 * to send a request to. A web head that answers 503 itself would be counted `fail` though it
 * saw the request; the web tier's heads must not (or the load balancer must mark its own).
 * Whether a request was written is k6's `http_req_duration` (sending + waiting + receiving):
 * its tracer counts sending and waiting only once Go's HTTP client reports the request written
 * (httptrace.WroteRequest), so 0 means nothing was written (measured: a listener whose backlog
 * is full gives 1050 with 0; a server that never answers gives 1050 with the timeout).
 */

export interface K6Operation {
  seq: number;
  op: 'write' | 'read';
  /** Wall-clock ms since the epoch: the script's Date.now() right before the request. */
  tInvokeWall: number;
  /** Wall-clock ms since the epoch (sub-ms): k6's end time of the request. */
  tCompleteWall: number;
  outcome: Outcome;
  /** The HTTP status; 0 when no answer came. */
  status: number;
  /** k6's error code; 0 when none. */
  errorCode: number;
  /** What went wrong, in k6's words (or the status), and why it is `fail` or `unknown`. */
  error?: string;
  /** The base URL it was sent to (the script's `target` tag). */
  target?: string;
  /** k6's http_req_duration (sending + waiting + receiving), ms, when its point was seen. */
  durationMs?: number;
  /** Set when k6 ended before writing the request's end: its completion is the end of k6. */
  cutOff?: true;
}

export interface Classification {
  outcome: Outcome;
  /** Why, in a few words; empty for `ok`. */
  reason: string;
}

const inRange = (code: number, lo: number, hi: number) => code >= lo && code <= hi;

/** The outcome of a request from its status, k6's error code, and whether it was written. */
export function classify(r: {
  status: number;
  errorCode: number;
  written: boolean | undefined;
}): Classification {
  const { status, errorCode: code } = r;
  if (code === 1020) return { outcome: 'fail', reason: 'invalid URL: never sent' };
  if (inRange(code, 1100, 1199)) return { outcome: 'fail', reason: 'DNS error: never connected' };
  if (inRange(code, 1210, 1219)) return { outcome: 'fail', reason: 'dial error: never connected' };
  if (inRange(code, 1300, 1399)) return { outcome: 'fail', reason: 'TLS handshake error: never sent' };
  if (code === 1050) {
    if (r.written === false) return { outcome: 'fail', reason: 'timed out before the request was written' };
    if (r.written === true) return { outcome: 'unknown', reason: 'timed out after the request was written' };
    return { outcome: 'unknown', reason: 'timed out (whether it was written is not known)' };
  }
  // Any other error without an answer: reset (1220), broken pipe (1201), generic (1000),
  // HTTP/2 (16xx)... the request may have been read by the server.
  const httpCode = status > 0 && code === 1000 + status;
  if (code !== 0 && !httpCode) {
    return status > 0 && statusOutcome(status).outcome === 'fail'
      ? { outcome: 'fail', reason: `${status} answered, then error ${code}` }
      : {
          outcome: 'unknown',
          reason: status > 0 ? `${status} answered, then error ${code}` : 'may have been sent',
        };
  }
  return statusOutcome(status);
}

function statusOutcome(status: number): Classification {
  if (status >= 200 && status <= 299) return { outcome: 'ok', reason: '' };
  if (status === 503) return { outcome: 'fail', reason: 'the load balancer had no server for it' };
  if (status === 502 || status === 504)
    return { outcome: 'unknown', reason: 'the head behind the load balancer failed' };
  if (status >= 500) return { outcome: 'unknown', reason: 'server error: it may have done part of the work' };
  if (status >= 400) return { outcome: 'fail', reason: 'refused' };
  if (status > 0) return { outcome: 'unknown', reason: 'not an acknowledgement' };
  return { outcome: 'unknown', reason: 'no answer and no error code' };
}

/**
 * Wall-clock ms since the epoch, with the sub-millisecond part, of a time as k6 writes it
 * (`2026-11-23T19:57:34.695846589Z`, or with an offset such as `+02:00`); NaN when it is not one.
 */
export function parseK6Time(s: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) return Number.NaN;
  const whole = Date.parse(`${m[1]}${m[3]}`);
  return m[2] ? whole + Number(`0.${m[2]}`) * 1000 : whole;
}

/**
 * The metrics the stream reads; every other line is skipped without parsing it. Not
 * `http_req_failed`: it comes after a request's `http_reqs` and `http_req_duration`, which
 * complete the operation, and says nothing they do not (its status and error are in their tags).
 * Parsing is most of the harness's CPU per request: 14 lines a request, 14,000 a second at 1000/s.
 */
const READ = new Set(['http_reqs', 'http_req_duration', 'probe_invoke', 'dropped_iterations']);
const POINT_PREFIX = '{"metric":"';

interface Point {
  metric: string;
  time: number;
  value: number;
  tags: Record<string, string>;
  metadata: Record<string, string>;
}

interface Group {
  seq: number;
  op: 'write' | 'read';
  tInvokeWall: number | undefined;
  tCompleteWall: number;
  status: number;
  errorCode: number;
  error: string | undefined;
  target: string | undefined;
  durationMs: number | undefined;
  seenReqs: boolean;
}

export interface K6StreamStats {
  /** Lines read, points among them, and lines that were not k6 JSON. */
  lines: number;
  points: number;
  unparsable: number;
  /** The last line that was not k6 JSON, cut to 200 characters. */
  lastUnparsable?: string;
  /** Requests the script started (`probe_invoke`) and operations produced. */
  invoked: number;
  operations: number;
  /** Operations completed by `end()`: no point of their end was seen. */
  cutOff: number;
  /** HTTP points without a `seq` in their metadata (another script?). */
  unmatched: number;
  /** Requests k6 did not start because no VU was free (`dropped_iterations`). */
  droppedIterations: number;
}

/** A set of the most recent numbers, at most `cap` of them. */
class RecentSet {
  private readonly set = new Set<number>();
  private readonly order: number[] = [];
  constructor(private readonly cap: number) {}
  add(n: number): void {
    if (this.set.has(n)) return;
    this.set.add(n);
    this.order.push(n);
    if (this.order.length > this.cap) this.set.delete(this.order.shift()!);
  }
  has(n: number): boolean {
    return this.set.has(n);
  }
}

/**
 * Turns k6's output lines into operations: `push(line)` returns the operations that line
 * completed (a request is complete once its `http_reqs` and `http_req_duration` points are in;
 * k6 writes a request's points together, so they come on consecutive lines), and `end(t)` the
 * rest when k6 is gone: requests with only some of their points, and requests the script
 * started whose end k6 never wrote (k6 drops the points of requests it cuts off when it is
 * interrupted), which are `unknown`, completed at `t`: they may have been sent.
 */
export class K6Stream {
  private readonly groups = new Map<number, Group>();
  private readonly invoked = new Map<
    number,
    { op: 'write' | 'read'; tInvokeWall: number; target?: string }
  >();
  private readonly finished = new RecentSet(16_384);
  readonly stats: K6StreamStats = {
    lines: 0,
    points: 0,
    unparsable: 0,
    invoked: 0,
    operations: 0,
    cutOff: 0,
    unmatched: 0,
    droppedIterations: 0,
  };

  push(line: string): K6Operation[] {
    const text = line.trim();
    if (text === '') return [];
    this.stats.lines++;
    if (text.startsWith(POINT_PREFIX)) {
      const name = text.slice(POINT_PREFIX.length, text.indexOf('"', POINT_PREFIX.length));
      if (!READ.has(name)) {
        this.stats.points++;
        return [];
      }
    }
    const point = this.parse(text);
    if (!point) return [];
    return this.onPoint(point);
  }

  /** Everything still open, once k6's output has ended at wall-clock time `tEndWall`. */
  end(tEndWall: number): K6Operation[] {
    const out: K6Operation[] = [];
    for (const g of this.groups.values()) out.push(this.finish(g));
    this.groups.clear();
    for (const [seq, inv] of this.invoked) {
      if (this.finished.has(seq)) continue;
      this.stats.cutOff++;
      this.stats.operations++;
      out.push({
        seq,
        op: inv.op,
        tInvokeWall: inv.tInvokeWall,
        tCompleteWall: Math.max(tEndWall, inv.tInvokeWall),
        outcome: 'unknown',
        status: 0,
        errorCode: 0,
        error: 'k6 ended before the request did: it may have been sent',
        cutOff: true,
        ...(inv.target === undefined ? {} : { target: inv.target }),
      });
    }
    this.invoked.clear();
    return out.sort((a, b) => a.seq - b.seq);
  }

  private parse(text: string): Point | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.unparsable(text);
      return undefined;
    }
    const o = raw as { type?: unknown; metric?: unknown; data?: Record<string, unknown> };
    if (o === null || typeof o !== 'object' || typeof o.metric !== 'string' || !o.data) {
      this.unparsable(text);
      return undefined;
    }
    if (o.type !== 'Point') return undefined; // a metric's declaration
    this.stats.points++;
    if (!READ.has(o.metric)) return undefined;
    const time = typeof o.data.time === 'string' ? parseK6Time(o.data.time) : Number.NaN;
    if (Number.isNaN(time)) {
      this.unparsable(text);
      return undefined;
    }
    return {
      metric: o.metric,
      time,
      value: Number(o.data.value),
      tags: (o.data.tags as Record<string, string> | null) ?? {},
      metadata: (o.data.metadata as Record<string, string> | undefined) ?? {},
    };
  }

  private unparsable(text: string): void {
    this.stats.unparsable++;
    this.stats.lastUnparsable = text.slice(0, 200);
  }

  private onPoint(p: Point): K6Operation[] {
    if (p.metric === 'dropped_iterations') {
      this.stats.droppedIterations += Number.isFinite(p.value) ? p.value : 0;
      return [];
    }
    const seq = Number(p.metadata.seq);
    if (p.metadata.seq === undefined || !Number.isSafeInteger(seq)) {
      if (p.metric !== 'probe_invoke') this.stats.unmatched++;
      return [];
    }
    const op = p.metadata.op === 'read' || p.tags.name === 'read' ? 'read' : 'write';
    const t = Number(p.metadata.t);
    const tInvokeWall = p.metadata.t !== undefined && Number.isFinite(t) ? t : undefined;
    if (p.metric === 'probe_invoke') {
      this.stats.invoked++;
      this.invoked.set(seq, {
        op,
        tInvokeWall: tInvokeWall ?? p.time,
        ...(p.tags.target === undefined ? {} : { target: p.tags.target }),
      });
      return [];
    }
    if (this.finished.has(seq)) return []; // a later point of a request already done
    let g = this.groups.get(seq);
    if (!g) {
      const errorCode = Number(p.tags.error_code ?? 0);
      g = {
        seq,
        op,
        tInvokeWall,
        tCompleteWall: p.time,
        status: Number(p.tags.status ?? 0) || 0,
        errorCode: Number.isFinite(errorCode) ? errorCode : 0,
        error: p.tags.error,
        target: p.tags.target,
        durationMs: undefined,
        seenReqs: false,
      };
      this.groups.set(seq, g);
    }
    if (p.metric === 'http_reqs') g.seenReqs = true;
    if (p.metric === 'http_req_duration' && Number.isFinite(p.value)) g.durationMs = p.value;
    if (!g.seenReqs || g.durationMs === undefined) return [];
    this.groups.delete(seq);
    return [this.finish(g)];
  }

  private finish(g: Group): K6Operation {
    this.finished.add(g.seq);
    const inv = this.invoked.get(g.seq);
    this.invoked.delete(g.seq);
    this.stats.operations++;
    const written = g.durationMs === undefined ? undefined : g.durationMs > 0;
    const { outcome, reason } = classify({ status: g.status, errorCode: g.errorCode, written });
    const what = g.error ?? (g.status > 0 ? `HTTP ${g.status}` : undefined);
    const error = outcome === 'ok' ? g.error : [what, reason].filter(Boolean).join(': ');
    // Without a start time (no `t`), the start is taken as the end less k6's duration.
    const tInvokeWall = g.tInvokeWall ?? inv?.tInvokeWall ?? g.tCompleteWall - (g.durationMs ?? 0);
    return {
      seq: g.seq,
      op: g.op,
      tInvokeWall,
      tCompleteWall: g.tCompleteWall,
      outcome,
      status: g.status,
      errorCode: g.errorCode,
      ...(error ? { error } : {}),
      ...(g.target === undefined ? {} : { target: g.target }),
      ...(g.durationMs === undefined ? {} : { durationMs: g.durationMs }),
    };
  }
}
