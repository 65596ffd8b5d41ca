/**
 * The web tier's load balancer: HAProxy 2.6 (Debian bookworm's, or the official `haproxy:2.6`),
 * its configuration and its request log. Pure: no I/O here; the runtime API client is
 * `haproxy-runtime.ts`.
 *
 * Terms:
 * - a **profile** is the load balancer's health checking and timeouts, one of `LB_PROFILES`;
 * - **inter / fall / rise**: HAProxy checks each server every `inter` ms, marks it DOWN after
 *   `fall` consecutive failed checks and UP again after `rise` consecutive passed ones (an ALB's
 *   HealthCheckIntervalSeconds, UnhealthyThresholdCount and HealthyThresholdCount);
 * - **deregistration delay**: how long a server being taken out keeps the requests it already
 *   has. HAProxy has no such setting; we map it onto the DRAIN state (no new requests, existing
 *   ones carry on) held until the server has no session left or the delay is over, whichever
 *   comes first, as an ALB completes a deregistration at once when its target has no in-flight
 *   request. Then maintenance, `shutdown sessions` and `del server`: a request still in flight
 *   at the end of the delay is cut with a 502, as an ALB answers 502 when "the deregistration
 *   delay period elapsed for a request being handled by a target that was deregistered". See
 *   `HaproxyRuntime.removeServer`, whose `drainMs` is where `profile.deregistrationDelayMs` goes.
 */

export type LbProfileName = 'fast' | 'alb-defaults';

export interface LbProfile {
  name: LbProfileName;
  description: string;
  check: {
    /** `inter`: one health check of each server every this many ms. */
    intervalMs: number;
    /** `fall`: consecutive failed checks that mark a server DOWN. */
    fall: number;
    /** `rise`: consecutive passed checks that mark a DOWN server UP again. */
    rise: number;
    /** `timeout check`: a check that has not answered after this long has failed. */
    timeoutMs: number;
  };
  timeouts: {
    /** `timeout connect`: to establish the connection to a server (per attempt). */
    connectMs: number;
    /** `timeout server`: a server that sends nothing for this long gets the request a 504. */
    serverMs: number;
    /** `timeout client`: a client that sends nothing for this long is dropped. */
    clientMs: number;
  };
  /** How long a server being removed keeps its in-flight requests (see the file's comment). */
  deregistrationDelayMs: number;
}

/**
 * `fast`: what a local game day wants, a dead head out of rotation within about a second
 * (fall x inter = 1 s, plus at most one interval and a check's timeout; 1.6 s measured), and a
 * deregistration delay of 5 s, the server timeout, so that a request in flight can finish.
 *
 * `alb-defaults`: an AWS Application Load Balancer target group (target type instance or ip) as
 * created with no health check or attribute set, every value from AWS's documentation:
 * - health checks: HealthCheckIntervalSeconds 30, HealthCheckTimeoutSeconds 5,
 *   HealthyThresholdCount 5, UnhealthyThresholdCount 2 ("Health checks for Application Load
 *   Balancer target groups", table "Health check settings",
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html);
 * - deregistration delay 300 s ("By default, Elastic Load Balancing waits 300 seconds before
 *   completing the deregistration process", "Edit target group attributes for your Application
 *   Load Balancer", section "Deregistration delay",
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay);
 * - connect 10 s: "The load balancer failed to establish a connection to the target before the
 *   connection timeout expired (10 seconds)" (HTTP 504 in "Troubleshoot your Application Load
 *   Balancers",
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-504-issues);
 * - server and client 60 s: the connection idle timeout, "By default, Elastic Load Balancing
 *   sets the idle timeout value for your load balancer to 60 seconds"
 *   (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html),
 *   which is also how long an ALB waits for a target's response before its 504.
 *
 * What HAProxy cannot mimic: an ALB target must pass its first health check before it gets
 * traffic, while HAProxy puts a server that leaves maintenance UP at once (and DOWN after `fall`
 * failed checks); so the group enables a new server only once its app answers (see
 * `HaproxyRuntime.addServer`). And an ALB whose targets are all unhealthy "fails open" (sends to
 * all of them), where HAProxy answers 503.
 */
