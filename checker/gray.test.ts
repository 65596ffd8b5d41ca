import { describe, expect, it } from 'vitest';
import type { Op } from '../core/history.ts';
import type { FaultRecord, LeadershipChange } from '../core/result.ts';
import { falseFailovers, isTimeout, latencyByFault, phaseLatency } from './gray.ts';

const w = (seq: number, tInvoke: number, ms: number, outcome: Op['outcome'] = 'ok', error?: string): Op => ({
  probe: 'writes',
  op: 'write',
  seq,
  tInvoke,
  tComplete: tInvoke + ms,
  outcome,
  ...(error ? { error } : {}),
});

const fault = (
  index: number,
  action: string,
  tInject: number,
  tReverted?: number,
  nodes = ['pg-a'],
): FaultRecord => ({
  index,
  action,
  target: 'pg:primary',
  nodes,
  status: 'applied',
  method: 'm',
  tInject,
  tApplied: tInject + 10,
  ...(tReverted === undefined ? {} : { tReverted }),
  measured: true,
});

describe('latency by fault', () => {
  it('splits a probe into before, during and after, by invocation, with timeouts and errors apart', () => {
    const history = [
      w(1, 0, 1),
      w(2, 50, 2),
      w(3, 100, 3),
      // the fault: injected at 200, applied at 210, reverted at 600
      w(4, 205, 1), // sent while it was being applied: in no phase
      w(5, 220, 101),
      w(6, 300, 102),
      w(7, 400, 500, 'unknown', 'Command timed out'),
      w(8, 450, 3, 'fail', 'READONLY You can’t write against a read only replica.'),
      w(9, 440, 140),
      w(12, 590, 60), // in flight when the revert began (due at 600): it saw the fault go
      w(10, 650, 1),
      w(11, 700, 2),
    ];
    const [l] = latencyByFault(history, 'writes', [{ ...fault(0, 'latency', 200, 620), tRevertDue: 600 }], 0);
    expect(l!.fault).toBe(0);
    expect(l!.before).toMatchObject({ from: 0, to: 200, ok: 3, timeouts: 0, errors: 0 });
    expect(l!.during).toMatchObject({ from: 210, to: 600, operations: 5, ok: 3, timeouts: 1, errors: 1 });
    // Invoked while the revert ran (600-620): neither during nor after.
    expect(l!.during.latencyMs).toEqual({ p50: 102, p99: 140, max: 140 });
    expect(l!.after).toMatchObject({ from: 620, to: null, ok: 2, latencyMs: { p50: 2, p99: 2, max: 2 } });
  });

  it('runs each before from the previous revert; a fault never reverted has no after', () => {
    const history = [w(1, 0, 1), w(2, 150, 1), w(3, 350, 1), w(4, 500, 1)];
    const faults = [fault(0, 'latency', 100, 300), fault(1, 'kill', 400)];
    const [a, b] = latencyByFault(history, 'writes', faults, 0);
    expect(a!.during).toMatchObject({ from: 110, to: 300, ok: 1 });
    expect(a!.after).toMatchObject({ from: 300, to: 400, ok: 1 });
    expect(b!.before).toMatchObject({ from: 300, to: 400, ok: 1 });
    // (the first fault had been reverted at 300)
    expect(b!.during).toMatchObject({ from: 410, to: null, ok: 1 });
    expect(b!.after).toBeNull();
  });

  it('a fault overlapped by the next one: its during ends where that one begins, and it has no after', () => {
    const history = [w(1, 0, 1), w(2, 150, 300), w(3, 450, 1), w(4, 700, 1)];
    const [a, b] = latencyByFault(
      history,
      'writes',
      [fault(0, 'latency', 100, 800), fault(1, 'kill', 400)],
      0,
    );
    expect(a!.during).toMatchObject({ from: 110, to: 400, ok: 1, latencyMs: { p50: 300 } });
    expect(a!.after).toBeNull();
    expect(b!.before).toMatchObject({ from: 110, to: 400, ok: 1 });
    expect(b!.during).toMatchObject({ from: 410, ok: 2 });
  });

  it('has no latency figure where nothing was acknowledged', () => {
    expect(phaseLatency([w(1, 0, 500, 'unknown', 'timeout')], 'writes', 0, null)).toMatchObject({
      operations: 1,
      ok: 0,
      timeouts: 1,
      latencyMs: null,
    });
  });

  it('tells a timeout from an error by the probe’s message', () => {
    expect(isTimeout({ outcome: 'unknown', error: 'Command timed out' })).toBe(true);
    expect(isTimeout({ outcome: 'unknown', error: 'Query read timeout' })).toBe(true);
    expect(isTimeout({ outcome: 'unknown', error: 'ECONNRESET' })).toBe(false);
    expect(isTimeout({ outcome: 'ok', error: 'timeout' })).toBe(false);
  });
});

describe('false failovers', () => {
  const change = (t: number, from: string, to: string): LeadershipChange => ({
    t,
    from,
    to,
    promotedAt: null,
    fault: 0,
  });
  const nodes = new Set(['pg-a', 'pg-b', 'pg-c']);

  it('names a leader change while every node was up (a gray fault in force)', () => {
    const out = falseFailovers([change(3000, 'pg-a', 'pg-b')], [fault(0, 'stress', 100, 8000)], nodes);
    expect(out).toEqual([{ t: 3000, from: 'pg-a', to: 'pg-b', fault: 0, during: ['#1 stress'] }]);
  });

  it('does not name one while a node was killed, stopped, paused or its server killed', () => {
    for (const action of ['kill', 'stop', 'pause', 'kill-process']) {
      const out = falseFailovers([change(3000, 'pg-a', 'pg-b')], [fault(0, action, 100, 5000)], nodes, 4000);
      expect(out, action).toEqual([]);
    }
  });

  it('a node that came back long ago no longer explains a change', () => {
    const out = falseFailovers([change(20_000, 'pg-a', 'pg-b')], [fault(0, 'stop', 100, 2000)], nodes, 4000);
    expect(out).toHaveLength(1);
    expect(out[0]!.during).toEqual([]);
  });

  it('a fault on another system’s node does not explain a change', () => {
    const out = falseFailovers(
      [change(3000, 'pg-a', 'pg-b')],
      [fault(0, 'kill', 100, undefined, ['redis-a'])],
      nodes,
    );
    expect(out).toHaveLength(1);
  });
});
