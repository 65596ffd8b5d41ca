import { FAIL, type HistoryInput, OK, OUTCOME_MASK, SeqSet, opLog } from '../core/history.ts';
import type { WriteFigures } from '../core/result.ts';
import { isWriteOf, probeIndex } from './columns.ts';

/**
 * The fate of a probe's writes, judged against one final read-back done after recovery against
 * the current primary/head (in the spirit of Jepsen's set checker).
 *
 * Terms:
 * - *attempted*: every write the probe invoked.
 * - *acknowledged*: writes whose outcome was `ok`.
 * - *lost*: acknowledged writes whose value is absent from the read-back. This is data loss.
 * - *unknown*: writes whose outcome was `unknown`; never counted as lost or kept. Of those,
 *   *recovered* are present in the read-back, *absent* are not.
 * - *failed but present*: writes reported `fail` whose value is there anyway (a client that
 *   treats errors as "not written" would be wrong about them).
 * - *unexpected*: values in the read-back that no write attempted.
 *
 * Without a read-back (it failed or never ran) nothing can be said: `verdict` is `unknown` and
 * the figures that need it are null. The verdict fails on a lost write or an unexpected value.
 */

export function checkWrites(
  history: HistoryInput,
  readBack: ReadonlySet<number> | null,
  probe?: string,
): WriteFigures {
  const log = opLog(history);
  const pid = probeIndex(log, probe);
  let attempted = 0;
  let acknowledged = 0;
  let failed = 0;
  let unknown = 0;
  let unknownRecovered = 0;
  const lostSeqs: number[] = [];
  const failedButPresentSeqs: number[] = [];
  const attemptedSeqs = new SeqSet();
  // The read-back as a bitmap too: a lookup per write into a set of millions misses the cache.
  const present = readBack === null ? null : readBack instanceof SeqSet ? readBack : SeqSet.of(readBack);

  for (const c of log.scan()) {
    for (let i = 0; i < c.length; i++) {
      if (!isWriteOf(c, i, pid)) continue;
      const seq = c.seq[i]!;
      const outcome = c.flags[i]! & OUTCOME_MASK;
      attempted++;
      attemptedSeqs.add(seq);
      const there = present?.has(seq) ?? false;
      if (outcome === OK) {
        acknowledged++;
        if (present && !there) lostSeqs.push(seq);
      } else if (outcome === FAIL) {
        failed++;
        if (there) failedButPresentSeqs.push(seq);
      } else {
        unknown++;
        if (there) unknownRecovered++;
      }
    }
  }

  const unexpectedValues: number[] = [];
  if (readBack) for (const v of readBack) if (!attemptedSeqs.has(v)) unexpectedValues.push(v);
  lostSeqs.sort((a, b) => a - b);
  failedButPresentSeqs.sort((a, b) => a - b);
  unexpectedValues.sort((a, b) => a - b);

  return {
    verdict:
      readBack === null
        ? 'unknown'
        : lostSeqs.length === 0 && unexpectedValues.length === 0
          ? 'pass'
          : 'fail',
    attempted,
    acknowledged,
    failed,
    unknown,
    lost: readBack ? lostSeqs.length : null,
    lostSeqs,
    unknownRecovered: readBack ? unknownRecovered : null,
    unknownAbsent: readBack ? unknown - unknownRecovered : null,
    failedButPresent: failedButPresentSeqs.length,
    failedButPresentSeqs,
    unexpected: unexpectedValues.length,
    unexpectedValues,
    readBackSize: readBack ? readBack.size : null,
  };
}

export type { WriteFigures };