export const LB_PROFILES: Readonly<Record<LbProfileName, LbProfile>> = {
  fast: {
    name: 'fast',
    description: 'local: a check every 500 ms, DOWN after 2 failures, UP after 2 successes',
    check: { intervalMs: 500, fall: 2, rise: 2, timeoutMs: 500 },
    timeouts: { connectMs: 500, serverMs: 5000, clientMs: 30_000 },
    deregistrationDelayMs: 5000,
  },
  'alb-defaults': {
    name: 'alb-defaults',
    description:
      'AWS ALB target group defaults: a check every 30 s (5 s timeout), unhealthy after 2, healthy after 5, deregistration delay 300 s',
    check: { intervalMs: 30_000, fall: 2, rise: 5, timeoutMs: 5000 },
    timeouts: { connectMs: 10_000, serverMs: 60_000, clientMs: 60_000 },
    deregistrationDelayMs: 300_000,
  },
};

/** The backend every server is in; the runtime API names servers `web/<name>`. */
export const LB_BACKEND = 'web';
/** The frontend clients connect to. */
export const LB_FRONTEND = 'www';
/** Where the official image (and ours) reads its configuration. */
export const HAPROXY_CONFIG_PATH = '/usr/local/etc/haproxy/haproxy.cfg';

/**
 * Where the container's command sends HAProxy's standard output, its request log: a file in
 * the directory its user owns in both images, copied into the run folder at the end. Through
 * the container's output instead, every line went through dockerd's log driver and the
 * harness's log follower: at 1000 requests/s that took 0.2 of a core (dockerd 0.16, its shim
 * 0.07) and 0.07 of the harness's, out of the two the whole tier shares (issue 16).
 */
export const REQUEST_LOG_PATH = '/var/lib/haproxy/requests.log';

/**
 * The load balancer's command: HAProxy in master-worker mode in the foreground (`-W -db`, as the
 * official image runs it), its standard output (the request log, `log stdout`) appended to
 * REQUEST_LOG_PATH by the shell, which then becomes HAProxy (`exec`: kill-process finds
 * `haproxy`, and the stop signal reaches it). Its notices stay on standard error.
 */
export function haproxyCommand(configPath: string): string[] {
  return ['sh', '-c', `exec haproxy -W -db -f ${configPath} >>${REQUEST_LOG_PATH}`];
}
/** The request header whose value each log line carries as `requestId` (64 characters at most). */
export const REQUEST_ID_HEADER = 'X-Request-Id';

export interface LbServer {
  name: string;
  /** An IP address, or a name the HAProxy container resolves when it starts. */
  address: string;
  port: number;
}

/**
 * How the load balancer picks a head for each request: `round-robin` (in turn: an ALB's default)
 * or `least-outstanding` (the head with the fewest requests in flight: HAProxy's `leastconn`,
 * which counts a server's active requests, not its idle pooled connections; an ALB target
 * group's `least_outstanding_requests`). A head that stalls (a GC pause, a CPU it waits for)
 * keeps getting its share in turn; by least outstanding, new requests go to the others.
 */
export const LB_BALANCES = ['round-robin', 'least-outstanding'] as const;
export type LbBalance = (typeof LB_BALANCES)[number];
const HAPROXY_BALANCE: Record<LbBalance, string> = {
  'round-robin': 'roundrobin',
  'least-outstanding': 'leastconn',
};

export interface HaproxyConfigOptions {
  profile: LbProfile | LbProfileName;
  /** How a head is picked for each request (default round-robin). */
  balance?: LbBalance;
  /** Connection retries per request (HAProxy's default is 3, so 0 is written out as well). */
  retries: number;
  /** `option redispatch`: a retry may go to another server. */
  redispatch: boolean;
  /** Where clients connect (>= 1024: HAProxy runs as the user `haproxy`). */
  frontendPort: number;
  /** The runtime API (admin level) over TCP on every interface, for the harness. */
  runtimePort: number;
  servers: readonly LbServer[];
  /** The path of the heads' health check (answers 200 when the head can serve). */
  healthPath: string;
}

