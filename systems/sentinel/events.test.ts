import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../agents/registry/memory.ts';
import { hostsTable, namedEvent, parseSentinelEvent } from './events.ts';
import { MASTER_RECORD, SentinelWatch } from './watch.ts';

const names = new Map([
  ['10.9.1.10', 'sentinel-a'],
  ['10.9.2.10', 'sentinel-b'],
  ['10.9.3.10', 'sentinel-c'],
]);
const nameOf = (ip: string) => names.get(ip);

describe("Sentinel's events, as its pub/sub publishes them", () => {
  it('an instance: the master, a replica (with its master set), another Sentinel', () => {
    expect(parseSentinelEvent('+sdown', 'master mymaster 10.9.1.10 6379')).toMatchObject({
      type: '+sdown',
      instance: { kind: 'master', name: 'mymaster', ip: '10.9.1.10', port: 6379 },
    });
    expect(
      parseSentinelEvent('+promoted-slave', 'slave 10.9.3.10:6379 10.9.3.10 6379 @ mymaster 10.9.1.10 6379'),
    ).toMatchObject({
      instance: { kind: 'slave', ip: '10.9.3.10', port: 6379 },
      master: { name: 'mymaster', ip: '10.9.1.10', port: 6379 },
    });
    expect(parseSentinelEvent('+odown', 'master mymaster 10.9.1.10 6379 #quorum 2/2').instance?.kind).toBe(
      'master',
    );
    expect(
      parseSentinelEvent('+sdown', 'sentinel 7bb25d5d83d1 10.9.1.10 26379 @ mymaster 10.9.1.10 6379')
        .instance,
    ).toMatchObject({ kind: 'sentinel', ip: '10.9.1.10', port: 26379 });
  });

  it('+switch-master names the old and the new master; what names no instance keeps its text', () => {
    expect(parseSentinelEvent('+switch-master', 'mymaster 10.9.1.10 6379 10.9.3.10 6379').switch).toEqual({
      name: 'mymaster',
      from: { ip: '10.9.1.10', port: 6379 },
      to: { ip: '10.9.3.10', port: 6379 },
    });
    expect(parseSentinelEvent('+new-epoch', '1')).toEqual({ type: '+new-epoch', text: '1' });
    expect(parseSentinelEvent('+vote-for-leader', '909a184c 1')).toEqual({
      type: '+vote-for-leader',
      text: '909a184c 1',
    });
  });
});

describe('on the timeline', () => {
  const named = (channel: string, message: string) =>
    namedEvent(parseSentinelEvent(channel, message), 'sentinel-b', nameOf);

  it('a node going down or coming back names that node, and the Sentinel that saw it', () => {
    expect(named('+sdown', 'master mymaster 10.9.1.10 6379')).toMatchObject({
      type: '+sdown',
      node: 'sentinel-a',
      data: { sentinel: 'sentinel-b', instance: 'master' },
    });
    expect(named('-sdown', 'slave 10.9.1.10:6379 10.9.1.10 6379 @ mymaster 10.9.3.10 6379')).toMatchObject({
      node: 'sentinel-a',
      data: { instance: 'slave', master: 'sentinel-c' },
    });
  });

  it('the promotion names the promoted replica; the switch names the new master and where it came from', () => {
    expect(
      named('+promoted-slave', 'slave 10.9.3.10:6379 10.9.3.10 6379 @ mymaster 10.9.1.10 6379'),
    ).toMatchObject({ node: 'sentinel-c', data: { master: 'sentinel-a' } });
    expect(named('+switch-master', 'mymaster 10.9.1.10 6379 10.9.3.10 6379')).toMatchObject({
      node: 'sentinel-c',
      data: { from: 'sentinel-a', to: 'sentinel-c', sentinel: 'sentinel-b' },
    });
  });

  it('the steps of a failover name the Sentinel that leads it, and the master they are about', () => {
    for (const type of ['+try-failover', '+elected-leader', '+failover-state-select-slave', '+failover-end'])
      expect(named(type, 'master mymaster 10.9.1.10 6379')).toMatchObject({
        node: 'sentinel-b',
        data: { about: 'sentinel-a' },
      });
    expect(named('+new-epoch', '3')).toMatchObject({ node: 'sentinel-b', data: { text: '3' } });
  });

  it('an address no node has stays an address', () => {
    expect(named('+sdown', 'master mymaster 10.9.7.7 6379').node).toBe('10.9.7.7:6379');
  });

  it('/etc/hosts gives the addresses of the nodes asked for, nothing else', () => {
    const table = hostsTable(
      '127.0.0.1\tlocalhost\n# comment\n10.9.1.10\tsentinel-a\n10.9.2.10 sentinel-b # b\n10.9.1.10\tbd476893c2a1\n10.9.0.5 registry\n',
      ['sentinel-a', 'sentinel-b', 'sentinel-c'],
    );
    expect([...table]).toEqual([
      ['10.9.1.10', 'sentinel-a'],
      ['10.9.2.10', 'sentinel-b'],
    ]);
  });
});

