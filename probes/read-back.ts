import { SeqSet } from '../core/history.ts';

/** Values a read-back asks for at once: a page's strings are a few megabytes, then dropped. */
export const READ_BACK_PAGE = 100_000;

/**
 * A Redis list of sequence numbers read back page by page (`LRANGE key from to`) into a
 * `SeqSet`: a 30-minute soak's 3.6 million values cost 450 KB of bits instead of an array of
 * 3.6 million strings and a Set of them (some 400 MB at the end of the run). A list only grows at
 * its end (RPUSH), so the pages by index follow on from each other; it reads until a page comes
 * back short.
 */
export async function readBackList(
  lrange: (from: number, to: number) => Promise<string[]>,
  page = READ_BACK_PAGE,
): Promise<SeqSet> {
  const values = new SeqSet();
  for (let from = 0; ; from += page) {
    const raw = await lrange(from, from + page - 1);
    for (const v of raw) values.add(Number(v));
    if (raw.length < page) return values;
  }
}
