import { z } from 'zod';
import { azList, ms, probeName } from '../../core/durations.ts';

/** `stack.redis`: a self-healing chain of Redis nodes, each with a chain agent beside it. */
export const redisSpec = z
  .object({
    nodes: z
      .number()
      .int()
      .min(2)
      .max(12)
      .default(3)
      .describe('How many Redis nodes in the chain, spread round-robin over the AZs.'),
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
    failoverThresholdMs: ms(100)
      .default(1000)
      .describe(
        "How long (ms) an agent's master must be unreachable before the agent acts, and the length of the head's lease.",
      ),
    /**
     * Taken off the lease by the head on its own clock: clock drift between it and the registry,
     * and the time its fence (REPLICAOF to a placeholder) takes to run. Must be shorter than the
     * lease; a larger margin makes a cut-off head fence earlier and no failover later.
     */
    leaseMarginMs: ms(10)
      .default(250)
      .describe(
        'Taken off the lease (ms) by the head on its own clock, for clock drift and the time its fence takes; shorter than failoverThresholdMs.',
      ),
    checkIntervalMs: ms(10)
      .default(100)
      .describe('How often (ms) each agent checks its master, and the head renews its lease.'),
    pingTimeoutMs: ms(10)
      .default(250)
      .describe(
        "How long (ms) an agent waits for a node's PING reply before it counts the node unreachable.",
      ),
    headRecordTtlMs: ms()
      .default(500)
      .describe('TTL of the head record (ms): how long clients may cache it.'),
    aof: z
      .enum(['off', 'everysec', 'always'])
      .default('off')
      .describe(
        "The append-only file: off (memory only), or on the node's disk with fsync once a second (everysec) or before every reply (always, so a frozen disk stalls writes).",
      ),
  })
  .strict()
  .refine((s) => s.leaseMarginMs < s.failoverThresholdMs, {
    message: 'leaseMarginMs must be shorter than failoverThresholdMs (the lease)',
    path: ['leaseMarginMs'],
  })
  .describe(
    'A self-healing chain of Redis nodes, each with a chain agent beside it; the head takes the writes.',
  );
export type RedisSpec = z.infer<typeof redisSpec>;

/** A count of a Redis stack's replicas (at most 11 of 12 nodes), 0 (off) unless set. */
export const replicaCount = () => z.number().int().min(0).max(11).default(0);

/**
 * A Redis writer's `waitReplicas` (the redis-writer's and the sentinel-writer's): replicas each
 * RPUSH must reach (WAIT) before the write counts as acknowledged. `leader` names the node whose
 * death loses what was still on its link (`head`, `master`).
 */
export function waitReplicasField(leader: string) {
  return replicaCount().describe(
    `Replicas each RPUSH must reach (Redis WAIT, within commandTimeoutMs) before the write counts as acknowledged; 0: asynchronous, as Redis is by default (a ${leader} that dies loses what was still on the link).`,
  );
}

/** A `redis-writer` probe: RPUSH of unique sequential values to the head. */
export const redisWriterSpec = z
  .object({
    kind: z.literal('redis-writer').describe("RPUSHes unique sequential values to the Redis chain's head."),
    name: probeName,
    rateHz: z
      .number()
      .min(0)
      .max(100_000)
      .default(200)
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
    commandTimeoutMs: ms(10)
      .default(500)
      .describe('How long (ms) a sent write waits for its reply; then its outcome is unknown.'),
    connectTimeoutMs: ms(10)
      .default(500)
      .describe('How long (ms) a connection to the head may take before the write fails, unsent.'),
    retryBackoffMs: ms()
      .default(20)
      .describe('Pause (ms) after a failed write before the next, so a dead node is not hammered.'),
    /**
     * Redis replication is asynchronous: an RPUSH is acknowledged before any replica has it, and
     * a head that dies takes what was still on the link with it (a handful of writes at most on a
     * kill). With a number here each RPUSH is followed by `WAIT n` for 60 % of what is left of
     * `commandTimeoutMs`, and the write counts as acknowledged only once n replicas have it; a
     * short WAIT makes it `unknown` (on the head, perhaps nowhere else).
     */
    waitReplicas: waitReplicasField('head'),
  })
  .describe("A redis-writer probe: RPUSH of unique sequential values to the chain's head.")
  .strict();
export type RedisWriterProbeSpec = z.infer<typeof redisWriterSpec>;
