/**
 * `npm run bench`: the harness's own speed, side by side, in one run. Not a timed test: it
 * prints figures and whether each meets its target.
 *
 * 1. The probe's write rate against one redis, vs `redis-benchmark -c N -P 1 -t set` on the
 *    same server through the same mapped port, for 1 and 4 clients (target: at least 0.8x of
 *    it), with the probe's client library alone beside them (ioredis awaiting RPUSH in a loop).
 * 2. The checker on a history of ten million operations, recorded and judged as a run does
 *    (buildResult) in a process of its own (bench/checker-child.ts): under 5 s, and the process
 *    under 1 GB at its peak.
 * 3. The wall time of each phase of redis-head-kill (targets: provisioning a 3-node chain
 *    under 5 s and teardown under 3 s with images present; the run no longer than the
 *    scenario's own waits plus 10 s).
 * 4. The pg-writer probe's INSERT rate against one Postgres, vs `pgbench -c 1 -N` on the same
 *    server (target: at least half of it).
 * 5. Provisioning a 3-node Postgres stack (target: under 10 s), and provisioning and teardown
 *    of a 3- and a 12-node chain within 1.3x of the engine's own floor for as many containers
 *    (creating, starting and removing that many plain containers at once). The provision row
 *    is also given in two parts: up to the last container started (against the same floor) and
 *    the chain forming after it (agents booting and joining, replication), which plain
 *    containers do not have.
 * 6. The k6 probe against the web tier (HAProxy, 2 heads, Postgres behind) with no fault: the
 *    highest arrival rate of a doubling ladder that it sustains (at least 95 % of the rate sent,
 *    99 % answered 200, no request left unstarted for want of a VU), and the lag between a
 *    request's end in k6 and its record in the history at each rate.
 * 7. A soak: the redis-writer probe at 2000 writes/s for BENCH_SOAK_MS (30 minutes by default)
 *    with the harness's resident memory sampled every 5 s: flat (the end within 10 % or 50 MB
 *    of the sample at a tenth of the soak), and its peak.
 *
 * It ends with one table of every row: its target, what was measured, met or missed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GenericContainer, Wait } from 'testcontainers';
import { MemoryRegistry } from '../agents/registry/memory.ts';
import { probeStats } from '../checker/stats.ts';
import { MonotonicClock, sleep } from '../core/clock.ts';
import { History, type Op } from '../core/history.ts';
import { runScenario, scenarioWaitsMs } from '../engine/runner.ts';
import { LABEL_HARNESS, LABEL_RUN, dockerClient, removeByLabel } from '../infra/local/docker.ts';
import { resolveImage } from '../infra/local/images.ts';
import { LocalProvider } from '../infra/local/provider.ts';
import { type LoadedScenario, loadScenario } from '../scenarios/load.ts';
import { scenarioSchema } from '../scenarios/schema.ts';
import { postgres } from '../systems/pg/index.ts';
import { PgWriterProbe } from '../systems/pg/probe.ts';
import { WRITER_RECORD } from '../systems/pg/records.ts';
import { redisChain } from '../systems/redis/index.ts';
import { RedisWriterProbe, probeClient } from '../systems/redis/probe.ts';
import { HEAD_RECORD } from '../systems/redis/records.ts';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

/**
 * Ctrl-C: the runs in progress tear their stacks down (their signal), and everything else the
 * bench started (by its labels) is removed before it exits 130; a second Ctrl-C exits at once.
 */
const interrupted = new AbortController();
const benchLabels = new Set<string>();
process.once('SIGINT', () => {
  process.stderr.write('\nbench: interrupted, removing what it started (Ctrl-C again to leave at once)\n');
  process.once('SIGINT', () => process.exit(130));
  interrupted.abort();
  const docker = dockerClient();
  void Promise.allSettled([...benchLabels].map((label) => removeByLabel(docker, label))).then(() =>
    process.exit(130),
  );
});
const run = promisify(execFile);
const rows: [string, string, string, string][] = [];
const report = (what: string, value: string, target: string, ok: boolean) => {
  rows.push([what, value, target, target.startsWith('(') ? '' : ok ? 'met' : 'MISSED']);
  process.stderr.write(`  ${what}: ${value}\n`);
};

