import { z } from 'zod';
import { azList, ms, probeName } from '../../core/durations.ts';
import { replicaCount, waitReplicasField } from '../redis/spec.ts';

/**
 * `stack.sentinel`: Redis with Sentinel. A master and replicas spread round-robin over the AZs,
 * a Sentinel beside the first data node of every AZ (one per AZ, as Redis's documentation lays
 * out its basic three-box setup), and HAProxy in front following whichever node answers
 * `role:master`. With `monitor: seed` the Sentinels give way to the source material's monitor
 * pair instead (see seed.ts).
 */
export const sentinelSpec = z
  .object({
    /** Data nodes (Redis servers); the first is the first master. */
    nodes: z
      .number()
      .int()
      .min(2)
      .max(12)
      .default(3)
      .describe(
        'Data nodes (Redis servers), spread round-robin over the AZs; the first is the first master.',
      ),
    azs: azList,
    /** Who fails over: Redis Sentinel (the default), or the source material's monitor pair. */
    monitor: z
      .enum(['sentinel', 'seed'])
      .default('sentinel')
      .describe(
        "Who fails over: Redis Sentinel (a Sentinel per AZ), or seed: the source material's monitor pair (HAProxy and a watcher on two hosts).",
      ),
    /** Sentinels that must agree a master is down before a failover (`sentinel monitor ... <quorum>`). */
    quorum: z
      .number()
      .int()
      .min(1)
      .max(6)
      .default(2)
      .describe(
        'Sentinels that must agree a master is down before a failover (sentinel monitor ... <quorum>).',
      ),
    /**
     * `down-after-milliseconds`: how long a master must not answer a Sentinel's PING before that
     * Sentinel holds it down (SDOWN); a quorum of them makes it objectively down (ODOWN). In the
     * seed's monitor, the time its three PINGs span.
     */
    downAfterMs: ms(100)
      .default(5000)
      .describe(
        "down-after-milliseconds: how long (ms) a master must not answer a Sentinel's PING before it is held down; the failover time starts from it.",
      ),
    /**
     * `failover-timeout`: a failover not finished in this long is abandoned; the same master is
     * not failed over again within twice this; a replica left pointing at a wrong master is
     * repointed only after it.
     */
    failoverTimeoutMs: ms(1000)
      .default(60_000)
      .describe(
        'failover-timeout (ms): a failover not done in this long is abandoned, and the same master is not failed over again within twice this.',
      ),
    /**
     * `min-replicas-to-write`: a master refuses writes (NOREPLICAS) unless this many replicas
     * acknowledged the stream within `minReplicasMaxLagMs`. 0 (the default) never refuses.
     */
    minReplicasToWrite: replicaCount().describe(
      'min-replicas-to-write: the master refuses writes unless this many replicas acknowledged the stream within minReplicasMaxLagMs; 0 never refuses.',
    ),
    /** `min-replicas-max-lag`, which Redis counts in whole seconds. */
    minReplicasMaxLagMs: ms(1000)
      .refine((v) => v % 1000 === 0, { message: 'whole seconds (Redis counts this lag in seconds)' })
      .default(10_000)
      .describe(
        'min-replicas-max-lag (ms, whole seconds): how recent a replica acknowledgement must be to count for minReplicasToWrite.',
      ),
    /** HAProxy's health check of each data node (`role:master`): `inter`, `fall`, `rise`. */
    proxy: z
      .object({
        checkIntervalMs: ms(50)
          .default(1000)
          .describe("HAProxy's inter (ms): how often it checks each node for role:master."),
        fall: z
          .number()
          .int()
          .min(1)
          .max(10)
          .default(3)
          .describe('Failed checks in a row before HAProxy takes a node out.'),
        rise: z
          .number()
          .int()
          .min(1)
          .max(10)
          .default(2)
          .describe('Passed checks in a row before HAProxy puts a node (the new master) in.'),
      })
      .strict()
      .default({})
      .describe("HAProxy's health check of each data node (a TCP check on role:master)."),
  })
  .strict()
  .refine((s) => s.monitor !== 'sentinel' || s.nodes >= s.azs.length, {
    message: 'at least one data node per AZ: each AZ has a Sentinel beside its first node',
    path: ['nodes'],
  })
  .refine((s) => s.monitor !== 'seed' || (s.nodes === 2 && s.azs.length >= 2), {
    message: "the seed's monitor runs a master and one slave (nodes: 2) over two AZs at least",
    path: ['nodes'],
  })
  .refine((s) => s.monitor !== 'sentinel' || s.quorum <= s.azs.length, {
    message: 'the quorum cannot be more than the Sentinels (one per AZ)',
    path: ['quorum'],
  })
  .refine((s) => s.minReplicasToWrite < s.nodes, {
    message: 'minReplicasToWrite must be fewer than the replicas (nodes - 1), or no write is ever taken',
    path: ['minReplicasToWrite'],
  });
export type SentinelSpec = z.infer<typeof sentinelSpec>;

/** A `sentinel-writer` probe: RPUSH of unique sequential values to the master. */
export const sentinelWriterSpec = z
  .object({
    kind: z
      .literal('sentinel-writer')
      .describe('RPUSH of unique sequential values to the master, through HAProxy or the Sentinels.'),
    name: probeName,
    /**
     * How it finds the master: through HAProxy (`proxy`, a plain client of one address), or with
     * ioredis's own Sentinel support (`sentinels`: it asks the Sentinels for the master, checks
     * its role, and reconnects when a Sentinel announces `+switch-master`).
     */
    via: z
      .enum(['proxy', 'sentinels'])
      .default('proxy')
      .describe(
        "How it finds the master: through HAProxy (proxy), or with ioredis's own Sentinel support (sentinels).",
      ),
    /** Writes per second over all in-flight slots; 0 means as fast as the slots can go. */
    rateHz: z
      .number()
      .min(0)
      .max(100_000)
      .default(200)
      .describe('Writes per second (Hz) over all in-flight slots; 0 means as fast as the slots can go.'),
    /** Writes in flight at once, each slot its own connection and process in the history. */
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe('Writes in flight at once, each slot its own connection and process in the history.'),
    commandTimeoutMs: ms(10)
      .default(500)
      .describe('A write not answered in this long (ms) is unknown: it may or may not have been applied.'),
    connectTimeoutMs: ms(10)
      .default(500)
      .describe('How long (ms) a connection may take before the write fails, unsent.'),
    /** Pause after a failed write before the next (and ioredis's reconnect delay). */
    retryBackoffMs: ms()
      .default(20)
      .describe("Pause (ms) after a failed write before the next, and ioredis's reconnect delay."),
    /**
     * Redis replicates asynchronously: an RPUSH is acknowledged before any replica has it, and a
     * master that dies takes what was still on the link with it (none in most kills, one in a CI
     * run on a loaded machine). With a number here each RPUSH is followed by `WAIT n` for 60 % of
     * what is left of `commandTimeoutMs`, as the redis-writer does, and the write counts as
     * acknowledged only once n replicas have it; a short WAIT makes it `unknown`.
     */
    waitReplicas: waitReplicasField('master'),
  })
  .strict();
export type SentinelWriterProbeSpec = z.infer<typeof sentinelWriterSpec>;
