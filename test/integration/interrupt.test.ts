import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../core/clock.ts';
import { exitCodeOfRun } from '../../core/errors.ts';
import { runScenario } from '../../engine/runner.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { chaos, leftovers, ready, runIdOf, skipReason, start, tempRunsDir } from './docker.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const QUICK = join(ROOT, 'test/fixtures/redis-quick.yaml');

/** Starts a run, waits for `text` plus `delayMs`, sends the signals `gapMs` apart. */
async function interrupt(text: string, delayMs: number, signals: NodeJS.Signals[], gapMs = 50) {
  const run = start(['run', QUICK, '--runs-dir', tempRunsDir()]);
  await run.when(text);
  await sleep(delayMs);
  for (const [i, sig] of signals.entries()) {
    if (i > 0) await sleep(gapMs);
    run.child.kill(sig);
  }
  const code = await run.exited;
  const runId = runIdOf(run.stderr());
  return { code, runId, stderr: run.stderr(), stdout: run.stdout() };
}

const none = { containers: 0, networks: 0 };

describe.skipIf(!ready.ok)(`teardown is guaranteed${skipReason}`, () => {
  // Each moment: [what to wait for on stderr, then how long, then the signals].
  const moments: [string, number, NodeJS.Signals[]][] = [
    ['▸ provision', 0, ['SIGINT', 'SIGINT']],
    ['▸ provision', 400, ['SIGINT', 'SIGINT']],
    ['▸ provision', 1200, ['SIGINT', 'SIGINT']],
    ['▸ provision', 700, ['SIGTERM', 'SIGTERM']],
    ['▸ steady-state', 100, ['SIGINT', 'SIGINT']],
  ];
  for (const [text, delay, signals] of moments) {
    it(`${signals.join(' + ')} ${delay} ms after '${text}': exit 130, nothing of the run left, ever`, async () => {
      const r = await interrupt(text, delay, signals);
      expect(r.code, r.stderr).toBe(130);
      expect(r.runId, r.stderr).toBeDefined();
      expect(r.stderr).not.toMatch(/PROVISION_FAILED|error\[INTERNAL\]/);
      expect(await leftovers(r.runId)).toEqual(none);
      await sleep(1500); // a creation still under way would show up now
      expect(await leftovers(r.runId)).toEqual(none);
    });
  }

  it('one SIGTERM (what CI cancellation sends) in the middle of a run: a clean stop, exit 130, run folder says interrupted', async () => {
    const runsDir = tempRunsDir();
    const run = start(['run', 'redis-head-kill', '--runs-dir', runsDir]);
    await run.when('▸ steady-state');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toMatch(/SIGTERM: stopping the run and tearing the stack down/);
    const runId = runIdOf(run.stderr());
    expect(await leftovers(runId)).toEqual(none);
    const [runDir] = readdirSync(join(runsDir, 'redis-head-kill'));
    const result = JSON.parse(readFileSync(join(runsDir, 'redis-head-kill', runDir!, 'result.json'), 'utf8'));
    expect(result.status).toBe('interrupted');
    expect(result.expectations).toEqual([]);
    expect(result.phases.map((p: { name: string }) => p.name)).toContain('teardown');
    expect(run.stdout()).not.toMatch(/never recovered/);
  });

  it('a run killed with SIGKILL: `chaos report` summarises what it saw, and the next run names its leftovers', async () => {
    const runsDir = tempRunsDir();
    const run = start(['run', QUICK, '--runs-dir', runsDir]);
    await run.when('▸ inject');
    await sleep(300);
    run.child.kill('SIGKILL');
    await run.exited;
    const runId = runIdOf(run.stderr())!;
    expect((await leftovers(runId)).containers).toBeGreaterThan(0);
    const [runDir] = readdirSync(join(runsDir, 'redis-quick'));
    const report = await chaos(['report', join(runsDir, 'redis-quick', runDir!)]);
    expect(report.code).toBe(3);
    expect(report.stdout).toMatch(/redis-quick {2}INCOMPLETE/);
    expect(report.stdout).toMatch(/fault #1 +kill redis:head/);
    expect(report.stdout).toMatch(/\d+ attempted/);
    expect(report.stdout).toContain(`chaos cleanup --run ${runId}`);
    const next = await chaos(['run', QUICK, '--quiet', '--runs-dir', runsDir]);
    expect(next.stderr).toContain(`note: run ${runId} (redis-quick) left`);
    expect(next.stderr).toContain(`\`chaos cleanup --run ${runId}\``);
    const c = await chaos(['cleanup', '--run', runId]);
    expect(c.code).toBe(0);
    expect(await leftovers(runId)).toEqual(none);
  });

  it('a run past its time limit stops with RUN_TIMEOUT (exit 3) and tears the stack down', async () => {
    const result = await runScenario({
      loaded: loadScenario('redis-head-kill'),
      provider: new LocalProvider(),
      runsDir: tempRunsDir(),
      timeLimitMs: 3000, // provisioning takes ~2 s, the steady state 2 s more
    });
    expect(result.status).toBe('error');
    expect(result.error?.code).toBe('RUN_TIMEOUT');
    expect(exitCodeOfRun(result)).toBe(3);
    expect(result.phases.find((p) => p.name === 'teardown')?.status).toBe('ok');
    expect(await leftovers(result.runId)).toEqual(none);
  });

  it('--keep leaves the stack up for a look, and `chaos cleanup --run` removes it', async () => {
    const runsDir = tempRunsDir();
    const r = await chaos(['run', QUICK, '--keep', '--quiet', '--runs-dir', runsDir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const runId = runIdOf(r.stdout)!;
    expect((await leftovers(runId)).containers).toBe(7); // registry + 3 x (redis + agent), the head's killed but kept
    const dry = await chaos(['cleanup', '--run', runId, '--dry-run']);
    expect(dry.stdout).toMatch(/would remove 7 containers and 1 networks/);
    const c = await chaos(['cleanup', '--run', runId]);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/removed 7 containers and 1 networks/);
    expect(await leftovers(runId)).toEqual(none);
  });
});

describe.skipIf(!ready.ok)(`the run halts on its own stop condition${skipReason}`, () => {
  it('a probe failing beyond abort.maxFailureRatio for abort.forMs halts the run: status halted, exit 3, reverted, nothing left', async () => {
    const runsDir = tempRunsDir();
    const json = join(runsDir, 'r.json');
    const c = await chaos([
      'run',
      join(ROOT, 'test/fixtures/redis-halt.yaml'),
      '--quiet',
      '--runs-dir',
      runsDir,
      '--json',
      json,
    ]);
    expect(c.code, c.stderr).toBe(3);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    expect(r.status).toBe('halted');
    expect(r.verdict).toBe('unknown');
    expect(r.error).toMatchObject({ code: 'HALTED' });
    expect(r.error.message).toMatch(/failure ratio stayed above 0.5 for \d+ ms/);
    const halted = r.timeline.find((e: { type: string }) => e.type === 'halted');
    // Halted about forMs after the failures began, well before the 3 s lease would have let a failover through.
    const kill = r.faults[0];
    expect(halted.t - kill.tApplied).toBeGreaterThanOrEqual(1000);
    expect(halted.t - kill.tApplied).toBeLessThan(2500);
    expect(c.stdout + c.stderr).toMatch(/HALTED/);
    expect(await leftovers(r.runId)).toEqual(none);
  });
});
