// Draws the trend page of chaos-harness with uPlot (inlined beside this script): per scenario,
// failover and unavailability (ms, left) and lost writes (right) run after run, each run's
// verdict as a dot along the top.
/* global uPlot */
(() => {
  const data = JSON.parse(document.getElementById('chaos-data').textContent);
  const COLORS = { failover: '#1a7f37', unavailability: '#cf222e', lost: '#8250df' };
  const OUTCOME = { pass: '#1a7f37', fail: '#cf222e', broken: '#bf8700' };
  const charts = [];

  function verdicts(t) {
    const draw = (u) => {
      let el = u.over.querySelector('.annotations');
      if (!el) {
        el = document.createElement('div');
        el.className = 'annotations';
        u.over.appendChild(el);
      }
      el.textContent = '';
      t.outcomes.forEach((o, i) => {
        const dot = document.createElement('div');
        dot.className = `run-dot ${o}`;
        dot.style.cssText = `position:absolute;top:4px;width:10px;height:10px;border-radius:5px;margin-left:-5px;background:${OUTCOME[o]};pointer-events:auto`;
        dot.style.left = `${u.valToPos(i, 'x')}px`;
        dot.title = `${t.runs[i]}: ${o}`;
        dot.dataset.outcome = o;
        el.appendChild(dot);
      });
    };
    return { hooks: { ready: [draw], setSize: [draw] } };
  }

  for (const t of data.trends) {
    const host = document.getElementById(t.id);
    if (!host) continue;
    const x = t.labels.map((_, i) => i);
    const series = (label, color, scale, fmt) => ({
      label,
      stroke: color,
      width: 2,
      scale,
      spanGaps: true,
      points: { show: true, size: 7, fill: color },
      value: (u, v) => (v == null ? '—' : fmt(v)),
    });
    const ms = (v) => (v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`);
    const u = new uPlot(
      {
        width: Math.max(320, host.clientWidth),
        height: 260,
        scales: {
          x: { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] },
          ms: { range: (u, lo, hi) => [0, Math.max(100, (hi || 0) * 1.15)] },
          n: { range: (u, lo, hi) => [0, Math.max(5, (hi || 0) * 1.15)] },
        },
        axes: [
          {
            values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? (t.labels[v] ?? '') : '')),
            size: 50,
            space: 70,
          },
          { scale: 'ms', label: 'failover, unavailability (ms)', size: 64 },
          { scale: 'n', side: 1, label: 'lost writes', grid: { show: false }, size: 50 },
        ],
        series: [
          { label: 'run', value: (u, v) => (v == null ? '—' : (t.runs[v] ?? '')) },
          series('failover', COLORS.failover, 'ms', ms),
          series('unavailability', COLORS.unavailability, 'ms', ms),
          series('lost writes', COLORS.lost, 'n', (v) => String(v)),
        ],
        plugins: [verdicts(t)],
      },
      [x, t.failover, t.unavailability, t.lost],
      host,
    );
    charts.push([host, u]);
    host.dataset.drawn = 'true';
  }
  window.addEventListener('resize', () => {
    for (const [host, u] of charts) u.setSize({ width: Math.max(320, host.clientWidth), height: u.height });
  });
  document.body.dataset.chartsReady = String(charts.length);
})();
