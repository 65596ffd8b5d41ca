import { type Server, type Socket, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HaproxyRuntime, HaproxyRuntimeError, parseShowStat } from './haproxy-runtime.ts';
import { LB_PROFILES, LOG_FORMAT, haproxyConfig, parseHaproxyLog, parseHaproxyServerEvent } from './lb.ts';

const base = {
  profile: 'fast' as const,
  retries: 0,
  redispatch: false,
  frontendPort: 8080,
  runtimePort: 9999,
  servers: [
    { name: 'web-a', address: '172.18.0.2', port: 8000 },
    { name: 'web-b', address: '172.18.0.3', port: 8000 },
  ],
  healthPath: '/health',
};

/** The config's lines, trimmed, without comments and blank lines. */
const lines = (cfg: string) =>
  cfg
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

describe('load balancer profiles', () => {
  it('fast: a check every 500 ms, down after 2, up after 2', () => {
    expect(LB_PROFILES.fast.check).toEqual({ intervalMs: 500, fall: 2, rise: 2, timeoutMs: 500 });
  });

  it("alb-defaults: AWS's documented target group defaults", () => {
    const p = LB_PROFILES['alb-defaults'];
    expect(p.check).toEqual({ intervalMs: 30_000, fall: 2, rise: 5, timeoutMs: 5000 });
    expect(p.deregistrationDelayMs).toBe(300_000);
    expect(p.timeouts).toEqual({ connectMs: 10_000, serverMs: 60_000, clientMs: 60_000 });
  });
});

describe('haproxyConfig', () => {
  it('writes the runtime API, the JSON request log, the frontend and a checked round-robin backend', () => {
    const l = lines(haproxyConfig(base));
    for (const want of [
      'global',
      'log stdout format raw local0',
      'stats socket ipv4@0.0.0.0:9999 level admin',
      'defaults',
      'mode http',
      'log global',
      `log-format '${LOG_FORMAT}'`,
      'timeout connect 500ms',
      'timeout server 5000ms',
      'timeout check 500ms',
      'frontend www',
      'bind :8080',
      'default_backend web',
      'backend web',
      'balance roundrobin',
      'http-reuse always',
      'option httpchk GET /health',
      'http-check expect status 200',
      'default-server inter 500ms fall 2 rise 2 init-addr last,libc,none',
      'server web-a 172.18.0.2:8000 check',
      'server web-b 172.18.0.3:8000 check',
    ])
      expect(l).toContain(want);
    // each section in order, the servers last in the backend
    const at = (s: string) => l.indexOf(s);
    expect(at('global')).toBeLessThan(at('defaults'));
    expect(at('defaults')).toBeLessThan(at('frontend www'));
    expect(at('frontend www')).toBeLessThan(at('backend web'));
    expect(at('backend web')).toBeLessThan(at('server web-a 172.18.0.2:8000 check'));
  });

  it('balances round-robin unless asked for the least outstanding requests (leastconn)', () => {
    expect(lines(haproxyConfig(base)).filter((x) => x.startsWith('balance'))).toEqual(['balance roundrobin']);
    const least = lines(haproxyConfig({ ...base, balance: 'least-outstanding' }));
    expect(least.filter((x) => x.startsWith('balance'))).toEqual(['balance leastconn']);
  });

  it('writes retries 0 (HAProxy would retry 3 times by default) and no redispatch unless asked', () => {
    const l = lines(haproxyConfig(base));
    expect(l).toContain('retries 0');
    expect(l.filter((x) => x.includes('redispatch'))).toEqual([]);
    const asked = lines(haproxyConfig({ ...base, retries: 3, redispatch: true }));
    expect(asked).toContain('retries 3');
    expect(asked).toContain('option redispatch');
    expect(asked).not.toContain('retries 0');
  });

  it("takes the alb-defaults profile's checks and timeouts", () => {
    const l = lines(haproxyConfig({ ...base, profile: 'alb-defaults' }));
    expect(l).toContain('default-server inter 30000ms fall 2 rise 5 init-addr last,libc,none');
    expect(l).toContain('timeout check 5000ms');
    expect(l).toContain('timeout connect 10000ms');
    expect(l).toContain('timeout server 60000ms');
    expect(l).toContain('timeout client 60000ms');
  });

  it('accepts no servers (all added at runtime) and names that resolve in the container', () => {
    expect(lines(haproxyConfig({ ...base, servers: [] })).filter((x) => x.startsWith('server '))).toEqual([]);
    expect(
      lines(haproxyConfig({ ...base, servers: [{ name: 'web-c', address: 'web-c', port: 80 }] })),
    ).toContain('server web-c web-c:80 check');
  });

  it('refuses what HAProxy would refuse or misread', () => {
    expect(() =>
      haproxyConfig({ ...base, servers: [{ name: 'web a', address: '10.0.0.1', port: 80 }] }),
    ).toThrow(/server name/);
    expect(() => haproxyConfig({ ...base, servers: [...base.servers, base.servers[0]!] })).toThrow(/twice/);
    expect(() => haproxyConfig({ ...base, healthPath: 'health' })).toThrow(/health path/);
    expect(() => haproxyConfig({ ...base, healthPath: '/a b' })).toThrow(/health path/);
    expect(() => haproxyConfig({ ...base, runtimePort: 8080 })).toThrow(/two ports/);
    expect(() => haproxyConfig({ ...base, frontendPort: 70000 })).toThrow(/port/);
    expect(() => haproxyConfig({ ...base, retries: -1 })).toThrow(/retries/);
    expect(() => haproxyConfig({ ...base, profile: 'slow' as 'fast' })).toThrow(
      /unknown load balancer profile/,
    );
    expect(() =>
      haproxyConfig({ ...base, servers: [{ name: 'web-a', address: '10.0.0.1 backup', port: 80 }] }),
    ).toThrow(/address/);
  });
});

