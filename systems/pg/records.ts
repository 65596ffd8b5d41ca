import type { Registry } from '../../core/registry.ts';

/** The record clients resolve the primary through: the writer endpoint. */
export const WRITER_RECORD = 'pg-writer';

/**
 * The leader's lease (core/registry.ts): the primary holds it and renews it every check; nobody
 * promotes while it runs.
 */
export const LEADER_LEASE = 'pg-leader';

/** Who the writer record names now (a record that cannot be read is absent). */
export async function readWriter(registry: Registry): Promise<string | null> {
  return (await registry.get(WRITER_RECORD).catch(() => undefined))?.value ?? null;
}