/** The probe's share of redis-benchmark's rate that each row must reach (issue 16). */
const REDIS_SHARE = 0.8;

/**
 * The probe against one Redis next to `redis-benchmark -c N -P 1 -t set` on the same server,
 * through the same mapped port, for N = 1 and 4. Beside them, the probe's client library alone:
 * N ioredis connections with the probe's settings, each awaiting `RPUSH` in a loop and nothing
 * else. That is the ceiling of any probe built on it, so the two ratios say which part of the
 * gap is the harness's and which the client's. Each measured twice, interleaved, and the better
 * of each kept (the machine is shared: a neighbour's burst lands on any of them).
 */
async function probeVsRedisBenchmark(): Promise<void> {
  const docker = dockerClient();
  const image = (await resolveImage(docker, redisChain.images.find((i) => i.name === 'redis')!)).image;
  const benchId = `bench-${process.pid}`;
  benchLabels.add(benchId);
  const redis = await new GenericContainer(image)
    .withCommand(['redis-server', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'])
    .withLabels({ [LABEL_HARNESS]: 'true', [LABEL_RUN]: benchId })
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  try {
    const port = redis.getMappedPort(6379);
    for (const concurrency of [1, 4]) {
      let best: ReturnType<typeof probeStats> | undefined;
      let bare = 0;
      let rb = 0;
      let how = '';
      for (let round = 0; round < 2; round++) {
        const stats = await probeRun(port, concurrency, 3);
        if (!best || stats.okPerSec > best.okPerSec) best = stats;
        bare = Math.max(bare, await bareClientRun(port, concurrency, 3));
        const got = await redisBenchmark(redis.getId(), port, concurrency);
        if (got.rate > rb) rb = got.rate;
        how = got.how;
      }
      const stats = best!;
      const clients = `${concurrency} client${concurrency > 1 ? 's' : ''}`;
      const what = `${clients}, 1 in flight each`;
      report(`probe write rate (${what})`, `${Math.round(stats.okPerSec)} writes/s`, '(best of 2)', true);
      report(
        `ioredis alone, probe's settings (${what})`,
        `${Math.round(bare)} writes/s`,
        '(best of 2)',
        true,
      );
      report(
        `redis-benchmark -c ${concurrency} -P 1 -t set (${how})`,
        `${Math.round(rb)} requests/s`,
        '(best of 2)',
        true,
      );
      report(
        `probe / redis-benchmark, ${clients}`,
        `${((100 * stats.okPerSec) / rb).toFixed(0)}%`,
        `>= ${REDIS_SHARE * 100}%`,
        stats.okPerSec >= REDIS_SHARE * rb,
      );
      report(
        `ioredis alone / redis-benchmark, ${clients} (the client's ceiling)`,
        `${((100 * bare) / rb).toFixed(0)}%`,
        '(reference)',
        true,
      );
      report(
        `probe / ioredis alone, ${clients} (what the harness keeps of it)`,
        `${((100 * stats.okPerSec) / bare).toFixed(0)}%`,
        '(reference)',
        true,
      );
      report(
        `probe latency p50 / p99, ${clients}`,
        `${stats.latencyMs?.p50.toFixed(3)} / ${stats.latencyMs?.p99.toFixed(3)} ms`,
        '(reference)',
        true,
      );
    }
  } finally {
    await removeByLabel(docker, benchId);
  }
}

/**
 * The probe's client library with nothing of the harness: `concurrency` connections opened as
 * the probe opens them, each awaiting `RPUSH` in a loop for `seconds`. Returns the writes per
 * second (an error ends the row: nothing here retries).
 */
async function bareClientRun(port: number, concurrency: number, seconds: number): Promise<number> {
  const clients = Array.from({ length: concurrency }, () =>
    probeClient({ host: '127.0.0.1', port }, 1000, 1000),
  );
  try {
    await Promise.all(clients.map((c) => c.connect()));
    let n = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      clients.map(async (c) => {
        while (performance.now() < end) {
          await c.rpush('bench-bare', String(n));
          n++;
        }
      }),
    );
    return n / seconds;
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** The Redis probe at full speed (no rate) with `concurrency` slots for `seconds`. */
async function probeRun(port: number, concurrency: number, seconds: number) {
  const clock = new MonotonicClock();
  const history = new History();
  const registry = new MemoryRegistry();
  await registry.set(HEAD_RECORD, 'bench', 60_000);
  const probe = new RedisWriterProbe(
    {
      kind: 'redis-writer',
      name: 'bench',
      concurrency,
      rateHz: 0,
      commandTimeoutMs: 1000,
      connectTimeoutMs: 1000,
      retryBackoffMs: 20,
      waitReplicas: 0,
    },
    { clock, history, registry, endpoint: () => ({ host: '127.0.0.1', port }), key: 'bench' },
  );
  probe.start();
  await sleep(seconds * 1000);
  await probe.stop();
  return probeStats(history.all(), 'bench');
}

/** redis-benchmark on the host through the mapped port, or in the container when it is missing. */
async function redisBenchmark(container: string, port: number, clients: number) {
  const args = ['-c', String(clients), '-P', '1', '-t', 'set', '-n', String(30_000 * clients), '-q'];
  try {
    const { stdout } = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), ...args]);
    return { rate: parseRate(stdout), how: 'host, same mapped port' };
  } catch {
    const { stdout } = await run('docker', ['exec', container, 'redis-benchmark', ...args]);
    return {
      rate: parseRate(stdout),
      how: 'inside the container (install redis-tools for a like-for-like figure)',
    };
  }
}

