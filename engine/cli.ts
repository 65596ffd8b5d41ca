import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { assertDockerReachable, countLeftovers, dockerClient, removeByLabel } from '../infra/local/docker.ts';
import { LocalProvider } from '../infra/local/provider.ts';
import { formatSummary } from '../reports/summary.ts';
import { listScenarios, loadScenario } from '../scenarios/load.ts';
import { ChaosError, UsageError } from './errors.ts';
import { consoleReporter } from './progress.ts';
import type { RunResult } from './result.ts';
import { runScenario } from './runner.ts';

/** Exit codes: 0 expectations held, 1 they did not, 2 usage/configuration, 3 infrastructure, 130 interrupted. */
export function exitCodeOf(r: RunResult): number {
  switch (r.status) {
    case 'completed':
      return r.verdict === 'pass' ? 0 : 1;
    case 'aborted':
      return 3;
    case 'interrupted':
      return 130;
    case 'error':
      return r.error?.kind === 'usage' || r.error?.kind === 'scenario' ? 2 : 3;
  }
}

interface RunFlags {
  json?: string;
  runsDir: string;
  keep: boolean;
  quiet: boolean;
}

async function runCommand(name: string, flags: RunFlags, argv: string[]): Promise<number> {
  const loaded = loadScenario(name);
  const controller = new AbortController();
  let runId: string | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${sig}: stopping the run and tearing the stack down (again to force)\n`);
      controller.abort(sig);
      return;
    }
    process.stderr.write(`${sig} again: removing run ${runId ?? '?'}'s containers and leaving now\n`);
    const done = () => process.exit(130);
    (runId ? removeByLabel(dockerClient(), runId) : Promise.resolve()).then(done, done);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const progress = flags.quiet ? {} : consoleReporter();
    const result = await runScenario({
      loaded,
      provider: new LocalProvider(),
      runsDir: flags.runsDir,
      signal: controller.signal,
      argv,
      keepStack: flags.keep,
      reporter: {
        ...progress,
        runStart: (info) => {
          runId = info.runId;
          progress.runStart?.(info);
        },
      },
    });
    if (flags.json) writeFileSync(resolve(flags.json), `${JSON.stringify(result, null, 2)}\n`);
    const nothingRan = result.status === 'error' && result.faults.length === 0;
    if (nothingRan && result.error) {
      process.stderr.write(
        `error[${result.error.code}]: ${result.error.message}${result.error.hint ? ` (${result.error.hint})` : ''}\n`,
      );
      process.stderr.write(`  run folder: ${result.runDir}\n`);
    } else {
      process.stdout.write(`\n${formatSummary(result, Boolean(process.stdout.isTTY))}\n`);
    }
    if (flags.keep)
      process.stderr.write(
        `--keep: the stack of run ${result.runId} is still running; \`chaos cleanup --run ${result.runId}\` removes it\n`,
      );
    return exitCodeOf(result);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function listCommand(flags: { json: boolean }): number {
  const all = listScenarios();
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify(
        all.map((l) => ({ ...l.scenario, file: l.file })),
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  const width = Math.max(...all.map((l) => l.scenario.name.length));
  for (const { scenario } of all) {
    const faults = scenario.faults.map((f) => `${f.action} ${f.target}`).join(', ');
    const about = scenario.description.trim().split(/(?<=\.)\s/)[0] ?? '';
    process.stdout.write(`${scenario.name.padEnd(width)}  ${faults}  ${about}\n`);
  }
  return 0;
}

/** Prints the summary of a stored run again, from its folder's result.json. */
function reportCommand(runDir: string): number {
  const file = join(resolve(runDir), 'result.json');
  if (!existsSync(file)) {
    throw new UsageError('NO_RESULT', `${file} does not exist`, {
      hint: 'give a run folder (runs/<scenario>/<timestamp>-<id>); a run killed before its end has history.jsonl and events.jsonl but no result',
    });
  }
  const result = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
  process.stdout.write(`${formatSummary(result, Boolean(process.stdout.isTTY))}\n`);
  return exitCodeOf(result);
}

async function cleanupCommand(flags: { run?: string; dryRun: boolean }): Promise<number> {
  const docker = dockerClient();
  await assertDockerReachable(docker);
  if (flags.dryRun) {
    const left = await countLeftovers(docker, flags.run);
    process.stdout.write(`would remove ${left.containers} containers and ${left.networks} networks\n`);
    return 0;
  }
  const removed = await removeByLabel(docker, flags.run);
  process.stdout.write(
    `removed ${removed.containers} containers and ${removed.networks} networks${flags.run ? ` of run ${flags.run}` : ''}\n`,
  );
  return 0;
}

export function buildProgram(argv: string[], setCode: (code: number) => void): Command {
  const program = new Command('chaos')
    .description(
      'Game days on a highly available stack: break it on purpose, measure failover time and lost writes.',
    )
    .exitOverride()
    .showHelpAfterError('(run `chaos --help` for usage)');
  program
    .command('run')
    .description('run a scenario: a built-in name (see `chaos list`) or a path to a YAML/JSON file')
    .argument('<scenario>', 'scenario name or file')
    .option('--json <file>', 'also write the full result (the canonical, versioned JSON) to this file')
    .addOption(new Option('--runs-dir <dir>', 'where run folders go').default('runs').env('CHAOS_RUNS_DIR'))
    .option('--keep', 'leave the stack running after the run, for a look', false)
    .option('-q, --quiet', 'no live progress; only the summary', false)
    .action(async (name: string, flags: RunFlags) => setCode(await runCommand(name, flags, argv)));
  program
    .command('list')
    .description('list the built-in scenarios')
    .option('--json', 'as JSON', false)
    .action((flags: { json: boolean }) => setCode(listCommand(flags)));
  program
    .command('report')
    .description('print the summary of a stored run again, from its folder')
    .argument('<run-dir>', 'a run folder, as printed by `chaos run`')
    .action((dir: string) => setCode(reportCommand(dir)));
  program
    .command('cleanup')
    .description('remove every container and network a run left behind (found by label)')
    .option('--run <id>', 'only this run')
    .option('--dry-run', 'only count them', false)
    .action(async (flags: { run?: string; dryRun: boolean }) => setCode(await cleanupCommand(flags)));
  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram(argv, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ChaosError) {
      process.stderr.write(`${err.oneLine()}\n`);
      return err.exitCode;
    }
    process.stderr.write(`error[INTERNAL]: ${(err as Error)?.stack ?? String(err)}\n`);
    return 3;
  }
}
