import pc from 'picocolors';
import { formatErrorLine } from '../core/errors.ts';
import { FAULTS, type FaultAction } from '../core/faults.ts';
import type {
  AvailabilityFigures,
  FaultLatency,
  FaultRecord,
  PhaseLatency,
  ProbeResult,
  RunResult,
  SystemResult,
} from '../core/result.ts';
import { appliedAt, sinceFault } from './format.ts';

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`);
const sec = (v: number) => `${(v / 1000).toFixed(1)} s`;
const plus = (t: number, from: number) => `+${Math.round(t - from)} ms`;
/** `t` from a fault as `plus` gives it from its applied instant, or from its injection, saying so. */
const fromFault = (t: number, f: FaultRecord) => {
  const at = sinceFault(t, f);
  const v = Math.round(at.ms);
  if (at.from === 'applied') return `+${v} ms`;
  return v >= 0 ? `+${v} ms after the injection, before it was applied` : `${v} ms before the injection`;
};
const faultName = (i: number) => `fault #${i + 1}`;

/** What an agent decision says, in a few words. */
function describeAction(type: string, data: Record<string, unknown>): string {
  const v = (k: string) => (data[k] === null || data[k] === undefined ? 'none' : String(data[k]));
  switch (type) {
    case 'reattached':
      return `re-attached to ${v('to')} (was ${v('from')})`;
    case 'became-head':
      return 'became the head';
    case 'failover-decision':
      return `declared ${v('deadMaster')} dead after ${Math.round(Number(data.downForMs ?? 0))} ms`;
    case 'rejoined':
      return `rejoined the chain behind ${v('master')}`;
    case 'removed-dead-tail':
      return `removed the dead tail ${v('tail') === 'none' ? v('node') : v('tail')}`;
    default:
      return type.replace(/-/g, ' ');
  }
}

/** The summary an SRE reads at a glance, as plain text (colours only where the stream is a TTY). */
export function formatSummary(r: RunResult, colors = pc.isColorSupported): string {
  const c = pc.createColors(colors);
  const lines: string[] = [];
  const row = (label: string, value: string, note = '', indent = 2) =>
    lines.push(
      `${' '.repeat(indent)}${label.padEnd(Math.max(16 - indent, label.length + 1))}${value}${note ? c.dim(`   ${note}`) : ''}`,
    );

  const verdict =
    r.status !== 'completed'
      ? c.bold(c.red(r.status.toUpperCase()))
      : r.verdict === 'pass'
        ? c.bold(c.green('PASS'))
        : r.verdict === 'fail'
          ? c.bold(c.red('FAIL'))
          : c.bold(c.yellow('UNKNOWN'));
  lines.push(`${c.bold(r.scenario.name)}  ${verdict}  run ${r.runId}, ${sec(r.durationMs)}`);
  lines.push(c.dim(`  ${r.runDir}`));
  if (r.error) lines.push(c.red(`  ${formatErrorLine(r.error)}`));
  for (const w of r.warnings) lines.push(c.yellow(`  warning: ${w}`));
  lines.push('');

  if (r.faults.length === 0) row('faults', 'none injected');
  for (const f of r.faults) faultSection(f, r, row, c);

  for (const s of r.systems) systemSection(s, row, c, r.status === 'completed');
  for (const p of r.probes) probeSection(p, row, c, r.probes.length > 1);

  if (r.status !== 'completed') {
    lines.push('');
    lines.push(
      c.yellow(
        `  expectations not judged: the run ${r.status === 'incomplete' ? 'did not finish' : `was ${r.status}`}`,
      ),
    );
  } else if (r.expectations.length) {
    lines.push('');
    lines.push('  expectations');
    // With several probes or systems, each expectation says whose it is.
    const many = r.probes.length > 1 || r.systems.length > 1;
    for (const e of r.expectations) {
      const mark = e.verdict === 'pass' ? c.green('✔') : e.verdict === 'fail' ? c.red('✘') : c.yellow('?');
      const who = many ? (e.scope.probe ?? e.scope.system) : undefined;
      const label = [e.scope.fault !== undefined ? faultName(e.scope.fault) : '', who ?? '', e.name]
        .filter(Boolean)
        .join(' ');
      lines.push(`    ${mark} ${label.padEnd(36)} ${e.actual}${c.dim(`   expected ${e.expected}`)}`);
    }
  }
  if (r.checkerError) lines.push(c.yellow(`  checker: ${r.checkerError}`));
  return lines.join('\n');
}

