import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';

const MAX_LINES = 50_000;

/**
 * Follows a container's output from its start: keeps the lines for the run's log folder and
 * hands every JSON line (an agent's or the registry's event) to `onJson`.
 */
export class ContainerLog {
  readonly lines: string[] = [];
  private readonly seen = new Set<string>();
  private stream: Readable | undefined;

  /** `onJson` is given the output's JSON lines (events); without it no line is parsed. */
  constructor(
    readonly fileName: string,
    private readonly onJson?: (obj: Record<string, unknown>) => void,
  ) {}

  /** Follows the container's output, from its start or from `since` (seconds since the epoch). */
  async follow(docker: Docker, id: string, since?: number): Promise<void> {
    const container = docker.getContainer(id);
    const raw = (await container.logs({
      follow: true,
      stdout: true,
      stderr: true,
      ...(since === undefined ? {} : { since }),
    })) as unknown as Readable;
    this.stream?.destroy();
    this.stream = raw;
    this.ended = false;
    const out = new PassThrough();
    docker.modem.demuxStream(raw, out, out);
    raw.on('end', () => {
      out.end();
      this.onEnd?.();
    });
    raw.on('error', () => out.end());
    let partial = '';
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.take(line);
    });
    out.on('end', () => {
      if (partial) this.take(partial);
      // Not an older stream that a new follow replaced.
      if (this.stream === raw) this.endWaits('its output ended');
    });
  }

  private readonly waits: { re: RegExp; resolve: () => void; reject: (err: Error) => void }[] = [];

  /**
   * Resolves once a line of the output matches `re` (a line already seen counts), as soon as
   * it arrives on the followed stream; fails when the output ends first (the container stopped
   * or was removed) or after `timeoutMs`.
   */
  waitFor(re: RegExp, timeoutMs: number): Promise<void> {
    if (this.lines.some((l) => re.test(l))) return Promise.resolve();
    if (this.ended)
      return Promise.reject(new Error(`its output ended before log line ${String(re)} was seen`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dropWait(w);
        reject(new Error(`log line ${String(re)} not seen within ${timeoutMs} ms`));
      }, timeoutMs);
      const w = {
        re,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waits.push(w);
    });
  }

  private dropWait(w: (typeof this.waits)[number]): void {
    const i = this.waits.indexOf(w);
    if (i >= 0) this.waits.splice(i, 1);
  }

  /** The followed output has ended (until it is followed again). */
  private ended = false;

  private endWaits(why: string): void {
    this.ended = true;
    for (const w of this.waits.splice(0))
      w.reject(new Error(`${why} before log line ${String(w.re)} was seen`));
  }

  /** Called when the output ends (the container stopped): a restarted one is followed again. */
  onEnd: (() => void) | undefined;
  private stopped = false;
  get isStopped(): boolean {
    return this.stopped;
  }

  private take(line: string): void {
    if (this.lines.length < MAX_LINES) this.lines.push(line);
    if (this.waits.length)
      for (const w of [...this.waits])
        if (w.re.test(line)) {
          this.dropWait(w);
          w.resolve();
        }
    if (this.onJson && line.startsWith('{')) {
      // A stream followed again after a restart starts at a whole second: skip lines seen before.
      if (this.seen.has(line)) return;
      if (this.seen.size < MAX_LINES) this.seen.add(line);
      try {
        this.onJson(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not an event: an ordinary log line that happens to start with a brace
      }
    }
  }

  /** A line of the harness's own, kept after the container's lines (where its reader looks). */
  note(line: string): void {
    this.notes.push(line);
  }
  private readonly notes: string[] = [];

  write(dir: string): void {
    mkdirSync(dir, { recursive: true });
    const lines = [...this.lines, ...this.notes];
    writeFileSync(join(dir, this.fileName), lines.join('\n') + (lines.length ? '\n' : ''));
  }

  stop(): void {
    this.stopped = true;
    this.stream?.destroy();
    this.endWaits('the run is being torn down');
  }
}
