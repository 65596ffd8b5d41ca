import { sleep } from '../../core/clock.ts';
import { errorMessage } from '../../core/errors.ts';
import type { Endpoint } from '../../core/provider.ts';
import type { Registry } from '../../core/registry.ts';
import { LEADER_KEY } from './config.ts';
import { type KeyEvent, type KeyValue, getKey, watchKey } from './etcd.ts';

/** The registry record that mirrors Patroni's leader key (see LeaderKeyMirror). */
export const LEADER_RECORD = 'patroni-leader';
export const LEADER_RECORD_TTL_MS = 1000;

export interface MirrorDeps {
  registry: Pick<Registry, 'get' | 'set'>;
  /** The etcd members' client endpoints as the harness reaches them now (they move on a restart). */
  members(): Endpoint[];
  emit(type: string, node: string | undefined, data?: Record<string, unknown>): void;
  /** How often the key is read besides the watch (a watch on a member that went away hangs). */
  pollMs?: number;
}

/**
 * Patroni's leadership is its leader key in etcd (`/service/<scope>/leader`, value: the leader's
 * name, bound to the leader's lease of `ttl` s). Patroni keeps no record in the harness's
 * registry, so this controller mirrors the key into the registry record `patroni-leader`: the
 * record then has the history the checker reads for the leadership changes and for one leader
 * at a time (checker/former-leader.ts), with no change to either.
 *
 * It watches the key on one member (etcd's watch: each change, in revision order, within ms),
 * and reads it every `pollMs` from any member too, since a watch on a member that was powered
 * off or cut off hangs silently. A change is taken once, in revision order, whichever saw it
 * first; a revision the poll saw that the watch had not is a stale watch, started again on the
 * next member. A key that is deleted (its lease ran out: the leader died or lost etcd) leaves
 * the record as it is: nobody leads until a member takes the key, and the record moves then,
 * from the former leader to the new one, as Patroni's clients see it.
 */
export class LeaderKeyMirror {
  private revision = 0;
  private value: string | null | undefined;
  /** The last leader the key named (the record's value). */
  private leader: string | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private watchAbort: AbortController | undefined;
  private loops: Promise<void>[] = [];
  private writes: Promise<void> = Promise.resolve();
  private member = 0;

  constructor(private readonly deps: MirrorDeps) {}

  start(): void {
    if (this.loops.length) return;
    this.loops = [this.watchLoop(), this.pollLoop()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.watchAbort?.abort();
    await Promise.allSettled(this.loops);
    await this.writes;
  }

  /** Resolves once every record write asked for so far is done. */
  settled(): Promise<void> {
    return this.writes;
  }

  /** A value of the key as of `revision`, from the watch or the poll; older news is ignored. */
  seen(e: KeyEvent, how: 'watch' | 'poll'): void {
    if (e.revision <= this.revision) return;
    this.revision = e.revision;
    if (e.value === this.value) return;
    const previous = this.leader;
    this.value = e.value;
    if (e.value === null) {
      this.deps.emit('leader-key-gone', previous ?? undefined, { revision: e.revision, how });
      return;
    }
    const leader = e.value;
    this.leader = leader;
    this.deps.emit('leader-key', leader, { revision: e.revision, how, previous });
    this.writes = this.writes.then(() => this.write(leader));
  }

  private async write(leader: string): Promise<void> {
    const { registry } = this.deps;
    for (let attempt = 0; attempt < 20 && !this.stopped; attempt++) {
      // A newer value came meanwhile: that write follows this one.
      if (this.value !== leader) return;
      try {
        const current = await registry.get(LEADER_RECORD);
        if (current?.value === leader) return;
        if (await registry.set(LEADER_RECORD, leader, LEADER_RECORD_TTL_MS, current?.version ?? 0)) return;
      } catch (err) {
        if (attempt === 19) this.deps.emit('leader-record-failed', leader, { error: errorMessage(err) });
      }
      await sleep(50);
    }
  }

  private next(): Endpoint | undefined {
    const all = this.deps.members();
    if (all.length === 0) return undefined;
    this.member = (this.member + 1) % all.length;
    return all[this.member];
  }

  private current(): Endpoint | undefined {
    const all = this.deps.members();
    return all.length ? all[this.member % all.length] : undefined;
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped) {
      const ep = this.current();
      if (ep) {
        const ac = new AbortController();
        this.watchAbort = ac;
        const onStop = () => ac.abort();
        this.abort.signal.addEventListener('abort', onStop);
        try {
          const kv = await getKey(ep, LEADER_KEY);
          this.seen(kv, 'watch');
          await watchKey(ep, LEADER_KEY, kv.storeRevision + 1, (e) => this.seen(e, 'watch'), ac.signal);
        } catch {
          // The member went away, or the poll found the watch stale: the next member.
        } finally {
          this.abort.signal.removeEventListener('abort', onStop);
        }
      }
      if (this.stopped) return;
      this.next();
      await sleep(100);
    }
  }

  private async pollLoop(): Promise<void> {
    const pollMs = this.deps.pollMs ?? 500;
    while (!this.stopped) {
      const kv = await this.readAny();
      if (kv && kv.revision > this.revision) {
        const changed = kv.value !== this.value;
        this.seen(kv, 'poll');
        // The watch missed a change: start it again on another member.
        if (changed) this.watchAbort?.abort();
      }
      await sleep(pollMs);
    }
  }

  private async readAny(): Promise<KeyValue | undefined> {
    const all = this.deps.members();
    for (let i = 0; i < all.length; i++) {
      const ep = all[(this.member + 1 + i) % all.length]!;
      try {
        return await getKey(ep, LEADER_KEY, 500);
      } catch {
        // that member does not answer: the next
      }
    }
    return undefined;
  }
}