type Row = (label: string, value: string, note?: string, indent?: number) => void;
type Colors = ReturnType<typeof pc.createColors>;

function faultSection(f: FaultRecord, r: RunResult, row: Row, c: Colors): void {
  const { probes, systems } = r;
  const ended = r.status === 'completed';
  const what = `${f.action} ${f.target}`;
  if (f.status === 'skipped') {
    row(faultName(f.index), `${what}: ${c.yellow('skipped')}`, f.reason ?? '');
    return;
  }
  const window = probes.some((p) => p.windows.some((w) => w.fault === f.index));
  const revertible =
    f.action in FAULTS && FAULTS[f.action as FaultAction].revertible && f.action !== 'drop-az';
  const reverted =
    r.status === 'incomplete' && revertible && f.tReverted === undefined
      ? c.yellow(', never reverted: the process died (the node may still be stopped or paused)')
      : f.tReverted !== undefined
        ? `, reverted ${plus(f.tReverted, f.tInject)}${f.tRevertDue !== undefined && f.tReverted - f.tRevertDue > 100 ? ` (due ${plus(f.tRevertDue, f.tInject)}; the revert took the rest)` : ''}`
        : f.revertError
          ? `, revert failed: ${f.revertError}`
          : '';
  // The figures below are measured from the applied instant; so are the agents' acts (fromFault).
  const applied = appliedAt(f);
  const lag = applied > f.tInject ? `, applied ${plus(applied, f.tInject)}` : '';
  row(
    faultName(f.index),
    `${what} -> ${f.nodes.join(', ')}${f.peers ? ` from ${f.peers.join(', ')}` : ''}`,
    `at ${ms(f.tInject)}${lag}${reverted}${window ? '' : f.measured ? '' : ', not measured on its own'}; ${f.method ?? "not confirmed applied: the run ended before the fault's call returned"}`,
  );
  for (const p of probes) {
    const w = p.windows.find((x) => x.fault === f.index);
    if (!w) continue;
    if (probes.length > 1) lines(row, `probe ${p.name}`, p.system);
    availabilityRows(w.availability, p, row, c, ended);
    const l = p.latencyByFault?.find((x) => x.fault === f.index);
    if (l) latencyRows(l, row, c, f.tReverted !== undefined);
  }
  if (!window) return;
  for (const system of systems) {
    const moves = system.leadership.filter((l) => l.fault === f.index);
    const label = systems.length > 1 ? `${system.name} leader` : 'leader';
    for (const m of moves) {
      const falsely = system.falseFailovers?.some((x) => x.t === m.t && x.to === m.to);
      row(
        falsely ? `${label} (false failover)` : label,
        `${m.from ?? '?'} -> ${m.to}${falsely ? c.yellow(' while every node was up') : ''}`,
        `${m.promotedAt === null ? 'no promotion event' : `promoted ${fromFault(m.promotedAt, f)}`}, ${system.leadershipRecord ?? 'endpoint'} record moved ${fromFault(m.t, f)}`,
        4,
      );
    }
    if (moves.length > 0) continue;
    const acts = system.actions.filter(
      (a) => a.fault === f.index && !['agent-started', 'joined', 'failover-decision'].includes(a.type),
    );
    row(
      systems.length > 1 ? system.name : 'system',
      acts.length
        ? acts
            .slice(0, 4)
            .map((a) => `${a.node} ${describeAction(a.type, a.data)} ${fromFault(a.t, f)}`)
            .join('; ')
        : 'no leadership change, no agent decision',
      '',
      4,
    );
  }
}

/** A sub-heading inside a fault's section. */
function lines(row: Row, label: string, note: string): void {
  row(label, '', note, 4);
}

