import { readFileSync, readdirSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isScenarioFileName } from '../scenarios/load.ts';
import { buildProgram } from './cli.ts';

const ROOT = resolve(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const ARCHITECTURE = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');

describe('the docs describe the code as it is', () => {
  it('the README names every built-in scenario', () => {
    const names = readdirSync(join(ROOT, 'scenarios'))
      .filter((f) => isScenarioFileName(f))
      .map((f) => basename(f, extname(f)));
    const missing = names.filter((n) => !README.includes(`\`${n}\``));
    expect(missing, 'built-in scenarios the README never names').toEqual([]);
  });

  it("the README's command list has every command and subcommand of the CLI", () => {
    const program = buildProgram(['node', 'chaos'], () => {});
    const block = /## The command line\n+```\n([\s\S]*?)```/.exec(README)?.[1] ?? '';
    const missing: string[] = [];
    for (const c of program.commands) {
      if (c.name() === 'help') continue;
      const subs = c.commands.map((s) => `chaos ${c.name()} ${s.name()}`);
      for (const line of subs.length ? subs : [`chaos ${c.name()}`])
        if (!block.includes(line)) missing.push(line);
      for (const o of c.options) {
        const flag = o.long ?? o.short;
        if (flag && !block.includes(flag) && !README.includes(`\`${flag}`))
          missing.push(`chaos ${c.name()} ${flag}`);
      }
    }
    expect(missing, 'commands or options the README never names').toEqual([]);
  });

  it('ARCHITECTURE.md covers every top-level folder of code and every system', () => {
    const folders = readdirSync(ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !['node_modules', 'runs'].includes(d.name))
      .map((d) => d.name);
    const nested = ['agents', 'infra', 'probes', 'reports'].flatMap((top) =>
      readdirSync(join(ROOT, top), { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => `${top}/${d.name}`),
    );
    const missing = [...folders, ...nested].filter((f) => !ARCHITECTURE.includes(`\`${f}/`));
    expect(missing, 'folders ARCHITECTURE.md never names').toEqual([]);
    const systems = readdirSync(join(ROOT, 'systems'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(
      systems.filter((s) => !ARCHITECTURE.includes(`systems/${s}/`)),
      'systems ARCHITECTURE.md never names',
    ).toEqual([]);
  });
});
