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

  constructor(
    readonly fileName: string,
    private readonly onJson: (obj: Record<string, unknown>) => void,
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
    });
  }

  /**
   * Reads a container's demultiplexed output as text (testcontainers' log consumer, attached as
   * the container starts, so a container that dies while starting still leaves its log).
   */
  consume(stream: Readable): void {
    this.stream = stream;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.take(line);
    });
    stream.on('end', () => {
      if (partial) this.take(partial);
      this.onEnd?.();
    });
    stream.on('error', () => {});
  }

  /** Called when the output ends (the container stopped): a restarted one is followed again. */
  onEnd: (() => void) | undefined;
  private stopped = false;
  get isStopped(): boolean {
    return this.stopped;
  }

  private take(line: string): void {
    if (this.lines.length < MAX_LINES) this.lines.push(line);
    if (line.startsWith('{')) {
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

  write(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, this.fileName), this.lines.join('\n') + (this.lines.length ? '\n' : ''));
  }

  stop(): void {
    this.stopped = true;
    this.stream?.destroy();
  }
}
