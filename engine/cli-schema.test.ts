import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { scenarioJsonSchemaText } from '../scenarios/json-schema.ts';
import { registerSchemaCommand } from './cli-schema.ts';

afterEach(() => vi.restoreAllMocks());

async function chaos(...args: string[]): Promise<{ code: number | undefined; out: string }> {
  let code: number | undefined;
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const program = new Command('chaos').exitOverride();
  registerSchemaCommand(program, (c) => {
    code = c;
  });
  await program.parseAsync(['node', 'chaos', ...args]);
  return { code, out };
}

describe('chaos schema', () => {
  it('prints the JSON Schema of scenarios', async () => {
    const { code, out } = await chaos('schema');
    expect(code).toBe(0);
    expect(out).toBe(scenarioJsonSchemaText());
    const printed = JSON.parse(out) as { $schema: string; properties: Record<string, unknown> };
    expect(printed.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(Object.keys(printed.properties)).toContain('faults');
  });

  it('takes no argument', async () => {
    await expect(chaos('schema', 'extra')).rejects.toThrow(/too many arguments/);
  });
});
