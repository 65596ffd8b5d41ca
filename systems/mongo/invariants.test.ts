import { describe, expect, it } from 'vitest';
import type { NodeState } from '../../core/result.ts';
import { mongoViolations } from './invariants.ts';

const SPEC = { maxLagMs: 2000 };
const primary = (name: string): NodeState => ({ name, az: 'a', reachable: true, role: 'primary' });
const secondary = (name: string, of: string | null, lag = 10): NodeState => ({
  name,
  az: 'b',
  reachable: true,
  role: 'secondary',
  ...(of ? { following: of } : {}),
  linkUp: of !== null,
  lag,
});
const arbiter = (role = 'arbiter'): NodeState => ({ name: 'mongo-arbiter', az: 'c', reachable: true, role });
const down = (name: string): NodeState => ({ name, az: 'a', reachable: false });
const state = (leader: string | null, nodes: NodeState[]) => ({ leader, members: [], nodes });

describe('replica set invariants (full redundancy)', () => {
  it('whole: one primary named by the endpoint record, every secondary syncing from it and close, the arbiter an arbiter', () => {
    expect(
      mongoViolations(
        state('mongo-a', [primary('mongo-a'), secondary('mongo-b', 'mongo-a'), arbiter()]),
        SPEC,
      ),
    ).toEqual([]);
  });

  it('a member that does not answer is not required (a killed primary stays dead)', () => {
    expect(
      mongoViolations(
        state('mongo-b', [down('mongo-a'), primary('mongo-b'), secondary('mongo-c', 'mongo-b')]),
        SPEC,
      ),
    ).toEqual([]);
  });

  it('no primary; two primaries (the old one back, not yet stepped down)', () => {
    expect(
      mongoViolations(state('mongo-a', [secondary('mongo-b', null), secondary('mongo-c', null)]), SPEC),
    ).toEqual(['no member answering is PRIMARY', 'mongo-b has no sync source', 'mongo-c has no sync source']);
    expect(
      mongoViolations(
        state('mongo-b', [primary('mongo-a'), primary('mongo-b'), secondary('mongo-c', 'mongo-b')]),
        SPEC,
      ),
    ).toEqual(['2 primaries: mongo-a, mongo-b']);
  });

  it('the endpoint record still naming the old primary', () => {
    expect(
      mongoViolations(
        state('mongo-a', [down('mongo-a'), primary('mongo-b'), secondary('mongo-c', 'mongo-b')]),
        SPEC,
      ),
    ).toEqual(['the endpoint record names mongo-a, the primary is mongo-b']);
  });

  it('a secondary syncing from another member, trailing too far, or not yet known; a member rolling back', () => {
    expect(
      mongoViolations(
        state('mongo-b', [
          { ...secondary('mongo-a', 'mongo-b'), role: 'rollback' },
          primary('mongo-b'),
          secondary('mongo-c', 'mongo-a'),
          secondary('mongo-d', 'mongo-b', 5200),
          { ...secondary('mongo-e', 'mongo-b'), lag: undefined },
        ]),
        SPEC,
      ),
    ).toEqual([
      'mongo-a is ROLLBACK, not SECONDARY',
      'mongo-c syncs from mongo-a, the primary is mongo-b',
      'mongo-d is 5200 ms of oplog behind the primary (more than 2000)',
      'mongo-e: how far it trails the primary is not known',
    ]);
  });

  it('the arbiter answering in another state', () => {
    expect(mongoViolations(state('mongo-a', [primary('mongo-a'), arbiter('startup')]), SPEC)).toEqual([
      'mongo-arbiter is STARTUP, not ARBITER',
    ]);
  });
});
