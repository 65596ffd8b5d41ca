import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { waitForReplicas } from '../redis/probe.ts';
import { classifyFailure, sentinelOptions, sentinelWriterSettings, serverAddress } from './probe.ts';
import { sentinelWriterSpec } from './spec.ts';

// "Lost" rests on this: only an acknowledged write can be lost, and an `unknown` one is neither
// lost nor kept. A write wrongly called `fail` that was applied fails the run (`failed writes stay
// absent`); one wrongly called `unknown` hides nothing but a figure.
describe('how the Sentinel probe classifies a failed write', () => {
  it('never sent (HAProxy found no master, the CLIENT INFO before the first write timed out): fail', () => {
    expect(classifyFailure(new Error('connect ECONNREFUSED 127.0.0.1:1234'), false)).toBe('fail');
    expect(classifyFailure(new Error('Command timed out'), false)).toBe('fail');
    expect(classifyFailure(new Error('Connection is closed.'), false)).toBe('fail');
  });

  it('answered with an error reply (a demoted master, a master without its replicas): fail, not applied', () => {
    expect(
      classifyFailure(new ReplyError("READONLY You can't write against a read only replica."), true),
    ).toBe('fail');
    expect(classifyFailure(new ReplyError('NOREPLICAS Not enough good replicas to write.'), true)).toBe(
      'fail',
    );
  });

  it('refused by ioredis before it reached a socket (reconnecting through the Sentinels, none reachable): fail', () => {
    expect(
      classifyFailure(new Error("Stream isn't writeable and enableOfflineQueue options is false"), true),
    ).toBe('fail');
    expect(classifyFailure(new Error('All sentinels are unreachable and retry is disabled.'), true)).toBe(
      'fail',
    );
  });

  it('sent, then a timeout, a closed or reset connection, or flushed by ioredis when it closed: unknown', () => {
    expect(classifyFailure(new Error('Command timed out'), true)).toBe('unknown');
    expect(classifyFailure(new Error('Connection is closed.'), true)).toBe('unknown');
    expect(classifyFailure(new Error('read ECONNRESET'), true)).toBe('unknown');
    expect(
      classifyFailure(
        new Error('Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest"'),
        true,
      ),
    ).toBe('unknown');
  });
});

describe('the node behind a connection through HAProxy', () => {
  it("is CLIENT INFO's laddr: the address the server sees the connection on", () => {
    expect(
      serverAddress('id=7 addr=10.9.0.3:40112 laddr=10.9.3.10:6379 fd=9 name= age=0 idle=0 flags=N db=0'),
    ).toBe('10.9.3.10');
    expect(serverAddress('id=7 addr=[::1]:40112 laddr=[::1]:6379 fd=9')).toBe('::1');
    expect(serverAddress('id=7 addr=10.9.0.3:40112 fd=9')).toBeUndefined();
  });
});

describe('ioredis through the Sentinels', () => {
  const spec = sentinelWriterSpec.parse({ kind: 'sentinel-writer', via: 'sentinels', retryBackoffMs: 20 });
  const opts = sentinelOptions(spec, [
    { host: '127.0.0.1', port: 30001 },
    { host: '127.0.0.1', port: 30002 },
  ]);

  it('its native support: the Sentinels, the master set, the failover detector, the role checked', () => {
    expect(opts).toMatchObject({
      sentinels: [
        { host: '127.0.0.1', port: 30001 },
        { host: '127.0.0.1', port: 30002 },
      ],
      name: 'mymaster',
      failoverDetector: true,
      enableReadyCheck: true,
    });
  });

  it('never queues, retries or resends a write by itself: each outcome is the one it reports', () => {
    expect(opts).toMatchObject({
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
    });
  });

  it('reconnects on READONLY without resending, and retries the Sentinels every 50 ms at least', () => {
    const reconnect = opts.reconnectOnError as (e: Error) => boolean | 1 | 2;
    expect(reconnect(new ReplyError("READONLY You can't write against a read only replica."))).toBe(1);
    expect(reconnect(new ReplyError('NOREPLICAS Not enough good replicas to write.'))).toBe(false);
    expect((opts.retryStrategy as (n: number) => number)(1)).toBe(50);
  });

  it('its settings say how it finds the master', () => {
    expect(sentinelWriterSettings(spec, 'chaos:r:w')).toMatchObject({
      via: 'sentinels',
      autoReconnect: true,
      reconnectDelayMs: 50,
    });
    const proxy = sentinelWriterSpec.parse({ kind: 'sentinel-writer' });
    expect(sentinelWriterSettings(proxy, 'chaos:r:w')).toMatchObject({
      via: 'proxy',
      library: 'ioredis 5 (via HAProxy)',
      operation: 'RPUSH chaos:r:w <seq>',
    });
    const waiting = sentinelWriterSpec.parse({ kind: 'sentinel-writer', waitReplicas: 1 });
    expect(sentinelWriterSettings(waiting, 'chaos:r:w').operation).toBe(
      'RPUSH chaos:r:w <seq>, then WAIT 1 (acknowledged once 1 replica has it)',
    );
  });
});

describe('a write followed by WAIT (waitReplicas)', () => {
  const redis = (wait: () => Promise<number>) =>
    ({ wait }) as unknown as Parameters<typeof waitForReplicas>[0];
  const outcomeAfter = async (wait: () => Promise<number>, elapsedMs = 10) => {
    try {
      await waitForReplicas(redis(wait), 1, 500, elapsedMs);
      return 'ok';
    } catch (err) {
      return classifyFailure(err, true);
    }
  };

  it('applied on the master but short of replicas, or its WAIT refused or never sent: unknown, never fail', async () => {
    expect(await outcomeAfter(async () => 1)).toBe('ok');
    expect(await outcomeAfter(async () => 0)).toBe('unknown');
    expect(
      await outcomeAfter(async () => {
        throw new ReplyError('ERR WAIT cannot be used with replica instances.');
      }),
    ).toBe('unknown');
    // The connection dropped between the RPUSH and the WAIT (ioredis's failover detector, a
    // +switch-master): ioredis refuses the WAIT with the words of a write never sent. A CI run
    // counted such a write `fail` and then read it back: "failed writes stay absent" broke.
    expect(
      await outcomeAfter(async () => {
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      }),
    ).toBe('unknown');
    expect(await outcomeAfter(async () => 1, 600)).toBe('unknown'); // no time left
  });

  it('asks nothing with waitReplicas 0', async () => {
    let asked = false;
    await waitForReplicas(
      redis(async () => {
        asked = true;
        return 0;
      }),
      0,
      500,
      10,
    );
    expect(asked).toBe(false);
  });
});
