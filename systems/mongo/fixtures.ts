import { Long, ObjectId, Timestamp } from 'mongodb';

/**
 * `hello` and `replSetGetStatus` documents as a MongoDB 7 replica set answers them, written by
 * hand after the shapes MongoDB documents (the replSetGetStatus and hello reference pages), as
 * the Node.js driver hands them over: int64 fields promoted to numbers (its default), Timestamps
 * and ObjectIds as bson objects, dates as Dates. The set: `mongo-a`, `mongo-b`, `mongo-c` (or
 * `mongo-a`, `mongo-b` and `mongo-arbiter`), named by node name as the plan's config has them.
 * No mongod could be run where these tests were written: these are what its answers look like.
 */

const T0 = Date.parse('2025-03-14T09:26:53.000Z');
const at = (ms: number) => new Date(T0 + ms);
/** An optime: the oplog entry's timestamp (seconds, increment) and the term it was written in. */
const optime = (ms: number, i: number, t: number) => ({
  ts: new Timestamp({ t: Math.floor((T0 + ms) / 1000), i }),
  t,
});
const NEVER = { ts: new Timestamp({ t: 0, i: 0 }), t: -1 };
const clusterTime = (ms: number) => ({
  $clusterTime: {
    clusterTime: new Timestamp({ t: Math.floor((T0 + ms) / 1000), i: 1 }),
    signature: { hash: Buffer.alloc(20), keyId: 0 },
  },
  operationTime: new Timestamp({ t: Math.floor((T0 + ms) / 1000), i: 1 }),
});
const wire = {
  maxBsonObjectSize: 16777216,
  maxMessageSizeBytes: 48000000,
  maxWriteBatchSize: 100000,
  logicalSessionTimeoutMinutes: 30,
  minWireVersion: 0,
  maxWireVersion: 21,
  readOnly: false,
};

// ---------------------------------------------------------------------------------------------
// hello

export const HELLO_PRIMARY_A = {
  topologyVersion: { processId: new ObjectId('65f2c1d0a4b8e2a1c3d5e7f9'), counter: 6 },
  hosts: ['mongo-a:27017', 'mongo-b:27017', 'mongo-c:27017'],
  setName: 'rs0',
  setVersion: 2,
  isWritablePrimary: true,
  secondary: false,
  primary: 'mongo-a:27017',
  me: 'mongo-a:27017',
  electionId: new ObjectId('7fffffff0000000000000001'),
  lastWrite: {
    opTime: optime(5240, 37, 1),
    lastWriteDate: at(5000),
    majorityOpTime: optime(5228, 36, 1),
    majorityWriteDate: at(5000),
  },
  localTime: at(5241),
  connectionId: 118,
  ...wire,
  ok: 1,
  ...clusterTime(5240),
};

export const HELLO_SECONDARY_B = {
  topologyVersion: { processId: new ObjectId('65f2c1d0b91c3e5a7f0b2d4e'), counter: 5 },
  hosts: ['mongo-a:27017', 'mongo-b:27017', 'mongo-c:27017'],
  setName: 'rs0',
  setVersion: 2,
  isWritablePrimary: false,
  secondary: true,
  primary: 'mongo-a:27017',
  me: 'mongo-b:27017',
  lastWrite: {
    opTime: optime(5228, 36, 1),
    lastWriteDate: at(5000),
    majorityOpTime: optime(5228, 36, 1),
    majorityWriteDate: at(5000),
  },
  localTime: at(5242),
  connectionId: 97,
  ...wire,
  ok: 1,
  ...clusterTime(5228),
};

/** A member started with --replSet before `rs.initiate`: it knows of no set yet. */
export const HELLO_UNINITIALIZED = {
  topologyVersion: { processId: new ObjectId('65f2c1c9e1d3a5b7c9e1f3a5'), counter: 0 },
  isWritablePrimary: false,
  secondary: false,
  info: 'Does not have a valid replica set config',
  isreplicaset: true,
  localTime: at(-60_000),
  connectionId: 3,
  ...wire,
  ok: 1,
};

