import { describe, expect, it } from 'vitest';
import { faultWindows, windowAt } from './windows.ts';

describe('fault windows', () => {
  it('each measured, applied fault opens a window that the next one closes', () => {
    const w = faultWindows([
      { index: 0, tInject: 100, measured: true, status: 'applied' },
      { index: 1, tInject: 3100, measured: true, status: 'applied' },
    ]);
    expect(w).toEqual([
      { fault: 0, from: 100, until: 3100, faults: [0] },
      { fault: 1, from: 3100, until: null, faults: [1] },
    ]);
    expect(windowAt(w, 50)).toBeUndefined();
    expect(windowAt(w, 3099)?.fault).toBe(0);
    expect(windowAt(w, 3100)?.fault).toBe(1);
  });

  it('an unmeasured fault folds into the window it falls in; a skipped one opens none', () => {
    const w = faultWindows([
      { index: 0, tInject: 0, measured: false, status: 'applied' }, // a preparation
      { index: 1, tInject: 400, measured: true, status: 'applied' },
      { index: 2, tInject: 500, measured: true, status: 'skipped' },
      { index: 3, tInject: 900, measured: false, status: 'applied' },
    ]);
    expect(w).toEqual([{ fault: 1, from: 400, until: null, faults: [1, 3] }]);
  });

  it('a fault that comes before the stack recovered from the one before is judged with it', () => {
    const faults = [
      { index: 0, tInject: 0, measured: true, status: 'applied' as const }, // kill the head
      { index: 1, tInject: 450, measured: true, status: 'applied' as const }, // kill the tail, same `at`
      { index: 2, tInject: 5000, measured: true, status: 'applied' as const }, // later, after recovery
    ];
    const recoveredBy = (from: number, t: number) => from === 0 && t >= 2000;
    expect(faultWindows(faults, recoveredBy)).toEqual([
      { fault: 0, from: 0, until: 5000, faults: [0, 1] },
      { fault: 2, from: 5000, until: null, faults: [2] },
    ]);
  });
});
