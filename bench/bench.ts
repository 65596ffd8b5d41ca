/**
 * `npm run bench`: the harness's own speed, side by side, in one run. Not a timed test: it
 * prints figures and whether each meets its target.
 *
 * 1. The probe's write rate against one redis, vs `redis-benchmark -c 1 -P 1 -t set` on the
 *    same server through the same mapped port (target: at least half of it).
 * 2. The checker on a history of one million operations (target: under one second).
 * 3. The wall time of each phase of redis-head-kill (targets: provisioning a 3-node chain
 *    under 5 s and teardown under 3 s with images present; the run no longer than the
 *    scenario's own waits plus 10 s).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GenericContainer, Wait } from 'testcontainers';
import { MemoryRegistry } from '../agents/registry/memory.ts';
import { availability } from '../checker/availability.ts';
import { probeStats } from '../checker/stats.ts';
import { checkWrites } from '../checker/writes.ts';
import { MonotonicClock, sleep } from '../core/clock.ts';
import { History, type Op } from '../core/history.ts';
import { runScenario, scenarioWaitsMs } from '../engine/runner.ts';
import { LABEL_HARNESS, LABEL_RUN, dockerClient, removeByLabel } from '../infra/local/docker.ts';
import { resolveImage } from '../infra/local/images.ts';
import { LocalProvider } from '../infra/local/provider.ts';
import { loadScenario } from '../scenarios/load.ts';
import { redisChain } from '../systems/redis/index.ts';
import { RedisWriterProbe } from '../systems/redis/probe.ts';
import { HEAD_RECORD } from '../systems/redis/records.ts';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
const run = promisify(execFile);
const rows: [string, string, string, string][] = [];
const report = (what: string, value: string, target: string, ok: boolean) => {
  rows.push([what, value, target, target.startsWith('(') ? '' : ok ? 'met' : 'MISSED']);
  process.stderr.write(`  ${what}: ${value}\n`);
};

async function probeVsRedisBenchmark(): Promise<void> {
  const docker = dockerClient();
  const image = (await resolveImage(docker, redisChain.images.find((i) => i.name === 'redis')!)).image;
  const benchId = `bench-${process.pid}`;
  const redis = await new GenericContainer(image)
    .withCommand(['redis-server', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'])
    .withLabels({ [LABEL_HARNESS]: 'true', [LABEL_RUN]: benchId })
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  try {
    const port = redis.getMappedPort(6379);
    const seconds = 5;
    const clock = new MonotonicClock();
    const history = new History();
    const registry = new MemoryRegistry();
    await registry.set(HEAD_RECORD, 'bench', 60_000);
    const probe = new RedisWriterProbe(
      {
        kind: 'redis-writer',
        name: 'bench',
        concurrency: 1,
        rateHz: 0,
        commandTimeoutMs: 1000,
        connectTimeoutMs: 1000,
        retryBackoffMs: 20,
      },
      { clock, history, registry, endpoint: () => ({ host: '127.0.0.1', port }), key: 'bench' },
    );
    probe.start();
    await sleep(seconds * 1000);
    await probe.stop();
    const stats = probeStats(history.all(), 'bench');

    let rb: number;
    let how: string;
    const args = ['-c', '1', '-P', '1', '-t', 'set', '-n', '100000', '-q'];
    try {
      const { stdout } = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), ...args]);
      rb = parseRate(stdout);
      how = 'host, same mapped port';
    } catch {
      const { stdout } = await run('docker', ['exec', redis.getId(), 'redis-benchmark', ...args]);
      rb = parseRate(stdout);
      how = 'inside the container (install redis-tools for a like-for-like figure)';
    }
    report(
      'probe write rate (1 client, 1 in flight)',
      `${Math.round(stats.okPerSec)} writes/s`,
      '>= 50% of redis-benchmark',
      stats.okPerSec >= rb / 2,
    );
    report(`redis-benchmark -c 1 -P 1 -t set (${how})`, `${Math.round(rb)} requests/s`, '(reference)', true);
    report(
      'probe / redis-benchmark',
      `${((100 * stats.okPerSec) / rb).toFixed(0)}%`,
      '>= 50%',
      stats.okPerSec >= rb / 2,
    );
    report(
      'probe latency p50 / p99',
      `${stats.latencyMs?.p50.toFixed(3)} / ${stats.latencyMs?.p99.toFixed(3)} ms`,
      '(reference)',
      true,
    );
  } finally {
    await removeByLabel(docker, benchId);
  }
}

function parseRate(out: string): number {
  const m = /SET: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
  if (!m) throw new Error(`cannot read redis-benchmark's output: ${out.slice(-200)}`);
  return Number(m[1]);
}

function checkerSpeed(): void {
  const n = 1_000_000;
  const ops: Op[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = i * 0.2;
    const outcome = i >= 600_000 && i < 605_000 ? (i % 7 === 0 ? 'unknown' : 'fail') : 'ok';
    ops[i] = { probe: 'w', op: 'write', seq: i, tInvoke: t, tComplete: t + 0.1, outcome };
  }
  const readBack = new Set<number>();
  for (let i = 0; i < n; i++) if (i % 100_000 !== 0) readBack.add(i);
  const t0 = performance.now();
  availability(ops, 600_000 * 0.2);
  checkWrites(ops, readBack, 'w');
  probeStats(ops, 'w');
  const took = performance.now() - t0;
  report('checker on 1,000,000 operations', `${took.toFixed(0)} ms`, '< 1000 ms', took < 1000);
}

async function phaseTimes(): Promise<void> {
  const loaded = loadScenario('redis-head-kill');
  const t0 = performance.now();
  const result = await runScenario({
    loaded,
    provider: new LocalProvider(),
    runsDir: mkdtempSync(join(tmpdir(), 'chaos-bench-')),
  });
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

process.stderr.write('bench: probe vs redis-benchmark (5 s)\n');
await probeVsRedisBenchmark();
process.stderr.write('bench: checker on one million operations\n');
checkerSpeed();
process.stderr.write('bench: phases of redis-head-kill\n');
await phaseTimes();

const header: [string, string, string, string] = ['what', 'value', 'target', ''];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
process.stdout.write(`\n${fmt(header)}\n${fmt(widths.map((w) => '-'.repeat(w)))}\n`);
for (const r of rows) process.stdout.write(`${fmt(r)}\n`);
process.exitCode = rows.some((r) => r[3] === 'MISSED') ? 1 : 0;
