import { type CommandStartedEvent, MongoClient, MongoServerError, type WriteConcernSettings } from 'mongodb';
import { CachingResolver } from '../../agents/registry/http-client.ts';
import type { Clock } from '../../core/clock.ts';
import { type History, type Outcome, SeqSet } from '../../core/history.ts';
import type { Endpoint } from '../../core/provider.ts';
import type { Registry } from '../../core/registry.ts';
import type { ClientSettings } from '../../core/result.ts';
import type { Probe } from '../../core/system.ts';
import { Slots } from '../../probes/slots.ts';
import { classifyMongoFailure } from './classify.ts';
import { adminOnce, closeSoon, directClient, replicaSetUri, stackLookup } from './client.ts';
import { hostOf, nodeOfHost } from './layout.ts';
import { ENDPOINT_RECORD } from './records.ts';
import type { MongoWriterProbeSpec } from './spec.ts';

/** The database the probes write to; each probe has its own collection in it. */
export const MONGO_DB = 'chaos';
export const mongoCollection = (probe: string) => `writes_${probe.replace(/-/g, '_')}`;
/** The driver's version, as the settings name it. */
const LIBRARY = 'mongodb (Node.js driver) 6.22';
/** The replica set's code NamespaceExists: the collection is there already. */
const NAMESPACE_EXISTS = 48;

export interface MongoWriterDeps {
  clock: Clock;
  history: History;
  registry: Registry;
  /** A member's port as a client outside the stack reaches it (endpoint-record mode). */
  endpoint(node: string): Endpoint;
  /** A member's address on the stack's network, what its name resolves to inside the stack. */
  address(node: string): string;
  /** The data members' node names, for the replica-set URI's seed list. */
  members(): string[];
  collection: string;
}

export function mongoWriterSettings(spec: MongoWriterProbeSpec, collection: string): ClientSettings {
  const w = spec.writeConcern === 1 ? 'w: 1' : `w: 'majority', wtimeoutMS: ${spec.wtimeoutMs}`;
  return {
    library: LIBRARY,
    connectTimeoutMs: spec.connectTimeoutMs,
    commandTimeoutMs: spec.socketTimeoutMs,
    retries: 0,
    retryBackoffMs: spec.retryBackoffMs,
    rateHz: spec.rateHz,
    inFlight: spec.concurrency,
    operation: `insertOne({ _id: seq }) into ${MONGO_DB}.${collection}, ${w}, retryWrites off`,
    writeConcern: spec.writeConcern,
    connect:
      spec.connect === 'replica-set'
        ? 'replica-set URI: the driver finds the primary'
        : `the node the ${ENDPOINT_RECORD} record names, directly`,
    serverSelectionTimeoutMs: spec.serverSelectionTimeoutMs,
    heartbeatFrequencyMs: spec.heartbeatFrequencyMs,
    readBack: "find() from the primary, readConcern 'majority'",
  };
}

interface Slot {
  client: MongoClient;
  /** endpoint-record mode: the node it is connected to. */
  node?: string;
  /** The connection the current insert was handed to (its `commandStarted` event's address), once sent. */
  sentTo?: string;
}

/**
 * A real MongoDB client workload: `concurrency` slots, each with its own `MongoClient`, one insert
 * of a unique sequential `_id` in flight each, at a shared fixed rate, with the write concern the
 * probe asks for and the driver's retryable writes off (a retried insert would hide what the
 * first attempt met). Through the replica set, the driver discovers the members (by their names,
 * resolved to their addresses on the stack's network as inside it) and writes to whichever it
 * sees as primary; through the endpoint record, to the node the record names (cached for its TTL,
 * re-resolved after an error). The node of each write is the one the driver handed it to.
 */
export class MongoWriterProbe implements Probe {
  readonly name: string;
  readonly kind = 'mongo-writer';
  readonly system = 'mongo';
  private readonly slotsByIndex = new Map<number, Slot>();
  private readonly resolver: CachingResolver;
  private readonly slots: Slots;
  private setName: string | undefined;

