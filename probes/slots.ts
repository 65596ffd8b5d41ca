import { type Clock, sleep } from '../core/clock.ts';
import { Pacer } from './pacer.ts';

/**
 * What every probe shares: `concurrency` slots (Jepsen's processes), each with one operation in
 * flight, started at one shared rate; a gate that holds every slot while a fault is applied
 * (and says when none is in flight); a pause after a failure; one sequence of unique ids.
 * A probe gives the operation (`attempt`) and what to close when it stops (`closeSlot`).
 */
export class Slots {
  private seq = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private readonly pacer: Pacer;

  constructor(
    clock: Clock,
    private readonly opts: {
      rateHz: number;
      concurrency: number;
      retryBackoffMs: number;
      /** One operation with this id on this slot; resolves to whether it succeeded. */
      attempt: (slot: number, seq: number) => Promise<boolean>;
      /** Lets go of a slot's connection. */
      closeSlot: (slot: number) => void;
    },
  ) {
    this.pacer = new Pacer(clock, opts.rateHz);
  }

  /** The next unique id (also for a read-back, recorded beside the writes). */
  nextSeq(): number {
    return ++this.seq;
  }

  start(): void {
    if (this.loops.length) return;
    this.loops = Array.from({ length: this.opts.concurrency }, (_, slot) => this.run(slot));
  }

  /** Holds every slot; resolves once no operation is in flight. */
  async pause(): Promise<void> {
    if (!this.gate) {
      let open: () => void = () => {};
      const promise = new Promise<void>((r) => {
        open = r;
      });
      this.gate = { promise, open };
    }
    while (this.inFlight > 0) {
      await new Promise<void>((r) => {
        this.idle = r;
      });
    }
  }

  resume(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.resume();
    await Promise.all(this.loops);
    for (let slot = 0; slot < this.opts.concurrency; slot++) this.opts.closeSlot(slot);
  }

  private async run(slot: number): Promise<void> {
    while (!this.stopped) {
      const wait = this.pacer.take();
      if (wait) await wait;
      // The gate is checked right before the operation, with no await in between: a pause()
      // that returned is never followed by an operation until resume().
      while (this.gate && !this.stopped) await this.gate.promise;
      if (this.stopped) break;
      this.inFlight++;
      const ok = await this.opts.attempt(slot, this.nextSeq());
      this.inFlight--;
      if (this.inFlight === 0) {
        this.idle?.();
        this.idle = undefined;
      }
      if (!ok && this.opts.retryBackoffMs > 0) await sleep(this.opts.retryBackoffMs);
    }
  }
}
