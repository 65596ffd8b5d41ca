import { describe, expect, it } from 'vitest';
import { SeqSet } from '../core/history.ts';
import { readBackList } from './read-back.ts';

describe('readBackList', () => {
  it('reads a list page by page until a page comes back short, into a SeqSet', async () => {
    const list = Array.from({ length: 25 }, (_, i) => String(i * 2));
    const asked: [number, number][] = [];
    const values = await readBackList(async (from, to) => {
      asked.push([from, to]);
      return list.slice(from, to + 1);
    }, 10);
    expect(asked).toEqual([
      [0, 9],
      [10, 19],
      [20, 29],
    ]);
    expect(values).toBeInstanceOf(SeqSet);
    expect([...values]).toEqual(list.map(Number));
  });

  it('asks once more after a full last page, and reads an empty list as empty', async () => {
    const list = ['1', '2', '3', '4'];
    let calls = 0;
    const values = await readBackList(async (from, to) => {
      calls++;
      return list.slice(from, to + 1);
    }, 2);
    expect(calls).toBe(3);
    expect(values.size).toBe(4);
    expect((await readBackList(async () => [])).size).toBe(0);
  });
});
