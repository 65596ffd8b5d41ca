import type { Endpoint } from '../../core/provider.ts';

/**
 * A small client of etcd's v3 API through its JSON gateway (etcd 3.4: `POST /v3/...`, keys and
 * values base64, 64-bit integers as strings), enough to read and watch Patroni's leader key and
 * to ask a member who leads the raft group. The harness reaches each member at its mapped port.
 */

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: unknown) => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '');

async function post(
  ep: Endpoint,
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${ep.host}:${ep.port}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

export interface KeyValue {
  /** null when the key does not exist. */
  value: string | null;
  /**
   * The revision this value is as of: the key's last change (mod_revision), or for a key that
   * does not exist, the store's revision when it answered.
   */
  revision: number;
  /** The store's revision when it answered (a watch from the next one misses nothing). */
  storeRevision: number;
}

/** Reads one key (a linearizable read: the majority's current value). */
export async function getKey(ep: Endpoint, key: string, timeoutMs = 1000): Promise<KeyValue> {
  const r = await post(ep, '/v3/kv/range', { key: b64(key) }, timeoutMs);
  const header = r.header as { revision?: string } | undefined;
  const kvs = (r.kvs as { value?: string; mod_revision?: string }[] | undefined) ?? [];
  const storeRevision = Number(header?.revision ?? 0);
  return kvs.length
    ? { value: unb64(kvs[0]!.value), revision: Number(kvs[0]!.mod_revision ?? 0), storeRevision }
    : { value: null, revision: storeRevision, storeRevision };
}

/** Which member this one takes for the raft leader (by name), or null when it knows none. */
export async function raftLeader(ep: Endpoint, timeoutMs = 1000): Promise<string | null> {
  const [status, list] = await Promise.all([
    post(ep, '/v3/maintenance/status', {}, timeoutMs),
    post(ep, '/v3/cluster/member/list', {}, timeoutMs),
  ]);
  const leaderId = String(status.leader ?? '0');
  if (leaderId === '0') return null;
  const members = (list.members as { ID?: string; name?: string }[] | undefined) ?? [];
  return members.find((m) => String(m.ID) === leaderId)?.name ?? null;
}

/** One change of a watched key: its new value, or null when it was deleted (its lease ran out). */
export interface KeyEvent {
  value: string | null;
  revision: number;
}

/** Parses the JSON objects of a watch stream as they come (one per line), calling `onObject`. */
export class JsonLines {
  private buffer = '';
  constructor(private readonly onObject: (o: Record<string, unknown>) => void) {}
  push(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onObject(JSON.parse(line) as Record<string, unknown>);
    }
  }
}

/** The key's changes in one watch response object (none for the `created` answer or a progress notice). */
export function watchEvents(o: Record<string, unknown>): KeyEvent[] {
  const result = o.result as
    | { events?: { type?: string; kv?: { value?: string; mod_revision?: string } }[] }
    | undefined;
  if (o.error) throw new Error(`etcd watch: ${JSON.stringify(o.error).slice(0, 200)}`);
  return (result?.events ?? []).map((e) => ({
    value: e.type === 'DELETE' ? null : unb64(e.kv?.value),
    revision: Number(e.kv?.mod_revision ?? 0),
  }));
}

/**
 * Watches a key from `fromRevision` on, calling `onEvent` for each change, until the stream ends
 * (the member went away), fails, or `signal` fires. Resolves when it ends; rejects on failure.
 */
export async function watchKey(
  ep: Endpoint,
  key: string,
  fromRevision: number,
  onEvent: (e: KeyEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(`http://${ep.host}:${ep.port}/v3/watch`, {
    method: 'POST',
    body: JSON.stringify({ create_request: { key: b64(key), start_revision: String(fromRevision) } }),
    headers: { 'content-type': 'application/json' },
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`etcd /v3/watch: HTTP ${res.status}`);
  const lines = new JsonLines((o) => {
    for (const e of watchEvents(o)) onEvent(e);
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
    lines.push(decoder.decode(chunk, { stream: true }));
}
