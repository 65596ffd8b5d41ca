import type { Op } from '../core/history.ts';

/**
 * The run's own stop condition, locally as on AWS (where the same figure goes to CloudWatch and
 * an alarm over it stops the FIS experiment): a probe whose failure ratio stays above
 * `maxFailureRatio` for `forMs` halts the run. Every revert is still done; the result's status is
 * `halted` and its error says which probe, how high, and for how long.
 *
 * The ratio is taken over the operations that completed in the last `sampleMs` (failed and
 * unknown ones are failures; writes cut short by the probe's own stop are not), looked at every
 * `everyMs`. "Stays above" means every look for `forMs` found it above; a look with no completed
 * operation says nothing and keeps the state.
 */
export interface AbortRule {
  maxFailureRatio: number;
  forMs: number;
}

export interface Breach {
  probe: string;
  ratio: number;
  aboveForMs: number;
  rule: AbortRule;
}

export const SAMPLE_MS = 1000;

/** The failure ratio of `probe`'s writes completed in (now - sampleMs, now], or null without any. */
export function recentFailureRatio(
  ops: readonly Op[],
  probe: string,
  now: number,
  sampleMs = SAMPLE_MS,
): { ratio: number; count: number } | null {
  let count = 0;
  let failed = 0;
  // Newest last: walk back until well before the window (completions are nearly in order).
  for (let i = ops.length - 1; i >= 0; i--) {
    const o = ops[i]!;
    if (o.tComplete <= now - sampleMs - 5000) break;
    if (o.probe !== probe || o.op !== 'write' || o.tComplete > now || o.tComplete <= now - sampleMs) continue;
    if (o.cutByProbe) continue;
    count++;
    if (o.outcome !== 'ok') failed++;
  }
  return count === 0 ? null : { ratio: failed / count, count };
}

export class AbortGuard {
  private readonly aboveSince = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private fired = false;

  constructor(
    private readonly rule: AbortRule,
    private readonly probes: readonly string[],
    private readonly ops: () => readonly Op[],
    private readonly now: () => number,
    private readonly onBreach: (b: Breach) => void,
  ) {}

  /** One look; returns the breach it found (and reported), if any. */
  look(): Breach | undefined {
    if (this.fired) return undefined;
    const t = this.now();
    for (const probe of this.probes) {
      const r = recentFailureRatio(this.ops(), probe, t);
      if (r === null) continue;
      if (r.ratio <= this.rule.maxFailureRatio) {
        this.aboveSince.delete(probe);
        continue;
      }
      const since = this.aboveSince.get(probe) ?? t;
      this.aboveSince.set(probe, since);
      if (t - since >= this.rule.forMs) {
        this.fired = true;
        const b = { probe, ratio: r.ratio, aboveForMs: t - since, rule: this.rule };
        this.onBreach(b);
        return b;
      }
    }
    return undefined;
  }

  start(everyMs = 250): void {
    this.timer ??= setInterval(() => this.look(), everyMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export function describeBreach(b: Breach): string {
  return `probe ${b.probe}: its failure ratio stayed above ${b.rule.maxFailureRatio} for ${Math.round(b.aboveForMs)} ms (${(b.ratio * 100).toFixed(0)} % of its writes failed in the last second): the scenario's abort rule halted the run`;
}
