import type { Registry } from '../../core/registry.ts';

/** The record clients resolve the primary through: the writer endpoint. */
export const WRITER_RECORD = 'pg-writer';

/** Who the writer record names now (a record that cannot be read is absent). */
export async function readWriter(registry: Registry): Promise<string | null> {
  return (await registry.get(WRITER_RECORD).catch(() => undefined))?.value ?? null;
}
