import { type Clock, sleep } from '../core/clock.ts';
import { InfraError, InterruptedError, errorMessage } from '../core/errors.ts';
import type { TimelineEvent } from '../core/events.ts';
import type { PhaseName, PhaseRecord } from '../core/result.ts';
import type { RunStore } from './run-store.ts';
import type { RunReporter } from './runner.ts';

/**
 * What every phase of a run shares: the clock, the run folder, the timeline of events, the
 * record of phases, and one abort signal that fires on a user's signal or the run's time limit.
 */
export class RunContext {
  readonly events: TimelineEvent[] = [];
  readonly phases: PhaseRecord[] = [];
  private readonly abort = new AbortController();
  private readonly limit: NodeJS.Timeout;
  private timedOut = false;
  private halted: InfraError | undefined;
  private eventWriteError: string | undefined;
  private readonly detach: () => void;

  constructor(
    readonly clock: Clock,
    readonly store: RunStore,
    private readonly reporter: RunReporter,
    readonly timeLimitMs: number,
    outer?: AbortSignal,
  ) {
    const onOuter = () => this.abort.abort(outer?.reason ?? 'SIGINT');
    outer?.addEventListener('abort', onOuter, { once: true });
    if (outer?.aborted) onOuter();
    this.detach = () => outer?.removeEventListener('abort', onOuter);
    this.limit = setTimeout(() => {
      this.timedOut = true;
      this.abort.abort('time limit');
    }, timeLimitMs);
  }

  /** Fires on a signal or at the time limit: providers and sleeps stop early on it. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Throws the reason the run must stop, if it must. */
  checkpoint(): void {
    if (!this.abort.signal.aborted) return;
    throw this.stopReason();
  }

  /** Stops the run on its own stop condition (the scenario's abort rule): status `halted`. */
  halt(message: string): void {
    if (this.abort.signal.aborted) return;
    this.halted = new InfraError('HALTED', message, {
      hint: "the stack was reverted and torn down; see the probe's series in the report, and raise abort.maxFailureRatio or abort.forMs if this was expected",
    });
    this.abort.abort('halt');
  }

  /** Whether the run halted on its abort rule. */
  get wasHalted(): boolean {
    return this.halted !== undefined;
  }

  stopReason(): InfraError | InterruptedError {
    if (this.halted) return this.halted;
    if (this.timedOut) {
      return new InfraError('RUN_TIMEOUT', `the run went past its time limit of ${this.timeLimitMs} ms`, {
        hint: "a phase hung: see the phases in result.json and the nodes' logs in the run folder",
      });
    }
    return new InterruptedError(String(this.abort.signal.reason));
  }

  /** Sleeps until `t` on the run's clock (or until the run must stop), then checks. */
  async sleepUntil(t: number): Promise<void> {
    // Timers count whole milliseconds on the event loop's clock and may fire a fraction of one
    // early on the run's clock: sleep again until `t` has really come.
    for (let wait = t - this.clock.now(); wait > 0; wait = t - this.clock.now()) {
      await sleep(Math.max(1, Math.ceil(wait)), this.abort.signal);
      this.checkpoint();
    }
    this.checkpoint();
  }

  emit = (e: TimelineEvent): void => {
    this.events.push(e);
    try {
      this.store.appendEvent(e);
    } catch (err) {
      // The run folder cannot be written (disk full, removed): keep going, teardown matters more.
      this.eventWriteError ??= `events.jsonl: ${errorMessage(err)}`;
    }
    this.reporter.event?.(e);
  };

  async phase<T>(name: PhaseName, fn: () => Promise<T>): Promise<T> {
    const tStart = this.clock.now();
    this.reporter.phaseStart?.(name, tStart);
    this.emit({ t: tStart, source: 'harness', type: 'phase-start', data: { phase: name } });
    const end = (status: 'ok' | 'failed', error?: string) => {
      const rec: PhaseRecord = {
        name,
        tStart,
        tEnd: this.clock.now(),
        status,
        ...(error === undefined ? {} : { error }),
      };
      this.phases.push(rec);
      this.reporter.phaseEnd?.(rec);
    };
    try {
      const value = await fn();
      end('ok');
      return value;
    } catch (err) {
      end('failed', errorMessage(err));
      throw err;
    }
  }

  get storeError(): string | undefined {
    return this.eventWriteError;
  }

  /** Stops the time limit and lets go of the outer signal. */
  close(): void {
    clearTimeout(this.limit);
    this.detach();
  }
}
