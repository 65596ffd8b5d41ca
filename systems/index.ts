import type { ProbeDefinition, SystemDefinition } from '../core/system.ts';
import { mongoReplicaSet } from './mongo/index.ts';
import { patroni } from './patroni/index.ts';
import { postgres } from './pg/index.ts';
import { redisChain } from './redis/index.ts';
import { sentinel } from './sentinel/index.ts';
import { web } from './web/index.ts';

/**
 * Every system the harness knows. A new system is one folder under systems/ and one line here:
 * the scenario schema, the target resolver, the runner, `chaos list` and the images script read
 * this list.
 */
export const SYSTEMS: readonly SystemDefinition[] = [
  redisChain,
  postgres,
  web,
  sentinel,
  patroni,
  mongoReplicaSet,
];

export function systemNamed(name: string): SystemDefinition | undefined {
  return SYSTEMS.find((s) => s.name === name);
}

/** The probe definition of a `kind:`, with the system it belongs to. */
export function probeOfKind(kind: string): { system: SystemDefinition; probe: ProbeDefinition } | undefined {
  for (const system of SYSTEMS) {
    const probe = system.probes.find((p) => p.kind === kind);
    if (probe) return { system, probe };
  }
  return undefined;
}

/** Every image any system needs, once each. */
export function allImages() {
  const seen = new Map<string, SystemDefinition['images'][number]>();
  for (const s of SYSTEMS) for (const i of s.images) seen.set(i.name, i);
  return [...seen.values()];
}
