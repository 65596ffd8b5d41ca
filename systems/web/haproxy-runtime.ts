import { connect, isIP } from 'node:net';
import { sleep } from '../../core/clock.ts';
import { InfraError } from '../../core/errors.ts';
import {
  LB_BACKEND,
  type LbProfile,
  type LbProfileName,
  assertServerName,
  checkParams,
  lbProfile,
} from './lb.ts';

/**
 * A small client of HAProxy's runtime API (the "stats socket", admin level) over TCP: one command
 * per connection, as HAProxy's non-interactive mode answers one command and closes.
 *
 * The rules of HAProxy 2.6 it follows: the 2.6 management guide, section 9.3, entries "add
 * server", "del server", "enable health", "enable server", "show servers state"
 * (https://docs.haproxy.org/2.6/management.html; read in Debian bookworm's haproxy-doc 2.6.12,
 * /usr/share/doc/haproxy/html/management.html), each checked on 2.6.12 (test/integration/haproxy.test.ts):
 * - `add server <backend>/<server> <addr>:<port> [args]` needs a backend with a dynamic
 *   algorithm (roundrobin is); the new server takes nothing from `default-server`, so the
 *   check settings go on the command; its address is not resolved (init-addr none), so it must
 *   be an IP address; it is created in maintenance (`show servers state`: admin state 0x01
 *   FMAINT, operational state 0 stopped) with its health check configured but not running
 *   (check state 0x02): `enable health` starts the check, `enable server` takes it out of
 *   maintenance.
 * - Leaving maintenance puts a checked server UP at once ("UP 1/2", check "INI"), not after
 *   `rise` passed checks, and one failed check takes it DOWN again: enable it only once its app
 *   answers.
 * - `del server` takes only a server in maintenance ("Only servers in maintenance mode can be
 *   deleted.") with no connection attached ("Server still has connections attached to it,
 *   cannot remove it."): maintenance first, then `shutdown sessions server` for requests still
 *   in flight, then `del server`. A cut request gets a 502 (termination state `KH`) when it was
 *   the first on its client connection; on a kept-alive one HAProxy closes the connection with
 *   no answer and logs nothing (so that the client sends it again). Maintenance drops the
 *   server's idle connections; its health check need not be disabled first; a server from the
 *   configuration file can be deleted as well as a dynamic one, and a name can be added again
 *   once deleted.
 * - Delete a dead head's server before its address can be reused: Docker gives a killed
 *   container's IP to the next container started on the network, and the dead head's server,
 *   left in place, passes its checks again against that container (the integration test saw it).
 */

/** A server's state as the load balancer sees it. */
export type LbServerState = 'UP' | 'DOWN' | 'MAINT' | 'DRAIN' | 'NOLB';

export interface RuntimeServer {
  name: string;
  address: string;
  port: number;
  /**
   * UP (in rotation; also while going down, `UP 1/2`, and for an unchecked server), DOWN (failed
   * its checks; also while coming back, `DOWN 1/2`), MAINT (taken out by an operator, or a new
   * dynamic server), DRAIN (no new requests), NOLB (its check asks for no new requests).
   */
  state: LbServerState;
  /** HAProxy's status text as it is (`UP`, `DOWN 1/2`, `MAINT (via web/x)`, `no check`). */
  status: string;
  /** The last check's result (`L7OK`, `L4CON`, `L4TOUT`, `L7STS`, ...), null when none. */
  checkStatus: string | null;
  /** The check's description (`Layer7 check passed`, `Connection refused`...), null when none. */
  checkDescription: string | null;
  /** Sessions on it now (`scur`) and requests waiting for it (`qcur`). */
  sessions: number;
  queued: number;
}

export class HaproxyRuntimeError extends InfraError {
  readonly command: string;
  /** What HAProxy answered (empty when it answered nothing). */
  readonly answer: string;

  constructor(where: string, command: string, answer: string, why: string, cause?: unknown) {
    const said = answer.trim() ? `; HAProxy answered: ${answer.trim().split('\n').join(' | ')}` : '';
    super('HAPROXY_RUNTIME', `HAProxy runtime API at ${where}: '${command}' ${why}${said}`, {
      hint: 'see the load balancer container log',
      ...(cause === undefined ? {} : { cause }),
    });
    this.command = command;
    this.answer = answer;
  }
}

function stateOf(status: string): LbServerState {
  const s = status.trim();
  if (s === 'no check' || s.startsWith('UP')) return 'UP';
  if (s.startsWith('MAINT')) return 'MAINT';
  if (s.startsWith('DRAIN')) return 'DRAIN';
  if (s.startsWith('NOLB')) return 'NOLB';
  return 'DOWN';
}

