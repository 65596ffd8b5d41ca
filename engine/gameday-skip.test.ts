import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../core/errors.ts';
import { OFFICIAL_IMAGE_MISSING, type Provider } from '../core/provider.ts';
import { loadSuite, runGameday } from './gameday.ts';

const temp = () => mkdtempSync(join(tmpdir(), 'chaos-suite-skip-'));

/** A provider whose image check fails with this error: no run gets further. */
function failingPrepare(err: Error): Provider {
  return {
    name: 'local',
    supports: () => ({ ok: true }),
    prepare: async () => {
      throw err;
    },
    provision: async () => {
      throw new Error('not reached');
    },
    forceTeardown: async () => {},
  };
}

async function gameday(err: Error) {
  const dir = temp();
  const file = join(dir, 'suite.yaml');
  writeFileSync(file, 'name: skip-test\nscenarios: [redis-head-kill, pg-primary-kill]\n');
  return runGameday({
    loaded: loadSuite(file),
    runsDir: dir,
    provider: () => failingPrepare(err),
    signal: new AbortController().signal,
    argv: [],
    reporter: () => ({}),
    allureSite: false,
  });
}

describe('a game day and the images a scenario needs', () => {
  it('skips a scenario whose official-only image this machine cannot have, saying how to get it; the suite does not fail for it', async () => {
    const missing = new UsageError(OFFICIAL_IMAGE_MISSING, 'mongo:7 is not on this Docker engine', {
      hint: 'docker pull mongo:7 where a registry answers, or set CHAOS_IMAGE_MONGO',
    });
    const r = await gameday(missing);
    expect(r.suite.notRun).toEqual([
      {
        scenario: 'redis-head-kill',
        kind: 'skipped',
        reason:
          'not run: error[OFFICIAL_IMAGE_MISSING]: mongo:7 is not on this Docker engine (docker pull mongo:7 where a registry answers, or set CHAOS_IMAGE_MONGO)',
        code: OFFICIAL_IMAGE_MISSING,
      },
      expect.objectContaining({ scenario: 'pg-primary-kill', kind: 'skipped' }),
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.summary).toContain('CHAOS_IMAGE_MONGO');
  });

  it('any other missing image is an error of the suite (exit 3): a build fixes it', async () => {
    const r = await gameday(
      new UsageError('IMAGE_NOT_FOUND', 'neither redis:7 nor chaos-local/redis:7 is here'),
    );
    expect(r.suite.notRun.map((n) => n.kind)).toEqual(['error', 'error']);
    expect(r.exitCode).toBe(3);
  });
});
