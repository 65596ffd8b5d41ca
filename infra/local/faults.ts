import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { hostUnsupportedReason, toolMissing } from './host.ts';

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

/** Why a network partition cannot be made here, or undefined if it can. */
export function partitionUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux')
    return 'network partitions need Linux network namespaces (nsenter + iptables)';
  return (
    hostUnsupportedReason('network partitions', "iptables in the containers' network namespaces") ??
    toolMissing('network partitions', 'nsenter', 'util-linux') ??
    toolMissing('network partitions', 'iptables', 'iptables')
  );
}

/** Why a process of a node cannot be killed from the host here (it needs the host's pids), or undefined. */
export function processKillUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return 'killing a process needs Linux (a signal to a host pid)';
  return hostUnsupportedReason('killing a process', "a signal to a container's process by its host pid");
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
