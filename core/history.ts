import {
  type WriteStream,
  closeSync,
  createWriteStream,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/**
 * One operation of a probe, recorded when it completes. Times are on the run's monotonic clock
 * (engine/clock.ts), in milliseconds.
 *
 * - `ok`: the server acknowledged it.
 * - `fail`: it certainly did not take effect (refused before it was sent, or an error reply).
 * - `unknown`: sent, then a timeout or a lost connection: it may or may not have taken effect.
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface Op {
  probe: string;
  op: 'write' | 'read';
  /** The unique, sequential id of the operation; for a write it is also the value written. */
  seq: number;
  /** The probe's in-flight slot that ran it (Jepsen's process): one operation at a time each. */
  process?: number;
  tInvoke: number;
  tComplete: number;
  outcome: Outcome;
  /** The node that served (or failed to serve) it, as the client resolved it. */
  node?: string;
  error?: string;
  /**
   * Cut short by the probe's own stop at the end of the run (k6 drops the requests in flight
   * when it is stopped), not by the system: `unknown` for lost-write accounting, and no failure
   * for availability.
   */
  cutByProbe?: true;
}

/** An error that says the operation got no answer in time, as the probes word it. */
export const TIMEOUT_ERROR = /time(d)?[ -]?out|timeout/i;

/** The bits of `OpChunk.flags`: the outcome in the low two, then the kind and the marks. */
export const OUTCOME_MASK = 0b11;
export const OK = 0;
export const FAIL = 1;
export const UNKNOWN = 2;
export const READ = 0b100;
export const CUT_BY_PROBE = 0b1000;
/** Not acknowledged and its error says it timed out (checker/gray.ts's `isTimeout`). */
export const TIMED_OUT = 0b10000;

const OUTCOMES: readonly Outcome[] = ['ok', 'fail', 'unknown'];
const outcomeCode = (o: Outcome): number => (o === 'ok' ? OK : o === 'fail' ? FAIL : UNKNOWN);

/** Operations per chunk of an `OpLog`. */
export const CHUNK_OPS = 1 << 16;

/**
 * A run of operations in columns: the checker's view of a history. Strings (probe, node, error)
 * are indices into the log's names (0: none). The times of its operations lie within
 * [minInvoke, maxInvoke] and [minComplete, maxComplete], so a pass over a time range can skip
 * it whole.
 */
/** What a chunk says about its operations without its columns. */
export type ChunkBounds = Pick<OpChunk, 'length' | 'minInvoke' | 'maxInvoke' | 'minComplete' | 'maxComplete'>;

export interface OpChunk {
  readonly length: number;
  readonly tInvoke: Float64Array;
  readonly tComplete: Float64Array;
  readonly seq: Float64Array;
  /** -1: none. */
  readonly process: Int32Array;
  readonly flags: Uint8Array;
  readonly probe: Uint16Array;
  readonly node: Uint16Array;
  readonly error: Uint32Array;
  readonly minInvoke: number;
  readonly maxInvoke: number;
  readonly minComplete: number;
  readonly maxComplete: number;
}

/** Bytes of one operation in a chunk's columns, and of one whole chunk (as spilled to disk). */
const OP_BYTES = 8 + 8 + 8 + 4 + 4 + 2 + 2 + 1;
const CHUNK_BYTES = CHUNK_OPS * OP_BYTES;

/** The columns of a chunk as views on one buffer (widest first: every view stays aligned). */
interface Columns {
  readonly buffer: Uint8Array;
  readonly tInvoke: Float64Array;
  readonly tComplete: Float64Array;
  readonly seq: Float64Array;
  readonly process: Int32Array;
  readonly error: Uint32Array;
  readonly probe: Uint16Array;
  readonly node: Uint16Array;
  readonly flags: Uint8Array;
}

function columns(buffer = new Uint8Array(CHUNK_BYTES)): Columns {
  const b = buffer.buffer;
  const o = buffer.byteOffset;
  const n = CHUNK_OPS;
  return {
    buffer,
    tInvoke: new Float64Array(b, o, n),
    tComplete: new Float64Array(b, o + 8 * n, n),
    seq: new Float64Array(b, o + 16 * n, n),
    process: new Int32Array(b, o + 24 * n, n),
    error: new Uint32Array(b, o + 28 * n, n),
    probe: new Uint16Array(b, o + 32 * n, n),
    node: new Uint16Array(b, o + 34 * n, n),
    flags: new Uint8Array(b, o + 36 * n, n),
  };
}

