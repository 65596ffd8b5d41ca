import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticRun } from '../test/fixtures/results.ts';
import { renderHtml } from './html.ts';
import { latencyFromHistory, timelineOf } from './timeline.ts';

describe('the timeline of a run', () => {
  it('shades the fault window, the unavailability window, and marks failover, decisions and the record move', () => {
    const r = syntheticRun({ failoverMs: 1500 });
    const [chart] = timelineOf(r, null, 'x');
    const a = r.probes[0]!.windows[0]!.availability;
    expect(chart!.bands).toEqual([
      expect.objectContaining({ kind: 'fault', from: 1.985, open: true, fault: 0 }), // from the injection
      expect.objectContaining({
        kind: 'unavailable',
        from: a.window!.start / 1000,
        to: a.window!.end! / 1000,
      }),
    ]);
    const kinds = chart!.markers.map((m) => [m.kind, m.label]);
    expect(kinds).toEqual([
      ['inject', 'fault #1 kill'],
      ['detection', `detected +${Math.round(a.detectionMs!)} ms`],
      ['decision', 'redis-b declares redis-a dead'],
      ['decision', 'redis-b becomes head'],
      ['record', 'redis-head -> redis-b'],
      ['failover', `failover ${Math.round(a.failoverMs!)} ms`],
      ['converged', 'full redundancy +1700 ms'],
    ]);
    expect(chart!.markers.find((m) => m.kind === 'failover')!.t).toBe((a.faultAt + a.failoverMs!) / 1000);
  });

  it('turns the 250 ms series into writes per second, one point per bucket', () => {
    const r = syntheticRun();
    const [chart] = timelineOf(r, null, 'x');
    const counts = r.probes[0]!.series.counts;
    expect(chart!.x).toHaveLength(counts.length + 1);
    expect(chart!.ok[0]).toBe(counts[0]![0] * 4);
    expect(chart!.fail.reduce((a, b) => a + b, 0) - chart!.fail.at(-1)!).toBe(
      counts.reduce((a, c) => a + c[1], 0) * 4,
    );
  });

  it('reads the latency of a million operations per bucket in a few seconds', () => {
    const r = syntheticRun({ spanMs: 500_000, rateEveryMs: 0.5 });
    expect(r.probes[0]!.attempted).toBe(1_000_000);
    const file = join(mkdtempSync(join(tmpdir(), 'chaos-history-')), 'history.jsonl');
    const lines: string[] = [];
    for (let seq = 1; seq <= 1_000_000; seq++) {
      const t = (seq - 1) * 0.5;
      const ok = t <= 2000 || t + 1 >= 3500;
      lines.push(
        JSON.stringify({
          probe: 'writes',
          op: 'write',
          seq,
          process: 0,
          tInvoke: t,
          tComplete: t + (seq % 7) / 10,
          outcome: ok ? 'ok' : 'fail',
        }),
      );
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    expect(statSync(file).size).toBeGreaterThan(100e6);
    const started = performance.now();
    const latency = latencyFromHistory(file, r.probes)!.get('writes')!;
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    const took = performance.now() - started;
    expect(latency.p50).toHaveLength(r.probes[0]!.series.counts.length);
    expect(latency.max[0]).toBe(0.6);
    expect(took).toBeLessThan(10_000);
    // the page holds buckets, not operations
    expect(html.length).toBeLessThan(600_000);
  }, 60_000);
});

describe('the HTML report', () => {
  it('is one self-contained file: nothing is fetched', () => {
    const html = renderHtml({ runs: [{ result: syntheticRun(), dir: null }] });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<\/script>[^<]*<\/script>/);
  });

  it('puts the verdict and every figure at the top, each with its raw value', () => {
    const r = syntheticRun({ failoverMs: 3200, lost: 3 });
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    const a = r.probes[0]!.windows[0]!.availability;
    expect(html).toMatch(/data-figure="verdict" data-value="fail"[^>]*>FAIL</);
    expect(html).toContain(
      `data-figure="failover" data-value="${a.failoverMs}" data-probe="writes" data-fault="0">`,
    );
    expect(html).toContain(`<span class="value">${Math.round(a.failoverMs!)} ms</span>`);
    expect(html).toMatch(/data-figure="lost" data-value="3"/);
    expect(html).toMatch(/data-figure="lost-seqs" data-probe="writes">198, 199, 200</);
    expect(html).toContain('✘ fault #1 failover time: 3201 ms, expected &lt;= 3000 ms');
    expect(html.indexOf('data-figure="failover"')).toBeLessThan(html.indexOf('class="chart"'));
  });

  it('shows writes by a former leader and failed writes read back, as figures and expectations', () => {
    const r = syntheticRun({ formerLeaderWrites: 2, failedButPresent: 1 });
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    expect(html).toMatch(/data-figure="verdict" data-value="fail"/);
    expect(html).toContain('<tr data-expectation="one leader at a time" data-verdict="fail">');
    expect(html).toContain('<tr data-expectation="failed writes stay absent" data-verdict="fail">');
    expect(html).toMatch(
      /data-figure="former-leader-writes" data-value="2" data-probe="writes">[^<]*redis-a 351, 352</,
    );
    expect(html).toContain('1 writes reported failed are present anyway: 350');
    expect(html).toContain(
      '✘ one leader at a time: 2 acknowledged by a former leader: redis-a 2 (seq 351, 352)',
    );
    const clean = renderHtml({ runs: [{ result: syntheticRun(), dir: null }] });
    expect(clean).toContain('<tr data-expectation="one leader at a time" data-verdict="pass">');
    expect(clean).not.toContain('data-figure="former-leader-writes"');
  });

  it('marks a run rebuilt from a dead run folder as incomplete', () => {
    const r = syntheticRun({ status: 'incomplete' });
    r.error = { code: 'RUN_INCOMPLETE', kind: 'infra', message: 'the run stopped before writing its result' };
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    expect(html).toMatch(/data-status="incomplete">INCOMPLETE</);
    expect(html).toContain('data-figure="incomplete"');
    expect(html).toContain('Expectations not judged: the run did not finish');
  });
});

