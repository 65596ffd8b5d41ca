import type { Command } from 'commander';
import { EXIT } from '../core/errors.ts';

/**
 * `chaos schema`: the scenario format as a JSON Schema, on stdout, for an editor or a CI check of
 * scenario files (the same as scenarios/scenario.schema.json; docs/scenarios.md is its field
 * reference). The generator is loaded only for this command: it is a development dependency.
 */
export function registerSchemaCommand(program: Command, setCode: (code: number) => void): void {
  program
    .command('schema')
    .description(
      'print the scenario format as a JSON Schema (editors check scenario files against it; every field: docs/scenarios.md)',
    )
    .allowExcessArguments(false)
    .action(async () => {
      const { scenarioJsonSchemaText } = await import('../scenarios/json-schema.ts');
      process.stdout.write(scenarioJsonSchemaText());
      setCode(EXIT.pass);
    });
}
