import type {
  ConvergenceFigures,
  ExpectationResult,
  Expectations,
  FormerLeaderWrites,
  LeadershipChange,
  WindowFigures,
} from '../core/result.ts';
import type { AvailabilityFigures } from './availability.ts';
import type { Verdict } from './verdict.ts';
import type { WriteFigures } from './writes.ts';

export interface JudgeInput {
  expect: Expectations;
  probe: string;
  windows: readonly WindowFigures[];
  writes: WriteFigures;
  systems: readonly { name: string; convergence: ConvergenceFigures | null }[];
}

const ms = (v: number) => `${Math.round(v)} ms`;

/** Each expectation of a scenario, judged against the figures; absent ones are not judged. */
export function judgeExpectations(input: JudgeInput): ExpectationResult[] {
  const { expect, probe, windows, writes } = input;
  const out: ExpectationResult[] = [];
  for (const { fault, availability: a } of windows) {
    const scope = { fault, probe };
    if (expect.recovered) {
      out.push({
        name: 'recovered',
        scope,
        threshold: true,
        value: a.recovered,
        expected: 'writes succeed again and keep succeeding',
        actual: !a.outage
          ? a.recovered
            ? 'no outage seen by the probe'
            : 'no write completed after the fault'
          : a.recovered
            ? `yes, ${ms(a.failoverMs!)} after the fault`
            : a.stableForMs !== null
              ? `not for long enough (${ms(a.stableForMs)} without a failure)`
              : 'never: still failing when the run stopped waiting',
        verdict: a.recovered ? 'pass' : 'fail',
      });
    }
    if (expect.maxFailoverMs !== undefined)
      out.push(atMostMs('failover time', scope, expect.maxFailoverMs, a, a.failoverMs));
    if (expect.maxUnavailabilityMs !== undefined)
      out.push(atMostMs('unavailability window', scope, expect.maxUnavailabilityMs, a, a.unavailabilityMs));
  }
  out.push(lostWrites(expect, probe, writes));
  out.push(failedButPresent(expect, probe, writes));
  if (writes.unexpected > 0) {
    out.push({
      name: 'read-back integrity',
      scope: { probe },
      threshold: 0,
      value: writes.unexpected,
      expected: 'every value read back was written by the probe',
      actual: `${writes.unexpected} values nobody wrote`,
      verdict: 'fail',
    });
  }
  for (const s of input.systems) {
    const scope = { system: s.name };
    const c = s.convergence;
    if (expect.converged) {
      out.push({
        name: 'full redundancy',
        scope,
        threshold: true,
        value: c ? c.converged : null,
        expected: 'every node that is up is back in the topology, one leader',
        actual: !c
          ? 'not observed'
          : c.converged
            ? `yes${c.timeToFullRedundancyMs === null ? '' : `, ${ms(c.timeToFullRedundancyMs)} after the last fault`}`
            : `no, after ${ms(c.waitedMs)}: ${c.violations.join('; ')}`,
        verdict: !c ? 'unknown' : c.converged ? 'pass' : 'fail',
      });
    }
    if (expect.maxTimeToFullRedundancyMs !== undefined) {
      const v = c?.timeToFullRedundancyMs ?? null;
      out.push({
        name: 'time to full redundancy',
        scope,
        threshold: expect.maxTimeToFullRedundancyMs,
        value: v,
        expected: `<= ${ms(expect.maxTimeToFullRedundancyMs)}`,
        actual: v === null ? (c ? 'never' : 'not observed') : ms(v),
        verdict:
          v === null ? (c ? 'fail' : 'unknown') : v <= expect.maxTimeToFullRedundancyMs ? 'pass' : 'fail',
      });
    }
  }
  return out;
}

/** A bound on a time figure of a window. No outage passes; an outage that never ended fails. */
function atMostMs(
  name: string,
  scope: ExpectationResult['scope'],
  max: number,
  a: AvailabilityFigures,
  value: number | null,
): ExpectationResult {
  const base = { name, scope, threshold: max, expected: `<= ${ms(max)}` };
  if (!a.outage) return { ...base, value: null, actual: 'no outage seen by the probe', verdict: 'pass' };
  if (value === null) return { ...base, value: null, actual: 'never recovered', verdict: 'fail' };
  return { ...base, value, actual: ms(value), verdict: value <= max ? 'pass' : 'fail' };
}

/**
 * Lost acknowledged writes: at most `maxLostWrites` (0 unless the scenario says otherwise),
 * exactly `lostWrites`, or anything when `lostWrites: any` (still reported, never judged).
 * Without a read-back nothing can be said: unknown.
 */
