import { execFile } from 'node:child_process';
import { constants, accessSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../../core/errors.ts';

/**
 * Where the k6 binary is, and which version it is. The harness is tested with one k6 version
 * (K6_VERSION); k6 is built from source with Go, as `.ci/run` will do:
 *
 *   go install go.k6.io/k6@v1.8.1
 *
 * Looked for, in order: `K6_BIN` (a path; when set, nothing else is tried), `k6` on `PATH`,
 * `$(go env GOPATH)/bin/k6` (where `go install` puts it; each entry of a GOPATH list), and
 * `~/go/bin/k6`. Another version is used, with a warning (`mismatch`): k6 1.x keeps its script
 * API and its JSON output stable within the major version.
 */
export const K6_VERSION = 'v1.8.1';
export const K6_INSTALL = `go install go.k6.io/k6@${K6_VERSION}`;

export interface K6Binary {
  path: string;
  /** As `k6 version` says it (`v1.8.1`). */
  version: string;
  /** Where it was found: `K6_BIN`, `PATH`, `GOPATH` or `~/go/bin`. */
  from: 'K6_BIN' | 'PATH' | 'GOPATH' | '~/go/bin';
  /** A warning when the version is not the one the harness is tested with. */
  mismatch?: string;
}

export interface FindK6Options {
  env?: NodeJS.ProcessEnv;
  /** `go env GOPATH`; by default runs `go`, and a missing Go is no error. */
  goPath?: () => Promise<string | undefined>;
  home?: string;
}

const run = promisify(execFile);

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

async function defaultGoPath(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await run('go', ['env', 'GOPATH'], { env, timeout: 10_000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The candidates, in order, with where each comes from. */
async function candidates(opts: FindK6Options): Promise<{ path: string; from: K6Binary['from'] }[]> {
  const env = opts.env ?? process.env;
  const out: { path: string; from: K6Binary['from'] }[] = [];
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir) out.push({ path: join(dir, 'k6'), from: 'PATH' });
  }
  const goPath = await (opts.goPath ?? (() => defaultGoPath(env)))();
  for (const dir of (goPath ?? '').split(delimiter)) {
    if (dir) out.push({ path: join(dir, 'bin', 'k6'), from: 'GOPATH' });
  }
  out.push({ path: join(opts.home ?? homedir(), 'go', 'bin', 'k6'), from: '~/go/bin' });
  return out;
}

/** `v1.8.1` from `k6 v1.8.1 (go1.26.8, linux/amd64)`; undefined when there is none. */
export function parseK6Version(output: string): string | undefined {
  return /\bk6 (v\d+\.\d+\.\d+[\w.+-]*)/.exec(output)?.[1];
}

/**
 * The k6 binary to run, with its version; a UsageError (exit 2) with how to install it when
 * there is none, or when the one named by K6_BIN does not run.
 */
export async function findK6(opts: FindK6Options = {}): Promise<K6Binary> {
  const env = opts.env ?? process.env;
  const hint = `install it with \`${K6_INSTALL}\` (Go 1.25+), or set K6_BIN to a k6 binary`;
  let found: { path: string; from: K6Binary['from'] } | undefined;
  if (env.K6_BIN) {
    if (!executable(env.K6_BIN)) {
      throw new UsageError('K6_MISSING', `K6_BIN=${env.K6_BIN} is not an executable file`, { hint });
    }
    found = { path: env.K6_BIN, from: 'K6_BIN' };
  } else {
    found = (await candidates(opts)).find((c) => executable(c.path));
  }
  if (!found) {
    throw new UsageError('K6_MISSING', 'k6 was not found (K6_BIN, PATH, $(go env GOPATH)/bin, ~/go/bin)', {
      hint,
    });
  }
  let output: string;
  try {
    const { stdout, stderr } = await run(found.path, ['version'], { env, timeout: 15_000 });
    output = `${stdout}\n${stderr}`;
  } catch (err) {
    throw new UsageError(
      'K6_MISSING',
      `${found.path} does not run as k6: ${(err as Error).message.split('\n')[0]}`,
      {
        hint,
        cause: err,
      },
    );
  }
  const version = parseK6Version(output);
  if (!version) {
    throw new UsageError(
      'K6_MISSING',
      `${found.path} does not say it is k6: ${output.trim().slice(0, 120)}`,
      {
        hint,
      },
    );
  }
  return {
    ...found,
    version,
    ...(version === K6_VERSION
      ? {}
      : {
          mismatch: `k6 at ${found.path} is ${version}; the harness is tested with ${K6_VERSION} (${K6_INSTALL})`,
        }),
  };
}
