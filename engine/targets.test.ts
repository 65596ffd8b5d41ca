import { describe, expect, it } from 'vitest';
import { redisChain } from '../systems/redis/index.ts';
import { redisNodeNames } from '../systems/redis/layout.ts';
import { resolveTarget } from './targets.ts';

const nodes = redisNodeNames(3, ['a', 'b', 'c']);
const state = { leader: 'redis-b', members: ['redis-b', 'redis-c'], nodes: [] };
const live = { systems: [{ def: redisChain, state }], nodes };
const names = (sel: string) => resolveTarget(sel, live, () => 0.99).nodes.map((n) => n.name);

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

  it('says why nothing matched instead of failing', () => {
    const one = {
      systems: [{ def: redisChain, state: { leader: 'redis-b', members: ['redis-b'], nodes: [] } }],
      nodes,
    };
    const r = resolveTarget('redis:second', one);
    expect(r.nodes).toEqual([]);
    expect(r.none).toMatch(/redis:second matches no live node \(leader redis-b, members redis-b\)/);
    expect(resolveTarget('pg:primary', live).none).toMatch(/no pg system/);
  });

  it('lays long chains out round-robin over the AZs', () => {
    expect(redisNodeNames(3, ['a', 'b', 'c']).map((n) => n.name)).toEqual(['redis-a', 'redis-b', 'redis-c']);
    expect(redisNodeNames(5, ['a', 'b', 'c']).map((n) => n.name)).toEqual([
      'redis-a1',
      'redis-b1',
      'redis-c1',
      'redis-a2',
      'redis-b2',
    ]);
  });
});
