import type { Op } from '../core/history.ts';
import type { OutcomeSeries, ProbeStats } from '../core/result.ts';

/** Throughput and latency of one probe's writes, optionally within [from, to). */
export function probeStats(
  history: readonly Op[],
  probe: string,
  from = Number.NEGATIVE_INFINITY,
  to = Number.POSITIVE_INFINITY,
): ProbeStats {
  let ok = 0;
  let fail = 0;
  let unknown = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const latencies: number[] = [];
  for (const o of history) {
    if (o.probe !== probe || o.op !== 'write' || o.tInvoke < from || o.tInvoke >= to) continue;
    if (o.outcome === 'ok') {
      ok++;
      latencies.push(o.tComplete - o.tInvoke);
    } else if (o.outcome === 'fail') fail++;
    else unknown++;
    if (o.tInvoke < first) first = o.tInvoke;
    if (o.tComplete > last) last = o.tComplete;
  }
  const span = last - first;
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    attempted: ok + fail + unknown,
    ok,
    fail,
    unknown,
    okPerSec: span > 0 ? (ok * 1000) / span : 0,
    latencyMs: latencies.length ? { p50: pick(0.5), p99: pick(0.99), max: latencies.at(-1)! } : null,
  };
}

export function outcomeSeries(history: readonly Op[], probe: string, bucketMs = 250): OutcomeSeries {
  const writes = history.filter((o) => o.probe === probe && o.op === 'write');
  const columns: OutcomeSeries['columns'] = ['ok', 'fail', 'unknown'];
  if (writes.length === 0) return { bucketMs, start: 0, columns, counts: [] };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const o of writes) {
    first = Math.min(first, o.tComplete);
    last = Math.max(last, o.tComplete);
  }
  const start = Math.floor(first / bucketMs) * bucketMs;
  const counts: [number, number, number][] = Array.from(
    { length: Math.floor((last - start) / bucketMs) + 1 },
    () => [0, 0, 0],
  );
  for (const o of writes) {
    const bucket = counts[Math.floor((o.tComplete - start) / bucketMs)]!;
    bucket[o.outcome === 'ok' ? 0 : o.outcome === 'fail' ? 1 : 2]++;
  }
  return { bucketMs, start, columns, counts };
}

export type { ProbeStats, OutcomeSeries };
