import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { hostUnsupportedReason, toolMissing } from './host.ts';

const run = promisify(execFile);

/**
 * A node's disk as an EBS volume would be: a sparse file formatted as ext4, loop-mounted on the
 * host and bind-mounted into the node's container, so that `fsfreeze` can stop its I/O the way
 * FIS's aws:ebs:pause-volume-io does. Every volume of a run lives under one folder named after
 * the run, with an owner file, so a run killed with SIGKILL can be cleaned up later.
 *
 * Careful: a process that writes to a frozen file system blocks until it is thawed. Nothing here
 * writes into a volume while it may be frozen, and every removal thaws first, from its own
 * process (`fsfreeze -u`).
 */

/** Where the volumes live (the Docker engine must see the same path: a local engine). */
export function volumesRoot(): string {
  // Absolute and without symlinks: it is matched against the kernel's mount table.
  const root = resolve(process.env.CHAOS_VOLUMES_DIR ?? '/var/lib/chaos-harness/volumes');
  try {
    return realpathSync(root);
  } catch {
    return root;
  }
}

/** The tools' messages in English whatever the user's locale: some answers are matched. */
const C_LOCALE = { env: { ...process.env, LC_ALL: 'C' } };

/** Sparse: only what the node writes takes space. */
const SIZE = '512M';
/** fsfreeze, mount and umount on a volume whose users are gone take milliseconds; a hung one is a bug to report. */
const TOOL_TIMEOUT_MS = 15_000;

/** Why loop-mounted volumes (and so a real fsfreeze) cannot be had here, or undefined. */
export function loopVolumeUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return 'a frozen volume needs Linux (loop devices and fsfreeze)';
  const host = hostUnsupportedReason('freezing a volume', 'loop devices, mount and fsfreeze on the host');
  if (host) return host;
  if (!existsSync('/dev/loop-control'))
    return 'freezing a volume needs loop devices, and this host has no /dev/loop-control (modprobe loop)';
  for (const [bin, pkg] of [
    ['losetup', 'util-linux'],
    ['mount', 'mount'],
    ['fsfreeze', 'util-linux'],
    ['mkfs.ext4', 'e2fsprogs'],
  ] as const) {
    const missing = toolMissing('freezing a volume', bin, pkg);
    if (missing) return missing;
  }
  return undefined;
}

export interface LoopVolume {
  /** The loop mount point (what fsfreeze acts on). */
  mountPoint: string;
  /** The folder inside it that is bind-mounted into the container (ext4's lost+found stays out). */
  hostPath: string;
}

function runDir(runId: string): string {
  return join(volumesRoot(), runId);
}

/** Makes, formats and mounts one volume of a run. */
export async function createLoopVolume(runId: string, name: string): Promise<LoopVolume> {
  const dir = runDir(runId);
  mkdirSync(dir, { recursive: true });
  const owner = join(dir, 'owner.json');
  if (!existsSync(owner)) writeFileSync(owner, JSON.stringify({ runId, pid: process.pid, host: hostname() }));
  const image = join(dir, `${name}.img`);
  const mountPoint = join(dir, name);
  mkdirSync(mountPoint, { recursive: true });
  await run('truncate', ['-s', SIZE, image], { timeout: TOOL_TIMEOUT_MS });
  await run('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', '-m', '0', image], { timeout: TOOL_TIMEOUT_MS });
  await run('mount', ['-o', 'loop', image, mountPoint], { timeout: TOOL_TIMEOUT_MS });
  const hostPath = join(mountPoint, 'data');
  mkdirSync(hostPath, { recursive: true });
  return { mountPoint, hostPath };
}

/** Freezes a volume: every write and fsync on it blocks until thawed. */
export async function freezeVolume(mountPoint: string): Promise<void> {
  await run('fsfreeze', ['--freeze', mountPoint], { timeout: TOOL_TIMEOUT_MS });
}

/** Thaws a volume; a volume that is not frozen is left as it is. */
export async function thawVolume(mountPoint: string): Promise<void> {
  try {
    await run('fsfreeze', ['--unfreeze', mountPoint], { timeout: TOOL_TIMEOUT_MS, ...C_LOCALE });
  } catch (err) {
    // "Invalid argument": it was not frozen. Anything else is worth saying.
    if (!/Invalid argument/.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
  }
}

/** The loop mounts under a folder, from the kernel's table (the truth, whatever our state says). */
function mountsUnder(dir: string): string[] {
  let table = '';
  try {
    table = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  return table
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => Boolean(m) && (m === dir || m!.startsWith(`${dir}/`)));
}

/** Thaws every volume of a run (before its containers are removed: a frozen writer cannot die). */
export async function thawRun(runId: string): Promise<void> {
  await Promise.all(mountsUnder(runDir(runId)).map((m) => thawVolume(m).catch(() => {})));
}

/**
 * Removes every volume of a run: thaws, unmounts, detaches the loop devices, removes the files.
 * Call it once the run's containers are gone. Returns how many volumes it unmounted.
 */
export async function removeRunVolumes(runId: string): Promise<number> {
  const dir = runDir(runId);
  if (!existsSync(dir)) return 0;
  const mounts = mountsUnder(dir);
  for (const m of mounts) {
    await thawVolume(m).catch(() => {});
    await unmount(m);
  }
  // A loop device can outlive its mount (a mount that failed half-way): detach it by its file.
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.img'))) {
    const { stdout } = await run('losetup', ['-j', join(dir, f)], { timeout: TOOL_TIMEOUT_MS }).catch(() => ({
      stdout: '',
    }));
    for (const dev of stdout
      .split('\n')
      .map((l) => l.split(':')[0])
      .filter(Boolean))
      await run('losetup', ['-d', dev!], { timeout: TOOL_TIMEOUT_MS }).catch(() => {});
  }
  if (mountsUnder(dir).length === 0) rmSync(dir, { recursive: true, force: true });
  return mounts.length;
}

async function unmount(mountPoint: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await run('umount', [mountPoint], { timeout: TOOL_TIMEOUT_MS });
      return;
    } catch (err) {
      // Busy for a moment after its container went: try again, then detach it lazily.
      if (attempt < 10) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      await run('umount', ['-l', mountPoint], { timeout: TOOL_TIMEOUT_MS }).catch(() => {
        throw err;
      });
      return;
    }
  }
}

/** Runs with volumes on this host: their id, and whether their harness process is gone. */
export function volumeRuns(): { runId: string; stale: boolean; volumes: number }[] {
  const root = volumesRoot();
  if (!existsSync(root)) return [];
  return readdirSync(root).map((runId) => {
    let stale = true;
    try {
      const owner = JSON.parse(readFileSync(join(root, runId, 'owner.json'), 'utf8')) as {
        pid: number;
        host: string;
      };
      if (owner.host === hostname() && owner.pid !== process.pid) {
        try {
          process.kill(owner.pid, 0);
          stale = false;
        } catch (err) {
          stale = (err as NodeJS.ErrnoException).code !== 'EPERM';
        }
      } else if (owner.pid === process.pid) stale = false;
    } catch {}
    return { runId, stale, volumes: mountsUnder(join(root, runId)).length };
  });
}
