import { createHash } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plugin, build } from 'esbuild';
import type { ImageRef } from '../core/provider.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** The image the bundle runs on (agents, the registry, the web heads): one definition for every system. */
export const NODE_IMAGE: ImageRef = {
  name: 'node',
  env: 'CHAOS_IMAGE_NODE',
  official: 'node:20-bookworm-slim',
  offline: 'chaos-local/node:20',
};

/** The programs every stack may run whatever its systems: the local endpoint registry. */
export const SHARED_AGENTS: Record<string, string> = { registry: join(here, 'registry/main.ts') };

/**
 * Bundles the in-container programs (agents, the local registry) into one self-contained file
 * for the Node.js of the images (the node image's is 20; the Patroni image's, and the node
 * image's where it was built without the npm registry, Debian's 18): `CHAOS_ENTRY` picks the program, each a
 * module exporting `main()`. Built on every run (tens of ms, so never stale) and written to the
 * OS temp folder under its content hash: concurrent runs share one file, and a read-only
 * install works.
 *
 * `route53: false` (a local run, whose agents are given an http:// registry) leaves the Route 53
 * registry and the AWS SDK under it out: 1.5 MB of the 2 MB that every agent's Node.js would
 * parse at boot and that is copied into every container. A `route53://` REGISTRY_URL then fails
 * with a message saying so.
 */
export async function bundleAgents(
  entries: Record<string, string>,
  opts: { route53?: boolean } = {},
): Promise<string> {
  const table = Object.entries({ ...SHARED_AGENTS, ...entries })
    .map(([name, file]) => `  ${JSON.stringify(name)}: () => import(${JSON.stringify(file)}),`)
    .join('\n');
  const contents = `const table = {\n${table}\n};
const name = process.env.CHAOS_ENTRY;
const load = table[name];
if (!load) {
  process.stderr.write('CHAOS_ENTRY must be one of ' + Object.keys(table).join(', ') + ', not ' + name + '\\n');
  process.exit(2);
}
load().then((m) => m.main()).catch((err) => {
  process.stdout.write(JSON.stringify({ t: Date.now(), type: 'agent-crashed', error: String(err) }) + '\\n');
  process.exit(1);
});
`;
  const out = await build({
    stdin: { contents, resolveDir: here, sourcefile: 'agents-entry.js', loader: 'js' },
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    write: false,
    outfile: 'agents.cjs',
    logLevel: 'silent',
    legalComments: 'none',
    // The pg driver's optional native binding is never used.
    external: ['pg-native'],
    // The AWS SDK's ES modules (the Route 53 registry agents use on AWS): half the size and build
    // time of its CommonJS files.
    mainFields: ['module', 'main'],
    plugins: opts.route53 === false ? [withoutRoute53] : [],
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

/** The Route 53 registry (agents/registry/route53.ts) replaced by a module that says it was left out. */
const withoutRoute53: Plugin = {
  name: 'without-route53',
  setup(b) {
    b.onResolve({ filter: /^\.\/route53\.ts$/ }, (args) => ({ path: args.path, namespace: 'no-route53' }));
    b.onLoad({ filter: /.*/, namespace: 'no-route53' }, () => ({
      contents: `export class Route53Registry {
  constructor() {
    throw new Error('this agents bundle was built for a local run: it has no Route 53 registry (route53:// REGISTRY_URL)');
  }
}`,
      loader: 'js',
    }));
  },
};
