import type { Registry } from '../../core/registry.ts';

/**
 * The replica set's endpoint: the record clients resolve the primary through, kept by the
 * primary's own agent (the book's primary-owned Route 53 record).
 */
export const ENDPOINT_RECORD = 'mongo-primary';

/**
 * The election term of the claim on the endpoint record, beside it (a TXT record on Route 53):
 * a primary of an older term, not yet stepped down, never takes the record back from the one a
 * newer election made. Written before the endpoint record, read after it.
 */
export const TERM_RECORD = 'mongo-primary-term';

/** Who the endpoint record names now (a record that cannot be read is absent). */
export async function readEndpoint(registry: Registry): Promise<string | null> {
  return (await registry.get(ENDPOINT_RECORD).catch(() => undefined))?.value ?? null;
}
