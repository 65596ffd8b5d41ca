import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { withTimeout } from '../core/clock.ts';
import { ChaosError, EXIT, errorMessage, exitCodeOfRun, formatErrorLine } from '../core/errors.ts';
import {
  assertDockerReachable,
  countLeftovers,
  dockerClient,
  liveRuns,
  removeByLabel,
  staleRuns,
} from '../infra/local/docker.ts';
import { thawRun, volumeRuns } from '../infra/local/loop-volumes.ts';
import { LocalProvider, removeHostResources } from '../infra/local/provider.ts';
import { runsWithRules } from '../infra/local/zones.ts';
import { formatSummary } from '../reports/summary.ts';
import { listScenarios, loadScenario, parseOverride, readVarsFile } from '../scenarios/load.ts';
import { maskOverride, redact, scrubText, secretsOf } from '../scenarios/secrets.ts';
import { allImages, probeOfKind } from '../systems/index.ts';
import {
  type AwsFlags,
  addAwsOptions,
  awsCleanupCommand,
  awsProviderFor,
  confirmCreation,
  planLines,
  registerInfraCommands,
  stackPlanFor,
  withAwsDurations,
} from './cli-infra.ts';
import { registerPlanCommand } from './cli-plan.ts';
import { registerReportCommands, reportFormatOption, reportInFormat } from './cli-reports.ts';
import { registerSchemaCommand } from './cli-schema.ts';
import { registerValidateCommand } from './cli-validate.ts';
import { prepareOutputDir, prepareOutputFile } from './output-paths.ts';
import { preflightExitCode, preflightScenario } from './preflight.ts';
import { consoleReporter } from './progress.ts';
import { loadRunResult } from './rebuild.ts';
import { HARNESS_ROOT } from './run-store.ts';
import { imagesFor, runScenario } from './runner.ts';

interface RunFlags extends Partial<AwsFlags> {
  provider: string;
  json?: string;
  runsDir: string;
  keep: boolean;
  quiet: boolean;
  dryRun: boolean;
  set: string[];
  vars?: string;
}

/** Says, on stderr, which stacks on this engine belong to runs whose process is gone. Best effort. */
async function noteStaleRuns(): Promise<void> {
  try {
    const stale = await withTimeout(staleRuns(dockerClient(), hostname()), 3000, 'timed out');
    for (const s of stale) {
      process.stderr.write(
        `note: run ${s.runId}${s.scenario ? ` (${s.scenario})` : ''} left ${s.containers} containers behind; ${s.pid ? `its process ${s.pid} is gone (killed, or kept with --keep)` : 'made by an older harness, its owner is unknown'}: \`chaos cleanup --run ${s.runId}\` removes them\n`,
      );
    }
  } catch {
    // a note, not a requirement: the run itself will say if Docker is unreachable
  }
}