/**
 * What HAProxy writes for LOG_FORMAT given these values: each `%[sample,json(utf8s)]` replaced by
 * its JSON-escaped value, each `%var` by its value. A variable the emulation does not know fails
 * the test, so the format and the parser cannot drift apart unnoticed.
 */
function emulate(format: string, vars: Record<string, string>, samples: Record<string, string>): string {
  return format
    .replace(/%\[([^\]]+)\]/g, (_, expr: string) => {
      const v = samples[expr];
      if (v === undefined) throw new Error(`no value for sample ${expr}`);
      return v === '' ? '-' : JSON.stringify(v).slice(1, -1);
    })
    .replace(/%([A-Za-z]+)/g, (_, name: string) => {
      const v = vars[name];
      if (v === undefined) throw new Error(`no value for %${name}`);
      return v;
    });
}

const VARS = {
  Ts: '1795464690',
  ms: '058',
  f: 'www',
  b: 'web',
  s: 'web-a',
  si: '172.18.0.2',
  sp: '8000',
  ci: '172.18.0.1',
  cp: '51452',
  ST: '200',
  B: '138',
  Th: '0',
  Ti: '2',
  TR: '0',
  Tw: '0',
  Tc: '1',
  Tr: '3',
  Ta: '4',
  Tt: '6',
  ts: '--',
  rc: '0',
  ac: '1',
  fc: '1',
  bc: '0',
  sc: '0',
  sq: '0',
  bq: '0',
};
const SAMPLES = {
  'capture.req.method,json(utf8s)': 'GET',
  'capture.req.uri,json(utf8s)': '/write?seq=41&v="x\\y"',
  'capture.req.hdr(0),json(utf8s)': 'k6-41',
};

