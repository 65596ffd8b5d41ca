import type Docker from 'dockerode';
import { withTimeout } from '../../core/clock.ts';
import { UsageError } from '../../core/errors.ts';
import { type ImageRef, OFFICIAL_IMAGE_MISSING } from '../../core/provider.ts';

const PULL_TIMEOUT_MS = 300_000;

/**
 * The images of the local mode. Each is chosen, in order: from its environment variable; the
 * official image if the engine has it; the image built offline by docker/build-images.sh if the
 * engine has that; else the official one (which testcontainers will then try to pull). An
 * official-only image (no offline build) that cannot be pulled is an OFFICIAL_IMAGE_MISSING error.
 */
export interface ImageChoice {
  image: string;
  source: 'environment' | 'official' | 'offline-build';
}

async function present(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

async function pullable(docker: Docker, image: string): Promise<boolean> {
  try {
    const pulled = (async () => {
      const stream = await docker.pull(image);
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
      );
    })();
    // A registry that never answers must not hang the run before it starts.
    await withTimeout(pulled, PULL_TIMEOUT_MS, `pulling ${image} took over ${PULL_TIMEOUT_MS} ms`);
    return true;
  } catch {
    return false;
  }
}

/**
 * What a run that needs an official-only image it cannot have is told: one line, and the fix
 * (`pulled`: a pull was tried and failed).
 */
export function officialImageMissing(spec: ImageRef, pulled: boolean): UsageError {
  return new UsageError(
    OFFICIAL_IMAGE_MISSING,
    `${spec.official} is not on this Docker engine${pulled ? ' and cannot be pulled' : ''}; it has no offline build (${spec.officialOnly ?? 'none registered'})`,
    {
      hint: `docker pull ${spec.official} where a registry answers, or set ${spec.env} to an image this engine has`,
    },
  );
}

export async function resolveImage(docker: Docker, spec: ImageRef): Promise<ImageChoice> {
  const fromEnv = process.env[spec.env];
  if (fromEnv) {
    if (!(await present(docker, fromEnv)) && !(await pullable(docker, fromEnv))) {
      throw new UsageError(
        'IMAGE_NOT_FOUND',
        `image '${fromEnv}' (from ${spec.env}) is not on this Docker engine and cannot be pulled`,
        {
          hint: spec.offline
            ? `fix ${spec.env}, or unset it to use ${spec.official} / ${spec.offline} (bash docker/build-images.sh builds the latter)`
            : `fix ${spec.env}, or unset it to use ${spec.official} (docker pull ${spec.official})`,
        },
      );
    }
    return { image: fromEnv, source: 'environment' };
  }
  if (await present(docker, spec.official)) return { image: spec.official, source: 'official' };
  if (spec.offline && (await present(docker, spec.offline)))
    return { image: spec.offline, source: 'offline-build' };
  if (await pullable(docker, spec.official)) return { image: spec.official, source: 'official' };
  if (!spec.offline) throw officialImageMissing(spec, true);
  throw new UsageError(
    'IMAGE_NOT_FOUND',
    `neither ${spec.official} nor ${spec.offline} is on this Docker engine, and ${spec.official} cannot be pulled`,
    {
      hint: `run \`bash docker/build-images.sh\` to build the images from Debian's packages, or set ${spec.env}`,
    },
  );
}

/** Every image a stack needs, by logical name. */
export async function resolveImages(
  docker: Docker,
  refs: readonly ImageRef[],
): Promise<Record<string, ImageChoice>> {
  const chosen = await Promise.all(refs.map(async (r) => [r.name, await resolveImage(docker, r)] as const));
  return Object.fromEntries(chosen);
}
