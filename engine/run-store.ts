import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TimelineEvent } from '../core/events.ts';
import type { HarnessInfo } from '../core/result.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { maskArgv, redact, secretsOf } from '../scenarios/secrets.ts';

export const HARNESS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function harnessInfo(argv: string[] = process.argv): HarnessInfo {
  const pkg = JSON.parse(readFileSync(join(HARNESS_ROOT, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, {
        cwd: HARNESS_ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return undefined;
    }
  };
  const rev = git(['rev-parse', 'HEAD']);
  const status = rev === undefined ? undefined : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    name: pkg.name,
    version: pkg.version,
    gitRevision: rev ?? 'unknown',
    gitDirty: status === undefined ? null : status.length > 0,
    // `--set stack.attach.redis.password=...` is shown masked: the command line is written.
    command: maskArgv(argv),
    node: process.version,
  };
}

/**
 * The folder of one run: `runs/<scenario>/<timestamp>-<runId>/` with
 *   meta.json       harness version, git revision, command line, start time
 *   scenario.json   the scenario as resolved (defaults filled in)
 *   history.jsonl   every probe operation, appended as it completes
 *   events.jsonl    agents', registry's, faults' and phases' events, appended as they happen
 *   result.json     the result, written at the end (also after a failure)
 *   logs/           each container's output, and the log files its process keeps (ContainerPlan.logFiles)
 * so a report can be rebuilt later and a run that dies half-way still tells what it saw. The
 * scenario's passwords (an attached stack's) are masked in every file the store writes
 * (scenarios/secrets.ts): by field, and by value in any text.
 */
export class RunStore {
  readonly dir: string;

  private constructor(
    dir: string,
    /** The values of the scenario's secret fields, looked for in everything written. */
    private readonly secrets: readonly string[] = [],
  ) {
    this.dir = dir;
  }

  static create(
    runsDir: string,
    scenario: Scenario,
    runId: string,
    startedAt: Date,
    harness: HarnessInfo,
  ): RunStore {
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const dir = resolve(runsDir, scenario.name, `${stamp}-${runId}`);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const store = new RunStore(dir, secretsOf(scenario));
    store.writeJson('meta.json', { runId, startedAt: startedAt.toISOString(), harness });
    // As resolved, its passwords masked: a rebuilt run reads it back, and needs none of them.
    store.writeJson('scenario.json', scenario);
    return store;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  get logsDir(): string {
    return join(this.dir, 'logs');
  }

  /**
   * Appends an event, its secrets masked (a password in an error's words). The run's own event
   * is left as it is: the checker reads it, and the result built from it is masked in turn.
   */
  appendEvent(event: TimelineEvent): void {
    appendFileSync(this.path('events.jsonl'), `${JSON.stringify(redact(event, this.secrets))}\n`);
  }

  /** A value as the run folder holds it: its secrets masked (what reports are made from). */
  masked<T>(value: T): T {
    return redact(value, this.secrets);
  }

  /** Writes a JSON file of the run folder, its secrets masked (result.json, meta.json...). */
  writeJson(name: string, value: unknown): void {
    writeFileSync(this.path(name), `${JSON.stringify(redact(value, this.secrets), null, 2)}\n`);
  }
}

export type { HarnessInfo };
