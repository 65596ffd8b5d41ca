import pg from 'pg';
import { CachingResolver } from '../../agents/registry/http-client.ts';
import type { Clock } from '../../core/clock.ts';
import { type History, type Outcome, SeqSet } from '../../core/history.ts';
import type { Endpoint } from '../../core/provider.ts';
import type { Registry } from '../../core/registry.ts';
import type { ClientSettings } from '../../core/result.ts';
import type { Probe } from '../../core/system.ts';
import { recordOp } from '../../probes/record.ts';
import { Slots } from '../../probes/slots.ts';
import { endClient } from './client.ts';
import { WRITER_RECORD } from './records.ts';
import type { PgWriterProbeSpec } from './spec.ts';

/**
 * A real Postgres client workload: `concurrency` slots, each with its own `pg` connection, one
 * INSERT of a unique sequential id in flight each, in autocommit, at a shared fixed rate, to
 * whichever node the writer record names (resolved as a client's stub resolver would, cached
 * for the TTL, re-resolved after errors). Every INSERT is recorded in the history.
 */
export interface PgWriterDeps {
  clock: Clock;
  history: History;
  registry: Registry;
  endpoint(node: string): Endpoint;
  table: string;
  /** Who it logs in as (default: postgres, no password, database postgres): a stack it attached to. */
  login?: { user: string; password?: string; database: string };
}

export const pgTable = (probe: string) => `chaos_${probe.replace(/-/g, '_')}`;

export function pgWriterSettings(spec: PgWriterProbeSpec, table: string): ClientSettings {
  return {
    library: 'node-postgres 8',
    connectTimeoutMs: spec.connectTimeoutMs,
    commandTimeoutMs: spec.statementTimeoutMs,
    retries: 0,
    retryBackoffMs: spec.retryBackoffMs,
    rateHz: spec.rateHz,
    inFlight: spec.concurrency,
    operation: `INSERT INTO ${table} (seq) VALUES ($1), autocommit`,
  };
}

/** Whether the server's error means the statement certainly did not commit. */
function certainlyRejected(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return false; // not a server's reply: a socket, a timeout
  const code = err.code ?? '';
  // 08: connection exceptions, 57: operator intervention (a fence ends the session, a shutdown,
  // a cancel): the statement may have committed before the session went. Anything else the
  // server answered (25006 read-only transaction, 42P01 no table...) was not applied.
  return !code.startsWith('08') && !code.startsWith('57');
}

/**
 * `fail` when the INSERT certainly did not take effect: never sent (no writer record, no
 * connection), or answered with an error such as "cannot execute INSERT in a read-only
 * transaction". `unknown` when it was sent and then the connection was lost, the client's
 * timeout ran out, or the server ended the session.
 */
export function classifyPgFailure(err: unknown, sent: boolean): Exclude<Outcome, 'ok'> {
  if (!sent) return 'fail';
  return certainlyRejected(err) ? 'fail' : 'unknown';
}

export class PgWriterProbe implements Probe {
  readonly name: string;
  readonly kind = 'pg-writer';
  readonly system = 'pg';
  private readonly clients = new Map<number, { node: string; client: pg.Client; broken: boolean }>();
  private readonly resolver: CachingResolver;
  private readonly slots: Slots;

  constructor(
    private readonly spec: PgWriterProbeSpec,
    private readonly deps: PgWriterDeps,
  ) {
    this.name = spec.name;
    this.resolver = new CachingResolver(deps.registry, () => deps.clock.now());
    this.slots = new Slots(deps.clock, {
      rateHz: spec.rateHz,
      concurrency: spec.concurrency,
      retryBackoffMs: spec.retryBackoffMs,
      attempt: (slot, seq) => this.writeOnce(slot, seq),
      closeSlot: (slot) => this.drop(slot),
    });
  }

  settings(): ClientSettings {
    return pgWriterSettings(this.spec, this.deps.table);
  }

