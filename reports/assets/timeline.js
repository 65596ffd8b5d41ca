// Draws the charts of a chaos-harness report with uPlot (inlined beside this script). The data
// comes from the page's JSON block: per probe, operations per bucket and latency per bucket,
// plus the bands (fault windows to the probe's recovery, the time a fault was in force,
// unavailability, the longest stall) and markers (applied, failover, detection, agent
// decisions, endpoint-record moves, full redundancy) that are laid over the plot as elements,
// one per thing shown, each with its time in data attributes. Times are seconds from the run's
// origin (its first fault's applied instant), negative before it.
/* global uPlot */
(() => {
  const data = JSON.parse(document.getElementById('chaos-data').textContent);
  const charts = [];
  const COLORS = {
    ok: '#1a7f37',
    fail: '#cf222e',
    unknown: '#bf8700',
    p50: '#0969da',
    p99: '#8250df',
    max: '#57606a',
  };

  function layer(u) {
    let el = u.over.querySelector('.annotations');
    if (!el) {
      el = document.createElement('div');
      el.className = 'annotations';
      u.over.appendChild(el);
    }
    el.textContent = '';
    return el;
  }

  function annotate(u, chart, labels) {
    const el = layer(u);
    const { min, max } = u.scales.x;
    const pos = (t) => u.valToPos(Math.min(Math.max(t, min), max), 'x');
    const width = u.over.clientWidth;
    let faultRow = 0;
    for (const b of chart.bands) {
      const band = document.createElement('div');
      band.className = `band ${b.kind}${b.open ? ' open' : ''}`;
      const left = pos(b.from);
      band.style.left = `${left}px`;
      band.style.width = `${Math.max(2, pos(b.to) - left)}px`;
      band.title = b.label;
      band.dataset.from = String(b.from);
      band.dataset.to = String(b.to);
      band.dataset.fault = String(b.fault);
      // the fault's window and the outage carry their words; the rest say theirs on hover
      if (labels && (b.kind === 'fault' || b.kind === 'unavailable')) {
        const tag = document.createElement('span');
        tag.className = 'band-label';
        tag.textContent = b.label;
        // several faults' words one above the other, not on top of each other
        if (b.kind === 'fault') tag.style.bottom = `${8 + 15 * faultRow++}px`;
        band.appendChild(tag);
      }
      el.appendChild(band);
    }
    const rows = [];
    for (const m of chart.markers) {
      const mark = document.createElement('div');
      mark.className = `marker ${m.kind}`;
      const x = pos(m.t);
      mark.style.left = `${x}px`;
      mark.dataset.t = String(m.t);
      if (m.value !== undefined) mark.dataset.value = String(m.value);
      if (m.fault !== undefined) mark.dataset.fault = String(m.fault);
      mark.title = `${m.label} (at ${signed(m.t, 3)} s)${m.note ? `\n${m.note}` : ''}`;
      if (m.note) mark.classList.add('noted');
      el.appendChild(mark);
      if (!labels) continue;
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = m.label;
      mark.appendChild(tag);
      const w = tag.offsetWidth;
      const flip = x + w + 4 > width;
      const from = flip ? x - w - 4 : x;
      let row = rows.findIndex((right) => from > right + 6);
      if (row === -1) row = rows.length < 10 ? rows.length : rows.length - 1;
      rows[row] = from + w;
      if (flip) mark.classList.add('flip');
      tag.style.top = `${30 + row * 19}px`;
    }
  }

  function overlay(chart, labels) {
    const draw = (u) => annotate(u, chart, labels);
    return { hooks: { ready: [draw], setSize: [draw], setScale: [(u, key) => key === 'x' && draw(u)] } };
  }

  const signed = (v, digits) => `${v < 0 ? '−' : v > 0 ? '+' : ''}${Math.abs(v).toFixed(digits)}`;
  const seconds = (u, vals) =>
    vals.map((v) => `${v < 0 ? '−' : v > 0 ? '+' : ''}${+Math.abs(v).toFixed(2)} s`);
  const tValue = (u, v) => (v == null ? '—' : `${signed(v, 2)} s`);

  function opsChart(chart, host, width, sync) {
    const stepped = uPlot.paths.stepped({ align: 1 });
    const line = (label, color, fill) => ({
      label,
      stroke: color,
      width: 1.5,
      fill,
      paths: stepped,
      points: { show: false },
      scale: 'ops',
      value: (u, v) => (v == null ? '—' : `${Math.round(v)}/s`),
    });
    return new uPlot(
      {
        width,
        height: 320,
        cursor: { sync: { key: sync } },
        scales: { x: { time: false }, ops: { range: (u, lo, hi) => [0, Math.max(10, hi * 1.1)] } },
        axes: [
          { values: seconds, label: `seconds from ${chart.originLabel}` },
          { scale: 'ops', label: 'writes per second', size: 60 },
        ],
        series: [
          { label: 't', value: tValue },
          line('ok', COLORS.ok, 'rgba(26,127,55,0.12)'),
          line('fail', COLORS.fail, 'rgba(207,34,46,0.25)'),
          line('unknown', COLORS.unknown, 'rgba(191,135,0,0.25)'),
        ],
        plugins: [overlay(chart, true)],
      },
      [chart.x, chart.ok, chart.fail, chart.unknown],
      host,
    );
  }

  function latencyChart(chart, host, width, sync) {
    const positive = (v) => v.map((x) => (x == null || x <= 0 ? null : x));
    const line = (label, color) => ({
      label,
      stroke: color,
      width: 1.25,
      paths: uPlot.paths.stepped({ align: 1 }),
      points: { show: false },
      scale: 'ms',
      spanGaps: false,
      value: (u, v) => (v == null ? '—' : `${v < 10 ? v.toFixed(2) : Math.round(v)} ms`),
    });
    return new uPlot(
      {
        width,
        height: 170,
        cursor: { sync: { key: sync } },
        scales: { x: { time: false }, ms: { distr: 3 } },
        axes: [{ values: seconds }, { scale: 'ms', label: 'ok latency, ms', size: 60 }],
        series: [
          { label: 't', value: tValue },
          line('p50', COLORS.p50),
          line('p99', COLORS.p99),
          line('max', COLORS.max),
        ],
        plugins: [overlay(chart, false)],
      },
      [chart.x, positive(chart.latency.p50), positive(chart.latency.p99), positive(chart.latency.max)],
      host,
    );
  }

  const LAG_COLORS = ['#0969da', '#8250df', '#bf3989', '#1a7f37', '#bc4c00', '#57606a'];
  function lagChart(chart, host, width, sync) {
    const line = (label, i) => ({
      label,
      stroke: LAG_COLORS[i % LAG_COLORS.length],
      width: 1.5,
      points: { show: false },
      scale: 'lag',
      spanGaps: false,
      value: (u, v) => (v == null ? '—' : `${Math.round(v)} ${chart.unit}`),
    });
    return new uPlot(
      {
        width,
        height: 200,
        cursor: { sync: { key: sync } },
        scales: { x: { time: false }, lag: { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] } },
        axes: [{ values: seconds }, { scale: 'lag', label: `lag, ${chart.unit}`, size: 70 }],
        series: [{ label: 't', value: tValue }, ...chart.nodes.map((n, i) => line(n, i))],
        plugins: [overlay(chart, false)],
      },
      [chart.x, ...chart.values],
      host,
    );
  }

  for (const run of data.runs) {
    for (const chart of [...(run.lags || []), ...run.charts])
      chart.originLabel = run.originLabel || 'the run started';
    for (const chart of run.lags || []) {
      const host = document.getElementById(chart.id);
      if (!host || chart.x.length < 2) continue;
      const el = document.createElement('div');
      el.className = 'lag-plot';
      host.appendChild(el);
      charts.push([host, lagChart(chart, el, Math.max(320, host.clientWidth), run.id)]);
      host.dataset.drawn = 'true';
    }
    for (const chart of run.charts) {
      const host = document.getElementById(chart.id);
      if (!host || chart.x.length < 2) continue;
      const width = Math.max(320, host.clientWidth);
      const ops = document.createElement('div');
      ops.className = 'ops';
      host.appendChild(ops);
      charts.push([host, opsChart(chart, ops, width, run.id)]);
      if (chart.latency) {
        const lat = document.createElement('div');
        lat.className = 'latency';
        host.appendChild(lat);
        charts.push([host, latencyChart(chart, lat, width, run.id)]);
      }
      host.dataset.drawn = 'true';
    }
  }
  let pending = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const [host, u] of charts) u.setSize({ width: Math.max(320, host.clientWidth), height: u.height });
    });
  });
  document.body.dataset.chartsReady = String(charts.length);
})();