function parseRate(out: string): number {
  const m = /SET: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
  if (!m) throw new Error(`cannot read redis-benchmark's output: ${out.slice(-200)}`);
  return Number(m[1]);
}

/** The checker row's figures, from bench/checker-child.ts in a process of its own. */
async function checkerChild(n: number, ...flags: string[]) {
  const child = fileURLToPath(new URL('./checker-child.ts', import.meta.url));
  const { stdout } = await run(process.execPath, ['--import', 'tsx', child, String(n), ...flags], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    recordMs: number;
    checkMs: number;
    checkCpuMs: number;
    maxRssBytes: number;
    verdict: string;
  };
}

/** Issue 16: ten million operations checked in under 5 s, the process under 1 GB at its peak. */
const CHECKER_TARGET = { operations: 10_000_000, ms: 5000, rssBytes: 1 << 30 };

async function checkerSpeed(): Promise<void> {
  const n = CHECKER_TARGET.operations;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  const r = await checkerChild(n);
  report(
    `checker on ${n.toLocaleString('en')} operations (buildResult, own process)`,
    `${r.checkMs.toFixed(0)} ms (${r.checkCpuMs.toFixed(0)} ms CPU)`,
    `< ${CHECKER_TARGET.ms} ms`,
    r.checkMs < CHECKER_TARGET.ms,
  );
  report(
    'checker process peak RSS (history recorded in columns, then checked)',
    mb(r.maxRssBytes),
    '< 1024 MB',
    r.maxRssBytes < CHECKER_TARGET.rssBytes,
  );
  report('  recording those operations into the history', `${r.recordMs.toFixed(0)} ms`, '(reference)', true);
  const set = await checkerChild(n, '--set');
  report(
    '  the same with the read-back as a plain Set, not a SeqSet',
    `${set.checkMs.toFixed(0)} ms, ${mb(set.maxRssBytes)} peak`,
    '(reference)',
    true,
  );
}

async function phaseTimes(): Promise<void> {
  const loaded = loadScenario('redis-head-kill');
  const t0 = performance.now();
  const result = await benchRun(loaded);
  const wall = performance.now() - t0;
  if (result.status !== 'completed')
    throw new Error(`redis-head-kill did not complete: ${result.error?.message}`);
  for (const p of result.phases) {
    const d = p.tEnd - p.tStart;
    const target = p.name === 'provision' ? '< 5000 ms' : p.name === 'teardown' ? '< 3000 ms' : '';
    const ok = p.name === 'provision' ? d < 5000 : p.name === 'teardown' ? d < 3000 : true;
    report(`phase ${p.name}`, `${d.toFixed(0)} ms`, target || '(reference)', ok);
  }
  const waits = scenarioWaitsMs(loaded.scenario);
  report(
    'redis-head-kill, whole run',
    `${wall.toFixed(0)} ms`,
    `<= waits ${waits} ms + 10000 ms`,
    wall <= waits + 10_000,
  );
  report(
    'redis-head-kill, failover time measured',
    `${result.probes[0]?.windows[0]?.availability.failoverMs?.toFixed(0)} ms`,
    '(reference)',
    true,
  );
}

