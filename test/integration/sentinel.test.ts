import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { exitCodeOfRun } from '../../core/errors.ts';
import type { ProbeResult, RunResult, SystemResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

const docker = promisify(execFile);
const DATA = ['sentinel-a', 'sentinel-b', 'sentinel-c'];

/** `docker exec` in one of the run's containers; its output, trimmed. */
async function inContainer(container: string, args: string[]): Promise<string> {
  const { stdout } = await docker('docker', ['exec', container, ...args], { timeout: 20_000 });
  return stdout.trim();
}

/**
 * The test's own read-back, sharing no code with the harness's: the master a surviving Sentinel
 * hands out (redis-cli inside its container), that node found by its address (docker inspect),
 * and the probe's list read there with redis-cli.
 */
async function independentReadBack(
  runId: string,
  probe: string,
): Promise<{ master: string; values: Set<number> }> {
  const ips = new Map<string, string>();
  for (const n of DATA) {
    const ip = await docker('docker', [
      'inspect',
      '-f',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
      `chaos-${runId}-${n}`,
    ]).then((r) => r.stdout.trim());
    if (ip) ips.set(ip, n);
  }
  let master: string | undefined;
  for (const n of DATA) {
    const said = await inContainer(`chaos-${runId}-${n}-sentinel`, [
      'redis-cli',
      '-p',
      '26379',
      'SENTINEL',
      'get-master-addr-by-name',
      'mymaster',
    ]).catch(() => '');
    master = ips.get(said.split('\n')[0] ?? '');
    if (master) break;
  }
  if (!master) throw new Error('no surviving Sentinel hands out a master the test can name');
  const raw = await inContainer(`chaos-${runId}-${master}`, [
    'redis-cli',
    'LRANGE',
    `chaos:${runId}:${probe}`,
    '0',
    '-1',
  ]);
  return { master, values: new Set(raw.split('\n').filter(Boolean).map(Number)) };
}

/** Runs a built-in scenario, keeping its stack for the test's own read-back, then removes it. */
async function runKept(
  name: string,
  probes: readonly string[],
): Promise<{ r: RunResult; own: Map<string, { master: string; values: Set<number> }> }> {
  let runId: string | undefined;
  const own = new Map<string, { master: string; values: Set<number> }>();
  try {
    const r = await runScenario({
      loaded: loadScenario(name),
      provider: new LocalProvider(),
      runsDir: tempRunsDir(),
      argv: ['test'],
      keepStack: true,
      onRunId: (id) => {
        runId = id;
      },
    });
    for (const p of probes) own.set(p, await independentReadBack(r.runId, p));
    return { r, own };
  } finally {
    if (runId) await new LocalProvider().forceTeardown(runId);
  }
}

const probe = (r: RunResult, name: string): ProbeResult => r.probes.find((p) => p.name === name)!;
const system = (r: RunResult): SystemResult => r.systems.find((s) => s.name === 'sentinel')!;
const events = (r: RunResult, type: string) =>
  r.timeline.filter((e) => e.source.startsWith('agent:') && e.type === type);

/** The lost writes as the test counts them: acknowledged, absent from its own read-back. */
async function ownLost(r: RunResult, name: string, values: Set<number>): Promise<number[]> {
  return (await readHistory(r.runDir))
    .filter((o) => o.probe === name && o.op === 'write' && o.outcome === 'ok' && !values.has(o.seq))
    .map((o) => o.seq);
}

describe.skipIf(!ready.ok)(`sentinel: Redis with Sentinel on real containers${skipReason}`, () => {
  let kill: RunResult;

  it('sentinel-master-kill: passes, and the test reads back from the master itself what the harness read', async () => {
    const { r, own } = await runKept('sentinel-master-kill', ['via-proxy', 'via-sentinels']);
    kill = r;
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations.filter((e) => e.verdict !== 'pass'))).toBe('pass');
    expect(exitCodeOfRun(r)).toBe(0);
    for (const name of ['via-proxy', 'via-sentinels']) {
      const p = probe(r, name);
      const mine = own.get(name)!;
      expect(mine.master).toBe(system(r).after!.leader);
      expect(p.readBack).toMatchObject({ node: mine.master, size: mine.values.size });
      expect(await ownLost(r, name, mine.values)).toEqual(p.writes!.lostSeqs);
      expect(p.writes!.lost).toBe(0);
      expect(p.writes!.acknowledged).toBeGreaterThan(500);
    }
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  }, 180_000);

  it('the Sentinels fail over once: +sdown, +odown, +elected-leader, +promoted-slave, +switch-master, in that order, then the record moves', () => {
    const s = system(kill);
    const [fault] = kill.faults;
    expect(fault!.nodes).toEqual(['sentinel-a']);
    expect(s.leadership).toHaveLength(1);
    const move = s.leadership[0]!;
    expect(move.from).toBe('sentinel-a');
    expect(['sentinel-b', 'sentinel-c']).toContain(move.to);
    const first = (type: string, node?: string) =>
      events(kill, type).find((e) => e.t > fault!.tInject && (node === undefined || e.node === node))!.t;
    const sdown = first('+sdown', 'sentinel-a');
    const odown = first('+odown', 'sentinel-a');
    const elected = first('+elected-leader');
    const promoted = first('+promoted-slave', move.to);
    const switched = first('+switch-master', move.to);
    expect(sdown).toBeLessThan(odown);
    expect(odown).toBeLessThan(elected);
    expect(elected).toBeLessThan(promoted);
    expect(promoted).toBeLessThan(switched);
    expect(move.promotedAt).toBe(promoted);
    expect(move.t).toBeGreaterThan(switched);
    // A Sentinel holds the master down after down-after-milliseconds without an answer.
    const downAfterMs = loadScenario('sentinel-master-kill').scenario.stack.sentinel!.downAfterMs;
    expect(sdown - fault!.tInject).toBeGreaterThanOrEqual(downAfterMs - 50);
    // Whole again: the other two data nodes, the promoted one the master, HAProxy on it only.
    expect(s.after!.leader).toBe(move.to);
    expect(s.after!.members[0]).toBe(move.to);
    expect(s.after!.members).toHaveLength(3);
    expect(s.after!.nodes.find((n) => n.name === 'sentinel-lb')).toMatchObject({ following: move.to });
    expect(s.convergence).toMatchObject({ converged: true, violations: [] });
  });

  it('both probes fail over between down-after-milliseconds and that plus 4 s, measured from the kill', () => {
    const downAfterMs = loadScenario('sentinel-master-kill').scenario.stack.sentinel!.downAfterMs;
    const [fault] = kill.faults;
    for (const name of ['via-proxy', 'via-sentinels']) {
      const a = probe(kill, name).windows[0]!.availability;
      expect(a.recovered).toBe(true);
      // From the applied instant: the node died during the kill's own time (applyLagMs) already.
      expect(a.failoverMs!).toBeGreaterThanOrEqual(downAfterMs - (fault!.applyLagMs ?? 0));
      expect(a.failoverMs!).toBeLessThanOrEqual(downAfterMs + 4000);
    }
    // The last write of each probe went to the new master.
    const leader = system(kill).after!.leader;
    for (const name of ['via-proxy', 'via-sentinels'])
      expect(probe(kill, name).writesByFormerLeader).toMatchObject({ record: 'sentinel-master', count: 0 });
    expect(leader).not.toBe('sentinel-a');
  });

  it("sentinel-az-power: the master's AZ off for 8 s; one failover, the old master back as a master until Sentinel converts it, nothing lost", async () => {
    const r = await runScenario({
      loaded: loadScenario('sentinel-az-power'),
      provider: new LocalProvider(),
      runsDir: tempRunsDir(),
    });
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations.filter((e) => e.verdict !== 'pass'))).toBe('pass');
    const s = system(r);
    const [fault] = r.faults;
    expect(fault).toMatchObject({ action: 'drop-az', nodes: ['sentinel-a'] });
    expect(s.leadership.map((l) => l.from)).toEqual(['sentinel-a']);
    // Back from the power loss it boots from its own (unrewritten) redis.conf: a master, until a
    // Sentinel converts it, no sooner than 8 s after it answers again (Sentinel's own wait).
    const converted = events(r, '+convert-to-slave').filter((e) => e.node === 'sentinel-a');
    expect(converted.length).toBeGreaterThanOrEqual(1);
    expect(converted[0]!.t - fault!.tRevertDue!).toBeGreaterThanOrEqual(8000);
    expect(s.after!.members.slice(0, 3).sort()).toEqual(DATA);
    expect(s.after!.nodes.find((n) => n.name === 'sentinel-a')).toMatchObject({
      role: 'replica',
      following: s.after!.leader,
      linkUp: true,
    });
    for (const name of ['via-proxy', 'via-sentinels']) expect(probe(r, name).writes!.lost).toBe(0);
    expect(s.convergence?.converged).toBe(true);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  }, 180_000);
});

