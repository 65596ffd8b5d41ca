import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, withTimeout } from '../../core/clock.ts';
import type { RunResult } from '../../core/result.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { chaos, runIdOf, start, tempRunsDir } from './docker.ts';

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
  for (const image of [process.env.CHAOS_IMAGE_REDIS, 'chaos-local/redis:7', 'redis:7'])
    if (
      image &&
      (await docker(['image', 'inspect', image]).then(
        () => true,
        () => false,
      ))
    )
      return { image };
  return {
    skip: 'no Redis image here (docker/build-images.sh builds chaos-local/redis:7, or docker pull redis:7)',
  };
}

const found = await redisImage();
const skip = 'skip' in found ? found.skip : partitionUnsupportedReason();
if (skip) console.warn(`attach tests skipped: ${skip}`);

/** A user's stack: three Redis (one master), three Sentinels, a network, all labelled by the user. */
class UserStack {
  readonly id = randomBytes(3).toString('hex');
  readonly label = `com.example.stack=shop-${this.id}`;
  readonly network = `shop-${this.id}-net`;
  readonly redis = [1, 2, 3].map((i) => `shop-${this.id}-redis-${i}`);
  readonly sentinels = [1, 2, 3].map((i) => `shop-${this.id}-sentinel-${i}`);

  constructor(private readonly image: string) {}

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
      await docker(['exec', sentinel, 'redis-cli', '-p', '26379', 'SENTINEL', 'master', 'mymaster'])
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
});
