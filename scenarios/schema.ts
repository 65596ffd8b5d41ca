import { z } from 'zod';

/**
 * The scenario format: stack + probes + fault schedule + expectations. Files are YAML or JSON;
 * every object is strict, so a misspelt field is an error that names the field and the file.
 */

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
    at: z.number().int().min(0).default(0),
    action: z.enum(FAULT_ACTIONS),
    target,
    /** partition only: the nodes cut off from the target. */
    from: target.optional(),
    /** Revert the fault after this long (pause, stop, partition); kill is never reverted. */
    durationMs: z.number().int().positive().optional(),
    /** Hold the probes' writes while the fault is applied, so its boundary in the history is sharp. */
    quiesceProbes: z.boolean().default(false),
    /** Measure failover time from this fault (default: the first one). */
    measure: z.boolean().default(false),
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
    /** Writes per second; 0 means as fast as one client with one request in flight can go. */
    rateHz: z.number().min(0).max(100_000).default(200),
    commandTimeoutMs: z.number().int().min(10).max(60_000).default(500),
    connectTimeoutMs: z.number().int().min(10).max(60_000).default(500),
    /** Pause after a failed write before the next, so a dead node is not hammered. */
    retryBackoffMs: z.number().int().min(0).max(10_000).default(20),
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
            /** Chain length; nodes go round-robin over the AZs a, b, c. */
            nodes: z.number().int().min(2).max(12).default(3),
            azs: z
              .array(z.string().regex(/^[a-z]$/))
              .min(1)
              .default(['a', 'b', 'c']),
            /** How long an agent's master must be unreachable before the agent acts. */
            failoverThresholdMs: z.number().int().min(100).max(120_000).default(1000),
            checkIntervalMs: z.number().int().min(10).max(10_000).default(100),
            pingTimeoutMs: z.number().int().min(10).max(10_000).default(250),
            /** TTL of the head record: how long clients may cache it. */
            headRecordTtlMs: z.number().int().min(0).max(3_600_000).default(500),
          })
          .strict(),
      })
      .strict(),
    // One probe for now: the checker judges one history. More will need a verdict per probe.
    probes: z.array(redisWriterProbe).min(1).max(1, 'one probe per scenario for now'),
    steadyState: z
      .object({
        durationMs: z.number().int().min(0).default(2000),
        /** Below this share of ok writes before any fault, the run aborts: the stack was not healthy. */
        minSuccessRatio: z.number().min(0).max(1).default(0.99),
      })
      .strict()
      .default({}),
    faults: z.array(faultStep).min(1),
    /** How long to watch after the last fault is injected. */
    observeMs: z.number().int().min(0).default(5000),
    recovery: z
      .object({
        /** Give up waiting for a stable success after this long (the run then fails: never recovered). */
        timeoutMs: z.number().int().min(100).default(20_000),
        /** A recovery is stable once writes have succeeded without a failure for this long. */
        stableMs: z.number().int().min(0).default(1000),
      })
      .strict()
      .default({}),
    expect: z
      .object({
        recovered: z.boolean().default(true),
        maxFailoverMs: z.number().min(0).optional(),
        maxUnavailabilityMs: z.number().min(0).optional(),
        maxLostWrites: z.number().int().min(0).optional(),
        /** An exact number of lost writes, for scenarios that induce a known loss. */
        lostWrites: z.number().int().min(0).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type FaultStep = Scenario['faults'][number];
export type RedisWriterProbeSpec = Scenario['probes'][number];
export type RedisStackSpec = Scenario['stack']['redis'];
