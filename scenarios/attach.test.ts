import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChaosError } from '../core/errors.ts';
import { loadScenario } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'chaos-attach-'));
let n = 0;
function load(text: string) {
  const p = join(dir, `s${++n}.yaml`);
  writeFileSync(p, text);
  return loadScenario(p);
}
function problem(text: string): string {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ChaosError) return err.message;
    throw err;
  }
  throw new Error('expected the scenario to be refused');
}
const scenario = (
  stack: string,
  probe = '{ kind: sentinel-writer, via: sentinels }',
  fault = '{ action: kill, target: sentinel:master }',
) => `name: attached\nstack:\n  attach:\n${stack}\nprobes: [${probe}]\nfaults: [${fault}]\n`;
const sentinel = '    sentinel: { select: { label: com.example.stack=shop } }';

describe('stack.attach', () => {
  it('takes a Sentinel stack by label or by Compose project, with defaults', () => {
    const { scenario: s } = load(scenario(sentinel));
    expect((s.stack as { attach?: unknown }).attach).toEqual({
      sentinel: {
        select: { label: 'com.example.stack=shop' },
        masterName: 'mymaster',
        port: 6379,
        sentinelPort: 26379,
        endpoints: 'network',
      },
    });
    load(
      scenario('    sentinel: { select: { compose: shop }, azLabel: com.example.az, endpoints: published }'),
    );
    load(
      scenario(
        sentinel,
        undefined,
        '{ action: partition, target: node:shop-redis-1, from: sentinel:sentinel, durationMs: 1000 }',
      ),
    );
  });

  it('refuses the kinds it cannot attach to, in one line naming them', () => {
    const one = (kind: string) => {
      const msg = problem(scenario(`    ${kind}: { select: { label: a=b } }`));
      expect(msg.split('\n')).toHaveLength(1);
      return msg;
    };
    expect(one('redis')).toMatch(
      /stack\.attach\.redis'.*cannot be attached to yet.*attach supports: sentinel/,
    );
    expect(one('pg')).toMatch(/stack\.attach\.pg'.*pg_is_in_recovery/);
    expect(one('mongo')).toMatch(/stack\.attach\.mongo'.*cannot be attached to yet/);
  });

  it("refuses what an attached stack cannot have: the harness's proxy, its registry, its disks, a built system beside it", () => {
    expect(problem(scenario(sentinel, '{ kind: sentinel-writer, via: proxy }'))).toMatch(/via: sentinels/);
    expect(problem(scenario(sentinel, '{ kind: redis-writer }'))).toMatch(
      /redis-writer probe cannot write to an attached stack/,
    );
    expect(
      problem(scenario(sentinel, undefined, '{ action: freeze-volume, target: sentinel:master }')),
    ).toMatch(/freeze-volume cannot be done to an attached stack/);
    expect(
      problem(
        scenario(
          sentinel,
          undefined,
          '{ action: partition, target: sentinel:master, from: sentinel:replica, registry: true }',
        ),
      ),
    ).toMatch(/no registry of the harness/);
    expect(problem(scenario(sentinel, undefined, '{ action: kill, target: sentinel:proxy }'))).toMatch(
      /'proxy' is not a role of an attached Sentinel stack/,
    );
    expect(
      problem(
        `name: mixed\nstack:\n  redis: {}\n  attach:\n${sentinel}\nprobes: [{ kind: sentinel-writer, via: sentinels }]\nfaults: [{ action: kill, target: sentinel:master }]\n`,
      ),
    ).toMatch(/attached to or built, not both/);
    expect(problem(scenario('    sentinel: { select: { label: "" } }'))).toMatch(/label/);
  });
});
