import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { AvailabilityFigures, ProbeResult, RunResult } from '../core/result.ts';
import { appliedAt, faultLabel, formatMs } from './format.ts';

/**
 * The timeline of a run as a chart draws it: each probe's operations per bucket (the result's
 * own 250 ms series) with the latency of its acknowledged writes per bucket (from
 * history.jsonl, one pass), and what happened on top: each fault's window from its injection to
 * the probe's recovery (its stable success), the time the fault was in force (injection ->
 * revert), the unavailability window, the longest stall, failover and detection, agent
 * decisions, endpoint-record moves, full redundancy. The size of a chart is the number of
 * buckets, not of operations: a million writes are a few thousand points.
 *
 * Every time is seconds from one origin per run (`originOf`): the first fault's applied
 * instant, or the run's clock origin when no fault was applied. The figures themselves are
 * durations and say what they count from (the fault's applied instant, its injection).
 */
export interface Band {
  kind: 'fault' | 'duration' | 'unavailable' | 'stall';
  from: number;
  to: number;
  /** The band runs to the end of the chart: a fault never recovered from, an outage that never ended. */
  open: boolean;
  label: string;
  fault: number;
}

export type MarkerKind =
  | 'inject'
  | 'applied'
  | 'revert'
  | 'detection'
  | 'failover'
  | 'record'
  | 'decision'
  | 'converged';

export interface Marker {
  kind: MarkerKind;
  t: number;
  label: string;
  /** The raw figure behind it (ms), for the reader and the tests. */
  value?: number;
  fault?: number;
  /** A sentence for the reader where the marker needs one (full redundancy before the failover). */
  note?: string;
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
  /** Bucket starts, seconds from the origin, and one more point for the end of the last bucket. */
  x: number[];
  /**
   * Operations per second in each bucket, by outcome; null where a bucket is partial (the first
   * and the last: the probe started and stopped inside them), which a rate would show as a dip.
   */
  ok: (number | null)[];
  fail: (number | null)[];
  unknown: (number | null)[];
  latency: LatencyBuckets | null;
  bands: Band[];
  markers: Marker[];
  /** What the reader should know about this chart, in sentences (drawn under it). */
  notes: string[];
}

/** Where a run's times count from: ms on the run's clock, and what that instant is. */
export interface Origin {
  /** On the run's clock (ms since `clock.origin`). */
  t: number;
  /** The fault whose applied instant it is; null: the run's clock origin. */
  fault: number | null;
  /** `fault #1 applied` or `the run's start`. */
  label: string;
}

/**
 * The origin of every time on a run's page: the applied instant of the first fault applied
 * (its injection where the applied instant is not known), the instant the figures of the first
 * window count from; without one, the run's clock origin.
 */
export function originOf(r: RunResult): Origin {
  const first = r.faults.filter((f) => f.status === 'applied').sort((a, b) => a.tInject - b.tInject)[0];
  if (!first) return { t: 0, fault: null, label: "the run's start" };
  return { t: appliedAt(first), fault: first.index, label: `${faultLabel(first.index)} applied` };
}

/** The longest stall of one probe in one fault window, where it lay (ms on the run's clock). */
export interface Stall {
  fault: number;
  from: number;
  to: number;
  ms: number;
  /** No acknowledgement ended it: it runs to the window's last write. */
  open: boolean;
}

/** What one pass over history.jsonl gives the report. */
export interface HistoryFigures {
  latency: Map<string, LatencyBuckets>;
  /** Per probe, the longest stall of each window, placed (the result holds only its length). */
  stalls: Map<string, Stall[]>;
  /** Per probe, the latency of acknowledged writes sent after the faults (see `afterOf`). */
  after: Map<string, { p50: number; p99: number; max: number } | null>;
}

const s = (ms: number) => ms / 1000;

/**
 * From when a probe is back in its steady state after the faults: the latest of its windows'
 * stable successes, the faults' reverts and applied instants. Null when a window never
 * recovered, or no fault was applied.
 */
export function afterOf(r: RunResult, p: ProbeResult): number | null {
  const applied = r.faults.filter((f) => f.status === 'applied');
  if (!applied.length) return null;
  if (p.windows.some((w) => w.availability.outage && w.availability.recoveredAt === null)) return null;
  let from = Number.NEGATIVE_INFINITY;
  for (const f of applied) from = Math.max(from, f.tApplied ?? f.tInject, f.tReverted ?? f.tInject);
  for (const w of p.windows) from = Math.max(from, w.availability.recoveredAt ?? w.availability.faultAt);
  return from;
}