/**
 * A chunk whose columns are in memory: the one still filling, a full one kept in memory, or one
 * read back from the spill file (all of one shape, so a pass over them stays monomorphic).
 */
class Chunk implements OpChunk {
  length = 0;
  readonly cols: Columns;
  readonly tInvoke: Float64Array;
  readonly tComplete: Float64Array;
  readonly seq: Float64Array;
  readonly process: Int32Array;
  readonly flags: Uint8Array;
  readonly probe: Uint16Array;
  readonly node: Uint16Array;
  readonly error: Uint32Array;
  minInvoke = Number.POSITIVE_INFINITY;
  maxInvoke = Number.NEGATIVE_INFINITY;
  minComplete = Number.POSITIVE_INFINITY;
  maxComplete = Number.NEGATIVE_INFINITY;

  constructor(cols = columns()) {
    this.cols = cols;
    this.tInvoke = cols.tInvoke;
    this.tComplete = cols.tComplete;
    this.seq = cols.seq;
    this.process = cols.process;
    this.flags = cols.flags;
    this.probe = cols.probe;
    this.node = cols.node;
    this.error = cols.error;
  }
}

/**
 * A full chunk written to the log's spill file: its length and time bounds stay in memory (a
 * pass over a time range skips it unread), its columns are read back when a pass first touches
 * them and kept in the log's small cache. A column array is valid until a few more chunks have
 * been read (the cache reuses its buffers): read it within the pass over this chunk.
 */
class SpilledChunk implements OpChunk {
  /** Its columns while in the cache. */
  loaded: Chunk | null = null;
  readonly length: number;
  readonly minInvoke: number;
  readonly maxInvoke: number;
  readonly minComplete: number;
  readonly maxComplete: number;

  constructor(
    private readonly spill: Spill,
    /** Its place in the spill file, in chunks. */
    readonly slot: number,
    from: Chunk,
  ) {
    this.length = from.length;
    this.minInvoke = from.minInvoke;
    this.maxInvoke = from.maxInvoke;
    this.minComplete = from.minComplete;
    this.maxComplete = from.maxComplete;
  }

  /** Its columns in memory (read back if they are not in the cache). */
  load(): Chunk {
    return this.loaded ?? this.spill.load(this);
  }
  get tInvoke(): Float64Array {
    return this.load().tInvoke;
  }
  get tComplete(): Float64Array {
    return this.load().tComplete;
  }
  get seq(): Float64Array {
    return this.load().seq;
  }
  get process(): Int32Array {
    return this.load().process;
  }
  get flags(): Uint8Array {
    return this.load().flags;
  }
  get probe(): Uint16Array {
    return this.load().probe;
  }
  get node(): Uint16Array {
    return this.load().node;
  }
  get error(): Uint32Array {
    return this.load().error;
  }
}

/** Chunks read back from a spill file kept in memory at once (2.4 MB each). */
export const SPILL_CACHE_CHUNKS = 4;

/** Open spill files, closed (and, where an open file cannot be unlinked, removed) at exit. */
const openSpills = new Set<Spill>();
let exitHook = false;
/** A log dropped without `close()` closes its spill file when it is collected. */
const unclosed = new FinalizationRegistry<Spill>((s) => s.close());

/**
 * The file full chunks of a log go to. It is created in a directory of its own and unlinked at
 * once where the system allows it (POSIX): the open descriptor keeps it readable, and it goes
 * away when the process ends, however it ends (an error, Ctrl-C, a kill). Elsewhere it is
 * removed by `close()` or at exit.
 */
class Spill {
  private fd: number;
  private readonly dir: string;
  private unlinked = false;
  private slots = 0;
  /** The chunks whose columns are in memory, least recently read first. */
  private readonly cache: SpilledChunk[] = [];
  /** Spilled so far, and read back (for the bench and tests). */
  written = 0;
  reads = 0;

