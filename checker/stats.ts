import {
  type ChunkBounds,
  FAIL,
  type HistoryInput,
  OK,
  OUTCOME_MASK,
  type OpChunk,
  UNKNOWN,
  opLog,
} from '../core/history.ts';
import type { OutcomeSeries, ProbeStats } from '../core/result.ts';
import { isWriteOf, probeIndex, quantiles } from './columns.ts';

/** Throughput and latency of one probe's writes, optionally within [from, to). */
export function probeStats(
  history: HistoryInput,
  probe: string,
  from = Number.NEGATIVE_INFINITY,
  to = Number.POSITIVE_INFINITY,
): ProbeStats {
  const log = opLog(history);
  const pid = probeIndex(log, probe);
  let ok = 0;
  let fail = 0;
  let unknown = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  // Two passes: the counts, then the latencies into an array of exactly their number.
  const inRange = (c: ChunkBounds) => pid >= 0 && c.maxInvoke >= from && c.minInvoke < to;
  const mine = (c: OpChunk, i: number) =>
    c.probe[i] === pid && isWriteOf(c, i, pid) && c.tInvoke[i]! >= from && c.tInvoke[i]! < to;
  for (const c of log.scan(inRange)) {
    for (let i = 0; i < c.length; i++) {
      if (!mine(c, i)) continue;
      const outcome = c.flags[i]! & OUTCOME_MASK;
      if (outcome === OK) ok++;
      else if (outcome === FAIL) fail++;
      else unknown++;
      if (c.tInvoke[i]! < first) first = c.tInvoke[i]!;
      if (c.tComplete[i]! > last) last = c.tComplete[i]!;
    }
  }
  const latencies = new Float64Array(ok);
  let n = 0;
  for (const c of log.scan(inRange)) {
    for (let i = 0; i < c.length; i++)
      if (mine(c, i) && (c.flags[i]! & OUTCOME_MASK) === OK) latencies[n++] = c.tComplete[i]! - c.tInvoke[i]!;
  }
  const span = last - first;
  const q = quantiles(latencies, [0.5, 0.99]);
  return {
    attempted: ok + fail + unknown,
    ok,
    fail,
    unknown,
    okPerSec: span > 0 ? (ok * 1000) / span : 0,
    latencyMs: q ? { p50: q.at[0]!, p99: q.at[1]!, max: q.max } : null,
  };
}

export function outcomeSeries(history: HistoryInput, probe: string, bucketMs = 250): OutcomeSeries {
  const log = opLog(history);
  const pid = probeIndex(log, probe);
  const columns: OutcomeSeries['columns'] = ['ok', 'fail', 'unknown'];
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  let any = false;
  if (pid !== -2) {
    for (const c of log.scan()) {
      for (let i = 0; i < c.length; i++) {
        if (c.probe[i] !== pid || !isWriteOf(c, i, pid)) continue;
        any = true;
        first = Math.min(first, c.tComplete[i]!);
        last = Math.max(last, c.tComplete[i]!);
      }
    }
  }
  if (!any) return { bucketMs, start: 0, columns, counts: [] };
  const start = Math.floor(first / bucketMs) * bucketMs;
  const n = Math.floor((last - start) / bucketMs) + 1;
  const flat = new Uint32Array(n * 3);
  for (const c of log.scan()) {
    for (let i = 0; i < c.length; i++) {
      if (c.probe[i] !== pid || !isWriteOf(c, i, pid)) continue;
      const outcome = c.flags[i]! & OUTCOME_MASK;
      const column = outcome === OK ? 0 : outcome === UNKNOWN ? 2 : 1;
      flat[Math.floor((c.tComplete[i]! - start) / bucketMs) * 3 + column]!++;
    }
  }
  const counts: [number, number, number][] = Array.from({ length: n }, (_, b) => [
    flat[b * 3]!,
    flat[b * 3 + 1]!,
    flat[b * 3 + 2]!,
  ]);
  return { bucketMs, start, columns, counts };
}

export type { ProbeStats, OutcomeSeries };