/**
 * The pg-writer probe against one Postgres, next to `pgbench -c 1 -N` (its simple-update
 * transactions) on the same server, run inside the container over TCP.
 */
async function pgProbeVsPgbench(): Promise<void> {
  const docker = dockerClient();
  const image = (await resolveImage(docker, postgres.images.find((i) => i.name === 'postgres')!)).image;
  const benchId = `bench-${process.pid}-pg`;
  benchLabels.add(benchId);
  const node = await new GenericContainer(image)
    .withCommand(['bash', '/opt/chaos/pg-node.sh'])
    .withEnvironment({ NODE_NAME: 'bench', PG_ROLE: 'primary' })
    .withCopyFilesToContainer([
      {
        source: fileURLToPath(new URL('../systems/pg/node.sh', import.meta.url)),
        target: '/opt/chaos/pg-node.sh',
      },
    ])
    .withLabels({ [LABEL_HARNESS]: 'true', [LABEL_RUN]: benchId })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/chaos-pg-ready/))
    .start();
  try {
    const port = node.getMappedPort(5432);
    const clock = new MonotonicClock();
    const history = new History();
    const registry = new MemoryRegistry();
    await registry.set(WRITER_RECORD, 'bench', 60_000);
    const probe = new PgWriterProbe(
      {
        kind: 'pg-writer',
        name: 'bench',
        rateHz: 0,
        concurrency: 1,
        connectTimeoutMs: 2000,
        statementTimeoutMs: 2000,
        retryBackoffMs: 50,
      },
      { clock, history, registry, endpoint: () => ({ host: '127.0.0.1', port }), table: 'chaos_bench' },
    );
    await probe.prepare();
    probe.start();
    await sleep(5000);
    await probe.stop();
    const stats = probeStats(history.all(), 'bench');
    const pgbench = ['runuser', '-u', 'postgres', '--', 'pgbench', '-h', '127.0.0.1', 'postgres'];
    await run('docker', ['exec', node.getId(), ...pgbench.slice(0, -1), '-i', '-s', '1', '-q', 'postgres']);
    const { stdout } = await run('docker', [
      'exec',
      node.getId(),
      ...pgbench.slice(0, -1),
      '-c',
      '1',
      '-N',
      '-T',
      '5',
      'postgres',
    ]);
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
    report(
      'pg probe INSERT rate (1 client, 1 in flight)',
      `${Math.round(stats.okPerSec)} writes/s`,
      '>= 50% of pgbench -N',
      stats.okPerSec >= tps / 2,
    );
    report('pgbench -c 1 -N -T 5 (in the container, TCP)', `${Math.round(tps)} tps`, '(reference)', true);
  } finally {
    await removeByLabel(docker, benchId);
  }
}

/**
 * Provisioning and teardown of a stack, through a minimal scenario: one kill, no waits. `up` is
 * the whole provision phase; `started` its part up to the last container started (the network,
 * volumes, every container created and started in the plan's order), from the provider's
 * `containers-started` event; what follows is the systems forming (servers and agents ready,
 * agents joining, replication in sync).
 */
