import { z } from 'zod';
import { azList, ms, probeName } from '../../core/durations.ts';

/** `stack.pg`: a primary and hot standbys by streaming replication, with a shared WAL archive. */
export const pgSpec = z
  .object({
    /** The primary and its standbys; nodes go round-robin over the AZs (`pg-a` leads at first). */
    nodes: z.number().int().min(2).max(5).default(3),
    azs: azList,
    /**
     * asynchronous (default): the primary acknowledges a commit before any standby has it.
     * synchronous: it waits for one standby (`synchronous_standby_names = ANY 1 (...)`).
     */
    replication: z.enum(['async', 'sync']).default('async'),
    /** With sync replication: `on` (standby flushed the WAL) or `remote_apply` (replayed it). */
    synchronousCommit: z.enum(['on', 'remote_apply']).default('on'),
    /** auto: the promotion agents fail over; manual: only a `promote` step does, as a runbook. */
    promotion: z.enum(['auto', 'manual']).default('auto'),
    /** How long a standby's primary must be unreachable before its agent acts. */
    failoverThresholdMs: ms(100).default(3000),
    checkIntervalMs: ms(10).default(200),
    pingTimeoutMs: ms(10).default(500),
    /** TTL of the writer record: how long clients may cache it. */
    writerRecordTtlMs: ms().default(1000),
  })
  .strict();
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
