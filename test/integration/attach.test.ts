import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_IMAGE } from '../../agents/bundle.ts';
import { sleep, withTimeout } from '../../core/clock.ts';
import type { RunResult } from '../../core/result.ts';
import { dockerClient } from '../../infra/local/docker.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { resolveImage } from '../../infra/local/images.ts';
import { adminOnce } from '../../systems/mongo/client.ts';
import { chaos, readHistory, runIdOf, start, tempRunsDir } from './docker.ts';

/**
 * The README's walk-through, as a test: a user's Redis with Sentinel started with plain `docker
 * run` (its own network and labels, none of the harness's), a scenario that attaches to it and
 * kills the master, `chaos run` as a user types it; then what the run must leave: the user's
 * containers, all of them (the killed one stopped, and said so), nothing of the harness's, no
 * rule or pause of its faults, not even the probe's key. The test removes the user's stack itself.
 */
const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const docker = (args: string[]) =>
  run('docker', args, { timeout: 30_000 }).then(
    (r) => r.stdout.trim(),
    (err: { stderr?: string }) => {
      throw new Error(`docker ${args.join(' ')}: ${err.stderr ?? err}`);
    },
  );

/** The Redis image the user's stack runs: the offline build, or the official one where it is pulled. */
async function redisImage(): Promise<{ image: string } | { skip: string }> {
  try {
    await withTimeout(docker(['version', '--format', '{{.Server.Version}}']), 5000, 'no answer in 5 s');
  } catch (err) {
    return { skip: `no Docker engine reachable (${(err as Error).message})` };
  }
  return (
    (await firstImage([process.env.CHAOS_IMAGE_REDIS, 'chaos-local/redis:7', 'redis:7'])) ?? {
      skip: 'no Redis image here (docker/build-images.sh builds chaos-local/redis:7, or docker pull redis:7)',
    }
  );
}

async function firstImage(images: (string | undefined)[]): Promise<{ image: string } | undefined> {
  for (const image of images)
    if (
      image &&
      (await docker(['image', 'inspect', image]).then(
        () => true,
        () => false,
      ))
    )
      return { image };
  return undefined;
}

const found = await redisImage();
const skip = 'skip' in found ? found.skip : partitionUnsupportedReason();
if (skip) console.warn(`attach tests skipped: ${skip}`);
/** The Postgres image of the plain streaming replication: the offline build, or the official one. */
const pgImage =
  (skip
    ? undefined
    : await firstImage([process.env.CHAOS_IMAGE_POSTGRES, 'chaos-local/postgres:15', 'postgres:15'])
  )?.image ?? '';

/** The Patroni cluster's images: the project's offline builds (no project publishes a Patroni image). */
const patroniImages =
  skip || !pgImage
    ? undefined
    : await Promise.all([
        firstImage([process.env.CHAOS_IMAGE_PATRONI, 'chaos-local/patroni:3.0']),
        firstImage([process.env.CHAOS_IMAGE_ETCD, 'chaos-local/etcd:3.4', 'quay.io/coreos/etcd:v3.4.23']),
      ]).then(([p, e]) => (p && e ? { patroni: p.image, etcd: e.image } : undefined));

/**
 * The user's mongod image: the official one (or CHAOS_IMAGE_MONGO). No Debian package has mongod,
 * so there is no offline build; where none is on the engine, the replica set's test skips, saying so.
 */
const mongoImage = skip ? undefined : await firstImage([process.env.CHAOS_IMAGE_MONGO, 'mongo:7']);
const mongoSkip = skip
  ? ''
  : mongoImage
    ? ''
    : `no mongod image here (${process.env.CHAOS_IMAGE_MONGO || 'mongo:7'} is not on this engine): docker pull mongo:7 where a registry answers, or set CHAOS_IMAGE_MONGO to a mongod image the engine has`;
if (mongoSkip) console.warn(`the attached MongoDB replica set's test skipped: ${mongoSkip}`);

/**
 * The stand-in mongod (systems/mongo/stand-in.ts, as test/integration/mongo.test.ts builds it):
 * Node.js and one bundled file named `mongod`, from the node image the local mode has. It holds no
 * election (the member its config ranks first is primary for good): enough for the harness's side
 * of an attached set (finding the members, mapping the config's hosts to containers, the probe
 * through the set and through the reading), nothing about failover.
 */
