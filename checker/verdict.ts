/**
 * A verdict is `pass`, `fail` or `unknown` (the evidence does not allow either). Verdicts
 * compose as in Jepsen: fail beats unknown beats pass.
 */
export type Verdict = 'pass' | 'fail' | 'unknown';

export function combine(verdicts: Iterable<Verdict>): Verdict {
  let out: Verdict = 'pass';
  for (const v of verdicts) {
    if (v === 'fail') return 'fail';
    if (v === 'unknown') out = 'unknown';
  }
  return out;
}
