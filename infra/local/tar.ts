import { createWriteStream, readFileSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';

/** One file of an archive: its path in the container (absolute), its bytes and its mode. */
export interface TarEntry {
  name: string;
  data: Buffer;
  mode: number;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** A ustar header; a path over 100 bytes is split at a slash into prefix (155) and name (100). */
function header(path: string, size: number, mode: number, mtime: number): Buffer {
  let name = path.replace(/^\/+/, '');
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 1);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(name) > 100)
      throw new Error(`path too long for a tar header: ${path}`);
  }
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(mtime, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A tar archive of regular files, built in memory (owned by root, as `docker cp` puts them). */
export function tarOf(entries: readonly TarEntry[]): Buffer {
  const mtime = Math.floor(Date.now() / 1000);
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e.name, e.data.length, e.mode, mtime), e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * The files and texts a container plan puts into its container, as tar entries: a file keeps
 * its own mode unless one is given, a text is 0644 unless one is given.
 */
export function planEntries(
  files: readonly { source: string; target: string; mode?: number }[] = [],
  contents: readonly { content: string; target: string; mode?: number }[] = [],
): TarEntry[] {
  return [
    ...files.map((f) => ({
      name: f.target,
      data: readFileSync(f.source),
      mode: f.mode ?? statSync(f.source).mode & 0o7777,
    })),
    ...contents.map((c) => ({ name: c.target, data: Buffer.from(c.content, 'utf8'), mode: c.mode ?? 0o644 })),
  ];
}

/**
 * Writes the first regular file of a tar archive stream (what the engine's `GET .../archive`
 * gives for one file) to `dest` as it arrives, so that a large file is never held in memory.
 * Resolves with its size in bytes, or undefined when the archive holds no regular file (no
 * `dest` is written then).
 */
export async function extractFirstFile(archive: Readable, dest: string): Promise<number | undefined> {
  const entries = extract();
  archive.on('error', (err) => entries.destroy(err));
  archive.pipe(entries);
  let size: number | undefined;
  for await (const entry of entries) {
    if (size === undefined && entry.header.type === 'file') {
      size = entry.header.size ?? 0;
      await pipeline(entry, createWriteStream(dest));
    } else entry.resume();
  }
  return size;
}
