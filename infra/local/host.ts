import { constants, accessSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * What some faults need of the host the harness runs on: root, a local Docker engine (the
 * containers' processes, network namespaces and bind mounts are on this host), and tools.
 */

export function onPath(binary: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/** Why `what` cannot be done from this process (not root, a remote engine), or undefined. */
export function hostUnsupportedReason(what: string, why: string): string | undefined {
  if (process.getuid?.() !== 0) return `${what} needs root (${why})`;
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://'))
    return `${what} needs a local Docker engine, not DOCKER_HOST=${host}`;
  return undefined;
}

/** Why `what` cannot be done for want of `bin` (from Debian's package `pkg`), or undefined. */
export function toolMissing(what: string, bin: string, pkg: string): string | undefined {
  return onPath(bin) ? undefined : `${what} needs \`${bin}\` on the PATH (apt-get install ${pkg})`;
}
