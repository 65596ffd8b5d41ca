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
import { FloatList, isWriteOf, probeIndex, quantiles } from './columns.ts';

/** When one probe's first write (or, with `anyOp`, any operation) within [from, to) was invoked; null when none was. */
export function firstInvoke(
  history: HistoryInput,
  probe: string,
  from: number,
  to: number,
  anyOp = false,
): number | null {
  const log = opLog(history);
  const pid = probeIndex(log, probe);
  let first = Number.POSITIVE_INFINITY;
  for (const c of log.scan((b) => pid >= 0 && b.maxInvoke >= from && b.minInvoke < to)) {
    for (let i = 0; i < c.length; i++) {
      const t = c.tInvoke[i]!;
      if (c.probe[i] === pid && (anyOp || isWriteOf(c, i, pid)) && t >= from && t < to && t < first)
        first = t;
    }
  }
  return first === Number.POSITIVE_INFINITY ? null : first;
}

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
  // One pass: the counts, and the latencies of what was acknowledged.
  const inRange = (c: ChunkBounds) => pid >= 0 && c.maxInvoke >= from && c.minInvoke < to;
  const latencies = new FloatList();
  for (const c of log.scan(inRange)) {
    const { flags, tInvoke, tComplete } = c;
    for (let i = 0; i < c.length; i++) {
      if (c.probe[i] !== pid || !isWriteOf(c, i, pid)) continue;
      const t = tInvoke[i]!;
      if (t < from || t >= to) continue;
      const outcome = flags[i]! & OUTCOME_MASK;
      if (outcome === OK) {
        ok++;
        latencies.push(tComplete[i]! - t);
      } else if (outcome === FAIL) fail++;
      else unknown++;
      if (t < first) first = t;
      if (tComplete[i]! > last) last = tComplete[i]!;
    }
  }
  const span = last - first;
  const q = quantiles(latencies.values(), [0.5, 0.99]);
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
  // One pass: the buckets grow as later completions come (a probe's history is mostly in
  // order), and shift when an earlier one comes than the first bucket holds.
  let start = Number.NaN;
  let n = 0;
  let flat = new Uint32Array(3 * 1024);
  if (pid !== -2) {
    for (const c of log.scan()) {
      const { flags, tComplete } = c;
      for (let i = 0; i < c.length; i++) {
        if (c.probe[i] !== pid || !isWriteOf(c, i, pid)) continue;
        const t = tComplete[i]!;
        if (Number.isNaN(start)) start = Math.floor(t / bucketMs) * bucketMs;
        let b = Math.floor((t - start) / bucketMs);
        if (b < 0) {
          // Earlier than the first bucket: move every bucket up by the difference.
          const by = -b;
          const grown = new Uint32Array(Math.max(flat.length, (n + by) * 3 * 2));
          grown.set(flat.subarray(0, n * 3), by * 3);
          flat = grown;
          start -= by * bucketMs;
          n += by;
          b = 0;
        }
        if (b >= n) {
          if ((b + 1) * 3 > flat.length) {
            const grown = new Uint32Array(Math.max(flat.length * 2, (b + 1) * 3));
            grown.set(flat.subarray(0, n * 3));
            flat = grown;
          }
          n = b + 1;
        }
        const outcome = flags[i]! & OUTCOME_MASK;
        flat[b * 3 + (outcome === OK ? 0 : outcome === UNKNOWN ? 2 : 1)]!++;
      }
    }
  }
  if (n === 0) return { bucketMs, start: 0, columns, counts: [] };
  const counts: [number, number, number][] = Array.from({ length: n }, (_, b) => [
    flat[b * 3]!,
    flat[b * 3 + 1]!,
    flat[b * 3 + 2]!,
  ]);
  return { bucketMs, start, columns, counts };
}

export type { ProbeStats, OutcomeSeries };