const STAND_IN = 'chaos-test/mongod-stand-in:latest';
async function buildStandIn(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-mongod-stand-in-'));
  const out = await build({
    stdin: {
      contents:
        "import { main } from './stand-in.ts';\nmain().catch((err) => { console.error(err); process.exit(1); });\n",
      resolveDir: join(ROOT, 'systems/mongo'),
      sourcefile: 'stand-in-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
  });
  writeFileSync(join(dir, 'stand-in.cjs'), out.outputFiles[0]!.contents);
  writeFileSync(join(dir, 'mongod'), '#!/bin/sh\nexec node /opt/stand-in.cjs "$@"\n');
  const base = (await resolveImage(dockerClient(), NODE_IMAGE)).image;
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM ${base}\nCOPY stand-in.cjs /opt/stand-in.cjs\nCOPY mongod /usr/local/bin/mongod\nRUN chmod 755 /usr/local/bin/mongod\n`,
  );
  await docker(['build', '-q', '-t', STAND_IN, dir]);
  return STAND_IN;
}

/** A user's stack: three Redis (one master), three Sentinels, a network, all labelled by the user. */
class UserStack {
  readonly id = randomBytes(3).toString('hex');
  readonly label = `com.example.stack=shop-${this.id}`;
  readonly network = `shop-${this.id}-net`;
  readonly redis = [1, 2, 3].map((i) => `shop-${this.id}-redis-${i}`);
  readonly sentinels = [1, 2, 3].map((i) => `shop-${this.id}-sentinel-${i}`);

  constructor(
    private readonly image: string,
    /** The data nodes' requirepass and the Sentinels' own, where the stack has them. */
    private readonly auth?: { password: string; sentinelPassword: string },
  ) {}

  /** redis-cli's login to a Sentinel (none without one). */
  private sentinelCli(): string[] {
    return this.auth ? ['--no-auth-warning', '-a', this.auth.sentinelPassword] : [];
  }

  async up(): Promise<void> {
    const azs = ['a', 'b', 'c'];
    await docker(['network', 'create', '--label', this.label, this.network]);
    const common = (name: string, az: string) => [
      'run',
      '-d',
      '--name',
      name,
      '--network',
      this.network,
      '--label',
      this.label,
      '--label',
      `com.example.az=${az}`,
      this.image,
    ];
    const redis = [
      'redis-server',
      '--protected-mode',
      'no',
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      ...(this.auth ? ['--requirepass', this.auth.password, '--masterauth', this.auth.password] : []),
    ];
    for (const [i, name] of this.redis.entries())
      await docker([
        ...common(name, azs[i]!),
        ...redis,
        ...(i === 0 ? [] : ['--replicaof', this.redis[0]!, '6379']),
      ]);
    const conf = [
      'port 26379',
      'protected-mode no',
      'sentinel resolve-hostnames yes',
      `sentinel monitor mymaster ${this.redis[0]} 6379 2`,
      'sentinel down-after-milliseconds mymaster 2000',
      'sentinel failover-timeout mymaster 10000',
      ...(this.auth
        ? [
            `sentinel auth-pass mymaster ${this.auth.password}`,
            `requirepass ${this.auth.sentinelPassword}`,
            `sentinel sentinel-pass ${this.auth.sentinelPassword}`,
          ]
        : []),
    ].join('\\n');
    for (const [i, name] of this.sentinels.entries())
      await docker([
        ...common(name, azs[i]!),
        'sh',
        '-c',
        `printf "${conf}\\n" > /tmp/sentinel.conf && exec redis-server /tmp/sentinel.conf --sentinel`,
      ]);
    // Formed: every Sentinel knows both replicas and both other Sentinels.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const views = await Promise.all(
        this.sentinels.map((s) => this.sentinelMaster(s).catch((): Record<string, string> => ({}))),
      );
      if (views.every((v) => v['num-slaves'] === '2' && v['num-other-sentinels'] === '2')) return;
      if (Date.now() > deadline) throw new Error(`the user's stack did not form: ${JSON.stringify(views)}`);
      await sleep(500);
    }
  }

  async sentinelMaster(sentinel: string): Promise<Record<string, string>> {
    const flat = (
      await docker([
        'exec',
        sentinel,
        'redis-cli',
        ...this.sentinelCli(),
        '-p',
        '26379',
        'SENTINEL',
        'master',
        'mymaster',
      ])
    ).split('\n');
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
    return out;
  }

  /** The master a Sentinel hands out, by container name (the test's own reading: redis-cli, docker inspect). */
  async master(): Promise<string | undefined> {
    const ip = (
      await docker([
        'exec',
        this.sentinels[1]!,
        'redis-cli',
        ...this.sentinelCli(),
        '-p',
        '26379',
        'SENTINEL',
        'get-master-addr-by-name',
        'mymaster',
      ])
    ).split('\n')[0];
    for (const r of this.redis) if ((await this.ip(r)) === ip) return r;
    return undefined;
  }

  ip(name: string): Promise<string> {
    return docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name]);
  }

  /** Every container with the user's label: name -> state (running, exited, paused). */
  async containers(): Promise<Map<string, string>> {
    const out = await docker([
      'ps',
      '-a',
      '--filter',
      `label=${this.label}`,
      '--format',
      '{{.Names}} {{.State}}',
    ]);
    return new Map(
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
  }

  /** The iptables rules in a container's network namespace (the DROPs a partition adds). */
  async drops(name: string): Promise<string[]> {
    const pid = await docker(['inspect', '-f', '{{.State.Pid}}', name]);
    const { stdout } = await run('nsenter', ['-t', pid, '-n', 'iptables', '-S']);
    return stdout.split('\n').filter((l) => l.includes('DROP') && l.startsWith('-A'));
  }

  /** The scenario file with this stack's label. */
  scenario(text: string): string {
    const file = join(mkdtempSync(join(tmpdir(), 'chaos-attach-')), 'scenario.yaml');
    writeFileSync(file, text.replaceAll('com.example.stack=shop', this.label));
    return file;
  }

  async down(): Promise<void> {
    const ids = await docker(['ps', '-aq', '--filter', `label=${this.label}`]);
    if (ids) await docker(['rm', '-f', ...ids.split('\n')]);
    await docker(['network', 'rm', this.network]).catch(() => {});
  }
}

/**
 * A user's stack without any failover agent, started by the test with plain `docker run`: its
 * own network and label, one container per command. What the run must leave is the same as for
 * the Sentinel stack: every container of the user's, nothing of the harness's.
 */
class PlainStack {
  readonly id = randomBytes(3).toString('hex');
  readonly label = `com.example.stack=plain-${this.id}`;
  readonly network = `plain-${this.id}-net`;

  readonly names: string[];

  constructor(
    private readonly image: string,
    kind: string,
    roles: string[],
  ) {
    this.names = roles.map((r) => `plain-${this.id}-${kind}-${r}`);
  }

  name(i: number): string {
    return this.names[i]!;
  }

  async up(commands: string[][]): Promise<void> {
    await docker(['network', 'create', '--label', this.label, this.network]);
    for (const [i, cmd] of commands.entries())
      await docker([
        'run',
        '-d',
        '--name',
        this.names[i]!,
        '--network',
        this.network,
        '--label',
        this.label,
        '--label',
        `com.example.az=${'abc'[i % 3]}`,
        this.image,
        ...cmd,
      ]);
  }

  exec(name: string, cmd: string[]): Promise<string> {
    return docker(['exec', name, ...cmd]);
  }

