import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { ProbeResult, RunResult } from '../core/result.ts';
import { faultLabel } from './format.ts';

/**
 * The timeline of a run as a chart draws it: each probe's operations per bucket (the result's
 * own 250 ms series) with the latency of its acknowledged writes per bucket (from
 * history.jsonl, one pass), and what happened on top: fault windows from injection to revert,
 * the unavailability window, failover and detection, agent decisions, endpoint-record moves,
 * full redundancy. Times are seconds on the run's clock. The size of a chart is the number of
 * buckets, not of operations: a million writes are a few thousand points.
 */
export interface Band {
  kind: 'fault' | 'unavailable';
  from: number;
  to: number;
  /** The band runs to the end of the chart: a kill is never reverted, an outage that never ended. */
  open: boolean;
  label: string;
  fault: number;
}

export type MarkerKind = 'inject' | 'revert' | 'detection' | 'failover' | 'record' | 'decision' | 'converged';

export interface Marker {
  kind: MarkerKind;
  t: number;
  label: string;
  /** The raw figure behind it (ms), for the reader and the tests. */
  value?: number;
  fault?: number;
}

export interface LatencyBuckets {
  p50: (number | null)[];
  p99: (number | null)[];
  max: (number | null)[];
}

export interface ProbeChart {
  id: string;
  probe: string;
  system: string;
  bucketMs: number;
  /** Bucket starts, seconds, and one more point for the end of the last bucket. */
  x: number[];
  /** Operations per second in each bucket, by outcome. */
  ok: number[];
  fail: number[];
  unknown: number[];
  latency: LatencyBuckets | null;
  bands: Band[];
  markers: Marker[];
}

const s = (ms: number) => ms / 1000;

/** Latency of acknowledged writes per bucket and probe, read from a history file in one pass. */
export function latencyFromHistory(
  file: string,
  probes: readonly ProbeResult[],
): Map<string, LatencyBuckets> | null {
  if (!existsSync(file)) return null;
  const grids = new Map(
    probes.map((p) => [
      p.name,
      {
        start: p.series.start,
        bucketMs: p.series.bucketMs,
        values: Array.from({ length: p.series.counts.length }, () => [] as number[]),
      },
    ]),
  );
  forEachLine(file, (line) => {
    let op: { probe?: string; op?: string; outcome?: string; tInvoke?: number; tComplete?: number };
    try {
      op = JSON.parse(line);
    } catch {
      return; // a run killed half-way may leave a cut line
    }
    if (op.op !== 'write' || op.outcome !== 'ok' || typeof op.probe !== 'string') return;
    const g = grids.get(op.probe);
    if (!g || op.tComplete === undefined || op.tInvoke === undefined) return;
    const bucket = g.values[Math.floor((op.tComplete - g.start) / g.bucketMs)];
    bucket?.push(op.tComplete - op.tInvoke);
  });
  const out = new Map<string, LatencyBuckets>();
  for (const [name, g] of grids) {
    const lat: LatencyBuckets = { p50: [], p99: [], max: [] };
    for (const v of g.values) {
      if (!v.length) {
        lat.p50.push(null);
        lat.p99.push(null);
        lat.max.push(null);
        continue;
      }
      v.sort((a, b) => a - b);
      const pick = (q: number) => round3(v[Math.min(v.length - 1, Math.floor(q * v.length))]!);
      lat.p50.push(pick(0.5));
      lat.p99.push(pick(0.99));
      lat.max.push(round3(v.at(-1)!));
    }
    out.set(name, lat);
  }
  return out;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** Calls `fn` for each line of a file, reading it in chunks (a history can be hundreds of MB). */
function forEachLine(file: string, fn: (line: string) => void): void {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4 << 20);
    let rest = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + buf.toString('utf8', 0, n);
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line) fn(line);
    }
    if (rest) fn(rest);
  } finally {
    closeSync(fd);
  }
}

/** What an agent decision says on a chart, in a few words. */
function decisionLabel(type: string, node: string, data: Record<string, unknown>): string {
  const v = (k: string) => (data[k] === null || data[k] === undefined ? '?' : String(data[k]));
  switch (type) {
    case 'failover-decision':
      return `${node} declares ${v('deadMaster') === '?' ? v('primary') : v('deadMaster')} dead`;
    case 'became-head':
      return `${node} becomes head`;
    case 'became-primary':
      return `${node} becomes primary`;
    case 'reattached':
      return `${node} re-attaches to ${v('to')}`;
    case 'rejoined':
      return `${node} rejoins behind ${v('master')}`;
    default:
      return `${node} ${type.replace(/-/g, ' ')}`;
  }
}

/** Decisions that only say an agent started or joined at provisioning are left off the chart. */
const QUIET = new Set(['agent-started', 'agent-ready', 'joined']);

/** The charts of a run: one per probe. */
export function timelineOf(
  r: RunResult,
  latency: Map<string, LatencyBuckets> | null,
  idPrefix: string,
): ProbeChart[] {
  return r.probes.map((p, i) => probeChart(r, p, latency?.get(p.name) ?? null, `${idPrefix}-p${i}`));
}

