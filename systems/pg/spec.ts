import { z } from 'zod';
import { azList, ms, probeName } from '../../core/durations.ts';

/** `stack.pg`: a primary and hot standbys by streaming replication, with a shared WAL archive. */
export const pgSpec = z
  .object({
    nodes: z
      .number()
      .int()
      .min(2)
      .max(5)
      .default(3)
      .describe('The primary and its standbys, spread round-robin over the AZs (pg-a leads at first).'),
    azs: azList,
    /**
     * asynchronous (default): the primary acknowledges a commit before any standby has it; a
     * failover may lose what the promoted standby had not received.
     * synchronous: it waits for one standby (`synchronous_standby_names = ANY 1 (...)`), and a
     * standby promotes only when it sees every other standby and is the most advanced of them
     * (one that answers nothing might hold a commit it lacks): an acknowledged commit is never
     * lost, and a failover waits instead while a standby is unreachable.
     */
    replication: z
      .enum(['async', 'sync'])
      .default('async')
      .describe(
        'async: the primary acknowledges a commit before any standby has it; sync: it waits for one standby, so an acknowledged commit is never lost.',
      ),
    synchronousCommit: z
      .enum(['on', 'remote_apply'])
      .default('on')
      .describe(
        'With sync replication, what the primary waits for: on (a standby flushed the WAL) or remote_apply (it replayed it).',
      ),
    promotion: z
      .enum(['auto', 'manual'])
      .default('auto')
      .describe('auto: the promotion agents fail over; manual: only a promote step does, as a runbook.'),
    /**
     * The primary's lease: it renews it every check while its server commits, and nobody
     * promotes until it has gone unrenewed this long. A dead primary is replaced between this
     * (less the time since its last renewal) and this plus a check and the promotion; a
     * primary that cannot renew stops its server `leaseMarginMs` before the lease runs out.
     */
    failoverThresholdMs: ms(100)
      .default(3000)
      .describe(
        "The primary's lease (ms): it renews it every check while its server commits, and nobody promotes until it has gone unrenewed this long.",
      ),
    /**
     * Taken off the lease by the primary: clock drift between it and the registry, and the time
     * its fence (an immediate stop of the server) takes. Must be shorter than the lease.
     */
    leaseMarginMs: ms(10)
      .default(500)
      .describe(
        'Taken off the lease (ms) by the primary, for clock drift and the time its fence (an immediate stop) takes; shorter than failoverThresholdMs.',
      ),
    checkIntervalMs: ms(10)
      .default(200)
      .describe('How often (ms) each promotion agent checks its node, and the primary renews its lease.'),
    pingTimeoutMs: ms(10)
      .default(500)
      .describe(
        "How long (ms) an agent waits for a node to answer (a connection, its own server's health commit) before it counts it down.",
      ),
    writerRecordTtlMs: ms()
      .default(1000)
      .describe('TTL of the writer record (ms): how long clients may cache it.'),
  })
  .strict()
  .refine((s) => s.leaseMarginMs < s.failoverThresholdMs, {
    message: 'leaseMarginMs must be shorter than failoverThresholdMs (the lease)',
    path: ['leaseMarginMs'],
  })
  .describe('A Postgres primary and hot standbys by streaming replication, with a shared WAL archive.');
export type PgSpec = z.infer<typeof pgSpec>;

/** A `pg-writer` probe: INSERTs of unique sequential ids in autocommit, through the writer record. */
export const pgWriterSpec = z
  .object({
    kind: z
      .literal('pg-writer')
      .describe(
        'INSERTs unique sequential ids in autocommit to the Postgres primary, through the writer record.',
      ),
    name: probeName,
    rateHz: z
      .number()
      .min(0)
      .max(100_000)
      .default(100)
      .describe('Writes per second (Hz) over all in-flight slots; 0 means as fast as the slots can go.'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe(
        'Writes in flight at once, each slot its own connection and process in the history; 1 keeps the history strictly sequential.',
      ),
    connectTimeoutMs: ms(10)
      .default(1000)
      .describe('How long (ms) a connection to the primary may take before the write fails, unsent.'),
    statementTimeoutMs: ms(10)
      .default(1000)
      .describe('A statement that takes longer (ms) is cancelled by the client: the INSERT is then unknown.'),
    retryBackoffMs: ms()
      .default(50)
      .describe('Pause (ms) after a failed write before the next, so a dead node is not hammered.'),
  })
  .describe('A pg-writer probe: INSERTs of unique sequential ids in autocommit, through the writer record.')
  .strict();
export type PgWriterProbeSpec = z.infer<typeof pgWriterSpec>;
