import { describe, expect, it } from 'vitest';
import { lineColumn, notTextReason, parseJson } from './text-file.ts';

describe('text files', () => {
  it('says why a file is not text', () => {
    expect(notTextReason(Buffer.from(''))).toBe('the file is empty');
    expect(notTextReason(Buffer.from(' \n\t\n'))).toMatch(/only white space/);
    expect(notTextReason(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]))).toMatch(/binary/);
    expect(notTextReason(Buffer.from([0xff, 0xfe, 0xfd, 0x41, 0xc3]))).toMatch(/not UTF-8/);
    expect(notTextReason(Buffer.from('name: x\n'))).toBeUndefined();
  });

  it('JSON errors at a line and column', () => {
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
    expect(() => parseJson('{"name": "x",\n "stack": {,}\n}')).toThrow(/^line 2, column 12: /);
    expect(() => parseJson('{"schema":"chaos-harness/run-result","schemaV')).toThrow(/^line 1, column \d+: /);
    expect(parseJson('{"a":1}')).toEqual({ a: 1 });
  });
});
