import { z } from 'zod';

/**
 * The scenario format: stack + probes + fault schedule + expectations. Files are YAML or JSON;
 * every object is strict, so a misspelt field is an error that names the field and the file.
 */

/** No single wait may be longer than a day: longer ones are typos, and timers overflow. */
export const MAX_DURATION_MS = 86_400_000;
const ms = (min = 0) =>
  z.number().int().min(min).max(MAX_DURATION_MS, `at most 24 h (${MAX_DURATION_MS} ms)`);

/** Target selectors, resolved against the live stack at the moment of injection. */
export const TARGET_PATTERN = /^(redis:(head|tail|second|replica|any)|node:[a-z0-9-]+|az:[a-z])$/;
const target = z
  .string()
  .regex(TARGET_PATTERN, 'a target is redis:head|tail|second|replica|any, node:NAME or az:LETTER');

export const FAULT_ACTIONS = ['kill', 'stop', 'pause', 'partition'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

const faultStep = z
  .object({
    /** Milliseconds after the steady state ends. */
    at: ms().default(0),
    action: z.enum(FAULT_ACTIONS),
    target,
    /** partition only: the nodes cut off from the target. */
    from: target.optional(),
    /**
     * Revert the fault this long after its injection (pause, stop, partition); kill is never
     * reverted. Without it a revertible fault is reverted when the observe window ends.
     */
    durationMs: ms(1).optional(),
    /** Hold the probes' writes while the fault is applied, so its boundary in the history is sharp. */
    quiesceProbes: z.boolean().default(false),
    /**
     * Every fault is measured in its own window (from its injection to the next measured
     * fault's). `false` folds this fault into the window of the fault before it, or, for a
     * first fault, makes it a preparation that is not measured at all (a partition that sets
     * up a kill).
     */
    measure: z.boolean().default(true),
  })
  .strict()
  .superRefine((step, ctx) => {
    if (step.action === 'partition' && !step.from) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: 'a partition needs `from`: the nodes cut off from the target',
      });
    }
    if (step.action !== 'partition' && step.from) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: '`from` only applies to action: partition' });
    }
    if (step.action === 'kill' && step.durationMs !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['durationMs'],
        message: 'a kill cannot be reverted; remove durationMs',
      });
    }
  });