describe('parseHaproxyLog', () => {
  it('reads back every field of the log format', () => {
    const log = parseHaproxyLog(emulate(LOG_FORMAT, VARS, SAMPLES));
    expect(log).toEqual({
      acceptMs: 1795464690058,
      startMs: 1795464690060,
      endMs: 1795464690064,
      frontend: 'www',
      backend: 'web',
      server: 'web-a',
      serverAddress: '172.18.0.2:8000',
      client: '172.18.0.1:51452',
      method: 'GET',
      uri: '/write?seq=41&v="x\\y"',
      requestId: 'k6-41',
      status: 200,
      bytes: 138,
      timers: { Th: 0, Ti: 2, TR: 0, Tw: 0, Tc: 1, Tr: 3, Ta: 4, Tt: 6 },
      termination: '--',
      retries: 0,
      redispatched: false,
      conns: { active: 1, frontend: 1, backend: 0, server: 0 },
      queues: { server: 0, backend: 0 },
    });
  });

  it('a 503 HAProxy made itself: no server, no address, unreached timers', () => {
    const log = parseHaproxyLog(
      emulate(
        LOG_FORMAT,
        { ...VARS, s: '<NOSRV>', si: '-', sp: '-', ST: '503', Tc: '-1', Tr: '-1', ts: 'SC', Tt: '0' },
        { ...SAMPLES, 'capture.req.hdr(0),json(utf8s)': '' },
      ),
    );
    expect(log).toMatchObject({
      server: null,
      serverAddress: null,
      status: 503,
      termination: 'SC',
      requestId: null,
    });
    expect(log?.timers.Tr).toBe(-1);
    expect(log?.endMs).toBe(1795464690058);
  });

  it('a redispatched request (+N retries) and one the client gave up on (status -1)', () => {
    expect(parseHaproxyLog(emulate(LOG_FORMAT, { ...VARS, rc: '+1' }, SAMPLES))).toMatchObject({
      retries: 1,
      redispatched: true,
    });
    expect(parseHaproxyLog(emulate(LOG_FORMAT, { ...VARS, ST: '-1', ts: 'CD' }, SAMPLES))).toMatchObject({
      status: null,
      termination: 'CD',
    });
  });

  it('a line HAProxy 2.6.12 wrote', () => {
    const line =
      '{"t":1795464738056,"fe":"www","be":"web","srv":"web-d","srvAddr":"172.18.0.6:8000","client":"172.18.0.1:49234","method":"GET","uri":"\\/slow","reqId":"-","status":502,"bytes":209,"Th":0,"Ti":0,"TR":0,"Tw":0,"Tc":0,"Tr":-1,"Ta":878,"Tt":878,"term":"KH","retries":"0","ac":2,"fc":2,"bc":1,"sc":1,"sq":0,"bq":0}';
    expect(parseHaproxyLog(line)).toMatchObject({
      server: 'web-d',
      uri: '/slow',
      status: 502,
      termination: 'KH',
      requestId: null,
      endMs: 1795464738056 + 878,
    });
  });

  it("ignores HAProxy's notices and lines cut short", () => {
    expect(
      parseHaproxyLog(
        'Server web/web-d is going DOWN for maintenance. 1 active and 0 backup servers left. 2 sessions active, 0 requeued, 0 remaining in queue.',
      ),
    ).toBeUndefined();
    expect(parseHaproxyLog('[NOTICE]   (1) : Loading success.')).toBeUndefined();
    const whole = emulate(LOG_FORMAT, VARS, SAMPLES);
    expect(parseHaproxyLog(whole.slice(0, -10))).toBeUndefined();
    expect(parseHaproxyLog(whole.replace('"retries":"0"', '"retries":"x"'))).toBeUndefined();
    expect(parseHaproxyLog('')).toBeUndefined();
  });
});

