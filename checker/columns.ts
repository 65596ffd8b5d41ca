import { type OpChunk, type OpLog, READ } from '../core/history.ts';

/**
 * The probe's index in a log for a pass over its columns: -1 for every probe (none named), -2
 * for a probe the log never saw (nothing matches).
 */
export function probeIndex(log: OpLog, probe: string | undefined): number {
  if (probe === undefined) return -1;
  return log.idOf(probe) ?? -2;
}

/** Whether operation i of a chunk is a write of the probe (by `probeIndex`). */
export const isWriteOf = (c: OpChunk, i: number, pid: number): boolean =>
  (c.flags[i]! & READ) === 0 && (pid === -1 || c.probe[i] === pid);

/**
 * A Float64Array that grows as values are pushed (doubling), for a pass that collects what it
 * selects in the same pass as it counts: one read of the history instead of a count and a fill.
 */
export class FloatList {
  private a: Float64Array;
  length = 0;

  constructor(capacity = 1024) {
    this.a = new Float64Array(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.length === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.length++] = v;
  }

  /** The values pushed, without a copy (a view on the list's buffer). */
  values(): Float64Array {
    return this.a.subarray(0, this.length);
  }
}

/**
 * The values at quantiles `qs` of `values` as a sorted copy would hold them at
 * `min(n - 1, floor(q * n))`, and its max; found by selection (the array is reordered), not by
 * sorting: linear, where a sort of ten million takes a second. Null when empty.
 */
export function quantiles(values: Float64Array, qs: readonly number[]): { at: number[]; max: number } | null {
  const n = values.length;
  if (n === 0) return null;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (values[i]! > max) max = values[i]!;
  const ks = qs.map((q) => Math.min(n - 1, Math.floor(q * n)));
  // Select the largest rank first: what is left of it holds the smaller ranks, a smaller range.
  const order = ks.map((k, i) => [k, i] as const).sort((a, b) => b[0] - a[0]);
  const at = new Array<number>(qs.length);
  let hi = n - 1;
  for (const [k, i] of order) {
    at[i] = select(values, 0, hi, k);
    hi = k;
  }
  return { at, max };
}

/** Hoare's selection: puts the k-th smallest of a[lo..hi] at a[k], smaller before, larger after. */
function select(a: Float64Array, from: number, to: number, k: number): number {
  let lo = from;
  let hi = to;
  while (hi > lo) {
    // Median of three as pivot: sorted or nearly sorted input stays linear.
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}
