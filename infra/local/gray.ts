import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { constants, accessSync, existsSync, readFileSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { homedir, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from '../../core/clock.ts';
import { InfraError, errorMessage } from '../../core/errors.ts';
import type { GrayParams, NetworkGrayFault } from '../../core/faults.ts';
import { hostUnsupportedReason, onPath, toolMissing } from './host.ts';

const run = promisify(execFile);

/**
 * Gray failures on local containers: the node stays up and answers, badly.
 *
 * Network (latency, bandwidth, blackhole, reset): a toxiproxy server runs on the host inside the
 * node's network namespace (`nsenter -n`, the host's binary), one proxy per degraded port, its
 * upstream the node's own service on 127.0.0.1; an iptables REDIRECT in the namespace's nat
 * PREROUTING sends the chosen peers' connections to the service port (or every client's) to the
 * proxy. No system's plan changes for it. A NAT rule only takes new connections: the
 * connections already open to the port from those peers are reset at injection (`ss -K` in the
 * namespace: the server's end is aborted, the client gets an RST at once, not on its next
 * request), so every client reconnects, through the proxy; at the revert the rule goes first,
 * then the proxied connections are reset the same way, and the proxy is killed, so clients
 * reconnect directly. The node's own processes (its agent on 127.0.0.1) never pass the rule.
 *
 * Stress (cpu, memory, io): the host's stress-ng, moved into the node's cgroups before it
 * starts (so it competes with the node's processes for the node's share of the machine, and
 * counts against its limits) and into its PID namespace (`nsenter -p`: it dies with the node);
 * io stress writes to the node's data path through /proc/PID/root. Fill-disk: fallocate on the
 * node's loop-mounted data volume, up to a percentage of its size.
 *
 * Every rule carries the run's comment and every process the run's id in its environment
 * (CHAOS_HARNESS_RUN), so teardown, forceTeardown and `chaos cleanup` find and remove them after
 * a crash or a second Ctrl-C.
 */

/** The environment variable that marks a process as a run's (its value: the run id). */
export const RUN_ENV = 'CHAOS_HARNESS_RUN';
const FAULT_ENV = 'CHAOS_HARNESS_FAULT';

export const TOXIPROXY_VERSION = 'v2.5.0';
export const TOXIPROXY_INSTALL = `go install github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}`;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

let goPathCache: string | undefined | null = null;
function goPath(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GOPATH) return env.GOPATH;
  if (goPathCache === null) {
    const r = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8', timeout: 10_000 });
    goPathCache = r.status === 0 ? r.stdout.trim() || undefined : undefined;
  }
  return goPathCache;
}

/**
 * The toxiproxy server binary, found as k6 is (probes/k6/binary.ts): `TOXIPROXY_BIN` (when set,
 * nothing else is tried), `toxiproxy-server` on the PATH, then Go's bin folders, where
 * `go install .../cmd/server` puts it under the name `server` (or `toxiproxy-server`).
 */
export function findToxiproxy(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TOXIPROXY_BIN) return executable(env.TOXIPROXY_BIN) ? env.TOXIPROXY_BIN : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter))
    if (dir && executable(join(dir, 'toxiproxy-server'))) return join(dir, 'toxiproxy-server');
  const bins = [...(goPath(env) ?? '').split(delimiter).filter(Boolean), join(homedir(), 'go')].map((d) =>
    join(d, 'bin'),
  );
  for (const dir of bins)
    for (const name of ['toxiproxy-server', 'server']) {
      const p = join(dir, name);
      if (!executable(p)) continue;
      // `server` is a common name: only toxiproxy's is taken.
      const v = spawnSync(p, ['-version'], { encoding: 'utf8', timeout: 5000 });
      if (/toxiproxy-server version/.test(`${v.stdout}${v.stderr}`)) return p;
    }
  return undefined;
}

