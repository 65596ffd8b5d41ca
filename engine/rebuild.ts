import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { UsageError, errorMessage } from '../core/errors.ts';
import type { TimelineEvent } from '../core/events.ts';
import { OpLog } from '../core/history.ts';
import {
  type FaultRecord,
  type PhaseName,
  RESULT_SCHEMA,
  RESULT_SCHEMA_VERSION,
  type RunResult,
} from '../core/result.ts';
import { notTextReason, parseJson } from '../core/text-file.ts';
import { activeSystems, scenarioSchema } from '../scenarios/schema.ts';
import { maskArgv, redact, secretsOf } from '../scenarios/secrets.ts';
import { probeOfKind } from '../systems/index.ts';
import { buildResult } from './result-builder.ts';
import type { HarnessInfo } from './run-store.ts';

/**
 * A result.json, checked: JSON (a file cut short says where), this harness's schema, and a
 * version it reads. Anything else is one line saying which of these it is.
 */
export function readResultFile(file: string): RunResult {
  const bytes = readFileSync(file);
  const hint =
    'give a run folder as printed by `chaos run`, or its result.json; a run that died can be rebuilt from its folder';
  const notText = notTextReason(bytes);
  if (notText) throw new UsageError('RESULT_UNREADABLE', `${file}: ${notText}`, { hint });
  let r: unknown;
  try {
    r = parseJson(bytes.toString('utf8'));
  } catch (err) {
    throw new UsageError(
      'RESULT_UNREADABLE',
      `${file} is not valid JSON (cut short?) at ${errorMessage(err)}`,
      { hint },
    );
  }
  const o = (r ?? {}) as { schema?: unknown; schemaVersion?: unknown };
  if (o.schema !== RESULT_SCHEMA)
    throw new UsageError(
      'RESULT_FOREIGN',
      `${file} is not a run result of this harness (its schema is ${JSON.stringify(o.schema ?? null)}, not "${RESULT_SCHEMA}")`,
      { hint },
    );
  if (o.schemaVersion !== RESULT_SCHEMA_VERSION)
    throw new UsageError(
      'RESULT_VERSION',
      `${file} is a run result of schema version ${JSON.stringify(o.schemaVersion ?? null)}; this harness reads version ${RESULT_SCHEMA_VERSION}`,
      { hint: 'use the harness version that wrote it (result.harness.version), or run the scenario again' },
    );
  return r as RunResult;
}

/** A run folder from a path to the folder or to a result file in it. */
export function runDirOf(path: string): string {
  const abs = resolve(path);
  if (!existsSync(abs)) {
    throw new UsageError('NO_RUN', `${abs} does not exist`, {
      hint: 'give a run folder as printed by `chaos run` (runs/<scenario>/<timestamp>-<id>)',
    });
  }
  if (statSync(abs).isDirectory()) return abs;
  if (basename(abs) === 'result.json' || extname(abs) === '.json') return resolve(abs, '..');
  throw new UsageError('NO_RUN', `${abs} is neither a run folder nor a result.json`, {
    hint: 'give a run folder as printed by `chaos run` (runs/<scenario>/<timestamp>-<id>)',
  });
}

function jsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  const out: T[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // the last line of a killed run may be cut short
    }
  }
  return out;
}

/**
 * The result of a run folder: its result.json, or, for a run whose process died before writing
 * one, a result rebuilt from what it appended while it ran (history.jsonl, events.jsonl), marked
 * incomplete: figures without a read-back, no expectations judged.
 */
export function loadRunResult(path: string): { result: RunResult; rebuilt: boolean } {
  const dir = runDirOf(path);
  const given = resolve(path);
  const resultFile = statSync(given).isDirectory() ? join(dir, 'result.json') : given;
  const scenarioFile = join(dir, 'scenario.json');
  if (existsSync(resultFile))
    return { result: masked(readResultFile(resultFile), scenarioFile), rebuilt: false };
  const metaFile = join(dir, 'meta.json');
  if (!existsSync(metaFile) || !existsSync(scenarioFile)) {
    throw new UsageError(
      'NO_RUN',
      `${dir} is not a run folder: it has no result.json, meta.json or scenario.json`,
      {
        hint: 'give a run folder as printed by `chaos run` (runs/<scenario>/<timestamp>-<id>)',
      },
    );
  }
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as {
    runId: string;
    startedAt: string;
    harness: HarnessInfo;
  };
  // Its passwords are masked (engine/run-store.ts): a rebuilt result only reports, it logs in nowhere.
  const scenario = scenarioSchema.parse(JSON.parse(readFileSync(scenarioFile, 'utf8')));
  // Read as a stream, into columns: a long run's history is never in memory as text or objects.
  const history = OpLog.fromFile(join(dir, 'history.jsonl'));
  const events = jsonLines<TimelineEvent>(join(dir, 'events.jsonl'));
  const forced = existsSync(join(dir, 'interrupted.json'))
    ? (JSON.parse(readFileSync(join(dir, 'interrupted.json'), 'utf8')) as { signal?: string })
    : undefined;
  const phaseStart = (name: PhaseName) =>
    events.find((e) => e.type === 'phase-start' && e.data?.phase === name)?.t;
  const faults = faultsFromEvents(events);
  const steadyFrom = phaseStart('steady-state');
  const steadyTo = phaseStart('inject');
  return {
    rebuilt: true,
    result: buildResult({
      runId: meta.runId,
      scenario,
      file: scenarioFile,
      provider: 'local',
      status: 'incomplete',
      failure: {
        code: 'RUN_INCOMPLETE',
        kind: 'infra',
        message:
          'the run stopped before writing its result (its process was killed); rebuilt from history.jsonl and events.jsonl',
        hint: leftoverHint(scenario.stack.attach !== undefined, faults, meta.runId),
      },
      startedAt: new Date(meta.startedAt),
      harness: meta.harness,
      runDir: dir,
      phases: [],
      faults,
      history,
      events,
      steady: steadyFrom !== undefined && steadyTo !== undefined ? { from: steadyFrom, to: steadyTo } : null,
      probes: scenario.probes.map((spec) => {
        const { system, probe } = probeOfKind(spec.kind)!;
        return { spec, system: system.name, settings: probe.settings(spec, meta.runId) };
      }),
      readBacks: new Map(),
      systems: activeSystems(scenario).map(({ def }) => ({
        name: def.name,
        kind: def.kind,
        before: null,
        after: null,
        convergence: null,
      })),
      durationMs: Math.max(0, ...events.map((e) => e.t), history.maxComplete()),
    }),
  };
}