export const HELLO_ARBITER = {
  topologyVersion: { processId: new ObjectId('65f2c1d0c0d2e4f6a8b0c2d4'), counter: 3 },
  hosts: ['mongo-a:27017', 'mongo-b:27017'],
  arbiters: ['mongo-arbiter:27017'],
  setName: 'rs0',
  setVersion: 2,
  isWritablePrimary: false,
  secondary: false,
  primary: 'mongo-a:27017',
  arbiterOnly: true,
  me: 'mongo-arbiter:27017',
  localTime: at(5243),
  connectionId: 41,
  ...wire,
  ok: 1,
};

/** What a mongod before 4.4.2 (or the legacy isMaster) says: `ismaster`, not `isWritablePrimary`. */
export const IS_MASTER_PRIMARY = {
  hosts: ['mongo-a:27017', 'mongo-b:27017', 'mongo-c:27017'],
  setName: 'rs0',
  setVersion: 1,
  ismaster: true,
  secondary: false,
  primary: 'mongo-a:27017',
  me: 'mongo-a:27017',
  ok: 1,
};

// ---------------------------------------------------------------------------------------------
// replSetGetStatus

const optimes = (ms: number, i: number, t: number) => ({
  lastCommittedOpTime: optime(ms, i, t),
  lastCommittedWallTime: at(ms),
  readConcernMajorityOpTime: optime(ms, i, t),
  appliedOpTime: optime(ms, i, t),
  durableOpTime: optime(ms, i, t),
  writtenOpTime: optime(ms, i, t),
  lastAppliedWallTime: at(ms),
  lastDurableWallTime: at(ms),
  lastWrittenWallTime: at(ms),
});

/** A data member as another member describes it (from heartbeats and its position reports). */
const peer = (
  id: number,
  node: string,
  state: 1 | 2,
  applied: { ms: number; i: number; t: number },
  syncSource: string,
) => ({
  _id: id,
  name: `${node}:27017`,
  health: 1,
  state,
  stateStr: state === 1 ? 'PRIMARY' : 'SECONDARY',
  uptime: 312,
  optime: optime(applied.ms, applied.i, applied.t),
  optimeDurable: optime(applied.ms, applied.i, applied.t),
  optimeWritten: optime(applied.ms, applied.i, applied.t),
  optimeDate: at(Math.floor(applied.ms / 1000) * 1000),
  optimeDurableDate: at(Math.floor(applied.ms / 1000) * 1000),
  optimeWrittenDate: at(Math.floor(applied.ms / 1000) * 1000),
  lastAppliedWallTime: at(applied.ms),
  lastDurableWallTime: at(applied.ms),
  lastWrittenWallTime: at(applied.ms),
  lastHeartbeat: at(5100),
  lastHeartbeatRecv: at(5150),
  pingMs: 0,
  lastHeartbeatMessage: '',
  syncSourceHost: syncSource,
  syncSourceId: syncSource ? ['mongo-a:27017', 'mongo-b:27017', 'mongo-c:27017'].indexOf(syncSource) : -1,
  infoMessage: '',
  configVersion: 2,
  configTerm: applied.t,
});