/** Why latency, bandwidth, blackhole or reset cannot be had here, or undefined. */
export function networkGrayUnsupportedReason(action: string): string | undefined {
  const what = `a ${action} fault`;
  if (process.platform !== 'linux')
    return `${what} needs Linux network namespaces (nsenter, iptables, toxiproxy in the node's namespace)`;
  const host = hostUnsupportedReason(what, "nsenter and iptables in the node's network namespace");
  if (host) return host;
  const tool =
    toolMissing(what, 'nsenter', 'util-linux') ??
    toolMissing(what, 'iptables', 'iptables') ??
    toolMissing(what, 'ss', 'iproute2');
  if (tool) return tool;
  if (action !== 'reset' && !findToxiproxy())
    return `${what} needs toxiproxy's server (TOXIPROXY_BIN, toxiproxy-server on the PATH, or Go's bin folder): ${TOXIPROXY_INSTALL}`;
  return undefined;
}

/** Why stress cannot be had here, or undefined. */
export function stressUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return "stress needs Linux (stress-ng in the node's cgroup)";
  return (
    hostUnsupportedReason('stress', "stress-ng in the node's cgroups and PID namespace") ??
    toolMissing('stress', 'stress-ng', 'stress-ng') ??
    toolMissing('stress', 'nsenter', 'util-linux')
  );
}

/** Why fill-disk cannot be had here (it needs the node's disk on a volume of its own), or undefined. */
export function fillDiskUnsupportedReason(loop: string | undefined): string | undefined {
  if (loop) return `fill-disk fills the node's own disk, a loop-mounted volume, which cannot be had: ${loop}`;
  return toolMissing('fill-disk', 'fallocate', 'util-linux');
}

/** Every rule of a run carries this comment. */
export function tag(runId: string): string {
  return `chaos-harness:run=${runId}`;
}