  constructor(parent: string) {
    this.dir = mkdtempSync(join(parent, '.oplog-'));
    const file = join(this.dir, 'chunks');
    this.fd = openSync(file, 'w+');
    try {
      unlinkSync(file);
      rmSync(this.dir, { recursive: true, force: true });
      this.unlinked = true;
    } catch {}
    openSpills.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const s of openSpills) s.close();
      });
    }
  }

  /** Writes a full chunk and returns what stands for it; the chunk's buffer is free again. */
  write(c: Chunk): SpilledChunk {
    const slot = this.slots;
    const buf = c.cols.buffer;
    let done = 0;
    while (done < buf.length)
      done += writeSync(this.fd, buf, done, buf.length - done, slot * CHUNK_BYTES + done);
    this.slots++;
    this.written++;
    return new SpilledChunk(this, slot, c);
  }

  load(s: SpilledChunk): Chunk {
    if (s.loaded) return s.loaded;
    // A full cache hands its oldest chunk's buffer over.
    let cols: Columns;
    if (this.cache.length >= SPILL_CACHE_CHUNKS) {
      const old = this.cache.shift()!;
      cols = old.loaded!.cols;
      old.loaded = null;
    } else cols = columns();
    const buf = cols.buffer;
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, s.slot * CHUNK_BYTES + done);
      if (n === 0) throw new Error('the history spill file is shorter than it should be');
      done += n;
    }
    this.reads++;
    const c = new Chunk(cols);
    c.length = s.length;
    c.minInvoke = s.minInvoke;
    c.maxInvoke = s.maxInvoke;
    c.minComplete = s.minComplete;
    c.maxComplete = s.maxComplete;
    s.loaded = c;
    this.cache.push(s);
    return c;
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } catch {}
    this.fd = -1;
    if (!this.unlinked) rmSync(this.dir, { recursive: true, force: true });
    for (const c of this.cache) c.loaded = null;
    this.cache.length = 0;
    openSpills.delete(this);
  }
}

export interface OpLogOptions {
  /**
   * A directory to spill full chunks to (a file of its own, gone when the log is closed or the
   * process ends): the log then holds in memory only the chunk filling, a few chunks read back,
   * and 40 bytes a chunk of bounds, whatever the length of the run. Without it, every chunk
   * stays in memory.
   */
  spillDir?: string;
}

/**
 * A history in compact columns (37 bytes an operation, against some 300 for an array of
 * objects), appended to as operations complete and read by the checker chunk by chunk: ten
 * million operations fit in 400 MB and a pass over them takes tens of milliseconds. With a
 * spill directory, full chunks go to disk and are read back as a pass reaches them.
 */
export class OpLog {
  private readonly full: OpChunk[] = [];
  private current = new Chunk();
  private spillDir: string | undefined;
  /** Why full chunks stay in memory after all (set when the spill file failed). */
  spillError: Error | undefined;
  private spill: Spill | undefined;
  private readonly names: string[] = [''];
  private readonly ids = new Map<string, number>([['', 0]]);
  /** How many operations it holds. */
  length = 0;

  constructor(opts: OpLogOptions = {}) {
    this.spillDir = opts.spillDir;
  }

  /** How many chunks went to disk, and how many times one was read back. */
  spillStats(): { written: number; reads: number } {
    return { written: this.spill?.written ?? 0, reads: this.spill?.reads ?? 0 };
  }

  /** Removes the spill file (if any); the log is no longer readable past its last chunk. */
  close(): void {
    this.spill?.close();
    unclosed.unregister(this);
  }