/** The member answering, as it describes itself (`self: true`, no heartbeat fields). */
const self = (
  id: number,
  node: string,
  state: 1 | 2,
  applied: { ms: number; i: number; t: number },
  syncSource: string,
) => ({
  _id: id,
  name: `${node}:27017`,
  health: 1,
  state,
  stateStr: state === 1 ? 'PRIMARY' : 'SECONDARY',
  uptime: 318,
  optime: optime(applied.ms, applied.i, applied.t),
  optimeDate: at(Math.floor(applied.ms / 1000) * 1000),
  lastAppliedWallTime: at(applied.ms),
  lastDurableWallTime: at(applied.ms),
  lastWrittenWallTime: at(applied.ms),
  syncSourceHost: syncSource,
  syncSourceId: syncSource ? ['mongo-a:27017', 'mongo-b:27017', 'mongo-c:27017'].indexOf(syncSource) : -1,
  infoMessage: '',
  ...(state === 1
    ? {
        electionTime: new Timestamp({ t: Math.floor(T0 / 1000) - 300, i: 1 }),
        electionDate: at(-300_000),
      }
    : {}),
  configVersion: 2,
  configTerm: applied.t,
  self: true,
  lastHeartbeatMessage: '',
});

/** A member the one answering cannot reach: health 0, state 8, its optime unknown. */
const unreachable = (id: number, node: string) => ({
  _id: id,
  name: `${node}:27017`,
  health: 0,
  state: 8,
  stateStr: '(not reachable/healthy)',
  uptime: 0,
  optime: NEVER,
  optimeDurable: NEVER,
  optimeWritten: NEVER,
  optimeDate: new Date(0),
  optimeDurableDate: new Date(0),
  optimeWrittenDate: new Date(0),
  lastAppliedWallTime: at(-2000),
  lastDurableWallTime: at(-2000),
  lastWrittenWallTime: at(-2000),
  lastHeartbeat: at(5100),
  lastHeartbeatRecv: at(-2100),
  pingMs: 0,
  lastHeartbeatMessage: `Error connecting to ${node}:27017 (10.201.1.10:27017) :: caused by :: Connection refused`,
  authenticated: false,
  syncSourceHost: '',
  syncSourceId: -1,
  infoMessage: '',
  configVersion: -1,
  configTerm: -1,
});

const statusHead = (myState: number, term: number, syncSource: string) => ({
  set: 'rs0',
  date: at(5245),
  myState,
  term,
  syncSourceHost: syncSource,
  syncSourceId: syncSource ? ['mongo-a:27017', 'mongo-b:27017', 'mongo-c:27017'].indexOf(syncSource) : -1,
  heartbeatIntervalMillis: 500,
  majorityVoteCount: 2,
  writeMajorityCount: 2,
  votingMembersCount: 3,
  writableVotingMembersCount: 3,
});

/** Three data members, whole: `mongo-a` primary (term 1), `mongo-b` 12 ms behind, `mongo-c` 40 ms. */
export const STATUS_PRIMARY_A = {
  ...statusHead(1, 1, ''),
  optimes: optimes(5240, 37, 1),
  lastStableRecoveryTimestamp: new Timestamp({ t: Math.floor((T0 + 5000) / 1000), i: 1 }),
  electionCandidateMetrics: {
    lastElectionReason: 'electionTimeout',
    lastElectionDate: at(-300_000),
    electionTerm: 1,
    lastCommittedOpTimeAtElection: NEVER,
    lastSeenOpTimeAtElection: { ts: new Timestamp({ t: Math.floor(T0 / 1000) - 301, i: 1 }), t: -1 },
    numVotesNeeded: 2,
    priorityAtElection: 2,
    electionTimeoutMillis: 2000,
    newTermStartDate: at(-299_990),
    wMajorityWriteAvailabilityDate: at(-299_000),
  },
  members: [
    self(0, 'mongo-a', 1, { ms: 5240, i: 37, t: 1 }, ''),
    peer(1, 'mongo-b', 2, { ms: 5228, i: 36, t: 1 }, 'mongo-a:27017'),
    peer(2, 'mongo-c', 2, { ms: 5200, i: 35, t: 1 }, 'mongo-a:27017'),
  ],
  ok: 1,
  ...clusterTime(5240),
};