/** Latency of acknowledged writes per bucket and probe, read from a history file in one pass. */
export function latencyFromHistory(
  file: string,
  probes: readonly ProbeResult[],
): Map<string, LatencyBuckets> | null {
  return scanHistory(file, probes, null)?.latency ?? null;
}

/** Latency per bucket, stalls placed, latency after the faults: one pass over a run's history. */
export function historyFiguresOf(file: string, r: RunResult): HistoryFigures | null {
  return scanHistory(file, r.probes, r);
}

interface WindowScan {
  fault: number;
  faultAt: number;
  opens: number;
  until: number;
  acks: number[];
  lastSeen: number;
}

function scanHistory(
  file: string,
  probes: readonly ProbeResult[],
  r: RunResult | null,
): HistoryFigures | null {
  if (!existsSync(file)) return null;
  const grids = new Map(
    probes.map((p) => [
      p.name,
      {
        start: p.series.start,
        bucketMs: p.series.bucketMs,
        values: Array.from({ length: p.series.counts.length }, () => [] as number[]),
        windows: r
          ? p.windows.map(
              (w): WindowScan => ({
                fault: w.fault,
                faultAt: w.availability.faultAt,
                opens: Math.min(w.availability.injectedAt ?? w.availability.faultAt, w.availability.faultAt),
                until: w.availability.until ?? Number.POSITIVE_INFINITY,
                acks: [],
                lastSeen: Number.NEGATIVE_INFINITY,
              }),
            )
          : [],
        afterFrom: r ? afterOf(r, p) : null,
        after: [] as number[],
      },
    ]),
  );
  forEachLine(file, (line) => {
    let op: {
      probe?: string;
      op?: string;
      outcome?: string;
      tInvoke?: number;
      tComplete?: number;
      cutByProbe?: boolean;
    };
    try {
      op = JSON.parse(line);
    } catch {
      return; // a run killed half-way may leave a cut line
    }
    if (op.op !== 'write' || typeof op.probe !== 'string') return;
    const g = grids.get(op.probe);
    if (!g || op.tComplete === undefined || op.tInvoke === undefined) return;
    const ok = op.outcome === 'ok';
    // the stall, as the checker measures it (checker/availability.ts)
    if (!op.cutByProbe)
      for (const w of g.windows) {
        if (op.tComplete < w.opens || op.tComplete >= w.until) continue;
        if (op.tComplete > w.lastSeen) w.lastSeen = op.tComplete;
        if (ok) w.acks.push(op.tComplete);
      }
    if (!ok) return;
    const bucket = g.values[Math.floor((op.tComplete - g.start) / g.bucketMs)];
    bucket?.push(op.tComplete - op.tInvoke);
    if (g.afterFrom !== null && op.tInvoke >= g.afterFrom) g.after.push(op.tComplete - op.tInvoke);
  });
  const latency = new Map<string, LatencyBuckets>();
  const stalls = new Map<string, Stall[]>();
  const after = new Map<string, { p50: number; p99: number; max: number } | null>();
  for (const [name, g] of grids) {
    const lat: LatencyBuckets = { p50: [], p99: [], max: [] };
    for (const v of g.values) {
      const q = quantiles(v);
      lat.p50.push(q?.p50 ?? null);
      lat.p99.push(q?.p99 ?? null);
      lat.max.push(q?.max ?? null);
    }
    latency.set(name, lat);
    stalls.set(
      name,
      g.windows.flatMap((w) => {
        const st = stallOf(w);
        return st ? [st] : [];
      }),
    );
    after.set(name, quantiles(g.after));
  }
  return { latency, stalls, after };
}

function quantiles(v: number[]): { p50: number; p99: number; max: number } | null {
  if (!v.length) return null;
  v.sort((a, b) => a - b);
  const pick = (q: number) => round3(v[Math.min(v.length - 1, Math.floor(q * v.length))]!);
  return { p50: pick(0.5), p99: pick(0.99), max: round3(v.at(-1)!) };
}

