import { describe, expect, it } from 'vitest';
import type { Op, Outcome } from '../core/history.ts';
import { availability } from './availability.ts';

/** A history from a compact script: [tInvoke, tComplete, outcome]. */
function history(rows: [number, number, Outcome][]): Op[] {
  return rows.map(([tInvoke, tComplete, outcome], i) => ({
    probe: 'w',
    op: 'write',
    seq: i + 1,
    tInvoke,
    tComplete,
    outcome,
  }));
}

describe('availability', () => {
  it('no failure at all: no outage, and no failover figure (the gap to the next write is not one)', () => {
    const h = history([
      [0, 1, 'ok'],
      [10, 11, 'ok'],
      [20, 21, 'ok'],
    ]);
    const a = availability(h, 5);
    expect(a.outage).toBe(false);
    expect(a.detectionMs).toBeNull();
    expect(a.window).toBeNull();
    expect(a.unavailabilityMs).toBeNull();
    expect(a.failoverMs).toBeNull();
    expect(a.recovered).toBe(true);
    expect(a.outages).toBe(0);
  });

  it('a stall without a failure (a frozen disk): no outage, but the longest stretch without an acknowledgement', () => {
    const h = history([
      [0, 1, 'ok'],
      [10, 11, 'ok'], // the fault at 15
      [20, 1520, 'ok'], // held by the frozen disk, acknowledged when it thaws
      [1530, 1531, 'ok'],
      [1540, 1541, 'ok'],
    ]);
    const a = availability(h, 15);
    expect(a.outage).toBe(false);
    expect(a.longestStallMs).toBe(1505); // from the fault to the acknowledgement at 1520
    expect(availability(h, 1525).longestStallMs).toBe(10);
    expect(availability(h, 2000).longestStallMs).toBeNull();
    // No acknowledgement after the fault at all: one stall, to the last write seen.
    const dead = history([
      [0, 1, 'ok'],
      [10, 510, 'unknown'],
      [520, 1020, 'unknown'],
    ]);
    expect(availability(dead, 5).longestStallMs).toBe(1015);
  });

  it("a write the probe's own stop cut short is no failure (k6 drops requests in flight when stopped)", () => {
    const h = history([
      [0, 1, 'ok'],
      [10, 11, 'fail'],
      [20, 21, 'ok'],
      [30, 31, 'ok'],
      [40, 41, 'unknown'],
    ]);
    expect(availability(h, 5, undefined, 5).recovered).toBe(false);
    h[4]!.cutByProbe = true;
    expect(availability(h, 5, undefined, 5)).toMatchObject({ recovered: true, failoverMs: 16 });
  });

  it('no write at all after the fault: not recovered, and no outage claimed', () => {
    const a = availability(history([[0, 1, 'ok']]), 5);
    expect(a.outage).toBe(false);
    expect(a.recovered).toBe(false);
  });

  it('a window ends where the next fault begins: each fault gets its own figures', () => {
    const h = history([
      [0, 1, 'ok'],
      [110, 120, 'fail'], // fault 1 at 100
      [1600, 1601, 'ok'], // fault 1 recovers
      [2000, 2001, 'ok'],
      [3110, 3120, 'fail'], // fault 2 at 3100
      [4200, 4201, 'ok'],
      [5300, 5301, 'ok'],
    ]);
    const first = availability(h, 100, undefined, 0, 3100);
    expect(first.failoverMs).toBe(1501);
    expect(first.unavailabilityMs).toBe(1491);
    expect(first.failures).toBe(1);
    const second = availability(h, 3100, undefined, 0, null);
    expect(second.failoverMs).toBe(1101);
    expect(second.detectionMs).toBe(20);
    // Without windows the second fault's failure would make the first look 4 s long.
    const folded = availability(h, 100);
    expect(folded.failoverMs).toBe(4101);
  });

  it('a recovery cut short by the next fault is not stable', () => {
    const h = history([
      [110, 120, 'fail'],
      [200, 201, 'ok'],
      [300, 301, 'ok'],
      [400, 401, 'fail'],
    ]);
    const a = availability(h, 100, undefined, 500, 350);
    expect(a.recovered).toBe(false);
    expect(a.stableForMs).toBe(100);
  });

  it('one outage: detection, window and failover as defined', () => {
    const h = history([
      [0, 1, 'ok'],
      [100, 101, 'ok'],
      [200, 210, 'fail'], // first failure after the fault at 150
      [300, 800, 'unknown'],
      [820, 830, 'fail'], // last failure
      [900, 905, 'ok'], // first success after the last failure
      [1000, 1001, 'ok'],
    ]);
    const a = availability(h, 150);
    expect(a.detectionMs).toBe(60);
    expect(a.window).toEqual({ start: 200, end: 905 });
    expect(a.unavailabilityMs).toBe(705);
    expect(a.failoverMs).toBe(755);
    expect(a.recoveredAt).toBe(905);
    expect(a.failures).toBe(3);
    expect(a.unknown).toBe(1);
    expect(a.outages).toBe(1);
  });

  it('flapping: the window spans every outage and failover waits for the last one', () => {
    const h = history([
      [0, 5, 'fail'],
      [10, 15, 'ok'], // a success that does not last
      [20, 25, 'fail'],
      [30, 35, 'ok'],
      [40, 45, 'unknown'],
      [50, 55, 'ok'],
      [60, 65, 'ok'],
    ]);
    const a = availability(h, 0);
    expect(a.outages).toBe(3);
    expect(a.window).toEqual({ start: 0, end: 55 });
    expect(a.failoverMs).toBe(55);
    expect(a.detectionMs).toBe(5);
  });

  it('never recovered: failover and the window end are null', () => {
    const h = history([
      [0, 1, 'ok'],
      [10, 12, 'fail'],
      [20, 520, 'unknown'],
      [530, 531, 'fail'],
    ]);
    const a = availability(h, 5);
    expect(a.recovered).toBe(false);
    expect(a.failoverMs).toBeNull();
    expect(a.recoveredAt).toBeNull();
    expect(a.window).toEqual({ start: 10, end: null });
    expect(a.unavailabilityMs).toBeNull();
  });

  it('a recovery seen for less than stableMs is not a recovery (flapping until the probe stopped)', () => {
    const h = history([
      [0, 5, 'fail'],
      [10, 15, 'ok'],
      [20, 25, 'fail'],
      [30, 35, 'ok'], // the last failure is at 25; this success is followed by only 10 ms
      [40, 45, 'ok'],
    ]);
    const short = availability(h, 0, undefined, 100);
    expect(short.recovered).toBe(false);
    expect(short.failoverMs).toBeNull();
    expect(short.stableForMs).toBe(10);
    const long = availability(h, 0, undefined, 10);
    expect(long.recovered).toBe(true);
    expect(long.failoverMs).toBe(35);
  });

  it('a clock tie between a failure and a success goes against recovery', () => {
    const h = history([
      [10, 20, 'fail'],
      [15, 20, 'ok'], // completes at the same instant as the failure: not stable
      [30, 31, 'ok'],
    ]);
    const a = availability(h, 0);
    expect(a.recoveredAt).toBe(31);
    expect(a.failoverMs).toBe(31);
  });

  it('a success invoked before the fault does not count as recovery', () => {
    const h = history([
      [90, 130, 'ok'], // sent before the fault at 100, acknowledged after
      [110, 120, 'fail'],
      [140, 141, 'ok'],
    ]);
    const a = availability(h, 100);
    expect(a.failoverMs).toBe(41);
  });

  it('a failure invoked before the fault starts the window at the fault', () => {
    const h = history([
      [90, 600, 'unknown'],
      [610, 611, 'ok'],
    ]);
    const a = availability(h, 100);
    expect(a.window).toEqual({ start: 100, end: 611 });
    expect(a.detectionMs).toBe(500);
  });

  it('two writes in flight: the window starts at the failure sent first, not the one that failed first', () => {
    // Slot 0 sends at 200 and hangs to its 500 ms timeout; slot 1 sends at 250 and is refused at
    // once. The refusal completes first (260), but the service was unavailable from 200 on.
    const h: Op[] = [
      { probe: 'w', op: 'write', seq: 1, process: 0, tInvoke: 100, tComplete: 101, outcome: 'ok' },
      { probe: 'w', op: 'write', seq: 2, process: 1, tInvoke: 110, tComplete: 111, outcome: 'ok' },
      { probe: 'w', op: 'write', seq: 3, process: 0, tInvoke: 200, tComplete: 700, outcome: 'unknown' },
      { probe: 'w', op: 'write', seq: 4, process: 1, tInvoke: 250, tComplete: 260, outcome: 'fail' },
      { probe: 'w', op: 'write', seq: 5, process: 1, tInvoke: 300, tComplete: 310, outcome: 'fail' },
      { probe: 'w', op: 'write', seq: 6, process: 0, tInvoke: 800, tComplete: 805, outcome: 'ok' },
      { probe: 'w', op: 'write', seq: 7, process: 1, tInvoke: 810, tComplete: 815, outcome: 'ok' },
    ];
    const a = availability(h, 150);
    expect(a.detectionMs).toBe(110); // the first failure seen completes at 260
    expect(a.window).toEqual({ start: 200, end: 805 });
    expect(a.unavailabilityMs).toBe(605);
    expect(a.failoverMs).toBe(655);
    // The same writes in the other order of completion give the same window.
    const swapped = h.map((o) => (o.seq === 3 ? { ...o, tComplete: 255, outcome: 'fail' as const } : o));
    expect(availability(swapped, 150).window).toEqual({ start: 200, end: 805 });
  });

  it('measures from the applied instant; what completes while the fault is applied is still its own', () => {
    // Injected at 100, applied (the provider said done) at 140.
    const h = history([
      [0, 1, 'ok'],
      [110, 120, 'fail'], // failed while the fault was being applied
      [130, 135, 'ok'], // sent before it was applied: no recovery
      [150, 160, 'fail'],
      [300, 301, 'ok'],
      [400, 401, 'ok'],
    ]);
    const a = availability(h, 140, undefined, 0, null, 100);
    expect(a).toMatchObject({ faultAt: 140, injectedAt: 100, applyLagMs: 40 });
    expect(a.failures).toBe(2);
    expect(a.detectionMs).toBe(0); // it had taken effect before the provider said so
    expect(a.window).toEqual({ start: 140, end: 301 });
    expect(a.failoverMs).toBe(161);
    expect(a.unavailabilityMs).toBe(161);
    expect(a.longestStallMs).toBe(161);
    expect(a.outages).toBe(1);
    // Measured from the injection instead, every figure would carry the 40 ms the provider took.
    const fromInjection = availability(h, 100);
    expect(fromInjection.failoverMs).toBe(201);
    expect(fromInjection.detectionMs).toBe(20);
    expect(fromInjection.applyLagMs).toBe(0);
  });

  it('no stall from writes acknowledged while the fault was being applied and none after it', () => {
    // Injected at 100, applied at 400 (a slow stop); the run ended before any write after it.
    const h = history([
      [150, 200, 'ok'],
      [250, 300, 'ok'],
    ]);
    expect(availability(h, 400, undefined, 0, null, 100).longestStallMs).toBeNull();
    // A failure after the applied instant is seen: the stall runs from the fault to it.
    const failedAfter = history([
      [150, 200, 'ok'],
      [350, 700, 'unknown'],
    ]);
    expect(availability(failedAfter, 400, undefined, 0, null, 100).longestStallMs).toBe(300);
  });

  it("failures before the fault are not the fault's", () => {
    const h = history([
      [0, 1, 'fail'],
      [10, 11, 'ok'],
      [20, 21, 'ok'],
    ]);
    const a = availability(h, 15);
    expect(a.detectionMs).toBeNull();
    expect(a.outage).toBe(false);
  });

  it('orders an unsorted history by completion', () => {
    const h = history([
      [30, 31, 'ok'],
      [10, 12, 'fail'],
      [0, 1, 'ok'],
    ]);
    const a = availability(h, 5);
    expect(a.failoverMs).toBe(26);
  });

  it('counts only the named probe and only writes', () => {
    const h: Op[] = [
      { probe: 'other', op: 'write', seq: 1, tInvoke: 10, tComplete: 11, outcome: 'fail' },
      { probe: 'w', op: 'read', seq: 2, tInvoke: 12, tComplete: 13, outcome: 'fail' },
      { probe: 'w', op: 'write', seq: 3, tInvoke: 14, tComplete: 15, outcome: 'ok' },
    ];
    const a = availability(h, 0, 'w');
    expect(a.detectionMs).toBeNull();
    expect(a.outage).toBe(false);
    expect(a.operations).toBe(1);
  });

  it('handles a million operations', () => {
    const n = 1_000_000;
    const h: Op[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const outcome: Outcome = i > 500_000 && i < 500_300 ? 'fail' : 'ok';
      h[i] = { probe: 'w', op: 'write', seq: i, tInvoke: i, tComplete: i + 0.5, outcome };
    }
    // Its speed is measured by `npm run bench`, not asserted here.
    const a = availability(h, 500_000);
    expect(a.failoverMs).toBe(300.5);
  });
});
