import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../core/errors.ts';
import { DEFAULT_BLAST_RADIUS } from '../infra/aws/config.ts';
import { DEFAULT_REGION, RUN_ID_PLACEHOLDER, planFaults, roleArnPlaceholder } from '../infra/aws/fis-plan.ts';
import { planBlastRadius } from '../infra/aws/rails.ts';
import { isScenarioFileName, loadScenarioFile, scenarioProblems } from '../scenarios/load.ts';
import { activeSystems } from '../scenarios/schema.ts';
import { planInput } from './aws-plan.ts';
import { registryRateProblems } from './cli-infra.ts';

/**
 * `chaos validate <file|dir>...`: every scenario file checked as a run would check it (the
 * schema, the targets against the stack, the values that cannot work together), and with
 * `--provider aws` what AWS cannot carry out (a fault FIS refuses, a record TTL under a second).
 * One line per problem; exit 2 if there is any.
 */
export function scenarioFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    if (!existsSync(abs))
      throw new UsageError('NO_SUCH_PATH', `${abs} does not exist`, {
        hint: 'give scenario files or folders of them',
      });
    if (statSync(abs).isDirectory())
      files.push(
        ...readdirSync(abs)
          .filter(isScenarioFileName)
          .sort()
          .map((f) => join(abs, f)),
      );
    else files.push(abs);
  }
  return files;
}

/**
 * What AWS cannot carry out in a valid scenario: faults FIS refuses, sub-second or fractional
 * record TTLs, agents past Route 53's request rate, faults past the default blast radius.
 */
export function awsProblems(file: string, region: string): string[] {
  const loaded = loadScenarioFile(file);
  const out: string[] = [];
  for (const { def, spec } of activeSystems(loaded.scenario))
    for (const [field, value] of Object.entries(spec as Record<string, unknown>))
      if (/TtlMs$/.test(field) && typeof value === 'number' && (value < 1000 || value % 1000 !== 0))
        out.push(
          `${file}: field 'stack.${def.name}.${field}': ${value} ms; on AWS the record lives in Route 53, whose TTLs are whole seconds of at least 1 (use 1000, 2000...)`,
        );
  const entries = planFaults(planInput(loaded), {
    region,
    runId: RUN_ID_PLACEHOLDER,
    roleArn: roleArnPlaceholder(region),
    stopAlarmArns: [],
  });
  for (const e of entries)
    if (e.kind === 'refused')
      out.push(`${file}: fault #${e.fault} (${e.action} ${e.target}): not on AWS: ${e.reason} (${e.hint})`);
  // The agents' calls to Route 53, and the blast radius under the default limits (a config file
  // may allow more; `chaos run --provider aws` checks against it).
  for (const line of registryRateProblems(loaded)) out.push(`${file}: ${line}`);
  const input = planInput(loaded);
  for (const p of planBlastRadius({ blastRadius: DEFAULT_BLAST_RADIUS }, input).problems)
    out.push(`${file}: ${p.message} under the default limits (${p.hint})`);
  return out;
}

export function registerValidateCommand(program: Command, setCode: (code: number) => void): void {
  program
    .command('validate')
    .description(
      'check scenario files (and folders of them) without running anything: one line per problem, exit 2 if any',
    )
    .argument('<paths...>', 'scenario files or folders')
    .option(
      '--provider <name>',
      'also check what this provider cannot carry out (aws: FIS limits, Route 53 TTLs)',
      'local',
    )
    .option('--region <region>', 'with --provider aws: the region', DEFAULT_REGION)
    .action((paths: string[], flags: { provider: string; region: string }) => {
      if (flags.provider !== 'local' && flags.provider !== 'aws')
        throw new UsageError('UNKNOWN_PROVIDER', `unknown provider '${flags.provider}'`, {
          hint: 'local or aws',
        });
      const files = scenarioFiles(paths);
      if (!files.length)
        throw new UsageError('NO_SCENARIOS', `no .yaml, .yml or .json file in ${paths.join(', ')}`, {
          hint: 'give scenario files or folders of them',
        });
      let problems = 0;
      let bad = 0;
      for (const file of files) {
        let lines = scenarioProblems(file);
        if (!lines.length && flags.provider === 'aws') lines = awsProblems(file, flags.region);
        const rel = relative(process.cwd(), file);
        const shown = rel && !rel.startsWith('..') ? rel : file;
        for (const l of lines) process.stdout.write(`${l.split(file).join(shown)}\n`);
        problems += lines.length;
        if (lines.length) bad++;
      }
      process.stdout.write(
        `${files.length} files checked${flags.provider === 'aws' ? ` for AWS (${flags.region})` : ''}: ${problems ? `${problems} problems in ${bad} files` : 'no problem'}\n`,
      );
      setCode(problems ? EXIT.usage : EXIT.pass);
    });
}