function availabilityRows(a: AvailabilityFigures, p: ProbeResult, row: Row, c: Colors, ended: boolean): void {
  const open = ended ? c.red('still failing') : c.yellow('not seen to its end (the run stopped)');
  const res = `±${p.resolution.intervalMs < 2 ? p.resolution.intervalMs.toFixed(1) : Math.round(p.resolution.intervalMs)} ms`;
  if (!a.outage) {
    row(
      'probe',
      a.recovered ? 'no outage seen by the probe' : c.red('no write completed after the fault'),
      '',
      4,
    );
    stallRow(a, row, res);
    return;
  }
  row(
    'detection',
    `${ms(a.detectionMs)} ${c.dim(res)}`,
    `fault -> the first failed write is seen; a hung write shows only at its ${p.resolution.timeoutMs} ms timeout`,
    4,
  );
  row(
    'unavailable',
    a.unavailabilityMs === null ? open : `${ms(a.unavailabilityMs)} ${c.dim(res)}`,
    'the first failed write is sent -> the first success after the last failure',
    4,
  );
  row(
    'failover',
    a.recovered ? `${ms(a.failoverMs)} ${c.dim(res)}` : ended ? c.red('not recovered') : open,
    a.recovered || !ended
      ? 'fault -> the first successful write with no failure after it'
      : a.stableForMs !== null
        ? `writes succeeded for only ${ms(a.stableForMs)} without a failure`
        : 'writes were still failing when the run stopped waiting',
    4,
  );
  if (a.outages > 1) row('flapping', `${a.outages} separate outages`, '', 4);
  stallRow(a, row, res);
}

/** A latency as people read it: 0.42, 6.1, 101 (a sub-millisecond figure is no 0). */
function latencyMs(v: number): string {
  return v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : String(Math.round(v));
}

