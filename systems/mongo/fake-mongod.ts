import { type Server, type Socket, createServer } from 'node:net';
import { BSON, type Document, ObjectId } from 'mongodb';

/**
 * A stand-in for a replica set member, for the probe's tests where no mongod can be run: a TCP
 * server that speaks MongoDB's wire protocol (OP_QUERY for the driver's first handshake, OP_MSG
 * after) well enough for the real driver to discover a set, monitor it, and send it inserts and
 * finds. What it answers is the test's to say: its `hello` (primary or secondary, in which term)
 * and a handler per command, which may reply, never reply, or drop the connection. It keeps what
 * it received. It is not a database: it stores nothing unless a handler does.
 */
export type Reply = Document | 'hang' | 'close';
export type Handler = (cmd: Document) => Reply | Promise<Reply>;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;

export class FakeMember {
  readonly received: Document[] = [];
  readonly handlers = new Map<string, Handler>();
  primary = false;
  term = 1;
  /** Who it says is primary when it is not. */
  primaryName: string | null = null;
  /** Its whole `hello`, in place of the one made of the fields above. */
  helloDoc: (() => Document) | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private nextId = 1;

  constructor(
    readonly name: string,
    readonly hosts: string[],
    readonly setName = 'rs0',
  ) {}

  /** What `hello` answers now (no topologyVersion: the driver polls instead of streaming). */
  hello(): Document {
    const me = `${this.name}:27017`;
    return {
      helloOk: true,
      ismaster: this.primary,
      isWritablePrimary: this.primary,
      secondary: !this.primary,
      setName: this.setName,
      setVersion: 2,
      hosts: this.hosts,
      me,
      ...(this.primary
        ? { primary: me, electionId: new ObjectId(`7fffffff${this.term.toString(16).padStart(16, '0')}`) }
        : this.primaryName
          ? { primary: `${this.primaryName}:27017` }
          : {}),
      maxBsonObjectSize: 16777216,
      maxMessageSizeBytes: 48000000,
      maxWriteBatchSize: 100000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: this.nextId++,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ok: 1,
    };
  }

  private answer(cmd: Document): Reply | Promise<Reply> {
    const name = Object.keys(cmd)[0] ?? '';
    if (name === 'hello' || name === 'isMaster' || name === 'ismaster')
      return this.helloDoc?.() ?? this.hello();
    if (name !== 'endSessions' && name !== 'ping') this.received.push(cmd);
    const h = this.handlers.get(name);
    if (h) return h(cmd);
    return { ok: 1 };
  }

  async listen(host: string, port: number): Promise<void> {
    this.server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
  }

  /** The port it listens on. */
  port(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 16 && buf.length >= buf.readInt32LE(0)) {
        const len = buf.readInt32LE(0);
        const msg = buf.subarray(0, len);
        buf = buf.subarray(len);
        void this.handle(socket, msg);
      }
    });
  }

  private async handle(socket: Socket, msg: Buffer): Promise<void> {
    const requestId = msg.readInt32LE(4);
    const opCode = msg.readInt32LE(12);
    let cmd: Document;
    if (opCode === OP_QUERY) {
      let at = 20;
      while (msg[at] !== 0) at++; // the collection's name, a C string
      at += 1 + 8; // skip, return
      cmd = BSON.deserialize(msg.subarray(at, at + msg.readInt32LE(at)));
    } else if (opCode === OP_MSG) {
      const flags = msg.readUInt32LE(16);
      const end = msg.length - (flags & 1 ? 4 : 0);
      cmd = {};
      let at = 20;
      while (at < end) {
        const kind = msg[at]!;
        at += 1;
        const size = msg.readInt32LE(at);
        if (kind === 0) {
          cmd = { ...BSON.deserialize(msg.subarray(at, at + size)), ...cmd };
          at += size;
        } else {
          // A document sequence: its identifier, then documents, for the command's field of that name.
          let p = at + 4;
          const idEnd = msg.indexOf(0, p);
          const id = msg.subarray(p, idEnd).toString('utf8');
          p = idEnd + 1;
          const docs: Document[] = [];
          while (p < at + size) {
            const n = msg.readInt32LE(p);
            docs.push(BSON.deserialize(msg.subarray(p, p + n)));
            p += n;
          }
          cmd[id] = docs;
          at += size;
        }
      }
    } else {
      socket.destroy();
      return;
    }
    const reply = await Promise.resolve(this.answer(cmd)).catch((err: Error) => ({
      ok: 0,
      code: 1,
      codeName: 'InternalError',
      errmsg: String(err?.message ?? err),
    }));
    if (reply === 'hang') return;
    if (reply === 'close') {
      socket.destroy();
      return;
    }
    const body = BSON.serialize(reply);
    const out =
      opCode === OP_QUERY
        ? Buffer.concat([header(16 + 20 + body.length, requestId, OP_REPLY), replyPrefix(), body])
        : Buffer.concat([
            header(16 + 5 + body.length, requestId, OP_MSG),
            Buffer.from([0, 0, 0, 0, 0]),
            body,
          ]);
    socket.write(out);
  }
}

function header(length: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(Math.floor(Math.random() * 2 ** 30), 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** OP_REPLY's fields before its documents: no flags, no cursor, from 0, one document. */
function replyPrefix(): Buffer {
  const p = Buffer.alloc(20);
  p.writeInt32LE(1, 16);
  return p;
}
