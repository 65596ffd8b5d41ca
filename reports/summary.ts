import pc from 'picocolors';
import type { RunResult } from '../engine/result.ts';

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`);
const sec = (v: number) => `${(v / 1000).toFixed(1)} s`;
const rel = (t: number | null, from: number) => (t === null ? '—' : `+${Math.round(t - from)} ms`);

/** The summary an SRE reads at a glance, as plain text (colours only where the stream is a TTY). */
export function formatSummary(r: RunResult, colors = pc.isColorSupported): string {
  const c = pc.createColors(colors);
  const verdict =
    r.status !== 'completed'
      ? c.bold(c.red(r.status.toUpperCase()))
      : r.verdict === 'pass'
        ? c.bold(c.green('PASS'))
        : r.verdict === 'fail'
          ? c.bold(c.red('FAIL'))
          : c.bold(c.yellow('UNKNOWN'));
  const lines: string[] = [];
  lines.push(`${c.bold(r.scenario.name)}  ${verdict}  run ${r.runId}, ${sec(r.durationMs)}`);
  lines.push(c.dim(`  ${r.runDir}`));
  if (r.error)
    lines.push(
      c.red(`  error[${r.error.code}]: ${r.error.message}${r.error.hint ? ` (${r.error.hint})` : ''}`),
    );
  const row = (label: string, value: string, note = '') =>
    lines.push(`  ${label.padEnd(13)}${value}${note ? c.dim(`   ${note}`) : ''}`);
  lines.push('');

  for (const f of r.faults) {
    row(
      'fault',
      `${f.action} ${f.target} -> ${f.nodes.join(', ')}${f.peers ? ` from ${f.peers.join(', ')}` : ''}`,
      `at ${ms(f.tInject)}${f.measured ? ', measured' : ''}; ${f.method}`,
    );
  }
  const a = r.figures.availability;
  if (a) {
    row('detection', ms(a.detectionMs), 'fault -> the first failed write is seen (its completion)');
    row(
      'unavailable',
      a.window
        ? a.unavailabilityMs === null
          ? 'still down'
          : ms(a.unavailabilityMs)
        : '0 ms (no failed write)',
      'the first failed write is sent -> the first success after the last failure',
    );
    row(
      'failover',
      a.recovered ? ms(a.failoverMs) : c.red('never recovered'),
      'fault -> the first successful write with no failure after it',
    );
    if (a.outages > 1) row('flapping', `${a.outages} separate outages`);
  }
  const h = r.head;
  if (h.before || h.after) {
    const from = a?.faultAt ?? 0;
    row(
      'head',
      `${h.before ?? '?'} -> ${h.after ?? '?'}`,
      `promoted ${rel(h.promotedAt, from)}, head record moved ${rel(h.recordMovedAt, from)} after the fault`,
    );
  }
  if (r.topology.after) {
    const gone = r.topology.after.nodes.filter((n) => !n.reachable).map((n) => n.name);
    row(
      'chain after',
      r.topology.after.chain.join(' -> ') || '—',
      gone.length ? `gone: ${gone.join(', ')}` : '',
    );
  }
  const w = r.figures.writes;
  if (w) {
    const lost =
      w.lost === null
        ? c.yellow('lost unknown (no read-back)')
        : w.lost > 0
          ? c.red(`lost ${w.lost}`)
          : c.green('lost 0');
    row(
      'writes',
      `${w.attempted} attempted, ${w.acknowledged} acknowledged, ${w.failed} failed, ${w.unknown} unknown; ${lost}`,
      w.lost === null ? '' : `unknown found in read-back: ${w.unknownRecovered}`,
    );
    if (w.lost)
      row(
        '',
        `lost: ${w.lostSeqs.slice(0, 20).join(', ')}${w.lost > 20 ? ` … (${w.lost} in all, every one in result.json)` : ''}`,
      );
    if (w.failedButPresent)
      row('', c.yellow(`${w.failedButPresent} writes reported failed are present anyway`));
    if (w.unexpected) row('', c.red(`${w.unexpected} values read back were never written`));
  }
  for (const p of r.probes) {
    const lat = p.latencyMs
      ? `p50 ${p.latencyMs.p50.toFixed(2)} ms, p99 ${p.latencyMs.p99.toFixed(2)} ms, max ${p.latencyMs.max.toFixed(0)} ms`
      : 'no successful write';
    row(
      'throughput',
      `${p.okPerSec.toFixed(1)} ok writes/s`,
      `steady state ${p.steadyState.okPerSec.toFixed(1)}/s; latency ${lat}`,
    );
    const s = p.settings;
    row(
      'client',
      `${s.library}, one request in flight at ${s.rateHz || 'max'}/s`,
      `connect timeout ${s.connectTimeoutMs} ms, command timeout ${s.commandTimeoutMs} ms, ${s.maxRetriesPerRequest} retries, backoff ${s.retryBackoffMs} ms`,
    );
  }
  if (r.expectations.length) {
    lines.push('');
    lines.push('  expectations');
    for (const e of r.expectations) {
      const mark = e.verdict === 'pass' ? c.green('✔') : e.verdict === 'fail' ? c.red('✘') : c.yellow('?');
      lines.push(`    ${mark} ${e.name.padEnd(34)} ${e.actual}${c.dim(`   expected ${e.expected}`)}`);
    }
  }
  if (r.checkerError) lines.push(c.yellow(`  checker: ${r.checkerError}`));
  return lines.join('\n');
}