  async containers(): Promise<Map<string, string>> {
    const out = await docker([
      'ps',
      '-a',
      '--filter',
      `label=${this.label}`,
      '--format',
      '{{.Names}} {{.State}}',
    ]);
    return new Map(
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
  }

  scenario(text: string): string {
    const file = join(mkdtempSync(join(tmpdir(), 'chaos-attach-')), 'scenario.yaml');
    writeFileSync(file, text.replaceAll('com.example.stack=shop', this.label));
    return file;
  }

  async down(): Promise<void> {
    const ids = await docker(['ps', '-aq', '--filter', `label=${this.label}`]);
    if (ids) await docker(['rm', '-f', ...ids.split('\n')]);
    await docker(['network', 'rm', this.network]).catch(() => {});
  }
}

/** Waits until `check` is true, every 300 ms, `ms` at most. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(300);
  }
}

/** Runs a scenario as a user would and reads its result. */
async function runScenario(
  file: string,
): Promise<{ out: Awaited<ReturnType<typeof chaos>>; runId: string; r: RunResult }> {
  const out = await chaos(['run', file, '--runs-dir', tempRunsDir()]);
  const runId = runIdOf(out.stderr + out.stdout);
  expect(runId, out.stderr).toBeDefined();
  const dir = /^ {2}(\/\S+)$/m.exec(out.stdout)?.[1];
  expect(dir, `${out.stdout}\n${out.stderr}`).toBeDefined();
  return { out, runId: runId!, r: JSON.parse(readFileSync(join(dir!, 'result.json'), 'utf8')) as RunResult };
}

/** The files of a folder, recursively, that hold `secret` (none, where passwords are masked). */
function filesHolding(dir: string, secret: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return filesHolding(p, secret);
    return readFileSync(p).includes(secret) ? [p] : [];
  });
}

const harnessContainers = (runId: string) =>
  docker(['ps', '-aq', '--filter', `label=io.chaos-harness.run-id=${runId}`]);
const harnessNetworks = (runId: string) =>
  docker(['network', 'ls', '-q', '--filter', `label=io.chaos-harness.run-id=${runId}`]);

