import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../engine/cli.ts';
import { runScenario } from '../../engine/runner.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { chaos, leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe.skipIf(!ready.ok)(`teardown is guaranteed${skipReason}`, () => {
  it('Ctrl-C in the middle of a run: exit 130, the stack is torn down, the run folder says interrupted', async () => {
    const runsDir = mkdtempSync(join(tmpdir(), 'chaos-runs-'));
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin/chaos.js'), 'run', 'redis-head-kill', '--runs-dir', runsDir],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await new Promise<void>((resolveStarted, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no steady-state phase within 60 s:\n${stderr}`)),
        60_000,
      );
      child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('steady-state')) {
          clearTimeout(timer);
          resolveStarted();
        }
      });
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping the run and tearing the stack down/);
    expect(await leftovers()).toEqual({ containers: 0, networks: 0 });
    const [runDir] = readdirSync(join(runsDir, 'redis-head-kill'));
    const result = JSON.parse(readFileSync(join(runsDir, 'redis-head-kill', runDir!, 'result.json'), 'utf8'));
    expect(result.status).toBe('interrupted');
    expect(result.phases.map((p: { name: string }) => p.name)).toContain('teardown');
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
    expect(exitCodeOf(result)).toBe(3);
    expect(result.phases.find((p) => p.name === 'teardown')?.status).toBe('ok');
    expect(await leftovers(result.runId)).toEqual({ containers: 0, networks: 0 });
  });

  it('--keep leaves the stack up for a look, and `chaos cleanup` removes it', async () => {
    const runsDir = mkdtempSync(join(tmpdir(), 'chaos-runs-'));
    const scenario = join(ROOT, 'test/fixtures/redis-quick.yaml');
    const r = await chaos(['run', scenario, '--keep', '--quiet', '--runs-dir', runsDir]);
    expect(r.code).toBe(0);
    const runId = /run ([0-9a-f]{8})/.exec(r.stdout)?.[1];
    expect(runId).toBeDefined();
    expect((await leftovers(runId)).containers).toBe(7); // registry + 3 x (redis + agent), the head's killed but kept
    const dry = await chaos(['cleanup', '--dry-run']);
    expect(dry.stdout).toMatch(/would remove 7 containers and 1 networks/);
    const c = await chaos(['cleanup']);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/removed 7 containers and 1 networks/);
    expect(await leftovers()).toEqual({ containers: 0, networks: 0 });
  });
});
