import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { type LanguageSettings, getLanguageService } from 'yaml-language-server';
import { SCHEMA_FILE } from './json-schema.ts';
import { BUILTIN_DIR } from './load.ts';

/**
 * What an editor with the YAML language server (VS Code's Red Hat YAML extension, Neovim's
 * yamlls...) shows on a scenario file: its language service driven here as an editor drives it,
 * offline, the schema read from scenarios/scenario.schema.json on disk.
 */
const SCHEMA_URI = pathToFileURL(SCHEMA_FILE).href;

function languageService(settings: LanguageSettings = {}) {
  const requested: string[] = [];
  const service = getLanguageService({
    schemaRequestService: async (uri) => {
      requested.push(uri);
      if (!uri.startsWith('file:')) throw new Error(`no network here: ${uri}`);
      return readFileSync(fileURLToPath(uri), 'utf8');
    },
    workspaceContext: { resolveRelativePath: (relative, resource) => new URL(relative, resource).href },
  });
  service.configure({ validate: true, hover: true, completion: true, ...settings });
  return { service, requested };
}

/**
 * A scenario file as an editor holds it, at a path beside the built-in ones; each edit a new
 * version, as an editor counts them (the service keeps its parse of a version).
 */
let version = 0;
function document(text: string, name = 'edited.yaml') {
  return TextDocument.create(pathToFileURL(join(BUILTIN_DIR, name)).href, 'yaml', ++version, text);
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle));
const builtin = readFileSync(join(BUILTIN_DIR, 'redis-head-kill.yaml'), 'utf8');

describe('yaml-language-server on a scenario', () => {
  it('with the schema registered for scenario files: a misspelt field is flagged on its line', async () => {
    const { service, requested } = languageService({
      schemas: [{ uri: SCHEMA_URI, fileMatch: ['*.yaml'] }],
    });
    expect(await service.doValidation(document(builtin), false)).toEqual([]);

    const typo = builtin.replace('observeMs:', 'observMs:');
    const diagnostics = await service.doValidation(document(typo), false);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]!.message).toContain('observMs');
    expect(diagnostics[0]!.range.start.line).toBe(lineOf(typo, 'observMs:'));
    expect(requested).toEqual([SCHEMA_URI]);
  });

  it('by its first line alone: a misspelt probe field and a wrong value are flagged on their lines', async () => {
    const { service, requested } = languageService();
    expect(builtin.split('\n')[0]).toBe('# yaml-language-server: $schema=./scenario.schema.json');
    const typo = builtin.replace('rateHz: 200', 'rateHZ: 200').replace('nodes: 3', 'nodes: 1');
    const diagnostics = await service.doValidation(document(typo), false);
    const on = (needle: string) => diagnostics.filter((d) => d.range.start.line === lineOf(typo, needle));
    expect(on('rateHZ').map((d) => d.message)).toEqual([expect.stringContaining('rateHZ')]);
    expect(on('nodes: 1').map((d) => d.message)).toEqual([expect.stringMatching(/minimum|2/i)]);
    expect(requested).toEqual([SCHEMA_URI]);
  });

  it("shows a field's meaning on hover, from its description in the zod schema", async () => {
    const { service } = languageService();
    const line = lineOf(builtin, 'failoverThresholdMs');
    const hover = await service.doHover(document(builtin), { line, character: 8 });
    const text = JSON.stringify(hover?.contents);
    expect(text).toContain("the length of the head's lease");
  });
});
