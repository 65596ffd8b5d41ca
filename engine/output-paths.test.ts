import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChaosError } from '../core/errors.ts';
import { prepareOutputDir, prepareOutputFile } from './output-paths.ts';

const base = mkdtempSync(join(tmpdir(), 'chaos-out-'));
const errorOf = (fn: () => unknown): ChaosError => {
  try {
    fn();
  } catch (err) {
    return err as ChaosError;
  }
  throw new Error('expected an error');
};

describe('output locations, checked before a run starts', () => {
  it('creates missing parent folders and leaves no file behind', () => {
    const file = join(base, 'does/not/exist/r.json');
    expect(prepareOutputFile(file, '--json')).toBe(file);
    expect(existsSync(join(base, 'does/not/exist'))).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it('names the real cause: a file in the way, a folder given as a file', () => {
    writeFileSync(join(base, 'plain'), 'x');
    const e = errorOf(() => prepareOutputDir(join(base, 'plain/runs'), '--runs-dir'));
    expect(e.code).toBe('OUTPUT_NOT_WRITABLE');
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/a part of the path is a file, not a folder/);
    mkdirSync(join(base, 'adir'));
    expect(errorOf(() => prepareOutputFile(join(base, 'adir'), '--json')).message).toMatch(
      /is a folder, not a file/,
    );
    expect(errorOf(() => prepareOutputDir(join(base, 'plain'), '--runs-dir')).message).toMatch(/is a file/);
  });

  it.skipIf(process.getuid?.() === 0)('permission denied (skipped as root: root writes anywhere)', () => {
    const locked = join(base, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    expect(errorOf(() => prepareOutputDir(join(locked, 'x'), '--runs-dir')).message).toMatch(
      /permission denied/,
    );
  });
});
