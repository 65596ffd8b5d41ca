import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticRun, writeRunFolder } from '../test/fixtures/results.ts';
import { keyValues, previousRunOf, renderHtml } from './html.ts';
import {
  afterOf,
  convergedEarly,
  historyFiguresOf,
  historyFileOf,
  latencyFromHistory,
  originOf,
  timelineOf,
} from './timeline.ts';

describe('the timeline of a run', () => {
  it('counts from the first fault applied, shades its window to the recovery, and marks what happened', () => {
    const r = syntheticRun({ failoverMs: 1500 });
    const o = originOf(r);
    expect(o).toEqual({ t: 2000, fault: 0, label: 'fault #1 applied' });
    const [chart] = timelineOf(r, null, 'x');
    const a = r.probes[0]!.windows[0]!.availability;
    const x = (t: number) => Math.round(t - 2000) / 1000;
    expect(chart!.bands).toEqual([
      // from the injection, 15 ms before the applied instant, to the stable success
      expect.objectContaining({ kind: 'fault', from: -0.015, to: x(a.recoveredAt!), open: false, fault: 0 }),
      expect.objectContaining({ kind: 'unavailable', from: x(a.window!.start), to: x(a.window!.end!) }),
    ]);
    expect(chart!.bands[0]!.label).toBe(
      'fault #1 kill redis:head -> redis-a (a kill: never reverted), recovered 1.50 s after it was applied',
    );
    const kinds = chart!.markers.map((m) => [m.kind, m.label]);
    expect(kinds).toEqual([
      ['inject', 'fault #1 kill'],
      ['applied', 'fault #1 applied +15 ms'],
      ['detection', `detected ${Math.round(a.detectionMs!)} ms after fault #1 applied`],
      ['decision', 'redis-b declares redis-a dead'],
      ['decision', 'redis-b becomes head'],
      ['record', 'redis-head -> redis-b'],
      ['failover', `failover ${Math.round(a.failoverMs!)} ms after fault #1 applied`],
      ['converged', 'full redundancy 1.70 s after fault #1 injected'],
    ]);
    expect(chart!.markers.find((m) => m.kind === 'failover')!.t).toBe(a.failoverMs! / 1000);
    expect(chart!.markers.find((m) => m.kind === 'applied')!.t).toBe(0);
    expect(chart!.x[0]).toBe(x(r.probes[0]!.series.start));
  });

  it('shows a reverted fault in force from injection to revert, beside its window', () => {
    const r = syntheticRun({ action: 'pause', revertAfterMs: 3000 });
    const [chart] = timelineOf(r, null, 'x');
    const a = r.probes[0]!.windows[0]!.availability;
    const fault = chart!.bands.find((b) => b.kind === 'fault')!;
    expect(fault).toMatchObject({ from: -0.015, to: (a.recoveredAt! - 2000) / 1000, open: false });
    expect(fault.label).toContain('in force 3.00 s (reverted), recovered 1.50 s after it was applied');
    expect(chart!.bands.find((b) => b.kind === 'duration')).toMatchObject({
      from: -0.015,
      to: 2.989, // the revert, 4 ms after it fell due
      label: 'fault #1 pause in force 3.00 s, injection -> revert',
    });
    expect(chart!.markers.find((m) => m.kind === 'revert')).toMatchObject({ t: 2.989, value: 3004 });
  });

  it("shades a fault measured in another's window over its own span, to its revert", () => {
    const r = syntheticRun();
    r.faults.push({
      ...r.faults[0]!,
      index: 1,
      action: 'partition',
      target: 'node:redis-c',
      nodes: ['redis-c'],
      tInject: 2500,
      tApplied: 2510,
      tReverted: 4500,
      measured: false,
    });
    const [chart] = timelineOf(r, null, 'x');
    const band = chart!.bands.find((b) => b.kind === 'fault' && b.fault === 1)!;
    expect(band).toMatchObject({ from: 0.5, to: 2.5, open: false });
    expect(band.label).toBe(
      'fault #2 partition node:redis-c -> redis-c, in force 2.00 s (reverted), not measured on its own',
    );
  });

  it('leaves a window that never recovered open to the end of the chart', () => {
    const r = syntheticRun({ failoverMs: 9000 });
    const [chart] = timelineOf(r, null, 'x');
    const fault = chart!.bands.find((b) => b.kind === 'fault')!;
    expect(fault).toMatchObject({ open: true, to: chart!.x.at(-1) });
    expect(fault.label).toMatch(/, not recovered$/);
  });

  it('explains full redundancy that comes before the failover', () => {
    const early = syntheticRun({ convergedAfterMs: 1300 });
    const [chart] = timelineOf(early, null, 'x');
    const m = chart!.markers.find((x) => x.kind === 'converged')!;
    expect(m.label).toBe('full redundancy 1.30 s after fault #1 injected (before the failover)');
    expect(m.note).toMatch(
      /^Full redundancy \(1\.30 s after fault #1 was applied\) comes 201 ms before probe writes's failover \(1\.50 s\): the topology had healed/,
    );
    expect(chart!.notes[0]).toBe(m.note);
    const late = timelineOf(syntheticRun(), null, 'x')[0]!;
    expect(late.markers.find((x) => x.kind === 'converged')!.note).toBeUndefined();
    expect(convergedEarly(early, early.probes[0]!, 3600)).toBeNull();
  });

  it('never puts full redundancy before the applied instant: seen whole throughout, it held from there', () => {
    // The watcher's streak began before the fault took effect (injected at 1985, applied at 2000).
    const r = syntheticRun({ convergedAfterMs: -10 });
    const note = convergedEarly(r, r.probes[0]!, 1990)!;
    expect(note).toMatch(
      /^Full redundancy \(held from the moment fault #1 was applied: the topology was never seen broken\) comes 1\.50 s before probe writes's failover \(1\.50 s\)/,
    );
    expect(note).not.toMatch(/-\d+ ms/);
  });

  it('turns the 250 ms series into writes per second, leaving out the partial buckets at either end', () => {
    const r = syntheticRun();
    const [chart] = timelineOf(r, null, 'x');
    const counts = r.probes[0]!.series.counts;
    expect(chart!.x).toHaveLength(counts.length + 1);
    expect(chart!.ok[0]).toBeNull();
    expect(chart!.ok[counts.length - 1]).toBeNull();
    expect(chart!.ok[counts.length]).toBeNull();
    expect(chart!.ok[1]).toBe(counts[1]![0] * 4);
    const drawn = (v: (number | null)[]) =>
      v.slice(1, counts.length - 1).reduce<number>((a, b) => a + (b ?? 0), 0);
    expect(drawn(chart!.fail)).toBe(counts.slice(1, -1).reduce((a, c) => a + c[1], 0) * 4);
    expect(chart!.notes.at(-1)).toMatch(/^The first and the last 250 ms bucket are partial/);
  });

  it('places the longest stall from the history, as the checker measured it', () => {
    const { dir, result } = writeRunFolder(mkdtempSync(join(tmpdir(), 'chaos-runs-')));
    const a = result.probes[0]!.windows[0]!.availability;
    const h = historyFiguresOf(historyFileOf(result, dir), result)!;
    const [stall] = h.stalls.get('writes')!;
    expect(stall).toEqual({ fault: 0, from: 2001, to: a.recoveredAt, ms: a.longestStallMs, open: false });
    const [chart] = timelineOf(result, h, 'x');
    expect(chart!.bands.find((b) => b.kind === 'stall')).toMatchObject({ from: 0.001, to: 1.501 });
    expect(h.after.get('writes')).toEqual({ p50: 1, p99: 1, max: 1 });
    expect(afterOf(result, result.probes[0]!)).toBe(a.recoveredAt);
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
    // seconds from the fault's applied instant (2000 ms on the run's clock)
    expect(html).toMatch(/"lags":\[\{"id":"[^"]+-lag0","system":"redis","unit":"bytes","x":\[0,0\.25,0\.5\]/);
    expect(html).toMatch(
      /data-figure="false-failovers" class="bad">redis-a → redis-b at \+1\.000 s \(during #1 latency\)/,
    );
  });
});

describe('the HTML report at a glance', () => {
  const runs = () => mkdtempSync(join(tmpdir(), 'chaos-runs-'));
  const page = (dir: string, linkBase: string | null = dir) => {
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    return renderHtml({ runs: [{ result, dir }] }, linkBase);
  };
  const dataOf = (html: string) =>
    JSON.parse(/<script type="application\/json" id="chaos-data">(.*?)<\/script>/s.exec(html)![1]!);

  it('says where its times count from, and counts every time from there', () => {
    const r = syntheticRun();
    r.timeline.push({ t: 2103.4567, source: 'agent:redis-b', type: 'lease-renewed', data: {} });
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    expect(html).toContain('data-origin="2000" data-origin-fault="0"');
    expect(html).toContain(
      'Every time on this page is seconds from fault #1&apos;s applied instant (2026-11-20 02:00:02.000 UTC, 2.00 s after the run started)',
    );
    expect(dataOf(html).runs[0]).toMatchObject({ origin: 2000, originLabel: 'fault #1 applied' });
    // the events, the faults and the leader moves on the same clock
    expect(html).toMatch(/<tr><td class="num">−0\.015 s<\/td><td>fault<\/td><td>fault-injected<\/td>/);
    expect(html).toMatch(
      /<tr><td class="num">\+0\.103 s<\/td><td>agent:redis-b<\/td><td>lease-renewed<\/td>/,
    );
    expect(html).toMatch(/<tr><td class="num">−2\.500 s<\/td><td>harness<\/td><td>phase-start<\/td>/);
    expect(html).toMatch(
      /<tr data-fault="0"><td>fault #1<\/td><td>kill redis:head<\/td><td>redis-a<\/td><td class="num">−0\.015 s<\/td><td class="num">\+0\.000 s<\/td><td class="num" data-figure="apply-gap">15 ms<\/td>/,
    );
    expect(html).toContain('redis-head moved at +1.460 s, 1.46 s after fault #1 was applied');
    expect(html).toContain('redis-a → redis-b at +1.460 s');
    // and durations say what they count from
    const a = r.probes[0]!.windows[0]!.availability;
    expect(html).toContain(
      `after fault #1 was applied: the first write that stays ok, at +${((a.recoveredAt! - 2000) / 1000).toFixed(3)} s, ±10 ms`,
    );
    expect(html).toContain('after fault #1&apos;s injection (the last fault), at +1.700 s, ±250 ms');
  });

  it("counts from the run's own start when no fault was applied", () => {
    const r = syntheticRun({ status: 'aborted' });
    r.faults = [];
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    expect(originOf(r)).toEqual({ t: 0, fault: null, label: "the run's start" });
    expect(html).toContain('data-origin="0" data-origin-fault=""');
    expect(html).toContain('seconds from the run&apos;s clock origin (2026-11-20 02:00:00.000 UTC)');
  });

  it("puts the fault's applied instant beside its injection, the gap as a figure", () => {
    const html = renderHtml({ runs: [{ result: syntheticRun(), dir: null }] });
    expect(html).toContain(
      '<div class="figure" data-figure="apply-lag" data-value="15" data-fault="0" data-injected="1985" data-applied="2000"><span class="label">fault #1 applied</span><span class="value">+15 ms</span><span class="note">after its injection at −0.015 s: the time the provider took to carry it out; applied at +0.000 s, where the figures count from</span></div>',
    );
    expect(html.indexOf('data-figure="apply-lag"')).toBeLessThan(html.indexOf('data-figure="failover"'));
  });

  it('has a stall card per probe and window, placed on the clock when the history is there', () => {
    const bare = renderHtml({ runs: [{ result: syntheticRun(), dir: null }] });
    expect(bare).toMatch(
      /data-figure="stall" data-value="1500" data-probe="writes" data-fault="0"><span class="label">fault #1 longest stall<\/span><span class="value">1500 ms<\/span><span class="note">the longest stretch with no write acknowledged, after fault #1 was applied<\/span>/,
    );
    const { dir } = writeRunFolder(runs());
    const html = page(dir);
    expect(html).toMatch(
      /data-figure="stall" data-value="1500" data-probe="writes" data-fault="0" data-from="2001" data-to="3501">[\s\S]*?after fault #1 was applied: \+0\.001 s -&gt; \+1\.501 s</,
    );
    expect(dataOf(html).runs[0].charts[0].bands.map((b: { kind: string }) => b.kind)).toContain('stall');
  });

  it('explains full redundancy before the failover under the chart and on its figure', () => {
    const html = renderHtml({ runs: [{ result: syntheticRun({ convergedAfterMs: 1300 }), dir: null }] });
    expect(html).toMatch(
      /data-figure="full-redundancy" data-value="1300" data-system="redis" data-early="true"/,
    );
    expect(html).toContain(
      'before the probe&apos;s failover: the topology healed first (see under the chart)',
    );
    expect(html).toMatch(
      /<p class="chart-note">Full redundancy \(1\.30 s after fault #1 was applied\) comes 201 ms before/,
    );
    expect(renderHtml({ runs: [{ result: syntheticRun(), dir: null }] })).not.toContain('data-early');
  });

  it('shows events as rounded key=value text, not JSON', () => {
    expect(
      keyValues({
        downForMs: 1000.123456,
        nodes: ['redis-a', 'redis-b'],
        message: 'two words',
        lag: { bytes: 0.000123456, node: null },
        ok: true,
        empty: '',
        small: 2.74512,
      }),
    ).toBe(
      'downForMs=1000 nodes=redis-a,redis-b message="two words" lag.bytes=0.00012 lag.node=none ok=true empty="" small=2.7',
    );
    const r = syntheticRun();
    r.timeline.push({
      t: 2500.000001,
      source: 'agent:redis-c',
      type: 'reattached',
      data: { to: 'redis-b', tookMs: 12.34567 },
    });
    const html = renderHtml({ runs: [{ result: r, dir: null }] });
    expect(html).toContain('<td class="kv">to=redis-b tookMs=12.3</td>');
    expect(html).toContain('<td class="kv">deadMaster=redis-a downForMs=1000</td>');
    const events = html.slice(html.indexOf('<table class="events">'));
    expect(events).not.toMatch(/\{&quot;|\d\.\d{4,}/);
  });

  it('states the hypothesis, and the steady state before and after side by side', () => {
    const { dir, result } = writeRunFolder(runs(), { failoverMs: 3200 });
    const html = page(dir);
    expect(html).toContain(
      '<p>In steady state (at least 99 % of writes succeed over 2.00 s), when fault #1 kill redis:head, we expect:</p>',
    );
    expect(html).toContain(
      '<li data-hypothesis="failover time &lt;= 3000 ms">failover time &lt;= 3000 ms <span class="muted">(fault #1 writes)</span></li>',
    );
    expect(html).toContain('<li data-hypothesis="recovered: writes succeed again and keep succeeding">');
    expect(html).toMatch(/<p class="bad" data-held="false">It did not hold: 1 of \d+ expectations broke/);
    expect(html.indexOf('data-section="hypothesis"')).toBeLessThan(html.indexOf('class="figures"'));
    const steady = html.slice(html.indexOf('data-section="steady-state"'));
    expect(steady).toMatch(
      /<tr data-system="redis" data-row="leader"><td>leader<\/td><td>redis-a<\/td><td>redis-b<\/td><\/tr>/,
    );
    expect(steady).toContain(
      '<tr data-system="redis" data-row="members"><td>members</td><td>redis-a → redis-b → redis-c</td><td>redis-b → redis-c</td></tr>',
    );
    expect(steady).toContain(
      '<tr data-system="redis" data-node="redis-a"><td><code>redis-a</code></td><td>master, AZ a</td><td><span class="bad">down</span></td></tr>',
    );
    const p = result.probes[0]!;
    expect(steady).toContain(
      `<tr data-probe="writes" data-row="rate"><td>writes ok writes/s</td><td>${p.steadyState.okPerSec.toFixed(1)}</td><td>100.0</td></tr>`,
    );
    expect(steady).toMatch(
      /<tr data-probe="writes" data-row="ok"><td>writes writes ok<\/td><td>200 of 200 \(100 %\)<\/td><td>\d+ of \d+ \(100 %\) <span class="muted">over [^<]+<\/span><\/td><\/tr>/,
    );
    expect(steady).toContain(
      '<tr data-probe="writes" data-row="latency"><td>writes latency</td><td>p50 1.00, p99 1.00, max 1.00 ms</td><td>p50 1.00, p99 1.00, max 1.00 ms</td></tr>',
    );
    // a run that passed held
    expect(renderHtml({ runs: [{ result: syntheticRun(), dir: null }] })).toMatch(
      /<p class="good" data-held="true">It held: all \d+ expectations passed\.<\/p>/,
    );
  });

  it('embeds the scenario as run, folded, and links each node log and the run files relatively', () => {
    const root = runs();
    const { dir } = writeRunFolder(root);
    const html = page(dir);
    const block = /<details class="scenario" data-section="scenario">([\s\S]*?)<\/details>/.exec(html)![1]!;
    expect(block).toContain('name: redis-head-kill');
    expect(block).toContain('maxFailoverMs: 3000');
    expect(block).toContain('<a href="scenario.json">scenario.json</a>');
    expect(html).toContain(
      '<li><a href="logs/redis-a.agent.log"><code>redis-a</code></a> <span class="muted">agent, 22 B</span></li>',
    );
    expect(html.match(/href="logs\/[^"]+\.log"/g)).toHaveLength(6);
    expect(html).toContain('<a href="history.jsonl"><code>history.jsonl</code></a>');
    // from a suite's page elsewhere, the links climb to the run folder
    const suite = page(dir, join(root, 'suites', 'nightly', 'x'));
    expect(suite).toContain(
      `href="../../../redis-head-kill/${encodeURIComponent(dir.split('/').at(-1)!)}/logs/redis-a.agent.log"`,
    );
    // without a run folder there is nothing to link or embed
    const bare = renderHtml({ runs: [{ result: syntheticRun(), dir: null }] });
    expect(bare).not.toContain('data-section="scenario"');
    expect(bare).not.toContain('data-section="logs"');
  });

  it('compares with the previous run of the same scenario when there is one', () => {
    const root = runs();
    const first = writeRunFolder(root, {
      runId: 'aaaa0001',
      startedAt: '2026-11-19T02:00:00.000Z',
      failoverMs: 1000,
    });
    writeRunFolder(root, { runId: 'aaaa0002', startedAt: '2026-11-19T03:00:00.000Z', failoverMs: 1100 });
    rmSync(join(root, 'redis-head-kill', '2026-11-19T03-00-00-000Z-aaaa0002', 'result.json')); // died: no result
    const { dir } = writeRunFolder(root, {
      runId: 'bbbb0001',
      startedAt: '2026-11-20T02:00:00.000Z',
      failoverMs: 1500,
    });
    writeRunFolder(root, { runId: 'cccc0001', startedAt: '2026-11-21T02:00:00.000Z' }); // later: never a baseline
    const r = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect(previousRunOf(dir, r)!.dir).toBe(first.dir);
    writeFileSync(join(first.dir, 'report.html'), '<!doctype html>');
    const html = page(dir);
    expect(html).toMatch(/data-section="comparison" data-baseline="aaaa0001" data-regressions="3"/);
    expect(html).toContain(
      'Run aaaa0001 of the same scenario, 2026-11-19 02:00:00 UTC, harness at 0123456+'.replace('+', ''),
    );
    expect(html).toContain('(<a href="../2026-11-19T02-00-00-000Z-aaaa0001/report.html">its report</a>)');
    expect(html).toMatch(
      /<tr data-figure-moved="failover time" data-regression="true"><td class="mark fail">✘<\/td><td>fault #1<\/td><td>failover time 1\.00 s -&gt; 1\.50 s, \+50 %, above the 25 % regression bound<\/td><\/tr>/,
    );
    // the first run has none before it
    expect(page(first.dir)).not.toContain('data-section="comparison"');
  });
});
