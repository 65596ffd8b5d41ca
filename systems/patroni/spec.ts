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
 * per node by config.ts), given here in ms and bytes; Patroni's own name is in each field's description.
 */
export const patroniSpec = z
  .object({
    nodes: z
      .number()
      .int()
      .min(2)
      .max(5)
      .default(3)
      .describe(
        'Postgres + Patroni nodes, round-robin over the AZs (patroni-a bootstraps the cluster and leads at first).',
      ),
    etcdMembers: z
      .number()
      .int()
      .min(1)
      .max(5)
      .refine((n) => n % 2 === 1, { message: 'an odd number of etcd members (1, 3 or 5)' })
      .default(3)
      .describe(
        'etcd members, one per AZ in turn, each on a node of its own (etcd-a...): an odd number, so a majority survives the loss of one AZ.',
      ),
    azs: azList,
    /**
     * `ttl`: how long the leader key lives unless the leader renews it (once a loop); a dead
     * leader is replaced when its key runs out. Patroni's default 30 s; its documentation gives
     * 20 s as the least (3.0, the version here, does not enforce it).
     */
    ttlMs: seconds(2, 30).describe(
      "Patroni's ttl, in ms (whole seconds): how long the leader key lives unless the leader renews it; a dead leader is replaced when it runs out.",
    ),
    loopWaitMs: seconds(1, 10).describe(
      "Patroni's loop_wait, in ms (whole seconds): how long each Patroni sleeps between two runs of its HA loop.",
    ),
    retryTimeoutMs: seconds(1, 10).describe(
      "Patroni's retry_timeout, in ms (whole seconds): how long it retries etcd and Postgres operations; a leader that cannot reach etcd this long demotes itself.",
    ),
    maximumLagOnFailoverBytes: z
      .number()
      .int()
      .min(0)
      .default(1_048_576)
      .describe(
        "Patroni's maximum_lag_on_failover, in bytes of WAL: a replica further behind takes no part in the leader race (also the lag full redundancy allows).",
      ),
    synchronousMode: z
      .boolean()
      .default(false)
      .describe(
        "Patroni's synchronous_mode: the leader names one replica synchronous and only it may take over, so an acknowledged commit is never lost on failover.",
      ),
    synchronousModeStrict: z
      .boolean()
      .default(false)
      .describe(
        "Patroni's synchronous_mode_strict: with no synchronous replica left, commits wait rather than go on asynchronously (needs synchronousMode).",
      ),
    haproxy: z
      .object({
        checkIntervalMs: ms(100)
          .default(3000)
          .describe(
            "HAProxy's inter, in ms: one OPTIONS /primary to each member's REST API this often (3 s in Patroni's example).",
          ),
        fall: z
          .number()
          .int()
          .min(1)
          .max(20)
          .default(3)
          .describe("HAProxy's fall: failed checks in a row that take a server out."),
        rise: z
          .number()
          .int()
          .min(1)
          .max(20)
          .default(2)
          .describe("HAProxy's rise: passed checks in a row that put it back."),
      })
      .strict()
      .default({})
      .describe("HAProxy in front of the members, on Patroni's documented health check."),
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
  })
  .describe(
    'Postgres 15 under Patroni over the AZs, an etcd cluster on nodes of its own, and HAProxy in front routing to the member whose REST API says it is the primary.',
  );
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
    kind: z
      .literal('patroni-writer')
      .describe("The pg-writer's INSERTs of unique ids in autocommit, to the Patroni cluster's primary."),
    via: z
      .enum(['haproxy', 'multi-host'])
      .default('haproxy')
      .describe(
        "How it finds the primary: through HAProxy's frontend (haproxy), or as libpq's host=a,b,c target_session_attrs=read-write (multi-host).",
      ),
  })
  .describe(
    "A patroni-writer probe: the pg-writer's INSERTs, routed the way a client of Patroni finds the primary.",
  )
  .strict();
export type PatroniWriterProbeSpec = z.infer<typeof patroniWriterSpec>;
