import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_IMAGE, bundleAgents } from '../../agents/bundle.ts';
import { HttpRegistry } from '../../agents/registry/http-client.ts';
import { REGISTRY_PORT } from '../../agents/registry/protocol.ts';
import { withTimeout } from '../../core/clock.ts';
import type { NodePlan, StackPlan } from '../../core/provider.ts';
import { type Asset, renderUserData, stackAssets } from '../../infra/aws/user-data.ts';
import {
  LABEL_HARNESS,
  LABEL_HOST,
  LABEL_NODE,
  LABEL_PID,
  LABEL_ROLE,
  LABEL_RUN,
  countLeftovers,
  dockerClient,
  removeByLabel,
} from '../../infra/local/docker.ts';
import { resolveImages } from '../../infra/local/images.ts';
import { SYSTEMS, systemNamed } from '../../systems/index.ts';

/**
 * The user data of one node, run without an AWS account: a Debian container (the "instance",
 * chaos-local/debian:bookworm) runs the script cloud-init would run, as root, with the host's
 * Docker socket and the static docker client mounted, so its `docker run`s make sibling
 * containers on this engine. The node is pg-a, the first Postgres primary: its server under
 * node.sh with a data disk, a per-node volume it shares with its promotion agent, a shared
 * volume (the WAL archive), two files from the assets (node.sh, the agents' bundle), and an
 * agent in its network namespace that needs the endpoint registry to be ready (`agent-ready`
 * comes once it holds the writer record); the registry is started as infra/local starts it.
 *
 * What it proves: the script installs what the image lacks with the package manager it finds
 * (curl, through apt-get; Docker is there), fetches its assets over HTTP from this test, creates
 * the containers in order with their files, volumes, environment, labels and restart policy,
 * waits for each ready line, and says `chaos-node-ready pg-a`; the agent takes the writer
 * record; run again it changes nothing; after a stop (the containers stopped, as at an
 * instance's shutdown) the boot script the systemd unit runs brings them back with their data,
 * without fetching the assets again. Everything it started is removed by its labels.
 *
 * What it cannot prove here: EC2 itself (IMDS, the EBS device's discovery, formatting and
 * tagging, the EFS mount, the Route 53 record of the node's own name, cfn-signal, systemd at a
 * reboot), and Amazon Linux's dnf path: the instance is a container on a shared engine, so its
 * disks are folders (`disks: directory`) and its network a Docker network (`network: bridge`).
 */

const run = promisify(execFile);
const docker = dockerClient();
const RUN_ID = `boot${Math.random().toString(16).slice(2, 8)}`;
const NETWORK = `chaos-${RUN_ID}`;
const INSTANCE = `chaos-${RUN_ID}-instance`;
const DEBIAN = 'chaos-local/debian:bookworm';
const BUNDLE_TARGET = '/opt/chaos/agents.cjs';
/** Owned by this process, so no `chaos cleanup` running beside the test takes it for stale. */
const LABELS = { [LABEL_PID]: String(process.pid), [LABEL_HOST]: hostname() };
const RUN_LABELS = { [LABEL_HARNESS]: 'true', [LABEL_RUN]: RUN_ID, ...LABELS };

/** Why the instance cannot be had here, or undefined. */
async function instanceUnsupported(): Promise<string | undefined> {
  try {
    await withTimeout(docker.ping(), 3000, 'no answer in 3000 ms');
  } catch (err) {
    return `no Docker engine reachable (${(err as Error).message}); start dockerd or set DOCKER_HOST`;
  }
  try {
    await resolveImages(docker, nodeImages());
  } catch (err) {
    return (err as Error).message;
  }
  if (
    !(await docker
      .getImage(DEBIAN)
      .inspect()
      .then(
        () => true,
        () => false,
      ))
  )
    return `image ${DEBIAN} is missing; bash docker/build-images.sh builds it`;
  if (!existsSync('/var/run/docker.sock')) return 'no /var/run/docker.sock to give the instance';
  const probe = await run('docker', [
    'run',
    '--rm',
    '-v',
    `${dockerCli()}:/usr/bin/docker:ro`,
    DEBIAN,
    'bash',
    '-c',
    'docker --version >/dev/null || exit 3; timeout 5 bash -c "exec 3<>/dev/tcp/deb.debian.org/80" || exit 4',
  ]).then(
    () => 0,
    (e: { code?: number }) => e.code ?? 1,
  );
  if (probe === 3)
    return `the docker client ${dockerCli()} does not run in Debian (it is not a static binary)`;
  if (probe === 4)
    return 'the Debian mirror cannot be reached from a container (the user data installs curl with apt-get)';
  return probe === 0 ? undefined : `the ${DEBIAN} container failed (${probe})`;
}
/** The images pg-a runs: Postgres and the node image (its agent), the local ones where they are built. */
function nodeImages() {
  return [...systemNamed('pg')!.images, NODE_IMAGE];
}
function dockerCli(): string {
  for (const p of ['/usr/local/bin/docker', '/usr/bin/docker']) if (existsSync(p)) return realpathSync(p);
  return 'docker';
}

