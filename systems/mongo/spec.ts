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
    nodes: z
      .number()
      .int()
      .min(2)
      .max(6)
      .optional()
      .describe(
        "Data-bearing members, round-robin over the AZs: 3 by default, 2 with an arbiter (the book's three-zone layout).",
      ),
    arbiter: z
      .boolean()
      .default(false)
      .describe('One arbiter beside the data members: it votes, holds no data, is never primary.'),
    azs: azList,
    replSetName: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -')
      .default('rs0')
      .describe("The replica set's name (--replSet, the _id of its config)."),
    priorities: z
      .array(z.number().min(0).max(1000))
      .optional()
      .describe(
        "Each data member's election priority, in layout order (mongo-a first), one per member: all 1 by default; 0 never primary.",
      ),
    /**
     * How long a secondary goes without hearing from the primary before it calls an election (and
     * how long a primary goes without a majority before it steps down). MongoDB's default: 10000.
     */
    electionTimeoutMillis: ms(1)
      .default(10_000)
      .describe(
        "How long (ms) a secondary goes without hearing from the primary before it calls an election (MongoDB's electionTimeoutMillis).",
      ),
    heartbeatIntervalMillis: ms(1)
      .default(2000)
      .describe("How often (ms) members send each other heartbeats (MongoDB's heartbeatIntervalMillis)."),
    maxLagMs: ms()
      .default(2000)
      .describe('How far (ms of oplog) a secondary may trail the primary and still count as redundant.'),
    checkIntervalMs: ms(10)
      .default(200)
      .describe(
        'How often (ms) an endpoint agent asks its member whether it is the primary (the book: a minute).',
      ),
    pingTimeoutMs: ms(10)
      .default(1000)
      .describe("How long (ms) an endpoint agent waits for its member's answer."),
    endpointRecordTtlMs: ms()
      .default(1000)
      .describe('TTL of the endpoint record (ms): how long clients may cache it.'),
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
  })
  .describe(
    'A MongoDB replica set over the AZs that elects its own primary, an endpoint agent beside each data member keeping the endpoint record on the primary.',
  );
export type MongoSpec = z.infer<typeof mongoSpec>;

/**
 * A `mongo-writer` probe: inserts of unique sequential ids (`_id`) with the write concern it is
 * given, through the replica set (the driver finds the primary itself) or through the endpoint
 * record (a client that resolves the record, as the book's did).
 */
export const mongoWriterSpec = z
  .object({
    kind: z
      .literal('mongo-writer')
      .describe(
        'Inserts unique sequential ids (_id) into the replica set with the write concern it is given.',
      ),
    name: probeName,
    rateHz: z
      .number()
      .min(0)
      .max(100_000)
      .default(100)
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
    writeConcern: z
      .union([z.literal(1), z.literal('majority')])
      .default('majority')
      .describe(
        'The write concern: 1 (acknowledged by the primary alone, a failover can roll it back) or majority (once a majority of the data-bearing voting members has it).',
      ),
    connect: z
      .enum(['replica-set', 'endpoint-record'])
      .default('replica-set')
      .describe(
        'replica-set: a replica-set URI over the data members, the driver finds the primary itself; endpoint-record: the node the endpoint record names, connected to directly.',
      ),
    connectTimeoutMs: ms(10)
      .default(1000)
      .describe('How long (ms) a connection to a member may take before the write fails, unsent.'),
    serverSelectionTimeoutMs: ms(10)
      .default(1000)
      .describe('How long (ms) a write waits for a primary to be selected before it fails, unsent.'),
    socketTimeoutMs: ms(10)
      .default(2000)
      .describe('How long (ms) a write waits for its reply once sent: then its outcome is unknown.'),
    /**
     * majority only: how long the primary waits for the majority before it answers with a
     * write-concern error (the write is then unknown: applied on the primary, maybe rolled back).
     * Keep it below socketTimeoutMs, or the client gives up first.
     */
    wtimeoutMs: ms(1)
      .default(1000)
      .describe(
        'majority only: how long (ms) the primary waits for the majority before it answers with a write-concern error (the write is then unknown); keep it below socketTimeoutMs.',
      ),
    heartbeatFrequencyMs: ms(500)
      .default(500)
      .describe(
        "How often (ms) the driver's monitors ask each member who is primary (the driver's minimum is 500).",
      ),
    retryBackoffMs: ms()
      .default(50)
      .describe('Pause (ms) after a failed write before the next, so a dead node is not hammered.'),
  })
  .describe('A mongo-writer probe: inserts of unique sequential ids with the write concern it is given.')
  .strict();
export type MongoWriterProbeSpec = z.infer<typeof mongoWriterSpec>;