/** The longest stretch with no acknowledgement, from the applied instant on, and where it lay. */
function stallOf(w: WindowScan): Stall | null {
  if (w.lastSeen === Number.NEGATIVE_INFINITY) return null;
  w.acks.sort((a, b) => a - b);
  let best: Stall | null = null;
  let lastAck = w.faultAt;
  for (const t of w.acks) {
    // Acknowledged while the fault was being applied: it ends no stall of the fault's (as the checker).
    if (t < w.faultAt) continue;
    const gap = t - lastAck;
    if (best === null || gap > best.ms) best = { fault: w.fault, from: lastAck, to: t, ms: gap, open: false };
    lastAck = Math.max(lastAck, t);
  }
  if (w.lastSeen > lastAck && (best === null || w.lastSeen - lastAck > best.ms))
    best = { fault: w.fault, from: lastAck, to: w.lastSeen, ms: w.lastSeen - lastAck, open: true };
  return best;
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
  history: HistoryFigures | Map<string, LatencyBuckets> | null,
  idPrefix: string,
  origin: Origin = originOf(r),
): ProbeChart[] {
  const h: Partial<HistoryFigures> | null = history instanceof Map ? { latency: history } : history;
  return r.probes.map((p, i) =>
    probeChart(
      r,
      p,
      h?.latency?.get(p.name) ?? null,
      h?.stalls?.get(p.name) ?? [],
      `${idPrefix}-p${i}`,
      origin,
    ),
  );
}

/** When a fault's window ended for a probe: its stable success, or why there is none. */
interface WindowEnd {
  /** On the run's clock; null: open (never recovered). */
  at: number | null;
  why: 'recovered' | 'no outage' | 'not recovered' | 'not measured';
}

function windowEnd(r: RunResult, fault: number, a: AvailabilityFigures | undefined): WindowEnd {
  const f = r.faults.find((x) => x.index === fault)!;
  // a fault measured in another's window: its own span, to its revert
  if (!a) return { at: f.tReverted ?? f.tApplied ?? f.tInject, why: 'not measured' };
  if (!a.outage) return { at: a.faultAt, why: 'no outage' };
  if (a.recoveredAt !== null) return { at: a.recoveredAt, why: 'recovered' };
  return { at: a.until, why: 'not recovered' };
}

/** The fault's window on a chart: injection -> the probes' recovery (the latest of them). */
function faultBand(
  r: RunResult,
  f: RunResult['faults'][number],
  windows: (AvailabilityFigures | undefined)[],
  end: number,
  toX: (t: number) => number,
): Band {
  const ends = windows.map((a) => windowEnd(r, f.index, a));
  const open = ends.find((e) => e.at === null);
  const last = open ?? ends.reduce((a, b) => ((b.at ?? 0) > (a.at ?? 0) ? b : a), ends[0]!);
  const what = `${f.action} ${f.target}${f.nodes.length ? ` -> ${f.nodes.join(', ')}` : ''}`;
  const revert =
    f.tReverted !== undefined
      ? `, in force ${formatMs(f.tReverted - f.tInject)} (reverted)`
      : f.action === 'kill'
        ? ' (a kill: never reverted)'
        : ' (never reverted)';
  const until =
    last.why === 'recovered'
      ? `, recovered ${formatMs(last.at! - (f.tApplied ?? f.tInject))} after it was applied`
      : last.why === 'no outage'
        ? ', no outage seen'
        : last.why === 'not recovered'
          ? ', not recovered'
          : ', not measured on its own';
  return {
    kind: 'fault',
    from: toX(f.tInject),
    to: last.at === null ? end : toX(Math.max(last.at, f.tInject)),
    open: last.at === null,
    label: `${faultLabel(f.index)} ${what}${revert}${until}`,
    fault: f.index,
  };
}

