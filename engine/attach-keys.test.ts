import { describe, expect, it } from 'vitest';
import { emitKeysRemoval } from './attach.ts';

describe("what became of the probes' keys in an attached Redis", () => {
  const ctx = () => {
    const events: { type: string; node: string | undefined; data: unknown }[] = [];
    return {
      events,
      plan: { runId: 'r1' } as never,
      emit: (type: string, node: string | undefined, data?: Record<string, unknown>) => {
        events.push({ type, node, data });
      },
    };
  };

  it('removed, with how many (none is a count too)', () => {
    const c = ctx();
    emitKeysRemoval(c, 'redis-1', 12);
    emitKeysRemoval(c, 'redis-1', 0);
    expect(c.events).toEqual([
      { type: 'probe-keys-removed', node: 'redis-1', data: { keys: 12, pattern: 'chaos:r1:*' } },
      { type: 'probe-keys-removed', node: 'redis-1', data: { keys: 0, pattern: 'chaos:r1:*' } },
    ]);
  });

  it('left behind when the master did not answer the removal, with the pattern to delete by hand', () => {
    const c = ctx();
    emitKeysRemoval(c, 'redis-1', undefined);
    expect(c.events).toEqual([
      {
        type: 'probe-keys-left',
        node: 'redis-1',
        data: { pattern: 'chaos:r1:*', why: 'the master redis-1 did not answer the removal' },
      },
    ]);
  });
});