  constructor(
    private readonly spec: MongoWriterProbeSpec,
    private readonly deps: MongoWriterDeps,
  ) {
    this.name = spec.name;
    this.resolver = new CachingResolver(deps.registry, () => deps.clock.now());
    this.slots = new Slots(deps.clock, {
      rateHz: spec.rateHz,
      concurrency: spec.concurrency,
      retryBackoffMs: spec.retryBackoffMs,
      attempt: (slot, seq) => this.writeOnce(slot, seq),
      closeSlot: (slot) => this.drop(slot),
    });
  }

  settings(): ClientSettings {
    return mongoWriterSettings(this.spec, this.deps.collection);
  }

  private get writeConcern(): WriteConcernSettings {
    return this.spec.writeConcern === 1 ? { w: 1 } : { w: 'majority', wtimeoutMS: this.spec.wtimeoutMs };
  }

  /** A client of the whole replica set, discovering it from the data members' names. */
  private replicaSetClient(timeouts?: { selectionMs: number; socketMs: number }): MongoClient {
    const names = new Set(this.deps.members());
    return new MongoClient(replicaSetUri([...names].map(hostOf), this.setName ?? 'rs0'), {
      lookup: stackLookup((host) => (names.has(host) ? this.deps.address(host) : undefined)),
      connectTimeoutMS: this.spec.connectTimeoutMs,
      serverSelectionTimeoutMS: timeouts?.selectionMs ?? this.spec.serverSelectionTimeoutMs,
      socketTimeoutMS: timeouts?.socketMs ?? this.spec.socketTimeoutMs,
      heartbeatFrequencyMS: this.spec.heartbeatFrequencyMs,
      retryWrites: false,
      retryReads: false,
      maxPoolSize: 1,
      monitorCommands: true,
      appName: `chaos-${this.name}`,
    });
  }

  /**
   * The member a command went to: the driver's command events name the connection's peer by
   * address (`10.201.1.10:27017`), which is a member's address on the stack's network.
   */
  private memberAt(address: string | undefined): string | undefined {
    const host = nodeOfHost(address)?.replace(/^\[(.*)\]$/, '$1');
    if (!host) return undefined;
    return this.deps.members().find((n) => n === host || this.deps.address(n) === host) ?? host;
  }

  private directClientOf(node: string): MongoClient {
    return directClient(this.deps.endpoint(node), this.spec.connectTimeoutMs, {
      serverSelectionTimeoutMS: this.spec.serverSelectionTimeoutMs,
      socketTimeoutMS: this.spec.socketTimeoutMs,
      heartbeatFrequencyMS: this.spec.heartbeatFrequencyMs,
      monitorCommands: true,
      appName: `chaos-${this.name}`,
    });
  }

  /** Learns the set's name from a member, and makes the collection (majority) so no insert creates it. */
  async prepare(): Promise<void> {
    for (const node of this.deps.members()) {
      const [hello] = await adminOnce(this.deps.endpoint(node), [{ hello: 1 }], 1000).catch(() => []);
      if (hello && !(hello instanceof Error) && typeof hello.setName === 'string') {
        this.setName = hello.setName;
        break;
      }
    }
    if (!this.setName)
      throw new Error('no Mongo member answers with a replica set name: the set has not formed');
    if (this.spec.connect === 'endpoint-record' && !(await this.deps.registry.get(ENDPOINT_RECORD))?.value)
      throw new Error(`no ${ENDPOINT_RECORD} record: the Mongo primary's agent has not claimed it`);
    const client = this.replicaSetClient({ selectionMs: 10_000, socketMs: 10_000 });
    try {
      await client
        .db(MONGO_DB)
        .createCollection(this.deps.collection, { writeConcern: { w: 'majority' } })
        .catch((err) => {
          if (!(err instanceof MongoServerError && err.code === NAMESPACE_EXISTS)) throw err;
        });
    } finally {
      await closeSoon(client);
    }
  }

  start(): void {
    this.slots.start();
  }

  pause(): Promise<void> {
    return this.slots.pause();
  }

  resume(): void {
    this.slots.resume();
  }

  stop(): Promise<void> {
    return this.slots.stop();
  }