const redisWriterProbe = z
  .object({
    kind: z.literal('redis-writer'),
    name: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('writes'),
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

export const scenarioSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    description: z.string().default(''),
    stack: z
      .object({
        redis: z
          .object({
            /** Chain length; nodes go round-robin over the AZs. */
            nodes: z.number().int().min(2).max(12).default(3),
            azs: z
              .array(z.string().regex(/^[a-z]$/, 'an AZ is one lower-case letter'))
              .min(1)
              .max(6)
              .default(['a', 'b', 'c'])
              .refine((azs) => new Set(azs).size === azs.length, {
                message: 'each AZ may appear once (nodes are spread over them round-robin)',
              }),
            /** How long an agent's master must be unreachable before the agent acts. */
            failoverThresholdMs: ms(100).default(1000),
            checkIntervalMs: ms(10).default(100),
            pingTimeoutMs: ms(10).default(250),
            /** TTL of the head record: how long clients may cache it. */
            headRecordTtlMs: ms().default(500),
          })
          .strict(),
      })
      .strict(),
    // One probe for now: the checker judges one history. More will need a verdict per probe.
    probes: z.array(redisWriterProbe).min(1).max(1, 'one probe per scenario for now'),
    steadyState: z
      .object({
        /** 0 skips the steady-state check; otherwise long enough for 20 writes at least. */
        durationMs: ms().default(2000),
        /** Below this share of ok writes before any fault, the run aborts: the stack was not healthy. */
        minSuccessRatio: z.number().min(0).max(1).default(0.99),
      })
      .strict()
      .default({}),
    faults: z.array(faultStep).min(1).max(50),
    /** How long to watch after the last fault is injected (extended to the last due revert). */
    observeMs: ms().default(5000),
    recovery: z
      .object({
        /**
         * After the observe window ends, how much longer to wait for every measured fault's
         * recovery (a stable success) before giving up: the run then fails, never recovered.
         */
        timeoutMs: ms(100).default(20_000),
        /** A recovery is stable once writes have succeeded without a failure for this long. */
        stableMs: ms().default(1000),
        /**
         * After recovery, how long to wait for every system to regain full redundancy (every
         * node that is up back in the topology, one leader) before judging it.
         */
        convergenceTimeoutMs: ms(0).default(30_000),
      })
      .strict()
      .default({}),
    expect: z
      .object({
        /** Every measured fault's window ends with writes succeeding again, stably. */
        recovered: z.boolean().default(true),
        /** Per measured fault. */
        maxFailoverMs: ms().optional(),
        /** Per measured fault. */
        maxUnavailabilityMs: ms().optional(),
        /**
         * At most this many lost acknowledged writes (default 0: any loss fails the run). For
         * a scenario that expects loss, say how much: a bound here, or `lostWrites`.
         */
        maxLostWrites: z.number().int().min(0).optional(),
        /** Exactly this many lost acknowledged writes, or `any` (loss expected, not judged). */
        lostWrites: z.union([z.number().int().min(0), z.literal('any')]).optional(),
        /** After recovery every system regains full redundancy, and its invariants hold. */
        converged: z.boolean().default(true),
        /** From the last fault's injection to full redundancy. */
        maxTimeToFullRedundancyMs: ms().optional(),
      })
      .strict()
      .default({})
      .superRefine((e, ctx) => {
        if (e.maxLostWrites !== undefined && e.lostWrites !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['lostWrites'],
            message: 'give either maxLostWrites (a bound) or lostWrites (an exact count or any), not both',
          });
        }
      }),
  })
  .strict()
  .superRefine((s, ctx) => {
    const redis = s.stack.redis;
    const afterLastFault = s.observeMs + s.recovery.timeoutMs;
    if (redis.failoverThresholdMs >= afterLastFault) {
      ctx.addIssue({
        code: 'custom',
        path: ['stack', 'redis', 'failoverThresholdMs'],
        message: `${redis.failoverThresholdMs} ms is not shorter than the time the run waits for recovery after the last fault (observeMs ${s.observeMs} + recovery.timeoutMs ${s.recovery.timeoutMs} = ${afterLastFault} ms): the run could never see a failover; raise recovery.timeoutMs`,
      });
    }
    const probe = s.probes[0]!;
    if (s.steadyState.durationMs > 0 && probe.rateHz > 0) {
      const samples = Math.floor((s.steadyState.durationMs * probe.rateHz) / 1000);
      if (samples < 20) {
        ctx.addIssue({
          code: 'custom',
          path: ['steadyState', 'durationMs'],
          message: `${s.steadyState.durationMs} ms at ${probe.rateHz} writes/s gives ${samples} writes, too few to judge the stack healthy (at least 20); raise durationMs or rateHz, or set durationMs: 0 to skip the check`,
        });
      }
    }
    const lastAt = Math.max(...s.faults.map((f) => f.at + (f.durationMs ?? 0)));
    const total =
      s.steadyState.durationMs +
      lastAt +
      s.observeMs +
      s.recovery.timeoutMs +
      s.recovery.convergenceTimeoutMs;
    if (total > MAX_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `the scenario's waits add up to ${total} ms (steady state, faults, observe, recovery, convergence), more than 24 h`,
      });
    }
  });

export type Scenario = z.infer<typeof scenarioSchema>;
export type FaultStep = Scenario['faults'][number];
export type RedisWriterProbeSpec = Scenario['probes'][number];
export type RedisStackSpec = Scenario['stack']['redis'];
export type Expectations = Scenario['expect'];
