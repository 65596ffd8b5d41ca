import { describe, expect, it } from 'vitest';
import type { NodeRef } from '../../core/provider.ts';
import { AutoScalingGroup } from './group.ts';

/** A fake stack: heads with running flags, lost zones, a clock moved by hand. */
function world(heads: [string, string][]) {
  const nodes = new Map<string, NodeRef & { running: boolean }>(
    heads.map(([name, az], i) => [name, { name, az, system: 'web', index: i + 1, running: true }]),
  );
  const lost = new Set<string>();
  const events: { type: string; node?: string; data?: Record<string, unknown> }[] = [];
  const lb = new Set(heads.map(([n]) => n));
  let now = 0;
  const group = new AutoScalingGroup(
    { desired: heads.length, azs: ['a', 'b', 'c'], replaceAfterMs: 1000, intervalMs: 250 },
    {
      heads: () => [...nodes.values()],
      running: async (n) => nodes.get(n)?.running ?? false,
      launch: async (name, az) => {
        if (lost.has(az)) throw new Error(`zone ${az} is lost`);
        const node = { name, az, system: 'web', index: nodes.size + 1, running: true };
        nodes.set(name, node);
        return node;
      },
      terminate: async (n) => {
        nodes.delete(n);
      },
      register: async (n) => {
        lb.add(n.name);
      },
      deregister: async (n) => {
        lb.delete(n);
      },
      impairedZones: () => lost,
      emit: (type, node, data) => events.push({ type, ...(node ? { node } : {}), ...(data ? { data } : {}) }),
      now: () => now,
      sleep: async () => {},
    },
  );
  return {
    group,
    nodes,
    lost,
    events,
    lb,
    at: (t: number) => {
      now = t;
    },
  };
}

describe('the web heads Auto Scaling group', () => {
  it('replaces a dead head in its own zone once it has been down for the grace period', async () => {
    const w = world([
      ['web-a', 'a'],
      ['web-b', 'b'],
      ['web-c', 'c'],
    ]);
    w.nodes.get('web-b')!.running = false;
    await w.group.tick();
    expect(w.nodes.has('web-b')).toBe(true); // within the grace period
    w.at(1000);
    await w.group.tick();
    expect(w.nodes.has('web-b')).toBe(false);
    expect([...w.nodes.values()].map((n) => [n.name, n.az])).toEqual([
      ['web-a', 'a'],
      ['web-c', 'c'],
      ['web-b-r1', 'b'],
    ]);
    expect(w.lb.has('web-b-r1')).toBe(true);
    expect(w.lb.has('web-b')).toBe(false);
    expect(w.events.map((e) => e.type)).toEqual([
      'unhealthy',
      'terminated',
      'launching',
      'in-service',
      'capacity-restored',
    ]);
  });

  it('while a zone is lost, replaces its heads in the surviving zones, spread evenly', async () => {
    const w = world([
      ['web-a', 'a'],
      ['web-b', 'b'],
      ['web-c', 'c'],
      ['web-b2', 'b'],
    ]);
    w.lost.add('b');
    w.nodes.get('web-b')!.running = false;
    w.nodes.get('web-b2')!.running = false;
    await w.group.tick();
    w.at(1500);
    await w.group.tick();
    const zones = [...w.nodes.values()].map((n) => n.az).sort();
    expect(zones).toEqual(['a', 'a', 'c', 'c']);
    expect(w.events.filter((e) => e.type === 'in-service')).toHaveLength(2);
  });

  it('a head that is running but cut off stays in the group (its instance is healthy)', async () => {
    const w = world([
      ['web-a', 'a'],
      ['web-b', 'b'],
    ]);
    w.lost.add('b');
    w.at(5000);
    await w.group.tick();
    expect(w.events).toEqual([]);
  });

  it('with every zone lost it says so once and launches nothing', async () => {
    const w = world([['web-a', 'a']]);
    for (const z of ['a', 'b', 'c']) w.lost.add(z);
    w.nodes.get('web-a')!.running = false;
    await w.group.tick();
    w.at(1000);
    await w.group.tick();
    w.at(1250);
    await w.group.tick();
    expect(w.events.filter((e) => e.type === 'launch-failed')).toHaveLength(1);
    expect(w.nodes.size).toBe(0);
  });
});
