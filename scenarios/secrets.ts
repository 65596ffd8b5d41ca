/**
 * Secrets in a scenario: the passwords an attached stack takes (`stack.attach.redis.password`,
 * `stack.attach.sentinel.sentinelPassword`, `stack.attach.pg.password`...). The run itself uses
 * them as given; everything a run writes or prints (scenario.json, meta.json, result.json,
 * events.jsonl, the reports, the terminal, `--json`) shows SECRET_MASK in their place.
 *
 * Two ways a secret is found: by its field (any key that ends in `password`, whatever its case),
 * wherever the value is structured; and by its value in free text (a command line, an error
 * message), for the values a scenario's secret fields hold.
 */
export const SECRET_MASK = '***';

/** Whether a field holds a secret: `password`, `sentinelPassword` (any key ending in "password"). */
export function isSecretField(key: string): boolean {
  return /password$/i.test(key);
}

/**
 * A secret value shorter than this is masked in its field but not looked for in free text: a
 * one- or two-character password would mask half of every sentence.
 */
const MIN_SCRUBBED = 3;

/**
 * The values a scenario's secret fields hold, longest first, as free text is scrubbed of them.
 * Left out: the mask itself (a scenario read back from a run folder), values too short to look
 * for, and a value that the scenario also holds in a field that is no secret (the default
 * `password: postgres` beside `user: postgres`): that one is written in clear anyway, and masking
 * it would mask the user's and the database's names.
 */
export function secretsOf(scenario: unknown): string[] {
  const secret = new Set<string>();
  const plain = new Set<string>();
  const walk = (v: unknown, key: string | undefined) => {
    if (typeof v === 'string') (key !== undefined && isSecretField(key) ? secret : plain).add(v);
    else if (Array.isArray(v)) for (const x of v) walk(x, undefined);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(scenario, undefined);
  return [...secret]
    .filter((s) => s !== SECRET_MASK && s.length >= MIN_SCRUBBED && !plain.has(s))
    .sort((a, b) => b.length - a.length);
}

/** What a secret found in text stands between: not a part of a longer name (`redis` in `redis-1`). */
const NAME_CHAR = 'A-Za-z0-9_-';

/**
 * Text with every occurrence of each secret replaced by the mask, where it stands on its own
 * (`AUTH hunter2`, `redis://:hunter2@host`, `"hunter2"`): a weak password that is also a part of
 * a node's or a probe's name (`redis` in `redis-1`, `redis-writer`) leaves the names alone.
 */
export function scrubText(text: string, secrets: readonly string[]): string {
  const present = secrets.filter((s) => text.includes(s));
  if (!present.length) return text;
  const alternatives = present.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return text.replace(
    new RegExp(`(?<![${NAME_CHAR}])(?:${alternatives})(?![${NAME_CHAR}])`, 'g'),
    SECRET_MASK,
  );
}

/**
 * A copy of a value (a scenario, a result, an event, a probe's settings) with every secret
 * field's value masked and, given the secrets' values, every string scrubbed of them. Anything
 * that holds no secret is returned as it is (the same object), so a large result costs one walk.
 */
export function redact<T>(value: T, secrets: readonly string[] = []): T {
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (key !== undefined && isSecretField(key) && v !== undefined && v !== null && v !== '')
      return typeof v === 'string' || typeof v === 'number' ? SECRET_MASK : walk(v, undefined);
    if (typeof v === 'string') return secrets.length ? scrubText(v, secrets) : v;
    if (Array.isArray(v)) {
      let changed = false;
      const out = v.map((x) => {
        const y = walk(x, undefined);
        if (y !== x) changed = true;
        return y;
      });
      return changed ? out : v;
    }
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      let changed = false;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const y = walk(x, k);
        if (y !== x) changed = true;
        out[k] = y;
      }
      return changed ? out : v;
    }
    return v;
  };
  return walk(value, undefined) as T;
}

/**
 * A `--set` / `--vars` override for a person: the value masked when its path ends in a secret
 * field (`stack.attach.redis.password`), or masked inside when it sets a mapping that holds one
 * (`stack.attach.redis={password: x}`).
 */
export function maskOverride(path: string, value: string, secrets: readonly string[] = []): string {
  const last = path.split('.').pop() ?? '';
  if (isSecretField(last)) return SECRET_MASK;
  // A mapping set at once: its secret fields, found by name (the value is YAML or JSON).
  const text = scrubText(value, secrets);
  return text.replace(
    /(["']?[A-Za-z]*password["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^,}\s]+)/gi,
    (_m, field: string) => `${field}${SECRET_MASK}`,
  );
}

/**
 * A command line with the values of secret overrides masked: `--set stack.attach.redis.password=x`
 * (also `--set=...`) shows `--set stack.attach.redis.password=***`; any secret's value found
 * elsewhere in it is masked too.
 */
export function maskArgv(argv: readonly string[], secrets: readonly string[] = []): string[] {
  const override = (text: string) => {
    const eq = text.indexOf('=');
    return eq < 0
      ? text
      : `${text.slice(0, eq)}=${maskOverride(text.slice(0, eq), text.slice(eq + 1), secrets)}`;
  };
  return argv.map((arg, i) => {
    if (arg.startsWith('--set=')) return `--set=${override(arg.slice('--set='.length))}`;
    if (argv[i - 1] === '--set') return override(arg);
    return scrubText(arg, secrets);
  });
}
