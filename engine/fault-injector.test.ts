import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../agents/registry/memory.ts';
import { MonotonicClock } from '../core/clock.ts';
import type { AppliedFault, FaultRequest, Stack } from '../core/provider.ts';
import { scenarioSchema } from '../scenarios/schema.ts';
import { redisChain } from '../systems/redis/index.ts';
import { redisNodeNames } from '../systems/redis/layout.ts';
import { CHAIN_RECORD, HEAD_RECORD } from '../systems/redis/records.ts';
import { FaultInjector } from './fault-injector.ts';
import { RunContext } from './run-context.ts';
import { RunStore, harnessInfo } from './run-store.ts';

const scenario = (faults: unknown[]) =>
  scenarioSchema.parse({ name: 't', stack: { redis: {} }, probes: [{ kind: 'redis-writer' }], faults });

/** A stack that records what it was asked to do; reverts can be told to fail. */
async function fakeStack(failRevertOf: string[] = []) {
  const registry = new MemoryRegistry();
  await registry.set(HEAD_RECORD, 'redis-a', 500);
  await registry.set(CHAIN_RECORD, 'redis-a,redis-b,redis-c', 0);
  const log: string[] = [];
  const stack = {
    nodes: () => redisNodeNames(3, ['a', 'b', 'c']),
    registry: () => registry,
    inject: async (req: FaultRequest): Promise<AppliedFault> => {
      const names = req.nodes.map((n) => n.name);
      log.push(`${req.action} ${names.join(',')}`);
      return {
        action: req.action,
        nodes: names,
        method: 'fake',
        ...(req.action === 'kill'
          ? {}
          : {
              revert: async () => {
                log.push(`revert ${req.action} ${names.join(',')}`);
                if (failRevertOf.includes(req.action)) throw new Error(`cannot revert ${req.action}`);
              },
            }),
      };
    },
  } as unknown as Stack;
  return { stack, log };
}

function context(s: ReturnType<typeof scenario>) {
  const clock = new MonotonicClock();
  const store = RunStore.create(
    mkdtempSync(join(tmpdir(), 'chaos-inj-')),
    s,
    'r1',
    new Date(),
    harnessInfo([]),
  );
  return new RunContext(clock, store, {}, 60_000);
}

describe('fault injector', () => {
  it('a second kill of a head that is already down is skipped, with the reason, not a crash', async () => {
    const s = scenario([
      { at: 0, action: 'kill', target: 'redis:head' },
      { at: 0, action: 'kill', target: 'redis:head' },
    ]);
    const run = context(s);
    const { stack, log } = await fakeStack();
    const inj = new FaultInjector(run, stack, [], [{ def: redisChain, spec: {} }]);
    await inj.runSchedule(s.faults, run.clock.now());
    run.close();
    expect(log).toEqual(['kill redis-a']);
    expect(inj.records.map((r) => r.status)).toEqual(['applied', 'skipped']);
    expect(inj.records[1]?.reason).toBe(
      'redis:head is redis-a: redis-a is already down (killed by fault #1)',
    );
    expect(run.events.map((e) => e.type)).toEqual(['fault-injected', 'fault-applied', 'fault-skipped']);
  });

  it('reverts each fault when it falls due, and every pending revert even after one fails', async () => {
    const s = scenario([
      { at: 0, action: 'partition', target: 'redis:head', from: 'node:redis-b' },
      { at: 0, action: 'stop', target: 'node:redis-c', durationMs: 30 },
      { at: 0, action: 'pause', target: 'node:redis-b', durationMs: 60_000 },
    ]);
    const run = context(s);
    const { stack, log } = await fakeStack(['pause']);
    const inj = new FaultInjector(run, stack, [], [{ def: redisChain, spec: {} }]);
    const t0 = run.clock.now();
    await inj.runSchedule(s.faults, t0);
    await inj.waitUntil(t0 + 50); // the stop falls due at +30
    expect(log).toContain('revert stop redis-c');
    expect(inj.records[1]!.tReverted! - inj.records[1]!.tInject).toBeGreaterThanOrEqual(30);
    const error = await inj.revertAll(); // the pause (fails) and the partition (no duration)
    run.close();
    expect(log.slice(-2)).toEqual(['revert pause redis-b', 'revert partition redis-a']);
    expect(error?.code).toBe('REVERT_FAILED');
    expect(error?.message).toMatch(/fault #3 \(pause node:redis-b on redis-b\) failed: cannot revert pause/);
    expect(inj.records[2]?.revertError).toBe('cannot revert pause');
    expect(inj.records[0]?.tReverted).toBeDefined();
    expect(run.events.filter((e) => e.type.startsWith('fault-revert')).map((e) => e.type)).toEqual([
      'fault-reverted',
      'fault-revert-failed',
      'fault-reverted',
    ]);
    expect(inj.pendingReverts).toBe(0);
  });
});
