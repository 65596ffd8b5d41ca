import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { withTimeout } from '../../core/clock.ts';
import { countLeftovers, dockerClient } from '../../infra/local/docker.ts';
import { resolveImages } from '../../infra/local/images.ts';
import { allImages } from '../../systems/index.ts';

/**
 * Whether these tests can run here: a Docker engine that answers, and the images of the local
 * mode (official or built by docker/build-images.sh). When not, the suites skip and say why.
 */
export async function dockerReadiness(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const docker = dockerClient();
  try {
    await withTimeout(docker.ping(), 3000, 'no answer in 3000 ms');
  } catch (err) {
    return {
      ok: false,
      reason: `no Docker engine reachable (${(err as Error).message}); start dockerd or set DOCKER_HOST`,
    };
  }
  try {
    await resolveImages(docker, allImages());
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  return { ok: true };
}

export const ready = await dockerReadiness();
if (!ready.ok) console.warn(`integration tests skipped: ${ready.reason}`);
export const skipReason = ready.ok ? '' : ` (skipped: ${ready.reason})`;

export const tempRunsDir = () => mkdtempSync(join(tmpdir(), 'chaos-runs-'));

export const leftovers = (runId?: string) => countLeftovers(dockerClient(), runId);

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** Runs the `chaos` command as a user would; never throws on a non-zero exit. */
export async function chaos(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'bin/chaos.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: 110_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The run id a `chaos run` printed (its first progress line, or its summary), if any. */
export function runIdOf(output: string): string | undefined {
  return /^\S+ +(?:\S+ +)?run ([0-9a-f]{8})(?: ->|,)/m.exec(output)?.[1];
}

/** Reads a run's history.jsonl. */
export async function readHistory(runDir: string): Promise<import('../../core/history.ts').Op[]> {
  const { readFileSync } = await import('node:fs');
  return readFileSync(join(runDir, 'history.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}
