import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../core/errors.ts';

/** The real cause of a file-system error, in words a user can act on. */
function cause(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EROFS':
      return 'read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'a part of the path is a file, not a folder';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EISDIR':
      return 'is a folder, not a file';
    case 'ENOENT':
      return 'files cannot be created there (not an ordinary file system)';
    default:
      return e.message ?? String(err);
  }
}

function fail(what: string, path: string, why: string): never {
  throw new UsageError('OUTPUT_NOT_WRITABLE', `${what} ${path}: cannot write there: ${why}`, {
    hint: 'choose a writable location; parent folders are created as needed',
  });
}

/** Throws the real reason a file cannot be created in `dir` (an existing folder), if there is one. */
function assertWritable(dir: string, what: string, shown: string): void {
  const probe = join(dir, `.chaos-write-test-${process.pid}`);
  try {
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
  } catch (err) {
    fail(what, shown, cause(err));
  }
}

/** Makes sure a folder exists (parents too) and can be written to; checked before a run starts. */
export function prepareOutputDir(dir: string, what: string, shown = resolve(dir)): string {
  const abs = resolve(dir);
  if (existsSync(abs) && !statSync(abs).isDirectory())
    fail(
      what,
      shown,
      shown === abs ? 'is a file, not a folder' : 'a part of the path is a file, not a folder',
    );
  if (!existsSync(abs)) {
    // Ask the deepest folder that exists first: mkdir -p reports some causes poorly (ENOENT on a
    // read-only file system) and loops for ever under /proc on Node 20.
    let parent = dirname(abs);
    while (!existsSync(parent) && parent !== dirname(parent)) parent = dirname(parent);
    if (!statSync(parent).isDirectory()) fail(what, shown, 'a part of the path is a file, not a folder');
    assertWritable(parent, what, shown);
    try {
      mkdirSync(abs, { recursive: true });
    } catch (err) {
      fail(what, shown, cause(err));
    }
  }
  assertWritable(abs, what, shown);
  return abs;
}

/** Makes sure a file can be written (its folder is created); the file itself is left as it was. */
export function prepareOutputFile(file: string, what: string): string {
  const abs = resolve(file);
  if (existsSync(abs) && statSync(abs).isDirectory()) fail(what, abs, 'is a folder, not a file');
  prepareOutputDir(dirname(abs), what, abs);
  const existed = existsSync(abs);
  try {
    closeSync(openSync(abs, 'a'));
  } catch (err) {
    fail(what, abs, cause(err));
  }
  if (!existed) rmSync(abs, { force: true });
  return abs;
}
