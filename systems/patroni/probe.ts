import pg from 'pg';
import type { Clock } from '../../core/clock.ts';
import { type History, type Outcome, SeqSet } from '../../core/history.ts';
import type { Stack } from '../../core/provider.ts';
import type { ClientSettings } from '../../core/result.ts';
import type { Probe } from '../../core/system.ts';
import { recordOp } from '../../probes/record.ts';
import { Slots } from '../../probes/slots.ts';
import { endClient } from '../pg/client.ts';
import { classifyPgFailure, pgWriterSettings } from '../pg/probe.ts';
import type { PgWriterProbeSpec } from '../pg/spec.ts';
import { LB_PORT, PG_PORT } from './config.ts';
import { LB_NODE, isPostgresNode } from './layout.ts';
import { readLeader } from './records.ts';
import type { PatroniWriterProbeSpec } from './spec.ts';
import { SESSION_FACTS_SQL, pickWriter, sessionFacts } from './writer.ts';

/**
 * The pg-writer's workload (INSERTs of unique sequential ids in autocommit, `concurrency` slots
 * at a shared rate, each INSERT in the history as ok, fail or unknown: systems/pg/probe.ts) on a
 * Patroni cluster, routed as Patroni's clients route:
 *
 * - `haproxy`: every connection goes to HAProxy's frontend, which hands it to the server whose
 *   REST API answers `OPTIONS /primary` with 200; `on-marked-down shutdown-sessions` cuts the
 *   connections of a server it takes out. The node a connection landed on is what the server
 *   says its own address is (`inet_server_addr()`), named by the stack's addresses.
 * - `multi-host`: libpq's `host=patroni-a,patroni-b,patroni-c target_session_attrs=read-write`
 *   (writer.ts): each node in order, keeping the first that accepts writes.
 *
 * A slot keeps its connection until an error, as a pooled libpq connection is kept; it then
 * connects afresh the same way.
 */
export interface PatroniWriterDeps {
  clock: Clock;
  history: History;
  stack: Pick<Stack, 'endpoint' | 'address' | 'nodes' | 'registry'>;
  table: string;
}

export function patroniWriterSettings(spec: PatroniWriterProbeSpec, table: string): ClientSettings {
  return {
    ...pgWriterSettings({ ...spec, kind: 'pg-writer' } as PgWriterProbeSpec, table),
    route:
      spec.via === 'haproxy'
        ? `HAProxy ${LB_NODE}:${LB_PORT} (OPTIONS /primary health check)`
        : 'multi-host, target_session_attrs=read-write (each node in order, the first that accepts writes)',
  };
}

interface Connection {
  client: pg.Client;
  /** The node it landed on; undefined when HAProxy's server could not be named. */
  node: string | undefined;
  broken: boolean;
}

export class PatroniWriterProbe implements Probe {
  readonly name: string;
  readonly kind = 'patroni-writer';
  readonly system = 'patroni';
  private readonly conns = new Map<number, Connection>();
  private readonly slots: Slots;

  constructor(
    private readonly spec: PatroniWriterProbeSpec,
    private readonly deps: PatroniWriterDeps,
  ) {
    this.name = spec.name;
    this.slots = new Slots(deps.clock, {
      rateHz: spec.rateHz,
      concurrency: spec.concurrency,
      retryBackoffMs: spec.retryBackoffMs,
      attempt: (slot, seq) => this.writeOnce(slot, seq),
      closeSlot: (slot) => this.drop(slot),
    });
  }

  settings(): ClientSettings {
    return patroniWriterSettings(this.spec, this.deps.table);
  }

  async prepare(): Promise<void> {
    const c = await this.open();
    try {
      await c.client.query(`CREATE TABLE IF NOT EXISTS ${this.deps.table} (seq bigint PRIMARY KEY)`);
    } finally {
      await endClient(c.client);
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

  private client(host: string, port: number, connectMs = this.spec.connectTimeoutMs): pg.Client {
    const client = new pg.Client({
      host,
      port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: connectMs,
      query_timeout: this.spec.statementTimeoutMs,
    });
    client.on('error', () => {});
    return client;
  }

  /** The Postgres nodes, in layout order (the host list of a multi-host connection string). */
  private hosts(): string[] {
    return this.deps.stack
      .nodes()
      .filter((n) => isPostgresNode(n.name))
      .sort((a, b) => a.index - b.index)
      .map((n) => n.name);
  }

  /** A new connection by the probe's route, and the node it landed on. */
  private async open(): Promise<Connection> {
    const { stack } = this.deps;
    if (this.spec.via === 'haproxy') {
      const ep = stack.endpoint(LB_NODE, LB_PORT);
      const client = this.client(ep.host, ep.port);
      try {
        await client.connect();
        const row = (await client.query('SELECT host(inet_server_addr()) AS addr')).rows[0] as
          | { addr?: string }
          | undefined;
        const node = this.hosts().find((h) => stack.address(h) === row?.addr);
        return { client, node, broken: false };
      } catch (err) {
        void endClient(client);
        throw err;
      }
    }
    const { host, conn } = await pickWriter(this.hosts(), {
      connect: async (h) => {
        const ep = stack.endpoint(h, PG_PORT);
        const client = this.client(ep.host, ep.port);
        try {
          await client.connect();
        } catch (err) {
          void endClient(client);
          throw err;
        }
        return client;
      },
      facts: async (c) => sessionFacts((await c.query(SESSION_FACTS_SQL)).rows[0]),
      close: (c) => void endClient(c),
    });
    return { client: conn, node: host, broken: false };
  }

  private async connection(slot: number): Promise<Connection> {
    const current = this.conns.get(slot);
    if (current && !current.broken) return current;
    this.drop(slot);
    const c = await this.open();
    const mark = () => {
      c.broken = true;
    };
    c.client.on('error', mark);
    c.client.on('end', mark);
    this.conns.set(slot, c);
    return c;
  }

  private drop(slot: number): void {
    const c = this.conns.get(slot);
    if (c) void endClient(c.client);
    this.conns.delete(slot);
  }

  private async writeOnce(slot: number, seq: number): Promise<boolean> {
    const tInvoke = this.deps.clock.now();
    let node: string | undefined;
    let sent = false;
    try {
      const c = await this.connection(slot);
      node = c.node;
      sent = true;
      await c.client.query(`INSERT INTO ${this.deps.table} (seq) VALUES ($1)`, [seq]);
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

  /** Reads every id back from the node that holds the leader key now, straight (not through HAProxy). */
  async readBack(): Promise<{ node: string; values: ReadonlySet<number> }> {
    const tInvoke = this.deps.clock.now();
    const seq = this.slots.nextSeq();
    let node: string | null = null;
    try {
      node = await readLeader(this.deps.stack);
      if (!node) throw new Error('no node holds the leader key');
      const ep = this.deps.stack.endpoint(node, PG_PORT);
      const client = this.client(ep.host, ep.port, 5000);
      try {
        await client.connect();
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
