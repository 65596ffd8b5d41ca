import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { chaos, leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;

describe.skipIf(!ready.ok || noPartition !== undefined)(
  `a known data loss is reported exactly, and fails the run${skipReason}${noPartition ? ` (skipped: ${noPartition})` : ''}`,
  () => {
    it('names exactly the writes the head acknowledged while cut off, exits 1, says which expectation failed', async () => {
      const runsDir = tempRunsDir();
      // --json into a folder that does not exist yet, as an artifact folder in CI.
      const json = join(runsDir, 'artifacts/not/yet/r.json');
      const r = await chaos([
        'run',
        'test/fixtures/redis-known-loss.yaml',
        '--quiet',
        '--runs-dir',
        runsDir,
        '--json',
        json,
      ]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toMatch(/redis-known-loss {2}FAIL/);
      expect(r.stdout).toMatch(/✘ lost acknowledged writes +\d+ +expected <= 0/);
      const result = JSON.parse(readFileSync(json, 'utf8')) as RunResult;
      expect(result.status).toBe('completed');
      expect(result.verdict).toBe('fail');

      const [cut, kill] = result.faults;
      expect(cut).toMatchObject({ action: 'partition', measured: false });
      expect(kill).toMatchObject({ action: 'kill', measured: true });
      // Only the kill opens a window: the partition is its preparation.
      expect(result.probes[0]!.windows.map((w) => w.fault)).toEqual([1]);

      // The writes put at risk: acknowledged by the head after it was cut off and before it died.
      // The probe was held while each fault was applied, so no write straddles either boundary.
      const history = await readHistory(result.runDir);
      const atRisk = history
        .filter(
          (o) =>
            o.op === 'write' &&
            o.outcome === 'ok' &&
            o.tInvoke >= cut!.tApplied! &&
            o.tComplete <= kill!.tInject,
        )
        .map((o) => o.seq);
      expect(atRisk.length).toBeGreaterThanOrEqual(10);

      const w = result.probes[0]!.writes!;
      expect(w.lost).toBe(atRisk.length);
      expect(w.lostSeqs).toEqual(atRisk);
      expect(w.unexpected).toBe(0);
      // Unknown writes (in flight when the head died) are reported on their own, never as lost.
      expect(w.lostSeqs.every((s) => history.find((o) => o.seq === s)?.outcome === 'ok')).toBe(true);
      const failed = result.expectations.filter((e) => e.verdict !== 'pass');
      expect(failed.map((e) => e.name)).toEqual(['lost acknowledged writes']);
      expect(failed[0]).toMatchObject({ value: atRisk.length, threshold: 0 });

      expect(result.systems[0]!.leadership.map((l) => l.to)).toEqual(['redis-b']);
      expect(await leftovers(result.runId)).toEqual({ containers: 0, networks: 0 });
    });
  },
);
