import { describe, expect, it } from 'vitest';
import { K6Stream, classify, parseK6Time } from './stream.ts';

/**
 * Lines shaped as k6 1.8.1 writes them with `--out json` for the probe's script (copied from a
 * real run against a loopback server, with times and values changed).
 */
const T0 = Date.parse('2026-11-23T19:57:34.000Z');
const iso = (wallMs: number) => {
  const whole = Math.floor(wallMs);
  const ns = Math.round((wallMs - whole) * 1e6);
  return new Date(whole)
    .toISOString()
    .replace(/\.(\d{3})Z$/, (_, ms) => `.${ms}${String(ns).padStart(6, '0')}Z`);
};

interface Req {
  seq: number;
  t: number;
  end: number;
  status?: number;
  errorCode?: number;
  error?: string;
  duration?: number;
  op?: 'write' | 'read';
}

function tagsOf(r: Req): Record<string, string> {
  const status = r.status ?? 0;
  return {
    ...(r.error ? { error: r.error } : {}),
    ...(r.errorCode ? { error_code: String(r.errorCode) } : {}),
    expected_response: String(status >= 200 && status < 400),
    method: r.op === 'read' ? 'GET' : 'POST',
    name: r.op ?? 'write',
    status: String(status),
    target: 'http://127.0.0.1:18080',
  };
}

const meta = (r: Req) => ({ seq: String(r.seq), op: r.op ?? 'write', t: String(r.t) });

function point(metric: string, time: number, value: number, tags: object, metadata?: object): string {
  return JSON.stringify({
    metric,
    type: 'Point',
    data: { time: iso(time), value, tags, ...(metadata ? { metadata } : {}) },
  });
}

const invokeLine = (r: Req) => point('probe_invoke', r.t + 0.05, 1, {}, meta(r));

/** The 9 points k6 writes for one request, in its order, then the iteration's 4. */
function requestLines(r: Req): string[] {
  const tags = tagsOf(r);
  const m = meta(r);
  const d = r.duration ?? r.end - r.t - 0.5;
  const failed = (r.status ?? 0) >= 200 && (r.status ?? 0) < 400 ? 0 : 1;
  return [
    point('http_reqs', r.end, 1, tags, m),
    point('http_req_duration', r.end, d, tags, m),
    ...['blocked', 'connecting', 'tls_handshaking', 'sending', 'waiting', 'receiving'].map((n) =>
      point(`http_req_${n}`, r.end, 0.1, tags, m),
    ),
    point('http_req_failed', r.end, failed, tags, m),
    ...['data_sent', 'data_received', 'iteration_duration', 'iterations'].map((n) =>
      point(n, r.end + 0.1, 1, {}, m),
    ),
  ];
}

const metricLine = (name: string) =>
  JSON.stringify({
    type: 'Metric',
    data: { name, type: 'counter', contains: 'default', thresholds: [], submetrics: null },
    metric: name,
  });

function feed(stream: K6Stream, lines: string[]) {
  return lines.flatMap((l) => stream.push(l));
}

describe('parseK6Time', () => {
  it('keeps the sub-millisecond part, in UTC and with an offset', () => {
    expect(parseK6Time('2026-11-23T19:57:34.695846589Z')).toBeCloseTo(
      Date.parse('2026-11-23T19:57:34.695Z') + 0.846589,
      5,
    );
    expect(parseK6Time('2026-11-23T21:57:34.5+02:00')).toBe(Date.parse('2026-11-23T19:57:34.500Z'));
    expect(parseK6Time('2026-11-23T19:57:34Z')).toBe(Date.parse('2026-11-23T19:57:34Z'));
    expect(parseK6Time('yesterday')).toBeNaN();
  });
});