  /** The slot's client, made (not yet connected: the first insert connects it) for this node. */
  private slot(index: number, node?: string): Slot {
    const current = this.slotsByIndex.get(index);
    if (current && current.node === node) return current;
    this.drop(index);
    const client = node === undefined ? this.replicaSetClient() : this.directClientOf(node);
    const slot: Slot = { client, ...(node === undefined ? {} : { node }) };
    client.on('commandStarted', (e: CommandStartedEvent) => {
      if (e.commandName === 'insert') slot.sentTo = e.address;
    });
    this.slotsByIndex.set(index, slot);
    return slot;
  }

  private drop(index: number): void {
    const slot = this.slotsByIndex.get(index);
    if (slot) void closeSoon(slot.client);
    this.slotsByIndex.delete(index);
  }

  private async writeOnce(index: number, seq: number): Promise<boolean> {
    const tInvoke = this.deps.clock.now();
    const viaRecord = this.spec.connect === 'endpoint-record';
    let node: string | undefined;
    let slot: Slot | undefined;
    try {
      if (viaRecord) {
        node = await this.resolver.resolve(ENDPOINT_RECORD);
        if (!node) throw new Error(`no ${ENDPOINT_RECORD} record in the registry`);
      }
      slot = this.slot(index, node);
      slot.sentTo = undefined;
      await slot.client
        .db(MONGO_DB)
        .collection<{ _id: number }>(this.deps.collection)
        .insertOne({ _id: seq }, { writeConcern: this.writeConcern });
      this.record(seq, index, tInvoke, 'ok', node ?? this.memberAt(slot.sentTo));
      return true;
    } catch (err) {
      const sent = slot?.sentTo !== undefined;
      const by = node ?? this.memberAt(slot?.sentTo);
      this.record(seq, index, tInvoke, classifyMongoFailure(err, sent), by, err);
      // Through the record, a failed write re-resolves it and connects afresh; the replica-set
      // client follows the set by itself.
      if (viaRecord) this.drop(index);
      return false;
    }
  }

  private record(
    seq: number,
    process: number,
    tInvoke: number,
    outcome: Outcome,
    node?: string,
    err?: unknown,
  ) {
    this.deps.history.record({
      probe: this.name,
      op: 'write',
      seq,
      process,
      tInvoke,
      tComplete: this.deps.clock.now(),
      outcome,
      ...(node ? { node } : {}),
      ...(err === undefined
        ? {}
        : {
            error: `${(err as Error)?.name ?? 'Error'}: ${String((err as Error)?.message ?? err)}`
              .split('\n')[0]!
              .slice(0, 200),
          }),
    });
  }

  /**
   * Reads every id back from the primary (whichever mode the writes used: the driver finds it),
   * with read concern majority: what the set keeps whatever happens next.
   */
  async readBack(): Promise<{ node: string; values: ReadonlySet<number> }> {
    const tInvoke = this.deps.clock.now();
    const seq = this.slots.nextSeq();
    const client = this.replicaSetClient({ selectionMs: 10_000, socketMs: 30_000 });
    let node: string | undefined;
    client.on('commandStarted', (e: CommandStartedEvent) => {
      if (e.commandName === 'find') node = this.memberAt(e.address);
    });
    try {
      // Batch by batch into a bitmap of ids: no array of every document.
      const values = new SeqSet();
      for await (const d of client
        .db(MONGO_DB)
        .collection<{ _id: number }>(this.deps.collection)
        .find({}, { projection: { _id: 1 }, readConcern: { level: 'majority' }, readPreference: 'primary' })
        .batchSize(10_000))
        values.add(Number(d._id));
      if (!node) throw new Error('the read-back found no primary to read from');
      this.deps.history.record({
        probe: this.name,
        op: 'read',
        seq,
        process: this.spec.concurrency,
        tInvoke,
        tComplete: this.deps.clock.now(),
        outcome: 'ok',
        node,
      });
      return { node, values };
    } catch (err) {
      this.deps.history.record({
        probe: this.name,
        op: 'read',
        seq,
        process: this.spec.concurrency,
        tInvoke,
        tComplete: this.deps.clock.now(),
        outcome: 'fail',
        ...(node ? { node } : {}),
        error: String(err),
      });
      throw err;
    } finally {
      await closeSoon(client, 1000);
    }
  }
}