async function runCommand(name: string, flags: RunFlags, argv: string[]): Promise<number> {
  const overrides = [
    ...(flags.vars ? readVarsFile(flags.vars) : []),
    ...flags.set.map((s) => parseOverride(s)),
  ];
  const aws = flags.provider === 'aws';
  // On AWS a fault lasts its aws.durationMs where it gives one (FIS's minimums): the run reverts it then.
  const loaded = aws
    ? withAwsDurations(loadScenario(name, undefined, overrides))
    : loadScenario(name, undefined, overrides);
  // The scenario's passwords, masked in everything this command prints or writes.
  const secrets = secretsOf(loaded.scenario);
  // Every output location is checked before anything starts, so a run never ends in a write error.
  const runsDir = prepareOutputDir(flags.runsDir, '--runs-dir (or CHAOS_RUNS_DIR)');
  const jsonFile = flags.json ? prepareOutputFile(flags.json, '--json') : undefined;
  const awsFlags = { allowAccount: [], allowRegion: [], yes: false, probeFrom: 'vpc', ...flags } as AwsFlags;
  const awsProvider = aws
    ? awsProviderFor(loaded, awsFlags, {
        existing: flags.stack !== undefined,
        lifetime: 'run',
        log: flags.quiet ? undefined : (line) => process.stderr.write(`  aws: ${line}\n`),
      })
    : undefined;
  const provider = awsProvider ?? new LocalProvider();
  // What the run needs here, all of it checked before anything starts: each missing thing is a line.
  const checks = await preflightScenario(loaded, provider);
  const failed = checks.filter((c) => !c.ok);
  if (flags.dryRun) {
    const width = Math.max(...checks.map((c) => c.what.length));
    const set = overrides.length
      ? `, with ${overrides.map(([p, v]) => `${p}=${maskOverride(p, v, secrets)}`).join(', ')}`
      : '';
    process.stdout.write(
      `${loaded.scenario.name} (${loaded.file}${set}): ${checks.length - failed.length} of ${checks.length} checks passed; nothing was started\n`,
    );
    for (const c of checks)
      process.stdout.write(
        scrubText(
          `  ${c.ok ? '✔' : '✘'} ${c.what.padEnd(width)}  ${c.ok ? c.detail : formatErrorLine(c.error ?? { code: 'PREFLIGHT', message: c.detail })}\n`,
          secrets,
        ),
      );
    return failed.length ? preflightExitCode(failed) : EXIT.pass;
  }
  if (failed.length) {
    for (const c of failed)
      process.stderr.write(
        scrubText(
          `${formatErrorLine(c.error ?? { code: 'PREFLIGHT', message: `${c.what}: ${c.detail}` })}\n`,
          secrets,
        ),
      );
    return preflightExitCode(failed);
  }
  if (awsProvider && flags.stack === undefined) {
    // What the run creates, where, for how long and at what cost; asked for unless --yes.
    const account = /account (\d{12})/.exec(checks[0]?.detail ?? '')?.[1] ?? '?';
    const plan = await stackPlanFor(loaded, 'plan');
    process.stderr.write(
      `${planLines({ command: 'chaos run', loaded, provider: awsProvider, account, stackName: awsProvider.stackNameFor(loaded.scenario.name, '<run id>'), plan, mode: 'run' }).join('\n')}\n`,
    );
    await confirmCreation('chaos run --provider aws', awsFlags.yes);
  }
  const controller = new AbortController();
  let runId: string | undefined;
  let runDir: string | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${sig}: stopping the run and tearing the stack down (again to force)\n`);
      controller.abort(sig);
      return;
    }
    if (signals > 2) return;
    process.stderr.write(
      `${sig} again: removing everything of run ${runId ?? '(none yet)'} and leaving now\n`,
    );
    const done = () => process.exit(EXIT.interrupted);
    (runId ? provider.forceTeardown(runId) : Promise.resolve()).then(done, done);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A bug, or a closed output pipe (`| head`), must not end the process with the stack up:
  // stop the run, so that teardown runs, and say so.
  const onCrash = (err: unknown) => {
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return;
    process.stderr.write(
      `${formatErrorLine({ code: 'INTERNAL', message: `the harness failed: ${errorMessage(err).split('\n')[0]}`, hint: 'tearing the stack down; a bug: please report it' })}\n`,
    );
    controller.abort('an internal error');
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  try {
    if (!aws) await noteStaleRuns();
    const shown = flags.quiet ? {} : consoleReporter();
    // Events and a phase's error are printed as they come: without a password in their words.
    const progress: typeof shown = {
      ...shown,
      ...(shown.phaseEnd ? { phaseEnd: (r) => shown.phaseEnd?.(redact(r, secrets)) } : {}),
      ...(shown.event ? { event: (e) => shown.event?.(redact(e, secrets)) } : {}),
    };
    // On AWS the probes' outcomes also go to CloudWatch, where the FIS stop alarm watches them.
    let seen = { ok: 0, fail: 0, unknown: 0 };
    const feed = (p: { ok: number; fail: number; unknown: number }) => {
      const stack = runId ? awsProvider?.stackOf(runId) : undefined;
      if (stack)
        stack.recordOutcomes({
          ok: p.ok - seen.ok,
          fail: p.fail - seen.fail,
          unknown: p.unknown - seen.unknown,
        });
      seen = { ok: p.ok, fail: p.fail, unknown: p.unknown };
    };
    // The result as written (result.json): passwords masked in what --json and the summary show.
    const ran = await runScenario({
      loaded,
      provider,
      runsDir,
      signal: controller.signal,
      argv,
      keepStack: flags.keep,
      onRunId: (id) => {
        runId = id;
      },
      reporter: {
        ...progress,
        runStart: (info) => {
          runDir = info.runDir;
          progress.runStart?.(info);
        },
        progress: (p) => {
          progress.progress?.(p);
          if (awsProvider) feed(p);
        },
      },
    });
    const result = redact(ran, secrets);
    if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
    const nothingRan = result.status === 'error' && result.faults.length === 0 && !result.probes.length;
    if (nothingRan && result.error) {
      process.stderr.write(`${formatErrorLine(result.error)}\n`);
      process.stderr.write(`  run folder: ${result.runDir}\n`);
    } else {
      process.stdout.write(`\n${formatSummary(result, Boolean(process.stdout.isTTY))}\n`);
    }
    if (flags.keep)
      process.stderr.write(
        awsProvider
          ? `--keep: the stack of run ${result.runId} is still up; \`chaos infra down ${awsProvider.stackOf(result.runId)?.stackName ?? awsProvider.stackNameFor(loaded.scenario.name, result.runId)}\` removes it\n`
          : `--keep: the stack of run ${result.runId} is still running; \`chaos cleanup --run ${result.runId}\` removes it\n`,
      );
    return exitCodeOfRun(result);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
}