function probeChart(r: RunResult, p: ProbeResult, latency: LatencyBuckets | null, id: string): ProbeChart {
  const { bucketMs, start, counts } = p.series;
  const perSec = 1000 / bucketMs;
  const x = counts.map((_, i) => s(start + i * bucketMs));
  x.push(s(start + counts.length * bucketMs));
  const col = (k: 0 | 1 | 2) => {
    const v = counts.map((c) => c[k] * perSec);
    v.push(v.at(-1) ?? 0);
    return v;
  };
  const end = x.at(-1) ?? 0;
  const first = x[0] ?? 0;
  const inRange = (t: number) => t >= first && t <= end;
  const bands: Band[] = [];
  const markers: Marker[] = [];
  for (const f of r.faults) {
    if (f.status !== 'applied') continue;
    const what = `${f.action} ${f.target}${f.nodes.length ? ` -> ${f.nodes.join(', ')}` : ''}`;
    const to = f.tReverted ?? null;
    bands.push({
      kind: 'fault',
      from: s(f.tInject),
      to: to === null ? end : s(to),
      open: to === null,
      label: `${faultLabel(f.index)} ${what}${to === null ? (f.action === 'kill' ? ' (not reverted: a kill)' : ' (never reverted)') : ''}`,
      fault: f.index,
    });
    markers.push({
      kind: 'inject',
      t: s(f.tInject),
      label: `${faultLabel(f.index)} ${f.action}`,
      fault: f.index,
    });
    if (to !== null)
      markers.push({ kind: 'revert', t: s(to), label: `${faultLabel(f.index)} reverted`, fault: f.index });
  }
  for (const w of p.windows) {
    const a = w.availability;
    if (a.window) {
      bands.push({
        kind: 'unavailable',
        from: s(a.window.start),
        to: s(a.window.end ?? end * 1000),
        open: a.window.end === null,
        label:
          a.unavailabilityMs === null
            ? `${faultLabel(w.fault)}: unavailable until the end`
            : `${faultLabel(w.fault)}: unavailable ${Math.round(a.unavailabilityMs)} ms`,
        fault: w.fault,
      });
    }
    if (a.detectionMs !== null)
      markers.push({
        kind: 'detection',
        t: s(a.faultAt + a.detectionMs),
        label: `detected +${Math.round(a.detectionMs)} ms`,
        value: a.detectionMs,
        fault: w.fault,
      });
    if (a.failoverMs !== null)
      markers.push({
        kind: 'failover',
        t: s(a.faultAt + a.failoverMs),
        label: `failover ${Math.round(a.failoverMs)} ms`,
        value: a.failoverMs,
        fault: w.fault,
      });
  }
  const system = r.systems.find((x) => x.name === p.system);
  for (const sys of system ? [system] : []) {
    for (const l of sys.leadership) {
      markers.push({
        kind: 'record',
        t: s(l.t),
        label: `${sys.leadershipRecord ?? 'record'} -> ${l.to}`,
        ...(l.fault === null ? {} : { fault: l.fault }),
      });
    }
    for (const a of sys.actions) {
      if (QUIET.has(a.type)) continue;
      markers.push({
        kind: 'decision',
        t: s(a.t),
        label: decisionLabel(a.type, a.node, a.data),
        ...(a.fault === null ? {} : { fault: a.fault }),
      });
    }
    const c = sys.convergence;
    if (c?.converged && c.at !== null)
      markers.push({
        kind: 'converged',
        t: s(c.at),
        label: `full redundancy +${Math.round(c.timeToFullRedundancyMs ?? 0)} ms`,
        ...(c.timeToFullRedundancyMs === null ? {} : { value: c.timeToFullRedundancyMs }),
      });
  }
  const pad = (v: (number | null)[]) => [...v, v.at(-1) ?? null];
  return {
    id,
    probe: p.name,
    system: p.system,
    bucketMs,
    x,
    ok: col(0),
    fail: col(1),
    unknown: col(2),
    latency: latency ? { p50: pad(latency.p50), p99: pad(latency.p99), max: pad(latency.max) } : null,
    bands: bands.filter((b) => b.to >= first && b.from <= end),
    markers: markers.filter((m) => inRange(m.t)).sort((a, b) => a.t - b.t),
  };
}

/** A system's replication lag over time, one line per node, with the faults' windows laid over it. */
export interface LagChart {
  id: string;
  system: string;
  unit: string;
  /** Sample times, seconds. */
  x: number[];
  nodes: string[];
  /** One column per node, as `nodes`. */
  values: (number | null)[][];
  bands: Band[];
  markers: Marker[];
}

/** The lag charts of a run: one per system whose observation read a lag. */
export function lagChartsOf(r: RunResult, idPrefix: string): LagChart[] {
  return r.systems.flatMap((sys, i) => {
    const lag = sys.lag;
    if (!lag || lag.samples.length < 2) return [];
    const x = lag.samples.map((p) => s(p.t));
    const first = x[0]!;
    const end = x.at(-1)!;
    const bands: Band[] = r.faults
      .filter((f) => f.status === 'applied')
      .map((f) => ({
        kind: 'fault' as const,
        from: s(f.tInject),
        to: f.tReverted === undefined ? end : s(f.tReverted),
        open: f.tReverted === undefined,
        label: `${faultLabel(f.index)} ${f.action} ${f.target}`,
        fault: f.index,
      }))
      .filter((b) => b.to >= first && b.from <= end);
    const markers: Marker[] = sys.leadership
      .map((l) => ({
        kind: 'record' as const,
        t: s(l.t),
        label: `${sys.leadershipRecord ?? 'record'} -> ${l.to}`,
        ...(l.fault === null ? {} : { fault: l.fault }),
      }))
      .filter((m) => m.t >= first && m.t <= end);
    return [
      {
        id: `${idPrefix}-lag${i}`,
        system: sys.name,
        unit: lag.unit,
        x,
        nodes: lag.nodes,
        values: lag.nodes.map((_, n) => lag.samples.map((p) => p.lag[n] ?? null)),
        bands,
        markers,
      },
    ];
  });
}

/** The history file of a run folder, where its probes wrote. */
export function historyFileOf(r: RunResult, dir: string): string {
  return join(dir, r.probes[0]?.historyFile ?? 'history.jsonl');
}
