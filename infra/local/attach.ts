import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { InfraError, ScenarioError, errorMessage } from '../../core/errors.ts';
import type {
  AppliedFault,
  Endpoint,
  ExecResult,
  FaultRequest,
  NodePlan,
  NodeRef,
  PreflightCheck,
  ProvisionOptions,
  Stack,
} from '../../core/provider.ts';
import type { Lease, Registry, RegistryRecord } from '../../core/registry.ts';
import { ContainerLog } from './container-logs.ts';
import { LABEL_HARNESS, assertDockerReachable } from './docker.ts';
import {
  containerIps,
  killContainers,
  partition,
  pauseContainers,
  startContainers,
  unpauseContainers,
} from './faults.ts';
import { degradeLinks, killRunProcesses, stressNode } from './gray.ts';

/**
 * A stack the user already runs on the Docker engine, attached to instead of built: its nodes are
 * the user's containers, found by a label or a Compose project. Faults are carried out on them as
 * on the harness's own (docker kill/pause/start, iptables in their network namespace, the gray
 * faults' proxies and stressors), each with its revert. It knows no system by name: a group is
 * containers, the system they belong to, and the ports a client reaches.
 *
 * What it never does: start, restart or remove a container or network it did not create (it
 * creates none), or touch a container without the group's label. Teardown undoes what it added
 * (its iptables rules, proxies and stressors, a pause or a stop it made), every time, also on a
 * forced teardown (a second Ctrl-C). A container it killed stays killed: the harness does not
 * restart what it did not create; a `stop` is a kill that its revert starts again.
 */

export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

export type AttachSelector = { label: string } | { compose: string };

export interface AttachGroup {
  /** The system its nodes belong to (`sentinel`), as targets and figures name it. */
  system: string;
  select: AttachSelector;
  /** Where each container's AZ is (absent, or absent on a container: `a`). */
  azLabel?: string | undefined;
  /** How a client outside reaches a port: the container's address on its network, or the host's published port. */
  endpoints: 'network' | 'published';
}

export function describeSelector(s: AttachSelector): string {
  return 'label' in s ? `label ${s.label}` : `Compose project ${s.compose}`;
}

function labelFilter(s: AttachSelector): string {
  return 'label' in s ? s.label : `${COMPOSE_PROJECT_LABEL}=${s.compose}`;
}

export interface FoundContainer {
  id: string;
  name: string;
  az: string;
  running: boolean;
}

/**
 * The user's containers a selector names, by name: never one the harness labelled (its own
 * stacks), whatever labels it carries.
 */