/** The processes whose environment names the run (and the fault, if given): host pids. */
function taggedProcesses(runId?: string, fault?: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${e}/environ`, 'latin1');
    } catch {
      continue;
    }
    const vars = env.split('\0');
    const mine = runId ? vars.includes(`${RUN_ENV}=${runId}`) : vars.some((v) => v.startsWith(`${RUN_ENV}=`));
    if (mine && (!fault || vars.includes(`${FAULT_ENV}=${fault}`))) out.push(Number(e));
  }
  return out;
}

/** The run ids that have gray-fault processes (proxies, stress) on this host. */
export function runsWithProcesses(): string[] {
  const ids = new Set<string>();
  for (const pid of taggedProcesses()) {
    try {
      const v = readFileSync(`/proc/${pid}/environ`, 'latin1')
        .split('\0')
        .find((x) => x.startsWith(`${RUN_ENV}=`));
      if (v) ids.add(v.slice(RUN_ENV.length + 1));
    } catch {}
  }
  return [...ids];
}

/** Kills every process of a run (or of one fault of it): its proxies and stressors. Returns how many. */
export async function killRunProcesses(runId: string, fault?: string): Promise<number> {
  if (process.platform !== 'linux') return 0;
  let killed = 0;
  for (let round = 0; round < 20; round++) {
    const pids = taggedProcesses(runId, fault);
    if (!pids.length) break;
    for (const pid of pids)
      try {
        process.kill(pid, 'SIGKILL');
        if (round === 0) killed++;
      } catch {}
    await sleep(50);
  }
  return killed;
}

let faultSeq = 0;
function faultId(runId: string): string {
  return `${runId}-${process.pid}-${++faultSeq}`;
}

function spawnTagged(
  cmd: string,
  args: string[],
  runId: string,
  fault: string,
  detached = false,
): ChildProcess {
  const child = spawn(cmd, args, {
    env: { ...process.env, [RUN_ENV]: runId, [FAULT_ENV]: fault },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached,
  });
  child.stderr?.setEncoding('utf8');
  let err = '';
  child.stderr?.on('data', (d: string) => {
    if (err.length < 4000) err += d;
  });
  (child as ChildProcess & { errText: () => string }).errText = () => err;
  child.on('error', () => {});
  return child;
}

async function nsIptables(pid: number, args: string[]): Promise<void> {
  await run('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', ...args], { timeout: 15_000 });
}

/** Aborts the TCP connections in a namespace that an `ss` filter names (the peers get an RST). */
async function killConnections(pid: number, filter: string): Promise<number> {
  const { stdout } = await run(
    'nsenter',
    ['-t', String(pid), '-n', 'ss', '-K', '-t', '-n', 'state', 'established', filter],
    { timeout: 15_000 },
  );
  return Math.max(0, stdout.trim().split('\n').length - 1);
}

/** How many TCP connections in a namespace an `ss` filter names. */
async function countConnections(pid: number, filter: string): Promise<number> {
  const { stdout } = await run(
    'nsenter',
    ['-t', String(pid), '-n', 'ss', '-H', '-t', '-n', 'state', 'established', filter],
    { timeout: 15_000 },
  );
  return stdout.trim() ? stdout.trim().split('\n').length : 0;
}

/** One node whose service a network fault degrades. */
export interface GrayServer {
  name: string;
  /** The host pid of a process in its network namespace (its main container's). */
  pid: number;
  /** Its address on the run's network: the harness reaches the proxy's API there. */
  ip: string;
  /** Its service port, as its own processes listen on it. */
  port: number;
}

/** A node's service, degraded for the connections of `clients` (addresses), or of every client. */
export interface GrayLink {
  server: GrayServer;
  clients: string[] | 'all';
}

/** Ports the proxies take in a node's namespace: the API, then one listener per fault. */
const API_BASE = 28_474;
const slots = new Map<number, number>();
function slotFor(pid: number): number {
  const s = (slots.get(pid) ?? 0) + 1;
  slots.set(pid, s);
  return s;
}

async function api(base: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`toxiproxy ${path}: ${res.status} ${await res.text()}`);
}

/** The toxics a fault is made of (toxiproxy's names and attributes). */
export function toxicsFor(action: NetworkGrayFault, p: GrayParams): object[] {
  switch (action) {
    case 'latency':
      // On the replies: a request/response round trip grows by delayMs, as tc's egress delay on
      // the node does (FIS's AWSFIS-Run-Network-Latency).
      return [
        {
          name: 'latency',
          type: 'latency',
          stream: 'downstream',
          attributes: { latency: p.delayMs ?? 0, jitter: p.jitterMs ?? 0 },
        },
      ];
    case 'bandwidth':
      return ['downstream', 'upstream'].map((stream) => ({
        name: `bandwidth-${stream}`,
        type: 'bandwidth',
        stream,
        attributes: { rate: p.rateKBps ?? 1 },
      }));
    case 'blackhole':
      // timeout 0: the data is dropped and the connection is never closed.
      return ['upstream', 'downstream'].map((stream) => ({
        name: `blackhole-${stream}`,
        type: 'timeout',
        stream,
        attributes: { timeout: 0 },
      }));
    case 'reset':
      // Not a proxy's: the kernel answers every packet with an RST (resetLinks).
      return [];
  }
}

function describe(action: NetworkGrayFault, p: GrayParams): string {
  switch (action) {
    case 'latency':
      return `${p.delayMs} ms${p.jitterMs ? ` ± ${p.jitterMs} ms` : ''} on every reply`;
    case 'bandwidth':
      return `${p.rateKBps} kB/s each way`;
    case 'blackhole':
      return 'connections accepted, nothing answered';
    case 'reset':
      return 'every packet answered with an RST';
  }
}

const LOOPBACK = 'not ( dst 127.0.0.0/8 or dst [::1] or dst [::ffff:127.0.0.1] )';

/** An ss filter for the connections of `clients` to `port` (every non-loopback one for all). */
function connectionsTo(port: number, clients: string[] | 'all'): string {
  const peers =
    clients === 'all'
      ? LOOPBACK
      : `( ${clients.flatMap((ip) => [`dst ${ip}`, `dst [::ffff:${ip}]`]).join(' or ')} )`;
  return `( sport = :${port} ) and ${peers}`;
}

/**
 * Degrades the chosen links with toxiproxy in each server's namespace. Returns how it was done
 * and the revert (rules out, proxied connections reset, proxies killed).
 */
export async function degradeLinks(
  runId: string,
  action: NetworkGrayFault,
  params: GrayParams,
  links: GrayLink[],
): Promise<{ method: string; revert: () => Promise<void> }> {
  if (action === 'reset') return resetLinks(runId, links);
  const bin = findToxiproxy();
  if (!bin)
    throw new InfraError('NO_TOXIPROXY', `a ${action} fault needs toxiproxy's server`, {
      hint: TOXIPROXY_INSTALL,
    });
  const fault = faultId(runId);
  const comment = ['-m', 'comment', '--comment', tag(runId)];
  const toxics = toxicsFor(action, params) as { name: string }[];
  const applied: {
    pid: number;
    rules: string[][];
    listen: number;
    proxy: ChildProcess;
    base: string;
    name: string;
  }[] = [];
  let reset = 0;
  let stayed = 0;
  const revert = async () => {
    const errors: string[] = [];
    const all = applied.splice(0).reverse();
    // The toxics first: what is in flight through the proxies completes at once, so the reset
    // below finds (almost) no request waiting for its reply.
    // (A node that died meanwhile has no network left: its proxy is only killed.)
    await Promise.all(
      all.flatMap((a) =>
        (existsSync(`/proc/${a.pid}`) ? toxics : []).map((t) =>
          fetch(`${a.base}/proxies/${a.name}/toxics/${t.name}`, {
            method: 'DELETE',
            signal: AbortSignal.timeout(2000),
          }).catch(() => {}),
        ),
      ),
    );
    for (const a of all)
      for (const rule of a.rules)
        await nsIptables(a.pid, ['-t', 'nat', '-D', ...rule]).catch((err: Error) => {
          // The namespace is gone with its node: so is the rule.
          if (existsSync(`/proc/${a.pid}`)) errors.push(errorMessage(err).split('\n')[0]!);
        });
    // A toxic that goes lets what it holds through at once; then the proxied connections are
    // reset, so their clients reconnect directly.
    await sleep(100);
    for (const a of all) {
      await killConnections(a.pid, `( sport = :${a.listen} )`).catch(() => 0);
      a.proxy.kill('SIGKILL');
    }
    await killRunProcesses(runId, fault);
    if (errors.length) throw new Error(`the ${action} rules could not all be removed: ${errors[0]}`);
  };
  try {
    for (const { server, clients } of links) {
      const slot = slotFor(server.pid);
      const apiPort = API_BASE + 2 * slot;
      const listen = apiPort + 1;
      const proxy = spawnTagged(
        'nsenter',
        ['-t', String(server.pid), '-n', '--', bin, '-host', '0.0.0.0', '-port', String(apiPort)],
        runId,
        fault,
      );
      const base = `http://${server.ip}:${apiPort}`;
      const name = `${action}-${server.port}`;
      const entry = { pid: server.pid, rules: [] as string[][], listen, proxy, base, name };
      applied.push(entry);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const up = await fetch(`${base}/version`, { signal: AbortSignal.timeout(1000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (up) break;
        if (proxy.exitCode !== null || Date.now() > deadline)
          throw new InfraError(
            'PROXY_FAILED',
            `toxiproxy did not start in ${server.name}'s network namespace: ${(proxy as ChildProcess & { errText: () => string }).errText().trim().split('\n').pop() ?? `exit ${proxy.exitCode}`}`,
          );
        await sleep(25);
      }
      await api(base, '/proxies', {
        name,
        listen: `0.0.0.0:${listen}`,
        upstream: `127.0.0.1:${server.port}`,
        enabled: true,
      });
      for (const toxic of toxics) await api(base, `/proxies/${name}/toxics`, toxic);
      const sources = clients === 'all' ? [undefined] : clients;
      for (const src of sources) {
        const rule = [
          'PREROUTING',
          '-p',
          'tcp',
          '--dport',
          String(server.port),
          '!',
          '-i',
          'lo',
          ...(src ? ['-s', src] : []),
          ...comment,
          '-j',
          'REDIRECT',
          '--to-ports',
          String(listen),
        ];
        await nsIptables(server.pid, ['-t', 'nat', '-I', ...rule]);
        entry.rules.push(rule);
      }
      // Established connections keep their old path (conntrack): reset them, so their clients
      // reconnect, through the proxy.
      reset += await killConnections(server.pid, connectionsTo(server.port, clients));
      // A kernel without sock_diag's destroy (CONFIG_INET_DIAG_DESTROY) leaves them open.
      stayed += await countConnections(server.pid, connectionsTo(server.port, clients));
    }
  } catch (err) {
    await revert().catch(() => {});
    throw err;
  }
  const where = links
    .map(
      (l) => `${l.server.name}:${l.server.port}${l.clients === 'all' ? '' : ` from ${l.clients.join(', ')}`}`,
    )
    .join('; ');
  return {
    method: `toxiproxy ${action} (${describe(action, params)}) in the node's network namespace, iptables nat REDIRECT to it (${where}); ${reset} established connections reset so their clients reconnect through it${stayed ? ` (${stayed} could not be: this kernel cannot destroy sockets, so they keep their direct path until their clients reconnect)` : ''}; at the revert the toxics and the rule go, the proxied connections are reset and the proxy killed`,
    revert,
  };
}

/**
 * Resets every connection of the chosen clients to the service port: an iptables REJECT with a
 * TCP reset in the namespace's INPUT, which answers every packet, of the connections already open
 * as of new ones (a new connection is refused), until the revert removes it. No proxy.
 */
export async function resetLinks(
  runId: string,
  links: GrayLink[],
): Promise<{ method: string; revert: () => Promise<void> }> {
  const added: { pid: number; rule: string[] }[] = [];
  const revert = async () => {
    const errors: string[] = [];
    for (const a of added.splice(0).reverse())
      await nsIptables(a.pid, ['-D', ...a.rule]).catch((err: Error) => {
        if (existsSync(`/proc/${a.pid}`)) errors.push(errorMessage(err).split('\n')[0]!);
      });
    if (errors.length) throw new Error(`the reset rules could not all be removed: ${errors[0]}`);
  };
  try {
    for (const { server, clients } of links)
      for (const src of clients === 'all' ? [undefined] : clients) {
        const rule = [
          'INPUT',
          '-p',
          'tcp',
          '--dport',
          String(server.port),
          '!',
          '-i',
          'lo',
          ...(src ? ['-s', src] : []),
          '-m',
          'comment',
          '--comment',
          tag(runId),
          '-j',
          'REJECT',
          '--reject-with',
          'tcp-reset',
        ];
        await nsIptables(server.pid, ['-I', ...rule]);
        added.push({ pid: server.pid, rule });
      }
  } catch (err) {
    await revert().catch(() => {});
    throw err;
  }
  const where = links
    .map(
      (l) => `${l.server.name}:${l.server.port}${l.clients === 'all' ? '' : ` from ${l.clients.join(', ')}`}`,
    )
    .join('; ');
  return {
    method: `iptables REJECT --reject-with tcp-reset in the node's network namespace (${where}): every packet of an open connection is answered with an RST, a new connection is refused; the revert removes the rule`,
    revert,
  };
}

/** The files to write a pid into to put it in a container's cgroups (v1: one per hierarchy; v2: one). */
export function cgroupProcsFiles(pid: number): string[] {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const out: string[] = [];
  for (const line of lines) {
    const [, ctrls = '', path = '/'] = line.split(':');
    const candidates =
      ctrls === ''
        ? ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']
        : [
            `/sys/fs/cgroup/${ctrls.replace(/^name=/, '')}`,
            ...ctrls.split(',').map((c) => `/sys/fs/cgroup/${c.replace(/^name=/, '')}`),
          ];
    for (const root of candidates) {
      const f = join(root, path, 'cgroup.procs');
      if (existsSync(f)) {
        if (!out.includes(f)) out.push(f);
        break;
      }
    }
  }
  return out;
}

/** The memory a container may use: its cgroup's limit, or the host's memory when it has none. */
function memoryOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /(^|,)memory(,|$)/.test(l.split(':')[1] ?? '') || l.startsWith('0::'));
  const path = line?.split(':')[2] ?? '/';
  for (const f of [
    join('/sys/fs/cgroup/memory', path, 'memory.limit_in_bytes'),
    join('/sys/fs/cgroup', path, 'memory.max'),
  ]) {
    try {
      const v = Number(readFileSync(f, 'utf8').trim());
      if (Number.isFinite(v) && v > 0 && v < totalmem()) return v;
    } catch {}
  }
  return totalmem();
}

