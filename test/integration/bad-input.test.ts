import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chaos, leftovers, ready, skipReason } from './docker.ts';

/** `chaos run redis-head-kill` in a fresh runs folder, with extra environment. */
const headKillWith = (env: NodeJS.ProcessEnv) =>
  chaos(['run', 'redis-head-kill', '--runs-dir', mkdtempSync(join(tmpdir(), 'chaos-runs-'))], env);

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

  it('a usage error from the command line: exit 2', async () => {
    const r = await chaos(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing required argument 'scenario'/);
  });

  it('Docker not reachable: exit 3, says where it looked and what to do', async () => {
    const r = await headKillWith({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^error\[DOCKER_UNREACHABLE\]: Docker is not reachable at unix:\/\/\/nonexistent\/docker.sock.*start the Docker engine/,
    );
  });

  it.skipIf(!ready.ok)(
    `an image that does not exist: exit 2, and no container or network left${skipReason}`,
    async () => {
      const before = await leftovers();
      const r = await headKillWith({ CHAOS_IMAGE_REDIS: 'chaos-local/no-such-image:1' });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /error\[IMAGE_NOT_FOUND\]: image 'chaos-local\/no-such-image:1' \(from CHAOS_IMAGE_REDIS\)/,
      );
      expect(await leftovers()).toEqual(before);
    },
  );

  it.skipIf(!ready.ok)(
    `a node that fails half-way through provisioning: exit 3, and everything started is removed${skipReason}`,
    async () => {
      const before = await leftovers();
      // An image that exists but has no Node.js: the registry and the agents cannot start.
      const r = await headKillWith({ CHAOS_IMAGE_NODE: 'chaos-local/redis:7' });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/error\[PROVISION_FAILED\]/);
      expect(await leftovers()).toEqual(before);
    },
  );
});
