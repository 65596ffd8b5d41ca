import { z } from 'zod';

/** No single wait may be longer than a day: longer ones are typos, and timers overflow. */
export const MAX_DURATION_MS = 86_400_000;

/** What a duration means where its field says no more; a field's own description replaces it. */
export const MS_DESCRIPTION = 'A duration in milliseconds (ms), a whole number, at most 24 h.';

/** A duration in whole milliseconds, at least `min`, at most a day. */
export const ms = (min = 0) =>
  z
    .number()
    .int()
    .min(min)
    .max(MAX_DURATION_MS, `at most 24 h (${MAX_DURATION_MS} ms)`)
    .describe(MS_DESCRIPTION);

export const probeName = z
  .string()
  .regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and dashes')
  .default('writes')
  .describe(
    "The probe's name in results and reports, its own in the scenario: lower-case letters, digits and dashes.",
  );

export const azList = z
  .array(z.string().regex(/^[a-z]$/, 'an AZ is one lower-case letter'))
  .min(1)
  .max(6)
  .default(['a', 'b', 'c'])
  .refine((azs) => new Set(azs).size === azs.length, {
    message: 'each AZ may appear once (nodes are spread over them round-robin)',
  })
  .describe('The AZs its nodes are spread over, round-robin: one lower-case letter each, each once.');