describe('gray failures in the HTML report', () => {
  it('shows latency before, during and after each fault, the lag per node, and a false failover', () => {
    const r = syntheticRun();
    const phase = (p50: number, timeouts = 0) => ({
      from: 0,
      to: null,
      operations: 10 + timeouts,
      ok: 10,
      timeouts,
      errors: 0,
      latencyMs: { p50, p99: p50 * 2, max: p50 * 3 },
    });
    r.probes[0]!.latencyByFault = [{ fault: 0, before: phase(1), during: phase(103, 2), after: phase(1.5) }];
    r.systems[0]!.lag = {
      unit: 'bytes',
      pollIntervalMs: 250,
      nodes: ['redis-b', 'redis-c'],
      samples: [
        { t: 2000, lag: [0, 0] },
        { t: 2250, lag: [4096, null] },
        { t: 2500, lag: [0, 0] },
      ],
    };
    r.systems[0]!.falseFailovers = [
      { t: 3000, from: 'redis-a', to: 'redis-b', fault: 0, during: ['#1 latency'] },
    ];
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    expect(html).toMatch(/<h3>Latency by fault<\/h3>/);
    expect(html).toMatch(
      /<tr data-probe="writes" data-fault="0"><td>writes<\/td><td>fault #1 [^<]*<\/td><td class="num">1\.00<\/td>.*<td class="num">103<\/td><td class="num">206<\/td><td class="num">309<\/td><td class="num bad">2<\/td>/,
    );
    expect(html).toMatch(/data-system="redis"><h4>replication lag redis/);
    expect(html).toMatch(/"lags":\[\{"id":"[^"]+-lag0","system":"redis","unit":"bytes","x":\[2,2\.25,2\.5\]/);
    expect(html).toMatch(
      /data-figure="false-failovers" class="bad">redis-a → redis-b at 3\.000 s \(during #1 latency\)/,
    );
  });
});