const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;

describe.skipIf(!ready.ok || noPartition !== undefined)(
  `sentinel: the master cut off from the replicas and the Sentinels, not from its clients${skipReason}${noPartition ? ` (skipped: ${noPartition})` : ''}`,
  () => {
    let plain: RunResult;

    it('sentinel-master-partition: the old master keeps acknowledging; the loss is declared, counted, and the test counts the same from the master itself', async () => {
      const { r, own } = await runKept('sentinel-master-partition', ['via-proxy', 'via-sentinels']);
      plain = r;
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations.filter((e) => e.verdict !== 'pass'))).toBe('pass');
      const s = system(r);
      expect(s.leadership.map((l) => l.from)).toEqual(['sentinel-a']);
      for (const name of ['via-proxy', 'via-sentinels']) {
        const p = probe(r, name);
        const mine = own.get(name)!;
        expect(mine.master).toBe(s.after!.leader);
        const lost = await ownLost(r, name, mine.values);
        expect(lost.length).toBeGreaterThan(0);
        expect(lost).toEqual(p.writes!.lostSeqs);
        // Every lost write was acknowledged by the old master, after the cut.
        const bySeq = new Map(
          (await readHistory(r.runDir)).filter((o) => o.probe === name).map((o) => [o.seq, o]),
        );
        for (const seq of lost) {
          expect(bySeq.get(seq)!.node).toBe('sentinel-a');
          expect(bySeq.get(seq)!.tInvoke).toBeGreaterThanOrEqual(r.faults[0]!.tInject - 50);
        }
        expect(p.writes!.failedButPresent).toBe(0);
      }
      // Through HAProxy the client's connection stays on the old master until Sentinel converts
      // it after the heal: it acknowledged writes after the Sentinels had moved on (split brain).
      expect(probe(r, 'via-proxy').writesByFormerLeader!.count).toBeGreaterThan(0);
      const converted = events(r, '+convert-to-slave').find((e) => e.node === 'sentinel-a');
      expect(converted!.t).toBeGreaterThan(r.faults[0]!.tReverted!);
      expect(s.convergence?.converged).toBe(true);
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    }, 180_000);

    it('sentinel-master-partition-min-replicas: the old master refuses writes (NOREPLICAS) once its replicas fall silent: far fewer lost', async () => {
      const r = await runScenario({
        loaded: loadScenario('sentinel-master-partition-min-replicas'),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
      });
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations.filter((e) => e.verdict !== 'pass'))).toBe('pass');
      const history = await readHistory(r.runDir);
      const cut = r.faults[0]!.tInject;
      for (const name of ['via-proxy', 'via-sentinels']) {
        const withMin = probe(r, name).writes!.lost!;
        const without = probe(plain, name).writes!.lost!;
        // The figures side by side, for whoever reads the test's output.
        console.info(`${name}: lost ${without} without min-replicas-to-write, ${withMin} with it`);
        // Without it the old master takes writes until the heal (8 s) or later; with it, 3 s at most.
        expect(withMin).toBeLessThan(without / 2);
        // The old master took writes for at most max-lag (1 s) + the replicas' ACK period (1 s)
        // + a second's rounding after the cut: 3 s at 100 writes/s.
        expect(withMin).toBeLessThanOrEqual(300);
        const refused = history.filter(
          (o) =>
            o.probe === name &&
            o.node === 'sentinel-a' &&
            /^NOREPLICAS/.test(o.error ?? '') &&
            o.tInvoke > cut,
        );
        expect(refused.length).toBeGreaterThan(0);
        expect(refused[0]!.tInvoke - cut).toBeLessThanOrEqual(3000);
      }
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    }, 180_000);
  },
);

