import { z } from 'zod';

/** No single wait may be longer than a day: longer ones are typos, and timers overflow. */
export const MAX_DURATION_MS = 86_400_000;

/** A duration in whole milliseconds, at least `min`, at most a day. */
export const ms = (min = 0) =>
  z.number().int().min(min).max(MAX_DURATION_MS, `at most 24 h (${MAX_DURATION_MS} ms)`);

/** The name of a probe: lower-case letters, digits and dashes. */
export const probeName = z
  .string()
  .regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and dashes')
  .default('writes');

/** AZs as single letters, each once. */
export const azList = z
  .array(z.string().regex(/^[a-z]$/, 'an AZ is one lower-case letter'))
  .min(1)
  .max(6)
  .default(['a', 'b', 'c'])
  .refine((azs) => new Set(azs).size === azs.length, {
    message: 'each AZ may appear once (nodes are spread over them round-robin)',
  });