async function stackTimes(
  name: string,
  stack: Record<string, unknown>,
  target: string,
): Promise<{ up: number; started: number; down: number }> {
  const loaded = {
    file: `(bench ${name})`,
    scenario: scenarioSchema.parse({
      name,
      stack,
      probes: [
        Object.keys(stack)[0] === 'pg'
          ? { kind: 'pg-writer', rateHz: 50 }
          : { kind: 'redis-writer', rateHz: 50 },
      ],
      steadyState: { durationMs: 0 },
      faults: [{ action: 'kill', target }],
      observeMs: 500,
      recovery: { stableMs: 0, timeoutMs: 20_000 },
      expect: { lostWrites: 'any' },
    }),
  };
  const r = await benchRun(loaded);
  if (r.status !== 'completed') throw new Error(`${name} did not complete: ${r.error?.message}`);
  const phase = (p: string) => r.phases.find((x) => x.name === p)!;
  const ev = readFileSync(join(r.runDir, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"containers-started"'))
    .map((l) => JSON.parse(l) as { t: number; data: { startedMs: number; readyMs: number } })[0];
  if (!ev) throw new Error(`${name}: the provider said nothing of when its containers were started`);
  return {
    up: phase('provision').tEnd - phase('provision').tStart,
    started: ev.t - ev.data.readyMs + ev.data.startedMs - phase('provision').tStart,
    down: phase('teardown').tEnd - phase('teardown').tStart,
  };
}

/** What the engine itself takes to create, start and remove N plain containers at once. */
async function dockerFloor(n: number): Promise<{ up: number; down: number }> {
  const docker = dockerClient();
  const image = (await resolveImage(docker, redisChain.images.find((i) => i.name === 'redis')!)).image;
  const label = `bench-${process.pid}-floor`;
  benchLabels.add(label);
  const t0 = performance.now();
  const started = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = await docker.createContainer({
        Image: image,
        Cmd: ['redis-server', '--save', ''],
        Labels: { [LABEL_HARNESS]: 'true', [LABEL_RUN]: label },
        ExposedPorts: { '6379/tcp': {} },
        HostConfig: { PortBindings: { '6379/tcp': [{ HostPort: '' }] } },
      });
      await c.start();
      return c;
    }),
  );
  const t1 = performance.now();
  await Promise.all(started.map((c) => c.remove({ force: true })));
  return { up: t1 - t0, down: performance.now() - t1 };
}

/** Issue 16: provisioning and teardown within this factor of the engine's own floor. */
const FLOOR_FACTOR = 1.3;

async function scaling(): Promise<void> {
  const pg = await stackTimes('bench-pg-3', { pg: { nodes: 3 } }, 'pg:standby');
  report('provision a 3-node Postgres stack', `${pg.up.toFixed(0)} ms`, '< 10000 ms', pg.up < 10_000);
  report('teardown of it', `${pg.down.toFixed(0)} ms`, '(reference)', true);
  // A chain node is a server and its agent, plus the registry: 2n + 1 containers. The floor is
  // what the engine itself takes to create and start (then remove) that many plain containers
  // at once, measured right after the stack, on the same machine.
  for (const nodes of [3, 12]) {
    const containers = 2 * nodes + 1;
    const stack = await stackTimes(`bench-redis-${nodes}`, { redis: { nodes } }, 'redis:tail');
    const floor = await dockerFloor(containers);
    const vsFloor = (what: string, got: number, min: number) =>
      report(
        what,
        `${got.toFixed(0)} ms vs ${min.toFixed(0)} ms: ${(got / min).toFixed(2)}x`,
        `<= ${FLOOR_FACTOR}x`,
        got <= FLOOR_FACTOR * min,
      );
    // The issue's row: the whole provision phase, the chain formed, against the floor of plain
    // containers (which have nothing to form). Below it, the same time in two parts: the
    // containers created and started (what the floor measures, plus the plan's order: agents
    // start once their server and the registry are ready), and the chain forming after that.
    vsFloor(
      `provision a ${nodes}-node chain (${containers} containers) vs the engine's floor`,
      stack.up,
      floor.up,
    );
    vsFloor(
      `  ${nodes}-node chain, its part up to the last container started (network, ${containers} containers) vs the floor`,
      stack.started,
      floor.up,
    );
    report(
      `  ${nodes}-node chain, its part after that: the chain forming (agents boot and join, replication syncs)`,
      `${(stack.up - stack.started).toFixed(0)} ms`,
      '(reference)',
      true,
    );
    vsFloor(
      `teardown a ${nodes}-node chain (${containers} containers) vs the engine's floor`,
      stack.down,
      floor.down,
    );
  }
}

/**
 * A soak: the redis-writer probe at 2000 writes/s (4 slots) against a 3-node chain, no fault,
 * for BENCH_SOAK_MS (30 minutes by default), the harness's resident memory sampled every 5 s.
 * Flat: the end is within 10 % or 50 MB of the sample at a tenth of the soak.
 */
