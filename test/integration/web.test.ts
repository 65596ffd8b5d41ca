import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import { runScenario } from '../../engine/runner.ts';
import { LocalProvider } from '../../infra/local/provider.ts';
import { findK6 } from '../../probes/k6/binary.ts';
import { loadScenario } from '../../scenarios/load.ts';
import { parseHaproxyLog } from '../../systems/web/lb.ts';
import { hostLeftovers, leftovers, ready, skipReason, tempRunsDir } from './docker.ts';

const k6 = await findK6().then(
  () => undefined,
  (err: Error) => err.message,
);
const skip = !ready.ok || k6 !== undefined;
const why = skipReason || (k6 ? ` (skipped: ${k6})` : '');

async function run(name: string): Promise<{ r: RunResult; dir: string }> {
  const runsDir = tempRunsDir();
  const r = await runScenario({ loaded: loadScenario(name), provider: new LocalProvider(), runsDir });
  const [stamp] = readdirSync(join(runsDir, name));
  return { r, dir: join(runsDir, name, stamp!) };
}
const none = { containers: 0, networks: 0 };
const group = (r: RunResult) => r.systems.find((s) => s.name === 'web')!.actions;

describe.skipIf(skip)(`the web tier under k6 load, on real containers${why}`, () => {
  it('webhead-kill: a random head dies, the group replaces it in its zone, nothing acknowledged is lost; k6 agrees with HAProxy', async () => {
    const { r, dir } = await run('webhead-kill');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const killed = r.faults[0]!.nodes[0]!;
    const acts = group(r);
    expect(acts.find((a) => a.type === 'terminated')?.node).toBe(killed);
    const launched = acts.find((a) => a.type === 'in-service');
    expect(launched?.node).toMatch(new RegExp(`^web-${killed.slice('web-'.length)}-r\\d+$`));
    expect(acts.some((a) => a.type === 'capacity-restored')).toBe(true);
    const web = r.systems.find((s) => s.name === 'web')!;
    expect(web.after!.members.filter((m) => m !== 'web-lb')).toHaveLength(3);
    expect(web.after!.members).not.toContain(killed);
    const http = r.probes[0]!;
    expect(http.writes?.lost).toBe(0);
    expect(http.writes!.acknowledged).toBeGreaterThan(500);
    // k6's history against HAProxy's own log of the same requests, request by request: every
    // request both saw agrees (an ok in k6 is a 200 in the log, a fail is not). The log is the
    // file HAProxy's output went to, copied out of its container at the end, whole: every
    // request answered has its line (one cut before any answer has none).
    const log = new Map(
      readFileSync(join(dir, 'logs', 'web-lb.requests.log'), 'utf8')
        .split('\n')
        .map((l) => parseHaproxyLog(l))
        .filter((x) => x?.uri.startsWith('/write?'))
        .map((x) => [Number(/seq=(\d+)/.exec(x!.uri)![1]), x!.status] as const),
    );
    const ops = JSON.parse(
      `[${readFileSync(join(dir, 'history.jsonl'), 'utf8').trim().split('\n').join(',')}]`,
    ) as {
      probe: string;
      seq: number;
      outcome: string;
    }[];
    const k6 = ops.filter((o) => o.probe === 'http');
    let seen = 0;
    for (const o of k6) {
      const status = log.get(o.seq);
      if (status === undefined) continue;
      seen++;
      // ok only on a 200, fail never on a 200; unknown may be either (k6 gave up, or was
      // stopped, before the answer came: the request may well have succeeded).
      if (o.outcome !== 'unknown')
        expect(status === 200, `seq ${o.seq}: k6 ${o.outcome}, HAProxy ${status}`).toBe(o.outcome === 'ok');
    }
    expect(seen).toBeGreaterThan(k6.length * 0.95);
    const okMissing = k6.filter((o) => o.outcome === 'ok' && !log.has(o.seq)).length;
    expect(okMissing).toBe(0);
    expect(await leftovers(r.runId)).toEqual(none);
    expect(await hostLeftovers(r.runId)).toMatchObject({ mounts: 0, rules: 0 });
  });

  it('webhead-freeze: a hung head costs latency and unknowns, is not replaced, and is back in service when it thaws', async () => {
    const { r } = await run('webhead-freeze');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const frozen = r.faults[0]!.nodes[0]!;
    expect(group(r).filter((a) => a.type === 'terminated')).toEqual([]);
    expect(r.systems.find((s) => s.name === 'web')!.after!.members).toContain(frozen);
    expect(r.probes[0]!.writes?.lost).toBe(0);
    expect(await leftovers(r.runId)).toEqual(none);
  });

  it('webhead-kill-alb-defaults: a crashed app on a running instance costs tens of seconds of errors with the ALB defaults', async () => {
    const { r } = await run('webhead-kill-alb-defaults');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const a = r.probes[0]!.windows[0]!.availability;
    // Two failed checks 30 s apart: at least half a minute of a third of the requests failing.
    expect(a.failoverMs).toBeGreaterThan(20_000);
    expect(r.probes[0]!.writes!.failed).toBeGreaterThan(200);
    expect(group(r).filter((x) => x.type === 'terminated')).toEqual([]);
    expect(r.timeline.some((e) => e.type === 'app-exited' && e.node === r.faults[0]!.nodes[0])).toBe(true);
    expect(await leftovers(r.runId)).toEqual(none);
    // 35 s of steady state and 70 s of observation by design (the ALB's 30 s checks), plus the
    // stack: over the 120 s default on a loaded machine.
  }, 240_000);

  it('fullstack-az-power: every system fails over or rides it out, the group replaces the zone b head in a surviving zone', async () => {
    const { r } = await run('fullstack-az-power');
    expect(r.error).toBeUndefined();
    expect(r.verdict, JSON.stringify(r.expectations)).toBe('pass');
    const acts = group(r);
    expect(acts.find((a) => a.type === 'terminated')?.node).toBe('web-b');
    const launched = acts.find((a) => a.type === 'in-service');
    expect(launched?.node).toMatch(/^web-[ac]-r\d+$/);
    expect(acts.some((a) => a.type === 'capacity-restored')).toBe(true);
    for (const p of r.probes) {
      expect(p.windows[0]!.availability.recovered, p.name).toBe(true);
      expect(p.writes?.lost, p.name).toBe(0);
    }
    expect(await leftovers(r.runId)).toEqual(none);
  });
});