/** `p50 101 / p99 140 / max 212 ms (212 ok, 3 timeouts, 1 error)` */
function phaseText(p: PhaseLatency | null): string {
  if (!p) return '—';
  const l = p.latencyMs;
  const lat = l
    ? `p50 ${latencyMs(l.p50)} / p99 ${latencyMs(l.p99)} / max ${latencyMs(l.max)} ms`
    : 'no ok write';
  const bad = [
    p.timeouts ? `${p.timeouts} timeout${p.timeouts > 1 ? 's' : ''}` : '',
    p.errors ? `${p.errors} error${p.errors > 1 ? 's' : ''}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${lat}${bad ? ` (${bad})` : ''}`;
}

/** Latency before, during and after the fault: what a gray failure costs when nothing fails. */
function latencyRows(l: FaultLatency, row: Row, c: Colors, reverted: boolean): void {
  row(
    'latency',
    `before  ${phaseText(l.before)}`,
    'acknowledged writes, by invocation; timeouts and errors apart',
    4,
  );
  const during = phaseText(l.during);
  row('', `during  ${l.during.timeouts || l.during.errors ? c.yellow(during) : during}`, '', 4);
  row(
    '',
    `after   ${phaseText(l.after)}`,
    l.after ? '' : reverted ? 'the next fault began before its revert' : 'not reverted',
    4,
  );
}

/** The longest stretch without an acknowledgement: what a freeze that fails nothing costs. */
function stallRow(a: AvailabilityFigures, row: Row, res: string): void {
  if (a.longestStallMs === null) return;
  row('stall', `${ms(a.longestStallMs)} ${res}`, 'the longest stretch with no write acknowledged', 4);
}

function systemSection(s: SystemResult, row: Row, c: Colors, ended: boolean): void {
  const before = s.before?.members.join(' -> ') || '—';
  row(s.name, `before  ${before}`, s.kind);
  if (s.after) {
    const members = new Set(s.after.members);
    const down = s.after.nodes.filter((n) => !n.reachable && !members.has(n.name)).map((n) => n.name);
    const outside = s.after.nodes.filter((n) => n.reachable && !members.has(n.name)).map((n) => n.name);
    row(
      '',
      `after   ${s.after.members.join(' -> ') || '—'}`,
      [
        down.length ? `down: ${down.join(', ')}` : '',
        outside.length ? `up but outside: ${outside.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; '),
    );
  }
  if (s.lag) {
    const peaks = s.lag.nodes.map((n, i) => {
      const values = s.lag!.samples.map((x) => x.lag[i]).filter((v): v is number => v !== null);
      return `${n} ${values.length ? Math.max(...values) : '—'}`;
    });
    row(
      '',
      `lag max ${peaks.join(', ')} ${s.lag.unit}`,
      `replication lag read every ${s.lag.pollIntervalMs} ms from the first fault on (in result.json)`,
    );
  }
  for (const f of s.falseFailovers ?? [])
    row(
      '',
      c.yellow(`false failover: ${f.from ?? '?'} -> ${f.to} while no node was down`),
      f.during.length ? `during ${f.during.join(', ')}` : 'no fault in force',
    );
  const conv = s.convergence;
  if (conv && !ended && !conv.converged) {
    row('', c.yellow('full redundancy not seen to its end (the run stopped)'));
  } else if (conv) {
    row(
      '',
      conv.converged
        ? `full redundancy ${ms(conv.timeToFullRedundancyMs)} after the last fault ${c.dim(`±${conv.pollIntervalMs} ms`)}`
        : c.red(`not fully redundant after ${ms(conv.waitedMs)}: ${conv.violations.join('; ')}`),
    );
  }
}

/** Up to 20 sequence numbers, and where the rest are. */
function seqList(seqs: readonly number[], count: number): string {
  return `${seqs.slice(0, 20).join(', ')}${count > 20 ? ` … (${count} in all, every one in result.json)` : ''}`;
}

function probeSection(p: ProbeResult, row: Row, c: Colors, named: boolean): void {
  if (named) row(`probe ${p.name}`, '', `${p.kind} on ${p.system}`);
  const w = p.writes;
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
    if (w.lost) row('', `lost: ${seqList(w.lostSeqs, w.lost)}`);
    if (w.failedButPresent)
      row(
        '',
        c.yellow(
          `${w.failedButPresent} writes reported failed are present anyway: ${seqList(w.failedButPresentSeqs, w.failedButPresent)}`,
        ),
      );
    if (w.unexpected) row('', c.red(`${w.unexpected} values read back were never written`));
  }
  const f = p.writesByFormerLeader;
  if (f?.count)
    row(
      'split brain',
      c.red(`${f.count} writes acknowledged by a former leader`),
      `after the ${f.record} record moved away from it`,
    );
  if (f?.count) for (const n of f.nodes) row('', `${n.node}: ${seqList(n.seqs, n.count)}`, '', 4);
  const lat = p.latencyMs
    ? `p50 ${p.latencyMs.p50.toFixed(2)} ms, p99 ${p.latencyMs.p99.toFixed(2)} ms, max ${p.latencyMs.max.toFixed(0)} ms`
    : 'no successful write';
  const rate = p.rate.requestedHz
    ? `${p.rate.achievedHz.toFixed(0)} of ${p.rate.requestedHz} writes/s asked before the fault`
    : `${p.rate.achievedHz.toFixed(0)} writes/s (as fast as it could)`;
  row('throughput', `${p.okPerSec.toFixed(1)} ok writes/s`, `${rate}; latency ${lat}`);
  const s = p.settings;
  row(
    'client',
    `${s.library}, ${s.inFlight === 1 ? 'one request' : `${s.inFlight} requests`} in flight at ${s.rateHz || 'max'}/s`,
    `connect timeout ${s.connectTimeoutMs} ms, command timeout ${s.commandTimeoutMs} ms, ${s.retries} retries, backoff ${s.retryBackoffMs} ms`,
  );
  // What a write is, when it is more than one command: what "acknowledged" means (WAIT).
  if (/WAIT/.test(s.operation)) row('', s.operation, '', 4);
  const d = p.delivery;
  if (d && (d.count > 0 || d.notStarted > 0))
    row(
      'delivery',
      d.count > 0
        ? `history lag p50 ${d.p50Ms} ms, p99 ${d.p99Ms} ms, max ${d.maxMs} ms`
        : 'no request reached the history',
      `from a request's end in k6 to its record here${d.notStarted ? `; ${c.yellow(`${d.notStarted} requests not started for want of a free VU`)}` : ''}`,
    );
}