/** The same set as `mongo-b` sees it: syncing from `mongo-a`. */
export const STATUS_SECONDARY_B = {
  ...statusHead(2, 1, 'mongo-a:27017'),
  optimes: optimes(5228, 36, 1),
  lastStableRecoveryTimestamp: new Timestamp({ t: Math.floor((T0 + 5000) / 1000), i: 1 }),
  members: [
    peer(0, 'mongo-a', 1, { ms: 5240, i: 37, t: 1 }, ''),
    self(1, 'mongo-b', 2, { ms: 5228, i: 36, t: 1 }, 'mongo-a:27017'),
    peer(2, 'mongo-c', 2, { ms: 5200, i: 35, t: 1 }, 'mongo-a:27017'),
  ],
  ok: 1,
  ...clusterTime(5228),
};

/** As `mongo-c` sees it. */
export const STATUS_SECONDARY_C = {
  ...statusHead(2, 1, 'mongo-a:27017'),
  optimes: optimes(5200, 35, 1),
  members: [
    peer(0, 'mongo-a', 1, { ms: 5240, i: 37, t: 1 }, ''),
    peer(1, 'mongo-b', 2, { ms: 5228, i: 36, t: 1 }, 'mongo-a:27017'),
    self(2, 'mongo-c', 2, { ms: 5200, i: 35, t: 1 }, 'mongo-a:27017'),
  ],
  ok: 1,
  ...clusterTime(5200),
};

/** After `mongo-a` was killed: `mongo-b` won term 2, `mongo-c` syncs from it, `mongo-a` unreachable. */
export const STATUS_AFTER_FAILOVER_B = {
  ...statusHead(1, 2, ''),
  optimes: optimes(9810, 4, 2),
  members: [
    unreachable(0, 'mongo-a'),
    self(1, 'mongo-b', 1, { ms: 9810, i: 4, t: 2 }, ''),
    peer(2, 'mongo-c', 2, { ms: 9805, i: 3, t: 2 }, 'mongo-b:27017'),
  ],
  ok: 1,
  ...clusterTime(9810),
};

/** `mongo-c` after the failover, syncing from `mongo-b`. */
export const STATUS_AFTER_FAILOVER_C = {
  ...statusHead(2, 2, 'mongo-b:27017'),
  optimes: optimes(9805, 3, 2),
  members: [
    unreachable(0, 'mongo-a'),
    peer(1, 'mongo-b', 1, { ms: 9810, i: 4, t: 2 }, ''),
    self(2, 'mongo-c', 2, { ms: 9805, i: 3, t: 2 }, 'mongo-b:27017'),
  ],
  ok: 1,
  ...clusterTime(9805),
};

/** The book's layout: two data members and an arbiter, from the primary. */
export const STATUS_PSA_PRIMARY_A = {
  ...statusHead(1, 1, ''),
  votingMembersCount: 3,
  writableVotingMembersCount: 2,
  optimes: optimes(5240, 37, 1),
  members: [
    self(0, 'mongo-a', 1, { ms: 5240, i: 37, t: 1 }, ''),
    peer(1, 'mongo-b', 2, { ms: 5236, i: 36, t: 1 }, 'mongo-a:27017'),
    {
      _id: 2,
      name: 'mongo-arbiter:27017',
      health: 1,
      state: 7,
      stateStr: 'ARBITER',
      uptime: 310,
      lastHeartbeat: at(5100),
      lastHeartbeatRecv: at(5150),
      pingMs: 0,
      lastHeartbeatMessage: '',
      syncSourceHost: '',
      syncSourceId: -1,
      infoMessage: '',
      configVersion: 2,
      configTerm: 1,
    },
  ],
  ok: 1,
  ...clusterTime(5240),
};

/** The same, from `mongo-b`. */
export const STATUS_PSA_SECONDARY_B = {
  ...statusHead(2, 1, 'mongo-a:27017'),
  votingMembersCount: 3,
  writableVotingMembersCount: 2,
  optimes: optimes(5236, 36, 1),
  members: [
    peer(0, 'mongo-a', 1, { ms: 5240, i: 37, t: 1 }, ''),
    self(1, 'mongo-b', 2, { ms: 5236, i: 36, t: 1 }, 'mongo-a:27017'),
    STATUS_PSA_PRIMARY_A.members[2]!,
  ],
  ok: 1,
  ...clusterTime(5236),
};

