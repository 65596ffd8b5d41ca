import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { MonotonicClock, sleep } from '../../core/clock.ts';
import { History } from '../../core/history.ts';
import { dockerClient } from '../../infra/local/docker.ts';
import { resolveImage } from '../../infra/local/images.ts';
import { RedisWriterProbe } from '../../systems/redis/probe.ts';
import { HEAD_RECORD } from '../../systems/redis/records.ts';
import { redisWriterSpec } from '../../systems/redis/spec.ts';
import { ready, skipReason } from './docker.ts';

/**
 * The redis-writer probe's `waitReplicas` on a real Redis: a primary and one replica in one
 * container (ports 6379 and 6380). With `waitReplicas: 1` every write is acknowledged once the
 * replica has it; with 2 (one replica more than there is) every RPUSH is applied on the primary
 * and then counted `unknown`, naming the short WAIT, never `ok`.
 */
describe.skipIf(!ready.ok)(`redis-writer with WAIT on a real Redis${skipReason}`, () => {
  let container: StartedTestContainer;

  beforeAll(async () => {
    const { image } = await resolveImage(dockerClient(), {
      name: 'redis',
      env: 'CHAOS_IMAGE_REDIS',
      official: 'redis:7',
      offline: 'chaos-local/redis:7',
    });
    container = await new GenericContainer(image)
      .withLabels({ 'chaos.test': 'redis-wait' })
      .withCommand([
        'sh',
        '-c',
        "redis-server --port 6379 --protected-mode no --save '' --appendonly no & redis-server --port 6380 --save '' --appendonly no --replicaof 127.0.0.1 6379 & wait",
      ])
      .withExposedPorts(6379, 6380)
      .withWaitStrategy(Wait.forLogMessage(/MASTER <-> REPLICA sync: Finished with success/))
      .start();
  }, 60_000);

  afterAll(async () => {
    await container?.stop({ timeout: 1000 });
  });

  async function writes(waitReplicas: number, key: string, atLeast: number) {
    const clock = new MonotonicClock();
    const history = new History();
    const registry = new MemoryRegistry();
    await registry.set(HEAD_RECORD, 'primary', 60_000);
    const probe = new RedisWriterProbe(
      // Timeouts that a loaded CI machine does not run out of (the defaults, 500 ms, once made a
      // write there neither connected in time nor WAITed long enough: not ok): what is checked is
      // the WAIT's outcome, not this machine's speed.
      redisWriterSpec.parse({
        kind: 'redis-writer',
        name: key,
        rateHz: 100,
        waitReplicas,
        connectTimeoutMs: 3000,
        commandTimeoutMs: 3000,
      }),
      {
        clock,
        history,
        registry,
        endpoint: () => ({ host: container.getHost(), port: container.getMappedPort(6379) }),
        key,
      },
    );
    probe.start();
    // At least `atLeast` writes, however long the first connection takes on a loaded machine: a
    // fixed 600 ms once gave only 2 in CI. Bounded at 10 s.
    for (const end = Date.now() + 10_000; history.all().length < atLeast && Date.now() < end; )
      await sleep(50);
    await probe.stop();
    const ops = history.all().filter((o) => o.op === 'write');
    const { values } = await probe.readBack();
    return { ops, values, settings: probe.settings() };
  }

  it('waitReplicas 1: every write acknowledged, and each is on the replica too', async () => {
    const { ops, settings } = await writes(1, 'wait1', 30);
    expect(ops.length).toBeGreaterThan(20);
    expect(ops.every((o) => o.outcome === 'ok')).toBe(true);
    expect(settings.operation).toMatch(/then WAIT 1/);
    const replica = await container.exec(['redis-cli', '-p', '6380', 'LLEN', 'wait1']);
    expect(Number(replica.output.trim())).toBe(ops.length);
  });

  it('waitReplicas 2 with one replica: applied on the primary, never acknowledged: unknown, naming the short WAIT', async () => {
    const { ops, values } = await writes(2, 'wait2', 2);
    expect(ops.length).toBeGreaterThan(0);
    expect(ops.every((o) => o.outcome === 'unknown')).toBe(true);
    expect(ops[0]!.error).toMatch(/WAIT 2 \d+: 1 of 2 replicas have the write/);
    expect(values.size).toBe(ops.length);
  });
});