function listCommand(flags: { json: boolean; images: boolean }): number {
  if (flags.images) {
    // For docker/build-images.sh: one image a line, `name official offline`; an official-only
    // image (no offline build) is a comment line saying so, `# name official official only: why`.
    for (const i of allImages())
      process.stdout.write(
        i.offline
          ? `${i.name} ${i.official} ${i.offline}\n`
          : `# ${i.name} ${i.official} official only: ${i.officialOnly ?? 'no offline build'}; docker pull ${i.official}, or set ${i.env}\n`,
      );
    return 0;
  }
  const all = listScenarios();
  const officialOnly = (s: (typeof all)[number]['scenario']) => imagesFor(s).filter((i) => !i.offline);
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify(
        all.map((l) => ({
          ...redact(l.scenario),
          file: l.file,
          needsOfficialImages: officialOnly(l.scenario).map((i) => i.official),
        })),
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
    const needs = [
      ...new Set(scenario.probes.map((p) => probeOfKind(p.kind)?.probe.needs).filter(Boolean)),
      // No offline build of these: only the official image, or the one its variable names.
      ...officialOnly(scenario).map(
        (i) => `the official ${i.official} image (docker pull ${i.official}, or ${i.env})`,
      ),
    ];
    process.stdout.write(
      `${scenario.name.padEnd(width)}  ${faults}  ${about}${needs.length ? ` [needs ${needs.join(', ')}]` : ''}\n`,
    );
  }
  return 0;
}

