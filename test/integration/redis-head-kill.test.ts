import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodeOfRun } from '../../core/errors.ts';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

describe.skipIf(!ready.ok)(`redis-head-kill on real containers${skipReason}`, () => {
  let result: RunResult;

  it('runs the scenario to a passing verdict, exit 0', async () => {
    const loaded = loadScenario('redis-head-kill');
    result = await runScenario({
      loaded,
      provider: new LocalProvider(),
      runsDir: tempRunsDir(),
      argv: ['test'],
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('completed');
    expect(result.verdict).toBe('pass');
    expect(exitCodeOfRun(result)).toBe(0);
    expect(result.schemaVersion).toBe(2);
  });

  it('heals the chain: the old second node is the head, the rest replicate from it, full redundancy', () => {
    const [redis] = result.systems;
    const after = redis!.after!;
    expect(redis!.before?.members).toEqual(['redis-a', 'redis-b', 'redis-c']);
    expect(after.leader).toBe('redis-b');
    expect(after.members).toEqual(['redis-b', 'redis-c']);
    const byName = Object.fromEntries(after.nodes.map((n) => [n.name, n]));
    expect(byName['redis-a']?.reachable).toBe(false);
    expect(byName['redis-b']).toMatchObject({ reachable: true, role: 'master' });
    expect(byName['redis-c']).toMatchObject({
      reachable: true,
      role: 'replica',
      following: 'redis-b',
      linkUp: true,
    });
    expect(redis!.convergence).toMatchObject({ converged: true, violations: [] });
    expect(redis!.convergence!.timeToFullRedundancyMs).toBeGreaterThan(0);
  });

  it('moves the head record exactly once, and the probe follows it', async () => {
    const [redis] = result.systems;
    expect(redis!.leadership).toHaveLength(1);
    expect(redis!.leadership[0]).toMatchObject({ from: 'redis-a', to: 'redis-b', fault: 0 });
    expect(redis!.leadership[0]!.promotedAt).not.toBeNull();
    const lastWrite = (await readHistory(result.runDir)).filter((o) => o.op === 'write').at(-1);
    expect(lastWrite).toMatchObject({ outcome: 'ok', node: 'redis-b' });
  });

  it('measures failover between the agent threshold and the threshold plus a small bound', () => {
    const spec = loadScenario('redis-head-kill').scenario.stack.redis;
    const [w] = result.probes[0]!.windows;
    const a = w!.availability;
    expect(a.outage).toBe(true);
    expect(a.recovered).toBe(true);
    // The agent waits out its threshold; then the client waits out the head record's TTL.
    const bound = spec.pingTimeoutMs + spec.headRecordTtlMs + 1000;
    expect(a.failoverMs!).toBeGreaterThanOrEqual(spec.failoverThresholdMs);
    expect(a.failoverMs!).toBeLessThanOrEqual(spec.failoverThresholdMs + bound);
    expect(a.unavailabilityMs!).toBeLessThanOrEqual(a.failoverMs!);
    expect(result.probes[0]!.resolution.intervalMs).toBeGreaterThan(4);
    expect(result.probes[0]!.rate.shortfall).toBe(false);
  });

  it('loses no acknowledged write when none was put at risk', () => {
    const p = result.probes[0]!;
    expect(p.writes?.verdict).toBe('pass');
    expect(p.writes?.lost).toBe(0);
    expect(p.writes?.acknowledged).toBeGreaterThan(500);
    expect(p.readBack).toMatchObject({ node: 'redis-b' });
    expect(result.expectations.find((e) => e.name === 'lost acknowledged writes')).toMatchObject({
      verdict: 'pass',
      value: 0,
      threshold: 0,
    });
  });

  it('keeps everything in the run folder and leaves nothing of its run running', async () => {
    for (const f of ['meta.json', 'scenario.json', 'history.jsonl', 'events.jsonl', 'result.json']) {
      expect(existsSync(join(result.runDir, f)), f).toBe(true);
    }
    const logs = readdirSync(join(result.runDir, 'logs'));
    expect(logs).toEqual(expect.arrayContaining(['registry.log', 'redis-a.redis.log', 'redis-b.agent.log']));
    const meta = JSON.parse(readFileSync(join(result.runDir, 'meta.json'), 'utf8'));
    expect(meta.harness.gitRevision).toMatch(/^([0-9a-f]{40}|unknown)$/);
    expect(meta.harness.command).toEqual(['test']);
    expect(await leftovers(result.runId)).toEqual({ containers: 0, networks: 0 });
  });
});
