import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHUNK_OPS, History, type Op, OpLog, SPILL_CACHE_CHUNKS } from './history.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'history-test-'));
  dirs.push(d);
  return d;
}

const op = (i: number): Op => ({
  probe: i % 3 === 0 ? 'a' : 'b',
  op: i % 11 === 0 ? 'read' : 'write',
  seq: i,
  ...(i % 5 === 0 ? {} : { process: i % 4 }),
  tInvoke: i * 0.5,
  tComplete: i * 0.5 + (i % 7),
  outcome: i % 13 === 0 ? 'unknown' : i % 17 === 0 ? 'fail' : 'ok',
  ...(i % 2 === 0 ? { node: `n${i % 3}` } : {}),
  ...(i % 13 === 0 ? { error: 'Command timed out' } : {}),
});

// Hundreds of thousands of operations a test, on a machine shared with other work.
describe('OpLog spilled to disk', { timeout: 60_000 }, () => {
  it('reads back every operation as the in-memory log holds it, a few chunks in memory at once', () => {
    const dir = tempDir();
    const spills = SPILL_CACHE_CHUNKS + 2;
    const n = spills * CHUNK_OPS + 1234;
    const spilled = new OpLog({ spillDir: dir });
    const memory = new OpLog();
    for (let i = 0; i < n; i++) {
      spilled.push(op(i));
      memory.push(op(i));
    }
    expect(spilled.length).toBe(n);
    expect(spilled.spillStats().written).toBe(spills);
    // The spill file is unlinked at once (POSIX): nothing is left in the directory.
    expect(readdirSync(dir)).toEqual([]);
    const a = spilled.chunks();
    const b = memory.chunks();
    expect(a.map((c) => [c.length, c.minInvoke, c.maxInvoke, c.minComplete, c.maxComplete])).toEqual(
      b.map((c) => [c.length, c.minInvoke, c.maxInvoke, c.minComplete, c.maxComplete]),
    );
    // Twice over: the second pass reads the chunks back again (the cache holds fewer).
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < a.length; k++) {
        const x = a[k]!;
        const y = b[k]!;
        for (let i = 0; i < x.length; i += 97) expect(spilled.opAt(x, i)).toEqual(memory.opAt(y, i));
        expect(Array.from(x.seq.subarray(0, x.length))).toEqual(Array.from(y.seq.subarray(0, y.length)));
      }
    }
    expect(spilled.spillStats().reads).toBe(2 * spills);
    expect(spilled.toOps()).toEqual(memory.toOps());
    expect(spilled.maxComplete()).toBe(memory.maxComplete());
    spilled.close();
  });

  it('skips a chunk outside a time range without reading it', () => {
    const log = new OpLog({ spillDir: tempDir() });
    for (let i = 0; i < 3 * CHUNK_OPS; i++) log.push(op(i));
    const before = log.spillStats().reads;
    let n = 0;
    for (const c of log.chunks()) {
      if (c.maxInvoke < 2 * CHUNK_OPS * 0.5) continue;
      for (let i = 0; i < c.length; i++) if (c.tInvoke[i]! >= 2 * CHUNK_OPS * 0.5) n++;
    }
    expect(n).toBe(CHUNK_OPS);
    // Only the chunk still filling was touched, in memory.
    expect(log.spillStats().reads).toBe(before);
    log.close();
  });

  it('keeps its chunks in memory when the spill file cannot be made', () => {
    const log = new OpLog({ spillDir: join(tempDir(), 'gone', 'away') });
    const n = 2 * CHUNK_OPS + 5;
    for (let i = 0; i < n; i++) log.push(op(i));
    expect(log.spillError).toBeInstanceOf(Error);
    expect(log.spillStats().written).toBe(0);
    expect(log.toOps()).toEqual(OpLog.from(Array.from({ length: n }, (_, i) => op(i))).toOps());
  });

  it('History spills beside its file and its completedAfter reads the last chunks', async () => {
    const dir = tempDir();
    const h = new History(join(dir, 'history.jsonl'));
    const n = 2 * CHUNK_OPS + 10;
    for (let i = 0; i < n; i++) h.record(op(i));
    expect(h.log.spillStats().written).toBe(2);
    const after = h.completedAfter((n - 20) * 0.5 + 10);
    expect(after.map((o) => o.seq)).toEqual(
      [...Array(n).keys()].filter((i) => op(i).tComplete > (n - 20) * 0.5 + 10),
    );
    await h.close();
    h.dispose();
    expect(readdirSync(dir)).toEqual(['history.jsonl']);
  });
});
