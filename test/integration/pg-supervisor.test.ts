import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep } from '../../core/clock.ts';
import { LABEL_HARNESS, LABEL_RUN, dockerClient } from '../../infra/local/docker.ts';
import { resolveImage } from '../../infra/local/images.ts';
import { postgres } from '../../systems/pg/index.ts';
import { ready, skipReason } from './docker.ts';

const run = promisify(execFile);
const docker = (...args: string[]) => run('docker', args, { timeout: 60_000 }).then((r) => r.stdout);
const SCRIPT = resolve(import.meta.dirname, '../../systems/pg/node.sh');

/**
 * The Postgres node's supervisor (systems/pg/node.sh) on the real postgres image, alone: no agent,
 * the test writes the control files as the agent does. What it checks is what the scenarios cannot
 * make happen on purpose: the server the agent names to follow dies before this node reaches it.
 */
describe.skipIf(!ready.ok)(`the Postgres node supervisor (node.sh), alone${skipReason}`, () => {
  const name = `chaos-test-pg-supervisor-${process.pid}`;
  afterAll(async () => {
    await docker('rm', '-f', name).catch(() => {});
  });

  /** The supervisor's events so far (its JSON lines on stdout). */
  const events = async () =>
    (await docker('logs', name))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; role?: string; standby?: boolean; was?: string });
  const until = async (what: string, ok: (e: Awaited<ReturnType<typeof events>>) => boolean, ms = 20_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const e = await events();
      if (ok(e)) return e;
      if (Date.now() > end)
        throw new Error(`${what}: not within ${ms} ms; events: ${e.map((x) => x.type).join(' ')}`);
      await sleep(200);
    }
  };
  /** The event types from index `from` on, once one of type `type` is among them. */
  const typesUntil = async (what: string, from: number, type: string) =>
    (await until(what, (e) => e.slice(from).some((x) => x.type === type))).slice(from).map((x) => x.type);
  /** As the agent writes a role: whole, by a rename. */
  const setRole = (role: string) =>
    docker(
      'exec',
      name,
      'sh',
      '-c',
      `echo '${role}' > /control/role.tmp && mv /control/role.tmp /control/role`,
    );

  it('a booting node told to follow a server that is gone takes the agent’s next word instead of waiting for it', async () => {
    const image = (await resolveImage(dockerClient(), postgres.images.find((i) => i.name === 'postgres')!))
      .image;
    await docker(
      'run',
      '-d',
      '--name',
      name,
      '--label',
      `${LABEL_HARNESS}=true`,
      '--label',
      `${LABEL_RUN}=test-pg-supervisor-${process.pid}`,
      '-v',
      `${SCRIPT}:/opt/chaos/pg-node.sh:ro`,
      '-e',
      'NODE_NAME=pg-t',
      '-e',
      'PG_ROLE=primary',
      image,
      'bash',
      '/opt/chaos/pg-node.sh',
    );
    await until('the first boot (initdb, a primary)', (e) => e.some((x) => x.type === 'ready'));
    // A power cycle: the data directory stays; the supervisor boots waiting for the agent's role.
    await docker('restart', '-t', '10', name);
    await until(
      'waiting for a role after the restart',
      (e) => e.filter((x) => x.type === 'waiting-for-role').length >= 1,
    );
    // The agent names 127.0.0.2 to follow: nothing listens there (this node's own server is
    // down while it demotes), as when the new primary died right after it was named.
    await setRole('standby 127.0.0.2');
    await until('taking the standby role', (e) =>
      e.some((x) => x.type === 'restarted-as' && x.role === 'standby'),
    );
    await sleep(1500);
    expect((await events()).some((x) => x.type === 'ready' && x.standby === true)).toBe(false);
    // The agent's next word: lead (the other server is gone). Before, the supervisor waited
    // for 127.0.0.2 for ever and never read it.
    await setRole('primary');
    const after = await until('the new role taken', (e) => e.filter((x) => x.type === 'ready').length >= 2);
    const tail = after.slice(after.findIndex((x) => x.type === 'waiting-for-role'));
    expect(tail.map((x) => x.type)).toEqual([
      'waiting-for-role',
      'restarted-as',
      'role-changed',
      'restarted-as',
      'ready',
    ]);
    expect(tail.find((x) => x.type === 'role-changed')?.was).toBe('standby 127.0.0.2');
    expect(tail.at(-2)?.role).toBe('primary');
    expect(tail.at(-1)?.standby).toBe(false);
    // It serves: a primary that takes writes.
    const out = await docker(
      'exec',
      name,
      'runuser',
      '-u',
      'postgres',
      '--',
      'psql',
      '-h',
      '127.0.0.1',
      '-tAc',
      'select pg_is_in_recovery()',
    );
    expect(out.trim()).toBe('f');

    // The dead-man switch: the agent armed it at its lease's deadline, then stopped renewing and
    // never fenced (gone: SIGTERM, hung). At the deadline, not before, the supervisor stops the
    // primary itself and withdraws the role. Before, the primary served on, and a standby
    // promoted beside it (41 acknowledged writes lost in pg-primary-agent-term).
    const armedAt = (await events()).length;
    const leaseUntil = (inMs: number) =>
      docker(
        'exec',
        name,
        'sh',
        '-c',
        `echo $(( $(date +%s%3N) + ${inMs} )) > /control/lease-until.tmp && mv /control/lease-until.tmp /control/lease-until && cat /control/lease-until`,
      ).then((o) => Number(o.trim()));
    const deadline = await leaseUntil(1500);
    await sleep(700);
    expect((await events()).slice(armedAt).map((x) => x.type)).toEqual([]);
    expect(await typesUntil('the lapsed lease fenced', armedAt, 'waiting-for-role')).toEqual([
      'watchdog-fenced',
      'waiting-for-role',
    ]);
    const fired = (await events())[armedAt] as unknown as { t: number; leaseDeadline: number };
    expect(fired.leaseDeadline).toBe(deadline);
    // Stamped after the stop was sent: after the deadline, within the supervisor's 100 ms check.
    expect(fired.t).toBeGreaterThanOrEqual(deadline);
    expect(fired.t - deadline).toBeLessThan(500);
    await expect(
      docker('exec', name, 'runuser', '-u', 'postgres', '--', 'pg_isready', '-h', '127.0.0.1'),
    ).rejects.toThrow();
    expect(await docker('exec', name, 'ls', '/control')).not.toMatch(/^(role|lease-until)$/m);
    // An agent back with the lease arms the switch again, then gives the role.
    await leaseUntil(600_000);
    await setRole('primary');
    expect(await typesUntil('the primary placed again', armedAt, 'ready')).toEqual([
      'watchdog-fenced',
      'waiting-for-role',
      'restarted-as',
      'ready',
    ]);

    // Its server killed, the supervisor starts it again (crash recovery); the agent's lease runs
    // out meanwhile and it writes the fence. The server must not serve: before, the supervisor
    // waited for it to accept connections (`ready`) and read the fence only then.
    const before = (await events()).length;
    await docker(
      'exec',
      name,
      'sh',
      '-c',
      [
        'D=/var/lib/postgresql/chaos-data',
        'old=$(head -n1 $D/postmaster.pid)',
        'kill -9 $old',
        // the next server has written its pid: it is starting, not yet accepting connections
        'for i in $(seq 500); do p=$(head -n1 $D/postmaster.pid 2>/dev/null); [ -n "$p" ] && [ "$p" != "$old" ] && break; sleep 0.01; done',
        // as the agent fences: the role withdrawn first, then the fence
        'rm -f /control/role',
        'touch /control/fence',
      ].join('; '),
    );
    expect(await typesUntil('the fence taken', before, 'waiting-for-role')).toEqual([
      'server-died',
      'fenced-while-starting',
      'fenced',
      'waiting-for-role',
    ]);
    await expect(
      docker('exec', name, 'runuser', '-u', 'postgres', '--', 'pg_isready', '-h', '127.0.0.1'),
    ).rejects.toThrow();

    // A re-clone cut off right after it emptied the data directory (as base_backup does before
    // pg_basebackup), then a power cycle. Before, the boot saw no PG_VERSION, took it for a first
    // boot and ran initdb: an empty primary (PG_ROLE=primary), ready at once. Now the directory
    // is unfit: no role but a standby's, by a new copy.
    await docker(
      'exec',
      name,
      'sh',
      '-c',
      'touch /control/needs-clone && rm -rf /var/lib/postgresql/chaos-data/*',
    );
    await docker('restart', '-t', '10', name);
    const booted = await until('the boot after the cut-off copy', (e) =>
      e.some((x) => x.type === 'data-unfit'),
    );
    const fromBoot = booted.findIndex((x) => x.type === 'data-unfit');
    await setRole('primary');
    const refused = await until('the primary role refused', (e) =>
      e.slice(fromBoot).some((x) => x.type === 'role-refused'),
    );
    await sleep(1000);
    const since = (await events()).slice(fromBoot).map((x) => x.type);
    expect(since).toEqual(['data-unfit', 'waiting-for-role', 'restarted-as', 'role-refused']);
    expect(refused.slice(fromBoot).some((x) => x.type === 'initialised' || x.type === 'ready')).toBe(false);
    await expect(
      docker('exec', name, 'runuser', '-u', 'postgres', '--', 'pg_isready', '-h', '127.0.0.1'),
    ).rejects.toThrow();
    // A standby's role: a new base backup of the server named, waited for (nothing listens there).
    await setRole('standby 127.0.0.2');
    await until('taking the standby role', (e) =>
      e.slice(fromBoot).some((x) => x.type === 'restarted-as' && x.role === 'standby'),
    );
    await sleep(1000);
    expect((await events()).slice(fromBoot).some((x) => x.type === 'ready' || x.type === 'initialised')).toBe(
      false,
    );
  }, 120_000);
});
