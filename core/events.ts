/**
 * Events share one timeline with the probes' histories: agents' decisions, registry changes,
 * faults injected and reverted, phases of the run. `t` is on the run's monotonic clock.
 */
export interface TimelineEvent {
  t: number;
  /** Who saw or did it: `harness`, `fault`, `agent:redis-b`, `registry`. */
  source: string;
  type: string;
  node?: string;
  data?: Record<string, unknown>;
}
