import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { extractFirstFile, planEntries, tarOf } from './tar.ts';

describe('tarOf', () => {
  it('writes an archive tar extracts: paths, modes, contents, long paths', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tar-test-'));
    const script = join(dir, 'src.sh');
    writeFileSync(script, '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const long = `/opt/${'x'.repeat(90)}/${'y'.repeat(40)}.txt`;
    const entries = planEntries(
      [{ source: script, target: '/opt/chaos/node.sh' }],
      [
        { content: 'a = 1\n', target: '/etc/app.conf' },
        { content: 'z'.repeat(1000), target: long, mode: 0o600 },
      ],
    );
    writeFileSync(join(dir, 'a.tar'), tarOf(entries));
    const out = join(dir, 'out');
    execFileSync('mkdir', [out]);
    execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', out]);
    expect(statSync(join(out, 'opt/chaos/node.sh')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(out, 'etc/app.conf'), 'utf8')).toBe('a = 1\n');
    expect(statSync(join(out, 'etc/app.conf')).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(out, long.slice(1)), 'utf8')).toBe('z'.repeat(1000));
    expect(statSync(join(out, long.slice(1))).mode & 0o777).toBe(0o600);
  });
});

describe('extractFirstFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tar-extract-'));

  it('writes the first regular file of an archive streamed in small chunks, and its size', async () => {
    // A directory entry first (as `docker cp` of a folder would give), then two files.
    execFileSync('mkdir', ['-p', join(dir, 'src/d')]);
    const big = 'line of a request log\n'.repeat(50_000);
    writeFileSync(join(dir, 'src/d/requests.log'), big);
    writeFileSync(join(dir, 'src/d/z.txt'), 'other');
    const archive = execFileSync(
      'tar',
      ['-cf', '-', '--no-recursion', '-C', join(dir, 'src'), 'd', 'd/requests.log', 'd/z.txt'],
      {
        maxBuffer: 1 << 24,
      },
    );
    const chunks = Array.from({ length: Math.ceil(archive.length / 1000) }, (_, i) =>
      archive.subarray(i * 1000, (i + 1) * 1000),
    );
    const dest = join(dir, 'out.log');
    expect(await extractFirstFile(Readable.from(chunks), dest)).toBe(big.length);
    expect(readFileSync(dest, 'utf8')).toBe(big);
  });

  it('says there is none when the archive holds no regular file, and writes nothing', async () => {
    execFileSync('mkdir', ['-p', join(dir, 'empty/e')]);
    const archive = execFileSync('tar', ['-cf', '-', '-C', join(dir, 'empty'), 'e']);
    const dest = join(dir, 'none.log');
    expect(await extractFirstFile(Readable.from([archive]), dest)).toBeUndefined();
    expect(statSync(dest, { throwIfNoEntry: false })).toBeUndefined();
  });

  it('fails with the stream when it breaks', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('socket hang up'));
      },
    });
    await expect(extractFirstFile(broken, join(dir, 'broken.log'))).rejects.toThrow(/socket hang up/);
  });
});
