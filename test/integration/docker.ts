import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { sleep, withTimeout } from '../../core/clock.ts';
import { countLeftovers, dockerClient } from '../../infra/local/docker.ts';
import { resolveImages } from '../../infra/local/images.ts';
import { volumesRoot } from '../../infra/local/loop-volumes.ts';
import { allImages } from '../../systems/index.ts';

/**
 * Whether these tests can run here: a Docker engine that answers, and the images of the local
 * mode (official or built by docker/build-images.sh). When not, the suites skip and say why.
 * An official-only image (no offline build: mongo) is not required here: the tests of its
 * system check for it themselves, and skip without it.
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
    await resolveImages(
      docker,
      allImages().filter((i) => !i.officialOnly),
    );
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

export interface Started {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
  stdout: () => string;
  /** Resolves once stderr contains `text`. */
  when: (text: string) => Promise<void>;
}

/** Starts `chaos` with these arguments, to signal it while it runs. */
export function start(args: string[]): Started {
  const child = spawn(process.execPath, [join(ROOT, 'bin/chaos.js'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stderr!.on('data', (d) => {
    err += d;
    for (const w of waiters.filter((x) => err.includes(x.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stdout!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    exited,
    stderr: () => err,
    stdout: () => out,
    when: (text) =>
      err.includes(text)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ text, resolve })),
            sleep(60_000).then(() => {
              throw new Error(`'${text}' not seen within 60 s:\n${err}`);
            }),
          ]),
  };
}

/**
 * What a run left on the host beside the engine's objects: mounts and loop devices of its
 * volumes, its folder of volumes, its zone rules. All zero after every run.
 */
export async function hostLeftovers(
  runId: string,
): Promise<{ mounts: number; loops: number; dir: boolean; rules: number }> {
  const dir = join(volumesRoot(), runId);
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(`${dir}/`)).length;
  const loops = await run('losetup', ['-l', '-n', '-O', 'BACK-FILE'])
    .then(({ stdout }) => stdout.split('\n').filter((l) => l.includes(`${dir}/`)).length)
    .catch(() => 0);
  let rules = 0;
  for (const chain of ['DOCKER-USER', 'INPUT', 'OUTPUT']) {
    const { stdout } = await run('iptables', ['-w', '-S', chain]).catch(() => ({ stdout: '' }));
    rules += stdout.split('\n').filter((l) => l.includes(`chaos-harness:run=${runId}`)).length;
  }
  return { mounts, loops, dir: existsSync(dir), rules };
}