const unsupported = await instanceUnsupported();
if (unsupported) console.warn(`aws-bootstrap skipped: ${unsupported}`);
const skip = unsupported ? ` (skipped: ${unsupported})` : '';

/** Runs a command in the instance: its exit code and its output (stdout and stderr). */
async function inInstance(cmd: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('docker', ['exec', INSTANCE, ...cmd], {
      maxBuffer: 32 * 1024 * 1024,
      timeout: 300_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}
const inspect = (name: string) => docker.getContainer(name).inspect();
const logsOf = async (name: string) => {
  const { stdout, stderr } = await run('docker', ['logs', name], { maxBuffer: 32 * 1024 * 1024 });
  return stdout + stderr;
};

describe.skipIf(unsupported !== undefined)(`a node's user data, run in a Debian instance${skip}`, () => {
  const main = `chaos-${RUN_ID}-pg-a`;
  const agent = `chaos-${RUN_ID}-pg-a-agent`;
  let dataRoot = '';
  let node: NodePlan;
  let assets: Asset[] = [];
  const fetched: string[] = [];
  let server: Server | undefined;
  let registry: StartedTestContainer | undefined;
  let userData = '';

  beforeAll(async () => {
    process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
    // The host path of every volume is the same inside the instance: the engine resolves it.
    dataRoot = realpathSync(mkdtempSync('/tmp/chaos-boot-'));
    const bundle = await bundleAgents(Object.assign({}, ...SYSTEMS.map((s) => s.agents)));
    const pg = systemNamed('pg')!;
    const ctx = {
      runId: RUN_ID,
      registryUrl: `http://registry:${REGISTRY_PORT}`,
      bundle: { source: bundle, target: BUNDLE_TARGET },
    };
    const nodes = pg.plan(pg.spec.parse({ nodes: 3 }), ctx);
    node = nodes.find((n) => n.name === 'pg-a')!;
    const plan: StackPlan = {
      registry: node.main,
      nodes: [node],
      sharedVolumes: [...(pg.sharedVolumes ?? [])],
    };
    assets = stackAssets(plan);

    // The assets, over HTTP, as infra up puts them under the run's prefix.
    server = createServer((req, res) => {
      const key = decodeURIComponent((req.url ?? '').replace(`/${RUN_ID}/`, ''));
      const asset = assets.find((a) => a.key === key);
      fetched.push(key);
      if (!asset) return void res.writeHead(404).end();
      res.writeHead(200).end(asset.source ? readFileSync(asset.source) : asset.content);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;

    const images = await resolveImages(docker, nodeImages());
    const imageOf = Object.fromEntries(Object.entries(images).map(([k, v]) => [k, v.image]));
    await docker.createNetwork({ Name: NETWORK, Labels: RUN_LABELS });
    // The endpoint registry, as infra/local starts it (on AWS the private zone is the registry).
    registry = await new GenericContainer(imageOf.node!)
      .withName(`chaos-${RUN_ID}-registry`)
      .withNetworkMode(NETWORK)
      .withNetworkAliases('registry')
      .withLabels({ ...RUN_LABELS, [LABEL_NODE]: 'registry' })
      .withEnvironment({ CHAOS_ENTRY: 'registry', REGISTRY_PORT: String(REGISTRY_PORT) })
      .withCopyFilesToContainer([{ source: bundle, target: BUNDLE_TARGET }])
      .withCommand(['node', BUNDLE_TARGET])
      .withExposedPorts(REGISTRY_PORT)
      .withWaitStrategy(Wait.forLogMessage(/registry-ready/))
      .start();

    userData = renderUserData(
      node,
      {
        runId: RUN_ID,
        scenario: 'aws-bootstrap',
        images: imageOf,
        disks: 'directory',
        sharedVolumes: pg.sharedVolumes ?? [],
        dataRoot,
        network: { bridge: NETWORK },
        labels: LABELS,
        readyTimeoutSec: 120,
      },
      { assets: `http://127.0.0.1:${port}/${RUN_ID}` },
    );
    writeFileSync(join(dataRoot, 'user-data.sh'), userData);
    // The instance: Debian, root, the engine's socket and the docker client; the host's network
    // so it reaches this test's asset server at 127.0.0.1.
    await run('docker', [
      'run',
      '-d',
      '--name',
      INSTANCE,
      '--network',
      'host',
      ...Object.entries({ ...RUN_LABELS, [LABEL_NODE]: 'instance' }).flatMap(([k, v]) => [
        '--label',
        `${k}=${v}`,
      ]),
      '-v',
      '/var/run/docker.sock:/var/run/docker.sock',
      '-v',
      `${dockerCli()}:/usr/bin/docker:ro`,
      '-v',
      `${dataRoot}:${dataRoot}`,
      DEBIAN,
      'sleep',
      'infinity',
    ]);
  }, 120_000);

  afterAll(async () => {
    await registry?.stop().catch(() => {});
    await removeByLabel(docker, RUN_ID).catch(() => {});
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
  });

  it('boots the node: installs what is missing, fetches its assets, starts its containers, and says it is ready', async () => {
    const first = await inInstance(['bash', join(dataRoot, 'user-data.sh')]);
    expect(first.output).toContain('chaos-node-ready pg-a');
    expect(first.code).toBe(0);
    // No systemd in a container: said, not hidden.
    expect(first.output).toContain('no systemd here');
    expect((await inInstance(['test', '-x', '/opt/chaos/boot.sh'])).code).toBe(0);
    expect((await inInstance(['test', '-e', '/var/run/chaos-node-ready'])).code).toBe(0);
    expect((await inInstance(['bash', '-c', 'command -v curl'])).code).toBe(0);
    expect([...new Set(fetched)].sort()).toEqual(assets.map((a) => a.key).sort());

    // The node as the local provider would have it: the server ready, its agent ready beside it.
    expect(await logsOf(main)).toContain('chaos-pg-ready');
    expect(await logsOf(agent)).toContain('"agent-ready"');
    const m = await inspect(main);
    const a = await inspect(agent);
    expect(m.State.Running && a.State.Running).toBe(true);
    expect(a.HostConfig.NetworkMode).toBe(`container:${m.Id}`);
    expect(a.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 10 });
    expect(m.Config.Labels).toMatchObject({
      [LABEL_RUN]: RUN_ID,
      [LABEL_NODE]: 'pg-a',
      [LABEL_ROLE]: 'pg',
    });
    expect(a.Config.Labels).toMatchObject({
      [LABEL_RUN]: RUN_ID,
      [LABEL_NODE]: 'pg-a',
      [LABEL_ROLE]: 'agent',
    });
    expect(m.Config.Env).toContain('PG_ROLE=primary');
    // Its data on its disk, the archive on the shared volume, /control shared with the agent.
    expect(existsSync(join(dataRoot, 'disks/data/data/PG_VERSION'))).toBe(true);
    expect(m.HostConfig.Binds).toEqual(
      expect.arrayContaining([
        `${dataRoot}/disks/data/data:/var/lib/postgresql/chaos-data`,
        `${dataRoot}/shared/pg-archive:/archive`,
        `${dataRoot}/volumes/control:/control`,
      ]),
    );
    expect(existsSync(join(dataRoot, 'volumes/control/started'))).toBe(true);
    // The agent led: the writer record names pg-a.
    const reg = new HttpRegistry(`http://${registry!.getHost()}:${registry!.getMappedPort(REGISTRY_PORT)}`);
    expect((await reg.get('pg-writer'))?.value).toBe('pg-a');
  });

  it('run again, changes nothing: the same containers, still ready', async () => {
    const before = [(await inspect(main)).Id, (await inspect(agent)).Id];
    const again = await inInstance(['bash', join(dataRoot, 'user-data.sh')]);
    expect(again.output).toContain('chaos-node-ready pg-a');
    expect(again.code).toBe(0);
    expect([(await inspect(main)).Id, (await inspect(agent)).Id]).toEqual(before);
    expect((await inspect(main)).RestartCount).toBe(0);
  });

  it('after a stop, the boot script (what the systemd unit runs) brings the node back with its data', async () => {
    const before = [(await inspect(main)).Id, (await inspect(agent)).Id];
    const fetches = fetched.length;
    // The instance shuts down: Docker stops the containers.
    await run('docker', ['stop', '-t', '10', agent, main]);
    expect((await inspect(main)).State.Running).toBe(false);
    const boot = await inInstance(['/opt/chaos/boot.sh']);
    expect(boot.output).toContain('chaos-node-ready pg-a');
    expect(boot.code).toBe(0);
    expect([(await inspect(main)).Id, (await inspect(agent)).Id]).toEqual(before);
    expect((await inspect(main)).State.Running && (await inspect(agent)).State.Running).toBe(true);
    // The same data directory (no new cluster), and no asset fetched again.
    expect(existsSync(join(dataRoot, 'disks/data/data/PG_VERSION'))).toBe(true);
    const events = await logsOf(main);
    expect(events.match(/"type":"initialised"/g)).toHaveLength(1);
    expect(events).toMatch(/"type":"restarted-as","node":"pg-a","role":"primary"/);
    expect(fetched.length).toBe(fetches);
    // The agent joined the server's new network namespace: it is ready again, and still leads.
    const reg = new HttpRegistry(`http://${registry!.getHost()}:${registry!.getMappedPort(REGISTRY_PORT)}`);
    expect((await reg.get('pg-writer'))?.value).toBe('pg-a');
  });

  it("leaves nothing behind: everything it started carries the run's labels and goes with them", async () => {
    const labelled = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_RUN}=${RUN_ID}`] },
    });
    expect(labelled.map((c) => c.Names[0]!.slice(1)).sort()).toEqual(
      [agent, main, INSTANCE, `chaos-${RUN_ID}-registry`].sort(),
    );
    await registry?.stop().catch(() => {});
    await removeByLabel(docker, RUN_ID);
    expect(await countLeftovers(docker, RUN_ID)).toEqual({ containers: 0, networks: 0 });
  });
});