/** Injection, applied instant, revert and in-force span of every applied fault. */
function faultLayers(
  r: RunResult,
  windowsOf: (fault: number) => (AvailabilityFigures | undefined)[],
  end: number,
  toX: (t: number) => number,
): { bands: Band[]; markers: Marker[] } {
  const bands: Band[] = [];
  const markers: Marker[] = [];
  for (const f of r.faults) {
    if (f.status !== 'applied') continue;
    bands.push(faultBand(r, f, windowsOf(f.index), end, toX));
    if (f.tReverted !== undefined)
      bands.push({
        kind: 'duration',
        from: toX(f.tInject),
        to: toX(f.tReverted),
        open: false,
        label: `${faultLabel(f.index)} ${f.action} in force ${formatMs(f.tReverted - f.tInject)}, injection -> revert`,
        fault: f.index,
      });
    markers.push({
      kind: 'inject',
      t: toX(f.tInject),
      label: `${faultLabel(f.index)} ${f.action}`,
      fault: f.index,
    });
    if (f.tApplied !== null && f.tApplied > f.tInject)
      markers.push({
        kind: 'applied',
        t: toX(f.tApplied),
        label: `${faultLabel(f.index)} applied +${Math.round(f.tApplied - f.tInject)} ms`,
        value: f.tApplied - f.tInject,
        fault: f.index,
      });
    if (f.tReverted !== undefined)
      markers.push({
        kind: 'revert',
        t: toX(f.tReverted),
        label: `${faultLabel(f.index)} reverted`,
        value: f.tReverted - f.tInject,
        fault: f.index,
      });
  }
  return { bands, markers };
}

/** The series as rates, with the partial buckets at either end left out (null). */
function rates(p: ProbeResult): {
  ok: (number | null)[];
  fail: (number | null)[];
  unknown: (number | null)[];
} {
  const { bucketMs, counts } = p.series;
  const perSec = 1000 / bucketMs;
  const col = (k: 0 | 1 | 2) => {
    const v: (number | null)[] = counts.map((c, i) =>
      i === 0 || i === counts.length - 1 ? null : c[k] * perSec,
    );
    v.push(v.at(-1) ?? null);
    return v;
  };
  return { ok: col(0), fail: col(1), unknown: col(2) };
}

function probeChart(
  r: RunResult,
  p: ProbeResult,
  latency: LatencyBuckets | null,
  stalls: Stall[],
  id: string,
  origin: Origin,
): ProbeChart {
  const { bucketMs, start, counts } = p.series;
  const toX = (t: number) => round3(s(t - origin.t));
  const x = counts.map((_, i) => toX(start + i * bucketMs));
  x.push(toX(start + counts.length * bucketMs));
  const end = x.at(-1) ?? 0;
  const first = x[0] ?? 0;
  const inRange = (t: number) => t >= first && t <= end;
  const windowOf = (fault: number) => p.windows.find((w) => w.fault === fault)?.availability;
  const { bands, markers } = faultLayers(r, (fault) => [windowOf(fault)], end, toX);
  const notes: string[] = [];
  for (const w of p.windows) {
    const a = w.availability;
    if (a.window) {
      bands.push({
        kind: 'unavailable',
        from: toX(a.window.start),
        to: a.window.end === null ? end : toX(a.window.end),
        open: a.window.end === null,
        label:
          a.unavailabilityMs === null
            ? `${faultLabel(w.fault)}: unavailable until the end`
            : `${faultLabel(w.fault)}: unavailable ${Math.round(a.unavailabilityMs)} ms`,
        fault: w.fault,
      });
    }
    const st = stalls.find((x) => x.fault === w.fault);
    // drawn only where the pass over the history found the checker's own figure
    if (st && a.longestStallMs !== null && Math.abs(st.ms - a.longestStallMs) < 0.01 && st.ms > 0)
      bands.push({
        kind: 'stall',
        from: toX(st.from),
        to: toX(st.to),
        open: st.open,
        label: `${faultLabel(w.fault)}: longest stall ${formatMs(st.ms)}, no write acknowledged`,
        fault: w.fault,
      });
    if (a.detectionMs !== null)
      markers.push({
        kind: 'detection',
        t: toX(a.faultAt + a.detectionMs),
        label: `detected ${Math.round(a.detectionMs)} ms after ${faultLabel(w.fault)} applied`,
        value: a.detectionMs,
        fault: w.fault,
      });
    if (a.failoverMs !== null)
      markers.push({
        kind: 'failover',
        t: toX(a.faultAt + a.failoverMs),
        label: `failover ${Math.round(a.failoverMs)} ms after ${faultLabel(w.fault)} applied`,
        value: a.failoverMs,
        fault: w.fault,
      });
  }
  const system = r.systems.find((x) => x.name === p.system);
  for (const sys of system ? [system] : []) {
    for (const l of sys.leadership) {
      markers.push({
        kind: 'record',
        t: toX(l.t),
        label: `${sys.leadershipRecord ?? 'record'} -> ${l.to}`,
        ...(l.fault === null ? {} : { fault: l.fault }),
      });
    }
    for (const a of sys.actions) {
      if (QUIET.has(a.type)) continue;
      markers.push({
        kind: 'decision',
        t: toX(a.t),
        label: decisionLabel(a.type, a.node, a.data),
        ...(a.fault === null ? {} : { fault: a.fault }),
      });
    }
    const c = sys.convergence;
    if (c?.converged && c.at !== null) {
      const early = convergedEarly(r, p, c.at);
      const last = lastFault(r);
      markers.push({
        kind: 'converged',
        t: toX(c.at),
        label: `full redundancy ${formatMs(c.timeToFullRedundancyMs)} after ${last ? `${faultLabel(last.index)} injected` : 'the fault'}${early ? ' (before the failover)' : ''}`,
        ...(c.timeToFullRedundancyMs === null ? {} : { value: c.timeToFullRedundancyMs }),
        ...(early ? { note: early } : {}),
      });
      if (early) notes.push(early);
    }
  }
  if (counts.length)
    notes.push(
      `The first and the last ${bucketMs} ms bucket are partial (the probe started and stopped inside them) and are not drawn: a rate over part of a bucket would show as a dip.`,
    );
  return {
    id,
    probe: p.name,
    system: p.system,
    bucketMs,
    x,
    ...rates(p),
    latency: latency
      ? {
          p50: [...latency.p50, latency.p50.at(-1) ?? null],
          p99: [...latency.p99, latency.p99.at(-1) ?? null],
          max: [...latency.max, latency.max.at(-1) ?? null],
        }
      : null,
    bands: bands.filter((b) => b.to >= first && b.from <= end),
    markers: markers.filter((m) => inRange(m.t)).sort((a, b) => a.t - b.t),
    notes,
  };
}