describe('parseHaproxyServerEvent', () => {
  // lines HAProxy 2.6.12 wrote on its log in the integration test
  it('reads the state changes of servers, from checks and from the runtime API', () => {
    const events = [
      'Server web/web-a is DOWN, reason: Layer4 timeout, check duration: 501ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
      'Server web/web-a is UP, reason: Layer7 check passed, code: 200, check duration: 2ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.',
      'Server web/web-c is UP/READY (leaving forced maintenance).',
      'Server web/web-c enters drain state. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.',
      'Server web/web-c is going DOWN for maintenance. 1 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue.',
      'Server web/web-a was DOWN and now enters maintenance.',
    ].map(parseHaproxyServerEvent);
    expect(events.map((e) => e && [e.server, e.to, e.reason])).toEqual([
      ['web-a', 'DOWN', 'Layer4 timeout'],
      ['web-a', 'UP', 'Layer7 check passed'],
      ['web-c', 'UP', 'leaving maintenance'],
      ['web-c', 'DRAIN', 'drain'],
      ['web-c', 'MAINT', 'maintenance'],
      ['web-a', 'MAINT', 'maintenance'],
    ]);
    expect(events.every((e) => e?.backend === 'web')).toBe(true);
  });

  it("ignores the stderr copy of each note, request lines and HAProxy's other notices", () => {
    for (const line of [
      '[WARNING]  (8) : Server web/web-a is DOWN, reason: Layer4 timeout, check duration: 501ms.',
      '[NOTICE]   (8) : CLI : Server deleted.',
      '{"t":1795465172239,"fe":"www"}',
      '',
    ])
      expect(parseHaproxyServerEvent(line)).toBeUndefined();
  });
});

// `show stat web 4 -1` as HAProxy 2.6.12 answered it (trimmed to the columns' header and three servers).
const STAT_HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo';
const STAT = [
  STAT_HEADER,
  'web,web-a,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,4,0,,1,3,1,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,172.18.0.2:8000,,http,',
  'web,web-b,0,0,2,0,,0,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0,0,0,4,0,,1,3,2,,0,,2,0,,0,* L4CON,,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Connection refused,,2,2,3,,,,172.18.0.3:8000,,http,',
  'web,web-c,1,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,4,0,,1,3,3,,0,,2,0,,0,,,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,2,2,3,,,,172.18.0.4:8000,,http,',
  'other,x,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,4,0,,1,3,3,,0,,2,0,,0,,,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,2,2,3,,,,10.0.0.1:80,,http,',
  'web,BACKEND,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,4,0,,1,3,0,,0,,1,0,,0,,,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin',
  '',
].join('\n');

describe('parseShowStat', () => {
  it("reads each server of the backend: state, HAProxy's status, check, sessions, address", () => {
    expect(parseShowStat(STAT)).toEqual([
      {
        name: 'web-a',
        address: '172.18.0.2',
        port: 8000,
        state: 'UP',
        status: 'UP',
        checkStatus: 'L7OK',
        checkDescription: 'Layer7 check passed',
        sessions: 0,
        queued: 0,
      },
      {
        name: 'web-b',
        address: '172.18.0.3',
        port: 8000,
        state: 'DOWN',
        status: 'DOWN 1/2',
        checkStatus: 'L4CON',
        checkDescription: 'Connection refused',
        sessions: 2,
        queued: 0,
      },
      {
        name: 'web-c',
        address: '172.18.0.4',
        port: 8000,
        state: 'MAINT',
        status: 'MAINT',
        checkStatus: null,
        checkDescription: null,
        sessions: 0,
        queued: 1,
      },
    ]);
  });

  it('refuses an answer that is not a stat dump', () => {
    expect(() => parseShowStat('Unknown command.')).toThrow(/show stat/);
  });
});

/**
 * A stand-in for HAProxy's runtime API over TCP: one command per connection, answered by
 * `answer`, then closed; every command it got is kept in order.
 */
class FakeCli {
  readonly got: string[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly answer: (cmd: string) => string | null) {}

  async listen(): Promise<void> {
    this.server = createServer((socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const cmd = buf.slice(0, nl);
        this.got.push(cmd);
        const reply = this.answer(cmd);
        if (reply !== null) socket.end(`${reply}\n`); // null: never answers
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      for (const s of this.sockets) s.destroy();
      this.server.close(() => resolve());
    });
  }
}

