import type { Registry } from '../../core/registry.ts';
import { namedEvent, parseSentinelEvent } from './events.ts';

/** The registry record that names the master the Sentinels hand out (see index.ts). */
export const MASTER_RECORD = 'sentinel-master';
export const MASTER_RECORD_TTL_MS = 1000;

export interface WatchDeps {
  emit(type: string, data?: Record<string, unknown>): void;
  registry: Pick<Registry, 'get' | 'set'>;
  /** A data node's name from its address (from /etc/hosts). */
  nameOf(ip: string): string | undefined;
  sleep(ms: number): Promise<void>;
}

/**
 * The watcher beside a Sentinel (`sentinel-watch`): it subscribes to everything its Sentinel
 * publishes and does two things with it.
 *
 * - Every event goes on the run's timeline, naming nodes (events.ts): `+sdown`, `+odown`,
 *   `+elected-leader`, `+promoted-slave`, `+switch-master`... stamped when the Sentinel published
 *   them (its pub/sub is in the same network namespace: no hop).
 * - The master the Sentinels hand out is mirrored into the registry record `sentinel-master`,
 *   as a Sentinel's `client-reconfig-script` would update a DNS name: set at start when absent,
 *   and moved on every `+switch-master` (the Sentinels' new configuration, which the leader
 *   announces once the promoted replica is a master and the others adopt from its hellos).
 *   Several watchers write the same value; the writes are conditional, so they never move it
 *   back. Nothing reads the record to find the master: it is the leader's history, which the
 *   checker's `one leader at a time` and the leadership changes read.
 */
export class SentinelWatch {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly self: string,
    private readonly deps: WatchDeps,
  ) {}

  /** One message of the Sentinel's pub/sub. */
  onEvent(channel: string, message: string): void {
    const e = namedEvent(parseSentinelEvent(channel, message), this.self, this.deps.nameOf);
    this.deps.emit(e.type, { node: e.node, ...e.data });
    if (e.type === '+switch-master' && this.isNode(e.data.to)) this.publish(e.data.to, 'switch-master');
  }

  /** At start: the record, if nobody has set it yet. */
  publishInitial(master: string): Promise<void> {
    return this.publish(master, 'start', true);
  }

  /** Resolves once every publish asked for so far is done. */
  settled(): Promise<void> {
    return this.queue;
  }

  private isNode(v: unknown): v is string {
    return typeof v === 'string' && !/[:]/.test(v);
  }

  private publish(master: string, why: string, onlyIfAbsent = false): Promise<void> {
    this.queue = this.queue.then(() => this.write(master, why, onlyIfAbsent));
    return this.queue;
  }

  private async write(master: string, why: string, onlyIfAbsent: boolean): Promise<void> {
    const { registry, emit } = this.deps;
    let lastError = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const current = await registry.get(MASTER_RECORD);
        if (current?.value === master || (onlyIfAbsent && current)) return;
        const set = await registry.set(MASTER_RECORD, master, MASTER_RECORD_TTL_MS, current?.version ?? 0);
        if (set) {
          emit('master-record-set', { node: master, previous: current?.value ?? null, why });
          return;
        }
        // Another watcher wrote in between: read again.
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      await this.deps.sleep(100);
    }
    emit('master-record-failed', { node: master, why, error: lastError || 'conflicting writes' });
  }
}