/** Server names HAProxy accepts, which are also safe in runtime commands and log lines. */
export const SERVER_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

export function lbProfile(p: LbProfile | LbProfileName): LbProfile {
  if (typeof p !== 'string') return p;
  const found = LB_PROFILES[p];
  if (!found)
    throw new Error(`unknown load balancer profile '${p}' (known: ${Object.keys(LB_PROFILES).join(', ')})`);
  return found;
}

function port(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new Error(`${what} must be a port (1-65535), not ${n}`);
  return n;
}

export function assertServerName(name: string): string {
  if (!SERVER_NAME.test(name))
    throw new Error(
      `'${name}' is not a valid HAProxy server name (letters, digits, '_', '.', ':', '-'; 64 at most)`,
    );
  return name;
}

function address(a: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(a)) throw new Error(`'${a}' is not a valid server address`);
  return a.includes(':') ? `ipv6@${a}` : a; // HAProxy takes the last ':' as the port's
}

/** `inter`, `fall` and `rise` of a server line or an `add server` command. */
export function checkParams(profile: LbProfile): string {
  const c = profile.check;
  return `inter ${c.intervalMs}ms fall ${c.fall} rise ${c.rise}`;
}

/**
 * The request log, one JSON object per line. Strings a client controls (method, URI, request
 * id) go through the `json` converter; names HAProxy or we chose are quoted as they are.
 * `%rc` is quoted because HAProxy writes `+N` when the request was redispatched. Times are ms;
 * -1 means the stage was not reached (for instance `Tr` when no server answered). `t` is the
 * accept date in ms since the epoch (`%Ts` seconds then `%ms`, zero-padded milliseconds).
 * Health checks are not logged. One request is not logged at all: one that failed before any
 * response on a kept-alive client connection (its server cut by `shutdown sessions`, or gone);
 * HAProxy then closes the connection without an answer so that the client sends it again.
 */
export const LOG_FORMAT = [
  '{"t":%Ts%ms',
  '"fe":"%f"',
  '"be":"%b"',
  '"srv":"%s"',
  '"srvAddr":"%si:%sp"',
  '"client":"%ci:%cp"',
  '"method":"%[capture.req.method,json(utf8s)]"',
  '"uri":"%[capture.req.uri,json(utf8s)]"',
  '"reqId":"%[capture.req.hdr(0),json(utf8s)]"',
  '"status":%ST',
  '"bytes":%B',
  '"Th":%Th',
  '"Ti":%Ti',
  '"TR":%TR',
  '"Tw":%Tw',
  '"Tc":%Tc',
  '"Tr":%Tr',
  '"Ta":%Ta',
  '"Tt":%Tt',
  '"term":"%ts"',
  '"retries":"%rc"',
  '"ac":%ac',
  '"fc":%fc',
  '"bc":%bc',
  '"sc":%sc',
  '"sq":%sq',
  '"bq":%bq}',
].join(',');

