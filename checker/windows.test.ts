import { describe, expect, it } from 'vitest';
import type { Op } from '../core/history.ts';
import {
  type FaultWindow,
  appliedAt,
  faultWindows,
  measurementWindows,
  windowAt,
  windowAvailability,
} from './windows.ts';

describe('fault windows', () => {
  it('each measured, applied fault opens a window that the next one closes', () => {
    const w = faultWindows([
      { index: 0, tInject: 100, measured: true, status: 'applied' },
      { index: 1, tInject: 3100, measured: true, status: 'applied' },
    ]);
    expect(w).toEqual([
      { fault: 0, from: 100, injectedAt: 100, until: 3100, faults: [0] },
      { fault: 1, from: 3100, injectedAt: 3100, until: null, faults: [1] },
    ]);
    expect(windowAt(w, 50)).toBeUndefined();
    expect(windowAt(w, 3099)?.fault).toBe(0);
    expect(windowAt(w, 3100)?.fault).toBe(1);
  });

  it('measures from the applied instant, and holds what happens from the injection on', () => {
    const w = faultWindows([
      { index: 0, tInject: 100, tApplied: 140, measured: true, status: 'applied' },
      { index: 1, tInject: 3100, tApplied: 3300, measured: true, status: 'applied' },
    ]);
    expect(w).toEqual([
      { fault: 0, from: 140, injectedAt: 100, until: 3100, faults: [0] },
      { fault: 1, from: 3300, injectedAt: 3100, until: null, faults: [1] },
    ]);
    // While the second fault is being applied, what happens is already its own.
    expect(windowAt(w, 3200)?.fault).toBe(1);
    expect(windowAt(w, 120)?.fault).toBe(0);
  });

  it('falls back to the injection when the applied instant is not known', () => {
    expect(appliedAt({ tInject: 100, tApplied: null })).toBe(100);
    expect(appliedAt({ tInject: 100 })).toBe(100);
    expect(appliedAt({ tInject: 100, tApplied: 130 })).toBe(130);
    // A record that says it was applied before it was injected is not believed.
    expect(appliedAt({ tInject: 100, tApplied: 90 })).toBe(100);
    const w = faultWindows([{ index: 0, tInject: 100, tApplied: null, measured: true, status: 'applied' }]);
    expect(w[0]).toMatchObject({ from: 100, injectedAt: 100 });
  });

  it('an unmeasured fault folds into the window it falls in; a skipped one opens none', () => {
    const w = faultWindows([
      { index: 0, tInject: 0, measured: false, status: 'applied' }, // a preparation
      { index: 1, tInject: 400, measured: true, status: 'applied' },
      { index: 2, tInject: 500, measured: true, status: 'skipped' },
      { index: 3, tInject: 900, measured: false, status: 'applied' },
    ]);
    expect(w).toEqual([{ fault: 1, from: 400, injectedAt: 400, until: null, faults: [1, 3] }]);
  });

  it('a fault that comes before the stack recovered from the one before is judged with it', () => {
    const faults = [
      { index: 0, tInject: 0, measured: true, status: 'applied' as const }, // kill the head
      { index: 1, tInject: 450, measured: true, status: 'applied' as const }, // kill the tail, same `at`
      { index: 2, tInject: 5000, measured: true, status: 'applied' as const }, // later, after recovery
    ];
    const recoveredBy = (w: FaultWindow, t: number) => w.from === 0 && t >= 2000;
    expect(faultWindows(faults, recoveredBy)).toEqual([
      { fault: 0, from: 0, injectedAt: 0, until: 5000, faults: [0, 1] },
      { fault: 2, from: 5000, injectedAt: 5000, until: null, faults: [2] },
    ]);
  });

  it('a failure while the next fault is being applied does not keep the fault before from recovering', () => {
    const op = (seq: number, t: number, outcome: Op['outcome']): Op => ({
      probe: 'w',
      op: 'write',
      seq,
      tInvoke: t,
      tComplete: t + 1,
      outcome,
    });
    const history = [
      op(1, 110, 'fail'), // fault 0 (applied at 105)
      op(2, 600, 'ok'),
      op(3, 1000, 'ok'),
      op(4, 2000, 'ok'), // fault 0 recovered, stably
      op(5, 3150, 'fail'), // fault 1 injected at 3100, applied at 3300: already failing
      op(6, 3400, 'fail'),
      op(7, 3600, 'ok'),
    ];
    const faults = [
      { index: 0, tInject: 100, tApplied: 105, measured: true, status: 'applied' as const },
      { index: 1, tInject: 3100, tApplied: 3300, measured: true, status: 'applied' as const },
    ];
    const w = measurementWindows(faults, history, ['w'], 500);
    expect(w.map((x) => [x.fault, x.from, x.injectedAt, x.until])).toEqual([
      [0, 105, 100, 3100],
      [1, 3300, 3100, null],
    ]);
    expect(windowAvailability(history, w[0]!, 'w', 500, w[0]!.until)).toMatchObject({
      recovered: true,
      failures: 1,
    });
    // The second fault's: the failure seen while it was applied is its own, detected at once.
    expect(windowAvailability(history, w[1]!, 'w', 0, null)).toMatchObject({
      failures: 2,
      detectionMs: 0,
      window: { start: 3300, end: 3601 },
      failoverMs: 301,
      applyLagMs: 200,
    });
  });
});
