/**
 * The bench's checker row, run in a process of its own (bench/bench.ts spawns it) so that its
 * peak memory is the checker's and nothing else's: a history of N operations recorded as a run
 * records them (History.record, no file), then judged as a run judges it (buildResult: the fault
 * windows, the checker, the stats, latency by fault, the series, one leader at a time). Prints
 * one JSON line: {operations, recordMs, checkMs, checkCpuMs, maxRssBytes, verdict, ...}.
 *
 * The history: one probe writing every 0.2 ms over 4 slots to the head, a kill at 60 % of it,
 * 5000 failed or unknown writes, then the writes go to the new head; one write in 100,000 is
 * missing from the read-back (lost).
 */
import type { TimelineEvent } from '../core/events.ts';
import { History, SeqSet } from '../core/history.ts';
import type { FaultRecord } from '../core/result.ts';
import { buildResult } from '../engine/result-builder.ts';
import { loadScenario } from '../scenarios/load.ts';
import { probeOfKind } from '../systems/index.ts';

const n = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10_000_000);
const loaded = loadScenario('redis-head-kill');
const spec = loaded.scenario.probes[0]!;
const name = spec.name;
const killAt = Math.floor(n * 0.6);
const tKill = killAt * 0.2;

const t0 = performance.now();
const history = new History();
for (let i = 0; i < n; i++) {
  const t = i * 0.2;
  const down = i >= killAt && i < killAt + 5000;
  history.record({
    probe: name,
    op: 'write',
    seq: i,
    process: i % 4,
    tInvoke: t,
    tComplete: t + 0.1 + (i % 13) * 0.01,
    outcome: down ? (i % 7 === 0 ? 'unknown' : 'fail') : 'ok',
    node: i < killAt ? 'redis-a' : 'redis-b',
    ...(down ? { error: i % 7 === 0 ? 'Command timed out' : 'connect ECONNREFUSED' } : {}),
  });
}
// The read-back: every value but one in 100,000, as a bitmap of sequence numbers (SeqSet), or
// with `--set` as a plain Set (half a gigabyte for ten million, before the checker sees it).
const plainSet = process.argv.includes('--set');
const readBack: Set<number> | SeqSet = plainSet ? new Set<number>() : new SeqSet();
for (let i = 0; i < n; i++) if (i % 100_000 !== 0 && (i < killAt || i >= killAt + 5000)) readBack.add(i);
const recordMs = performance.now() - t0;

const events: TimelineEvent[] = [
  {
    t: 0,
    source: 'registry',
    type: 'record-set',
    data: { name: 'redis-head', value: 'redis-a', previous: null, version: 1 },
  },
  {
    t: tKill + 900,
    source: 'registry',
    type: 'record-set',
    data: { name: 'redis-head', value: 'redis-b', previous: 'redis-a', version: 2 },
  },
];
const faults: FaultRecord[] = [
  {
    index: 0,
    action: 'kill',
    target: 'redis:head',
    nodes: ['redis-a'],
    status: 'applied',
    method: 'docker kill',
    tInject: tKill - 5,
    tApplied: tKill,
    measured: true,
  },
];
const { system, probe } = probeOfKind(spec.kind)!;
const t1 = performance.now();
const cpu1 = process.cpuUsage();
const result = buildResult({
  runId: 'bench',
  scenario: loaded.scenario,
  file: loaded.file,
  provider: 'local',
  status: 'completed',
  startedAt: new Date(),
  harness: { version: 'bench' } as never,
  runDir: '.',
  phases: [],
  faults,
  history: history.log,
  events,
  steady: { from: 0, to: tKill - 5 },
  probes: [{ spec, system: system.name, settings: probe.settings(spec, 'bench') }],
  readBacks: new Map([[name, { node: 'redis-b', values: readBack }]]),
  systems: [{ name: system.name, kind: system.kind, before: null, after: null, convergence: null }],
  durationMs: 0,
});
const checkMs = performance.now() - t1;
const cpu = process.cpuUsage(cpu1);
const checkCpuMs = (cpu.user + cpu.system) / 1000;
const p = result.probes[0]!;
process.stdout.write(
  `${JSON.stringify({
    operations: n,
    recordMs,
    checkMs,
    checkCpuMs,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    readBack: plainSet ? 'Set' : 'SeqSet',
    verdict: result.verdict,
    lost: p.writes?.lost,
    failoverMs: p.windows[0]?.availability.failoverMs,
    attempted: p.attempted,
    spill: history.log.spillStats(),
  })}\n`,
);
