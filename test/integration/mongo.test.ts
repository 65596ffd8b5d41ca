import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { NODE_IMAGE } from '../../agents/bundle.ts';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { dockerClient } from '../../infra/local/docker.ts';
import { partitionUnsupportedReason } from '../../infra/local/faults.ts';
import { resolveImage } from '../../infra/local/images.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { MONGO_IMAGE } from '../../systems/mongo/index.ts';
import { chaos, leftovers, readHistory, ready, skipReason, tempRunsDir } from './docker.ts';

/**
 * The Mongo replica set on real containers. It needs mongod, and no Debian package has it: the
 * official image (or one named by CHAOS_IMAGE_MONGO) must be on the engine already, pulled where a
 * registry answers (docker/build-images.sh does). Where there is none the suite skips, saying so.
 */
async function mongoImage(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (!ready.ok) return { ok: false, reason: 'no Docker engine' };
  const image = process.env[MONGO_IMAGE.env] || MONGO_IMAGE.official;
  const present = await dockerClient()
    .getImage(image)
    .inspect()
    .then(
      () => true,
      () => false,
    );
  return present
    ? { ok: true }
    : {
        ok: false,
        reason: `no mongod image here (${image} is not on this engine): docker pull ${MONGO_IMAGE.official} where a registry answers, or set ${MONGO_IMAGE.env} to a mongod image the engine has`,
      };
}
const image = await mongoImage();
if (ready.ok && !image.ok) console.warn(`Mongo integration tests skipped: ${image.reason}`);
const noPartition = ready.ok ? partitionUnsupportedReason() : undefined;
const skip = ready.ok ? (image.ok ? '' : ` (skipped: ${image.reason})`) : skipReason;

const run = (name: string) =>
  runScenario({ loaded: loadScenario(name), provider: new LocalProvider(), runsDir: tempRunsDir() });
const mongo = (r: RunResult) => r.systems.find((s) => s.name === 'mongo')!;
const byName = (r: RunResult) => Object.fromEntries(mongo(r).after!.nodes.map((n) => [n.name, n]));
const none = { containers: 0, networks: 0 };
const SLOW = 300_000;

describe('the Mongo scenarios as chaos list shows them', () => {
  it('each marked as needing the official image, and the images list skips mongo with a line saying why', async () => {
    const list = await chaos(['list']);
    expect(list.code, list.stderr).toBe(0);
    for (const name of [
      'mongo-primary-kill-majority',
      'mongo-primary-partition-w1',
      'mongo-primary-partition-majority',
      'mongo-az-power',
    ])
      expect(list.stdout).toMatch(
        new RegExp(
          `^${name} .*\\[needs the official mongo:7 image \\(docker pull mongo:7, or CHAOS_IMAGE_MONGO\\)\\]$`,
          'm',
        ),
      );
    const images = await chaos(['list', '--images']);
    expect(images.stdout).toContain(
      '# mongo mongo:7 official only: mongod is in no Debian package; docker pull mongo:7, or set CHAOS_IMAGE_MONGO\n',
    );
    expect(images.stdout).not.toMatch(/^mongo /m);
  });
});

describe.skipIf(!ready.ok || image.ok)(
  `a Mongo scenario where no mongod image can be had${skipReason}`,
  () => {
    it('stops before anything starts, in one line that says how to get one (exit 2)', async () => {
      const runsDir = tempRunsDir();
      const c = await chaos(['run', 'mongo-primary-kill-majority', '--runs-dir', runsDir], {
        [MONGO_IMAGE.env]: '',
      });
      expect(c.code).toBe(2);
      expect(c.stderr).toMatch(
        /^error\[OFFICIAL_IMAGE_MISSING\]: mongo:7 is not on this Docker engine; it has no offline build \(mongod is in no Debian package\) \(docker pull mongo:7 where a registry answers, or set CHAOS_IMAGE_MONGO to an image this engine has\)$/m,
      );
      expect(c.stdout).not.toMatch(/run [0-9a-f]{8}/); // nothing was started
    });
  },
);

