import { z } from 'zod';
import { azList, ms, probeName } from '../../core/durations.ts';

/** `stack.pg`: a primary and hot standbys by streaming replication, with a shared WAL archive. */
export const pgSpec = z
  .object({
    /** The primary and its standbys; nodes go round-robin over the AZs (`pg-a` leads at first). */
    nodes: z.number().int().min(2).max(5).default(3),
    azs: azList,
    /**
     * asynchronous (default): the primary acknowledges a commit before any standby has it; a
     * failover may lose what the promoted standby had not received.
     * synchronous: it waits for one standby (`synchronous_standby_names = ANY 1 (...)`), and a
     * standby promotes only when it sees every other standby and is the most advanced of them
     * (one that answers nothing might hold a commit it lacks): an acknowledged commit is never
     * lost, and a failover waits instead while a standby is unreachable.
     */
    replication: z.enum(['async', 'sync']).default('async'),
    /** With sync replication: `on` (standby flushed the WAL) or `remote_apply` (replayed it). */
    synchronousCommit: z.enum(['on', 'remote_apply']).default('on'),
    /** auto: the promotion agents fail over; manual: only a `promote` step does, as a runbook. */
    promotion: z.enum(['auto', 'manual']).default('auto'),
    /**
     * The primary's lease: it renews it every check while its server commits, and nobody
     * promotes until it has gone unrenewed this long. A dead primary is replaced between this
     * (less the time since its last renewal) and this plus a check and the promotion; a
     * primary that cannot renew stops its server `leaseMarginMs` before the lease runs out.
     */
    failoverThresholdMs: ms(100).default(3000),
    /**
     * Taken off the lease by the primary: clock drift between it and the registry, and the time
     * its fence (an immediate stop of the server) takes. Must be shorter than the lease.
     */
    leaseMarginMs: ms(10).default(500),
    checkIntervalMs: ms(10).default(200),
    pingTimeoutMs: ms(10).default(500),
    /** TTL of the writer record: how long clients may cache it. */
    writerRecordTtlMs: ms().default(1000),
  })
  .strict()
  .refine((s) => s.leaseMarginMs < s.failoverThresholdMs, {
    message: 'leaseMarginMs must be shorter than failoverThresholdMs (the lease)',
    path: ['leaseMarginMs'],
  });
export type PgSpec = z.infer<typeof pgSpec>;

/** A `pg-writer` probe: INSERTs of unique sequential ids in autocommit, through the writer record. */
export const pgWriterSpec = z
  .object({
    kind: z.literal('pg-writer'),
    name: probeName,
    /** Writes per second over all in-flight slots; 0 means as fast as the slots can go. */
    rateHz: z.number().min(0).max(100_000).default(100),
    concurrency: z.number().int().min(1).max(64).default(1),
    connectTimeoutMs: ms(10).default(1000),
    /** A statement that takes longer is cancelled by the client: the INSERT is then unknown. */
    statementTimeoutMs: ms(10).default(1000),
    retryBackoffMs: ms().default(50),
  })
  .strict();
export type PgWriterProbeSpec = z.infer<typeof pgWriterSpec>;
