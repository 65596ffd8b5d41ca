import type { TimelineEvent } from '../core/events.ts';
import { type ChunkBounds, type HistoryInput, OK, OUTCOME_MASK, opLog } from '../core/history.ts';
import type { FormerLeaderWrites } from '../core/result.ts';
import { isWriteOf, probeIndex } from './columns.ts';

/**
 * One leader at a time (DESIGN.md): a write acknowledged by a node that no longer held the
 * system's leader record is split-brain evidence.
 *
 * Terms (all times on the run's monotonic clock, ms):
 * - *leader record*: the endpoint record a system's clients find its leader through
 *   (`redis-head`, `pg-writer`). Its *history* is the run's registry events: source `registry`,
 *   type `record-set`, data `{name, value, previous, version}`, in time order (the version
 *   breaks a tie).
 * - *the record moved away from N at t*: a set at t whose value is not N while the record named N
 *   just before it (as the set's own `previous` says, or as the set before it says).
 * - *N is a former leader at t*: the record moved away from N strictly before t, and no set in
 *   between, nor one at t itself, named N again.
 * - *evidence*: an `ok` write of the probe whose `node` was a former leader at its `tInvoke`.
 *
 * The rule is conservative, so that a few ms of skew between the registry's clock and the
 * harness's cannot raise a false alarm: a write counts only when it was *sent* after the move
 * (not merely acknowledged after it), and a move back to the node at any time up to the send
 * clears it. A node the record never named is never judged: it cannot be a former leader (a
 * web head behind a load balancer has no record to lose). Without any history of the record in
 * the events nothing can be said: the result is null, never zero.
 */
export function writesByFormerLeader(
  history: HistoryInput,
  probe: string,
  events: readonly TimelineEvent[],
  record: string,
): FormerLeaderWrites | null {
  const spans = formerLeaderSpans(events, record);
  if (spans === null) return null;
  const log = opLog(history);
  const pid = probeIndex(log, probe);
  // The spans by the log's index of the node (a node the log never names wrote nothing).
  const byNode = new Map<number, { from: number; until: number }[]>();
  for (const [node, list] of spans) {
    const id = log.idOf(node);
    if (id !== undefined) byNode.set(id, list);
  }
  const seqs = new Map<string, number[]>();
  // Only chunks with an invocation inside some span are read.
  const all = [...byNode.values()].flat();
  const earliest = Math.min(...all.map((s) => s.from));
  const latest = Math.max(...all.map((s) => s.until));
  const inSpans = (c: ChunkBounds) => c.maxInvoke > earliest && c.minInvoke < latest;
  if (pid !== -2 && byNode.size > 0) {
    for (const c of log.scan(inSpans)) {
      for (let i = 0; i < c.length; i++) {
        if (c.probe[i] !== pid || !isWriteOf(c, i, pid) || (c.flags[i]! & OUTCOME_MASK) !== OK) continue;
        const mine = byNode.get(c.node[i]!);
        if (mine === undefined) continue;
        const t = c.tInvoke[i]!;
        let former = false;
        for (let k = 0; k < mine.length && !former; k++) former = t > mine[k]!.from && t < mine[k]!.until;
        if (!former) continue;
        const node = log.nameOf(c.node[i]!)!;
        const list = seqs.get(node) ?? [];
        list.push(c.seq[i]!);
        seqs.set(node, list);
      }
    }
  }
  const nodes = [...seqs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([node, list]) => ({ node, count: list.length, seqs: list.sort((a, b) => a - b) }));
  return { record, count: nodes.reduce((n, x) => n + x.count, 0), nodes };
}

/**
 * For each node the record moved away from, the open spans `(from, until)` in which it was a
 * former leader: from the move away to the next set naming it again (Infinity if none). Null
 * when the record has no history in the events.
 */
export function formerLeaderSpans(
  events: readonly TimelineEvent[],
  record: string,
): Map<string, { from: number; until: number }[]> | null {
  const sets = events
    .filter((e) => e.source === 'registry' && e.type === 'record-set' && e.data?.name === record)
    .map((e, i) => ({
      t: e.t,
      i,
      value: str(e.data?.value),
      previous: str(e.data?.previous),
      version: e.data?.version,
    }))
    .sort(
      (a, b) =>
        a.t - b.t ||
        (typeof a.version === 'number' && typeof b.version === 'number' ? a.version - b.version : 0) ||
        a.i - b.i,
    );
  if (sets.length === 0) return null;
  const spans = new Map<string, { from: number; until: number }[]>();
  const open = new Map<string, { from: number; until: number }>();
  let before: string | null = null;
  for (const s of sets) {
    // Who it named just before: the set's own word, and the set before it (should an event be
    // missing, both are certain to have held it once, and neither holds it after this set).
    const left = new Set([s.previous, before].filter((n): n is string => n !== null && n !== s.value));
    if (s.value !== null) {
      // Named again: no longer a former leader from this instant on.
      const span = open.get(s.value);
      if (span) {
        span.until = s.t;
        open.delete(s.value);
      }
    }
    for (const node of left) {
      if (open.has(node)) continue;
      const span = { from: s.t, until: Number.POSITIVE_INFINITY };
      open.set(node, span);
      spans.set(node, [...(spans.get(node) ?? []), span]);
    }
    before = s.value;
  }
  return spans;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