/**
 * A stored result with its passwords masked, as every report shows it. This harness writes them
 * masked; a folder an older one wrote may hold them in clear, and its scenario.json says which.
 */
function masked(result: RunResult, scenarioFile: string): RunResult {
  let secrets: string[] = [];
  try {
    secrets = secretsOf(JSON.parse(readFileSync(scenarioFile, 'utf8')));
  } catch {
    // no scenario beside it (a result.json copied elsewhere): the secret fields are masked by name
  }
  const command = result.harness?.command;
  return redact(
    Array.isArray(command)
      ? { ...result, harness: { ...result.harness, command: maskArgv(command, secrets) } }
      : result,
    secrets,
  );
}

/**
 * What a run that died may have left, and how to undo it. A stack the harness built: its
 * containers, which `chaos cleanup` removes by label. A stack it attached to: nothing of the
 * harness's but what its faults still held on the user's containers, which cleanup cannot find
 * (the containers carry no label of the harness's): each named, with the command that undoes it.
 */
export function leftoverHint(attached: boolean, faults: readonly FaultRecord[], runId: string): string {
  if (!attached) return `its stack may still be up: \`chaos cleanup --run ${runId}\` removes it`;
  const held = faults.filter(
    (f) => f.status === 'applied' && f.tReverted === undefined && f.action !== 'kill' && f.nodes.length > 0,
  );
  // The probes' data is removed after the read-back, which a dead run never reached.
  const written = `what its probes wrote stays (Redis keys chaos:${runId}:*, Postgres tables chaos_${runId}_*, MongoDB collections chaos.chaos_${runId}_*)`;
  if (held.length === 0)
    return `it attached to your stack and held no fault on it when it stopped; ${written}`;
  const undo = (f: FaultRecord) => {
    const names = f.nodes.join(' ');
    if (f.action === 'pause') return `docker unpause ${names}`;
    if (f.action === 'stop') return `docker start ${names}`;
    // Network and gray faults live in the containers' namespaces (iptables rules, a proxy, a
    // stressor): a restart of the container clears them.
    return `docker restart ${names}`;
  };
  return `faults it held on your containers may still be in force: ${held
    .map((f) => `#${f.index + 1} ${f.action} on ${f.nodes.join(', ')} (${undo(f)})`)
    .join('; ')}; ${written}`;
}

/** The fault records, as the events of a run tell them. */
export function faultsFromEvents(events: readonly TimelineEvent[]): FaultRecord[] {
  const records = new Map<number, FaultRecord>();
  for (const e of events) {
    const d = e.data ?? {};
    const index = Number(d.index);
    if (e.source !== 'fault' || !Number.isInteger(index)) continue;
    if (e.type === 'fault-injected' || e.type === 'fault-skipped') {
      records.set(index, {
        index,
        action: String(d.action),
        target: String(d.target),
        nodes: (d.nodes as string[] | undefined) ?? [],
        ...(d.peers ? { peers: d.peers as string[] } : {}),
        status: e.type === 'fault-skipped' ? 'skipped' : 'applied',
        ...(e.type === 'fault-skipped' ? { reason: String(d.reason) } : {}),
        method: null,
        tInject: e.t,
        tApplied: null,
        measured: d.measured !== false,
      });
    }
    const r = records.get(index);
    if (!r) continue;
    if (e.type === 'fault-applied') {
      r.tApplied = e.t;
      r.method = String(d.method);
    }
    if (e.type === 'fault-reverted') r.tReverted = e.t;
    if (e.type === 'fault-revert-failed') r.revertError = String(d.error);
  }
  return [...records.values()].sort((a, b) => a.index - b.index);
}
