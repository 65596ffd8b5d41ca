import { z } from 'zod';
import { azList, ms, probeName } from '../../core/durations.ts';

/**
 * `stack.mongo`: a MongoDB replica set over the AZs, as the source material runs it: data members
 * round-robin over the zones (`mongo-a` leads at first), or two data members and an arbiter in
 * the third zone (`arbiter: true`). MongoDB elects its primary itself; an endpoint agent beside
 * each data member keeps the endpoint record pointing at its member while it is the primary.
 */
export const mongoSpec = z
  .object({
    /** Data-bearing members; 3 by default, 2 with an arbiter (the book's three-zone layout). */
    nodes: z.number().int().min(2).max(6).optional(),
    /** One arbiter beside the data members: it votes, holds no data, is never primary. */
    arbiter: z.boolean().default(false),
    azs: azList,
    /** The replica set's name (`--replSet`, `_id` of its config). */
    replSetName: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -')
      .default('rs0'),
    /**
     * Each data member's priority, in layout order (`mongo-a` first); all 1 by default, so a
     * member that comes back never takes over from the primary elected meanwhile. 0: never primary.
     */
    priorities: z.array(z.number().min(0).max(1000)).optional(),
    /**
     * How long a secondary goes without hearing from the primary before it calls an election (and
     * how long a primary goes without a majority before it steps down). MongoDB's default: 10000.
     */
    electionTimeoutMillis: ms(1).default(10_000),
    /** How often members send each other heartbeats. MongoDB's default: 2000. */
    heartbeatIntervalMillis: ms(1).default(2000),
    /** How far (ms of oplog) a secondary may trail the primary and still count as redundant. */
    maxLagMs: ms().default(2000),
    /** How often an endpoint agent asks its member whether it is the primary (the book: a minute). */
    checkIntervalMs: ms(10).default(200),
    /** How long an agent waits for its member's answer. */
    pingTimeoutMs: ms(10).default(1000),
    /** TTL of the endpoint record: how long clients may cache it. */
    endpointRecordTtlMs: ms().default(1000),
  })
  .strict()
  .transform((s) => ({ ...s, nodes: s.nodes ?? (s.arbiter ? 2 : 3) }))
  .superRefine((s, ctx) => {
    if (s.priorities && s.priorities.length !== s.nodes)
      ctx.addIssue({
        code: 'custom',
        path: ['priorities'],
        message: `one priority per data member: ${s.nodes} members, ${s.priorities.length} priorities`,
      });
    if (s.priorities?.every((p) => p === 0))
      ctx.addIssue({
        code: 'custom',
        path: ['priorities'],
        message: 'at least one data member needs a priority above 0, or no member can become primary',
      });
    const voters = s.nodes + (s.arbiter ? 1 : 0);
    if (voters > 7)
      ctx.addIssue({
        code: 'custom',
        path: ['nodes'],
        message: `a replica set has at most 7 voting members; ${s.nodes} data members${s.arbiter ? ' and an arbiter' : ''} make ${voters}`,
      });
  });
export type MongoSpec = z.infer<typeof mongoSpec>;

/**
 * A `mongo-writer` probe: inserts of unique sequential ids (`_id`) with the write concern it is
 * given, through the replica set (the driver finds the primary itself) or through the endpoint
 * record (a client that resolves the record, as the book's did).
 */
export const mongoWriterSpec = z
  .object({
    kind: z.literal('mongo-writer'),
    name: probeName,
    /** Writes per second over all in-flight slots; 0 means as fast as the slots can go. */
    rateHz: z.number().min(0).max(100_000).default(100),
    concurrency: z.number().int().min(1).max(64).default(1),
    /**
     * `1`: acknowledged by the primary alone (a failover can roll it back); `majority`:
     * acknowledged once a majority of the data-bearing voting members has it.
     */
    writeConcern: z.union([z.literal(1), z.literal('majority')]).default('majority'),
    /**
     * `replica-set`: a replica-set URI over the data members; the driver finds the primary itself.
     * `endpoint-record`: the node the endpoint record names, connected to directly.
     */
    connect: z.enum(['replica-set', 'endpoint-record']).default('replica-set'),
    connectTimeoutMs: ms(10).default(1000),
    /** How long a write waits for a primary to be selected before it fails, unsent. */
    serverSelectionTimeoutMs: ms(10).default(1000),
    /** How long a write waits for its reply once sent: then it is unknown. */
    socketTimeoutMs: ms(10).default(2000),
    /**
     * majority only: how long the primary waits for the majority before it answers with a
     * write-concern error (the write is then unknown: applied on the primary, maybe rolled back).
     * Keep it below socketTimeoutMs, or the client gives up first.
     */
    wtimeoutMs: ms(1).default(1000),
    /** How often the driver's monitors ask each member who is primary (the driver's minimum is 500). */
    heartbeatFrequencyMs: ms(500).default(500),
    retryBackoffMs: ms().default(50),
  })
  .strict();
export type MongoWriterProbeSpec = z.infer<typeof mongoWriterSpec>;