function splitAddr(addr: string): { address: string; port: number } {
  const at = addr.lastIndexOf(':');
  if (at < 0) return { address: addr, port: 0 };
  return { address: addr.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(addr.slice(at + 1)) || 0 };
}

/**
 * The servers of `backend` in a `show stat` answer (CSV, its header line starting `# `). Throws
 * when the answer is not a stat dump.
 */
export function parseShowStat(answer: string, backend = LB_BACKEND): RuntimeServer[] {
  const lines = answer.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0];
  if (!header?.startsWith('# pxname,')) throw new Error('not a `show stat` answer');
  const cols = header.slice(2).split(',');
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`\`show stat\` has no column '${name}'`);
    return i;
  };
  const [px, sv, status, check, desc, scur, qcur, addr, type] = [
    'pxname',
    'svname',
    'status',
    'check_status',
    'check_desc',
    'scur',
    'qcur',
    'addr',
    'type',
  ].map(at) as [number, number, number, number, number, number, number, number, number];
  const servers: RuntimeServer[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('#')) continue;
    const v = line.split(',');
    // type 2 is a server (0 frontend, 1 backend, 3 listener)
    if (v[px] !== backend || v[type] !== '2') continue;
    const checkStatus = (v[check] ?? '').replace(/^\* /, '');
    servers.push({
      name: v[sv]!,
      ...splitAddr(v[addr] ?? ''),
      state: stateOf(v[status] ?? ''),
      status: v[status] ?? '',
      checkStatus: checkStatus || null,
      checkDescription: v[desc] || null,
      sessions: Number(v[scur]) || 0,
      queued: Number(v[qcur]) || 0,
    });
  }
  return servers;
}

export interface HaproxyRuntimeOptions {
  host: string;
  port: number;
  /** Per command: connect, send, and the whole answer (default 3000 ms). */
  timeoutMs?: number;
  /** The backend whose servers it manages (default `web`). */
  backend?: string;
}

export interface RemoveOptions {
  /**
   * The deregistration delay: first DRAIN (no new requests) until the server has no session
   * and nothing queued, or this long at most; 0 (the default) takes it out at once.
   */
  drainMs?: number;
  /** How often to look while draining or waiting for sessions to go (default 100 ms). */
  pollMs?: number;
  /** How long `del server` may keep finding connections still attached after they were cut (default 2000 ms). */
  settleMs?: number;
}

export interface RemoveResult {
  /** How long it was drained (0 without a drain). */
  drainedMs: number;
  /** Sessions still on it when they were cut (each ends with a 502 to its client). */
  sessionsCut: number;
}

export class HaproxyRuntime {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly backend: string;

  constructor(opts: HaproxyRuntimeOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.backend = opts.backend ?? LB_BACKEND;
  }

  private get where(): string {
    return `${this.host}:${this.port}`;
  }

