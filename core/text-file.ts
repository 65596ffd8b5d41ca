/**
 * Reading the files a user hands the harness (scenarios, results) so that every way they can be
 * wrong gets a sentence: empty, not text, JSON broken at a line and column.
 */

/** Why this content is not a text file a person wrote, or undefined. */
export function notTextReason(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return 'the file is empty';
  if (bytes.toString('utf8').trim().length === 0) return 'the file holds only white space';
  const head = bytes.subarray(0, 8192);
  if (head.includes(0)) return 'the file is binary (it holds NUL bytes), not YAML or JSON text';
  // Text that is not UTF-8 decodes with replacement characters.
  const text = head.toString('utf8');
  const bad = (text.match(/\uFFFD/g) ?? []).length;
  if (bad > 0 && bad / text.length > 0.01) return 'the file is not UTF-8 text (a binary or another encoding)';
  return undefined;
}

/** The 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines.at(-1)!.length + 1 };
}

/** JSON.parse, with the error at a line and column (Node's message gives a character position). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const m = /at position (\d+)/.exec(message);
    const at = m
      ? lineColumn(text, Number(m[1]))
      : /end of JSON input/i.test(message)
        ? lineColumn(text, text.length)
        : undefined;
    const what = message
      .replace(/\s*(in JSON )?at position \d+.*$/, '')
      .replace(/ \(line \d+ column \d+\)$/, '');
    throw new SyntaxError(at ? `line ${at.line}, column ${at.column}: ${what}` : what);
  }
}
