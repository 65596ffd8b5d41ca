import { execFile } from 'node:child_process';
import { constants, accessSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

const run = promisify(execFile);

/**
 * Faults on local containers. A node is a group of containers (redis and its agent share one
 * network namespace), and a fault on a node touches all of them at once, so they die together.
 */
export async function killContainers(docker: Docker, ids: string[]): Promise<void> {
  await Promise.all(
    ids.map((id) =>
      docker
        .getContainer(id)
        .kill({ signal: 'SIGKILL' })
        .catch((err: { statusCode?: number; message?: string }) => {
          // Already dead (the agent died with its node's redis): nothing left to kill.
          if (err.statusCode === 409 && /is not running/.test(String(err.message))) return;
          throw err;
        }),
    ),
  );
}

export async function startContainers(docker: Docker, ids: string[]): Promise<void> {
  // In order: the first holds the network namespace the others join.
  for (const id of ids) await docker.getContainer(id).start();
}

export async function pauseContainers(docker: Docker, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => docker.getContainer(id).pause()));
}

export async function unpauseContainers(docker: Docker, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => docker.getContainer(id).unpause()));
}

function onPath(binary: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/** Why a network partition cannot be made here, or undefined if it can. */
export function partitionUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux')
    return 'network partitions need Linux network namespaces (nsenter + iptables)';
  return (
    hostUnsupportedReason('network partitions', "iptables in the containers' network namespaces") ??
    toolsMissing('network partitions', ['nsenter', 'iptables'])
  );
}

/** Why a process of a node cannot be killed from the host here (it needs the host's pids), or undefined. */
export function processKillUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return 'killing a process needs Linux (a signal to a host pid)';
  return hostUnsupportedReason('killing a process', "a signal to a container's process by its host pid");
}

function hostUnsupportedReason(what: string, why: string): string | undefined {
  if (process.getuid?.() !== 0) return `${what} needs root (${why})`;
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://'))
    return `${what} needs a local Docker engine, not DOCKER_HOST=${host}`;
  return undefined;
}

function toolsMissing(what: string, bins: string[]): string | undefined {
  for (const bin of bins) {
    if (!onPath(bin))
      return `${what} need \`${bin}\` on the PATH (apt-get install ${bin === 'nsenter' ? 'util-linux' : 'iptables'})`;
  }
  return undefined;
}

/** Every IP address of a container, on every network it is on. */
export async function containerIps(docker: Docker, id: string): Promise<string[]> {
  const info = await docker.getContainer(id).inspect();
  return Object.values(info.NetworkSettings.Networks ?? {})
    .map((n) => n.IPAddress)
    .filter((ip): ip is string => Boolean(ip));
}

async function iptables(pid: number, args: string[]): Promise<void> {
  await run('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', ...args]);
}

/**
 * Drops all traffic between the network namespace of container `id` and the given addresses,
 * both ways, with iptables inside that namespace. Returns the revert.
 */
export async function partition(docker: Docker, id: string, peerIps: string[]): Promise<() => Promise<void>> {
  const pid = (await docker.getContainer(id).inspect()).State.Pid;
  if (!pid) throw new Error(`container ${id.slice(0, 12)} is not running; cannot partition it`);
  const rules = peerIps.flatMap((ip) => [
    ['INPUT', '-s', ip, '-j', 'DROP'],
    ['OUTPUT', '-d', ip, '-j', 'DROP'],
  ]);
  for (const rule of rules) await iptables(pid, ['-I', ...rule]);
  return async () => {
    for (const rule of rules) await iptables(pid, ['-D', ...rule]).catch(() => {});
  };
}