async function soak(): Promise<void> {
  const ms = Number(process.env.BENCH_SOAK_MS ?? 30 * 60_000);
  const rateHz = 2000;
  const loaded = {
    file: '(bench soak)',
    scenario: scenarioSchema.parse({
      name: 'bench-soak',
      stack: { redis: { nodes: 3 } },
      probes: [{ kind: 'redis-writer', name: 'soak', rateHz, concurrency: 4 }],
      // The soak is the steady state; the fault after it only ends the run.
      steadyState: { durationMs: ms, minSuccessRatio: 0 },
      faults: [{ action: 'kill', target: 'redis:tail' }],
      observeMs: 0,
      recovery: { stableMs: 0, timeoutMs: 5000, convergenceTimeoutMs: 1000 },
      expect: { recovered: false, converged: false, lostWrites: 'any' },
    }),
  };
  const samples: { t: number; rss: number; heap: number }[] = [];
  let steadyFrom: number | null = null;
  const t0 = performance.now();
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    samples.push({ t: performance.now() - t0, rss: m.rss, heap: m.heapUsed + m.external });
  }, 5000);
  let r: Awaited<ReturnType<typeof benchRun>>;
  try {
    r = await benchRun(loaded);
  } finally {
    clearInterval(timer);
  }
  const p = r.probes[0];
  const ss = r.phases.find((x) => x.name === 'steady-state');
  if (!p || !ss) throw new Error(`the soak did not run: ${r.error?.message}`);
  // The samples of the steady state: from its start on the run's clock to its end.
  const provision = r.phases.find((x) => x.name === 'provision');
  steadyFrom = provision ? ss.tStart - provision.tStart : 0;
  const during = samples.filter((x) => x.t >= steadyFrom! && x.t <= steadyFrom! + (ss.tEnd - ss.tStart));
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  const peak = Math.max(...samples.map((x) => x.rss));
  const atTenth = during.find((x) => x.t >= steadyFrom! + 0.1 * (ss.tEnd - ss.tStart)) ?? during[0];
  const atEnd = during.at(-1);
  const min = (ss.tEnd - ss.tStart) / 60_000;
  report(
    `soak: redis-writer at ${rateHz}/s (4 slots), ${min.toFixed(1)} min, no fault`,
    `${p.steadyState.attempted} writes (${((p.steadyState.attempted * 1000) / (ss.tEnd - ss.tStart)).toFixed(0)}/s), ${p.steadyState.ok} ok`,
    '(reference)',
    true,
  );
  report('soak: harness peak RSS', mb(peak), '(reference)', true);
  if (atTenth && atEnd) {
    const growth = atEnd.rss - atTenth.rss;
    report(
      'soak: harness RSS at 10 % of the soak -> at its end',
      `${mb(atTenth.rss)} -> ${mb(atEnd.rss)} (${growth >= 0 ? '+' : ''}${mb(growth)}, ${((100 * growth) / atTenth.rss).toFixed(1)} %)`,
      'flat: < +10 % or < +50 MB',
      growth < 0.1 * atTenth.rss || growth < 50 * 2 ** 20,
    );
    report(
      '  its JS heap + external memory at 10 % -> at the end',
      `${mb(atTenth.heap)} -> ${mb(atEnd.heap)}`,
      '(reference)',
      true,
    );
  }
  // What grows instead is on disk: history.jsonl (some 500 MB after 30 minutes), removed with the
  // run's folder (the rows are the soak's figures).
  const history = join(r.runDir, 'history.jsonl');
  report(
    '  history.jsonl on disk at the end (removed after)',
    mb(statSync(history, { throwIfNoEntry: false })?.size ?? 0),
    '(reference)',
    true,
  );
  const runsDir = dirname(dirname(r.runDir));
  if (basename(runsDir).startsWith('chaos-bench-')) rmSync(runsDir, { recursive: true, force: true });
}

/**
 * k6 climbs to each rate over WEB_RAMP_S (the probe's rampUpMs), then holds it for WEB_WARMUP_S
 * before the window measured: a step from nothing to 1000/s opens 1100 connections in one second
 * while every process behind is still cold, and that queue took some 6 s to drain on 2 cores.
 * The warm-up is the heads' JIT's: a head's CPU per request halves over its first 10-15 s of
 * load (README, "Where the first seconds go"), so a window that starts earlier measures V8
 * compiling rather than the tier.
 */
const WEB_RAMP_S = 3;
const WEB_WARMUP_S = 10;
const WEB_HEADS = 2;