describe('classify', () => {
  const cases: [string, { status: number; errorCode: number; written?: boolean }, string][] = [
    ['200', { status: 200, errorCode: 0, written: true }, 'ok'],
    ['204', { status: 204, errorCode: 0, written: true }, 'ok'],
    ['503 from the load balancer (1503)', { status: 503, errorCode: 1503, written: true }, 'fail'],
    ['502 (1502)', { status: 502, errorCode: 1502, written: true }, 'unknown'],
    ['504 (1504)', { status: 504, errorCode: 1504, written: true }, 'unknown'],
    ['500 (1500)', { status: 500, errorCode: 1500, written: true }, 'unknown'],
    ['404 (1404)', { status: 404, errorCode: 1404, written: true }, 'fail'],
    ['429 (1429)', { status: 429, errorCode: 1429, written: true }, 'fail'],
    ['303, not followed', { status: 303, errorCode: 0, written: true }, 'unknown'],
    ['1212 connection refused', { status: 0, errorCode: 1212, written: false }, 'fail'],
    ['1211 dial timeout', { status: 0, errorCode: 1211, written: false }, 'fail'],
    ['1210 dial error', { status: 0, errorCode: 1210, written: false }, 'fail'],
    ['1213 dial errno', { status: 0, errorCode: 1213, written: false }, 'fail'],
    ['1101 no such host', { status: 0, errorCode: 1101, written: false }, 'fail'],
    ['1100 DNS', { status: 0, errorCode: 1100, written: false }, 'fail'],
    ['1311 TLS hostname', { status: 0, errorCode: 1311, written: false }, 'fail'],
    ['1020 invalid URL', { status: 0, errorCode: 1020, written: false }, 'fail'],
    ['1050 before anything was written', { status: 0, errorCode: 1050, written: false }, 'fail'],
    ['1050 after writing', { status: 0, errorCode: 1050, written: true }, 'unknown'],
    ['1050 without its duration point', { status: 0, errorCode: 1050 }, 'unknown'],
    ['1220 reset by peer', { status: 0, errorCode: 1220, written: true }, 'unknown'],
    ['1220 reset, nothing written', { status: 0, errorCode: 1220, written: false }, 'unknown'],
    ['1201 broken pipe', { status: 0, errorCode: 1201, written: false }, 'unknown'],
    ['1000 generic (EOF)', { status: 0, errorCode: 1000, written: true }, 'unknown'],
    ['1630 HTTP/2 stream error', { status: 0, errorCode: 1630, written: true }, 'unknown'],
    ['no answer, no code', { status: 0, errorCode: 0, written: true }, 'unknown'],
  ];
  for (const [name, input, outcome] of cases) {
    it(`${name} -> ${outcome}`, () => {
      expect(classify({ written: undefined, ...input }).outcome).toBe(outcome);
    });
  }
});

