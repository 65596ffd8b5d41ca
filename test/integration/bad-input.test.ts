import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chaos, leftovers, ready, runIdOf, skipReason } from './docker.ts';

/** `chaos run redis-head-kill` in a fresh runs folder, with extra environment. */
const headKillWith = (env: NodeJS.ProcessEnv) =>
  chaos(['run', 'redis-head-kill', '--runs-dir', mkdtempSync(join(tmpdir(), 'chaos-runs-'))], env);

/** A read-only file system, where this machine lets us mount one (root, tmpfs). */
function readOnlyDir(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-ro-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}
const ro = readOnlyDir();
// Unmounted when the file's tests are done (a worker's 'exit' event never comes).
afterAll(() => {
  if (ro) execFileSync('umount', [ro], { stdio: 'ignore' });
});

describe('bad input gets a one-line error, the right exit code, and leaves nothing behind', () => {
  it('an unknown scenario: exit 2, names the known ones', async () => {
    const r = await chaos(['run', 'redis-head-klil']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown scenario 'redis-head-klil'; known: .*redis-head-kill.*chaos list/);
  });

  it('a malformed scenario file: exit 2, names the field and the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-bad-'));
    const file = join(dir, 'typo.yaml');
    writeFileSync(
      file,
      'name: typo\nstack: { redis: { nodes: 3 } }\nprobes: [{ kind: redis-writer, rateHz: fast }]\nfaults: [{ action: kill, target: redis:head }]\n',
    );
    const r = await chaos(['run', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('probes[0].rateHz');
  });

  it('a folder given as the scenario: exit 2, says it is a folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-dir-'));
    const r = await chaos(['run', `${dir}/`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[SCENARIO_IS_A_FOLDER\]: .* is a folder, not a scenario file/);
  });

  it('usage errors from the command line: exit 2, one error[CODE] line each; --version answers', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['run'],
        /^error\[MISSING_ARGUMENT\]: missing required argument 'scenario' \(run `chaos run --help` for usage\)$/,
      ],
      [
        ['run', 'redis-head-kill', 'redis-head-pause'],
        /^error\[EXCESS_ARGUMENTS\]: too many arguments for 'run'/,
      ],
      [
        ['frobnicate'],
        /^error\[UNKNOWN_COMMAND\]: unknown command 'frobnicate' \(run `chaos --help` for usage\)$/,
      ],
      [
        ['run', 'redis-head-kill', '--bogus'],
        /^error\[UNKNOWN_OPTION\]: unknown option '--bogus' \(run `chaos run --help` for usage\)$/,
      ],
      [
        ['report', 'x', '--format', 'nope'],
        /^error\[INVALID_ARGUMENT\]: option '--format <format>' argument 'nope' is invalid/,
      ],
    ];
    for (const [args, line] of cases) {
      const r = await chaos(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(line);
    }
    const v = await chaos(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an output location that cannot be written: exit 2 at once, one line naming the cause, nothing started', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-out-'));
    writeFileSync(join(dir, 'file'), '');
    const t0 = Date.now();
    const r = await chaos(['run', 'redis-head-kill', '--json', join(dir, 'file/r.json')]);
    expect(Date.now() - t0).toBeLessThan(2000 + 1500); // node + tsx start-up included
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /error\[OUTPUT_NOT_WRITABLE\]: --json .*: a part of the path is a file, not a folder/,
    );
    const runs = await chaos(['run', 'redis-head-kill'], { CHAOS_RUNS_DIR: join(dir, 'file') });
    expect(runs.code).toBe(2);
    expect(runs.stderr).toMatch(/--runs-dir \(or CHAOS_RUNS_DIR\) .*: is a file, not a folder/);
    mkdirSync(join(dir, 'adir'));
    const isDir = await chaos(['run', 'redis-head-kill', '--json', join(dir, 'adir')]);
    expect(isDir.stderr).toMatch(/is a folder, not a file/);
  });

  it.skipIf(!ro)(
    `a read-only file system: exit 2 in under 2 s, "read-only file system"${ro ? '' : ' (skipped: cannot mount a read-only tmpfs here: needs root)'}`,
    async () => {
      const t0 = Date.now();
      const r = await chaos(['run', 'redis-head-kill', '--json', join(ro!, 'out/r.json')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--json .*: cannot write there: read-only file system/);
      expect(Date.now() - t0).toBeLessThan(2000 + 1500);
      const runs = await chaos(['run', 'redis-head-kill', '--runs-dir', join(ro!, 'runs')]);
      expect(runs.code).toBe(2);
      expect(runs.stderr).toMatch(/read-only file system/);
    },
  );

  it('Docker not reachable: exit 3, says where it looked and what to do', async () => {
    const r = await headKillWith({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^error\[DOCKER_UNREACHABLE\]: Docker is not reachable at unix:\/\/\/nonexistent\/docker.sock.*start the Docker engine/,
    );
  });

  it('report of something that is not a run: exit 2', async () => {
    const r = await chaos(['report', mkdtempSync(join(tmpdir(), 'chaos-norun-'))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[NO_RUN\]: .* is not a run folder/);
  });

  it.skipIf(!ready.ok)(`an image that does not exist: exit 2, and nothing started${skipReason}`, async () => {
    const r = await headKillWith({ CHAOS_IMAGE_REDIS: 'chaos-local/no-such-image:1' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // The preflight says it before anything starts, with its fix.
    expect(r.stderr).toMatch(
      /error\[IMAGE_MISSING\]: image redis: none of chaos-local\/no-such-image:1 is on this Docker engine \(fix or unset CHAOS_IMAGE_REDIS\)/,
    );
    expect(runIdOf(r.stderr)).toBeUndefined(); // refused before a run existed
  });

  it.skipIf(!ready.ok)(
    `a node that fails half-way through provisioning: exit 3, and everything of that run is removed${skipReason}`,
    async () => {
      // An image that exists but has no Node.js: the registry and the agents cannot start.
      const r = await headKillWith({ CHAOS_IMAGE_NODE: 'chaos-local/redis:7' });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/error\[PROVISION_FAILED\]/);
      const runId = /chaos-runs-[^/]+\/redis-head-kill\/[^ ]*-([0-9a-f]{8})/.exec(r.stderr)?.[1];
      expect(runId, r.stderr).toBeDefined();
      expect(await leftovers(runId)).toEqual({ containers: 0, networks: 0 });
    },
  );
});
