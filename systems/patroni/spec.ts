import { z } from 'zod';
import { azList, ms } from '../../core/durations.ts';
import { pgWriterSpec } from '../pg/spec.ts';

/** A whole number of seconds, in ms: Patroni's timings are integers of seconds. */
const seconds = (min: number, fallback: number) =>
  ms(min * 1000)
    .refine((v) => v % 1000 === 0, { message: 'Patroni counts this in whole seconds: a multiple of 1000 ms' })
    .default(fallback * 1000);

/**
 * `stack.patroni`: Postgres 15 under Patroni 3.0 on `nodes` nodes round-robin over the AZs, an
 * etcd cluster of `etcdMembers` members on nodes of their own (one per AZ), and HAProxy in front
 * (a regional node, as a network load balancer has a node in every zone) routing to the member
 * whose REST API answers `OPTIONS /primary` with 200.
 *
 * The Patroni settings are its dynamic configuration (`bootstrap.dcs` in patroni.yml, rendered
 * per node by config.ts), given here in ms and bytes; Patroni's own name is in each comment.
 */
export const patroniSpec = z
  .object({
    /** Postgres + Patroni nodes (`patroni-a` bootstraps the cluster and leads at first). */
    nodes: z.number().int().min(2).max(5).default(3),
    /**
     * etcd members, one per AZ in turn, each on its own node (`etcd-a`...): an odd number, so a
     * majority survives the loss of one AZ.
     */
    etcdMembers: z
      .number()
      .int()
      .min(1)
      .max(5)
      .refine((n) => n % 2 === 1, { message: 'an odd number of etcd members (1, 3 or 5)' })
      .default(3),
    azs: azList,
    /**
     * `ttl`: how long the leader key lives unless the leader renews it (once a loop); a dead
     * leader is replaced when its key runs out. Patroni's default 30 s; its documentation gives
     * 20 s as the least (3.0, the version here, does not enforce it).
     */
    ttlMs: seconds(2, 30),
    /** `loop_wait`: how long each Patroni sleeps between two runs of its HA loop (default 10 s). */
    loopWaitMs: seconds(1, 10),
    /**
     * `retry_timeout`: how long Patroni retries etcd and Postgres operations before it gives up;
     * a leader that cannot reach etcd this long demotes itself (default 10 s).
     */
    retryTimeoutMs: seconds(1, 10),
    /**
     * `maximum_lag_on_failover`: a replica further behind than this many bytes of WAL does not
     * take part in the leader race (default 1 MiB); also the lag full redundancy allows.
     */
    maximumLagOnFailoverBytes: z.number().int().min(0).default(1_048_576),
    /**
     * `synchronous_mode`: the leader names one replica synchronous (`synchronous_standby_names`)
     * and only that replica may take over, so an acknowledged commit is never lost on failover.
     */
    synchronousMode: z.boolean().default(false),
    /**
     * `synchronous_mode_strict`: with no synchronous replica left, commits wait rather than go
     * on asynchronously (availability given up for durability).
     */
    synchronousModeStrict: z.boolean().default(false),
    /** HAProxy in front: Patroni's documented health check, every `checkIntervalMs`. */
    haproxy: z
      .object({
        /** `inter`: one `OPTIONS /primary` to each member's REST API every this many ms (3 s in Patroni's example). */
        checkIntervalMs: ms(100).default(3000),
        /** `fall`: failed checks that take a server out (3). */
        fall: z.number().int().min(1).max(20).default(3),
        /** `rise`: passed checks that put it back (2). */
        rise: z.number().int().min(1).max(20).default(2),
      })
      .strict()
      .default({}),
  })
  .strict()
  .refine((s) => s.loopWaitMs + 2 * s.retryTimeoutMs <= s.ttlMs, {
    message:
      "Patroni's rule: loop_wait + 2 x retry_timeout <= ttl (loopWaitMs + 2 x retryTimeoutMs <= ttlMs); otherwise a leader that waits out a slow etcd loses its key before it demotes",
    path: ['ttlMs'],
  })
  .refine((s) => !s.synchronousModeStrict || s.synchronousMode, {
    message: 'synchronousModeStrict needs synchronousMode: true',
    path: ['synchronousModeStrict'],
  });
export type PatroniSpec = z.infer<typeof patroniSpec>;

/**
 * A `patroni-writer` probe: the pg-writer's INSERTs of unique ids in autocommit, routed the way
 * a client of Patroni finds the primary:
 * - `haproxy`: through HAProxy's frontend, which follows Patroni's REST health check;
 * - `multi-host`: as libpq's `host=a,b,c target_session_attrs=read-write`, connecting to each
 *   node in turn and keeping the first that accepts writes.
 */
export const patroniWriterSpec = pgWriterSpec
  .omit({ kind: true })
  .extend({
    kind: z.literal('patroni-writer'),
    via: z.enum(['haproxy', 'multi-host']).default('haproxy'),
  })
  .strict();
export type PatroniWriterProbeSpec = z.infer<typeof patroniWriterSpec>;