describe('K6Stream', () => {
  it('makes one operation per request from its points, with the invoke time from the metadata', () => {
    const s = new K6Stream();
    const r: Req = { seq: 7, t: T0 + 10, end: T0 + 11.845, status: 200, duration: 1.2 };
    const ops = feed(s, [
      metricLine('probe_invoke'),
      invokeLine(r),
      metricLine('http_reqs'),
      ...requestLines(r),
    ]);
    expect(ops).toHaveLength(1);
    const op = ops[0]!;
    expect(op).toMatchObject({
      seq: 7,
      op: 'write',
      outcome: 'ok',
      status: 200,
      errorCode: 0,
      durationMs: 1.2,
    });
    expect(op.target).toBe('http://127.0.0.1:18080');
    expect(op.tInvokeWall).toBe(T0 + 10);
    expect(op.tCompleteWall).toBeCloseTo(T0 + 11.845, 4);
    expect(op.error).toBeUndefined();
    expect(s.end(T0 + 100)).toEqual([]);
    expect(s.stats).toMatchObject({ invoked: 1, operations: 1, cutOff: 0, unparsable: 0, unmatched: 0 });
    expect(s.stats.points).toBe(14);
  });

  it('classifies each kind of answer and error as it comes, reads included', () => {
    const s = new K6Stream();
    const reqs: (Req & { want: string })[] = [
      { seq: 1, t: T0, end: T0 + 2, status: 200, want: 'ok' },
      { seq: 2, t: T0 + 5, end: T0 + 6, status: 200, op: 'read', want: 'ok' },
      { seq: 3, t: T0 + 10, end: T0 + 12, status: 503, errorCode: 1503, want: 'fail' },
      {
        seq: 4,
        t: T0 + 15,
        end: T0 + 16,
        errorCode: 1212,
        error: 'dial: connection refused',
        duration: 0,
        want: 'fail',
      },
      {
        seq: 5,
        t: T0 + 20,
        end: T0 + 520.5,
        errorCode: 1050,
        error: 'request timeout',
        duration: 499.6,
        want: 'unknown',
      },
      {
        seq: 6,
        t: T0 + 25,
        end: T0 + 525.7,
        errorCode: 1050,
        error: 'request timeout',
        duration: 0,
        want: 'fail',
      },
      {
        seq: 7,
        t: T0 + 30,
        end: T0 + 31,
        errorCode: 1220,
        error: 'read: connection reset by peer',
        want: 'unknown',
      },
      { seq: 8, t: T0 + 35, end: T0 + 36, status: 502, errorCode: 1502, want: 'unknown' },
      { seq: 9, t: T0 + 40, end: T0 + 41, status: 504, errorCode: 1504, want: 'unknown' },
      {
        seq: 10,
        t: T0 + 45,
        end: T0 + 46,
        errorCode: 1211,
        error: 'dial: i/o timeout',
        duration: 0,
        want: 'fail',
      },
      { seq: 11, t: T0 + 50, end: T0 + 51, status: 400, errorCode: 1400, want: 'fail' },
      { seq: 12, t: T0 + 55, end: T0 + 56, status: 500, errorCode: 1500, want: 'unknown' },
    ];
    const got = new Map<number, string>();
    for (const r of reqs) {
      expect(feed(s, [invokeLine(r)])).toEqual([]);
      const ops = feed(s, requestLines(r));
      expect(ops).toHaveLength(1);
      got.set(ops[0]!.seq, ops[0]!.outcome);
      expect(ops[0]!.op).toBe(r.op ?? 'write');
      expect(ops[0]!.status).toBe(r.status ?? 0);
      expect(ops[0]!.errorCode).toBe(r.errorCode ?? 0);
      if (ops[0]!.outcome !== 'ok') expect(ops[0]!.error).toBeTruthy();
    }
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(reqs.map((r) => [r.seq, r.want])));
    expect(s.end(T0 + 1000)).toEqual([]);
    expect(s.stats.operations).toBe(reqs.length);
  });

  it('keeps requests of several VUs apart when their points interleave', () => {
    const s = new K6Stream();
    const a: Req = { seq: 1, t: T0, end: T0 + 3, status: 200 };
    const b: Req = {
      seq: 2,
      t: T0 + 1,
      end: T0 + 3,
      errorCode: 1212,
      error: 'dial: connection refused',
      duration: 0,
    };
    const la = requestLines(a);
    const lb = requestLines(b);
    const mixed = la.flatMap((l, i) => [l, lb[i]!]);
    const ops = feed(s, [invokeLine(a), invokeLine(b), ...mixed]);
    expect(ops.map((o) => [o.seq, o.outcome])).toEqual([
      [1, 'ok'],
      [2, 'fail'],
    ]);
  });

  it('records a request k6 cut off (invoked, no end written) as unknown, completed at the end of k6', () => {
    const s = new K6Stream();
    const done: Req = { seq: 1, t: T0, end: T0 + 2, status: 200 };
    const cut: Req = { seq: 2, t: T0 + 5, end: 0 };
    feed(s, [invokeLine(done), ...requestLines(done), invokeLine(cut)]);
    const rest = s.end(T0 + 300);
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatchObject({
      seq: 2,
      outcome: 'unknown',
      status: 0,
      cutOff: true,
      tInvokeWall: T0 + 5,
    });
    expect(rest[0]!.tCompleteWall).toBe(T0 + 300);
    expect(s.stats).toMatchObject({ invoked: 2, operations: 2, cutOff: 1 });
    expect(s.end(T0 + 400)).toEqual([]);
  });

  it('finishes a request with only some of its points at the end, conservatively', () => {
    const s = new K6Stream();
    const r: Req = { seq: 3, t: T0, end: T0 + 500, errorCode: 1050, error: 'request timeout' };
    const [reqs] = requestLines(r); // http_reqs only: whether it was written is not known
    expect(feed(s, [invokeLine(r), reqs!])).toEqual([]);
    const rest = s.end(T0 + 600);
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatchObject({ seq: 3, outcome: 'unknown', errorCode: 1050 });
    expect(rest[0]!.cutOff).toBeUndefined();
    expect(rest[0]!.tCompleteWall).toBeCloseTo(T0 + 500, 4);
  });

  it('ignores late points of a finished request and points of other metrics', () => {
    const s = new K6Stream();
    const r: Req = { seq: 1, t: T0, end: T0 + 2, status: 200 };
    const lines = requestLines(r);
    expect(feed(s, [...lines, ...lines])).toHaveLength(1);
    expect(
      feed(s, [
        point('vus', T0, 5, {}),
        point('dropped_iterations', T0, 3, {}),
        point('dropped_iterations', T0, 1, {}),
      ]),
    ).toEqual([]);
    expect(s.stats.droppedIterations).toBe(4);
  });

  it('counts what is not k6 JSON and HTTP points without a seq, and goes on', () => {
    const s = new K6Stream();
    const noSeq = point('http_reqs', T0, 1, { status: '200' }, {});
    const r: Req = { seq: 1, t: T0, end: T0 + 2, status: 200 };
    const ops = feed(s, [
      '',
      'Flag --no-summary has been deprecated',
      '{"metric":"http_reqs"',
      noSeq,
      ...requestLines(r),
    ]);
    expect(ops).toHaveLength(1);
    expect(s.stats.unparsable).toBe(2);
    expect(s.stats.lastUnparsable).toBe('{"metric":"http_reqs"');
    expect(s.stats.unmatched).toBe(1);
  });

  it('takes the start as the end less the duration when a point has no invoke time', () => {
    const s = new K6Stream();
    const line = point('http_reqs', T0 + 10, 1, { status: '200' }, { seq: '4' });
    const dur = point('http_req_duration', T0 + 10, 2.5, { status: '200' }, { seq: '4' });
    const [op] = feed(s, [line, dur]);
    expect(op!.tInvokeWall).toBeCloseTo(T0 + 7.5, 4);
    expect(op!.outcome).toBe('ok');
  });
});
