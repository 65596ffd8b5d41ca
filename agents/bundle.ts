import { createHash } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles the in-container programs (chain agent, local registry) into one self-contained file
 * for the Node.js in the node image (Debian's is 18). It is built on every run (about 50 ms, so
 * it is never stale) and written to the OS temp folder under its content hash: concurrent runs
 * share one file, and a read-only install works.
 */
export async function bundleAgents(): Promise<string> {
  const out = await build({
    entryPoints: [join(here, 'entry.ts')],
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    write: false,
    outfile: 'agents.cjs',
    logLevel: 'silent',
    legalComments: 'none',
  });
  const code = out.outputFiles[0]!.contents;
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const file = join(tmpdir(), `chaos-agents-${hash}.cjs`);
  if (!existsSync(file)) {
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, code);
    renameSync(partial, file);
  }
  return file;
}