describe.skipIf(!ready.ok)(
  `sentinel with monitor: seed, the source material's monitor pair${skipReason}`,
  () => {
    it('sentinel-seed-master-kill: one watcher promotes the slave under the lease, both HAProxies follow, a replacement slave joins; at most the last write lost', async () => {
      const loaded = loadScenario('sentinel-seed-master-kill');
      const r = await runScenario({ loaded, provider: new LocalProvider(), runsDir: tempRunsDir() });
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations.filter((e) => e.verdict !== 'pass'))).toBe('pass');
      const s = system(r);
      const [fault] = r.faults;
      expect(s.leadership.map((l) => [l.from, l.to])).toEqual([['sentinel-a', 'sentinel-b']]);
      // One promotion, by one of the two watchers; three failed PINGs before it.
      const promotions = events(r, '+promoted-slave');
      expect(promotions).toHaveLength(1);
      const by = promotions[0]!.source;
      expect(['agent:sentinel-mon-a', 'agent:sentinel-mon-b']).toContain(by);
      const misses = r.timeline.filter(
        (e) => e.source === by && e.type === 'ping-failed' && e.t > fault!.tInject,
      );
      expect(misses.slice(0, 3).map((e) => e.data?.misses)).toEqual([1, 2, 3]);
      expect(s.leadership[0]!.promotedAt).toBe(promotions[0]!.t);
      // The launcher's replacement is the configured slave, replicating from the new master.
      const launched = r.timeline.find((e) => e.source === 'controller:sentinel' && e.type === 'launched');
      expect(launched?.node).toMatch(/^sentinel-[a-c]-r1$/);
      expect(s.after!.nodes.find((n) => n.name === launched!.node)).toMatchObject({
        role: 'replica',
        following: 'sentinel-b',
        linkUp: true,
        configured: 'slave',
      });
      for (const mon of ['sentinel-mon-a', 'sentinel-mon-b'])
        expect(s.after!.nodes.find((n) => n.name === mon)).toMatchObject({ following: 'sentinel-b' });
      expect(s.convergence).toMatchObject({ converged: true, violations: [] });
      const downAfterMs = loaded.scenario.stack.sentinel!.downAfterMs;
      const a = probe(r, 'via-proxy').windows[0]!.availability;
      expect(a.failoverMs!).toBeGreaterThanOrEqual(downAfterMs - (fault!.applyLagMs ?? 0));
      expect(a.failoverMs!).toBeLessThanOrEqual(downAfterMs + 3000);
      expect(probe(r, 'via-proxy').writes!.lost).toBeLessThanOrEqual(1); // asynchronous, no WAIT: the last write may be on the link
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    }, 180_000);

    it('sentinel-seed-az-power: the monitor left fails over alone; the old master comes back a master of its own, for good', async () => {
      const r = await runScenario({
        loaded: loadScenario('sentinel-seed-az-power'),
        provider: new LocalProvider(),
        runsDir: tempRunsDir(),
      });
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations.filter((e) => e.verdict !== 'pass'))).toBe('pass');
      const s = system(r);
      expect(r.faults[0]).toMatchObject({ action: 'drop-az', nodes: ['sentinel-a', 'sentinel-mon-a'] });
      expect(events(r, '+promoted-slave').map((e) => e.source)).toEqual(['agent:sentinel-mon-b']);
      // The replacement went to a zone with power.
      const launched = r.timeline.find((e) => e.source === 'controller:sentinel' && e.type === 'launched');
      expect(launched?.node).toMatch(/^sentinel-[bc]-r1$/);
      // Nothing of the seed takes the old master back: declared, and seen.
      expect(s.convergence?.converged).toBe(false);
      expect(s.convergence?.violations).toContain('2 masters: sentinel-a, sentinel-b');
      expect(s.after!.nodes.find((n) => n.name === 'sentinel-a')).toMatchObject({
        reachable: true,
        role: 'master',
      });
      // The returning monitor's HAProxy was repointed to the configured master.
      expect(s.after!.nodes.find((n) => n.name === 'sentinel-mon-a')).toMatchObject({
        reachable: true,
        following: 'sentinel-b',
      });
      expect(probe(r, 'via-proxy').writes!.lost).toBeLessThanOrEqual(1); // asynchronous, no WAIT: the last write may be on the link
      expect(probe(r, 'via-proxy').writesByFormerLeader?.count).toBe(0);
      expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
    }, 180_000);
  },
);
