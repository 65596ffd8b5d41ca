import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../engine/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

describe.skipIf(!ready.ok)(`redis-head-kill on real containers${skipReason}`, () => {
  let result: RunResult;

  it('runs the scenario to a passing verdict', async () => {
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
  });

  it('heals the chain: the old second node is the head and the rest replicate from it in order', () => {
    const after = result.topology.after!;
    expect(result.topology.before?.chain).toEqual(['redis-a', 'redis-b', 'redis-c']);
    expect(after.head).toBe('redis-b');
    expect(after.chain).toEqual(['redis-b', 'redis-c']);
    const byName = Object.fromEntries(after.nodes.map((n) => [n.name, n]));
    expect(byName['redis-a']?.reachable).toBe(false);
    expect(byName['redis-b']).toMatchObject({ reachable: true, role: 'master' });
    expect(byName['redis-c']).toMatchObject({
      reachable: true,
      role: 'slave',
      master: 'redis-b',
      linkUp: true,
    });
  });

  it('moves the head record and the probe follows it', () => {
    expect(result.head.before).toBe('redis-a');
    expect(result.head.after).toBe('redis-b');
    expect(result.head.recordMovedAt).not.toBeNull();
    expect(result.head.promotedAt).not.toBeNull();
    const types = result.timeline.map((e) => e.type);
    expect(types).toContain('fault-injected');
    expect(types).toContain('became-head');
    const lastWrite = readFileSync(join(result.runDir, 'history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((o) => o.op === 'write')
      .at(-1);
    expect(lastWrite).toMatchObject({ outcome: 'ok', node: 'redis-b' });
  });

  it('measures failover between the agent threshold and the threshold plus a small bound', () => {
    const spec = loadScenario('redis-head-kill').scenario.stack.redis;
    const a = result.figures.availability!;
    expect(a.recovered).toBe(true);
    expect(a.detectionMs).not.toBeNull();
    // The agent waits out its threshold; then the client waits out the head record's TTL.
    const bound = spec.pingTimeoutMs + spec.headRecordTtlMs + 1000;
    expect(a.failoverMs!).toBeGreaterThanOrEqual(spec.failoverThresholdMs);
    expect(a.failoverMs!).toBeLessThanOrEqual(spec.failoverThresholdMs + bound);
    expect(a.unavailabilityMs!).toBeLessThanOrEqual(a.failoverMs!);
  });

  it('loses no acknowledged write when none was put at risk', () => {
    const w = result.figures.writes!;
    expect(w.verdict).toBe('pass');
    expect(w.lost).toBe(0);
    expect(w.acknowledged).toBeGreaterThan(500);
    expect(result.figures.readBack).toMatchObject({ node: 'redis-b' });
  });

  it('keeps everything in the run folder and leaves nothing running', async () => {
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