/** The arbiter's own status: it holds no data, so no optimes of its own to speak of. */
export const STATUS_ARBITER = {
  set: 'rs0',
  date: at(5245),
  myState: 7,
  term: 1,
  syncSourceHost: '',
  syncSourceId: -1,
  heartbeatIntervalMillis: 500,
  majorityVoteCount: 2,
  writeMajorityCount: 2,
  votingMembersCount: 3,
  writableVotingMembersCount: 2,
  members: [
    peer(0, 'mongo-a', 1, { ms: 5240, i: 37, t: 1 }, ''),
    peer(1, 'mongo-b', 2, { ms: 5236, i: 36, t: 1 }, 'mongo-a:27017'),
    {
      _id: 2,
      name: 'mongo-arbiter:27017',
      health: 1,
      state: 7,
      stateStr: 'ARBITER',
      uptime: 316,
      syncSourceHost: '',
      syncSourceId: -1,
      infoMessage: '',
      configVersion: 2,
      configTerm: 1,
      self: true,
      lastHeartbeatMessage: '',
    },
  ],
  ok: 1,
};

/** The old primary back after a partition healed, rolling back what the majority never had. */
export const STATUS_ROLLBACK_A = {
  ...statusHead(9, 2, 'mongo-b:27017'),
  members: [
    { ...self(0, 'mongo-a', 2, { ms: 7400, i: 220, t: 1 }, 'mongo-b:27017'), state: 9, stateStr: 'ROLLBACK' },
    peer(1, 'mongo-b', 1, { ms: 15_020, i: 9, t: 2 }, ''),
    peer(2, 'mongo-c', 2, { ms: 15_010, i: 8, t: 2 }, 'mongo-b:27017'),
  ],
  ok: 1,
};

/** The driver with `promoteLongs: false` (or a Long too large for a double): int64s as bson Longs. */
export const STATUS_PRIMARY_A_LONGS = {
  ...STATUS_PRIMARY_A,
  term: Long.fromNumber(1),
  heartbeatIntervalMillis: Long.fromNumber(500),
};

/** replSetGetConfig's `config` right after the set formed with `mongo-a` ranked first. */
export const CONFIG_FORMED = {
  _id: 'rs0',
  version: 1,
  term: 1,
  members: [
    {
      _id: 0,
      host: 'mongo-a:27017',
      arbiterOnly: false,
      buildIndexes: true,
      hidden: false,
      priority: 2,
      tags: {},
      secondaryDelaySecs: 0,
      votes: 1,
    },
    {
      _id: 1,
      host: 'mongo-b:27017',
      arbiterOnly: false,
      buildIndexes: true,
      hidden: false,
      priority: 1,
      tags: {},
      secondaryDelaySecs: 0,
      votes: 1,
    },
    {
      _id: 2,
      host: 'mongo-arbiter:27017',
      arbiterOnly: true,
      buildIndexes: true,
      hidden: false,
      priority: 0,
      tags: {},
      secondaryDelaySecs: 0,
      votes: 1,
    },
  ],
  protocolVersion: 1,
  writeConcernMajorityJournalDefault: true,
  settings: {
    chainingAllowed: false,
    heartbeatIntervalMillis: 500,
    heartbeatTimeoutSecs: 10,
    electionTimeoutMillis: 2000,
    catchUpTimeoutMillis: -1,
    catchUpTakeoverDelayMillis: 30000,
    getLastErrorModes: {},
    getLastErrorDefaults: { w: 1, wtimeout: 0 },
    replicaSetId: new ObjectId('65f2c1d2f0e1d2c3b4a59687'),
  },
};
