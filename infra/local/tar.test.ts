import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planEntries, tarOf } from './tar.ts';

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
