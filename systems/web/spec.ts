import { z } from 'zod';
import { azList, ms } from '../../core/durations.ts';
import { replicaCount } from '../redis/spec.ts';
import { LB_BALANCES } from './lb.ts';

/**
 * `stack.web`: a load balancer (HAProxy) in front of web heads in an auto-scaled group over the
 * AZs. Each head writes through to the stack's data systems (`backends`), so a web-tier game
 * day exercises the whole stack.
 */
export const webSpec = z
  .object({
    heads: z
      .number()
      .int()
      .min(1)
      .max(12)
      .default(3)
      .describe("The group's desired capacity: web heads spread round-robin over the AZs."),
    azs: azList,
    lbProfile: z
      .enum(['fast', 'alb-defaults'])
      .default('fast')
      .describe(
        "The load balancer's health checks: fast (every 500 ms, down after 2, up after 2) or alb-defaults (an ALB target group's defaults: every 30 s, down after 2, up after 5).",
      ),
    balance: z
      .enum(LB_BALANCES)
      .default('round-robin')
      .describe(
        "How the load balancer picks a head for each request: round-robin (in turn, an ALB's default) or least-outstanding (the head with the fewest requests in flight: HAProxy's leastconn, an ALB's least_outstanding_requests).",
      ),
    /**
     * Retries of a request whose connection to a head failed, and whether a retry may go to
     * another head (`option redispatch`): they change what clients see, so the scenario chooses.
     */
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(0)
      .describe("The load balancer's retries of a request whose connection to a head failed."),
    redispatch: z
      .boolean()
      .default(false)
      .describe('Whether a retry may go to another head (option redispatch).'),
    backends: z
      .array(z.enum(['pg', 'redis']))
      .min(1)
      .default(['pg'])
      .refine((b) => new Set(b).size === b.length, { message: 'each backend may appear once' })
      .describe(
        'The data systems each write goes through (Postgres first, then Redis); each must be in the stack.',
      ),
    /**
     * Redis replication is asynchronous: a head's RPUSH is acknowledged before any replica has
     * it, and a head that dies takes what was still on the link with it. With a number here the
     * app sends `WAIT n` after each RPUSH and answers 200 only once n replicas have the write; a
     * WAIT that comes back short (or runs out of the backend timeout) is a 504: applied on the
     * head, perhaps nowhere else.
     */
    redisWaitReplicas: replicaCount().describe(
      'Replicas each RPUSH must reach (Redis WAIT) before the head answers 200; 0: asynchronous, as Redis is by default (a head that dies loses what was still on the link).',
    ),
    replaceAfterMs: ms(0)
      .default(1000)
      .describe(
        'The group replaces a head whose instance is not running after this long, in ms (its health check grace).',
      ),
    reconcileIntervalMs: ms(50).default(250).describe('How often (ms) the group looks at its heads.'),
  })
  .describe(
    'A load balancer (HAProxy) in front of web heads in an auto-scaled group over the AZs, each writing through to the data systems of the stack.',
  )
  .strict();
export type WebSpec = z.infer<typeof webSpec>;
