import { describe, expect, it } from 'vitest';
import { maskSecretFields } from '../reports/format.ts';
import type { AttachSpec } from './attach.ts';
import { applyOverrides } from './load.ts';
import { type Scenario, scenarioSchema } from './schema.ts';
import {
  SECRET_MASK,
  isSecretField,
  maskArgv,
  maskOverride,
  redact,
  scrubText,
  secretsOf,
} from './secrets.ts';

const attached = (attach: object, probes: object[]) =>
  scenarioSchema.parse({
    name: 'shop',
    stack: { attach },
    probes,
    faults: [{ action: 'kill', target: 'node:shop-1' }],
  });

const attachOf = (s: Scenario) => (s.stack as { attach: AttachSpec }).attach;

describe("a scenario's secrets", () => {
  it('are its password fields, of every attached kind', () => {
    expect(['password', 'sentinelPassword', 'Password'].every(isSecretField)).toBe(true);
    expect(['user', 'username', 'sentinelUsername', 'passwordFile'].some(isSecretField)).toBe(false);
    const s = attached(
      {
        sentinel: {
          select: { label: 'a=b' },
          username: 'app',
          password: 'data-pw-1',
          sentinelPassword: 'own-pw-2',
        },
        pg: { select: { label: 'a=b' }, password: 'pg-pw-3' },
      },
      [
        { kind: 'sentinel-writer', via: 'sentinels' },
        { kind: 'pg-writer', name: 'orders' },
      ],
    );
    expect(secretsOf(s).sort()).toEqual(['data-pw-1', 'own-pw-2', 'pg-pw-3']);
    const masked = redact(s);
    expect(attachOf(masked).sentinel).toMatchObject({
      username: 'app',
      password: SECRET_MASK,
      sentinelPassword: SECRET_MASK,
    });
    expect(attachOf(masked).pg).toMatchObject({ user: 'postgres', password: SECRET_MASK });
    // The scenario the run uses is left as it is.
    expect(attachOf(s).pg?.password).toBe('pg-pw-3');
    // The reports' own masking (they may not import this file) masks the same fields.
    expect(maskSecretFields(s)).toEqual(masked);
  });

  it("are not looked for in text when the scenario holds the same value in the clear (postgres's default)", () => {
    const s = attached({ pg: { select: { label: 'a=b' } } }, [{ kind: 'pg-writer' }]);
    expect(attachOf(s).pg?.password).toBe('postgres');
    expect(secretsOf(s)).toEqual([]);
    expect(attachOf(redact(s)).pg).toMatchObject({ user: 'postgres', password: SECRET_MASK });
    // A scenario read back from a run folder holds the mask: nothing to look for.
    expect(secretsOf(redact(s))).toEqual([]);
  });

  it('are masked in text, in structures (by field and by value), and leave the rest as it is', () => {
    expect(scrubText('AUTH hunter22 refused; hunter22 again', ['hunter22'])).toBe(
      'AUTH *** refused; *** again',
    );
    expect(scrubText('redis://:a.b*c@host "a.b*c"', ['a.b*c'])).toBe('redis://:***@host "***"');
    // A weak password that is a part of a name leaves the name alone, and is masked on its own.
    expect(scrubText('redis-1 (redis-writer) refused AUTH redis', ['redis'])).toBe(
      'redis-1 (redis-writer) refused AUTH ***',
    );
    const plain = { a: [1, 'x', { b: null }] };
    expect(redact(plain, ['hunter22'])).toBe(plain);
    expect(
      redact({ login: { password: 'anything' }, errors: ['it said hunter22'], n: 3 }, ['hunter22']),
    ).toEqual({ login: { password: SECRET_MASK }, errors: ['it said ***'], n: 3 });
  });

  it('are masked in --set values and on the command line', () => {
    expect(maskOverride('stack.attach.redis.password', 'hunter22')).toBe(SECRET_MASK);
    expect(maskOverride('probes.0.rateHz', '500')).toBe('500');
    expect(maskOverride('stack.attach.redis', '{select: {compose: shop}, password: hunter22}')).toBe(
      '{select: {compose: shop}, password: ***}',
    );
    expect(maskOverride('stack.attach.sentinel', '{"sentinelPassword":"hunter22","port":1}')).toBe(
      '{"sentinelPassword":***,"port":1}',
    );
    expect(
      maskArgv(
        [
          'run',
          'x.yaml',
          '--set',
          'stack.attach.pg.password=hunter22',
          '--set=stack.attach.redis.sentinelPassword=s3cret',
          '--set',
          'probes.0.rateHz=500',
          '--note=hunter22',
        ],
        ['hunter22'],
      ),
    ).toEqual([
      'run',
      'x.yaml',
      '--set',
      'stack.attach.pg.password=***',
      '--set=stack.attach.redis.sentinelPassword=***',
      '--set',
      'probes.0.rateHz=500',
      '--note=***',
    ]);
  });

  it('are not shown by the error of a --set that goes through one', () => {
    const raw = { stack: { attach: { redis: { password: 'hunter22' } } } };
    expect(() => applyOverrides(raw, [['stack.attach.redis.password.x', '1']], 'f.yaml')).toThrow(
      'stack.attach.redis.password is a value (***) in f.yaml, not a mapping',
    );
  });
});