function lostWrites(expect: Expectations, probe: string, w: WriteFigures): ExpectationResult {
  const scope = { probe };
  const actual = w.lost === null ? 'unknown (no read-back)' : String(w.lost);
  if (expect.lostWrites === 'any') {
    return {
      name: 'lost acknowledged writes',
      scope,
      threshold: 'any',
      value: w.lost,
      expected: 'any (the scenario expects loss)',
      actual,
      verdict: w.lost === null ? 'unknown' : 'pass',
    };
  }
  if (expect.lostWrites !== undefined) {
    return {
      name: 'lost acknowledged writes (exact)',
      scope,
      threshold: expect.lostWrites,
      value: w.lost,
      expected: `= ${expect.lostWrites}`,
      actual,
      verdict: w.lost === null ? 'unknown' : w.lost === expect.lostWrites ? 'pass' : 'fail',
    };
  }
  const max = expect.maxLostWrites ?? 0;
  return {
    name: 'lost acknowledged writes',
    scope,
    threshold: max,
    value: w.lost,
    expected: `<= ${max}`,
    actual,
    verdict: w.lost === null ? 'unknown' : w.lost <= max ? 'pass' : 'fail',
  };
}

/** Up to `n` sequence numbers, and how many more there are. */
export function firstSeqs(seqs: readonly number[], n = 5): string {
  const shown = seqs.slice(0, n).join(', ');
  return seqs.length > n ? `${shown} … (${seqs.length - n} more)` : shown;
}

/**
 * Failed writes stay absent: a write whose outcome was `fail` (certainly not applied, the client
 * was told) must not turn up in the read-back. At most `failedButPresent` may (0 unless the
 * scenario says otherwise), or any when it says `any` (still reported). Without a read-back
 * nothing can be said: unknown.
 */
function failedButPresent(expect: Expectations, probe: string, w: WriteFigures): ExpectationResult {
  const allowed = expect.failedButPresent ?? 0;
  const readBack = w.readBackSize !== null;
  const n = w.failedButPresent;
  const base = {
    name: 'failed writes stay absent',
    scope: { probe },
    threshold: allowed,
    value: readBack ? n : null,
    expected:
      allowed === 'any'
        ? 'any (the scenario expects writes reported failed in the read-back)'
        : `<= ${allowed} writes reported failed in the read-back`,
    actual: !readBack
      ? 'unknown (no read-back)'
      : n === 0
        ? '0'
        : `${n} reported failed but read back: seq ${firstSeqs(w.failedButPresentSeqs)}`,
  };
  if (!readBack) return { ...base, verdict: 'unknown' };
  return { ...base, verdict: allowed === 'any' || n <= allowed ? 'pass' : 'fail' };
}

/**
 * One leader at a time, for one probe against its system's leader record: at most
 * `writesByFormerLeader` writes acknowledged by a former leader (0 unless the scenario says
 * otherwise), or any when it says `any` (still reported). Without the record's history (null
 * figures) nothing can be said: unknown.
 */
export function judgeOneLeader(
  expect: Pick<Expectations, 'writesByFormerLeader'>,
  probe: string,
  system: string,
  record: string,
  f: FormerLeaderWrites | null,
): ExpectationResult {
  const allowed = expect.writesByFormerLeader ?? 0;
  const base = {
    name: 'one leader at a time',
    scope: { probe, system },
    threshold: allowed,
    value: f ? f.count : null,
    expected:
      allowed === 'any'
        ? 'any (the scenario expects writes acknowledged by a former leader)'
        : `<= ${allowed} writes acknowledged by a node after the ${record} record moved away from it`,
    actual: !f
      ? `unknown (no history of the ${record} record in the events)`
      : f.count === 0
        ? '0'
        : `${f.count} acknowledged by a former leader: ${f.nodes
            .map((n) => `${n.node} ${n.count} (seq ${firstSeqs(n.seqs)})`)
            .join('; ')}`,
  };
  if (!f) return { ...base, verdict: 'unknown' };
  return { ...base, verdict: allowed === 'any' || f.count <= allowed ? 'pass' : 'fail' };
}

export type { ExpectationResult, ConvergenceFigures, WindowFigures };

/** Exactly `expected` leader changes in a system over the whole run (0: it rode the faults out). */
export function judgeLeaderChangeCount(
  system: string,
  changes: readonly LeadershipChange[],
  expected: number,
): ExpectationResult {
  const path = changes.length ? `: ${[changes[0]!.from, ...changes.map((m) => m.to)].join(' -> ')}` : '';
  return {
    name: 'leader changes over the run',
    scope: { system },
    threshold: expected,
    value: changes.length,
    expected: `${expected}`,
    actual: `${changes.length}${path}`,
    verdict: changes.length === expected ? 'pass' : 'fail',
  };
}

/**
 * No split brain: in each fault window a system's leader changes at most once per fault in it
 * (a head that moves a -> b -> a -> c for one kill fails). Judged only where the leader moved.
 */
export function judgeLeadership(
  system: string,
  windows: readonly { fault: number; faults: readonly number[] }[],
  changes: readonly LeadershipChange[],
): ExpectationResult[] {
  return windows.flatMap((w) => {
    const moves = changes.filter((c) => c.fault === w.fault);
    if (moves.length === 0) return [];
    const allowed = w.faults.length;
    return [
      {
        name: 'leader changes',
        scope: { fault: w.fault, system },
        threshold: allowed,
        value: moves.length,
        expected: `<= ${allowed} (one per fault)`,
        actual: `${moves.length}: ${[moves[0]!.from, ...moves.map((m) => m.to)].join(' -> ')}`,
        verdict: moves.length <= allowed ? ('pass' as const) : ('fail' as const),
      },
    ];
  });
}
