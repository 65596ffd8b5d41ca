import { describe, expect, it } from 'vitest';
import type { NodeState, SystemState } from '../../core/result.ts';
import { chainViolations } from './invariants.ts';

const master = (name: string): NodeState => ({ name, az: 'a', reachable: true, role: 'master' });
const replica = (name: string, of: string, linkUp = true): NodeState => ({
  name,
  az: 'a',
  reachable: true,
  role: 'replica',
  following: of,
  linkUp,
});
const down = (name: string): NodeState => ({ name, az: 'a', reachable: false });
const snap = (leader: string, members: string[], nodes: NodeState[]): SystemState => ({
  leader,
  members,
  nodes,
});

describe('redis chain invariants', () => {
  it('a whole chain, with a dead node out of it, has none', () => {
    expect(chainViolations(snap('b', ['b', 'c'], [down('a'), master('b'), replica('c', 'b')]))).toEqual([]);
  });

  it('a head fenced by its agent (no lease): nobody takes writes, and the head of the chain says why', () => {
    const v = chainViolations(snap('a', ['a', 'b'], [replica('a', '127.0.0.2', false), replica('b', 'a')]));
    expect(v).toContain('no node answering is a master');
    expect(v).toContain('a heads the chain but is fenced: its agent holds no lease');
  });

  it('two masters', () => {
    const v = chainViolations(snap('b', ['b', 'c'], [master('a'), master('b'), replica('c', 'b')]));
    expect(v).toContain('2 masters: a, b');
    expect(v).toContain('a is up but outside the chain (a standalone master)');
  });

  it('a node back from a power loss that has not rejoined yet', () => {
    const v = chainViolations(
      snap('b', ['b', 'c', 'a1'], [master('b'), replica('c', 'b'), replica('a1', 'c'), master('a2')]),
    );
    expect(v).toEqual(['2 masters: b, a2', 'a2 is up but outside the chain (a standalone master)']);
  });

  it('a dead node left in the chain record, a wrong master, a link down', () => {
    expect(chainViolations(snap('a', ['a', 'b', 'c'], [master('a'), replica('b', 'a'), down('c')]))).toEqual([
      'c is in the chain record but does not answer',
    ]);
    expect(
      chainViolations(snap('a', ['a', 'b', 'c'], [master('a'), replica('b', 'a'), replica('c', 'a')])),
    ).toEqual(['c replicates from a, the chain says b']);
    expect(chainViolations(snap('a', ['a', 'b'], [master('a'), replica('b', 'a', false)]))).toEqual([
      "b's replication link to a is down",
    ]);
  });

  it('the head record must name the master', () => {
    expect(chainViolations(snap('a', ['b'], [down('a'), master('b')]))).toEqual([
      'the head record names a, the master is b',
      'the chain record starts with b, the head record names a',
    ]);
  });
});
