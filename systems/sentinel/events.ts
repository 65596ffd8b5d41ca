/**
 * Sentinel's events, as it publishes them on its own pub/sub (the channel is the event type,
 * the message its description) and logs them: `+sdown master mymaster 10.0.1.10 6379`,
 * `+promoted-slave slave 10.0.2.10:6379 10.0.2.10 6379 @ mymaster 10.0.1.10 6379`,
 * `+switch-master mymaster 10.0.1.10 6379 10.0.2.10 6379`. Pure: turned here into timeline
 * events that name nodes, not addresses.
 */

export interface Addr {
  ip: string;
  port: number;
}

export interface SentinelEvent {
  /** The channel: `+sdown`, `+odown`, `+elected-leader`, `+switch-master`... */
  type: string;
  /** The instance it is about (`master`, `slave`, `sentinel`), when it names one. */
  instance?: { kind: 'master' | 'slave' | 'sentinel'; name: string } & Addr;
  /** The master set it belongs to, for a replica or a Sentinel (`@ mymaster ip port`). */
  master?: { name: string } & Addr;
  /** `+switch-master`: from the old master to the new one. */
  switch?: { name: string; from: Addr; to: Addr };
  text: string;
}

const INSTANCE = /^(master|slave|sentinel) (\S+) (\S+) (\d+)(?: @ (\S+) (\S+) (\d+))?/;
const SWITCH = /^(\S+) (\S+) (\d+) (\S+) (\d+)$/;

export function parseSentinelEvent(channel: string, message: string): SentinelEvent {
  const text = message.trim();
  if (channel === '+switch-master') {
    const m = SWITCH.exec(text);
    if (m)
      return {
        type: channel,
        switch: {
          name: m[1]!,
          from: { ip: m[2]!, port: Number(m[3]) },
          to: { ip: m[4]!, port: Number(m[5]) },
        },
        text,
      };
    return { type: channel, text };
  }
  const m = INSTANCE.exec(text);
  if (!m) return { type: channel, text };
  return {
    type: channel,
    instance: { kind: m[1] as 'master' | 'slave' | 'sentinel', name: m[2]!, ip: m[3]!, port: Number(m[4]) },
    ...(m[5] ? { master: { name: m[5], ip: m[6]!, port: Number(m[7]) } } : {}),
    text,
  };
}

/**
 * The events a Sentinel emits about the failover it leads: on the timeline they name the
 * Sentinel's node (who acted), not the master they describe.
 */
const LEADER_EVENTS =
  /^(\+try-failover|\+elected-leader|\+failover-state-|\+failover-end|-failover-abort|\+failover-detected)/;

export interface NamedEvent {
  type: string;
  /** The node the event is about: the instance down or promoted, the new master, or the Sentinel that acted. */
  node: string;
  data: Record<string, unknown>;
}

/**
 * A Sentinel event as the timeline has it. `node` is who it is about: the instance that went
 * down or came back (`+sdown`, `-odown`), the replica chosen, promoted or reconfigured, the new
 * master (`+switch-master`), or, for the steps of a failover (`+try-failover`,
 * `+elected-leader`, `+failover-end`) and for what names no instance (`+new-epoch`,
 * `+vote-for-leader`, `+tilt`), the node of the Sentinel that reported it. `data.sentinel` is
 * always that Sentinel's node; addresses no node has stay as they are.
 */
export function namedEvent(
  e: SentinelEvent,
  reporter: string,
  nameOf: (ip: string) => string | undefined,
): NamedEvent {
  const name = (a: Addr) => nameOf(a.ip) ?? `${a.ip}:${a.port}`;
  const data: Record<string, unknown> = { sentinel: reporter, text: e.text };
  if (e.switch) {
    data.from = name(e.switch.from);
    data.to = name(e.switch.to);
    return { type: e.type, node: data.to as string, data };
  }
  if (!e.instance) return { type: e.type, node: reporter, data };
  data.instance = e.instance.kind;
  const about = name(e.instance);
  if (e.master) data.master = name(e.master);
  if (e.instance.kind === 'master' && LEADER_EVENTS.test(e.type)) {
    data.about = about;
    return { type: e.type, node: reporter, data };
  }
  return { type: e.type, node: about, data };
}

/** Addresses to node names from an /etc/hosts text, for the names listed (the others ignored). */
export function hostsTable(text: string, names: readonly string[]): Map<string, string> {
  const wanted = new Set(names);
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [ip, ...hosts] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!ip) continue;
    for (const h of hosts) if (wanted.has(h)) out.set(ip, h);
  }
  return out;
}