describe('the watcher beside a Sentinel', () => {
  const setup = () => {
    const registry = new MemoryRegistry();
    const emitted: { type: string; data: Record<string, unknown> }[] = [];
    const watch = new SentinelWatch('sentinel-b', {
      emit: (type, data = {}) => emitted.push({ type, data }),
      registry,
      nameOf,
      sleep: async () => {},
    });
    return { registry, emitted, watch };
  };

  it('puts every event on the timeline and sets the master record at start, once, only if absent', async () => {
    const { registry, emitted, watch } = setup();
    await watch.publishInitial('sentinel-a');
    await watch.publishInitial('sentinel-c'); // a second watcher, or a restart: the record stays
    expect((await registry.get(MASTER_RECORD))?.value).toBe('sentinel-a');
    watch.onEvent('+sdown', 'master mymaster 10.9.1.10 6379');
    expect(emitted.at(-1)).toEqual({
      type: '+sdown',
      data: {
        node: 'sentinel-a',
        sentinel: 'sentinel-b',
        text: 'master mymaster 10.9.1.10 6379',
        instance: 'master',
      },
    });
  });

  it('moves the record on +switch-master, and a second +switch-master to the same node changes nothing', async () => {
    const { registry, emitted, watch } = setup();
    await watch.publishInitial('sentinel-a');
    watch.onEvent('+switch-master', 'mymaster 10.9.1.10 6379 10.9.3.10 6379');
    await watch.settled();
    watch.onEvent('+switch-master', 'mymaster 10.9.1.10 6379 10.9.3.10 6379');
    await watch.settled();
    expect(registry.changes.map((c) => c.value)).toEqual(['sentinel-a', 'sentinel-c']);
    expect(emitted.filter((e) => e.type === 'master-record-set')).toEqual([
      { type: 'master-record-set', data: { node: 'sentinel-a', previous: null, why: 'start' } },
      {
        type: 'master-record-set',
        data: { node: 'sentinel-c', previous: 'sentinel-a', why: 'switch-master' },
      },
    ]);
  });

  it('writes conditionally: a watcher that read an old version reads again instead of overwriting', async () => {
    const { registry, watch } = setup();
    await watch.publishInitial('sentinel-a');
    const set = registry.set.bind(registry);
    let raced = false;
    registry.set = async (name, value, ttl, ifVersion) => {
      if (!raced) {
        raced = true; // another watcher moves it first
        await set(name, 'sentinel-c', ttl);
      }
      return set(name, value, ttl, ifVersion);
    };
    watch.onEvent('+switch-master', 'mymaster 10.9.1.10 6379 10.9.3.10 6379');
    await watch.settled();
    expect(registry.changes.map((c) => c.value)).toEqual(['sentinel-a', 'sentinel-c']);
  });

  it('a switch to an address no node has moves nothing; a registry that keeps failing is said', async () => {
    const { registry, emitted, watch } = setup();
    watch.onEvent('+switch-master', 'mymaster 10.9.1.10 6379 10.9.7.7 6379');
    await watch.settled();
    expect(registry.changes).toEqual([]);
    registry.get = async () => {
      throw new Error('registry GET sentinel-master: HTTP 500');
    };
    watch.onEvent('+switch-master', 'mymaster 10.9.1.10 6379 10.9.3.10 6379');
    await watch.settled();
    expect(emitted.at(-1)).toMatchObject({
      type: 'master-record-failed',
      data: { node: 'sentinel-c', error: 'registry GET sentinel-master: HTTP 500' },
    });
  });
});
