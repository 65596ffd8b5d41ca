import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { bundleAgents } from '../../agents/bundle.ts';
import { HttpRegistry } from '../../agents/registry/http-client.ts';
import { REGISTRY_PORT } from '../../agents/registry/protocol.ts';
import { sleep } from '../../core/clock.ts';
import { ChaosError, InfraError, InterruptedError, errorMessage } from '../../core/errors.ts';
import type { Registry } from '../../core/registry.ts';
import type { FaultAction, RedisStackSpec } from '../../scenarios/schema.ts';
import { redisNodeNames } from '../../systems/redis/layout.ts';
import { readChain } from '../../systems/redis/records.ts';
import type {
  AppliedFault,
  Endpoint,
  FaultRequest,
  Provider,
  ProvisionOptions,
  RedisNodeState,
  Stack,
  StackNode,
  TopologySnapshot,
} from '../stack.ts';
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
  startContainers,
  unpauseContainers,
} from './faults.ts';
import { type ImageChoice, type ImageName, resolveImages } from './images.ts';

const REDIS_PORT = 6379;
const BUNDLE_TARGET = '/opt/chaos/agents.cjs';
const STARTUP_TIMEOUT_MS = 30_000;

/** The local provider: the stack as containers on one Docker network per run, via testcontainers. */
export class LocalProvider implements Provider {
  readonly name = 'local';

  supports(action: FaultAction): { ok: true } | { ok: false; reason: string } {
    if (action === 'partition') {
      const reason = partitionUnsupportedReason();
      if (reason) return { ok: false, reason };
    }
    return { ok: true };
  }

  private prepared: { docker: Docker; images: Record<ImageName, ImageChoice>; bundle: string } | undefined;

  async prepare(): Promise<void> {
    const docker = dockerClient();
    await assertDockerReachable(docker);
    const images = await resolveImages(docker);
    const bundle = await bundleAgents();
    this.prepared = { docker, images, bundle };
  }

  private readonly stacks = new Map<string, LocalStack>();

  async provisionRedisChain(spec: RedisStackSpec, opts: ProvisionOptions): Promise<LocalStack> {
    // No reaper image can be had without a registry; the harness cleans up by its own labels.
    process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
    if (!this.prepared) await this.prepare();
    const { docker, images, bundle } = this.prepared!;
    const stack = new LocalStack(docker, opts, images);
    this.stacks.set(opts.runId, stack);
    try {
      await stack.start(spec, bundle);
      return stack;
    } catch (err) {
      await stack.teardown();
      // Stopped on purpose (a signal, the time limit): not a provisioning failure.
      if (opts.signal?.aborted) throw new InterruptedError(String(opts.signal.reason));
      if (err instanceof ChaosError) throw err;
      throw new InfraError(
        'PROVISION_FAILED',
        `could not bring up the Redis chain: ${errorMessage(err).split('\n')[0]}`,
        {
          hint: "the nodes' logs are in the run folder; `chaos cleanup` removes any leftovers",
          cause: err,
        },
      );
    }
  }

  async forceTeardown(runId: string): Promise<void> {
    const stack = this.stacks.get(runId);
    if (stack) await stack.forceTeardown();
    else await removeByLabel(this.prepared?.docker ?? dockerClient(), runId);
  }
}

interface NodeContainers {
  node: StackNode;
  /** The container that owns the network namespace first; the agent joins it. */
  ids: string[];
  endpoint?: Endpoint;
}

