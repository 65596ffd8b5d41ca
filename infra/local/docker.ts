import Docker from 'dockerode';
import { withTimeout } from '../../core/clock.ts';
import { InfraError } from '../../core/errors.ts';

/** Labels on everything the harness starts, so `chaos cleanup` can always find it. */
export const LABEL_HARNESS = 'io.chaos-harness';
export const LABEL_RUN = 'io.chaos-harness.run-id';
export const LABEL_NODE = 'io.chaos-harness.node';
export const LABEL_ROLE = 'io.chaos-harness.role';
export const LABEL_AZ = 'io.chaos-harness.az';
export const LABEL_SCENARIO = 'io.chaos-harness.scenario';
/** The harness process that owns the run, and its host: a stack whose process is gone is stale. */
export const LABEL_PID = 'io.chaos-harness.pid';
export const LABEL_HOST = 'io.chaos-harness.host';

export function dockerClient(): Docker {
  // dockerode reads DOCKER_HOST (and the TLS variables) itself; otherwise the local socket.
  return new Docker();
}

/** Fails with a one-line InfraError when no Docker engine answers. */
export async function assertDockerReachable(docker: Docker, timeoutMs = 3000): Promise<void> {
  const where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  try {
    await withTimeout(docker.ping(), timeoutMs, `no answer in ${timeoutMs} ms`);
  } catch (err) {
    throw new InfraError(
      'DOCKER_UNREACHABLE',
      `Docker is not reachable at ${where}: ${(err as Error).message}`,
      {
        hint: 'start the Docker engine (dockerd, or Docker Desktop) or set DOCKER_HOST, then retry',
        cause: err,
      },
    );
  }
}

export interface Leftovers {
  containers: number;
  networks: number;
}

/**
 * Removes every container and network the harness labelled (one run's, or all), and waits
 * (15 s at most) until the engine has really let the containers go: a removal already in
 * progress (409) is not a removal done.
 */
export async function removeByLabel(docker: Docker, runId?: string): Promise<Leftovers> {
  const label = runId ? `${LABEL_RUN}=${runId}` : LABEL_HARNESS;
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  const deadline = Date.now() + 15_000;
  for (let left = containers; left.length > 0; ) {
    await Promise.all(
      left.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true, v: true })
          .catch((err: { statusCode?: number }) => {
            if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
          }),
      ),
    );
    left = await docker.listContainers({ all: true, filters: { label: [label] } });
    if (left.length === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const networks = await docker.listNetworks({ filters: { label: [label] } });
  await Promise.all(
    networks.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        }),
    ),
  );
  const { Volumes: volumes } = await docker.listVolumes({ filters: { label: [label] } });
  await Promise.all(
    (volumes ?? []).map((v) =>
      docker
        .getVolume(v.Name)
        .remove()
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        }),
    ),
  );
  return { containers: containers.length, networks: networks.length };
}

/** What the harness has left on the engine (for `chaos cleanup --dry-run` and tests). */
export async function countLeftovers(docker: Docker, runId?: string): Promise<Leftovers> {
  const label = runId ? `${LABEL_RUN}=${runId}` : LABEL_HARNESS;
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  const networks = await docker.listNetworks({ filters: { label: [label] } });
  return { containers: containers.length, networks: networks.length };
}

export interface StaleRun {
  runId: string;
  scenario: string;
  pid: number | null;
  containers: number;
}

/** Whether a process with this id runs on this host. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs on the engine whose harness process still runs (on this host, or on another one). */
export async function liveRuns(docker: Docker, host: string): Promise<Set<string>> {
  const stale = new Set((await staleRuns(docker, host)).map((s) => s.runId));
  const containers = await docker.listContainers({ all: true, filters: { label: [LABEL_HARNESS] } });
  return new Set(
    containers.map((c) => c.Labels?.[LABEL_RUN]).filter((id): id is string => !!id && !stale.has(id)),
  );
}

/**
 * Stacks on the engine whose harness process is gone from this host: a run killed with SIGKILL,
 * or one kept with --keep. Stacks owned by a live process, or by another host, are not stale.
 */
export async function staleRuns(docker: Docker, host: string): Promise<StaleRun[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [LABEL_HARNESS] } });
  const runs = new Map<string, StaleRun>();
  for (const c of containers) {
    const labels = c.Labels ?? {};
    const runId = labels[LABEL_RUN];
    if (!runId) continue;
    if (labels[LABEL_HOST] && labels[LABEL_HOST] !== host) continue;
    const pid = labels[LABEL_PID] ? Number(labels[LABEL_PID]) : null;
    if (pid !== null && pid !== process.pid && alive(pid)) continue;
    if (pid === process.pid) continue;
    const run = runs.get(runId) ?? { runId, scenario: labels[LABEL_SCENARIO] ?? '', pid, containers: 0 };
    run.containers++;
    runs.set(runId, run);
  }
  return [...runs.values()];
}
