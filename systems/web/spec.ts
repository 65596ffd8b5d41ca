import { z } from 'zod';
import { azList, ms } from '../../core/durations.ts';

/**
 * `stack.web`: a load balancer (HAProxy) in front of web heads in an auto-scaled group over the
 * AZs. Each head writes through to the stack's data systems (`backends`), so a web-tier game
 * day exercises the whole stack.
 */
export const webSpec = z
  .object({
    /** The group's desired capacity: heads spread round-robin over the AZs. */
    heads: z.number().int().min(1).max(12).default(3),
    azs: azList,
    /**
     * The load balancer's health checks: `fast` (every 500 ms, down after 2, up after 2), or
     * `alb-defaults` (an AWS Application Load Balancer's target group defaults: every 30 s, down
     * after 2, up after 5), to see locally what the defaults cost.
     */
    lbProfile: z.enum(['fast', 'alb-defaults']).default('fast'),
    /**
     * Retries of a request whose connection to a head failed, and whether a retry may go to
     * another head (`option redispatch`): they change what clients see, so the scenario chooses.
     */
    retries: z.number().int().min(0).max(10).default(0),
    redispatch: z.boolean().default(false),
    /** The data systems each write goes through (Postgres first, then Redis); each must be in the stack. */
    backends: z
      .array(z.enum(['pg', 'redis']))
      .min(1)
      .default(['pg'])
      .refine((b) => new Set(b).size === b.length, { message: 'each backend may appear once' }),
    /** The group replaces a head whose instance is not running after this long (its health check grace). */
    replaceAfterMs: ms(0).default(1000),
    /** How often the group looks at its heads. */
    reconcileIntervalMs: ms(50).default(250),
  })
  .strict();
export type WebSpec = z.infer<typeof webSpec>;