function lastFault(r: RunResult) {
  return r.faults.filter((f) => f.status === 'applied').sort((a, b) => b.tInject - a.tInject)[0];
}

/**
 * Why full redundancy came before a probe's failover, when it did: the system's invariants held
 * (the topology had healed) before the probe saw the write that stayed ok. Null when it did not.
 */
export function convergedEarly(r: RunResult, p: ProbeResult, at: number): string | null {
  const last = lastFault(r);
  const w = last ? p.windows.find((x) => x.fault === last.index)?.availability : undefined;
  if (!w?.outage || w.recoveredAt === null || at >= w.recoveredAt) return null;
  // Seen whole since before the applied instant (the invariants held throughout: the convergence
  // watcher's streak began before it): redundancy was there from that instant on.
  const from = Math.max(at, w.faultAt);
  const when =
    at <= w.faultAt
      ? `held from the moment ${faultLabel(last!.index)} was applied: the topology was never seen broken`
      : `${formatMs(at - w.faultAt)} after ${faultLabel(last!.index)} was applied`;
  return `Full redundancy (${when}) comes ${formatMs(w.recoveredAt - from)} before probe ${p.name}'s failover (${formatMs(w.failoverMs)}): the topology had healed, every node back in it and its invariants holding, before the probe saw the write that stayed ok; the client was still finding the new leader (reconnects, the endpoint record's TTL, retries).`;
}

/** A system's replication lag over time, one line per node, with the faults' windows laid over it. */
export interface LagChart {
  id: string;
  system: string;
  unit: string;
  /** Sample times, seconds from the origin. */
  x: number[];
  nodes: string[];
  /** One column per node, as `nodes`. */
  values: (number | null)[][];
  bands: Band[];
  markers: Marker[];
}

/** The lag charts of a run: one per system whose observation read a lag. */
export function lagChartsOf(r: RunResult, idPrefix: string, origin: Origin = originOf(r)): LagChart[] {
  const toX = (t: number) => round3(s(t - origin.t));
  return r.systems.flatMap((sys, i) => {
    const lag = sys.lag;
    if (!lag || lag.samples.length < 2) return [];
    const x = lag.samples.map((p) => toX(p.t));
    const first = x[0]!;
    const end = x.at(-1)!;
    const probes = r.probes.filter((p) => p.system === sys.name);
    const layers = faultLayers(
      r,
      (fault) => probes.map((p) => p.windows.find((w) => w.fault === fault)?.availability),
      end,
      toX,
    );
    const bands = layers.bands.filter((b) => b.to >= first && b.from <= end);
    const markers: Marker[] = sys.leadership
      .map((l) => ({
        kind: 'record' as const,
        t: toX(l.t),
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
