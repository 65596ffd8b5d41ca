import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chaos, leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const QUICK = join(ROOT, 'test/fixtures/redis-quick.yaml');

describe.skipIf(!ready.ok)(`run-time parameters and the dry run${skipReason}`, () => {
  it('--dry-run checks what the run needs and starts nothing; a missing image is one line with its fix', async () => {
    const ok = await chaos(['run', QUICK, '--dry-run', '--set', 'probes.0.rateHz=123']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(
      /redis-quick \(.*with probes\.0\.rateHz=123\): (\d+) of \1 checks passed; nothing was started/,
    );
    expect(ok.stdout).toMatch(/✔ Docker engine +engine /);
    expect(ok.stdout).toMatch(/✔ image redis +\S+/);
    const missing = await chaos(['run', QUICK, '--dry-run'], {
      CHAOS_IMAGE_REDIS: 'chaos-local/no-such-image:1',
    });
    expect(missing.code).toBe(2);
    expect(missing.stdout).toMatch(
      /✘ image redis +error\[IMAGE_MISSING\]: image redis: none of chaos-local\/no-such-image:1 is on this Docker engine \(fix or unset CHAOS_IMAGE_REDIS\)/,
    );
    const runsDir = tempRunsDir();
    const run = await chaos(['run', QUICK, '--runs-dir', runsDir], {
      CHAOS_IMAGE_REDIS: 'chaos-local/no-such-image:1',
    });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error\[IMAGE_MISSING\]: image redis: none of chaos-local\/no-such-image:1/),
    ]);
    // Nothing started: not even a run folder.
    expect(readdirSync(runsDir)).toEqual([]);
  });

  it('--vars then --set change the run, and the run folder keeps the scenario as run', async () => {
    const runsDir = tempRunsDir();
    const vars = join(runsDir, 'vars.yaml');
    writeFileSync(vars, 'probes.0.rateHz: 50\nsteadyState.durationMs: 600\n');
    const json = join(runsDir, 'r.json');
    const c = await chaos([
      'run',
      QUICK,
      '-q',
      '--runs-dir',
      runsDir,
      '--json',
      json,
      '--vars',
      vars,
      '--set',
      'probes.0.rateHz=77',
    ]);
    expect(c.code, c.stderr).toBe(0);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    expect(r.probes[0].settings.rateHz).toBe(77);
    const asRun = JSON.parse(readFileSync(join(r.runDir, 'scenario.json'), 'utf8'));
    expect(asRun.probes[0].rateHz).toBe(77);
    expect(asRun.steadyState.durationMs).toBe(600);
    expect(await leftovers(r.runId)).toEqual({ containers: 0, networks: 0 });
  });
});