/** The haproxy.cfg text for the web tier's load balancer. */
export function haproxyConfig(o: HaproxyConfigOptions): string {
  const profile = lbProfile(o.profile);
  if (!Number.isInteger(o.retries) || o.retries < 0)
    throw new Error(`retries must be an integer >= 0, not ${o.retries}`);
  if (!/^\/[^\s'"#\\]*$/.test(o.healthPath))
    throw new Error(
      `health path '${o.healthPath}' must start with '/' and hold no space, quote, '#' or '\\'`,
    );
  port('frontendPort', o.frontendPort);
  port('runtimePort', o.runtimePort);
  if (o.frontendPort === o.runtimePort) throw new Error('the frontend and the runtime API need two ports');
  const names = new Set<string>();
  for (const s of o.servers) {
    assertServerName(s.name);
    if (names.has(s.name)) throw new Error(`server '${s.name}' appears twice`);
    names.add(s.name);
    port(`server ${s.name}'s port`, s.port);
  }
  const t = profile.timeouts;
  const lines = [
    `# generated by the chaos harness (systems/web/lb.ts); profile ${profile.name}: ${profile.description}`,
    'global',
    '  # the request log, one JSON line per request, on standard output (a file: systems/web/lb.ts)',
    '  log stdout format raw local0',
    '  maxconn 4096',
    `  stats socket ipv4@0.0.0.0:${o.runtimePort} level admin`,
    '  stats timeout 30s',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option dontlognull',
    `  log-format '${LOG_FORMAT}'`,
    `  timeout connect ${t.connectMs}ms`,
    `  timeout client ${t.clientMs}ms`,
    `  timeout server ${t.serverMs}ms`,
    `  timeout check ${profile.check.timeoutMs}ms`,
    `  retries ${o.retries}`,
    ...(o.redispatch ? ['  option redispatch'] : []),
    '',
    `frontend ${LB_FRONTEND}`,
    `  bind :${o.frontendPort}`,
    `  http-request capture req.hdr(${REQUEST_ID_HEADER}) len 64`,
    `  default_backend ${LB_BACKEND}`,
    '',
    `backend ${LB_BACKEND}`,
    `  balance ${HAPROXY_BALANCE[o.balance ?? 'round-robin']}`,
    // Any idle connection to a head may carry any request, the first of a client connection
    // included (HAProxy's default, `safe`, opens a server connection of its own for each such
    // first request). k6 gives every VU a connection of its own and uses them in turn, so its
    // first second at 1000/s is 1000 new client connections, and each request it times out is
    // one more: with `safe` each became a new connection to a head, and the heads, busy
    // accepting them, timed out more requests (issue 16: at 1000/s on 2 cores, 3000 connections
    // to the heads and 1 % of the requests answered). The heads keep idle connections 65 s
    // (head.ts), far longer than HAProxy keeps them, so a reused connection is not one closing.
    '  http-reuse always',
    `  option httpchk GET ${o.healthPath}`,
    '  http-check expect status 200',
    // init-addr none: a name that does not resolve at start leaves its server in maintenance
    // instead of stopping HAProxy from starting.
    `  default-server ${checkParams(profile)} init-addr last,libc,none`,
    ...o.servers.map((s) => `  server ${s.name} ${address(s.address)}:${s.port} check`),
    '',
  ];
  return lines.join('\n');
}

/** One request as HAProxy logged it (the JSON line of `LOG_FORMAT`, decoded). */
export interface HaproxyRequestLog {
  /** When HAProxy accepted the connection or, on a kept-alive one, began waiting for this request (epoch ms). */
  acceptMs: number;
  /** When the request's first byte came: accept + Th + Ti (epoch ms). */
  startMs: number;
  /** When the exchange ended: accept + Tt (epoch ms). */
  endMs: number;
  frontend: string;
  backend: string;
  /** The server that got the request; null when none did (`<NOSRV>`: HAProxy answered itself). */
  server: string | null;
  /** `ip:port` of that server, null when none. */
  serverAddress: string | null;
  client: string;
  method: string;
  uri: string;
  /** The `X-Request-Id` the client sent, null when none (or `-`). */
  requestId: string | null;
  /** The status sent to the client; null when none was (the client went away first). */
  status: number | null;
  bytes: number;
  /** HAProxy's timers in ms, -1 for a stage not reached. */
  timers: { Th: number; Ti: number; TR: number; Tw: number; Tc: number; Tr: number; Ta: number; Tt: number };
  /**
   * The termination state: 2 characters, `--` for a normal end; first who ended it (`C` client,
   * `S` server, `P` proxy, `s` server-side timeout, `c` client timeout, `K` killed by `shutdown
   * sessions`...), then at which stage (`R` request, `Q` queue, `C` connect, `H` headers, `D` data).
   */
  termination: string;
  /** Connection retries this request took. */
  retries: number;
  /** Whether it was redispatched to another server (`+` before %rc). */
  redispatched: boolean;
  /** Concurrent connections: process, frontend, backend, server; queues: server, backend. */
  conns: { active: number; frontend: number; backend: number; server: number };
  queues: { server: number; backend: number };
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Decodes one line of HAProxy's output as a request log line; undefined for anything else (its
 * own notices, such as `Server web/web-a is DOWN...`, or a line cut short).
 */
export function parseHaproxyLog(line: string): HaproxyRequestLog | undefined {
  const text = line.trim();
  if (!text.startsWith('{"t":')) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const t = num(o.t);
  const status = num(o.status);
  const timerNames = ['Th', 'Ti', 'TR', 'Tw', 'Tc', 'Tr', 'Ta', 'Tt'] as const;
  const timers = Object.fromEntries(timerNames.map((k) => [k, num(o[k])]));
  const rc = str(o.retries);
  const fields = [o.fe, o.be, o.srv, o.srvAddr, o.client, o.method, o.uri, o.reqId, o.term].map(str);
  if (t === undefined || status === undefined || rc === undefined || !/^\+?\d+$/.test(rc)) return undefined;
  if (timerNames.some((k) => timers[k] === undefined) || fields.some((f) => f === undefined))
    return undefined;
  const [fe, be, srv, srvAddr, client, method, uri, reqId, term] = fields as string[];
  const T = timers as HaproxyRequestLog['timers'];
  const server = srv === '<NOSRV>' || srv === '' ? null : srv!;
  return {
    acceptMs: t,
    startMs: t + Math.max(0, T.Th) + Math.max(0, T.Ti),
    endMs: t + Math.max(0, T.Tt),
    frontend: fe!,
    backend: be!,
    server,
    serverAddress: server && !/^-?:/.test(srvAddr!) ? srvAddr! : null,
    client: client!,
    method: method!,
    uri: uri!,
    requestId: reqId && reqId !== '-' ? reqId : null, // HAProxy logs an empty sample as '-'
    status: status < 0 ? null : status,
    bytes: num(o.bytes) ?? 0,
    timers: T,
    termination: term!,
    retries: Number(rc.replace('+', '')),
    redispatched: rc.startsWith('+'),
    conns: {
      active: num(o.ac) ?? 0,
      frontend: num(o.fc) ?? 0,
      backend: num(o.bc) ?? 0,
      server: num(o.sc) ?? 0,
    },
    queues: { server: num(o.sq) ?? 0, backend: num(o.bq) ?? 0 },
  };
}

/** A server changing state, as HAProxy notes it in its log. */
export interface HaproxyServerEvent {
  backend: string;
  server: string;
  to: 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';
  /** The check's verdict (`Layer4 timeout`, `Layer7 check passed`) or what an operator did. */
  reason: string;
  text: string;
}

const SERVER_EVENTS: [RegExp, HaproxyServerEvent['to'], string | null][] = [
  [/^Server ([^/\s]+)\/(\S+) is (?:UP|DOWN), reason: ([^,.]+)/, 'UP', null],
  [/^Server ([^/\s]+)\/(\S+) is UP\/READY \(leaving forced maintenance\)/, 'UP', 'leaving maintenance'],
  [/^Server ([^/\s]+)\/(\S+) enters drain state/, 'DRAIN', 'drain'],
  [
    /^Server ([^/\s]+)\/(\S+) (?:is going DOWN for maintenance|was DOWN and now enters maintenance)/,
    'MAINT',
    'maintenance',
  ],
];

/**
 * Decodes HAProxy's note of a server changing state (`Server web/web-a is DOWN, reason: Layer4
 * timeout, ...`); undefined for anything else. HAProxy writes each note twice, on its log (this
 * form) and on stderr with a `[WARNING]  (pid) : ` prefix: only the log form is read, so each
 * change is seen once.
 */
export function parseHaproxyServerEvent(line: string): HaproxyServerEvent | undefined {
  const text = line.trim();
  for (const [re, to, reason] of SERVER_EVENTS) {
    const m = re.exec(text);
    if (!m) continue;
    const up = / is UP, reason: /.test(text);
    return {
      backend: m[1]!,
      server: m[2]!,
      to: reason === null ? (up ? 'UP' : 'DOWN') : to,
      reason: reason ?? m[3]!.trim(),
      text,
    };
  }
  return undefined;
}
