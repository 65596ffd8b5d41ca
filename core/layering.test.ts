import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering, checked on the import statements of every source file. Data flows one way:
 * scenario -> runner -> (provider, systems, probes) -> history + events -> checker -> result ->
 * reports. `core/` imports nothing else of ours; nothing below the engine imports `engine/`; a
 * provider (`infra/`) knows no system; the checker and the reports see only `core/`.
 */
const ROOT = resolve(import.meta.dirname, '..');
const ALLOWED: Record<string, string[]> = {
  core: ['core'],
  checker: ['core', 'checker'],
  reports: ['core', 'reports'],
  probes: ['core', 'probes'],
  agents: ['core', 'agents'],
  infra: ['core', 'agents', 'infra'],
  systems: ['core', 'agents', 'probes', 'systems'],
  scenarios: ['core', 'systems', 'scenarios'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(relative(ROOT, resolve(dirname(file), m[1]!)).split('/')[0]!);
  }
  return out;
}

describe('layering', () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${allowed.join(', ')}`, () => {
      const wrong = sources(join(ROOT, layer)).flatMap((f) =>
        importsOf(f)
          .filter((top) => !allowed.includes(top))
          .map((top) => `${relative(ROOT, f)} imports ${top}/`),
      );
      expect(wrong).toEqual([]);
    });
  }
});