  /** The index of a name, adding it; 0 for none. */
  private intern(s: string | undefined): number {
    if (s === undefined || s === '') return 0;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(s);
      this.ids.set(s, id);
    }
    return id;
  }

  /** A name's index; undefined when no operation names it. */
  idOf(name: string): number | undefined {
    return this.ids.get(name);
  }

  nameOf(id: number): string | undefined {
    return id === 0 ? undefined : this.names[id];
  }

  /**
   * Writes a full chunk to the spill file; false when the log keeps its chunks in memory: it has
   * no spill directory, or the file could not be made or written (a directory gone or read-only,
   * a full disk), which must not stop a probe recording: from then on it keeps them in memory.
   */
  private spillChunk(c: Chunk): boolean {
    if (this.spillDir === undefined) return false;
    try {
      if (this.spill === undefined) {
        this.spill = new Spill(this.spillDir);
        unclosed.register(this, this.spill, this);
      }
      this.full.push(this.spill.write(c));
      return true;
    } catch (err) {
      this.spillDir = undefined;
      this.spillError = err as Error;
      return false;
    }
  }

  push(op: Op): void {
    let c = this.current;
    if (c.length === CHUNK_OPS) {
      if (this.spillChunk(c)) {
        // The filled chunk's buffer is written: fill it again.
        c.length = 0;
        c.minInvoke = c.minComplete = Number.POSITIVE_INFINITY;
        c.maxInvoke = c.maxComplete = Number.NEGATIVE_INFINITY;
      } else {
        this.full.push(c);
        c = this.current = new Chunk();
      }
    }
    const i = c.length++;
    c.tInvoke[i] = op.tInvoke;
    c.tComplete[i] = op.tComplete;
    c.seq[i] = op.seq;
    c.process[i] = op.process ?? -1;
    const code = outcomeCode(op.outcome);
    c.flags[i] =
      code |
      (op.op === 'read' ? READ : 0) |
      (op.cutByProbe ? CUT_BY_PROBE : 0) |
      (code !== OK && TIMEOUT_ERROR.test(op.error ?? '') ? TIMED_OUT : 0);
    c.probe[i] = this.intern(op.probe);
    c.node[i] = this.intern(op.node);
    c.error[i] = this.intern(op.error);
    if (op.tInvoke < c.minInvoke) c.minInvoke = op.tInvoke;
    if (op.tInvoke > c.maxInvoke) c.maxInvoke = op.tInvoke;
    if (op.tComplete < c.minComplete) c.minComplete = op.tComplete;
    if (op.tComplete > c.maxComplete) c.maxComplete = op.tComplete;
    this.length++;
  }

  /**
   * The chunks a pass reads, in the order their operations were recorded, each with its columns
   * in memory: a chunk `keep` refuses by its length and time bounds (all it is given to look at)
   * is skipped, unread when it was spilled. A chunk's columns are valid until the pass has gone a
   * few chunks further (the spill's cache reuses its buffers).
   */
  *scan(keep?: (c: ChunkBounds) => boolean): Generator<OpChunk, void, undefined> {
    for (const c of this.full) {
      if (keep !== undefined && !keep(c)) continue;
      yield c instanceof SpilledChunk ? c.load() : c;
    }
    const c = this.current;
    if (c.length > 0 && (keep === undefined || keep(c))) yield c;
  }

  /**
   * The chunks in the order their operations were recorded (the last one still filling). A
   * spilled one reads its columns back when one is first touched; a pass reads `scan()`.
   */
  chunks(): readonly OpChunk[] {
    return this.current.length > 0 ? [...this.full, this.current] : this.full;
  }

  /** One operation as an object again (for tests and the odd lookup; the checker reads columns). */
  opAt(c: OpChunk, i: number): Op {
    const f = c.flags[i]!;
    const node = this.nameOf(c.node[i]!);
    const error = this.nameOf(c.error[i]!);
    return {
      probe: this.nameOf(c.probe[i]!) ?? '',
      op: f & READ ? 'read' : 'write',
      seq: c.seq[i]!,
      ...(c.process[i]! >= 0 ? { process: c.process[i]! } : {}),
      tInvoke: c.tInvoke[i]!,
      tComplete: c.tComplete[i]!,
      outcome: OUTCOMES[f & OUTCOME_MASK]!,
      ...(node !== undefined ? { node } : {}),
      ...(error !== undefined ? { error } : {}),
      ...(f & CUT_BY_PROBE ? { cutByProbe: true as const } : {}),
    };
  }

  /** Every operation as objects, in order: costly on a long run, meant for tests. */
  toOps(): Op[] {
    const out: Op[] = [];
    for (const c of this.scan()) for (let i = 0; i < c.length; i++) out.push(this.opAt(c, i));
    return out;
  }

  /** The latest completion of any operation; -Infinity when empty. */
  maxComplete(): number {
    let m = Number.NEGATIVE_INFINITY;
    for (const c of this.chunks()) if (c.maxComplete > m) m = c.maxComplete;
    return m;
  }

  static from(ops: Iterable<Op>): OpLog {
    const log = new OpLog();
    for (const o of ops) log.push(o);
    return log;
  }

  /**
   * A history.jsonl read as a stream, a megabyte at a time, line by line: the file is never in
   * memory whole. A line that does not parse (the run was killed while writing it) is skipped;
   * a missing file is an empty history.
   */
  static fromFile(file: string, opts: OpLogOptions = {}): OpLog {
    const log = new OpLog(opts);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return log;
    }
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      const decoder = new StringDecoder('utf8');
      let rest = '';
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        const text = n > 0 ? rest + decoder.write(buf.subarray(0, n)) : rest + decoder.end();
        const lines = text.split('\n');
        rest = n > 0 ? lines.pop()! : '';
        for (const line of lines) {
          if (line.trim() === '') continue;
          try {
            log.push(JSON.parse(line) as Op);
          } catch {}
        }
        if (n === 0) return log;
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** What the checker takes: a log, or (in tests and small callers) an array of operations. */
export type HistoryInput = OpLog | readonly Op[];

