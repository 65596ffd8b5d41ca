import { InfraError, ScenarioError } from '../core/errors.ts';
import type { StackNode, TopologySnapshot } from '../infra/stack.ts';
import type { RedisStackSpec } from '../scenarios/schema.ts';
import { redisNodeNames } from '../systems/redis/layout.ts';

/**
 * Resolves a target selector against the live stack at the moment of injection:
 *   redis:head    the node the head record names
 *   redis:second  the head's replica (second in the chain)
 *   redis:tail    the last node of the chain
 *   redis:replica every node of the chain but the head
 *   redis:any     one node of the chain, picked at random (Chaos Monkey)
 *   node:NAME     that node
 *   az:X          every Redis node in availability zone X
 */
export function resolveTarget(
  selector: string,
  topo: Pick<TopologySnapshot, 'head' | 'chain'>,
  nodes: StackNode[],
  random = Math.random,
): StackNode[] {
  const byName = (name: string | undefined) => nodes.filter((n) => n.name === name);
  const chain = topo.chain.length ? topo.chain : topo.head ? [topo.head] : [];
  const [kind, arg] = selector.split(':') as [string, string];
  let out: StackNode[];
  if (kind === 'node') out = byName(arg);
  else if (kind === 'az') out = nodes.filter((n) => n.role === 'redis' && n.az === arg);
  else if (arg === 'head') out = byName(topo.head ?? chain[0]);
  else if (arg === 'second') out = byName(chain[1]);
  else if (arg === 'tail') out = byName(chain.at(-1));
  else if (arg === 'replica') out = nodes.filter((n) => chain.slice(1).includes(n.name));
  else out = byName(chain[Math.floor(random() * chain.length)]);
  if (out.length === 0) {
    throw new InfraError(
      'TARGET_NOT_FOUND',
      `target ${selector} matches no live node (head ${topo.head ?? 'none'}, chain ${chain.join(' -> ') || 'empty'})`,
      {
        hint: 'an earlier fault may have removed it: give the later fault a target that survives, or a longer chain',
      },
    );
  }
  return out;
}

/** Checks, before anything is provisioned, that node: and az: selectors can match. */
export function validateStaticTargets(selectors: string[], spec: RedisStackSpec, file: string): void {
  const nodes = redisNodeNames(spec.nodes, spec.azs);
  for (const s of selectors) {
    const [kind, arg] = s.split(':');
    if (kind === 'node' && !nodes.some((n) => n.name === arg)) {
      throw new ScenarioError(
        'UNKNOWN_TARGET',
        `${file}: target ${s} names no node; the stack has ${nodes.map((n) => n.name).join(', ')}`,
        { hint: 'use one of those names, or a role such as redis:head' },
      );
    }
    if (kind === 'az' && !nodes.some((n) => n.az === arg)) {
      throw new ScenarioError(
        'UNKNOWN_TARGET',
        `${file}: target ${s} names no AZ of the stack (${spec.azs.join(', ')})`,
        { hint: 'use one of those AZs, or add it to stack.redis.azs' },
      );
    }
  }
}