/** Stresses a node's CPU, memory or disk I/O from inside it, for at most durationMs. */
export async function stressNode(
  runId: string,
  node: { name: string; pid: number; dataPath?: string | undefined },
  p: GrayParams,
): Promise<{ method: string; revert: () => Promise<void> }> {
  const resource = p.resource ?? 'cpu';
  const fault = faultId(runId);
  const files = cgroupProcsFiles(node.pid);
  if (!files.length) throw new InfraError('NO_CGROUP', `the cgroups of ${node.name} could not be found`);
  // Stops by itself a little after the fault's end, should the revert never come.
  const seconds = Math.max(1, Math.ceil((p.durationMs ?? 3_600_000) / 1000) + 5);
  let args: string[];
  let what: string;
  switch (resource) {
    case 'cpu': {
      const workers = p.workers ?? 0;
      const load = p.percent ?? 100;
      args = ['--cpu', String(workers), '--cpu-load', String(load)];
      what = `${workers || 'one per core'} CPU workers at ${load} %`;
      break;
    }
    case 'memory': {
      const workers = p.workers ?? 1;
      const total = Math.floor((memoryOf(node.pid) * (p.percent ?? 10)) / 100);
      const each = Math.max(4 * 1024 * 1024, Math.floor(total / workers));
      args = ['--vm', String(workers), '--vm-bytes', String(each), '--vm-keep'];
      what = `${workers} memory workers holding ${Math.round((each * workers) / 1048576)} MiB (${p.percent ?? 10} % of the node's memory)`;
      break;
    }
    case 'io': {
      const workers = p.workers ?? 1;
      const dir = `/proc/${node.pid}/root${node.dataPath ?? '/tmp'}`;
      args = ['--hdd', String(workers), '--hdd-bytes', '64M', '--temp-path', dir];
      what = `${workers} disk workers writing and syncing in ${node.dataPath ?? '/tmp'}`;
      break;
    }
  }
  // The shell joins the node's cgroups (writing 0 moves the writer), then enters its PID
  // namespace: stress-ng and every worker are the node's, and die with it.
  const script = `for f in "$@"; do echo 0 > "$f" || exit 97; done; exec nsenter -t ${node.pid} -p -- stress-ng ${args.join(' ')} --timeout ${seconds}s --quiet`;
  const child = spawnTagged('sh', ['-c', script, 'sh', ...files], runId, fault, true);
  // Still running after a moment: it took.
  await sleep(300);
  if (child.exitCode !== null)
    throw new InfraError(
      'STRESS_FAILED',
      `stress-ng did not start in ${node.name}: exit ${child.exitCode}; ${(child as ChildProcess & { errText: () => string }).errText().trim().split('\n').pop() ?? ''}`,
    );
  return {
    method: `stress-ng in ${node.name}'s cgroups and PID namespace (host binary, nsenter -p): ${what}; it stops by itself after ${seconds} s, the revert kills it`,
    revert: async () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
      await killRunProcesses(runId, fault);
    },
  };
}

