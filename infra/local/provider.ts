import { mkdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { getContainerRuntimeClient } from 'testcontainers';
import { HttpRegistry } from '../../agents/registry/http-client.ts';
import { REGISTRY_PORT } from '../../agents/registry/protocol.ts';
import { sleep } from '../../core/clock.ts';
import { ChaosError, InfraError, InterruptedError, errorMessage } from '../../core/errors.ts';
import { isNetworkGray } from '../../core/faults.ts';
import type {
  AppliedFault,
  ContainerPlan,
  Endpoint,
  ExecResult,
  FaultAsked,
  FaultRequest,
  ImageRef,
  NodePlan,
  NodeRef,
  PreflightCheck,
  Provider,
  ProvisionOptions,
  Stack,
  StackPlan,
} from '../../core/provider.ts';
import type { Registry } from '../../core/registry.ts';
import { attachedRun } from './attach.ts';
import { ContainerLog } from './container-logs.ts';
import {
  LABEL_AZ,
  LABEL_HARNESS,
  LABEL_HOST,
  LABEL_NODE,
  LABEL_PID,
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_SCENARIO,
  assertDockerReachable,
  dockerClient,
  removeByLabel,
} from './docker.ts';
import {
  containerIps,
  killContainers,
  partition,
  partitionUnsupportedReason,
  pauseContainers,
  processKillUnsupportedReason,
  startContainers,
  unpauseContainers,
} from './faults.ts';
import {
  degradeLinks,
  fillDisk,
  fillDiskUnsupportedReason,
  killRunProcesses,
  networkGrayUnsupportedReason,
  stressNode,
  stressUnsupportedReason,
} from './gray.ts';
import { type ImageChoice, resolveImages } from './images.ts';
import {
  type LoopVolume,
  createLoopVolume,
  freezeVolume,
  loopVolumeUnsupportedReason,
  removeRunVolumes,
  thawRun,
  thawVolume,
} from './loop-volumes.ts';
import { localPreflight } from './preflight.ts';
import { extractFirstFile, planEntries, tarOf } from './tar.ts';
import {
  type ZonePlan,
  createZonedNetwork,
  cutZone,
  removeZoneRules,
  zoneCutUnsupportedReason,
} from './zones.ts';

const STARTUP_TIMEOUT_MS = 30_000;

/**
 * The local provider: a stack plan carried out as containers on one Docker network per run,
 * via testcontainers. It knows containers, networks and volumes, never a system by name.
 */
/** How many times Docker restarts an agent that fails (its on-failure policy). */
const AGENT_MAX_RESTARTS = 10;

export class LocalProvider implements Provider {
  readonly name = 'local';
  private prepared: { docker: Docker; images: Record<string, ImageChoice> } | undefined;
  private readonly stacks = new Map<string, LocalStack>();

  supports(fault: FaultAsked): { ok: true } | { ok: false; reason: string } {
    const { action } = fault;
    const reason =
      action === 'partition'
        ? partitionUnsupportedReason()
        : action === 'kill-process'
          ? processKillUnsupportedReason()
          : isNetworkGray(action)
            ? networkGrayUnsupportedReason(action)
            : action === 'stress'
              ? stressUnsupportedReason()
              : action === 'fill-disk'
                ? fillDiskUnsupportedReason(loopVolumeUnsupportedReason())
                : undefined;
    if (reason) return { ok: false, reason };
    if (action === 'freeze-volume' && fault.method === 'fsfreeze') {
      // Demanded: no falling back to the cgroup freezer.
      const loop = loopVolumeUnsupportedReason();
      if (loop)
        return {
          ok: false,
          reason: `${loop}; or drop \`method: fsfreeze\` to freeze the node's processes instead`,
        };
    }
    if (action === 'drop-az' && fault.mode === 'network') {
      const zone = zoneCutUnsupportedReason();
      if (zone) return { ok: false, reason: `${zone}; mode: power needs only Docker` };
    }
    return { ok: true };
  }

  async preflight(images: readonly ImageRef[], faults: readonly FaultAsked[]): Promise<PreflightCheck[]> {
    return localPreflight(images, faults, (f) => this.supports(f));
  }

  async prepare(images: readonly ImageRef[]): Promise<void> {
    const docker = dockerClient();
    await assertDockerReachable(docker);
    this.prepared = { docker, images: await resolveImages(docker, images) };
  }

  async provision(plan: StackPlan, opts: ProvisionOptions): Promise<LocalStack> {
    // No reaper image can be had without a registry; the harness cleans up by its own labels.
    process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
    if (!this.prepared) throw new InfraError('NOT_PREPARED', 'provision() before prepare()');
    const { docker, images } = this.prepared;
    const stack = new LocalStack(docker, opts, images);
    this.stacks.set(opts.runId, stack);
    try {
      await stack.start(plan);
      return stack;
    } catch (err) {
      if (opts.logsDir) await stack.collectLogs(opts.logsDir).catch(() => {});
      await stack.teardown();
      // Stopped on purpose (a signal, the time limit): not a provisioning failure.
      if (opts.signal?.aborted) throw new InterruptedError(String(opts.signal.reason));
      if (err instanceof ChaosError) throw err;
      throw new InfraError(
        'PROVISION_FAILED',
        `could not bring the stack up: ${errorMessage(err).split('\n')[0]}`,
        {
          hint: "the nodes' logs are in the run folder; `chaos cleanup` removes any leftovers",
          cause: err,
        },
      );
    }
  }

  async forceTeardown(runId: string): Promise<void> {
    // A stack attached to: undo what the run did to the user's containers; nothing is removed.
    const attached = attachedRun(runId);
    if (attached) return attached.forceTeardown();
    const stack = this.stacks.get(runId);
    if (stack) await stack.forceTeardown();
    else {
      await thawRun(runId);
      await removeByLabel(this.prepared?.docker ?? dockerClient(), runId);
      await removeHostResources(runId);
    }
  }
}

/**
 * What a run has on the host beside the engine's objects: its zone rules and its loop-mounted
 * volumes. Call it once the run's containers are gone. Returns what it removed.
 */
export async function removeHostResources(runId: string): Promise<{ rules: number; volumes: number }> {
  // The gray faults' proxies and stressors first: a proxy holds its node's namespace.
  await killRunProcesses(runId);
  const rules = await removeZoneRules(runId);
  const volumes = await removeRunVolumes(runId);
  return { rules, volumes };
}

/** A container created (not yet started): its id, its plan and its log. */
interface Created {
  id: string;
  plan: ContainerPlan;
  log: ContainerLog;
  /** Its files, when another container copies them into the volume it mounts: done before it starts. */
  filesIn?: Promise<void>;
}

/**
 * Files several containers of a run carry alike (the agents' bundle), kept in one volume of the
 * run: copied in once, by the first container created with them, and mounted read-only by the
 * others at their folder. A copy into a created container is a few hundred ms of the engine's
 * time on a loaded machine; a 12-node chain has 13 containers with the same bundle.
 */
interface SharedFiles {
  volume: string;
  /** The one folder every file of the set goes to. */
  dir: string;
  /** Set once its first container copies the files in: resolved when they are there. */
  filled?: Promise<void>;
}

/** A promise resolved from outside: when a container has started. */
function whenStarted(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** At most this many engine calls that create or start containers at once (the engine's CPU). */
const ENGINE_CONCURRENCY = 8;

/**
 * Runs at most `limit` of the functions handed to it at once, in the order they came; an
 * urgent one (a start, on which readiness waits) goes before those waiting (creates).
 */
function limiter(limit: number): <T>(fn: () => Promise<T>, urgent?: boolean) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (fn, urgent = false) => {
    // A slot freed goes straight to the next in the queue.
    if (active >= limit) await new Promise<void>((r) => (urgent ? queue.unshift(r) : queue.push(r)));
    else active++;
    try {
      return await fn();
    } finally {
      const next = queue.shift();
      if (next) next();
      else active--;
    }
  };
}

interface Member {
  node: NodeRef;
  /** Main container first: it owns the network namespace the sidecars join. */
  ids: string[];
  ports: Record<number, Endpoint>;
}

/**
 * How the harness (its probes, observers, registry client and k6) reaches a run's containers:
 * at their addresses on the run's network, or at the ports they publish on the host. Published
 * ports on a local engine go through docker-proxy, a userspace copy of every byte in both
 * directions: at 1000 requests/s it took 0.16 of a core of the two on this machine, a hop in
 * every probe's latency, and its own failure mode (it accepts, then resets, when the container
 * behind it is gone). So the addresses are used wherever the host routes to them (a Linux
 * engine on this host), found by connecting to the first container that listens; published
 * ports otherwise (Docker Desktop, a rootless or remote engine, the harness in a container of
 * its own). `CHAOS_LOCAL_ENDPOINTS=published` or `=network` decides it instead.
 */
export async function directEndpoints(
  ip: string,
  port: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  const asked = env.CHAOS_LOCAL_ENDPOINTS;
  if (asked === 'published') return false;
  if (asked === 'network') return true;
  if (asked !== undefined && asked !== '')
    throw new InfraError(
      'BAD_ENDPOINTS',
      `CHAOS_LOCAL_ENDPOINTS=${asked} is neither 'network' nor 'published'`,
      { hint: 'unset it to let the harness choose, or set it to network or published' },
    );
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host: ip, port, timeout: 500 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

export class LocalStack implements Stack {
  readonly provider = 'local';
  readonly runId: string;
  private readonly members = new Map<string, Member>();
  private readonly logs: ContainerLog[] = [];
  private readonly logsById = new Map<string, ContainerLog>();
  /** The containers whose processes write a log file of their own (ContainerPlan.logFiles). */
  private readonly logFiles: {
    id: string;
    node: string;
    log: ContainerLog;
    files: { path: string; name: string }[];
  }[] = [];
  private registryEndpoint: Endpoint | undefined;
  /** The registry's container: a partition may cut a node off from it (`registry: true`). */
  private registryId: string | undefined;
  private readonly networkName: string;
  private torn = false;
  /** The network's zones (set once the network exists) and each node's fixed address. */
  private zones: ZonePlan | undefined;
  private readonly addresses = new Map<string, string>();
  /** How many nodes each zone has been given an address for (launches take the next one). */
  private readonly slots = new Map<string, number>();
  /** Zones a drop-az holds now: launches there fail, as on AWS. */
  private readonly impaired = new Set<string>();
  /** Disks on loop-mounted volumes (by volume name), when a volume is to be frozen. */
  private readonly loops = new Map<string, LoopVolume>();
  /** Each node's disks (volume names). */
  private readonly disks = new Map<string, string[]>();
  /** Loop mounts frozen now (thawed on revert and before teardown). */
  private readonly frozen = new Set<string>();
  /** Set once teardown begins: nothing new is created after it. */
  private closing = false;
  /** Containers a fault killed: their exit is the fault's doing, not news. */
  private readonly killedByHarness = new Set<string>();
  /** Container and network creations under way, so a forced teardown can wait them out. */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Creates, copies and starts on the engine, bounded. */
  private readonly engine = limiter(ENGINE_CONCURRENCY);
  /** The archive of each plan's files, built once per run (the agents' bundle is megabytes). */
  private readonly archives = new Map<string, Buffer>();
  /** The file sets several containers carry alike, by archive key, each in a volume of its own. */
  private readonly sharedFiles = new Map<string, SharedFiles>();
  /** Where the host reaches mapped ports, and its address families (as testcontainers finds them). */
  private runtimeHost: Promise<{ host: string; families: number[] }> | undefined;
  /**
   * Whether the harness reaches the containers at their addresses on the run's network (decided
   * once, on the first container that listens); see `directEndpoints`.
   */
  private direct: Promise<boolean> | undefined;
  /** When the last container of the plan was started (ms on the run's clock), for the timeline. */
  containersStartedAt: number | undefined;
  readonly images: Record<string, ImageChoice>;

  constructor(
    private readonly docker: Docker,
    private readonly opts: ProvisionOptions,
    images: Record<string, ImageChoice>,
  ) {
    this.runId = opts.runId;
    this.networkName = `chaos-${opts.runId}`;
    this.images = images;
  }

  /** On everything of the run: which run, which scenario, and which process on which host owns it. */
  private runLabels(): Record<string, string> {
    return {
      [LABEL_HARNESS]: 'true',
      [LABEL_RUN]: this.runId,
      [LABEL_SCENARIO]: this.opts.scenarioName ?? '',
      [LABEL_PID]: String(process.pid),
      [LABEL_HOST]: hostname(),
    };
  }

  /** Throws once the run is being stopped, so no new container is created. */
  private guard(): void {
    if (this.closing) throw new Error(`run ${this.runId} is being torn down`);
    if (this.opts.signal?.aborted) throw new InterruptedError(String(this.opts.signal.reason));
  }

  /** Creates something on the engine, on the record, so a forced teardown can wait for it. */
  private create<T>(make: () => Promise<T>): Promise<T> {
    this.guard();
    const p = make();
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private image(logical: string): string {
    const choice = this.images[logical];
    if (!choice) throw new InfraError('NO_IMAGE', `no image was prepared for '${logical}'`);
    return choice.image;
  }

  /** Where mapped ports are reached from here: testcontainers' answer (a gateway when in a container). */
  private hostOfPorts(): Promise<{ host: string; families: number[] }> {
    this.runtimeHost ??= getContainerRuntimeClient().then((c) => ({
      host: c.info.containerRuntime.host,
      families: c.info.containerRuntime.hostIps.map((ip) => ip.family),
    }));
    return this.runtimeHost;
  }

  /** What identifies a container plan's files and texts (undefined: it has none). */
  private archiveKey(c: ContainerPlan): string | undefined {
    if (!c.files?.length && !c.contents?.length) return undefined;
    return JSON.stringify([c.files ?? [], c.contents ?? []]);
  }

  /**
   * The file sets that several containers of the plan carry alike, all in one folder: each gets a
   * volume of the run (labelled like the rest, so cleanup finds it). Only `files` (programs and
   * scripts from the harness, which nothing rewrites), never `contents`: a generated config may
   * be the same on several nodes and still be each node's own (Sentinel rewrites its file, Redis
   * its own on CONFIG REWRITE), and a shared read-only folder would break them.
   */
  private async createSharedFiles(plan: StackPlan): Promise<void> {
    const count = new Map<string, { n: number; plan: ContainerPlan }>();
    for (const c of [plan.registry, ...plan.nodes.flatMap((n) => [n.main, ...n.sidecars])]) {
      const key = this.archiveKey(c);
      if (key && !c.contents?.length) count.set(key, { n: (count.get(key)?.n ?? 0) + 1, plan: c });
    }
    let i = 0;
    const made: Promise<unknown>[] = [];
    for (const [key, { n, plan: c }] of count) {
      if (n < 2) continue;
      const dirs = new Set((c.files ?? []).map((f) => f.target.replace(/\/[^/]*$/, '')));
      const dir = [...dirs][0];
      // Files in several folders, or at the root: copied into each container as before.
      if (dirs.size !== 1 || !dir || (c.volumes ?? []).some((v) => v.path === dir)) continue;
      const volume = `chaos-${this.runId}-files-${i++}`;
      this.sharedFiles.set(key, { volume, dir });
      made.push(this.create(() => this.docker.createVolume({ Name: volume, Labels: this.runLabels() })));
    }
    await Promise.all(made);
  }

  /** The tar of a container plan's files and texts, or undefined when it has none. */
  private archiveOf(c: ContainerPlan): Buffer | undefined {
    const key = this.archiveKey(c);
    if (!key) return undefined;
    let tar = this.archives.get(key);
    if (!tar) {
      tar = tarOf(planEntries(c.files, c.contents));
      this.archives.set(key, tar);
    }
    return tar;
  }

  /**
   * Creates one container of the plan with everything it needs before it starts: its place on
   * the run's network (or `shareWith`'s network namespace), its restart policy, and its files
   * (copied in before it starts). `shareWith` needs only to exist, not to run.
   */
  private async createContainer(
    node: { name: string; az: string; system: string },
    c: ContainerPlan,
    name: string,
    shareWith?: string,
  ): Promise<Created> {
    // Every node's fixed address in /etc/hosts (the sidecars share the main container's): no
    // failover path may wait on a name server. A killed node's name is unknown to Docker's DNS,
    // and without an upstream resolver the lookup hangs ~10 s (Postgres's WAL receiver did, while
    // promoting: `connect_timeout` does not bound a lookup).
    const address = this.addresses.get(node.name);
    const ports = c.ports ?? [];
    const key = this.archiveKey(c);
    const shared = key ? this.sharedFiles.get(key) : undefined;
    // The first container created with a shared set copies it into the set's volume.
    const fills = shared !== undefined && shared.filled === undefined;
    let filled = () => {};
    let failed: (err: unknown) => void = () => {};
    if (fills)
      shared.filled = new Promise<void>((resolve, reject) => {
        filled = resolve;
        failed = reject;
      });
    const opts: Docker.ContainerCreateOptions = {
      name,
      Image: this.image(c.image),
      Cmd: c.command,
      Env: Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: {
        ...this.runLabels(),
        [LABEL_NODE]: node.name,
        [LABEL_ROLE]: shareWith ? c.part : node.system,
        [LABEL_AZ]: node.az,
      },
      ...(c.user ? { User: c.user } : {}),
      ...(ports.length ? { ExposedPorts: Object.fromEntries(ports.map((p) => [`${p}/tcp`, {}])) } : {}),
      HostConfig: {
        NetworkMode: shareWith ? `container:${shareWith}` : this.networkName,
        ...(shareWith ? {} : { ExtraHosts: [...this.addresses].map(([host, ip]) => `${host}:${ip}`) }),
        ...(ports.length
          ? { PortBindings: Object.fromEntries(ports.map((p) => [`${p}/tcp`, [{ HostPort: '0' }]])) }
          : {}),
        ...(c.volumes?.length || shared
          ? {
              Binds: [
                ...(c.volumes ?? []).map(
                  (v) =>
                    `${this.loops.get(this.volumeName(node.name, v.name))?.hostPath ?? this.volumeName(node.name, v.name)}:${v.path}:rw`,
                ),
                // Its files from the run's volume: written by the first, read-only for the others.
                ...(shared ? [`${shared.volume}:${shared.dir}:${fills ? 'nocopy' : 'ro,nocopy'}`] : []),
              ],
            }
          : {}),
        // Docker restarts it when its process dies (as a supervisor would); set from the start.
        ...(c.restartOnFailure
          ? { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: AGENT_MAX_RESTARTS } }
          : {}),
      },
      ...(shareWith
        ? {}
        : {
            NetworkingConfig: {
              EndpointsConfig: {
                [this.networkName]: {
                  Aliases: [node.name],
                  ...(address ? { IPAMConfig: { IPv4Address: address } } : {}),
                },
              },
            },
          }),
    };
    const log = this.newLog(
      `${node.name === 'registry' ? 'registry' : `${node.name}.${c.part}`}.log`,
      c.events,
      node.name,
    );
    const archive = shared && !fills ? undefined : this.archiveOf(c);
    const made = this.create(() =>
      this.engine(async () => {
        // Queued while the run was being stopped: nothing new.
        this.guard();
        const made = await this.docker.createContainer(opts);
        if (archive) await made.putArchive(archive, { path: '/' });
        return made.id;
      }),
    );
    if (fills) made.then(() => filled(), failed);
    const id = await made;
    this.logsById.set(id, log);
    if (c.logFiles?.length) this.logFiles.push({ id, node: node.name, log, files: c.logFiles });
    return { id, plan: c, log, ...(shared && !fills ? { filesIn: shared.filled } : {}) };
  }

  /**
   * Starts a created container and waits for its ready line, read from the one stream that
   * keeps its log (it reacts to the line as it arrives). Returns its mapped ports and its
   * address on the run's network.
   */
  private async startCreated(
    created: Created,
    node: { name: string },
    onStarted?: () => void,
  ): Promise<{ ports: Record<number, Endpoint>; ip: string | undefined }> {
    const { id, plan: c, log } = created;
    const container = this.docker.getContainer(id);
    await created.filesIn;
    await this.create(() =>
      this.engine(async () => {
        this.guard();
        await container.start();
      }, true),
    );
    this.containersStartedAt = this.opts.clock.now();
    onStarted?.();
    // From the container's first line (a container that dies while starting leaves its log).
    await log.follow(this.docker, id);
    const ready = log.waitFor(c.readyLog, STARTUP_TIMEOUT_MS);
    ready.catch(() => {});
    const ports: Record<number, Endpoint> = {};
    let ip: string | undefined;
    if (c.ports?.length) {
      const { host, families } = await this.hostOfPorts();
      // The engine binds the ports as it starts the container; a moment later on a loaded engine.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const info = await container.inspect();
        ip = Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress || undefined;
        const bound = c.ports.map((p) => {
          const bindings = info.NetworkSettings.Ports?.[`${p}/tcp`] ?? [];
          const fit = bindings.find((b) => families.includes(b.HostIp.includes(':') ? 6 : 4)) ?? bindings[0];
          return [p, fit?.HostPort] as const;
        });
        if (bound.every(([, hp]) => hp)) {
          for (const [p, hp] of bound) ports[p] = { host, port: Number(hp) };
          break;
        }
        if (Date.now() > deadline)
          throw new Error(`${node.name}: the engine did not bind its ports within 10 s`);
        await sleep(50);
      }
    }
    try {
      await ready;
    } catch (err) {
      throw new Error(`${node.name} (${c.part}) did not become ready: ${errorMessage(err)}`);
    }
    if (ip && c.ports?.length) {
      this.direct ??= directEndpoints(ip, c.ports[0]!);
      if (await this.direct) for (const p of c.ports) ports[p] = { host: ip, port: p };
    }
    // Docker restarts it when its process dies: follow its output again when it does.
    if (c.restartOnFailure) log.onEnd = () => void this.followRestart(id, log, c.events, node.name);
    return { ports, ip };
  }

  /** A container's log, kept for the run folder; its JSON lines are events from `source`. */
  private newLog(fileName: string, source: string | undefined, node: string): ContainerLog {
    const onJson = (obj: Record<string, unknown>, from: string) => {
      const { t, type, node: n, ...data } = obj;
      if (typeof t !== 'number' || typeof type !== 'string') return;
      this.opts.onEvent({
        t: this.opts.clock.fromWall(t),
        source: from,
        type,
        node: typeof n === 'string' ? n : node,
        data,
      });
    };
    // Without a source its lines are not events, and none is parsed.
    const log = new ContainerLog(fileName, source === undefined ? undefined : (obj) => onJson(obj, source));
    this.logs.push(log);
    return log;
  }

  /** Follows a container that Docker restarts by its policy, for as long as the run lasts. */
  private async followRestart(
    id: string,
    log: ContainerLog,
    source: string | undefined,
    node: string,
  ): Promise<void> {
    const since = Math.floor(Date.now() / 1000);
    // Exited and not restarting, seen this long: Docker will not restart it (its policy says
    // no, or the restarts ran out). Between an exit and Docker's restart there is a moment in
    // which it is neither; Docker's own backoff shows as Restarting, however long it grows.
    const GONE_AFTER_MS = 1000;
    let exitedSince: number | undefined;
    while (!this.closing && !log.isStopped) {
      const state = await this.docker
        .getContainer(id)
        .inspect()
        .then((i) => i.State)
        .catch(() => undefined);
      if (!state) return;
      if (state.Running && !state.Restarting) {
        await log.follow(this.docker, id, since).catch(() => {});
        return;
      }
      // Killed by a fault: its revert (power on) follows it again.
      if (this.killedByHarness.has(id)) return;
      if (state.Restarting || state.Status !== 'exited') exitedSince = undefined;
      else if (exitedSince === undefined) exitedSince = Date.now();
      else if (Date.now() - exitedSince >= GONE_AFTER_MS) {
        // Gone for good, and not by the harness's hand: say so, or the node is silently unwatched.
        if (!this.closing && source) {
          const finished = Date.parse(state.FinishedAt);
          const restarts = await this.docker
            .getContainer(id)
            .inspect()
            .then((i) => i.RestartCount)
            .catch(() => undefined);
          this.opts.onEvent({
            // When it exited, not when the harness saw that it stayed down.
            t: Number.isFinite(finished) ? this.opts.clock.fromWall(finished) : this.opts.clock.now(),
            source,
            type: 'agent-exited',
            node,
            data: {
              exitCode: state.ExitCode,
              restarts: restarts ?? null,
              reason:
                state.ExitCode === 0
                  ? 'exited 0, which its restart policy (on-failure) does not restart'
                  : restarts !== undefined && restarts >= AGENT_MAX_RESTARTS
                    ? `out of restarts (on-failure, at most ${AGENT_MAX_RESTARTS})`
                    : `exited ${state.ExitCode} and was not restarted`,
            },
          });
        }
        return;
      }
      await sleep(200);
    }
  }

  /** After a restart: the new host ports, and the logs from now on (the old stream ended). */
  private async refreshAfterRestart(node: NodeRef): Promise<void> {
    const member = this.members.get(node.name);
    if (!member) return;
    const since = Math.floor(Date.now() / 1000);
    const info = await this.docker.getContainer(member.ids[0]!).inspect();
    const direct = await this.direct;
    const ip = Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress;
    for (const port of Object.keys(member.ports).map(Number)) {
      if (direct) {
        // Its address on the network (fixed in a zone; a regional node's may change).
        if (ip) member.ports[port] = { host: ip, port };
        continue;
      }
      const host = info.NetworkSettings.Ports?.[`${port}/tcp`]?.[0]?.HostPort;
      if (host) member.ports[port] = { host: member.ports[port]!.host, port: Number(host) };
    }
    for (const id of member.ids) await this.logsById.get(id)?.follow(this.docker, id, since);
  }

  private sharedVolumes = new Set<string>();
  /** Each node's server process name, for kill-process. */
  private readonly serverProcess = new Map<string, string>();

  /** A node's own volume, or the one every node of the stack shares. */
  private volumeName(node: string, name: string): string {
    return this.sharedVolumes.has(name)
      ? `chaos-${this.runId}-${name}`
      : `chaos-${this.runId}-${node}-${name}`;
  }

  /**
   * Whether disks go on loop-mounted ext4 volumes: when the run will freeze a volume and the
   * real freeze can be had (else freeze-volume falls back to the cgroup freezer, and says so).
   */
  private loopDisks(): boolean {
    return (
      (this.opts.faults ?? []).some(
        (f) => (f.action === 'freeze-volume' && f.method !== 'cgroup') || f.action === 'fill-disk',
      ) && loopVolumeUnsupportedReason() === undefined
    );
  }

  /**
   * Creates every volume of the plan: Docker volumes labelled like the containers, so cleanup
   * finds them; disks on loop-mounted volumes when one is to be frozen.
   */
  private async createVolumes(plan: StackPlan): Promise<void> {
    this.sharedVolumes = new Set(plan.sharedVolumes ?? []);
    const names = new Set<string>();
    const loops = new Set<string>();
    const onLoop = this.loopDisks();
    for (const n of plan.nodes)
      for (const c of [n.main, ...n.sidecars])
        for (const v of c.volumes ?? []) {
          const name = this.volumeName(n.name, v.name);
          if (v.disk && !this.sharedVolumes.has(v.name)) {
            this.diskPaths.set(name, v.path);
            const own = this.disks.get(n.name) ?? [];
            if (!own.includes(name)) this.disks.set(n.name, [...own, name]);
            if (onLoop) {
              loops.add(name);
              continue;
            }
          }
          names.add(name);
        }
    const made = await Promise.allSettled(
      [...loops].map((name) =>
        this.create(async () => {
          this.loops.set(name, await createLoopVolume(this.runId, name));
        }),
      ),
    );
    const failed = made.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (failed) {
      // Loop devices that cannot be had after all (no /dev/loopN in a container): Docker volumes
      // instead, and freeze-volume falls back to the cgroup freezer, saying why; unless the
      // scenario demands the real freeze.
      const why = `a loop-mounted volume could not be made: ${errorMessage(failed.reason).split('\n')[0]}`;
      if ((this.opts.faults ?? []).some((f) => f.action === 'freeze-volume' && f.method === 'fsfreeze'))
        throw new InfraError('LOOP_VOLUME_FAILED', why, {
          hint: "drop `method: fsfreeze` to freeze the node's processes instead",
        });
      this.loopFailure = why;
      await removeRunVolumes(this.runId).catch(() => {});
      for (const name of loops) names.add(name);
      this.loops.clear();
    }
    await Promise.all(
      [...names].map((Name) =>
        this.create(() => this.docker.createVolume({ Name, Labels: this.runLabels() })),
      ),
    );
  }

  /** Where each disk is mounted in its node. */
  private readonly diskPaths = new Map<string, string>();

  /**
   * Checks that a node really writes to its loop-mounted volume: the device of its data path,
   * seen inside the node, is the loop file system's. It is not when the Docker engine does not
   * see this process's mounts (the harness in a container of its own): a freeze would then
   * freeze a disk nobody uses.
   */
  private async assertOnLoop(node: string): Promise<void> {
    for (const v of this.disks.get(node) ?? []) {
      const loop = this.loops.get(v);
      const path = this.diskPaths.get(v);
      if (!loop || !path) continue;
      const host = statSync(loop.hostPath).dev;
      const seen = await this.exec(node, ['stat', '-c', '%d', path]);
      if (seen.exitCode !== 0 || Number(seen.output.trim()) !== host)
        throw new InfraError(
          'FREEZE_NOT_REAL',
          `${node}'s ${path} is not on its loop-mounted volume (device ${seen.output.trim() || '?'} in the node, ${host} on the host): the Docker engine does not see this process's mounts`,
          {
            hint: 'run the harness where the engine runs (not in a container of its own), or give the fault `method: cgroup`',
          },
        );
    }
  }

  /** Why the disks are not on loop-mounted volumes though a freeze was coming, if they are not. */
  private loopFailure: string | undefined;

  /**
   * Brings the plan up: the network (and the volumes beside it), then every container created
   * at once (bounded), each with its files copied in before it starts; then each started as
   * soon as what it needs is ready: the registry at once, a node's main container once the
   * nodes it comes `after` are ready, its sidecars (agents, which talk to the registry) once its
   * main container and the registry are ready, one after the other. A sidecar that waits for
   * them by itself (`startEarly`) starts as soon as their containers have started, so that its
   * boot overlaps theirs. The first failure fails the whole at once (an early sidecar whose
   * server never came up would otherwise be waited for until its own timeout).
   */
  async start(plan: StackPlan): Promise<void> {
    const t0 = this.opts.clock.now();
    void this.hostOfPorts().catch(() => {});
    const [zones] = await Promise.all([
      this.create(() => createZonedNetwork(this.docker, this.networkName, this.runLabels())),
      this.createVolumes(plan),
      this.createSharedFiles(plan),
    ]);
    this.zones = zones;
    // Each node of a zone a fixed address in its zone's range, in plan order; a node of no zone
    // (a regional service) takes one from the network's own range.
    for (const n of plan.nodes) this.assignAddress(n);
    const tNetwork = this.opts.clock.now();
    const registryNode = { name: 'registry', az: '-', system: 'registry' };
    const registryStarted = whenStarted();
    const registry = (async () => {
      const made = await this.createContainer(registryNode, plan.registry, `chaos-${this.runId}-registry`);
      const { ports } = await this.startCreated(made, registryNode, registryStarted.resolve);
      this.registryEndpoint = ports[REGISTRY_PORT];
      this.registryId = made.id;
    })();
    // Its container started (its address on the network taken), or its failure.
    const registryUp = Promise.race([registryStarted.promise, registry]);
    // Awaited only by the sidecars that start early; its failure is the registry's, reported
    // through `all` below (unobserved, an interrupted run printed it as a harness bug).
    registryUp.catch(() => {});
    // Created at once: a main container, then its sidecars (which name it as their network); a
    // main container does not wait for its sidecars to be created (their files copied in).
    const createdMains = new Map<string, Promise<Created>>();
    const createdSidecars = new Map<string, Promise<Created[]>>();
    for (const n of plan.nodes) {
      const main = this.createContainer(n, n.main, `chaos-${this.runId}-${n.name}`);
      createdMains.set(n.name, main);
      createdSidecars.set(
        n.name,
        main.then(({ id }) =>
          Promise.all(
            n.sidecars.map((s) => this.createContainer(n, s, `chaos-${this.runId}-${n.name}-${s.part}`, id)),
          ),
        ),
      );
    }
    const mains = new Map<string, Promise<Member>>();
    /** Each node's main container started (the network namespace its sidecars join), or its failure. */
    const mainsUp = new Map<string, Promise<unknown>>();
    for (const n of plan.nodes) {
      const mainStarted = whenStarted();
      const main = (async () => {
        const [main] = await Promise.all([
          createdMains.get(n.name)!,
          ...(n.after ?? []).map((dep) => mains.get(dep)),
        ]);
        return this.startMain(n, main, mainStarted.resolve);
      })();
      mains.set(n.name, main);
      const up = Promise.race([mainStarted.promise, main]);
      up.catch(() => {}); // as registryUp: the failure is main's, reported through `all`
      mainsUp.set(n.name, up);
    }
    const sidecars = plan.nodes.map(async (n) => {
      const made = await createdSidecars.get(n.name)!;
      for (const c of made) {
        await Promise.all(
          c.plan.startEarly ? [mainsUp.get(n.name), registryUp] : [mains.get(n.name), registry],
        );
        await this.startCreated(c, n);
      }
      (await mains.get(n.name)!).ids.push(...made.map((c) => c.id));
    });
    const all = [
      registry,
      ...createdMains.values(),
      ...createdSidecars.values(),
      ...mains.values(),
      ...sidecars,
    ];
    for (const p of all) p.catch(() => {});
    await Promise.all(all);
    // Before any fault: a freeze must freeze the disk the node writes to.
    if (this.loops.size) for (const n of plan.nodes) await this.assertOnLoop(n.name);
    this.guard();
    // What the engine's part took (network, volumes, every container created and started) and
    // what came after it (the containers' ready lines: agents joining, servers loading).
    const started = this.containersStartedAt ?? t0;
    const tEnd = this.opts.clock.now();
    this.opts.onEvent({
      t: tEnd,
      source: 'harness',
      type: 'containers-started',
      data: {
        containers: 1 + plan.nodes.reduce((k, n) => k + 1 + n.sidecars.length, 0),
        networkMs: Math.round(tNetwork - t0),
        startedMs: Math.round(started - t0),
        readyMs: Math.round(tEnd - t0),
      },
    });
  }

  private assignAddress(n: NodeRef): void {
    if (!this.zones || !/^[a-z]$/.test(n.az)) return;
    const slot = this.slots.get(n.az) ?? 0;
    this.slots.set(n.az, slot + 1);
    this.addresses.set(n.name, this.zones.address(n.az, slot));
  }

  /** Starts a node's created main container; the node joins the members once it is ready. */
  private async startMain(n: NodePlan, main: Created, onStarted?: () => void): Promise<Member> {
    const { ports, ip } = await this.startCreated(main, n, onStarted);
    if (n.main.process) this.serverProcess.set(n.name, n.main.process);
    if (!this.addresses.has(n.name)) {
      const found =
        ip ??
        Object.values((await this.docker.getContainer(main.id).inspect()).NetworkSettings.Networks ?? {})[0]
          ?.IPAddress;
      if (found) this.addresses.set(n.name, found);
    }
    const member = {
      node: { name: n.name, system: n.system, az: n.az, index: n.index },
      ids: [main.id],
      ports,
    };
    this.members.set(n.name, member);
    return member;
  }

  address(node: string): string {
    const a = this.addresses.get(node);
    if (!a) throw new InfraError('NO_SUCH_NODE', `no node '${node}' with an address in run ${this.runId}`);
    return a;
  }

  async running(node: string): Promise<boolean> {
    const id = this.members.get(node)?.ids[0];
    if (!id) return false;
    const info = await this.docker
      .getContainer(id)
      .inspect()
      .catch(() => undefined);
    // A frozen node's instance still runs (as an instance whose processes hang does).
    return Boolean(info?.State.Running);
  }

  impairedZones(): ReadonlySet<string> {
    return this.impaired;
  }

  async launch(plan: NodePlan): Promise<NodeRef> {
    if (this.impaired.has(plan.az))
      throw new InfraError(
        'INSUFFICIENT_CAPACITY',
        `cannot launch ${plan.name} in AZ ${plan.az}: the zone is lost (a drop-az holds it)`,
      );
    if (this.members.has(plan.name))
      throw new InfraError('NODE_EXISTS', `${plan.name} exists in run ${this.runId}`);
    this.assignAddress(plan);
    const main = await this.createContainer(plan, plan.main, `chaos-${this.runId}-${plan.name}`);
    const sidecars = await Promise.all(
      plan.sidecars.map((s) =>
        this.createContainer(plan, s, `chaos-${this.runId}-${plan.name}-${s.part}`, main.id),
      ),
    );
    const member = await this.startMain(plan, main);
    for (const c of sidecars) {
      await this.startCreated(c, plan);
      member.ids.push(c.id);
    }
    return member.node;
  }

  async terminate(node: string): Promise<void> {
    const member = this.members.get(node);
    if (!member) return;
    this.members.delete(node);
    for (const id of [...member.ids].reverse()) {
      this.logsById.get(id)?.stop();
      await this.docker
        .getContainer(id)
        .remove({ force: true, v: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
        });
    }
  }

  nodes(): NodeRef[] {
    return [...this.members.values()]
      .map((m) => m.node)
      .sort((a, b) => a.system.localeCompare(b.system) || a.index - b.index);
  }

  endpoint(node: string, port?: number): Endpoint {
    const m = this.members.get(node);
    const ep = m && (port === undefined ? Object.values(m.ports)[0] : m.ports[port]);
    if (!ep)
      throw new InfraError(
        'NO_SUCH_NODE',
        `no node '${node}' with ${port ? `port ${port}` : 'a port'} in run ${this.runId}`,
      );
    return ep;
  }

  registry(): Registry {
    if (!this.registryEndpoint) throw new InfraError('NO_REGISTRY', 'the registry is not running');
    return new HttpRegistry(`http://${this.registryEndpoint.host}:${this.registryEndpoint.port}`);
  }

  async exec(node: string, command: string[]): Promise<ExecResult> {
    const id = this.members.get(node)?.ids[0];
    if (!id) throw new InfraError('NO_SUCH_NODE', `no node '${node}' in run ${this.runId}`);
    const exec = await this.docker
      .getContainer(id)
      .exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    out.on('data', (d: Buffer) => chunks.push(d));
    this.docker.modem.demuxStream(stream, out, out);
    await new Promise<void>((resolve) => stream.on('end', () => resolve()));
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
  }

  private async kill(ids: string[]): Promise<void> {
    for (const id of ids) this.killedByHarness.add(id);
    await killContainers(this.docker, ids);
  }

  private idsOf(nodes: NodeRef[]): string[] {
    return nodes.flatMap((n) => this.members.get(n.name)?.ids ?? []);
  }

  async inject(req: FaultRequest): Promise<AppliedFault> {
    const names = req.nodes.map((n) => n.name);
    const ids = this.idsOf(req.nodes);
    // A process blocked on a frozen disk cannot die: a node is thawed before it is killed.
    if (
      req.action === 'kill' ||
      req.action === 'stop' ||
      (req.action === 'drop-az' && req.mode !== 'network')
    )
      await this.thawNodes(names);
    switch (req.action) {
      case 'kill':
        await this.kill(ids);
        return {
          action: 'kill',
          nodes: names,
          // A web head is one container; a Redis or Postgres node is its server and its agent.
          method:
            ids.length > names.length
              ? 'docker kill --signal SIGKILL (every container of the node at once: its server and its agent)'
              : 'docker kill --signal SIGKILL',
        };
      case 'stop':
        // A power loss: no graceful shutdown, then the node boots again with its volume.
        await this.kill(ids);
        return {
          action: 'stop',
          nodes: names,
          method: 'docker kill --signal SIGKILL (power off, no shutdown), docker start to revert',
          revert: () => this.powerOn(req.nodes),
        };
      case 'kill-process':
        return this.killProcess(req);
      case 'drop-az': {
        if (req.az) this.impaired.add(req.az);
        const restore = () => {
          if (req.az) this.impaired.delete(req.az);
        };
        if (req.mode === 'network') {
          const cut = await this.cutZoneOff(req).catch((err) => {
            restore();
            throw err;
          });
          return { ...cut, revert: () => cut.revert!().then(restore) };
        }
        // Power mode: every node of the zone off at once, and on again after the duration (the
        // network part of FIS's scenario is moot while they are off).
        await this.kill(ids);
        return {
          action: 'drop-az',
          nodes: names,
          method: `power off every node of AZ ${req.az ?? '?'} at once (docker kill --signal SIGKILL), docker start after the duration`,
          revert: () => this.powerOn(req.nodes).then(restore),
        };
      }
      case 'freeze-volume':
        return this.freezeDisks(req);
      case 'pause':
        await pauseContainers(this.docker, ids);
        return {
          action: 'pause',
          nodes: names,
          method: 'docker pause (cgroup freezer: processes stop, sockets stay open)',
          revert: () => unpauseContainers(this.docker, ids),
        };
      case 'latency':
      case 'bandwidth':
      case 'blackhole':
      case 'reset':
        return this.degrade(req, req.action);
      case 'stress': {
        const n = req.nodes[0]!;
        const disk = this.disks.get(n.name)?.[0];
        const applied = await Promise.all(
          req.nodes.map(async (node) =>
            stressNode(
              this.runId,
              {
                name: node.name,
                pid: await this.pidOf(node.name),
                dataPath: disk ? this.diskPaths.get(disk) : undefined,
              },
              req.gray ?? {},
            ),
          ),
        );
        return {
          action: 'stress',
          nodes: names,
          method: applied.map((a) => a.method).join('; '),
          revert: async () => {
            for (const a of applied) await a.revert();
          },
        };
      }
      case 'fill-disk': {
        const applied: { method: string; revert: () => Promise<void> }[] = [];
        for (const node of req.nodes) {
          const mount = this.diskMounts(node.name)[0];
          if (!mount)
            throw new InfraError(
              'NO_DISK',
              `${node.name} has no data disk of its own to fill${this.disks.get(node.name)?.length ? ` (its volume is not loop-mounted: ${this.loopFailure ?? loopVolumeUnsupportedReason() ?? 'unknown'})` : ': its system keeps its data inside the container'}`,
              {
                hint: 'fill the disk of a node whose system puts its data on a disk (pg; redis with `aof` on)',
              },
            );
          applied.push(await fillDisk(this.runId, node.name, mount, req.gray ?? {}));
        }
        return {
          action: 'fill-disk',
          nodes: names,
          method: applied.map((a) => a.method).join('; '),
          revert: async () => {
            for (const a of applied) await a.revert();
          },
        };
      }
      case 'partition': {
        const peers = req.peers ?? [];
        const peerIds = [...this.idsOf(peers), ...(req.registry && this.registryId ? [this.registryId] : [])];
        const peerIps = (await Promise.all(peerIds.map((id) => containerIps(this.docker, id)))).flat();
        const reverts = await Promise.all(
          req.nodes.map((n) =>
            partition(this.docker, this.members.get(n.name)!.ids[0]!, [...new Set(peerIps)]),
          ),
        );
        return {
          action: 'partition',
          nodes: names,
          method: `iptables DROP both ways in the nodes' network namespaces, against ${[...peers.map((p) => p.name), ...(req.registry ? ['the registry'] : [])].join(', ')}`,
          revert: async () => {
            for (const r of reverts) await r();
          },
        };
      }
    }
  }

  /** The host pid of a node's main process (its network, PID and cgroup namespaces). */
  private async pidOf(node: string): Promise<number> {
    const id = this.members.get(node)?.ids[0];
    const pid = id ? (await this.docker.getContainer(id).inspect()).State.Pid : 0;
    if (!pid) throw new InfraError('NOT_RUNNING', `${node} is not running`);
    return pid;
  }

  /**
   * latency, bandwidth, blackhole, reset: on the service port of each target for every client,
   * or, with peers, on the links between the targets and the peers both ways (each side's
   * service port, for the other side's addresses).
   */
  private async degrade(
    req: FaultRequest,
    action: 'latency' | 'bandwidth' | 'blackhole' | 'reset',
  ): Promise<AppliedFault> {
    const server = async (n: NodeRef) => {
      const port = Number(Object.keys(this.members.get(n.name)?.ports ?? {})[0]);
      if (!port) throw new InfraError('NO_PORT', `${n.name} serves no port to degrade`);
      return { name: n.name, pid: await this.pidOf(n.name), ip: this.address(n.name), port };
    };
    const ips = async (nodes: NodeRef[]) => [
      ...new Set((await Promise.all(this.idsOf(nodes).map((id) => containerIps(this.docker, id)))).flat()),
    ];
    const peers = req.peers ?? [];
    const links = peers.length
      ? [
          ...(await Promise.all(
            req.nodes.map(async (n) => ({ server: await server(n), clients: await ips(peers) })),
          )),
          ...(await Promise.all(
            peers
              .filter((p) => Object.keys(this.members.get(p.name)?.ports ?? {}).length)
              .map(async (p) => ({ server: await server(p), clients: await ips(req.nodes) })),
          )),
        ]
      : await Promise.all(req.nodes.map(async (n) => ({ server: await server(n), clients: 'all' as const })));
    const done = await degradeLinks(this.runId, action, req.gray ?? {}, links);
    return { action, nodes: req.nodes.map((n) => n.name), ...done };
  }

  /**
   * Freezes each node's disk: fsfreeze on its loop-mounted volume (writes and fsyncs block, the
   * processes run on), or, where that cannot be had, the cgroup freezer on the node's server
   * (everything it does stops; its agent runs on). The method is in the record.
   */
  private async freezeDisks(req: FaultRequest): Promise<AppliedFault> {
    const names = req.nodes.map((n) => n.name);
    for (const n of names)
      if (!this.disks.get(n)?.length)
        throw new InfraError(
          'NO_DISK',
          `${n} has no data disk to freeze: its system keeps its data inside the container`,
          { hint: 'freeze a node whose system puts its data on a disk (pg; redis with `aof` on)' },
        );
    const mounts = names.flatMap((n) =>
      (this.disks.get(n) ?? []).map((v) => this.loops.get(v)?.mountPoint).filter((m): m is string => !!m),
    );
    if (mounts.length === names.flatMap((n) => this.disks.get(n) ?? []).length) {
      const done: string[] = [];
      try {
        for (const m of mounts) {
          await freezeVolume(m);
          this.frozen.add(m);
          done.push(m);
        }
      } catch (err) {
        for (const m of done) await thawVolume(m).catch(() => {});
        throw err;
      }
      return {
        action: 'freeze-volume',
        nodes: names,
        method: `fsfreeze --freeze of ${names.join(', ')}'s data volume (loop-mounted ext4; writes and fsyncs block), fsfreeze --unfreeze to revert`,
        revert: async () => {
          for (const m of mounts) {
            await thawVolume(m);
            this.frozen.delete(m);
          }
        },
      };
    }
    if (req.method === 'fsfreeze')
      throw new InfraError(
        'FAULT_UNSUPPORTED',
        'the disks are not on loop-mounted volumes: fsfreeze cannot be had',
      );
    const mains = req.nodes.map((n) => this.members.get(n.name)?.ids[0]).filter((id): id is string => !!id);
    await pauseContainers(this.docker, mains);
    const why = loopVolumeUnsupportedReason() ?? this.loopFailure ?? 'the scenario asked for method: cgroup';
    return {
      action: 'freeze-volume',
      nodes: names,
      method: `cgroup freezer on ${names.join(', ')}'s server (docker pause; its agent runs on), as fsfreeze cannot be had: ${why}`,
      revert: () => unpauseContainers(this.docker, mains),
    };
  }

  private diskMounts(node: string): string[] {
    return (this.disks.get(node) ?? [])
      .map((v) => this.loops.get(v)?.mountPoint)
      .filter((m): m is string => !!m);
  }

  private async thawNodes(nodes: string[]): Promise<void> {
    for (const m of nodes.flatMap((n) => this.diskMounts(n)))
      if (this.frozen.has(m)) {
        await thawVolume(m);
        this.frozen.delete(m);
      }
  }

  /** Cuts every node of a zone off from everything outside it (other zones, the registry, the probes). */
  private async cutZoneOff(req: FaultRequest): Promise<AppliedFault> {
    if (!this.zones || !req.az) throw new InfraError('NO_ZONES', 'the run has no zoned network');
    const cidr = this.zones.cidr(req.az);
    const revert = await cutZone(this.runId, cidr);
    return {
      action: 'drop-az',
      nodes: req.nodes.map((n) => n.name),
      method: `iptables DROP between AZ ${req.az} (${cidr}) and everything outside it (other zones, the registry, the host's probes); its nodes keep running`,
      revert,
    };
  }

  /** Every node boots at once, as after a power loss. */
  private async powerOn(nodes: NodeRef[]): Promise<void> {
    await Promise.all(
      nodes.map(async (n) => {
        const ids = this.members.get(n.name)?.ids ?? [];
        await startContainers(this.docker, ids);
        // Only once they run: until then an exit seen is still the fault's.
        for (const id of ids) this.killedByHarness.delete(id);
        await this.refreshAfterRestart(n);
      }),
    );
  }

  /**
   * Kills one process of each node with a signal, from the host, as a crash would: the
   * server (found by name among the node's processes) or the agent (its container's first
   * process). The node stays up; its supervisor, or the agent's restart policy, brings the
   * process back.
   */
  private async killProcess(req: FaultRequest): Promise<AppliedFault> {
    const signal = (req.signal ?? 'SIGKILL') as NodeJS.Signals;
    const killed: string[] = [];
    for (const n of req.nodes) {
      const m = this.members.get(n.name);
      if (!m) continue;
      if (req.process === 'agent') {
        const id = m.ids[1];
        if (!id) throw new InfraError('NO_AGENT', `${n.name} has no agent to kill`);
        const pid = (await this.docker.getContainer(id).inspect()).State.Pid;
        if (!pid) throw new InfraError('NOT_RUNNING', `the agent of ${n.name} is not running`);
        process.kill(pid, signal);
        killed.push(`${n.name}: agent (pid ${pid})`);
      } else {
        const name = this.serverProcess.get(n.name);
        const top = (await this.docker.getContainer(m.ids[0]!).top({ ps_args: '-eo pid,args' })) as {
          Titles: string[];
          Processes: string[][];
        };
        const procs = top.Processes.map((p) => ({ pid: Number(p[0]), args: p[p.length - 1] ?? '' }))
          .filter((p) => (p.args.split(/\s+/)[0] ?? '').split('/').pop() === name)
          .sort((a, b) => a.pid - b.pid);
        const target = procs[0];
        if (!target) throw new InfraError('NO_SUCH_PROCESS', `no ${name} process runs in ${n.name}`);
        process.kill(target.pid, signal);
        killed.push(`${n.name}: ${name} (pid ${target.pid})`);
      }
    }
    return {
      action: 'kill-process',
      nodes: req.nodes.map((n) => n.name),
      method: `kill -${signal.replace('SIG', '')} from the host: ${killed.join(', ')}; the node stays up`,
    };
  }

  async collectLogs(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    for (const f of this.logFiles)
      for (const file of f.files) {
        const dest = join(dir, `${f.node}.${file.name}`);
        try {
          await this.copyOut(f.id, file.path, dest);
        } catch (err) {
          rmSync(dest, { force: true });
          // Said where its reader looks first: the container's own log beside it.
          f.log.note(`[chaos] ${file.path} was not copied to ${basename(dest)}: ${errorMessage(err)}`);
        }
      }
    for (const log of this.logs) log.write(dir);
  }

  /** Copies one file out of a container (also a stopped one) to `dest`, streamed; 60 s at most. */
  private async copyOut(id: string, path: string, dest: string): Promise<void> {
    const archive = (await this.docker.getContainer(id).getArchive({ path })) as unknown as Readable;
    const timer = setTimeout(() => archive.destroy(new Error('not copied within 60 s')), 60_000);
    try {
      if ((await extractFirstFile(archive, dest)) === undefined) throw new Error('it is not a regular file');
    } finally {
      clearTimeout(timer);
    }
  }

  release(): void {
    for (const log of this.logs) log.stop();
  }

  async teardown(): Promise<void> {
    if (this.torn) return;
    this.torn = true;
    this.closing = true;
    for (const log of this.logs) log.stop();
    await Promise.allSettled([...this.inflight]);
    // A process that writes to a frozen volume cannot die until it is thawed.
    await thawRun(this.runId);
    try {
      await removeByLabel(this.docker, this.runId);
    } finally {
      await removeHostResources(this.runId);
    }
  }

  /**
   * Removes everything of the run while creations may still be under way: nothing new starts,
   * what exists is removed at once (which also makes a container waiting for its log fail
   * fast), and removal repeats until every creation has settled (15 s at most).
   */
  async forceTeardown(): Promise<void> {
    this.closing = true;
    for (const log of this.logs) log.stop();
    await thawRun(this.runId);
    const deadline = Date.now() + 15_000;
    for (;;) {
      await removeByLabel(this.docker, this.runId).catch(() => {});
      if (this.inflight.size === 0 || Date.now() > deadline) break;
      await Promise.race([Promise.allSettled([...this.inflight]), sleep(250)]);
    }
    await thawRun(this.runId);
    try {
      await removeByLabel(this.docker, this.runId);
    } finally {
      await removeHostResources(this.runId);
    }
  }
}
