import { describe, expect, it } from 'vitest';
import type { ChaosError } from '../core/errors.ts';
import { redisNodeNames } from '../systems/redis/layout.ts';
import { resolveTarget, validateStaticTargets } from './targets.ts';

const nodes = redisNodeNames(3, ['a', 'b', 'c']);
const topo = { head: 'redis-b', chain: ['redis-b', 'redis-c'], nodes: [] };
const names = (sel: string) => resolveTarget(sel, topo, nodes, () => 0.99).map((n) => n.name);

describe('targets', () => {
  it('resolves against the live chain, not the one provisioned', () => {
    expect(names('redis:head')).toEqual(['redis-b']);
    expect(names('redis:second')).toEqual(['redis-c']);
    expect(names('redis:tail')).toEqual(['redis-c']);
    expect(names('redis:replica')).toEqual(['redis-c']);
    expect(names('redis:any')).toEqual(['redis-c']);
    expect(names('node:redis-a')).toEqual(['redis-a']);
    expect(names('az:c')).toEqual(['redis-c']);
  });

  it('an empty match is an error that shows the chain', () => {
    expect(() => resolveTarget('redis:second', { head: 'redis-b', chain: ['redis-b'] }, nodes)).toThrow(
      /redis-b/,
    );
  });

  it('names nodes round-robin over the AZs', () => {
    expect(redisNodeNames(3, ['a', 'b', 'c']).map((n) => n.name)).toEqual(['redis-a', 'redis-b', 'redis-c']);
    expect(redisNodeNames(5, ['a', 'b', 'c']).map((n) => n.name)).toEqual([
      'redis-a1',
      'redis-b1',
      'redis-c1',
      'redis-a2',
      'redis-b2',
    ]);
  });

  it('checks node: and az: targets before anything starts', () => {
    const spec = {
      nodes: 3,
      azs: ['a', 'b', 'c'],
      failoverThresholdMs: 1000,
      checkIntervalMs: 100,
      pingTimeoutMs: 250,
      headRecordTtlMs: 500,
    };
    expect(() => validateStaticTargets(['node:redis-a', 'az:b', 'redis:head'], spec, 'f.yaml')).not.toThrow();
    try {
      validateStaticTargets(['node:redis-z'], spec, 'f.yaml');
      expect.unreachable();
    } catch (err) {
      expect((err as ChaosError).exitCode).toBe(2);
      expect((err as ChaosError).message).toMatch(/f\.yaml.*redis-z.*redis-a, redis-b, redis-c/);
    }
  });
});
