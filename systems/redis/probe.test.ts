import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { NotReplicatedError, classifyFailure, waitForReplicas } from './probe.ts';

// "Lost" rests on this: only an acknowledged write can be lost, and only an `unknown` one is
// left out of both lost and kept. A write wrongly called `fail` hides nothing; one wrongly
// called `ok` or `fail` when it may have been applied would hide or invent loss.
describe('how the Redis probe classifies a failed write', () => {
  it('never sent (no connection, no head record): fail', () => {
    expect(classifyFailure(new Error('connect ECONNREFUSED 127.0.0.1:1234'), false)).toBe('fail');
    expect(classifyFailure(new Error('no head record in the registry'), false)).toBe('fail');
    expect(classifyFailure(new Error('connect ETIMEDOUT'), false)).toBe('fail');
  });

  it('answered with an error reply (READONLY, NOREPLICAS): fail, it was not applied', () => {
    expect(
      classifyFailure(new ReplyError("READONLY You can't write against a read only replica."), true),
    ).toBe('fail');
    expect(classifyFailure(new ReplyError('NOREPLICAS Not enough good replicas to write.'), true)).toBe(
      'fail',
    );
  });

  it('refused by the client before it reached the socket: fail', () => {
    expect(
      classifyFailure(new Error("Stream isn't writeable and enableOfflineQueue options is false"), true),
    ).toBe('fail');
  });

  it('sent, then a timeout or a lost connection: unknown', () => {
    expect(classifyFailure(new Error('Command timed out'), true)).toBe('unknown');
    expect(classifyFailure(new Error('Connection is closed.'), true)).toBe('unknown');
    expect(classifyFailure(new Error('read ECONNRESET'), true)).toBe('unknown');
  });
});

describe("a write followed by WAIT (waitReplicas), the redis-writer's", () => {
  it('whatever the WAIT says when it fails, the write the head acknowledged is unknown, never fail', async () => {
    const failing = (err: Error) => ({
      wait: async () => {
        throw err;
      },
    });
    for (const err of [
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new ReplyError("READONLY You can't write against a read only replica."),
    ]) {
      const thrown = await waitForReplicas(failing(err) as never, 1, 500, 0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(thrown).toBeInstanceOf(NotReplicatedError);
      expect(classifyFailure(thrown, true)).toBe('unknown');
      // ... and the same error on the write itself, unsent, stays fail
      expect(classifyFailure(err, true)).toBe('fail');
    }
  });
});