export async function findContainers(docker: Docker, group: AttachGroup): Promise<FoundContainer[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [labelFilter(group.select)] } });
  return list
    .filter((c) => !c.Labels?.[LABEL_HARNESS])
    .map((c) => ({
      id: c.Id,
      name: (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''),
      az: (group.azLabel ? c.Labels?.[group.azLabel] : undefined) || 'a',
      running: c.State === 'running',
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Preflight: each group's selector names running containers. One check per group. */
export async function attachPreflight(
  docker: Docker,
  groups: readonly AttachGroup[],
): Promise<PreflightCheck[]> {
  const out: PreflightCheck[] = [];
  for (const g of groups) {
    const what = `attach ${g.system} (${describeSelector(g.select)})`;
    try {
      const found = await findContainers(docker, g);
      const running = found.filter((c) => c.running);
      if (running.length === 0) {
        const error = noContainers(g, found);
        out.push({ what, ok: false, detail: error.message, error });
      } else
        out.push({
          what,
          ok: true,
          detail: `${running.length} running: ${running.map((c) => `${c.name} (AZ ${c.az})`).join(', ')}`,
        });
    } catch (err) {
      out.push({ what, ok: false, detail: errorMessage(err) });
    }
  }
  return out;
}

function noContainers(g: AttachGroup, found: FoundContainer[]): ScenarioError {
  return new ScenarioError(
    'ATTACH_NOTHING_SELECTED',
    `stack.attach.${g.system}: the selector ${describeSelector(g.select)} matches ${found.length ? `only stopped containers (${found.map((c) => c.name).join(', ')})` : 'no container'} on this Docker engine`,
    {
      hint: `start the stack first, or fix the selector (docker ps --filter label=${labelFilter(g.select)})`,
    },
  );
}

/** The attached stacks of this process, by run: a forced teardown finds its stack here. */
const attachedRuns = new Map<string, AttachedStack>();

export function attachedRun(runId: string): AttachedStack | undefined {
  return attachedRuns.get(runId);
}

/** Finds the user's containers and attaches to them; nothing is created on the engine. */
export async function attachStack(
  docker: Docker,
  groups: readonly AttachGroup[],
  opts: ProvisionOptions,
): Promise<AttachedStack> {
  await assertDockerReachable(docker);
  const members: Member[] = [];
  for (const g of groups) {
    const found = await findContainers(docker, g);
    const running = found.filter((c) => c.running);
    if (running.length === 0) throw noContainers(g, found);
    for (const c of running) {
      const other = members.find((m) => m.id === c.id);
      if (other)
        throw new ScenarioError(
          'ATTACH_OVERLAP',
          `stack.attach: ${c.name} is selected both as ${other.group.system} (${describeSelector(other.group.select)}) and as ${g.system} (${describeSelector(g.select)}); a container belongs to one system`,
          { hint: 'give each kind a selector of its own (a label per system)' },
        );
      const info = await docker.getContainer(c.id).inspect();
      const networks = Object.entries(info.NetworkSettings.Networks ?? {}).filter(([, n]) => n.IPAddress);
      members.push({
        node: {
          name: c.name,
          system: g.system,
          az: c.az,
          index: members.filter((m) => m.node.system === g.system).length,
        },
        id: c.id,
        group: g,
        networks: networks.map(([name, n]) => ({ name, ip: n.IPAddress })),
        aliases: [
          ...new Set(
            [
              info.Config.Hostname,
              ...networks.flatMap(([, n]) => [
                ...(n.Aliases ?? []),
                ...((n as { DNSNames?: string[] | null }).DNSNames ?? []),
              ]),
            ].filter((a): a is string => Boolean(a) && a !== c.name),
          ),
        ],
        published: publishedPorts(info.NetworkSettings.Ports),
      });
    }
  }
  const stack = new AttachedStack(docker, opts, members);
  attachedRuns.set(opts.runId, stack);
  await stack.inspectPorts();
  stack.followLogs();
  return stack;
}

function publishedPorts(
  ports: Record<string, { HostIp: string; HostPort: string }[] | null> | undefined,
): Map<number, number> {
  const out = new Map<number, number>();
  for (const [key, binds] of Object.entries(ports ?? {})) {
    const [port, proto] = key.split('/');
    const host = binds?.find((b) => b.HostPort)?.HostPort;
    if (proto === 'tcp' && host) out.set(Number(port), Number(host));
  }
  return out;
}

interface Member {
  node: NodeRef;
  id: string;
  group: AttachGroup;
  networks: { name: string; ip: string }[];
  /** The other names its peers may know it by: its hostname, its aliases on its networks (a Compose service). */
  aliases: string[];
  published: Map<number, number>;
}

/**
 * The endpoint registry of an attached stack: in the harness's process (nothing runs beside the
 * user's containers), each change on the run's timeline as the registry's own `record-set`, so a
 * leader's history (mirrored into a record by the system's watcher) is read as for a built stack.
 */
class TimelineRegistry implements Registry {
  private readonly memory = new MemoryRegistry();

  constructor(private readonly opts: ProvisionOptions) {}

  get(name: string): Promise<RegistryRecord | undefined> {
    return this.memory.get(name);
  }

  async set(
    name: string,
    value: string,
    ttlMs: number,
    ifVersion?: number,
  ): Promise<RegistryRecord | undefined> {
    const previous = await this.memory.get(name);
    const next = await this.memory.set(name, value, ttlMs, ifVersion);
    if (next)
      this.opts.onEvent({
        t: this.opts.clock.now(),
        source: 'registry',
        type: 'record-set',
        data: { name, value, previous: previous?.value ?? null, version: next.version, ttlMs },
      });
    return next;
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    return this.memory.acquireLease(name, holder, ttlMs);
  }

  getLease(name: string): Promise<Lease | undefined> {
    return this.memory.getLease(name);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.memory.releaseLease(name, holder);
  }
}

/** What a fault in force added to the user's stack, and how to take it away. */
interface Outstanding {
  what: string;
  undo: () => Promise<void>;
}

export class AttachedStack implements Stack {
  readonly provider = 'local';
  readonly runId: string;
  readonly attached = true;
  private readonly byName = new Map<string, Member>();
  private readonly registryClient: TimelineRegistry;
  private readonly logs = new Map<string, ContainerLog>();
  private readonly since = Math.floor(Date.now() / 1000);
  /** What the harness's faults hold in force now: undone by their reverts, or by teardown. */
  private readonly outstanding = new Set<Outstanding>();
  /** The user's containers a kill left stopped: the harness does not start what it did not create. */
  readonly killed = new Set<string>();
  private torn: Promise<void> | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly opts: ProvisionOptions,
    members: Member[],
  ) {
    this.runId = opts.runId;
    for (const m of members) this.byName.set(m.node.name, m);
    this.registryClient = new TimelineRegistry(opts);
  }

  /** Each container's output from the moment the run attached, for the run folder. */
  followLogs(): void {
    for (const m of this.byName.values()) {
      const log = new ContainerLog(`${m.node.name}.log`);
      this.logs.set(m.node.name, log);
      log.follow(this.docker, m.id, this.since).catch(() => {});
    }
  }

  nodes(): NodeRef[] {
    return [...this.byName.values()].map((m) => m.node);
  }

  /** The container's Docker id and name, for a reader of the result. */
  containerOf(node: string): { id: string; name: string } | undefined {
    const m = this.byName.get(node);
    return m ? { id: m.id, name: m.node.name } : undefined;
  }

  private member(node: string): Member {
    const m = this.byName.get(node);
    if (!m) throw new InfraError('NO_SUCH_NODE', `no container '${node}' in the attached stack`);
    return m;
  }

  /**
   * The network the group's containers share (the one most of them are on): where their
   * addresses are, and where the Sentinels' answers point.
   */
  private networkOf(m: Member): { name: string; ip: string } | undefined {
    const counts = new Map<string, number>();
    for (const o of this.byName.values())
      if (o.group === m.group) for (const n of o.networks) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
    return [...m.networks].sort((a, b) => (counts.get(b.name) ?? 0) - (counts.get(a.name) ?? 0))[0];
  }

  endpoint(node: string, port?: number): Endpoint {
    const m = this.member(node);
    if (port === undefined) throw new InfraError('NO_PORT', `say which port of ${node} to reach`);
    if (m.group.endpoints === 'published') {
      const host = m.published.get(port);
      if (!host)
        throw new InfraError('NOT_PUBLISHED', `${node} publishes no host port for ${port}/tcp`, {
          hint: 'publish it (docker run -p), or attach with endpoints: network',
        });
      return { host: '127.0.0.1', port: host };
    }
    const net = this.networkOf(m);
    if (!net) throw new InfraError('NO_ADDRESS', `${node} has no address on a Docker network`);
    return { host: net.ip, port };
  }

  /**
   * Every name and address a peer may use for the node (its name, hostname, network aliases,
   * addresses): what a replica reports as its master, or a primary as a standby's address.
   */
  namesOf(node: string): string[] {
    const m = this.member(node);
    return [m.node.name, ...m.aliases, ...m.networks.map((n) => n.ip)];
  }

  address(node: string): string {
    const net = this.networkOf(this.member(node));
    if (!net) throw new InfraError('NO_ADDRESS', `${node} has no address on a Docker network`);
    return net.ip;
  }

  registry(): Registry {
    return this.registryClient;
  }

  async running(node: string): Promise<boolean> {
    const info = await this.docker
      .getContainer(this.member(node).id)
      .inspect()
      .catch(() => undefined);
    return Boolean(info?.State.Running);
  }

  launch(_plan: NodePlan): Promise<NodeRef> {
    return Promise.reject(
      new InfraError('ATTACHED', 'the harness starts no container in a stack it attached to'),
    );
  }

  terminate(node: string): Promise<void> {
    return Promise.reject(
      new InfraError('ATTACHED', `the harness removes no container of a stack it attached to (${node})`),
    );
  }

  impairedZones(): ReadonlySet<string> {
    return new Set();
  }

  async exec(node: string, command: string[]): Promise<ExecResult> {
    const exec = await this.docker
      .getContainer(this.member(node).id)
      .exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    const out = new PassThrough();
    out.on('data', (d: Buffer) => chunks.push(d));
    this.docker.modem.demuxStream(stream, out, out);
    await new Promise<void>((resolve) => stream.on('end', () => resolve()));
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
  }

  /** Holds `undo` until it is run once, by the fault's revert or by teardown. */
  private hold(what: string, undo: () => Promise<void>): () => Promise<void> {
    const o: Outstanding = { what, undo };
    this.outstanding.add(o);
    return () => this.runUndo(o);
  }

  /** Undoes runs now (once), on the record, so a forced teardown waits for one under way. */
  private readonly undoing = new Set<Promise<void>>();

  private runUndo(o: Outstanding): Promise<void> {
    if (!this.outstanding.delete(o)) return Promise.resolve();
    const p = o.undo();
    this.undoing.add(p);
    const done = () => this.undoing.delete(p);
    p.then(done, done);
    return p;
  }

  private async pidOf(node: string): Promise<number> {
    const pid = (await this.docker.getContainer(this.member(node).id).inspect()).State.Pid;
    if (!pid) throw new InfraError('NOT_RUNNING', `${node} is not running`);
    return pid;
  }

  async inject(req: FaultRequest): Promise<AppliedFault> {
    if (this.torn) throw new InfraError('TORN_DOWN', `run ${this.runId} has let go of the stack`);
    const names = req.nodes.map((n) => n.name);
    const ids = names.map((n) => this.member(n).id);
    switch (req.action) {
      case 'kill':
        for (const n of names) this.killed.add(n);
        await killContainers(this.docker, ids);
        return {
          action: 'kill',
          nodes: names,
          method:
            "docker kill --signal SIGKILL of the user's container; it stays stopped (the harness does not restart what it did not create)",
        };
      case 'stop': {
        await killContainers(this.docker, ids);
        const revert = this.hold(`start ${names.join(', ')} again`, async () => {
          await startContainers(this.docker, ids);
          for (const n of names) this.refollow(n);
        });
        return {
          action: 'stop',
          nodes: names,
          method: "docker kill --signal SIGKILL (power off) of the user's container, docker start to revert",
          revert,
        };
      }
      case 'pause': {
        await pauseContainers(this.docker, ids);
        return {
          action: 'pause',
          nodes: names,
          method: 'docker pause (cgroup freezer), docker unpause to revert',
          revert: this.hold(`unpause ${names.join(', ')}`, () => unpauseContainers(this.docker, ids)),
        };
      }
      case 'partition': {
        if (req.registry)
          throw new InfraError('ATTACHED', 'an attached stack has no registry of the harness to cut off');
        const peers = req.peers ?? [];
        const peerIps = [
          ...new Set(
            (await Promise.all(peers.map((p) => containerIps(this.docker, this.member(p.name).id)))).flat(),
          ),
        ];
        const reverts: (() => Promise<void>)[] = [];
        try {
          for (const id of ids) reverts.push(await partition(this.docker, id, peerIps));
        } catch (err) {
          for (const r of reverts) await r();
          throw err;
        }
        return {
          action: 'partition',
          nodes: names,
          method: `iptables DROP both ways in the user's containers' network namespaces, against ${peers.map((p) => p.name).join(', ')}; the rules are deleted to revert`,
          revert: this.hold(`delete the iptables rules in ${names.join(', ')}`, async () => {
            for (const r of reverts) await r();
          }),
        };
      }
      case 'latency':
      case 'bandwidth':
      case 'blackhole':
      case 'reset': {
        const server = async (n: NodeRef) => {
          const port = this.servicePort(n.name);
          return { name: n.name, pid: await this.pidOf(n.name), ip: this.address(n.name), port };
        };
        const ipsOf = async (nodes: NodeRef[]) => [
          ...new Set(
            (await Promise.all(nodes.map((n) => containerIps(this.docker, this.member(n.name).id)))).flat(),
          ),
        ];
        const peers = req.peers ?? [];
        const links = peers.length
          ? [
              ...(await Promise.all(
                req.nodes.map(async (n) => ({ server: await server(n), clients: await ipsOf(peers) })),
              )),
              ...(await Promise.all(
                peers.map(async (p) => ({ server: await server(p), clients: await ipsOf(req.nodes) })),
              )),
            ]
          : await Promise.all(
              req.nodes.map(async (n) => ({ server: await server(n), clients: 'all' as const })),
            );
        const done = await degradeLinks(this.runId, req.action, req.gray ?? {}, links);
        return {
          action: req.action,
          nodes: names,
          method: done.method,
          revert: this.hold(`take the ${req.action} proxies off ${names.join(', ')}`, done.revert),
        };
      }
      case 'stress': {
        const applied = await Promise.all(
          req.nodes.map(async (n) =>
            stressNode(this.runId, { name: n.name, pid: await this.pidOf(n.name) }, req.gray ?? {}),
          ),
        );
        return {
          action: 'stress',
          nodes: names,
          method: applied.map((a) => a.method).join('; '),
          revert: this.hold(`stop the stressors in ${names.join(', ')}`, async () => {
            for (const a of applied) await a.revert();
          }),
        };
      }
      default:
        throw new InfraError(
          'FAULT_UNSUPPORTED',
          `${req.action} cannot be done to a stack the harness attached to (it was refused when the scenario was loaded)`,
        );
    }
  }

  /** The service port a gray fault degrades: the node's first exposed TCP port. */
  private servicePort(node: string): number {
    const m = this.member(node);
    const port = this.exposed.get(m.id);
    if (!port) throw new InfraError('NO_PORT', `${node} exposes no TCP port to degrade`);
    return port;
  }

  /** Each container's first exposed TCP port, read when it is first needed. */
  private readonly exposed = new Map<string, number>();

  /** Reads what gray faults need before any fault (the exposed ports). */
  async inspectPorts(): Promise<void> {
    for (const m of this.byName.values()) {
      const info = await this.docker.getContainer(m.id).inspect();
      const port = Object.keys(info.Config.ExposedPorts ?? {})
        .filter((k) => k.endsWith('/tcp'))
        .map((k) => Number(k.split('/')[0]))
        .sort((a, b) => a - b)[0];
      if (port) this.exposed.set(m.id, port);
    }
  }

  private refollow(node: string): void {
    const m = this.byName.get(node);
    const log = this.logs.get(node);
    if (m && log) log.follow(this.docker, m.id, Math.floor(Date.now() / 1000)).catch(() => {});
  }

  async collectLogs(dir: string): Promise<void> {
    for (const log of this.logs.values()) log.write(dir);
  }

  release(): void {
    for (const log of this.logs.values()) log.stop();
  }

  /**
   * Undoes everything the harness's faults still hold (a pause, a stop, iptables rules, proxies,
   * stressors), then the run's own processes; never removes a container or a network. Safe to
   * call more than once, and at once from a forced teardown.
   */
  teardown(): Promise<void> {
    this.torn ??= this.undoAll();
    return this.torn;
  }

  forceTeardown(): Promise<void> {
    return this.teardown();
  }

  /** What the harness still holds in force on the user's stack, in words (none after teardown). */
  held(): string[] {
    return [...this.outstanding].map((o) => o.what);
  }

  private async undoAll(): Promise<void> {
    for (const log of this.logs.values()) log.stop();
    const errors: string[] = [];
    for (const o of [...this.outstanding])
      await this.runUndo(o).catch((err) => errors.push(`${o.what}: ${errorMessage(err)}`));
    // A revert the run began (a first Ctrl-C) finishes before the process may leave (a second).
    await Promise.allSettled([...this.undoing]);
    await killRunProcesses(this.runId).catch(() => 0);
    attachedRuns.delete(this.runId);
    if (errors.length)
      throw new InfraError('ATTACH_UNDO_FAILED', `could not undo on the user's stack: ${errors.join('; ')}`);
  }
}
