import type { NodeRef } from '../../core/provider.ts';
import type { NodeState, SystemState } from '../../core/result.ts';
import { nodeOfHost } from './layout.ts';

/**
 * What a member says of itself and of the set, read from the documents `hello` and
 * `replSetGetStatus` return (as the driver hands them over: numbers, bson Timestamps and Longs,
 * Dates), and the system's state made of every member's account. Pure: the observer and the
 * endpoint agent do the asking.
 */

/** Member states by number (`replSetGetStatus.myState`, `members[n].state`). */
export const MEMBER_STATES: Readonly<Record<number, string>> = {
  0: 'STARTUP',
  1: 'PRIMARY',
  2: 'SECONDARY',
  3: 'RECOVERING',
  5: 'STARTUP2',
  6: 'UNKNOWN',
  7: 'ARBITER',
  8: 'DOWN',
  9: 'ROLLBACK',
  10: 'REMOVED',
};

type Doc = Record<string, unknown>;

/** A number from a double, an int32, a bson Long or Int32, or a bigint; null otherwise. */
export function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object') {
    const o = v as { toNumber?: () => number; valueOf?: () => unknown };
    if (typeof o.toNumber === 'function') return o.toNumber();
  }
  return null;
}

/** Milliseconds since the epoch of a Date (or an ISO string); null for none or the epoch itself (never applied). */
export function wallMs(v: unknown): number | null {
  const t = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : Number.NaN;
  return Number.isFinite(t) && t > 0 ? t : null;
}

/** What `hello` says. */
export interface HelloView {
  /** The replica set it belongs to; null before it has a config (`rs.initiate` not yet run). */
  setName: string | null;
  isWritablePrimary: boolean;
  secondary: boolean;
  arbiterOnly: boolean;
  /** Itself, as the config names it (node name). */
  me: string | null;
  /** The primary it knows of (node name), if any. */
  primary: string | null;
}

export function parseHello(doc: Doc): HelloView {
  return {
    setName: typeof doc.setName === 'string' ? doc.setName : null,
    // `isWritablePrimary` since 4.4.2 (`ismaster` before, and in the legacy command).
    isWritablePrimary: Boolean(doc.isWritablePrimary ?? doc.ismaster),
    secondary: Boolean(doc.secondary),
    arbiterOnly: Boolean(doc.arbiterOnly),
    me: nodeOfHost(typeof doc.me === 'string' ? doc.me : null),
    primary: nodeOfHost(typeof doc.primary === 'string' ? doc.primary : null),
  };
}

/** One member as `replSetGetStatus` describes it. */
export interface MemberView {
  node: string;
  /** `PRIMARY`, `SECONDARY`, `ARBITER`, `(not reachable/healthy)` is `DOWN`... */
  state: string;
  /** 1: the member answering heard from it lately (always 1 for itself). */
  health: number;
  /** The member it syncs from (node name), or null. */
  syncSource: string | null;
  /** The wall time of the last operation it applied (ms since the epoch), or null. */
  appliedAt: number | null;
  self: boolean;
}

/** What `replSetGetStatus` says: the set as the member answering sees it. */
export interface StatusView {
  set: string;
  term: number | null;
  myState: string;
  members: MemberView[];
}

const stateName = (v: unknown) => MEMBER_STATES[num(v) ?? -1] ?? `STATE ${String(v)}`;

export function parseStatus(doc: Doc): StatusView {
  const members = Array.isArray(doc.members) ? (doc.members as Doc[]) : [];
  return {
    set: String(doc.set ?? ''),
    term: num(doc.term),
    myState: stateName(doc.myState),
    members: members.map((m) => ({
      node: nodeOfHost(String(m.name ?? '')) ?? '',
      state: stateName(m.state),
      health: num(m.health) ?? 0,
      syncSource: nodeOfHost(typeof m.syncSourceHost === 'string' ? m.syncSourceHost : null),
      // lastAppliedWallTime (4.2+) has milliseconds; optimeDate only whole seconds.
      appliedAt: wallMs(m.lastAppliedWallTime) ?? wallMs(m.optimeDate),
      self: m.self === true,
    })),
  };
}

/** One member's own account, or null when it did not answer. */
export interface MemberAccount {
  hello: HelloView;
  /** null when it has no config yet (replSetGetStatus fails with NotYetInitialized). */
  status: StatusView | null;
}

/** Its role in the system's words: the member state in lower case, or `uninitialized`. */
export function roleOf(a: MemberAccount): string {
  if (a.status) return a.status.myState.toLowerCase();
  if (!a.hello.setName) return 'uninitialized';
  if (a.hello.arbiterOnly) return 'arbiter';
  if (a.hello.isWritablePrimary) return 'primary';
  return a.hello.secondary ? 'secondary' : 'other';
}

/**
 * How far a member trails the primary, in ms of oplog: the primary's last applied operation's
 * wall time less the member's, as the primary sees it (it hears of each secondary's position as
 * it replicates); from the member's own view when the primary did not answer. Null when unknown.
 */
export function lagMs(node: string, own: StatusView | null, primary: StatusView | null): number | null {
  const from = primary ?? own;
  if (!from) return null;
  const top = from.members.find((m) => m.state === 'PRIMARY')?.appliedAt ?? null;
  const mine = from.members.find((m) => m.node === node)?.appliedAt ?? null;
  if (top === null || mine === null) return null;
  return Math.max(0, top - mine);
}

function nodeState(ref: NodeRef, a: MemberAccount | null, primary: StatusView | null): NodeState {
  if (!a) return { name: ref.name, az: ref.az, reachable: false };
  const role = roleOf(a);
  const out: NodeState = { name: ref.name, az: ref.az, reachable: true, role };
  if (role === 'primary' || role === 'arbiter' || role === 'uninitialized') return out;
  const self = a.status?.members.find((m) => m.self);
  const source = self?.syncSource ?? null;
  const lag = lagMs(ref.name, a.status, primary);
  return {
    ...out,
    ...(source ? { following: source } : {}),
    linkUp: source !== null,
    ...(lag === null ? {} : { lag }),
  };
}

/**
 * The system's state from every member's own account: the endpoint record's node leads (as
 * clients see it); the members are that node, the secondaries syncing from it, then the arbiter.
 */
export function mongoState(
  nodes: readonly NodeRef[],
  accounts: ReadonlyMap<string, MemberAccount | null>,
  leader: string | null,
): SystemState {
  const primaries = nodes.filter((n) => {
    const a = accounts.get(n.name);
    return a && roleOf(a) === 'primary';
  });
  // The primary's view of the set, for the secondaries' lag: the one the record names if it is one.
  const primary = primaries.find((p) => p.name === leader) ?? primaries[0];
  const primaryStatus = primary ? (accounts.get(primary.name)?.status ?? null) : null;
  const states = nodes.map((n) => nodeState(n, accounts.get(n.name) ?? null, primaryStatus));
  const secondaries = states
    .filter((s) => s.role === 'secondary' && leader !== null && s.following === leader)
    .map((s) => s.name);
  const arbiters = states.filter((s) => s.role === 'arbiter').map((s) => s.name);
  return {
    leader,
    members: [...(leader ? [leader] : []), ...secondaries, ...arbiters],
    nodes: states,
  };
}
