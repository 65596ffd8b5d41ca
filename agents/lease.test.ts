import { describe, expect, it } from 'vitest';
import { LeaseKeeper } from './lease.ts';
import { MemoryRegistry } from './registry/memory.ts';

/** A fake clock shared by the registry and the holders, with the holders' timers. */
function world() {
  const w = {
    now: 0,
    timers: [] as { at: number; fn: () => void; live: boolean }[],
    lost: [] as string[],
    registry: undefined as unknown as MemoryRegistry,
    down: false,
    advance(ms: number) {
      w.now += ms;
      for (const t of w.timers)
        if (t.live && t.at <= w.now) {
          t.live = false;
          t.fn();
        }
    },
    keeper(holder: string, ttlMs = 1000, marginMs = 200) {
      return new LeaseKeeper(
        { name: 'leader', holder, ttlMs, marginMs },
        {
          registry: {
            acquireLease: async (...a) => {
              if (w.down) throw new Error('registry unreachable');
              return w.registry.acquireLease(...a);
            },
            releaseLease: (...a) => w.registry.releaseLease(...a),
            getLease: (n) => w.registry.getLease(n),
          },
          now: () => w.now,
          setTimer: (fn, ms) => {
            const t = { at: w.now + ms, fn, live: true };
            w.timers.push(t);
            return () => {
              t.live = false;
            };
          },
          onLost: () => w.lost.push(holder),
        },
      );
    },
  };
  w.registry = new MemoryRegistry(() => w.now);
  return w;
}

describe('lease', () => {
  it('nobody else gets it while it runs; the first to ask after it ran out does, with a new term', async () => {
    const w = world();
    const a = w.keeper('a');
    const b = w.keeper('b');
    expect((await a.renew()).status).toBe('held');
    w.advance(999);
    expect(await b.renew()).toEqual({ status: 'refused', holder: 'a' });
    w.advance(1);
    const got = await b.renew();
    expect(got).toMatchObject({ status: 'held', lease: { holder: 'b', term: 2 }, continuous: false });
  });

  it('renewals keep the term; the holder may acknowledge until its deadline (ttl - margin from the send)', async () => {
    const w = world();
    const a = w.keeper('a');
    await a.renew();
    w.advance(300);
    expect(await a.renew()).toMatchObject({ status: 'held', continuous: true, lease: { term: 1 } });
    w.advance(799);
    expect(a.holds()).toBe(true);
    w.advance(1);
    expect(a.holds()).toBe(false);
  });

  it('self-fencing: with the registry gone, onLost fires at the deadline, before the registry lets another take it', async () => {
    const w = world();
    const a = w.keeper('a');
    const b = w.keeper('b');
    await a.renew();
    w.down = true;
    w.advance(500);
    expect((await a.renew()).status).toBe('error');
    expect(a.holds()).toBe(true);
    w.advance(300); // 800 = 1000 - 200: the deadline
    expect(w.lost).toEqual(['a']);
    expect(a.holds()).toBe(false);
    w.down = false;
    w.advance(199);
    expect((await b.renew()).status).toBe('refused'); // the registry still counts a's lease
    w.advance(1);
    expect((await b.renew()).status).toBe('held');
  });

  it('an answer that comes back after the deadline grants nothing', async () => {
    const w = world();
    const a = w.keeper('a');
    const slow = new LeaseKeeper(
      { name: 'leader', holder: 'a', ttlMs: 1000, marginMs: 200 },
      {
        registry: {
          acquireLease: async (...args) => {
            const l = await w.registry.acquireLease(...args);
            w.advance(900); // the answer takes 900 ms to come back
            return l;
          },
          releaseLease: async () => {},
        },
        now: () => w.now,
        setTimer: () => () => {},
        onLost: () => w.lost.push('a'),
      },
    );
    void a;
    expect((await slow.renew()).status).toBe('error');
    expect(slow.holds()).toBe(false);
  });

  it('a lapsed lease taken again by the same holder is a new tenure (not continuous)', async () => {
    const w = world();
    const a = w.keeper('a');
    await a.renew();
    w.advance(1500);
    expect(w.lost).toEqual(['a']);
    expect(await a.renew()).toMatchObject({ status: 'held', continuous: false, lease: { term: 2 } });
  });

  it('release lets another take it at once; a margin as long as the lease is refused', async () => {
    const w = world();
    const a = w.keeper('a');
    await a.renew();
    await a.release();
    expect((await w.keeper('b').renew()).status).toBe('held');
    expect(() => w.keeper('c', 1000, 1000)).toThrow(/margin/);
  });
});