describe.skipIf(Boolean(skip))(`attach to the user's own stack${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const image = 'image' in found ? found.image : '';

  describe('the walk-through: kill the master of a Redis with Sentinel started by hand', () => {
    const user = new UserStack(image);
    beforeAll(() => user.up(), 90_000);
    afterAll(() => user.down(), 60_000);

    it("sees the failover, finds the new master, and leaves only the user's containers", async () => {
      const runsDir = tempRunsDir();
      const file = user.scenario(
        readFileSync(join(ROOT, 'test/fixtures/attach-sentinel-master-kill.yaml'), 'utf8'),
      );
      const before = await user.master();
      expect(before).toBe(user.redis[0]);

      const out = await chaos(['run', file, '--runs-dir', runsDir]);
      const runId = runIdOf(out.stderr + out.stdout);
      expect(runId, out.stderr).toBeDefined();
      expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
      const dir = /^ {2}(\/\S+)$/m.exec(out.stdout)?.[1];
      const r = JSON.parse(readFileSync(join(dir!, 'result.json'), 'utf8')) as RunResult;

      // The figures: the kill hit the master, the probe saw writes fail and come back, the
      // Sentinels moved the master, and the harness's reading agrees with the test's own.
      expect(r.verdict).toBe('pass');
      expect(r.faults[0]!.nodes).toEqual([before]);
      const w = r.probes[0]!.windows[0]!.availability;
      expect(w.failoverMs).toBeGreaterThan(1000);
      expect(w.failoverMs).toBeLessThan(8000);
      expect(r.probes[0]!.writes?.lost).toBe(0);
      const s = r.systems[0]!;
      expect(s.kind).toBe('redis-sentinel (attached)');
      expect(s.leadership.map((l) => l.from)).toEqual([before]);
      const after = await user.master();
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
      expect(s.leadership[0]!.to).toBe(after);
      expect(s.after?.leader).toBe(after);
      expect(s.convergence?.converged).toBe(true);
      expect(r.warnings.join('\n')).toContain(`${before} was killed and stays stopped`);
      expect(out.stdout).toContain('convergence judged by its invariants');

      // After the run: every container of the user's is there, the killed one stopped, the rest
      // running; nothing of the harness's is; the probe's key is gone from the user's Redis.
      const left = await user.containers();
      expect([...left.keys()].sort()).toEqual([...user.redis, ...user.sentinels].sort());
      for (const [name, state] of left) expect(state, name).toBe(name === before ? 'exited' : 'running');
      expect(await harnessContainers(runId!)).toBe('');
      expect(await harnessNetworks(runId!)).toBe('');
      expect(await docker(['network', 'inspect', '-f', '{{.Name}}', user.network])).toBe(user.network);
      const keys = await docker(['exec', after!, 'redis-cli', '--scan', '--pattern', `chaos:${runId}:*`]);
      expect(keys).toBe('');

      // `chaos cleanup` of the run removes what the harness labelled for it: nothing of the user's.
      const cleanup = await chaos(['cleanup', '--run', runId!]);
      expect(cleanup.code, cleanup.stderr).toBe(0);
      expect([...(await user.containers()).keys()].sort()).toEqual([...user.redis, ...user.sentinels].sort());
    });
  });

  describe("a Redis with Sentinel behind passwords (the data nodes' and the Sentinels' own): kill the master", () => {
    const auth = { password: 'data-secret', sentinelPassword: 'sentinel-secret' };
    const user = new UserStack(image, auth);
    beforeAll(() => user.up(), 90_000);
    afterAll(() => user.down(), 60_000);

    it('observes, watches, writes and cleans up with each login', async () => {
      const before = await user.master();
      const { out, runId, r } = await runScenario(
        user.scenario(
          readFileSync(join(ROOT, 'test/fixtures/attach-sentinel-master-kill.yaml'), 'utf8').replace(
            'masterName: mymaster',
            `masterName: mymaster\n      password: ${auth.password}\n      sentinelPassword: ${auth.sentinelPassword}`,
          ),
        ),
      );
      expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
      expect(r.verdict).toBe('pass');
      expect(r.faults[0]!.nodes).toEqual([before]);
      const p = r.probes[0]!;
      expect(p.writes?.lost).toBe(0);
      const s = r.systems[0]!;
      const after = await user.master();
      expect(s.leadership.map((l) => [l.from, l.to])).toEqual([[before, after]]);
      // The watcher heard the Sentinels' events through their password.
      expect(r.timeline.some((e) => e.type === '+switch-master')).toBe(true);
      expect(r.timeline.find((e) => e.type === 'probe-keys-removed')?.data).toMatchObject({ keys: 1 });
      const keys = await docker([
        'exec',
        after!,
        'redis-cli',
        '--no-auth-warning',
        '-a',
        auth.password,
        '--scan',
        '--pattern',
        `chaos:${runId}:*`,
      ]);
      expect(keys).toBe('');
      console.log(
        `attached Sentinel with passwords, master killed: failover ${p.windows[0]!.availability.failoverMs} ms, lost ${p.writes?.lost}`,
      );
    }, 90_000);
  });

  describe("a pause and a partition of the user's containers, then Ctrl-C twice", () => {
    const user = new UserStack(image);
    beforeAll(() => user.up(), 90_000);
    afterAll(() => user.down(), 60_000);

    it('undoes both on the forced path: no container left paused, no rule left behind', async () => {
      const file = user.scenario(`name: shop-pause-partition
stack:
  attach:
    sentinel: { select: { label: com.example.stack=shop }, azLabel: com.example.az }
probes:
  - { kind: sentinel-writer, name: writer, via: sentinels, rateHz: 50 }
steadyState: { durationMs: 1000 }
faults:
  - { at: 0, action: pause, target: node:${user.redis[2]} }
  - { at: 0, action: partition, target: sentinel:master, from: sentinel:sentinel }
observeMs: 60000
expect: { lostWrites: any }
`);
      const c = start(['run', file, '--runs-dir', tempRunsDir()]);
      await c.when(`fault-applied ${user.redis[0]} action=partition`);
      await sleep(300);
      expect((await user.containers()).get(user.redis[2]!)).toBe('paused');
      expect(await user.drops(user.redis[0]!)).toHaveLength(6); // in and out, for each Sentinel
      c.child.kill('SIGINT');
      await sleep(100);
      c.child.kill('SIGINT');
      expect(await c.exited).toBe(130);
      const runId = runIdOf(c.stderr());
      expect(runId).toBeDefined();
      expect(c.stderr()).toContain(`removing everything of run ${runId}`);

      const left = await user.containers();
      expect([...left.keys()].sort()).toEqual([...user.redis, ...user.sentinels].sort());
      for (const [name, state] of left) expect(state, name).toBe('running');
      expect(await user.drops(user.redis[0]!)).toEqual([]);
      expect(await harnessContainers(runId!)).toBe('');
    });
  });

  describe('a plain Redis replication (no failover agent): pause the master for 3 s', () => {
    const user = new PlainStack(image, 'redis', ['master', 'replica']);
    const redis = ['redis-server', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'];
    beforeAll(async () => {
      await user.up([redis, [...redis, '--replicaof', user.name(0), '6379']]);
      await until('the replica linked to the master', 30_000, async () =>
        (await user.exec(user.name(1), ['redis-cli', 'INFO', 'replication'])).includes(
          'master_link_status:up',
        ),
      );
    }, 60_000);
    afterAll(() => user.down(), 60_000);

    it('finds the master by ROLE, writes to it, sees the writes fail and come back, and names the leader', async () => {
      const [master, replica] = user.names;
      const { out, runId, r } = await runScenario(
        user.scenario(`name: plain-redis-pause
stack:
  attach:
    redis: { select: { label: com.example.stack=shop }, azLabel: com.example.az }
probes:
  - { kind: redis-writer, name: writer, rateHz: 50 }
steadyState: { durationMs: 1500 }
faults:
  - { at: 0, action: pause, target: redis:master, durationMs: 3000 }
observeMs: 3500
recovery: { timeoutMs: 15000, stableMs: 1000 }
expect: { recovered: true, maxLostWrites: 0, leaderChanges: 0 }
`),
      );
      expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
      expect(r.verdict).toBe('pass');
      const f = r.faults[0]!;
      expect([f.action, f.status, f.nodes]).toEqual(['pause', 'applied', [master]]);
      expect(f.tReverted).toBeGreaterThan(f.tApplied!);
      const p = r.probes[0]!;
      expect(p.steadyState.ok).toBeGreaterThan(40);
      expect(p.fail + p.unknown).toBeGreaterThan(0); // the master did not answer for 3 s
      const w = p.windows[0]!.availability;
      expect(w.failoverMs).toBeGreaterThan(2500); // back once unpaused: nothing else takes over
      expect(w.failoverMs).toBeLessThan(8000);
      expect(p.writes?.lost).toBe(0);
      expect(p.readBack).toMatchObject({ node: master });
      const s = r.systems[0]!;
      expect(s.kind).toBe('redis-replication (attached)');
      expect(s.leadershipRecord).toBe('redis-head');
      expect(s.before?.leader).toBe(master);
      expect(s.before?.members).toEqual([master, replica]);
      expect(s.after?.leader).toBe(master);
      expect(s.after?.nodes.find((n) => n.name === replica)).toMatchObject({
        role: 'replica',
        following: master,
        linkUp: true,
      });
      expect(s.leadership).toEqual([]);
      expect(s.convergence?.converged).toBe(true);
      expect(out.stdout).toContain('who leads is the node whose ROLE says master');

      const left = await user.containers();
      expect([...left.keys()].sort()).toEqual([...user.names].sort());
      for (const [name, state] of left) expect(state, name).toBe('running');
      expect(await harnessContainers(runId)).toBe('');
      expect(await harnessNetworks(runId)).toBe('');
      expect(await user.exec(master!, ['redis-cli', '--scan', '--pattern', `chaos:${runId}:*`])).toBe('');
    }, 90_000);
  });

  describe('a plain Redis replication behind requirepass: every client of the harness logs in', () => {
    const user = new PlainStack(image, 'redis', ['master', 'replica']);
    const redis = [
      'redis-server',
      '--protected-mode',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--requirepass',
      'shop-secret',
      '--masterauth',
      'shop-secret',
    ];
    const cli = (name: string, ...args: string[]) =>
      user.exec(name, ['redis-cli', '--no-auth-warning', '-a', 'shop-secret', ...args]);
    beforeAll(async () => {
      await user.up([redis, [...redis, '--replicaof', user.name(0), '6379']]);
      await until('the replica linked to the master', 30_000, async () =>
        (await cli(user.name(1), 'INFO', 'replication')).includes('master_link_status:up'),
      );
    }, 60_000);
    afterAll(() => user.down(), 60_000);

    it('writes with the password, removes its keys with it; a wrong one is one line before anything starts', async () => {
      const [master, replica] = user.names;
      const text = (password: string) => `name: plain-redis-auth
stack:
  attach:
    redis: { select: { label: com.example.stack=shop }, password: ${password} }
probes:
  - { kind: redis-writer, name: writer, rateHz: 50 }
steadyState: { durationMs: 1000 }
faults:
  - { at: 0, action: kill, target: redis:replica }
observeMs: 1500
recovery: { timeoutMs: 10000, stableMs: 500 }
expect: { recovered: true, maxLostWrites: 0, leaderChanges: 0 }
`;
      const started = Date.now();
      const wrong = await chaos(['run', user.scenario(text('not-it')), '--runs-dir', tempRunsDir()]);
      expect(wrong.code, wrong.stderr).not.toBe(0);
      expect(wrong.stderr + wrong.stdout).toMatch(/refused the harness's login: WRONGPASS/);
      expect(wrong.stderr + wrong.stdout).toContain('stack.attach.redis.password');
      expect(wrong.stderr + wrong.stdout).not.toContain('not-it');
      expect(Date.now() - started).toBeLessThan(20_000); // not the 30 s wait for a stack to form

      const { out, runId, r } = await runScenario(user.scenario(text('shop-secret')));
      expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
      expect(r.verdict).toBe('pass');
      expect(r.faults[0]!.nodes).toEqual([replica]);
      const p = r.probes[0]!;
      expect(p.steadyState.ok).toBeGreaterThan(40);
      expect(p.writes?.lost).toBe(0);
      expect(p.readBack).toMatchObject({ node: master });
      const s = r.systems[0]!;
      expect(s.before?.members).toEqual([master, replica]);
      expect(s.after?.leader).toBe(master);
      expect(r.timeline.find((e) => e.type === 'probe-keys-removed')?.data).toMatchObject({ keys: 1 });
      expect(await cli(master!, '--scan', '--pattern', `chaos:${runId}:*`)).toBe('');
      const left = await user.containers();
      expect([...left.keys()].sort()).toEqual([...user.names].sort());
      for (const [name, state] of left) expect(state, name).toBe(name === replica ? 'exited' : 'running');
      // The password is nowhere in what the run wrote or printed, nor in its reports.
      for (const format of ['html', 'allure', 'junit'])
        expect((await chaos(['report', r.runDir, '--format', format])).code).toBe(0);
      expect(out.stdout + out.stderr).not.toContain('shop-secret');
      expect(filesHolding(r.runDir, 'shop-secret')).toEqual([]);
      expect(
        JSON.parse(readFileSync(join(r.runDir, 'scenario.json'), 'utf8')).stack.attach.redis.password,
      ).toBe('***');
    }, 90_000);
  });

  describe.skipIf(!pgImage)(
    'a plain Postgres streaming replication (no failover agent): kill the standby',
    () => {
      const user = new PlainStack(pgImage, 'pg', ['primary', 'standby']);
      const DATA = '/var/lib/postgresql/plain';
      const boot = (script: string) => [
        'bash',
        '-c',
        `set -e; mkdir -p /run/postgresql ${DATA}; chown postgres /run/postgresql ${DATA}; chmod 700 ${DATA}; ${script}; exec runuser -u postgres -- postgres -D ${DATA}`,
      ];
      beforeAll(async () => {
        await user.up([
          boot(
            `runuser -u postgres -- initdb -D ${DATA} -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
printf "listen_addresses='*'\nwal_level=replica\nmax_wal_senders=5\nshared_buffers=16MB\n" >> ${DATA}/postgresql.conf
printf "host replication all 0.0.0.0/0 trust\nhost all all 0.0.0.0/0 scram-sha-256\n" >> ${DATA}/pg_hba.conf`,
          ),
          boot(
            `until pg_isready -q -h ${user.name(0)} -t 1; do sleep 0.3; done; runuser -u postgres -- pg_basebackup -h ${user.name(0)} -U postgres -D ${DATA} -X stream -R`,
          ),
        ]);
        await until(
          'the primary takes connections',
          30_000,
          async () => await user.exec(user.name(0), ['pg_isready', '-q', '-h', '127.0.0.1']).then(() => true),
        );
        // The user's own login and database, which the scenario names.
        await user.exec(user.name(0), [
          'psql',
          '-U',
          'postgres',
          '-h',
          '/run/postgresql',
          '-c',
          "ALTER USER postgres PASSWORD 'shop-secret'",
        ]);
        await user.exec(user.name(0), [
          'psql',
          '-U',
          'postgres',
          '-h',
          '/run/postgresql',
          '-c',
          'CREATE DATABASE shop',
        ]);
        await until(
          'the standby streams',
          40_000,
          async () =>
            (
              await user.exec(user.name(0), [
                'psql',
                '-U',
                'postgres',
                '-h',
                '/run/postgresql',
                '-tAc',
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
              ])
            ).trim() === '1',
        );
      }, 80_000);
      afterAll(() => user.down(), 60_000);

      it('finds the primary by pg_is_in_recovery(), writes to it through the kill, leaves the standby stopped', async () => {
        const [primary, standby] = user.names;
        const { out, runId, r } = await runScenario(
          user.scenario(`name: plain-pg-standby-kill
stack:
  attach:
    pg: { select: { label: com.example.stack=shop }, azLabel: com.example.az, password: shop-secret, database: shop }
probes:
  - { kind: pg-writer, name: writer, rateHz: 50 }
steadyState: { durationMs: 1500 }
faults:
  - { at: 0, action: kill, target: pg:standby }
observeMs: 3000
recovery: { timeoutMs: 10000, stableMs: 1000 }
expect: { recovered: true, maxLostWrites: 0, leaderChanges: 0 }
`),
        );
        expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
        expect(r.verdict).toBe('pass');
        const f = r.faults[0]!;
        expect([f.action, f.status, f.nodes]).toEqual(['kill', 'applied', [standby]]);
        const p = r.probes[0]!;
        expect(p.steadyState.ok).toBeGreaterThan(40);
        expect(p.ok).toBeGreaterThan(p.steadyState.ok); // it kept writing to the primary
        expect(p.writes?.lost).toBe(0);
        expect(p.readBack).toMatchObject({ node: primary });
        const s = r.systems[0]!;
        expect(s.kind).toBe('pg-streaming (attached)');
        expect(s.leadershipRecord).toBe('pg-writer');
        expect(s.before?.leader).toBe(primary);
        expect(s.before?.members).toEqual([primary, standby]);
        expect(s.before?.nodes.find((n) => n.name === standby)).toMatchObject({
          role: 'standby',
          following: primary,
          linkUp: true,
        });
        expect(s.after?.leader).toBe(primary);
        expect(s.after?.nodes.find((n) => n.name === standby)?.reachable).toBe(false);
        expect(s.convergence?.converged).toBe(true);
        expect(r.warnings.join('\n')).toContain(`${standby} was killed and stays stopped`);
        expect(out.stdout).toContain('pg_is_in_recovery() is false');

        const left = await user.containers();
        expect([...left.keys()].sort()).toEqual([...user.names].sort());
        for (const [name, state] of left) expect(state, name).toBe(name === standby ? 'exited' : 'running');
        expect(await harnessContainers(runId)).toBe('');
        expect(await harnessNetworks(runId)).toBe('');
        // The probe's table was the run's own, and is gone; the user's database is still there.
        const tables = await user.exec(primary!, [
          'psql',
          '-U',
          'postgres',
          '-h',
          '/run/postgresql',
          '-d',
          'shop',
          '-tAc',
          `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'chaos_${runId}%'`,
        ]);
        expect(tables.trim()).toBe('0');
      }, 90_000);
    },
  );
  describe.skipIf(!patroniImages)("a user's Patroni cluster (its own etcd): kill the leader", () => {
    const id = randomBytes(3).toString('hex');
    const label = `com.example.stack=pat-${id}`;
    const network = `pat-${id}-net`;
    const etcd = `pat-${id}-etcd`;
    // Containers named by the user, Patroni members by other names: /cluster's host maps them.
    const members = [
      { container: `pat-${id}-db-1`, member: 'orders-one', az: 'a' },
      { container: `pat-${id}-db-2`, member: 'orders-two', az: 'b' },
    ];
    const config = (member: string) =>
      JSON.stringify({
        scope: 'orders',
        namespace: '/service/',
        name: member,
        restapi: { listen: '0.0.0.0:8008', connect_address: '__IP__:8008' },
        etcd3: { hosts: `${etcd}:2379` },
        bootstrap: {
          dcs: {
            ttl: 5,
            loop_wait: 1,
            retry_timeout: 2,
            maximum_lag_on_failover: 1048576,
            // Commits wait for the replica: the leader's kill loses nothing acknowledged.
            synchronous_mode: true,
            postgresql: {
              use_pg_rewind: true,
              parameters: {
                wal_level: 'replica',
                hot_standby: 'on',
                max_wal_senders: 5,
                wal_log_hints: 'on',
              },
            },
          },
          initdb: [{ encoding: 'UTF8' }],
          pg_hba: [
            'local all all trust',
            'host replication replicator 0.0.0.0/0 trust',
            'host all all 0.0.0.0/0 scram-sha-256',
          ],
        },
        postgresql: {
          listen: '0.0.0.0:5432',
          connect_address: '__IP__:5432',
          data_dir: '/var/lib/postgresql/orders',
          bin_dir: '/usr/lib/postgresql/15/bin',
          pgpass: '/tmp/pgpass',
          authentication: {
            superuser: { username: 'postgres', password: 'shop-secret' },
            replication: { username: 'replicator', password: 'replicator' },
          },
          parameters: { unix_socket_directories: '/var/run/postgresql', shared_buffers: '16MB' },
        },
      });
    const cluster = async (container: string) =>
      JSON.parse(
        await docker([
          'exec',
          container,
          'python3',
          '-c',
          "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8008/cluster').read().decode())",
        ]),
      ) as {
        members: { name: string; role: string; state: string }[];
      };
    const containers = async () =>
      new Map(
        (await docker(['ps', '-a', '--filter', `label=${label}`, '--format', '{{.Names}} {{.State}}']))
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' ') as [string, string]),
      );

    beforeAll(async () => {
      const images = patroniImages!;
      await docker(['network', 'create', '--label', label, network]);
      const run = (name: string, az: string, image: string, ...cmd: string[]) =>
        docker([
          'run',
          '-d',
          '--name',
          name,
          '--network',
          network,
          '--label',
          label,
          '--label',
          `com.example.az=${az}`,
          image,
          ...cmd,
        ]);
      await run(
        etcd,
        'c',
        images.etcd,
        'etcd',
        '--data-dir',
        '/tmp/etcd',
        '--listen-client-urls',
        'http://0.0.0.0:2379',
        '--advertise-client-urls',
        `http://${etcd}:2379`,
      );
      for (const m of members)
        await docker([
          'run',
          '-d',
          '--name',
          m.container,
          '--network',
          network,
          '--label',
          label,
          '--label',
          `com.example.az=${m.az}`,
          '-e',
          `CONF=${config(m.member)}`,
          images.patroni,
          'bash',
          '-c',
          'set -e; mkdir -p /var/run/postgresql; chown postgres /var/run/postgresql; echo "$CONF" | sed "s/__IP__/$(hostname -i | cut -d" " -f1)/g" > /tmp/patroni.yml; exec runuser -u postgres -- patroni /tmp/patroni.yml',
        ]);
      // Formed: a leader, and the other member its synchronous standby, streaming.
      await until('the Patroni cluster formed', 60_000, async () => {
        const c = await cluster(members[0]!.container);
        return (
          c.members.some((m) => m.role === 'leader' && m.state === 'running') &&
          c.members.some((m) => m.role === 'sync_standby' && ['running', 'streaming'].includes(m.state))
        );
      });
    }, 90_000);
    afterAll(async () => {
      const ids = await docker(['ps', '-aq', '--filter', `label=${label}`]);
      if (ids) await docker(['rm', '-f', ...ids.split('\n')]);
      await docker(['network', 'rm', network]).catch(() => {});
    }, 60_000);

    it('finds the leader by /cluster, sees Patroni fail over, names the new leader, drops its table', async () => {
      const leaderMember = (await cluster(members[0]!.container)).members.find(
        (m) => m.role === 'leader',
      )!.name;
      const leader = members.find((m) => m.member === leaderMember)!.container;
      const replica = members.find((m) => m.member !== leaderMember)!.container;
      const file = join(mkdtempSync(join(tmpdir(), 'chaos-attach-')), 'scenario.yaml');
      writeFileSync(
        file,
        `name: patroni-leader-kill
stack:
  attach:
    patroni: { select: { label: ${label} }, azLabel: com.example.az, password: shop-secret }
probes:
  - { kind: pg-writer, name: writer, rateHz: 50 }
steadyState: { durationMs: 1500 }
faults:
  - { at: 0, action: kill, target: patroni:leader }
observeMs: 8000
recovery: { timeoutMs: 20000, stableMs: 1000 }
expect: { recovered: true, maxFailoverMs: 15000, maxLostWrites: 0, leaderChanges: 1 }
`,
      );
      const { out, runId, r } = await runScenario(file);
      expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
      expect(r.verdict).toBe('pass');
      const f = r.faults[0]!;
      expect([f.action, f.status, f.nodes]).toEqual(['kill', 'applied', [leader]]);
      const p = r.probes[0]!;
      expect(p.system).toBe('patroni');
      expect(p.steadyState.ok).toBeGreaterThan(40);
      const w = p.windows[0]!.availability;
      // The key outlives its holder up to ttl (5 s); the replica's next loop takes it.
      expect(w.failoverMs).toBeGreaterThan(1000);
      expect(w.failoverMs).toBeLessThan(15000);
      expect(p.writes?.lost).toBe(0);
      expect(p.readBack).toMatchObject({ node: replica });
      const s = r.systems[0]!;
      expect(s.kind).toBe('patroni (attached)');
      expect(s.leadershipRecord).toBe('patroni-leader');
      expect(s.before?.leader).toBe(leader);
      expect(s.before?.members).toEqual([leader, replica]);
      expect(s.before?.nodes.find((n) => n.name === etcd)).toBeUndefined();
      expect(s.leadership.map((l) => [l.from, l.to])).toEqual([[leader, replica]]);
      expect(s.falseFailovers).toEqual([]);
      expect(s.after?.leader).toBe(replica);
      expect(s.convergence?.converged).toBe(true);
      expect(r.warnings.join('\n')).toContain(`${leader} was killed and stays stopped`);
      expect(out.stdout).toContain("whose role is leader in the members' GET /cluster");
      console.log(
        `attached Patroni, leader killed: failover ${w.failoverMs} ms, ${p.ok} ok / ${p.fail} failed / ${p.unknown} unknown, lost ${p.writes?.lost}`,
      );

      const left = await containers();
      expect([...left.keys()].sort()).toEqual([etcd, ...members.map((m) => m.container)].sort());
      for (const [name, state] of left) expect(state, name).toBe(name === leader ? 'exited' : 'running');
      expect(await harnessContainers(runId)).toBe('');
      expect(await harnessNetworks(runId)).toBe('');
      const tables = await docker([
        'exec',
        replica,
        'psql',
        '-U',
        'postgres',
        '-h',
        '/var/run/postgresql',
        '-tAc',
        `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'chaos_${runId}%'`,
      ]);
      expect(tables.trim()).toBe('0');
    }, 90_000);
  });
  describe.skipIf(Boolean(mongoSkip))(
    `a user's MongoDB replica set (members named by network aliases): kill the primary${mongoSkip ? ` (skipped: ${mongoSkip})` : ''}`,
    () => {
      const id = randomBytes(3).toString('hex');
      const label = `com.example.stack=mongo-${id}`;
      const network = `mongo-${id}-net`;
      // The set's config names its members by their aliases (m1...), not by the containers' names.
      const members = [1, 2, 3].map((i) => ({
        container: `mongo-${id}-${i}`,
        host: `m${i}`,
        az: 'abc'[i - 1]!,
      }));
      const mongosh = (container: string, js: string) =>
        docker(['exec', container, 'mongosh', '--quiet', '--norc', '--eval', js]);
      const containers = async () =>
        new Map(
          (await docker(['ps', '-a', '--filter', `label=${label}`, '--format', '{{.Names}} {{.State}}']))
            .split('\n')
            .filter(Boolean)
            .map((l) => l.split(' ') as [string, string]),
        );

      beforeAll(async () => {
        await docker(['network', 'create', '--label', label, network]);
        for (const m of members)
          await docker([
            'run',
            '-d',
            '--name',
            m.container,
            '--network',
            network,
            '--network-alias',
            m.host,
            '--label',
            label,
            '--label',
            `com.example.az=${m.az}`,
            mongoImage!.image,
            'mongod',
            '--replSet',
            'shop',
            '--bind_ip_all',
            '--port',
            '27017',
          ]);
        await until(
          'mongod answers',
          60_000,
          async () => (await mongosh(members[0]!.container, 'db.runCommand({ ping: 1 }).ok')).trim() === '1',
        );
        const config = {
          _id: 'shop',
          members: members.map((m, i) => ({ _id: i, host: `${m.host}:27017`, priority: i === 0 ? 2 : 1 })),
          settings: { electionTimeoutMillis: 2000 },
        };
        await mongosh(members[0]!.container, `rs.initiate(${JSON.stringify(config)})`);
        await until(
          'the set formed: a primary, two secondaries',
          60_000,
          async () =>
            (
              await mongosh(
                members[0]!.container,
                'const s = rs.status(); s.members.filter((m) => m.stateStr === "PRIMARY").length + "," + s.members.filter((m) => m.stateStr === "SECONDARY").length',
              )
            ).trim() === '1,2',
        );
      }, 120_000);
      afterAll(async () => {
        const ids = await docker(['ps', '-aq', '--filter', `label=${label}`]);
        if (ids) await docker(['rm', '-f', ...ids.split('\n')]);
        await docker(['network', 'rm', network]).catch(() => {});
      }, 60_000);

      it('finds the primary by hello, sees the set elect another, names it, drops its collection', async () => {
        const primary = members[0]!.container;
        const file = join(mkdtempSync(join(tmpdir(), 'chaos-attach-')), 'scenario.yaml');
        writeFileSync(
          file,
          `name: mongo-primary-kill
stack:
  attach:
    mongo: { select: { label: ${label} }, azLabel: com.example.az }
probes:
  - { kind: mongo-writer, name: writer, rateHz: 50 }
steadyState: { durationMs: 1500 }
faults:
  - { at: 0, action: kill, target: mongo:primary }
observeMs: 8000
recovery: { timeoutMs: 20000, stableMs: 1000 }
expect: { recovered: true, maxFailoverMs: 15000, maxLostWrites: 0, leaderChanges: 1 }
`,
        );
        const { out, runId, r } = await runScenario(file);
        expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
        expect(r.verdict).toBe('pass');
        expect(r.faults[0]!.nodes).toEqual([primary]);
        const p = r.probes[0]!;
        const w = p.windows[0]!.availability;
        expect(w.failoverMs).toBeGreaterThan(1000);
        expect(w.failoverMs).toBeLessThan(15000);
        expect(p.writes?.lost).toBe(0);
        const s = r.systems[0]!;
        expect(s.kind).toBe('mongo-replica-set (attached)');
        expect(s.leadershipRecord).toBe('mongo-primary');
        expect(s.before?.leader).toBe(primary);
        expect(s.leadership).toHaveLength(1);
        const after = s.leadership[0]!.to;
        expect(members.map((m) => m.container)).toContain(after);
        expect(after).not.toBe(primary);
        expect(s.after?.leader).toBe(after);
        expect(p.readBack).toMatchObject({ node: after }); // by container, not by the set's m2/m3
        expect(s.convergence?.converged).toBe(true);
        expect(r.warnings.join('\n')).toContain(`${primary} was killed and stays stopped`);
        console.log(
          `attached MongoDB, primary killed: failover ${w.failoverMs} ms, ${p.ok} ok / ${p.fail} failed / ${p.unknown} unknown, lost ${p.writes?.lost}`,
        );

        const left = await containers();
        expect([...left.keys()].sort()).toEqual(members.map((m) => m.container).sort());
        for (const [name, state] of left) expect(state, name).toBe(name === primary ? 'exited' : 'running');
        expect(await harnessContainers(runId)).toBe('');
        expect(await harnessNetworks(runId)).toBe('');
        const collections = await mongosh(
          after,
          `db.getSiblingDB("chaos").getCollectionNames().filter((n) => n.startsWith("chaos_${runId}")).length`,
        );
        expect(collections.trim()).toBe('0');
      }, 120_000);
    },
  );
  describe("a user's replica set of stand-in mongods (no election): pause the secondary", () => {
    const id = randomBytes(3).toString('hex');
    const label = `com.example.stack=mstand-${id}`;
    const network = `mstand-${id}-net`;
    const members = [1, 2].map((i) => ({ container: `mstand-${id}-${i}`, host: `db${i}`, az: 'ab'[i - 1]! }));

    beforeAll(async () => {
      const image = await buildStandIn();
      await docker(['network', 'create', '--label', label, network]);
      for (const m of members)
        await docker([
          'run',
          '-d',
          '--name',
          m.container,
          '--network',
          network,
          '--network-alias',
          m.host,
          '--label',
          label,
          '--label',
          `com.example.az=${m.az}`,
          image,
          'mongod',
          '--port',
          '27017',
          '--replSet',
          'shop',
        ]);
      const ip = await docker([
        'inspect',
        '-f',
        '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
        members[0]!.container,
      ]);
      const config = {
        _id: 'shop',
        members: members.map((m, i) => ({ _id: i, host: `${m.host}:27017`, priority: i === 0 ? 2 : 1 })),
        settings: { electionTimeoutMillis: 3000 },
      };
      await until('the stand-in set initiated', 30_000, async () => {
        const [answer] = await adminOnce({ host: ip, port: 27017 }, [{ replSetInitiate: config }], 1000);
        return Boolean(answer && !(answer instanceof Error));
      });
    }, 90_000);
    afterAll(async () => {
      const ids = await docker(['ps', '-aq', '--filter', `label=${label}`]);
      if (ids) await docker(['rm', '-f', ...ids.split('\n')]);
      await docker(['network', 'rm', network]).catch(() => {});
    }, 60_000);

    it('writes through the set (its hosts mapped to the containers) and through the reading, names every node by container', async () => {
      const [primary, secondary] = members.map((m) => m.container);
      const file = join(mkdtempSync(join(tmpdir(), 'chaos-attach-')), 'scenario.yaml');
      writeFileSync(
        file,
        `name: mongo-stand-in-pause
stack:
  attach:
    mongo: { select: { label: ${label} }, azLabel: com.example.az }
probes:
  - { kind: mongo-writer, name: through-set, rateHz: 40 }
  - { kind: mongo-writer, name: through-reading, rateHz: 40, connect: endpoint-record }
steadyState: { durationMs: 1000 }
faults:
  - { at: 0, action: pause, target: mongo:secondary, durationMs: 2000 }
observeMs: 2500
recovery: { timeoutMs: 10000, stableMs: 500 }
expect: { recovered: true, maxLostWrites: 0, leaderChanges: 0 }
`,
      );
      const { out, runId, r } = await runScenario(file);
      expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
      expect(r.verdict).toBe('pass');
      expect(r.faults[0]!.nodes).toEqual([secondary]);
      const s = r.systems[0]!;
      expect(s.kind).toBe('mongo-replica-set (attached)');
      expect(s.before?.leader).toBe(primary);
      expect(s.before?.members).toEqual([primary, secondary]);
      expect(s.before?.nodes.find((n) => n.name === secondary)).toMatchObject({
        role: 'secondary',
        following: primary,
        linkUp: true,
      });
      expect(s.leadership).toEqual([]);
      expect(s.convergence?.converged).toBe(true);
      for (const p of r.probes) {
        expect(p.system, p.name).toBe('mongo');
        expect(p.writes!.acknowledged, p.name).toBeGreaterThan(40);
        expect(p.writes!.lost, p.name).toBe(0);
        expect(p.readBack, p.name).toMatchObject({ node: primary });
      }
      const history = await readHistory(r.runDir);
      expect(new Set(history.filter((o) => o.outcome === 'ok').map((o) => o.node))).toEqual(
        new Set([primary]),
      );
      const left = await docker([
        'ps',
        '-a',
        '--filter',
        `label=${label}`,
        '--format',
        '{{.Names}} {{.State}}',
      ]);
      expect(left.split('\n').sort()).toEqual(members.map((m) => `${m.container} running`).sort());
      expect(await harnessContainers(runId)).toBe('');
      expect(await harnessNetworks(runId)).toBe('');
    }, 90_000);
  });
});