/** A backend `web` whose servers follow HAProxy 2.6's rules closely enough to check a sequence. */
function haproxyLike() {
  const servers = new Map<
    string,
    { admin: 'maint' | 'drain' | 'ready'; health: boolean; sessions: number }
  >();
  const stat = () =>
    [
      STAT_HEADER,
      ...[...servers].map(([name, s]) => {
        const status = s.admin === 'maint' ? 'MAINT' : s.admin === 'drain' ? 'DRAIN' : 'UP';
        return `web,${name},0,0,${s.sessions},0,,0,0,0,,0,,0,0,0,0,${status},1,1,0,0,0,4,0,,1,3,1,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,10.0.0.9:8000,,http,`;
      }),
    ].join('\n');
  return {
    servers,
    answer(cmd: string): string {
      const m =
        /^(add server|del server|enable health|enable server|shutdown sessions server|set server) web\/(\S+)(.*)$/.exec(
          cmd,
        );
      if (cmd === 'show stat web 4 -1') return `${stat()}\n`;
      if (!m) return 'Unknown command.\n';
      const [, verb, name, rest] = m as unknown as [string, string, string, string];
      const s = servers.get(name);
      if (verb === 'add server') {
        if (s) return 'Already exists a server with the same name in backend.\n';
        servers.set(name, { admin: 'maint', health: false, sessions: 0 });
        return 'New server registered.\n';
      }
      if (!s) return 'No such server.\n';
      if (verb === 'enable health') s.health = true;
      else if (verb === 'enable server') s.admin = 'ready';
      else if (verb === 'set server') s.admin = rest.trim().replace('state ', '') as 'maint';
      else if (verb === 'shutdown sessions server') s.sessions = 0;
      else if (verb === 'del server') {
        if (s.admin !== 'maint') return 'Only servers in maintenance mode can be deleted.\n';
        if (s.sessions > 0) return 'Server still has connections attached to it, cannot remove it.\n';
        servers.delete(name);
        return 'Server deleted.\n';
      }
      return '\n';
    },
  };
}