describe.skipIf(!ready.ok || !image.ok)(`the Mongo replica set on real containers${skip}`, () => {
  it(
    'majority, primary killed: one election, the endpoint record follows it, nothing acknowledged lost',
    async () => {
      const r = await run('mongo-primary-kill-majority');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const m = mongo(r);
      expect(m.before!.leader).toBe('mongo-a');
      expect(m.leadership).toHaveLength(1);
      const { from, to, promotedAt } = m.leadership[0]!;
      expect(from).toBe('mongo-a');
      expect(['mongo-b', 'mongo-c']).toContain(to);
      expect(promotedAt).not.toBeNull(); // its agent said became-primary
      const other = to === 'mongo-b' ? 'mongo-c' : 'mongo-b';
      expect(byName(r)[to]).toMatchObject({ reachable: true, role: 'primary' });
      expect(byName(r)[other]).toMatchObject({
        reachable: true,
        role: 'secondary',
        following: to,
        linkUp: true,
      });
      expect(byName(r)['mongo-a']).toMatchObject({ reachable: false });
      expect(m.convergence?.converged).toBe(true);
      const w = r.probes[0]!.writes!;
      expect(w.lost).toBe(0);
      expect(w.acknowledged).toBeGreaterThan(200);
      expect(r.probes[0]!.readBack).toMatchObject({ node: to });
      expect(r.timeline.filter((e) => e.type === 'endpoint-moved').map((e) => e.node)).toEqual([to]);
      expect(await leftovers(r.runId)).toEqual(none);
    },
    SLOW,
  );

  it.skipIf(noPartition !== undefined)(
    'w: 1, primary cut off: the writes it acknowledged after the cut are lost, counted exactly, declared',
    async () => {
      const r = await run('mongo-primary-partition-w1');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const [cut] = r.faults;
      const history = await readHistory(r.runDir);
      // Acknowledged by the old primary after the cut (the probe was held while it was made):
      // none of them reached a secondary, and its rollback takes them away when the link heals.
      const atRisk = history
        .filter(
          (o) =>
            o.op === 'write' && o.outcome === 'ok' && o.node === 'mongo-a' && o.tInvoke >= cut!.tApplied!,
        )
        .map((o) => o.seq);
      expect(atRisk.length).toBeGreaterThanOrEqual(20);
      const w = r.probes[0]!.writes!;
      expect(w.lostSeqs).toEqual(atRisk);
      expect(w.lost).toBe(atRisk.length);
      expect(w.failedButPresent).toBe(0);
      expect(r.expectations.find((e) => e.name === 'lost acknowledged writes')).toMatchObject({
        verdict: 'pass',
      });
      const m = mongo(r);
      expect(m.leadership.map((l) => [l.from, l.to])).toEqual([['mongo-a', m.leadership[0]!.to]]);
      expect(r.timeline.some((e) => e.node === 'mongo-a' && e.type === 'endpoint-withheld')).toBe(true);
      // The old primary rolled back and follows the new one.
      expect(byName(r)['mongo-a']).toMatchObject({ reachable: true, role: 'secondary', linkUp: true });
      expect(await leftovers(r.runId)).toEqual(none);
    },
    SLOW,
  );

  it.skipIf(noPartition !== undefined)(
    'majority, primary cut off: its inserts come back unknown (write-concern errors), none acknowledged after the record moved, none lost',
    async () => {
      const r = await run('mongo-primary-partition-majority');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const [cut] = r.faults;
      const history = await readHistory(r.runDir);
      const afterCut = history.filter(
        (o) => o.op === 'write' && o.node === 'mongo-a' && o.tInvoke >= cut!.tApplied!,
      );
      expect(afterCut.filter((o) => o.outcome === 'ok')).toEqual([]);
      expect(afterCut.some((o) => o.outcome === 'unknown' && /WriteConcern/.test(o.error ?? ''))).toBe(true);
      expect(r.probes[0]!.writes!.lost).toBe(0);
      expect(r.probes[0]!.writesByFormerLeader?.count).toBe(0);
      expect(await leftovers(r.runId)).toEqual(none);
    },
    SLOW,
  );

  it(
    "the book's layout loses AZ a: b and the arbiter elect b; w: 1 through the record recovers, majority waits for a, none lost",
    async () => {
      const r = await run('mongo-az-power');
      expect(r.error).toBeUndefined();
      expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
      const m = mongo(r);
      expect(m.leadership.map((l) => [l.from, l.to])).toEqual([['mongo-a', 'mongo-b']]);
      expect(byName(r)).toMatchObject({
        'mongo-a': { reachable: true, role: 'secondary', following: 'mongo-b' },
        'mongo-b': { reachable: true, role: 'primary' },
        'mongo-arbiter': { reachable: true, role: 'arbiter' },
      });
      const w1 = r.probes.find((p) => p.name === 'record-w1')!;
      const majority = r.probes.find((p) => p.name === 'majority')!;
      expect(majority.writes!.lost).toBe(0);
      expect(w1.writes!.lost).toBeLessThanOrEqual(5);
      // w: 1 through the record is back long before the zone: majority only once a has caught up.
      expect(w1.windows[0]!.availability.failoverMs!).toBeLessThan(
        majority.windows[0]!.availability.failoverMs!,
      );
      expect(await leftovers(r.runId)).toEqual(none);
    },
    SLOW,
  );
});

/**
 * The stand-in mongod (systems/mongo/stand-in.ts) as an image: Node.js and one bundled file,
 * named `mongod`, built in seconds from the node image the local mode already has.
 */
