import { describe, expect, it } from 'vitest';
import { attachedRedisViolations, redisLeader, redisState, roleState } from './attach.ts';

const names = new Map([
  ['10.0.0.1', 'r1'],
  ['r1', 'r1'],
  ['10.0.0.2', 'r2'],
]);
const nameOf = (h: string) => names.get(h);
const at = (name: string) => ({ name, az: 'a' });

describe('an attached plain Redis: ROLE', () => {
  it('reads a master, a replica (by name, its link as master_link_status), a node that does not answer', () => {
    expect(roleState(at('r1'), ['master', 120, [['10.0.0.2', '6379', '120']]], nameOf)).toEqual({
      name: 'r1',
      az: 'a',
      reachable: true,
      role: 'master',
      offset: 120,
    });
    expect(roleState(at('r2'), ['slave', '10.0.0.1', 6379, 'connected', 100], nameOf)).toMatchObject({
      role: 'replica',
      following: 'r1',
      linkUp: true,
      offset: 100,
    });
    expect(roleState(at('r2'), ['slave', 'elsewhere', 6379, 'connecting', -1], nameOf)).toMatchObject({
      following: 'elsewhere',
      linkUp: false,
    });
    expect(roleState(at('r3'), undefined, nameOf)).toEqual({ name: 'r3', az: 'a', reachable: false });
  });

  it('leads: the one master; of several, the one most replicas follow; a tie or none is nobody', () => {
    const master = (name: string) => ({ name, az: 'a', reachable: true, role: 'master' });
    const replica = (name: string, following: string) => ({
      name,
      az: 'a',
      reachable: true,
      role: 'replica',
      following,
      linkUp: true,
    });
    expect(redisLeader([master('r1'), replica('r2', 'r1')])).toBe('r1');
    expect(redisLeader([master('r1'), master('r2'), replica('r3', 'r2')])).toBe('r2');
    expect(redisLeader([master('r1'), master('r2')])).toBeNull();
    expect(redisLeader([replica('r2', 'r1'), { name: 'r1', az: 'a', reachable: false }])).toBeNull();
  });

  it('is whole when every node that answers is the master or its replica with the link up', () => {
    const whole = redisState([
      roleState(at('r1'), ['master', 120, []], nameOf),
      roleState(at('r2'), ['slave', '10.0.0.1', 6379, 'connected', 100], nameOf),
      roleState(at('r3'), undefined, nameOf),
    ]);
    expect(whole.leader).toBe('r1');
    expect(whole.members).toEqual(['r1', 'r2']);
    expect(whole.nodes[1]!.lag).toBe(20);
    expect(attachedRedisViolations(whole)).toEqual([]);

    const down = redisState([
      roleState(at('r1'), ['master', 120, []], nameOf),
      roleState(at('r2'), ['slave', '10.0.0.1', 6379, 'sync', 0], nameOf),
    ]);
    expect(attachedRedisViolations(down)).toEqual(["r2's replication link to r1 is down"]);

    // The master killed, nothing promotes the replica: no master, said so.
    const headless = redisState([
      roleState(at('r1'), undefined, nameOf),
      roleState(at('r2'), ['slave', '10.0.0.1', 6379, 'connect', -1], nameOf),
    ]);
    expect(headless.leader).toBeNull();
    expect(attachedRedisViolations(headless)).toEqual([
      'no node that answers is a master (a plain Redis promotes no replica by itself)',
    ]);
  });
});
