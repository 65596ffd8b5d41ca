import { statfsSync } from 'node:fs';
import { ChaosError, InfraError, UsageError, errorMessage } from '../../core/errors.ts';
import { FAULTS } from '../../core/faults.ts';
import type { FaultAsked, ImageRef, PreflightCheck } from '../../core/provider.ts';
import { assertDockerReachable, dockerClient } from './docker.ts';
import { officialImageMissing } from './images.ts';
import { loopVolumeUnsupportedReason } from './loop-volumes.ts';

/** Below this much free space where Docker keeps its data, a run may fail half-way. */
const MIN_FREE_BYTES = 2 * 1024 ** 3;

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;

/**
 * What a local run needs, each checked without starting or pulling anything: the engine, every
 * image (present, or the command that builds it), each fault's needs on this host (root,
 * iptables, loop devices and fsfreeze: what `supports()` says), and free disk where Docker keeps
 * its data. Host ports are never fixed (Docker maps each service to a free one), so none is
 * checked.
 */
export async function localPreflight(
  images: readonly ImageRef[],
  faults: readonly FaultAsked[],
  supports: (f: FaultAsked) => { ok: true } | { ok: false; reason: string },
): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  const docker = dockerClient();
  let engine: { version: string; root: string } | undefined;
  try {
    await assertDockerReachable(docker);
    const info = (await docker.info()) as { ServerVersion?: string; DockerRootDir?: string };
    engine = { version: info.ServerVersion ?? '?', root: info.DockerRootDir ?? '/var/lib/docker' };
    checks.push({ what: 'Docker engine', ok: true, detail: `engine ${engine.version}` });
  } catch (err) {
    checks.push({
      what: 'Docker engine',
      ok: false,
      detail: errorMessage(err),
      error: err instanceof ChaosError ? err : new InfraError('DOCKER_UNREACHABLE', errorMessage(err)),
    });
  }
  if (engine) {
    for (const ref of images) {
      // An image named in the environment must be that one; otherwise the official, then the offline build.
      const fromEnv = process.env[ref.env];
      const candidates = fromEnv ? [fromEnv] : [ref.official, ...(ref.offline ? [ref.offline] : [])];
      let found: string | undefined;
      for (const c of candidates) {
        if (
          await docker
            .getImage(c)
            .inspect()
            .then(
              () => true,
              () => false,
            )
        ) {
          found = c;
          break;
        }
      }
      checks.push(
        found
          ? { what: `image ${ref.name}`, ok: true, detail: found }
          : {
              what: `image ${ref.name}`,
              ok: false,
              detail: `none of ${candidates.join(', ')} is on this engine`,
              // An official-only image has no offline build: only a pull (or the variable) gets it.
              error:
                ref.officialOnly && !process.env[ref.env]
                  ? officialImageMissing(ref, false)
                  : new UsageError(
                      'IMAGE_MISSING',
                      `image ${ref.name}: none of ${candidates.join(', ')} is on this Docker engine`,
                      {
                        hint: process.env[ref.env]
                          ? `fix or unset ${ref.env}`
                          : `bash docker/build-images.sh (builds ${ref.offline} from Debian's packages), or docker pull ${ref.official}`,
                      },
                    ),
            },
      );
    }
    try {
      const fs = statfsSync(engine.root);
      const free = fs.bavail * fs.bsize;
      checks.push(
        free >= MIN_FREE_BYTES
          ? { what: 'disk', ok: true, detail: `${gib(free)} free in ${engine.root}` }
          : {
              what: 'disk',
              ok: false,
              detail: `${gib(free)} free in ${engine.root}`,
              error: new UsageError(
                'DISK_LOW',
                `only ${gib(free)} free in ${engine.root}, where Docker keeps the run's containers and volumes; a run needs about ${gib(MIN_FREE_BYTES)}`,
                {
                  hint: 'free space there (docker system prune -f removes stopped containers and dangling images)',
                },
              ),
            },
      );
    } catch {
      // a remote engine: its disk is not ours to see
    }
  }
  const seen = new Set<string>();
  for (const f of faults) {
    const key = `${f.action}/${f.mode ?? ''}/${f.method ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const s = supports(f);
    const what = `fault ${f.action}${f.mode ? ` (${f.mode})` : ''}${f.method ? ` (${f.method})` : ''}`;
    const freeze = f.action === 'freeze-volume' && s.ok ? loopVolumeUnsupportedReason() : undefined;
    checks.push(
      s.ok
        ? {
            what,
            ok: true,
            detail:
              f.action === 'freeze-volume'
                ? freeze
                  ? `the cgroup freezer (every process of the node), as fsfreeze cannot be had: ${freeze}`
                  : 'fsfreeze on a loop-mounted ext4 volume'
                : (FAULTS[f.action]?.does ?? ''),
          }
        : {
            what,
            ok: false,
            detail: s.reason,
            error: new UsageError('FAULT_UNSUPPORTED', `fault '${f.action}' cannot run here: ${s.reason}`, {
              hint: 'provide what the reason names, or choose another fault (kill, stop and pause need only Docker)',
            }),
          },
    );
  }
  return checks;
}
