import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../engine/runner.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import type { Op } from '../../probes/history.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;

describe.skipIf(!ready.ok || noPartition !== undefined)(
  `a known data loss is reported exactly${skipReason}${noPartition ? ` (skipped: ${noPartition})` : ''}`,
  () => {
    it('names exactly the writes the head acknowledged while cut off from its replica', async () => {
      const loaded = loadScenario(join(import.meta.dirname, '../fixtures/redis-known-loss.yaml'));
      const result = await runScenario({ loaded, provider: new LocalProvider(), runsDir: tempRunsDir() });
      expect(result.error).toBeUndefined();
      expect(result.status).toBe('completed');

      const [cut, kill] = result.faults;
      expect(cut?.action).toBe('partition');
      expect(kill?.action).toBe('kill');
      expect(kill?.measured).toBe(true);

      // The writes put at risk: acknowledged by the head after it was cut off and before it died.
      // The probe was held while each fault was applied, so no write straddles either boundary.
      const { readFileSync } = await import('node:fs');
      const history: Op[] = readFileSync(join(result.runDir, 'history.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const atRisk = history
        .filter(
          (o) =>
            o.op === 'write' &&
            o.outcome === 'ok' &&
            o.tInvoke >= cut!.tApplied &&
            o.tComplete <= kill!.tInject,
        )
        .map((o) => o.seq);
      expect(atRisk.length).toBeGreaterThanOrEqual(10);

      const w = result.figures.writes!;
      expect(w.verdict).toBe('fail');
      expect(w.lost).toBe(atRisk.length);
      expect(w.lostSeqs).toEqual(atRisk);
      expect(w.unexpected).toBe(0);
      // Unknown writes (in flight when the head died) are reported on their own, never as lost.
      expect(w.lostSeqs.every((s) => history.find((o) => o.seq === s)?.outcome === 'ok')).toBe(true);

      expect(result.head.after).toBe('redis-b');
      expect(await leftovers(result.runId)).toEqual({ containers: 0, networks: 0 });
    });
  },
);
