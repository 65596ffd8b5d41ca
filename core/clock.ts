/**
 * One monotonic clock for a run. Times are milliseconds (with sub-millisecond precision) since
 * the clock's origin, read from `process.hrtime.bigint()`. Events stamped elsewhere with the wall
 * clock (agents in containers share the host's kernel clock) are mapped onto it with `fromWall`.
 */
export interface Clock {
  /** Milliseconds since the origin of the run. */
  now(): number;
  /** Maps a wall-clock time (ms since the epoch) onto this clock. */
  fromWall(epochMs: number): number;
  /** The wall-clock time (ms since the epoch) of a time on this clock. */
  toWall(t: number): number;
}

export class MonotonicClock implements Clock {
  private readonly originNs: bigint;
  private readonly originWallMs: number;

  constructor() {
    this.originNs = process.hrtime.bigint();
    // performance.timeOrigin + performance.now() is the wall clock with sub-ms precision.
    this.originWallMs = performance.timeOrigin + performance.now();
  }

  now(): number {
    return Number(process.hrtime.bigint() - this.originNs) / 1e6;
  }

  fromWall(epochMs: number): number {
    return epochMs - this.originWallMs;
  }

  toWall(t: number): number {
    return this.originWallMs + t;
  }
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** The promise's value, or a rejection with `message` after `ms`; the timer never outlives it. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
