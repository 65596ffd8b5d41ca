import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../core/clock.ts';
import type { FaultLatency, RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { dockerClient } from '../../infra/local/docker.ts';
import {
  RUN_ENV,
  networkGrayUnsupportedReason,
  runsWithProcesses,
  stressUnsupportedReason,
  tag,
} from '../../infra/local/gray.ts';
import { loopVolumeUnsupportedReason } from '../../infra/local/loop-volumes.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { runsWithRules } from '../../infra/local/zones.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { chaos, hostLeftovers, leftovers, ready, runIdOf, skipReason, start, tempRunsDir } from './docker.ts';

const run = promisify(execFile);

/**
 * Each gray fault on real containers: the injected delay shows in the probe's latency within
 * 10 % and is gone after the revert; the other faults show as what they are (a slow link, no
 * answer, resets, a starved node, a full disk); nothing of them is left, after the revert, after
 * the run, and after two Ctrl-Cs in the middle of a fault.
 */
const noNet = ready.ok ? networkGrayUnsupportedReason('latency') : undefined;
const noStress = ready.ok ? (stressUnsupportedReason() ?? loopVolumeUnsupportedReason()) : undefined;

function scenarioFile(name: string, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-gray-'));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

const redisNet = scenarioFile(
  'gray-redis-net',
  `name: gray-redis-net
description: every network gray fault on the Redis head, one after another, each quiesced at both ends
stack:
  redis:
    nodes: 3
probes:
  - kind: redis-writer
    name: writes
    rateHz: 50
steadyState:
  durationMs: 2000
faults:
  - { at: 0, action: latency, target: redis:head, delayMs: 100, durationMs: 4000, quiesceProbes: true }
  - { at: 6000, action: bandwidth, target: redis:head, rateKBps: 1, durationMs: 3000, quiesceProbes: true }
  - { at: 11000, action: blackhole, target: redis:head, durationMs: 2000, quiesceProbes: true }
  - { at: 15000, action: reset, target: redis:head, durationMs: 2000, quiesceProbes: true }
  - { at: 19000, action: latency, target: redis:head, from: redis:second, delayMs: 100, durationMs: 2000, quiesceProbes: true }
observeMs: 3000
expect:
  recovered: true
  leaderChanges: 0
`,
);

const pgStress = scenarioFile(
  'gray-pg-stress',
  `name: gray-pg-stress
stack:
  pg:
    nodes: 3
probes:
  - kind: pg-writer
    name: inserts
    rateHz: 50
    statementTimeoutMs: 5000
steadyState:
  durationMs: 2000
faults:
  - { at: 0, action: stress, target: pg:primary, resource: cpu, workers: 8, durationMs: 3000 }
  - { at: 5000, action: stress, target: pg:primary, resource: io, workers: 2, durationMs: 3000 }
  - { at: 10000, action: stress, target: pg:primary, resource: memory, percent: 1, durationMs: 2000 }
  - { at: 14000, action: fill-disk, target: pg:primary, percent: 90, durationMs: 2000 }
observeMs: 3000
expect:
  recovered: true
  leaderChanges: 0
`,
);

const longLatency = scenarioFile(
  'gray-long-latency',
  `name: gray-long-latency
stack:
  redis:
    nodes: 3
probes:
  - kind: redis-writer
    name: writes
    rateHz: 20
steadyState:
  durationMs: 1500
faults:
  - { at: 0, action: latency, target: redis:head, delayMs: 200, durationMs: 30000 }
observeMs: 1000
`,
);

/** Every iptables rule of the run, in every namespace of its containers (and the host's). */
async function rulesLeft(runId: string): Promise<string[]> {
  const docker = dockerClient();
  const containers = await docker.listContainers({
    filters: { label: [`io.chaos-harness.run-id=${runId}`] },
  });
  const out: string[] = [];
  for (const c of containers) {
    const pid = (await docker.getContainer(c.Id).inspect()).State.Pid;
    if (!pid) continue;
    for (const table of ['nat', 'filter']) {
      const { stdout } = await run('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', '-t', table, '-S']);
      out.push(...stdout.split('\n').filter((l) => l.includes(tag(runId))));
    }
  }
  return out;
}

/** The host pids whose environment names the run: proxies and stressors. */
function processesLeft(runId: string): boolean {
  return runsWithProcesses().includes(runId);
}

/** The figures, one line per fault, for the log (what the README quotes). */
function logFigures(r: RunResult): void {
  for (const p of r.probes)
    for (const l of p.latencyByFault ?? []) {
      const f = r.faults.find((x) => x.index === l.fault)!;
      const ph = (x: FaultLatency['before'] | null) =>
        x
          ? `p50 ${x.latencyMs?.p50 ?? '—'} p99 ${x.latencyMs?.p99 ?? '—'} max ${x.latencyMs?.max ?? '—'} ms (${x.ok} ok, ${x.timeouts} timeouts, ${x.errors} errors)`
          : '—';
      console.info(
        `${r.scenario.name} #${l.fault + 1} ${f.action} ${f.target}${f.peers ? ` from ${f.peers.join(',')}` : ''}: before ${ph(l.before)} | during ${ph(l.during)} | after ${ph(l.after)}`,
      );
    }
}

const within10 = (l: FaultLatency, delayMs: number) => {
  expect(l.during.latencyMs, JSON.stringify(l)).not.toBeNull();
  expect(l.during.latencyMs!.p50).toBeGreaterThanOrEqual(delayMs);
  expect(l.during.latencyMs!.p50).toBeLessThanOrEqual(delayMs * 1.1);
  // Gone after the revert, and not there before.
  expect(l.before.latencyMs!.p50).toBeLessThan(10);
  expect(l.after!.latencyMs!.p50).toBeLessThan(10);
};

describe.skipIf(!ready.ok || noNet !== undefined)(
  `gray network faults on real containers${skipReason}${noNet ? ` (skipped: ${noNet})` : ''}`,
  () => {
    it('latency, bandwidth, blackhole, reset and a slow link: each shows as itself, none is left after its revert', async () => {
      const r: RunResult = await runScenario({
        loaded: loadScenario(redisNet),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
        keepStack: true,
      });
      try {
        logFigures(r);
        expect(r.error).toBeUndefined();
        expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
        expect(r.faults.map((f) => f.status)).toEqual([
          'applied',
          'applied',
          'applied',
          'applied',
          'applied',
        ]);
        const [lat, bw, hole, rst, link] = r.probes[0]!.latencyByFault!;

        // 100 ms on every reply: the p50 over the window is 100-110 ms, and 1 ms before and after.
        within10(lat!, 100);
        expect(lat!.during).toMatchObject({ timeouts: 0, errors: 0 });
        // Established connections were reset at injection and their clients came back through
        // the proxy (with quiesceProbes, no write was caught in flight): no outage at all.
        expect(r.faults[0]!.method).toMatch(/established connections reset/);
        expect(r.probes[0]!.windows[0]!.availability.outage).toBe(false);

        // 1 kB/s each way for 50 writes/s: every write waits its turn on the link.
        expect(bw!.during.latencyMs!.p50).toBeGreaterThan(20);
        expect(bw!.after!.latencyMs!.p50).toBeLessThan(10);

        // A blackhole accepts and never answers: writes time out, nothing is acknowledged.
        expect(hole!.during.ok).toBe(0);
        expect(hole!.during.timeouts).toBeGreaterThan(0);
        expect(hole!.after!.latencyMs!.p50).toBeLessThan(10);

        // A reset answers every packet with an RST: errors, at once, never timeouts.
        expect(rst!.during.ok).toBe(0);
        expect(rst!.during.errors).toBeGreaterThan(10);
        expect(rst!.during.timeouts).toBe(0);
        expect(rst!.after!.latencyMs!.p50).toBeLessThan(10);

        // A slow replication link leaves the clients alone.
        expect(r.faults[4]!.method).toMatch(/redis-a:6379 from 10\.\d+\.\d+\.\d+; redis-b:6379 from/);
        expect(link!.during.latencyMs!.p50).toBeLessThan(10);

        expect(r.systems[0]!.leadership).toEqual([]);
        expect(r.systems[0]!.falseFailovers).toEqual([]);
        // Every revert left nothing: no rule in any node's namespace, no proxy on the host.
        expect(await rulesLeft(r.runId)).toEqual([]);
        expect(processesLeft(r.runId)).toBe(false);
      } finally {
        await chaos(['cleanup', '--run', r.runId]);
      }
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    });

    it('two Ctrl-Cs while a latency fault holds: exit 130, no proxy, rule or container left', async () => {
      const started = start(['run', longLatency, '--runs-dir', tempRunsDir()]);
      await started.when('fault-applied');
      const runId = runIdOf(started.stderr())!;
      expect(runId).toBeDefined();
      // The proxy runs, tagged with the run.
      expect(processesLeft(runId)).toBe(true);
      started.child.kill('SIGINT');
      await sleep(50);
      started.child.kill('SIGINT');
      expect(await started.exited, started.stderr()).toBe(130);
      expect(processesLeft(runId)).toBe(false);
      expect(await leftovers(runId)).toEqual({ containers: 0, networks: 0 });
      expect(await runsWithRules()).not.toContain(runId);
      expect((await hostLeftovers(runId)).rules).toBe(0);
    });

    it('a proxy left by a harness killed outright is found and removed by `chaos cleanup`', async () => {
      const started = start(['run', longLatency, '--runs-dir', tempRunsDir()]);
      await started.when('fault-applied');
      const runId = runIdOf(started.stderr())!;
      started.child.kill('SIGKILL');
      await started.exited;
      expect(processesLeft(runId)).toBe(true);
      const c = await chaos(['cleanup']);
      expect(c.code, c.stderr).toBe(0);
      expect(processesLeft(runId)).toBe(false);
      expect(await leftovers(runId)).toEqual({ containers: 0, networks: 0 });
    });
  },
);

describe.skipIf(!ready.ok || noStress !== undefined)(
  `stress and fill-disk on real containers${skipReason}${noStress ? ` (skipped: ${noStress})` : ''}`,
  () => {
    it('stress of cpu, io and memory from inside the primary, and its disk filled: slower, never down, nothing left', async () => {
      const r = await runScenario({
        loaded: loadScenario(pgStress),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
      });
      logFigures(r);
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const [cpu, io, mem, fill] = r.faults;
      expect(cpu!.method).toMatch(/stress-ng in pg-a's cgroups and PID namespace .*8 CPU workers at 100 %/);
      expect(io!.method).toMatch(/2 disk workers writing and syncing in \/var\/lib\/postgresql/);
      expect(mem!.method).toMatch(/1 memory workers holding \d+ MiB/);
      expect(fill!.method).toMatch(
        /fallocate \d+ MiB on pg-a's data volume \(loop-mounted, \d+ MiB\): 90 % of it in use/,
      );
      for (const f of r.faults) expect(f.tReverted, f.action).toBeDefined();
      const l = r.probes[0]!.latencyByFault!;
      // Eight busy workers in the primary's own cgroup: its commits wait for the CPU.
      expect(l[0]!.during.latencyMs!.p99).toBeGreaterThan(l[0]!.before.latencyMs!.p99);
      expect(r.systems[0]!.leadership).toEqual([]);
      expect(r.probes[0]!.writes!.lost).toBe(0);
      expect(processesLeft(r.runId)).toBe(false);
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
      expect(await hostLeftovers(r.runId)).toEqual({ mounts: 0, loops: 0, dir: false, rules: 0 });
      // No stressor of the run anywhere, tagged or not.
      const { stdout } = await run('sh', [
        '-c',
        `grep -lz '${RUN_ENV}=${r.runId}' /proc/[0-9]*/environ 2>/dev/null || true`,
      ]);
      expect(stdout.trim()).toBe('');
    });
  },
);

describe.skipIf(!ready.ok)(`chaos plan maps every gray fault to FIS or refuses it${skipReason}`, () => {
  it('AWSFIS- documents for latency, blackhole, stress and fill-disk; bandwidth and reset refused with why', async () => {
    const file = scenarioFile(
      'gray-plan',
      `name: gray-plan
stack:
  redis: { nodes: 3 }
  pg: { nodes: 3 }
probes:
  - { kind: redis-writer, name: writes }
faults:
  - { at: 0, action: latency, target: redis:head, delayMs: 100, durationMs: 60000 }
  - { at: 0, action: latency, target: redis:head, from: redis:second, delayMs: 100, jitterMs: 10, durationMs: 60000 }
  - { at: 0, action: bandwidth, target: redis:head, rateKBps: 64, durationMs: 60000 }
  - { at: 0, action: blackhole, target: redis:head, durationMs: 60000 }
  - { at: 0, action: reset, target: redis:head, durationMs: 60000 }
  - { at: 0, action: stress, target: pg:primary, resource: cpu, durationMs: 60000 }
  - { at: 0, action: stress, target: pg:primary, resource: memory, percent: 50, durationMs: 60000 }
  - { at: 0, action: stress, target: pg:primary, resource: io, durationMs: 60000 }
  - { at: 0, action: fill-disk, target: pg:primary, percent: 90, durationMs: 60000 }
`,
    );
    const p = await chaos(['plan', file, '--json']);
    const entries = JSON.parse(p.stdout) as {
      kind: string;
      reason?: string;
      template?: { actions: Record<string, { actionId: string; parameters: Record<string, string> }> };
    }[];
    const docOf = (i: number) => {
      const a = Object.values(entries[i]!.template!.actions)[0]!;
      expect(a.actionId).toBe('aws:ssm:send-command');
      return a.parameters.documentArn!.split('/').pop();
    };
    expect(docOf(0)).toBe('AWSFIS-Run-Network-Latency');
    expect(docOf(1)).toBe('AWSFIS-Run-Network-Latency-Sources');
    expect(entries[2]).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/limit bandwidth/) });
    expect(docOf(3)).toBe('AWSFIS-Run-Network-Blackhole-Port');
    expect(entries[4]).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/reset connections/) });
    expect(docOf(5)).toBe('AWSFIS-Run-CPU-Stress');
    expect(docOf(6)).toBe('AWSFIS-Run-Memory-Stress');
    expect(docOf(7)).toBe('AWSFIS-Run-IO-Stress');
    expect(docOf(8)).toBe('AWSFIS-Run-Disk-Fill');
    expect(Object.values(entries[3]!.template!.actions)[0]!.parameters.documentParameters).toMatch(
      /"Port":"6379"/,
    );
  });
});
