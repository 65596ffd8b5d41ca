import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { JsonLines, watchEvents } from './etcd.ts';
import { LEADER_RECORD, LeaderKeyMirror } from './leader-mirror.ts';

function mirror() {
  const registry = new MemoryRegistry();
  const events: { type: string; node: string | undefined; data?: Record<string, unknown> }[] = [];
  const m = new LeaderKeyMirror({
    registry,
    members: () => [],
    emit: (type, node, data) => events.push({ type, node, ...(data ? { data } : {}) }),
  });
  return { m, registry, events };
}

describe("the leader key's mirror in the registry", () => {
  it('moves the record when another member takes the key, not when the key runs out', async () => {
    const { m, registry, events } = mirror();
    m.seen({ value: 'patroni-a', revision: 9 }, 'watch');
    await m.settled();
    expect((await registry.get(LEADER_RECORD))?.value).toBe('patroni-a');
    m.seen({ value: null, revision: 27 }, 'watch');
    await m.settled();
    expect((await registry.get(LEADER_RECORD))?.value).toBe('patroni-a');
    m.seen({ value: 'patroni-c', revision: 28 }, 'watch');
    await m.settled();
    expect(await registry.get(LEADER_RECORD)).toMatchObject({ value: 'patroni-c', version: 2 });
    expect(events.map((e) => [e.type, e.node, e.data?.previous])).toEqual([
      ['leader-key', 'patroni-a', null],
      ['leader-key-gone', 'patroni-a', undefined],
      ['leader-key', 'patroni-c', 'patroni-a'],
    ]);
  });

  it('takes each change once, in revision order, whether the watch or the poll saw it first', async () => {
    const { m, registry, events } = mirror();
    m.seen({ value: 'patroni-a', revision: 9 }, 'poll');
    m.seen({ value: 'patroni-a', revision: 9 }, 'watch');
    m.seen({ value: 'patroni-b', revision: 30 }, 'watch');
    // a stale read from a member behind the others
    m.seen({ value: 'patroni-a', revision: 12 }, 'poll');
    await m.settled();
    expect((await registry.get(LEADER_RECORD))?.value).toBe('patroni-b');
    expect(events.map((e) => e.node)).toEqual(['patroni-a', 'patroni-b']);
  });
});

describe("etcd's watch stream", () => {
  it('reads puts and deletes of the key from JSON objects split anywhere across chunks', () => {
    const got: unknown[] = [];
    const lines = new JsonLines((o) => got.push(...watchEvents(o)));
    const put = JSON.stringify({
      result: {
        header: { revision: '30' },
        events: [
          {
            kv: {
              key: 'L3NlcnZpY2UvY2hhb3MvbGVhZGVy',
              value: Buffer.from('patroni-b').toString('base64'),
              mod_revision: '30',
            },
          },
        ],
      },
    });
    const del = JSON.stringify({
      result: {
        header: { revision: '41' },
        events: [{ type: 'DELETE', kv: { key: 'x', mod_revision: '41' } }],
      },
    });
    const created = JSON.stringify({ result: { header: { revision: '29' }, created: true } });
    const text = `${created}\n${put}\n${del}\n`;
    lines.push(text.slice(0, 50));
    lines.push(text.slice(50, 170));
    lines.push(text.slice(170));
    expect(got).toEqual([
      { value: 'patroni-b', revision: 30 },
      { value: null, revision: 41 },
    ]);
    expect(() => watchEvents({ error: { message: 'compacted' } })).toThrow(/compacted/);
  });
});
