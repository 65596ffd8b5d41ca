import { fileURLToPath } from 'node:url';
import { NODE_IMAGE } from '../../agents/bundle.ts';
import type { ImageRef } from '../../core/provider.ts';
import type { SystemDefinition } from '../../core/system.ts';
import { mongoViolations } from './invariants.ts';
import { ARBITER, mongoNodeNames } from './layout.ts';
import { awaitMongo, observeMongo } from './observe.ts';
import { planMongo } from './plan.ts';
import { MongoWriterProbe, mongoCollection, mongoWriterSettings } from './probe.ts';
import { ENDPOINT_RECORD, readEndpoint } from './records.ts';
import { MONGO_ROLES, resolveMongoRole } from './roles.ts';
import { type MongoSpec, type MongoWriterProbeSpec, mongoSpec, mongoWriterSpec } from './spec.ts';

/**
 * mongod has no Debian package (MongoDB ships its own repository, out of reach offline, and no
 * npm or PyPI package carries the server: each downloads it at run time), so it has no offline
 * build: only the official image, or one named by CHAOS_IMAGE_MONGO.
 */
export const MONGO_IMAGE: ImageRef = {
  name: 'mongo',
  env: 'CHAOS_IMAGE_MONGO',
  official: 'mongo:7',
  officialOnly: 'mongod is in no Debian package',
};

/** A MongoDB replica set: data members over the AZs (or two and an arbiter), endpoint agents, an endpoint record. */
export const mongoReplicaSet: SystemDefinition<MongoSpec> = {
  name: 'mongo',
  kind: 'mongo-replica-set',
  description:
    "a MongoDB replica set over the AZs (data members, or two and an arbiter), MongoDB's own elections, an endpoint record kept by the primary's agent",
  spec: mongoSpec,
  failoverThresholdMs: (spec) => spec.electionTimeoutMillis,
  probes: [
    {
      kind: 'mongo-writer',
      spec: mongoWriterSpec,
      create: (spec, deps) =>
        new MongoWriterProbe(spec as MongoWriterProbeSpec, {
          clock: deps.clock,
          history: deps.history,
          registry: deps.stack.registry(),
          endpoint: (node) => deps.stack.endpoint(node),
          address: (node) => deps.stack.address(node),
          members: () =>
            deps.stack
              .nodes()
              .filter((n) => n.system === 'mongo' && n.name !== ARBITER)
              .map((n) => n.name),
          collection: mongoCollection(spec.name),
        }),
      settings: (spec) => mongoWriterSettings(spec as MongoWriterProbeSpec, mongoCollection(spec.name)),
    },
  ],
  roles: MONGO_ROLES,
  images: [MONGO_IMAGE, NODE_IMAGE],
  agents: { 'mongo-endpoint-agent': fileURLToPath(new URL('./agent-main.ts', import.meta.url)) },
  layout: (spec) => mongoNodeNames(spec),
  plan: planMongo,
  awaitReady: (stack, spec, signal) => awaitMongo(stack, spec, signal),
  observe: (stack) => observeMongo(stack),
  records: async (stack) => {
    const leader = await readEndpoint(stack.registry());
    const members = stack
      .nodes()
      .filter((n) => n.system === 'mongo')
      .map((n) => n.name);
    return { leader, members: leader ? [leader, ...members.filter((m) => m !== leader)] : members };
  },
  invariants: mongoViolations,
  resolve: resolveMongoRole,
  leadership: { record: ENDPOINT_RECORD, promotedType: 'became-primary' },
  decisions: [
    'initiated',
    'initiate-waiting',
    'initiate-failed',
    'priorities-set',
    'reconfig-failed',
    'became-primary',
    'claimed-endpoint',
    'endpoint-moved',
    'endpoint-withheld',
    'endpoint-claim-lost',
    'stepped-down',
    'local-unreachable',
    'local-answering',
    'agent-started',
    'agent-crashed',
    'agent-stuck',
    'agent-exited',
  ],
};