const STAND_IN = 'chaos-test/mongod-stand-in:latest';
async function buildStandIn(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-mongod-stand-in-'));
  const out = await build({
    stdin: {
      contents:
        "import { main } from './stand-in.ts';\nmain().catch((err) => { console.error(err); process.exit(1); });\n",
      resolveDir: join(import.meta.dirname, '../../systems/mongo'),
      sourcefile: 'stand-in-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
  });
  writeFileSync(join(dir, 'stand-in.cjs'), out.outputFiles[0]!.contents);
  writeFileSync(join(dir, 'mongod'), '#!/bin/sh\nexec node /opt/stand-in.cjs "$@"\n');
  const docker = dockerClient();
  const base = (await resolveImage(docker, NODE_IMAGE)).image;
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM ${base}\nCOPY stand-in.cjs /opt/stand-in.cjs\nCOPY mongod /usr/local/bin/mongod\nRUN chmod 755 /usr/local/bin/mongod\n`,
  );
  const stream = await docker.buildImage(
    { context: dir, src: ['Dockerfile', 'stand-in.cjs', 'mongod'] },
    { t: STAND_IN },
  );
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: { error?: string }[]) => {
      const failed = err?.message ?? res.find((r) => r.error)?.error;
      if (failed) reject(new Error(`building the stand-in mongod: ${failed}`));
      else resolve();
    }),
  );
}

describe.skipIf(!ready.ok)(
  `the harness's side of the Mongo stack, with a stand-in mongod${skipReason}`,
  () => {
    it(
      "forms the book's layout (initiated by mongo-a's agent, priorities put back, the endpoint claimed), writes through the set and through the record, reads back from the primary",
      async () => {
        await buildStandIn();
        const dir = mkdtempSync(join(tmpdir(), 'chaos-mongo-stand-in-'));
        const file = join(dir, 'mongo-stand-in.yaml');
        writeFileSync(
          file,
          `name: mongo-stand-in
description: The plumbing of the Mongo replica set with a stand-in mongod that holds no election.
stack:
  mongo: { arbiter: true, electionTimeoutMillis: 2000, heartbeatIntervalMillis: 500 }
probes:
  - { kind: mongo-writer, name: through-set, rateHz: 50, writeConcern: 1 }
  - { kind: mongo-writer, name: through-record, rateHz: 50, writeConcern: majority, connect: endpoint-record }
steadyState: { durationMs: 1000 }
faults:
  - { action: kill, target: node:mongo-b }
observeMs: 2000
recovery: { stableMs: 500 }
expect: { recovered: true, maxLostWrites: 0 }
`,
        );
        const before = process.env[MONGO_IMAGE.env];
        process.env[MONGO_IMAGE.env] = STAND_IN;
        let r: RunResult;
        try {
          r = await runScenario({
            loaded: loadScenario(file),
            provider: new LocalProvider(),
            runsDir: tempRunsDir(),
          });
        } finally {
          if (before === undefined) Reflect.deleteProperty(process.env, MONGO_IMAGE.env);
          else process.env[MONGO_IMAGE.env] = before;
        }
        expect(r.error).toBeUndefined();
        expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
        const m = mongo(r);
        expect(m.before).toMatchObject({
          leader: 'mongo-a',
          members: ['mongo-a', 'mongo-b', 'mongo-arbiter'],
        });
        expect(m.before!.nodes).toEqual([
          { name: 'mongo-a', az: 'a', reachable: true, role: 'primary' },
          expect.objectContaining({ name: 'mongo-b', role: 'secondary', following: 'mongo-a', linkUp: true }),
          { name: 'mongo-arbiter', az: 'c', reachable: true, role: 'arbiter' },
        ]);
        const types = (node: string) => r.timeline.filter((e) => e.node === node).map((e) => e.type);
        expect(types('mongo-a')).toEqual(
          expect.arrayContaining(['initiated', 'became-primary', 'priorities-set', 'claimed-endpoint']),
        );
        expect(types('mongo-b')).not.toContain('initiated');
        for (const p of r.probes) {
          expect(p.writes!.acknowledged, p.name).toBeGreaterThan(50);
          expect(p.writes!.lost, p.name).toBe(0);
          expect(p.readBack, p.name).toMatchObject({ node: 'mongo-a', size: p.writes!.acknowledged });
        }
        const history = await readHistory(r.runDir);
        expect(
          history.filter((o) => o.op === 'write' && o.outcome === 'ok').every((o) => o.node === 'mongo-a'),
        ).toBe(true);
        expect(m.after!.nodes.find((n) => n.name === 'mongo-b')).toMatchObject({ reachable: false });
        expect(await leftovers(r.runId)).toEqual(none);
      },
      SLOW,
    );
  },
);