  async prepare(): Promise<void> {
    const node = (await this.deps.registry.get(WRITER_RECORD))?.value;
    if (!node) throw new Error('no writer record: the Postgres primary has not claimed it');
    const c = await this.open(node);
    try {
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.deps.table} (seq bigint PRIMARY KEY)`);
    } finally {
      await endClient(c);
    }
  }

  start(): void {
    this.slots.start();
  }

  pause(): Promise<void> {
    return this.slots.pause();
  }

  resume(): void {
    this.slots.resume();
  }

  stop(): Promise<void> {
    return this.slots.stop();
  }

  private login() {
    return this.deps.login ?? { user: 'postgres', database: 'postgres' };
  }

  private async open(node: string): Promise<pg.Client> {
    const ep = this.deps.endpoint(node);
    const client = new pg.Client({
      host: ep.host,
      port: ep.port,
      ...this.login(),
      connectionTimeoutMillis: this.spec.connectTimeoutMs,
      query_timeout: this.spec.statementTimeoutMs,
    });
    client.on('error', () => {});
    await client.connect();
    return client;
  }

  private async connection(slot: number, node: string): Promise<pg.Client> {
    const current = this.clients.get(slot);
    if (current && current.node === node && !current.broken) return current.client;
    this.drop(slot);
    const client = await this.open(node);
    const entry = { node, client, broken: false };
    client.on('error', () => {
      entry.broken = true;
    });
    client.on('end', () => {
      entry.broken = true;
    });
    this.clients.set(slot, entry);
    return client;
  }

  private drop(slot: number): void {
    const entry = this.clients.get(slot);
    if (entry) void endClient(entry.client);
    this.clients.delete(slot);
  }

  private async writeOnce(slot: number, seq: number): Promise<boolean> {
    const tInvoke = this.deps.clock.now();
    let node: string | undefined;
    let sent = false;
    try {
      node = await this.resolver.resolve(WRITER_RECORD);
      if (!node) throw new Error('no writer record in the registry');
      const client = await this.connection(slot, node);
      sent = true;
      await client.query(`INSERT INTO ${this.deps.table} (seq) VALUES ($1)`, [seq]);
      this.record(seq, slot, tInvoke, 'ok', node);
      return true;
    } catch (err) {
      this.record(seq, slot, tInvoke, classifyPgFailure(err, sent), node, err);
      this.drop(slot);
      return false;
    }
  }

  private record(
    seq: number,
    process: number,
    tInvoke: number,
    outcome: Outcome,
    node?: string,
    err?: unknown,
  ) {
    recordOp(this.deps.history, this.deps.clock, {
      probe: this.name,
      op: 'write',
      seq,
      process,
      tInvoke,
      outcome,
      node,
      err,
    });
  }

  /** Reads every id back from the node the writer record names now (no cache). */
  async readBack(): Promise<{ node: string; values: ReadonlySet<number> }> {
    const tInvoke = this.deps.clock.now();
    const seq = this.slots.nextSeq();
    const node = (await this.deps.registry.get(WRITER_RECORD))?.value;
    try {
      if (!node) throw new Error('no writer record in the registry');
      const ep = this.deps.endpoint(node);
      const client = new pg.Client({
        host: ep.host,
        port: ep.port,
        ...this.login(),
        connectionTimeoutMillis: 5000,
      });
      client.on('error', () => {});
      await client.connect();
      try {
        const rows = (await client.query(`SELECT seq FROM ${this.deps.table}`)).rows as { seq: string }[];
        this.deps.history.record({
          probe: this.name,
          op: 'read',
          seq,
          process: this.spec.concurrency,
          tInvoke,
          tComplete: this.deps.clock.now(),
          outcome: 'ok',
          node,
        });
        return { node, values: SeqSet.of(rows.map((r) => Number(r.seq))) };
      } finally {
        await endClient(client);
      }
    } catch (err) {
      this.deps.history.record({
        probe: this.name,
        op: 'read',
        seq,
        process: this.spec.concurrency,
        tInvoke,
        tComplete: this.deps.clock.now(),
        outcome: 'fail',
        ...(node ? { node } : {}),
        error: String(err),
      });
      throw err;
    }
  }
}