/** The web tier's figures over the steady state less its ramp and WEB_WARMUP_S, from history.jsonl. */
function webWindow(r: { runDir: string; phases: { name: string; tStart: number; tEnd: number }[] }) {
  const ss = r.phases.find((x) => x.name === 'steady-state')!;
  const all = readFileSync(join(r.runDir, 'history.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Op)
    .filter((o) => o.op === 'write' && o.tInvoke >= ss.tStart && o.tInvoke < ss.tEnd);
  // The ramp starts with k6's first request (it sets up its VUs first), as the steady state does.
  const first = all.reduce((m, o) => Math.min(m, o.tInvoke), Number.POSITIVE_INFINITY);
  const from = first + (WEB_RAMP_S + WEB_WARMUP_S) * 1000;
  const ops = all.filter((o) => o.tInvoke >= from);
  const ok = ops.filter((o) => o.outcome === 'ok');
  const lat = ok.map((o) => o.tComplete - o.tInvoke).sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * (lat.length - 1)))] ?? Number.NaN;
  return {
    attempted: ops.length,
    ok: ok.length,
    sentHz: (ops.length * 1000) / (ss.tEnd - from),
    p50: q(0.5),
    p99: q(0.99),
  };
}

/**
 * One no-fault measurement of the web tier under k6 at `rateHz` for `seconds` after a warm-up.
 * Two heads, one per core: three single-threaded heads on 2 cores take turns on them (measured
 * at 1000/s, seconds 5-25 of three runs each: p99 37-61 ms with two, 81-293 ms with three).
 * Balanced by least outstanding requests: a head that waits for a CPU gets no new requests
 * meanwhile (seconds 13-23 of three alternating pairs: p99 50.1, 80.8, 37.0 ms against 99.7,
 * 122.5, 38.7 ms round-robin).
 */
async function webTierAt(rateHz: number, seconds: number) {
  const loaded = {
    file: `(bench web at ${rateHz}/s)`,
    scenario: scenarioSchema.parse({
      name: `bench-web-${rateHz}`,
      stack: { web: { heads: WEB_HEADS, balance: 'least-outstanding', backends: ['pg'] }, pg: { nodes: 2 } },
      probes: [{ kind: 'k6-http', name: 'http', rateHz, timeoutMs: 1000, rampUpMs: WEB_RAMP_S * 1000 }],
      // Only the steady state is measured; the fault after it just ends the run quickly.
      steadyState: { durationMs: (WEB_RAMP_S + WEB_WARMUP_S + seconds) * 1000, minSuccessRatio: 0 },
      faults: [{ action: 'kill', target: 'web:head' }],
      observeMs: 0,
      recovery: { stableMs: 0, timeoutMs: 5000, convergenceTimeoutMs: 1000 },
      expect: { recovered: false, converged: false, lostWrites: 'any' },
    }),
  };
  const r = await benchRun(loaded);
  const p = r.probes[0];
  if (r.status !== 'completed' || !p)
    throw new Error(`the web tier at ${rateHz}/s did not complete: ${r.error?.message}`);
  const s = p.steadyState;
  const w = webWindow(r);
  const sustained =
    w.sentHz >= 0.95 * rateHz && w.ok >= 0.99 * w.attempted && (p.delivery?.notStarted ?? 0) === 0;
  return { p, s, w, sustained };
}

/** The web tier's target (issue 16): this rate sustained with its p99 under this, no fault. */
const WEB_TARGET = { rateHz: 1000, p99Ms: 50 };