/** Prints the summary of a stored run again: its result.json, or what a dead run left. */
function reportCommand(path: string): number {
  const { result, rebuilt } = loadRunResult(path);
  process.stdout.write(`${formatSummary(result, Boolean(process.stdout.isTTY))}\n`);
  if (rebuilt)
    process.stderr.write(
      `note: rebuilt from history.jsonl and events.jsonl; ${result.error?.hint ?? `if its stack is still up, \`chaos cleanup --run ${result.runId}\` removes it`}\n`,
    );
  return exitCodeOfRun(result);
}

type CleanupFlags = { run?: string; all: boolean; dryRun: boolean; provider: string } & Partial<AwsFlags>;

/**
 * Removes what runs left behind: one run's (`--run`), every stale run's (the default: runs whose
 * harness process is gone, so a run going on beside is never touched), or everything (`--all`).
 */
async function cleanupCommand(flags: { run?: string; all: boolean; dryRun: boolean }): Promise<number> {
  const docker = dockerClient();
  await assertDockerReachable(docker);
  // Runs leave things on the host too: zone rules and loop-mounted volumes. A run that has them
  // but no container owned by a live harness process is stale as well.
  const live = await liveRuns(docker, hostname());
  const onHost = [
    ...volumeRuns()
      .filter((v) => v.stale)
      .map((v) => v.runId),
    ...(await runsWithRules()),
  ].filter((id) => !live.has(id));
  const targets: (string | undefined)[] = flags.run
    ? [flags.run]
    : flags.all
      ? [undefined, ...volumeRuns().map((v) => v.runId), ...(await runsWithRules())]
      : [...new Set([...(await staleRuns(docker, hostname())).map((s) => s.runId), ...onHost])];
  let containers = 0;
  let networks = 0;
  let rules = 0;
  let volumes = 0;
  for (const id of targets) {
    if (flags.dryRun) {
      const n = await countLeftovers(docker, id);
      containers += n.containers;
      networks += n.networks;
      continue;
    }
    await thawRun(id ?? '').catch(() => {});
    const n = await removeByLabel(docker, id);
    containers += n.containers;
    networks += n.networks;
    if (id) {
      const h = await removeHostResources(id);
      rules += h.rules;
      volumes += h.volumes;
    }
  }
  const ids = targets.filter((id) => id !== undefined);
  const scope = flags.run ? ` of run ${flags.run}` : flags.all ? '' : ` of ${ids.length} stale runs`;
  const host = rules || volumes ? `, ${rules} zone rules and ${volumes} loop volumes` : '';
  process.stdout.write(
    `${flags.dryRun ? 'would remove' : 'removed'} ${containers} containers and ${networks} networks${host}${scope}\n`,
  );
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(HARNESS_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(argv: string[], setCode: (code: number) => void): Command {
  const program = new Command('chaos')
    .description(
      'Game days on a highly available stack: break it on purpose, measure failover time and lost writes.',
    )
    .version(version(), '-V, --version', 'print the version')
    .exitOverride()
    .allowExcessArguments(false)
    // Commander's own two-line message is replaced by one `error[CODE]` line (main() below).
    .configureOutput({ outputError: () => {} });
  const run = program
    .command('run')
    .description('run a scenario: a built-in name (see `chaos list`) or a path to a YAML/JSON file')
    .argument('<scenario>', 'scenario name or file')
    .allowExcessArguments(false)
    .option('--json <file>', 'also write the full result (the canonical, versioned JSON) to this file')
    .addOption(new Option('--runs-dir <dir>', 'where run folders go').default('runs').env('CHAOS_RUNS_DIR'))
    .option('--keep', 'leave the stack running after the run, for a look', false)
    .option('-q, --quiet', 'no live progress; only the summary', false)
    .option(
      '--dry-run',
      'check the scenario and what the run needs here (engine, images, rights, disk, k6), start nothing',
      false,
    )
    .option(
      '--set <path=value>',
      'set a field of the scenario for this run (probes.0.rateHz=500, faults.0.durationMs=8000); repeatable; the run folder keeps the scenario as run',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--vars <file>', 'a YAML mapping of path: value, set before any --set')
    .addOption(
      new Option('--provider <name>', 'where the stack runs: local (Docker) or aws (CloudFormation, FIS)')
        .default('local')
        .choices(['local', 'aws']),
    );
  addAwsOptions(run, { stack: true, confirm: true, reach: true });
  run.action(async (name: string, flags: RunFlags) => setCode(await runCommand(name, flags, argv)));
  program
    .command('list')
    .description('list the built-in scenarios')
    .allowExcessArguments(false)
    .option('--json', 'as JSON', false)
    .option('--images', 'the images every system needs: name, official image, offline build', false)
    .action((flags: { json: boolean; images: boolean }) => setCode(listCommand(flags)));
  program
    .command('report')
    .description(
      'print the summary of a stored run again, or another report, from its folder (also a run that died)',
    )
    .argument('<run-dir>', 'a run folder, as printed by `chaos run`, or its result.json')
    .allowExcessArguments(false)
    .addOption(reportFormatOption())
    .option('--out <path>', 'write the report there (default: stdout; html and allure into the run folder)')
    .action((dir: string, f: { format: string; out?: string }) =>
      setCode(f.format === 'summary' && !f.out ? reportCommand(dir) : reportInFormat(dir, f)),
    );
  registerReportCommands(program, argv, setCode);
  registerPlanCommand(program, setCode);
  registerValidateCommand(program, setCode);
  registerSchemaCommand(program, setCode);
  const cleanup = program
    .command('cleanup')
    .description(
      'remove what runs left behind (found by label): by default the runs whose harness process is gone',
    )
    .allowExcessArguments(false)
    .option('--run <id>', 'only this run')
    .option('--all', 'every container and network of the harness, also of runs going on now', false)
    .option('--dry-run', 'only count them', false)
    .addOption(
      new Option('--provider <name>', 'local (Docker) or aws (by the chaos:run tag)')
        .default('local')
        .choices(['local', 'aws']),
    );
  addAwsOptions(cleanup);
  cleanup.action(async (flags: CleanupFlags) =>
    setCode(
      flags.provider === 'aws'
        ? await awsCleanupCommand({ allowAccount: [], allowRegion: [], ...flags })
        : await cleanupCommand(flags),
    ),
  );
  registerInfraCommands(program, setCode);
  return program;
}

/**
 * A parse error of the command line as one `error[CODE]` line: what was wrong, and where to look.
 * Commander's codes (`commander.unknownOption`...) become ours (`UNKNOWN_OPTION`...).
 */
export function usageErrorOf(
  err: CommanderError,
  argv: readonly string[],
): { code: string; message: string; hint: string } {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const command = words[0] && !err.code.endsWith('unknownCommand') ? ` ${words[0]}` : '';
  const code = err.code
    .replace(/^commander\./, '')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toUpperCase();
  const message = err.message.replace(/^error: /, '').replace(/\.$/, '');
  return { code, message, hint: `run \`chaos${command} --help\` for usage` };
}

/** Runs the CLI; returns the exit code. No stack trace reaches a user. */
export async function main(argv: string[]): Promise<number> {
  // A reader that went away (`chaos run x | head`) is no reason to stop a run half-way.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  let code = 0;
  const program = buildProgram(argv, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0;
      process.stderr.write(`${formatErrorLine(usageErrorOf(err, argv))}\n`);
      return EXIT.usage;
    }
    if (err instanceof ChaosError) {
      process.stderr.write(`${err.oneLine()}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `${formatErrorLine({
        code: 'INTERNAL',
        message: `the harness failed: ${errorMessage(err).split('\n')[0]}`,
        hint: 'a bug: please report it with the command line; CHAOS_DEBUG=1 prints the stack',
      })}\n`,
    );
    if (process.env.CHAOS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.infra;
  }
}