  /** Sends one command and returns HAProxy's whole answer, without its trailing blank lines. */
  command(cmd: string): Promise<string> {
    if (/[\r\n]/.test(cmd) || cmd.trim() === '')
      return Promise.reject(new HaproxyRuntimeError(this.where, cmd, '', 'is not a one-line command'));
    return new Promise((resolve, reject) => {
      let answer = '';
      let settled = false;
      const socket = connect({ host: this.host, port: this.port });
      const finish = (err?: { why: string; cause?: unknown }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(new HaproxyRuntimeError(this.where, cmd, answer, err.why, err.cause));
        else resolve(answer.replace(/\s+$/, ''));
      };
      const timer = setTimeout(
        () => finish({ why: `got no complete answer within ${this.timeoutMs} ms` }),
        this.timeoutMs,
      );
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(`${cmd}\n`));
      socket.on('data', (d: string) => {
        answer += d;
      });
      // HAProxy closes the connection once it has answered a command sent without `prompt`.
      socket.on('end', () => finish());
      socket.on('close', (hadError) => {
        if (!hadError) finish();
      });
      socket.on('error', (err) => finish({ why: `failed: ${err.message}`, cause: err }));
    });
  }

  /** A command that answers nothing when it works (`enable ...`, `set server ...`). */
  private async act(cmd: string, ok: (answer: string) => boolean = (a) => a === ''): Promise<string> {
    const answer = await this.command(cmd);
    if (!ok(answer)) throw new HaproxyRuntimeError(this.where, cmd, answer, 'was refused');
    return answer;
  }

  private ref(name: string): string {
    return `${this.backend}/${assertServerName(name)}`;
  }

  /** Every server of the backend, from `show stat`. */
  async servers(): Promise<RuntimeServer[]> {
    const cmd = `show stat ${this.backend} 4 -1`;
    const answer = await this.command(cmd);
    try {
      return parseShowStat(answer, this.backend);
    } catch (err) {
      throw new HaproxyRuntimeError(
        this.where,
        cmd,
        answer,
        `answered something else: ${(err as Error).message}`,
      );
    }
  }

  async server(name: string): Promise<RuntimeServer | undefined> {
    return (await this.servers()).find((s) => s.name === name);
  }

  /**
   * Waits until the server is in `state` (gone, for `absent`); returns how long that took.
   * Throws after `timeoutMs` with the last state seen.
   */
  async awaitState(
    name: string,
    state: LbServerState | 'absent',
    opts: { timeoutMs: number; pollMs?: number },
  ): Promise<number> {
    const start = Date.now();
    let last: RuntimeServer | undefined;
    for (;;) {
      last = await this.server(name);
      if (state === 'absent' ? !last : last?.state === state) return Date.now() - start;
      if (Date.now() - start >= opts.timeoutMs) {
        const seen = last
          ? `${last.status}${last.checkStatus ? ` (check ${last.checkStatus})` : ''}`
          : 'absent';
        throw new HaproxyRuntimeError(
          this.where,
          `show stat ${this.backend} 4 -1`,
          '',
          `did not show ${this.ref(name)} ${state} within ${opts.timeoutMs} ms (last seen: ${seen})`,
        );
      }
      await sleep(opts.pollMs ?? 100);
    }
  }

  /**
   * Adds a server without a reload: `add server` (in maintenance, with the profile's check
   * settings), `enable health`, then, unless `enable: false`, `enable server`, which puts it in
   * rotation at once. Call it (or `enableServer`) only once the server's app answers. A failure
   * after `add server` deletes the half-added server again, so the call can be retried.
   */
  async addServer(
    name: string,
    address: string,
    port: number,
    profile: LbProfile | LbProfileName,
    opts: { enable?: boolean } = {},
  ): Promise<void> {
    const ref = this.ref(name);
    if (!isIP(address))
      throw new HaproxyRuntimeError(
        this.where,
        `add server ${ref}`,
        '',
        `needs an IP address, not '${address}' (HAProxy 2.6 does not resolve the address of a server added at runtime)`,
      );
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new HaproxyRuntimeError(this.where, `add server ${ref}`, '', `needs a port, not ${port}`);
    const addr = isIP(address) === 6 ? `ipv6@${address}` : address;
    await this.act(`add server ${ref} ${addr}:${port} check ${checkParams(lbProfile(profile))}`, (a) =>
      a.includes('New server registered.'),
    );
    try {
      await this.act(`enable health ${ref}`);
      if (opts.enable ?? true) await this.act(`enable server ${ref}`);
    } catch (err) {
      await this.command(`set server ${ref} state maint`).catch(() => undefined);
      await this.command(`del server ${ref}`).catch(() => undefined);
      throw err;
    }
  }

  /** Takes a server out of maintenance: in rotation at once (see `addServer`). */
  async enableServer(name: string): Promise<void> {
    await this.act(`enable server ${this.ref(name)}`);
  }

  /**
   * Removes a server without a reload: with `drainMs`, DRAIN until its sessions are gone or
   * `drainMs` is over (the deregistration delay); then maintenance, `shutdown sessions server`
   * for what is left, and `del server` (retried while HAProxy still finds connections attached,
   * at most `settleMs`).
   */
  async removeServer(name: string, opts: RemoveOptions = {}): Promise<RemoveResult> {
    const ref = this.ref(name);
    const pollMs = opts.pollMs ?? 100;
    let drainedMs = 0;
    if ((opts.drainMs ?? 0) > 0) {
      const start = Date.now();
      await this.act(`set server ${ref} state drain`);
      for (;;) {
        const s = await this.server(name);
        drainedMs = Date.now() - start;
        if (!s || (s.sessions === 0 && s.queued === 0) || drainedMs >= opts.drainMs!) break;
        await sleep(Math.min(pollMs, opts.drainMs! - drainedMs));
      }
    }
    await this.act(`set server ${ref} state maint`);
    const sessionsCut = (await this.server(name))?.sessions ?? 0;
    await this.act(`shutdown sessions server ${ref}`);
    const cmd = `del server ${ref}`;
    const deadline = Date.now() + (opts.settleMs ?? 2000);
    for (;;) {
      const answer = await this.command(cmd);
      if (answer.includes('Server deleted.')) return { drainedMs, sessionsCut };
      if (!answer.includes('still has connections') || Date.now() >= deadline)
        throw new HaproxyRuntimeError(this.where, cmd, answer, 'was refused');
      await sleep(pollMs);
    }
  }
}