/** The log of a history; an array is converted (each time: it may have changed since). */
export function opLog(h: HistoryInput): OpLog {
  return h instanceof OpLog ? h : OpLog.from(h);
}

/**
 * The history of a run: kept in memory in columns for the checker (`log`) and appended to a
 * JSON-lines file as it happens, so a run that dies half-way still leaves what it saw.
 */
export class History {
  /** Spills full chunks beside the history file (or to the system's temp directory). */
  readonly log: OpLog;
  private readonly out: WriteStream | undefined;
  /** Running counts of writes by outcome, for live progress. */
  readonly counts = { ok: 0, fail: 0, unknown: 0 };
  /** Set when the history file could not be written. */
  writeError: Error | undefined;

  constructor(file?: string) {
    this.log = new OpLog({ spillDir: file ? dirname(file) : tmpdir() });
    this.out = file ? createWriteStream(file, { flags: 'a' }) : undefined;
    // A full disk must not crash the run (and skip teardown): the history stays in memory.
    this.out?.on('error', (err) => {
      this.writeError ??= err;
    });
  }

  record(op: Op): void {
    this.log.push(op);
    if (op.op === 'write') this.counts[op.outcome]++;
    this.out?.write(`${JSON.stringify(op)}\n`);
  }

  /** Removes the log's spill file: the run is judged and its history no longer read. */
  dispose(): void {
    this.log.close();
  }

  /** Every operation as objects: costly on a long run (the checker reads `log`); for tests. */
  all(): Op[] {
    return this.log.toOps();
  }

  /** The operations that completed after `t`, as objects, oldest first (the abort guard's look). */
  completedAfter(t: number): Op[] {
    const out: Op[] = [];
    for (const c of this.log.scan((b) => b.maxComplete > t))
      for (let i = 0; i < c.length; i++) if (c.tComplete[i]! > t) out.push(this.log.opAt(c, i));
    return out;
  }

  /**
   * Ends the history file. The log stays readable (the checker reads it after); `dispose()`
   * removes its spill file.
   */
  async close(): Promise<void> {
    const out = this.out;
    if (!out || out.closed || this.writeError) return;
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
}

/**
 * A set of sequence numbers: a bitmap for the small non-negative integers probes write (ten
 * million of them cost 1.25 MB, where a Set of them costs 500 MB), a Set for anything else. A
 * read-back can be one (it is a ReadonlySet); the checker turns any other set into one.
 */
export class SeqSet implements ReadonlySet<number> {
  private bits = new Uint8Array(1024);
  private readonly other = new Set<number>();
  private count = 0;

  static of(values: Iterable<number>): SeqSet {
    const s = new SeqSet();
    for (const v of values) s.add(v);
    return s;
  }

  get size(): number {
    return this.count + this.other.size;
  }

  add(v: number): this {
    if (Number.isInteger(v) && v >= 0 && v < 2 ** 31) {
      const byte = v >>> 3;
      if (byte >= this.bits.length) {
        const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
        grown.set(this.bits);
        this.bits = grown;
      }
      const bit = 1 << (v & 7);
      if ((this.bits[byte]! & bit) === 0) {
        this.bits[byte]! |= bit;
        this.count++;
      }
    } else this.other.add(v);
    return this;
  }

  has(v: number): boolean {
    if (Number.isInteger(v) && v >= 0 && v < 2 ** 31) {
      const byte = v >>> 3;
      return byte < this.bits.length && (this.bits[byte]! & (1 << (v & 7))) !== 0;
    }
    return this.other.has(v);
  }

  /** The small integers in ascending order, then the others in the order they were added. */
  *values(): SetIterator<number> {
    const bits = this.bits;
    for (let byte = 0; byte < bits.length; byte++) {
      const b = bits[byte]!;
      if (b === 0) continue;
      for (let k = 0; k < 8; k++) if (b & (1 << k)) yield byte * 8 + k;
    }
    yield* this.other;
  }

  keys(): SetIterator<number> {
    return this.values();
  }

  *entries(): SetIterator<[number, number]> {
    for (const v of this.values()) yield [v, v];
  }

  [Symbol.iterator](): SetIterator<number> {
    return this.values();
  }

  forEach(fn: (value: number, key: number, set: ReadonlySet<number>) => void, thisArg?: unknown): void {
    for (const v of this.values()) fn.call(thisArg, v, v, this);
  }
}