/** Fills a node's disk (a loop-mounted volume, its own file system) to `percent` of its size. */
export async function fillDisk(
  runId: string,
  node: string,
  mountPoint: string,
  p: GrayParams,
): Promise<{ method: string; revert: () => Promise<void> }> {
  const percent = p.percent ?? 95;
  const fs = statfsSync(mountPoint);
  const size = fs.blocks * fs.bsize;
  const used = (fs.blocks - fs.bfree) * fs.bsize;
  // What an unprivileged writer sees: the blocks reserved for root count as full.
  const target = Math.floor((size * percent) / 100);
  const need = Math.max(0, target - used);
  const file = join(mountPoint, `.chaos-fill-${runId}`);
  if (need > 0) await run('fallocate', ['-l', String(need), file], { timeout: 30_000 });
  const after = statfsSync(mountPoint);
  const full = Math.round((1 - after.bavail / after.blocks) * 1000) / 10;
  return {
    method: `fallocate ${Math.round(need / 1048576)} MiB on ${node}'s data volume (loop-mounted, ${Math.round(size / 1048576)} MiB): ${percent} % of it in use, ${full} % of what its users may write; removed at the revert`,
    revert: async () => {
      await run('rm', ['-f', file], { timeout: 15_000 });
    },
  };
}

/** Whether the host's own tools for the gray faults are there (for the README's checks). */
export function grayTools(): Record<string, boolean> {
  return {
    toxiproxy: Boolean(findToxiproxy()),
    'stress-ng': onPath('stress-ng'),
    nsenter: onPath('nsenter'),
    iptables: onPath('iptables'),
    ss: onPath('ss'),
    fallocate: onPath('fallocate'),
  };
}
