import { z } from 'zod';
import { azList, ms, probeName } from '../../core/durations.ts';

/** `stack.redis`: a self-healing chain of Redis nodes, each with a chain agent beside it. */
export const redisSpec = z
  .object({
    /** Chain length; nodes go round-robin over the AZs. */
    nodes: z.number().int().min(2).max(12).default(3),
    azs: azList,
    /**
     * How long an agent's master must be unreachable before the agent acts, and the length of the
     * head's lease (`redis-leader`), which the head renews every check while its redis answers.
     * The head's successor takes over only once the lease has run out, and the head's last
     * renewal comes before its successor starts counting, so a dead head is replaced
     * `failoverThresholdMs` + a ping timeout + up to a check interval after it died, as without
     * the lease (then clients wait out `headRecordTtlMs`). A head that cannot renew (cut off from
     * the registry, its redis hung) stops acknowledging writes `failoverThresholdMs` -
     * `leaseMarginMs` after its last renewal was sent: that bounds what it can acknowledge that
     * its successor never gets.
     */
    failoverThresholdMs: ms(100).default(1000),
    /**
     * Taken off the lease by the head on its own clock: clock drift between it and the registry,
     * and the time its fence (REPLICAOF to a placeholder) takes to run. Must be shorter than the
     * lease; a larger margin makes a cut-off head fence earlier and no failover later.
     */
    leaseMarginMs: ms(10).default(250),
    checkIntervalMs: ms(10).default(100),
    pingTimeoutMs: ms(10).default(250),
    /** TTL of the head record: how long clients may cache it. */
    headRecordTtlMs: ms().default(500),
    /**
     * The append-only file: `off` (the default: memory only), or on the node's disk with fsync
     * once a second (`everysec`) or before every reply (`always`, so a frozen disk stalls writes).
     */
    aof: z.enum(['off', 'everysec', 'always']).default('off'),
  })
  .strict()
  .refine((s) => s.leaseMarginMs < s.failoverThresholdMs, {
    message: 'leaseMarginMs must be shorter than failoverThresholdMs (the lease)',
    path: ['leaseMarginMs'],
  });
export type RedisSpec = z.infer<typeof redisSpec>;

/** A `redis-writer` probe: RPUSH of unique sequential values to the head. */
export const redisWriterSpec = z
  .object({
    kind: z.literal('redis-writer'),
    name: probeName,
    /** Writes per second over all in-flight slots; 0 means as fast as the slots can go. */
    rateHz: z.number().min(0).max(100_000).default(200),
    /**
     * Writes in flight at once, each slot its own connection and its own process in the
     * history (as Jepsen's workers). One keeps the history strictly sequential.
     */
    concurrency: z.number().int().min(1).max(64).default(1),
    commandTimeoutMs: ms(10).default(500),
    connectTimeoutMs: ms(10).default(500),
    /** Pause after a failed write before the next, so a dead node is not hammered. */
    retryBackoffMs: ms().default(20),
  })
  .strict();
export type RedisWriterProbeSpec = z.infer<typeof redisWriterSpec>;