export class LocalStack implements Stack {
  readonly provider = 'local';
  readonly runId: string;
  private readonly members = new Map<string, NodeContainers>();
  private readonly logs: ContainerLog[] = [];
  private readonly logsById = new Map<string, ContainerLog>();
  private registryEndpoint: Endpoint | undefined;
  private networkName: string;
  private torn = false;
  /** Set once teardown begins: nothing new is created after it. */
  private closing = false;
  /** Container and network creations under way, so a forced teardown can wait them out. */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly docker: Docker,
    private readonly opts: ProvisionOptions,
    readonly images: Record<ImageName, ImageChoice>,
  ) {
    this.runId = opts.runId;
    this.networkName = `chaos-${opts.runId}`;
  }

  private labels(node: string, role: string, az: string): Record<string, string> {
    return {
      ...this.runLabels(),
      [LABEL_NODE]: node,
      [LABEL_ROLE]: role,
      [LABEL_AZ]: az,
    };
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

  private async follow(
    c: StartedTestContainer,
    fileName: string,
    source: string,
    node: string,
  ): Promise<void> {
    const log = new ContainerLog(fileName, (obj) => {
      const { t, type, node: n, ...data } = obj;
      if (typeof t !== 'number' || typeof type !== 'string') return;
      this.opts.onEvent({
        t: this.opts.clock.fromWall(t),
        source,
        type,
        node: typeof n === 'string' ? n : node,
        data,
      });
    });
    this.logs.push(log);
    this.logsById.set(c.getId(), log);
    await log.follow(this.docker, c.getId());
  }

  /** After a restart: the new host port, and the logs from now on (the old stream ended). */
  private async refreshAfterRestart(node: StackNode): Promise<void> {
    const member = this.members.get(node.name);
    if (!member) return;
    const since = Math.floor(Date.now() / 1000);
    const info = await this.docker.getContainer(member.ids[0]!).inspect();
    const port = info.NetworkSettings.Ports?.[`${REDIS_PORT}/tcp`]?.[0]?.HostPort;
    if (member.endpoint && port) member.endpoint = { host: member.endpoint.host, port: Number(port) };
    for (const id of member.ids) await this.logsById.get(id)?.follow(this.docker, id, since);
  }

  async start(spec: RedisStackSpec, bundle: string): Promise<void> {
    await this.create(() =>
      this.docker.createNetwork({
        Name: this.networkName,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: this.runLabels(),
      }),
    );
    const nodes = redisNodeNames(spec.nodes, spec.azs);

    const registry = (async () => {
      const c = await this.create(() =>
        new GenericContainer(this.images.node.image)
          .withNetworkMode(this.networkName)
          .withNetworkAliases('registry')
          .withName(`chaos-${this.runId}-registry`)
          .withLabels(this.labels('registry', 'registry', '-'))
          .withEnvironment({ CHAOS_ENTRY: 'registry', REGISTRY_PORT: String(REGISTRY_PORT) })
          .withCopyFilesToContainer([{ source: bundle, target: BUNDLE_TARGET }])
          .withCommand(['node', BUNDLE_TARGET])
          .withExposedPorts(REGISTRY_PORT)
          .withWaitStrategy(Wait.forLogMessage(/registry-ready/))
          .withStartupTimeout(STARTUP_TIMEOUT_MS)
          .start(),
      );
      this.registryEndpoint = { host: c.getHost(), port: c.getMappedPort(REGISTRY_PORT) };
      this.members.set('registry', {
        node: { name: 'registry', role: 'registry', az: '-' },
        ids: [c.getId()],
      });
      await this.follow(c, 'registry.log', 'registry', 'registry');
    })();

    const redises = nodes.map(async (node) => {
      const c = await this.create(() =>
        new GenericContainer(this.images.redis.image)
          .withNetworkMode(this.networkName)
          .withNetworkAliases(node.name)
          .withName(`chaos-${this.runId}-${node.name}`)
          .withLabels(this.labels(node.name, 'redis', node.az))
          .withCommand([
            'redis-server',
            '--port',
            String(REDIS_PORT),
            '--protected-mode',
            'no',
            '--save',
            '',
            '--appendonly',
            'no',
            // Replicas sync at once instead of waiting 5 s for company.
            '--repl-diskless-sync',
            'yes',
            '--repl-diskless-sync-delay',
            '0',
            '--repl-timeout',
            '5',
            // Every node boots read-only (a replica of nothing that answers) until its agent
            // places it: a node back from a power loss is never an empty master taking writes.
            '--replicaof',
            '127.0.0.1',
            '1',
          ])
          .withExposedPorts(REDIS_PORT)
          .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
          .withStartupTimeout(STARTUP_TIMEOUT_MS)
          .start(),
      );
      this.members.set(node.name, {
        node,
        ids: [c.getId()],
        endpoint: { host: c.getHost(), port: c.getMappedPort(REDIS_PORT) },
      });
      await this.follow(c, `${node.name}.redis.log`, `redis:${node.name}`, node.name);
      return c;
    });

    const started = await Promise.allSettled([registry, ...redises]);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;

    // The agents start together; JOIN_INDEX makes each wait for its place, so the chain runs
    // in AZ order: redis-a -> redis-b -> redis-c.
    const agents = nodes.map(async (node) => {
      const member = this.members.get(node.name)!;
      const c = await this.create(() =>
        new GenericContainer(this.images.node.image)
          .withNetworkMode(`container:${member.ids[0]}`)
          .withName(`chaos-${this.runId}-${node.name}-agent`)
          .withLabels(this.labels(node.name, 'agent', node.az))
          .withEnvironment({
            CHAOS_ENTRY: 'redis-chain-agent',
            NODE_NAME: node.name,
            REDIS_PORT: String(REDIS_PORT),
            REGISTRY_URL: `http://registry:${REGISTRY_PORT}`,
            THRESHOLD_MS: String(spec.failoverThresholdMs),
            CHECK_INTERVAL_MS: String(spec.checkIntervalMs),
            PING_TIMEOUT_MS: String(spec.pingTimeoutMs),
            HEAD_TTL_MS: String(spec.headRecordTtlMs),
            JOIN_INDEX: String(node.index),
          })
          .withCopyFilesToContainer([{ source: bundle, target: BUNDLE_TARGET }])
          .withCommand(['node', BUNDLE_TARGET])
          .withWaitStrategy(Wait.forLogMessage(/"agent-ready"/))
          .withStartupTimeout(STARTUP_TIMEOUT_MS)
          .start(),
      );
      member.ids.push(c.getId());
      await this.follow(c, `${node.name}.agent.log`, `agent:${node.name}`, node.name);
    });
    const joined = await Promise.allSettled(agents);
    const joinFailed = joined.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (joinFailed) throw joinFailed.reason;

    await this.waitForReplication(nodes);
  }

  /** Every replica's link to its master is up: the chain is whole before any probe starts. */
  private async waitForReplication(nodes: StackNode[]): Promise<void> {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      this.guard();
      const t = await this.topology();
      const replicas = t.nodes.filter((n) => n.name !== t.head);
      if (t.head && t.chain.length === nodes.length && replicas.every((n) => n.role === 'slave' && n.linkUp))
        return;
      if (Date.now() > deadline) {
        const unlinked = replicas.filter((n) => !(n.role === 'slave' && n.linkUp)).map((n) => n.name);
        throw new InfraError(
          'CHAIN_NOT_FORMED',
          `the Redis chain did not form within ${STARTUP_TIMEOUT_MS} ms: head ${t.head ?? 'none'}, chain ${t.chain.join(' -> ') || 'empty'}, not replicating: ${unlinked.join(', ') || 'none'}`,
          {
            hint: "see the agents' and redis logs in the run folder's logs/; `chaos cleanup` removes leftovers",
          },
        );
      }
      await sleep(50);
    }
  }

  /** Redis nodes in chain order of provisioning, then the registry. */
  nodes(): StackNode[] {
    const order = (n: StackNode) => (n.role === 'registry' ? Number.MAX_SAFE_INTEGER : (n.index ?? 0));
    return [...this.members.values()].map((m) => m.node).sort((a, b) => order(a) - order(b));
  }

  endpoint(node: string): Endpoint {
    const ep = this.members.get(node)?.endpoint;
    if (!ep) throw new InfraError('NO_SUCH_NODE', `no node '${node}' with an endpoint in run ${this.runId}`);
    return ep;
  }

  registry(): Registry {
    if (!this.registryEndpoint) throw new InfraError('NO_REGISTRY', 'the registry is not running');
    return new HttpRegistry(`http://${this.registryEndpoint.host}:${this.registryEndpoint.port}`);
  }

  private idsOf(nodes: StackNode[]): string[] {
    return nodes.flatMap((n) => this.members.get(n.name)?.ids ?? []);
  }

  async inject(req: FaultRequest): Promise<AppliedFault> {
    const names = req.nodes.map((n) => n.name);
    const ids = this.idsOf(req.nodes);
    switch (req.action) {
      case 'kill':
        await killContainers(this.docker, ids);
        return {
          action: 'kill',
          nodes: names,
          method: 'docker kill --signal SIGKILL (redis and agent together)',
        };
      case 'stop':
        // A power loss: no graceful shutdown, then the node boots again with its volume.
        await killContainers(this.docker, ids);
        return {
          action: 'stop',
          nodes: names,
          method: 'docker kill --signal SIGKILL (power off, no shutdown), docker start to revert',
          revert: async () => {
            // Every node of the fault boots at once, as after a power loss.
            await Promise.all(
              req.nodes.map(async (n) => {
                await startContainers(this.docker, this.members.get(n.name)?.ids ?? []);
                await this.refreshAfterRestart(n);
              }),
            );
          },
        };
      case 'pause':
        await pauseContainers(this.docker, ids);
        return {
          action: 'pause',
          nodes: names,
          method: 'docker pause (cgroup freezer: processes stop, sockets stay open)',
          revert: () => unpauseContainers(this.docker, ids),
        };
      case 'partition': {
        const peers = req.peers ?? [];
        const peerIps = (
          await Promise.all(this.idsOf(peers).map((id) => containerIps(this.docker, id)))
        ).flat();
        const reverts = await Promise.all(
          req.nodes.map((n) =>
            partition(this.docker, this.members.get(n.name)!.ids[0]!, [...new Set(peerIps)]),
          ),
        );
        return {
          action: 'partition',
          nodes: names,
          method: `iptables DROP both ways in the nodes' network namespaces, against ${peers.map((p) => p.name).join(', ')}`,
          revert: async () => {
            for (const r of reverts) await r();
          },
        };
      }
    }
  }

  async topology(): Promise<TopologySnapshot> {
    const redisNodes = this.nodes().filter((n) => n.role === 'redis');
    const [records, nodes] = await Promise.all([
      readChain(this.registry()),
      Promise.all(redisNodes.map((n) => this.redisState(n))),
    ]);
    return { ...records, nodes };
  }

  private async redisState(node: StackNode): Promise<RedisNodeState> {
    const ep = this.endpoint(node.name);
    const client = new Redis({
      host: ep.host,
      port: ep.port,
      lazyConnect: true,
      connectTimeout: 300,
      commandTimeout: 300,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      const info = await client.info('replication');
      const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
      const role = field('role') === 'slave' ? 'slave' : 'master';
      return {
        name: node.name,
        az: node.az,
        reachable: true,
        role,
        ...(role === 'slave'
          ? { master: field('master_host'), linkUp: field('master_link_status') === 'up' }
          : {}),
      };
    } catch {
      return { name: node.name, az: node.az, reachable: false };
    } finally {
      client.disconnect();
    }
  }

  async collectLogs(dir: string): Promise<void> {
    for (const log of this.logs) log.write(dir);
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
    await removeByLabel(this.docker, this.runId);
  }

  /**
   * Removes everything of the run while creations may still be under way: nothing new starts,
   * what exists is removed at once (which also makes a container waiting for its log fail
   * fast), and removal repeats until every creation has settled (15 s at most).
   */
  async forceTeardown(): Promise<void> {
    this.closing = true;
    for (const log of this.logs) log.stop();
    const deadline = Date.now() + 15_000;
    for (;;) {
      await removeByLabel(this.docker, this.runId).catch(() => {});
      if (this.inflight.size === 0 || Date.now() > deadline) break;
      await Promise.race([Promise.allSettled([...this.inflight]), sleep(250)]);
    }
    await removeByLabel(this.docker, this.runId);
  }
}
