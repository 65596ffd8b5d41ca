import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TimelineEvent } from '../core/events.ts';
import type { HarnessInfo } from '../core/result.ts';
import type { Scenario } from '../scenarios/schema.ts';

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
    command: argv,
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
 *   logs/           each container's output
 * so a report can be rebuilt later and a run that dies half-way still tells what it saw.
 */
export class RunStore {
  readonly dir: string;

  private constructor(dir: string) {
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
    const store = new RunStore(dir);
    store.writeJson('meta.json', { runId, startedAt: startedAt.toISOString(), harness });
    store.writeJson('scenario.json', scenario);
    return store;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  get logsDir(): string {
    return join(this.dir, 'logs');
  }

  appendEvent(event: TimelineEvent): void {
    appendFileSync(this.path('events.jsonl'), `${JSON.stringify(event)}\n`);
  }

  writeJson(name: string, value: unknown): void {
    writeFileSync(this.path(name), `${JSON.stringify(value, null, 2)}\n`);
  }
}

export type { HarnessInfo };
