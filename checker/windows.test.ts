import { describe, expect, it } from 'vitest';
import { faultWindows, windowAt } from './windows.ts';

describe('fault windows', () => {
  it('each measured, applied fault opens a window that the next one closes', () => {
    const w = faultWindows([
      { index: 0, tInject: 100, measured: true, status: 'applied' },
      { index: 1, tInject: 3100, measured: true, status: 'applied' },
    ]);
    expect(w).toEqual([
      { fault: 0, from: 100, until: 3100 },
      { fault: 1, from: 3100, until: null },
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
    expect(w).toEqual([{ fault: 1, from: 400, until: null }]);
  });
});