describe('HaproxyRuntime (against a stand-in for the runtime API)', () => {
  let cli: FakeCli | undefined;
  afterEach(async () => {
    await cli?.close();
    cli = undefined;
  });
  const start = async (answer: (cmd: string) => string | null) => {
    cli = new FakeCli(answer);
    await cli.listen();
    return new HaproxyRuntime({ host: '127.0.0.1', port: cli.port, timeoutMs: 500 });
  };

  it('adds a server: add (with the check settings), enable health, enable server', async () => {
    const ha = haproxyLike();
    const rt = await start(ha.answer);
    await rt.addServer('web-c', '10.0.0.9', 8000, 'fast');
    expect(cli!.got).toEqual([
      'add server web/web-c 10.0.0.9:8000 check inter 500ms fall 2 rise 2',
      'enable health web/web-c',
      'enable server web/web-c',
    ]);
    expect(ha.servers.get('web-c')).toEqual({ admin: 'ready', health: true, sessions: 0 });
    expect((await rt.servers()).map((s) => [s.name, s.state])).toEqual([['web-c', 'UP']]);
  });

  it('with the alb-defaults profile, and held in maintenance when asked', async () => {
    const ha = haproxyLike();
    const rt = await start(ha.answer);
    await rt.addServer('web-c', '10.0.0.9', 8000, LB_PROFILES['alb-defaults'], { enable: false });
    expect(cli!.got).toEqual([
      'add server web/web-c 10.0.0.9:8000 check inter 30000ms fall 2 rise 5',
      'enable health web/web-c',
    ]);
    expect(ha.servers.get('web-c')?.admin).toBe('maint');
  });

  it('refuses a name it would have to resolve, before sending anything', async () => {
    const rt = await start(haproxyLike().answer);
    await expect(rt.addServer('web-c', 'web-c', 8000, 'fast')).rejects.toThrow(/needs an IP address/);
    await expect(rt.addServer('web c', '10.0.0.9', 8000, 'fast')).rejects.toThrow(/server name/);
    expect(cli!.got).toEqual([]);
  });

  it('an add HAProxy refuses fails with the command and its answer', async () => {
    const ha = haproxyLike();
    const rt = await start(ha.answer);
    await rt.addServer('web-c', '10.0.0.9', 8000, 'fast');
    const err = await rt.addServer('web-c', '10.0.0.9', 8000, 'fast').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HaproxyRuntimeError);
    expect((err as HaproxyRuntimeError).command).toBe(
      'add server web/web-c 10.0.0.9:8000 check inter 500ms fall 2 rise 2',
    );
    expect((err as HaproxyRuntimeError).answer).toContain('Already exists a server with the same name');
    expect((err as Error).message).toContain("'add server web/web-c");
    expect((err as Error).message).toContain('HAProxy answered: Already exists');
  });

  it('removes a server: maintenance, shutdown sessions, del; reporting the sessions it cut', async () => {
    const ha = haproxyLike();
    const rt = await start(ha.answer);
    await rt.addServer('web-c', '10.0.0.9', 8000, 'fast');
    ha.servers.get('web-c')!.sessions = 2;
    cli!.got.length = 0;
    expect(await rt.removeServer('web-c')).toEqual({ drainedMs: 0, sessionsCut: 2 });
    expect(cli!.got).toEqual([
      'set server web/web-c state maint',
      'show stat web 4 -1',
      'shutdown sessions server web/web-c',
      'del server web/web-c',
    ]);
    expect(ha.servers.has('web-c')).toBe(false);
  });

  it('drains first when given a deregistration delay, and stops draining when the sessions are gone', async () => {
    const ha = haproxyLike();
    const rt = await start(ha.answer);
    await rt.addServer('web-c', '10.0.0.9', 8000, 'fast');
    const s = ha.servers.get('web-c')!;
    s.sessions = 1;
    setTimeout(() => {
      s.sessions = 0; // its last request completes
    }, 150);
    const r = await rt.removeServer('web-c', { drainMs: 5000, pollMs: 20 });
    expect(r.sessionsCut).toBe(0);
    expect(r.drainedMs).toBeGreaterThanOrEqual(100);
    expect(r.drainedMs).toBeLessThan(2000);
    expect(cli!.got.filter((c) => !c.startsWith('show stat')).slice(3)).toEqual([
      'set server web/web-c state drain',
      'set server web/web-c state maint',
      'shutdown sessions server web/web-c',
      'del server web/web-c',
    ]);
  });

  it('a drain ends at the delay even with sessions left, which are then cut', async () => {
    const ha = haproxyLike();
    const rt = await start(ha.answer);
    await rt.addServer('web-c', '10.0.0.9', 8000, 'fast');
    ha.servers.get('web-c')!.sessions = 3;
    const r = await rt.removeServer('web-c', { drainMs: 200, pollMs: 20 });
    expect(r.drainedMs).toBeGreaterThanOrEqual(200);
    expect(r.sessionsCut).toBe(3);
    expect(ha.servers.has('web-c')).toBe(false);
  });

  it('retries del while HAProxy still finds connections attached, within settleMs', async () => {
    const ha = haproxyLike();
    let refusals = 2;
    const rt = await start((cmd) => {
      if (cmd.startsWith('del server') && refusals-- > 0)
        return 'Server still has connections attached to it, cannot remove it.\n';
      return ha.answer(cmd);
    });
    await rt.addServer('web-c', '10.0.0.9', 8000, 'fast');
    await rt.removeServer('web-c', { pollMs: 10 });
    expect(cli!.got.filter((c) => c.startsWith('del server'))).toHaveLength(3);
    expect(ha.servers.has('web-c')).toBe(false);
  });

  it('an unknown server fails with the command and "No such server."', async () => {
    const rt = await start(haproxyLike().answer);
    await expect(rt.removeServer('web-x')).rejects.toThrow(
      /'set server web\/web-x state maint' was refused; HAProxy answered: No such server\./,
    );
  });

  it('times out on an API that never answers, and says so', async () => {
    const rt = await start(() => null);
    const t0 = Date.now();
    await expect(rt.command('show info')).rejects.toThrow(/'show info' got no complete answer within 500 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('fails on a port where nothing listens, and on a multi-line command', async () => {
    const rt = await start(() => '');
    await cli!.close();
    await expect(rt.command('show info')).rejects.toThrow(/'show info' failed: connect ECONNREFUSED/);
    await expect(rt.command('show info\nshow stat')).rejects.toThrow(/one-line/);
  });
});
