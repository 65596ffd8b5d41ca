/**
 * Patroni's decisions, read from its log. Pure: no I/O here (node-main.ts feeds it the lines).
 *
 * Each run of Patroni's HA loop (every `loop_wait`) ends in one sentence that says what it did
 * (`no action. I am (patroni-a), the leader with the lock`, `promoted self to leader by acquiring
 * session lock`); a few other lines say why (`Wal position of patroni-b is ahead of my wal
 * position`). The lines come as config.ts's LOG_FORMAT makes them: `<epoch s.ms> <LEVEL>:
 * <message>`.
 *
 * Terms:
 * - a **decision** is a line worth a timeline event: its type, the node it names, the message;
 * - a **loop sentence** is a decision that ends a loop (`loop: true` in the table); the same
 *   sentence loop after loop is one event, when it first appears;
 * - a **reason** is any other decision: one event when it appears, none while every loop gives
 *   it again (a blocked failover says the same reason every loop).
 */

export interface PatroniLogLine {
  /** Epoch ms, from Patroni's own clock. */
  t: number;
  level: string;
  message: string;
}

export interface Decision {
  type: string;
  message: string;
  loop: boolean;
  data: Record<string, string>;
}

const LINE = /^(\d{9,11}\.\d{3}) (DEBUG|INFO|WARNING|ERROR|CRITICAL): (.*)$/;

/** One line of Patroni's log, or undefined for anything else (Postgres's own lines, tracebacks). */
export function parseLogLine(line: string): PatroniLogLine | undefined {
  const m = LINE.exec(line.trimEnd());
  if (!m) return undefined;
  return { t: Math.round(Number(m[1]) * 1000), level: m[2]!, message: m[3]! };
}

interface Rule {
  re: RegExp;
  type: string;
  loop: boolean;
  data?: (m: RegExpExecArray) => Record<string, string>;
}

/** What each decision looks like in Patroni 3.0's ha.py, and its event type. */
export const RULES: readonly Rule[] = [
  // Took the leader key: the leader race won, or a running primary that took its key back.
  {
    re: /^promoted self to leader (by acquiring session lock|because I had the session lock)/,
    type: 'promoted-self',
    loop: true,
  },
  { re: /^acquired session lock as a leader/, type: 'promoted-self', loop: true },
  { re: /^no action\. I am \(([^)]+)\), the leader with the lock$/, type: 'leader-with-lock', loop: true },
  {
    re: /^no action\. I am \(([^)]+)\), a secondary, and following a leader \(([^)]+)\)$/,
    type: 'following-leader',
    loop: true,
    data: (m) => ({ leader: m[2]! }),
  },
  { re: /^(demoting self|demoted self)\b/, type: 'demoting-self', loop: true },
  { re: /Demoting self\b|demoting from the main thread/, type: 'demoting-self', loop: false },
  {
    re: /^following a different leader because i am not the healthiest node$/,
    type: 'not-healthiest',
    loop: true,
  },
  // The race lost: another member took the key first.
  {
    re: /^following new leader after trying and failing to obtain lock$/,
    type: 'lost-leader-race',
    loop: true,
  },
  { re: /^initialized a new cluster$/, type: 'bootstrapped', loop: true },
  { re: /^started as a secondary$/, type: 'started-as-secondary', loop: true },
  {
    re: /^running pg_rewind from ([a-z0-9-]+)$/,
    type: 'rewinding',
    loop: true,
    data: (m) => ({ from: m[1]! }),
  },
  { re: /^doing crash recovery in a single user mode$/, type: 'crash-recovery', loop: true },
  {
    re: /^(continue to run as primary|not promoting because|removed leader lock|lost leader)/,
    type: 'leader-lock-trouble',
    loop: true,
  },
  {
    re: /^Wal position of (\S+) is ahead of my wal position$/,
    type: 'member-ahead',
    loop: false,
    data: (m) => ({ member: m[1]! }),
  },
  { re: /^My wal position exceeds maximum replication lag$/, type: 'too-far-behind', loop: false },
  {
    re: /^Member (\S+) exceeds maximum replication lag$/,
    type: 'member-lagging',
    loop: false,
    data: (m) => ({ member: m[1]! }),
  },
  { re: /^not healthy enough for leader race$/, type: 'left-leader-race', loop: false },
  // A member's REST API that does not answer in the leader race (2 s each: the dead leader's).
  {
    re: /^Request failed to (\S+): GET (\S+)/,
    type: 'member-unreachable',
    loop: false,
    data: (m) => ({ member: m[1]!, url: m[2]! }),
  },
  { re: /^Error communicating with DCS$/, type: 'dcs-unreachable', loop: false },
  { re: /^failed to update leader lock$/, type: 'leader-lock-update-failed', loop: false },
  {
    // The members as Python prints a list or set of names: ['patroni-b'], CaseInsensitiveSet({'patroni-b'}).
    re: /^(Assigning synchronous standby status to|Synchronous standby status assigned to) /,
    type: 'sync-standby',
    loop: false,
    data: (m) => ({ members: [...m.input.matchAll(/'([^']+)'/g)].map((x) => x[1]!).join(',') }),
  },
  { re: /^Disabled synchronous replication$/, type: 'sync-disabled', loop: false },
];

/** The event types `classify` gives, for the system's `decisions`. */
export const DECISION_TYPES = [...new Set(RULES.map((r) => r.type))];

/** The decision a message states, or undefined. */
export function classify(message: string): Decision | undefined {
  for (const r of RULES) {
    const m = r.re.exec(message);
    if (m) return { type: r.type, message, loop: r.loop, data: r.data?.(m) ?? {} };
  }
  return undefined;
}

/**
 * Which decisions become events: a loop sentence when it differs from the last loop's; a reason
 * when the loop before did not give it too (a reason repeated loop after loop is one event).
 */
export class DecisionFilter {
  private lastLoop: string | undefined;
  /** The reasons of the loop under way, and of the one before. */
  private current = new Set<string>();
  private previous = new Set<string>();

  accept(d: Decision): boolean {
    const key = `${d.type}\u0000${d.message}`;
    if (d.loop) {
      this.previous = this.current;
      this.current = new Set();
      if (key === this.lastLoop) return false;
      this.lastLoop = key;
      return true;
    }
    const seen = this.previous.has(key) || this.current.has(key);
    this.current.add(key);
    return !seen;
  }
}