async function k6WebTier(): Promise<void> {
  const seconds = 10;
  let best: number | null = null;
  for (const rateHz of [100, 250, 500, WEB_TARGET.rateHz]) {
    const { p, s, w, sustained } = await webTierAt(rateHz, seconds);
    const d = p.delivery;
    report(
      `k6 -> web tier at ${rateHz}/s for ${seconds} s, no fault`,
      `${w.sentHz.toFixed(0)}/s sent, ${w.ok} of ${w.attempted} ok; p50 ${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms${d?.notStarted ? `; ${d.notStarted} not started` : ''}`,
      sustained ? '(sustained)' : '(not sustained)',
      true,
    );
    report(
      `  the same with its ramp and first ${WEB_WARMUP_S} s`,
      `${s.ok} of ${s.attempted} ok; p50 ${s.latencyMs?.p50.toFixed(1)} ms, p99 ${s.latencyMs?.p99.toFixed(1)} ms`,
      '(reference)',
      true,
    );
    report(
      `  k6 history lag at ${rateHz}/s (request end -> history)`,
      d ? `p50 ${d.p50Ms} / p99 ${d.p99Ms} / max ${d.maxMs} ms` : 'none measured',
      rateHz === 100 ? '< 500 ms p99' : '(reference)',
      rateHz !== 100 || (d?.p99Ms ?? Number.POSITIVE_INFINITY) < 500,
    );
    if (rateHz === WEB_TARGET.rateHz) {
      const p99 = Number.isNaN(w.p99) ? Number.POSITIVE_INFINITY : w.p99;
      report(
        `web tier at ${rateHz}/s: sustained, p99`,
        `${sustained ? 'sustained' : 'not sustained'}, p99 ${p99.toFixed(1)} ms`,
        `sustained, p99 < ${WEB_TARGET.p99Ms} ms`,
        sustained && p99 < WEB_TARGET.p99Ms,
      );
    }
    if (!sustained) break;
    best = rateHz;
  }
  report(
    'k6 sustained rate against the web tier (doubling from 100/s)',
    best === null ? 'below 100/s' : `${best}/s`,
    '>= 100/s (the built-in web scenarios)',
    best !== null,
  );
}

/** A scenario run as the bench makes them: its own runs folder, stopped by Ctrl-C. */
function benchRun(loaded: LoadedScenario) {
  return runScenario({
    loaded,
    provider: new LocalProvider(),
    runsDir: mkdtempSync(join(tmpdir(), 'chaos-bench-')),
    signal: interrupted.signal,
    onRunId: (id) => benchLabels.add(id),
  });
}

const sections: [name: string, title: string, run: () => unknown][] = [
  ['redis', 'probe, ioredis alone and redis-benchmark (about 45 s)', probeVsRedisBenchmark],
  ['checker', 'checker on ten million operations (its own process)', checkerSpeed],
  ['phases', 'phases of redis-head-kill', phaseTimes],
  ['pg', 'pg probe vs pgbench (5 s each)', pgProbeVsPgbench],
  ['scaling', "provisioning and teardown against the engine's floor", scaling],
  ['web', 'k6 against the web tier, no fault (10 s per rate)', k6WebTier],
  ['soak', 'soak at 2000 writes/s (BENCH_SOAK_MS, 30 min by default)', soak],
];
// `npm run bench -- web pg` runs only those sections; no argument runs them all.
const asked = process.argv.slice(2);
const unknown = asked.filter((a) => !sections.some(([n]) => n === a));
if (unknown.length > 0) {
  process.stderr.write(
    `bench: no section ${unknown.map((u) => `'${u}'`).join(', ')}; the sections are ${sections.map(([n]) => n).join(', ')}\n`,
  );
  process.exit(2);
}
for (const [name, title, run] of sections) {
  if (asked.length > 0 && !asked.includes(name)) continue;
  process.stderr.write(`bench: ${title}\n`);
  try {
    await run();
  } catch (err) {
    // A section that breaks (a stack that did not come up on a loaded machine) is a missed row;
    // the other sections still run, and the table is still printed.
    if (interrupted.signal.aborted) throw err;
    report(
      `section ${name} failed`,
      (err instanceof Error ? err.message : String(err)).split('\n')[0]!,
      'completes',
      false,
    );
  }
}

// One summary of every row: name, target, measured, met/missed (a reference row has no target),
// as a markdown table (the README's bench table is this, from one real run).
const header = ['row', 'target', 'measured', 'met'];
const table = rows.map(([what, value, target, met]) => [
  what.trim(),
  target.startsWith('(') ? target.slice(1, -1) : target,
  value,
  met === '' ? '-' : met === 'met' ? 'met' : 'MISSED',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
const fmt = (r: string[]) => `| ${r.map((c, i) => c.replace(/\|/g, '/').padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(`\n${fmt(header)}\n${fmt(widths.map((w) => '-'.repeat(w)))}\n`);
for (const r of table) process.stdout.write(`${fmt(r)}\n`);
process.exitCode = rows.some((r) => r[3] === 'MISSED') ? 1 : 0;
