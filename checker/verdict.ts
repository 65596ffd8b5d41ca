import type { Verdict } from '../core/result.ts';

export function combine(verdicts: Iterable<Verdict>): Verdict {
  let out: Verdict = 'pass';
  for (const v of verdicts) {
    if (v === 'fail') return 'fail';
    if (v === 'unknown') out = 'unknown';
  }
  return out;
}

export type { Verdict };
