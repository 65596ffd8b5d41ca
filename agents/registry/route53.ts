import {
  type Change,
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  type RRType,
  type ResourceRecordSet,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { InfraError, ScenarioError } from '../../core/errors.ts';
import type { Lease, Registry, RegistryRecord } from '../../core/registry.ts';

/**
 * The endpoint registry (core/registry.ts) on a private Route 53 hosted zone, for a run on AWS:
 * the one implementation the harness (infra/aws/aws-stack.ts) and the agents on the nodes
 * (`REGISTRY_URL=route53://<zone id>/<domain>?region=<region>`, agents/registry/from-url.ts) share,
 * so both read and write the zone the same way.
 *
 * Layout in the zone `<domain>` (a run's own zone: `run-3f9a1c07.chaos.internal`):
 *
 *   <name>.<domain>            CNAME <value>.<domain>, TTL = the record's TTL: what DNS clients
 *                              resolve. `<value>.<domain>` is the node's own A record, which the
 *                              stack creates for every node. Only when the value is a DNS label
 *                              (a node's name); a value such as `redis-a,redis-b` (a membership
 *                              list) has no CNAME and is read through the API only.
 *   <name>._registry.<domain>  TXT "v=<version>" "w=<write id>" "value=<value, URI-encoded>", the
 *                              same TTL: the registry's own copy, with the version.
 *   <name>._lease.<domain>     TXT "holder=<holder>" "term=<n>" "expires=<epoch ms>" "ttl=<ms>"
 *                              "w=<write id>", TTL 1 s: a lease (nobody resolves it).
 *
 * **Compare-and-set is one change batch**: DELETE of the exact TXT read (same values, same TTL)
 * and CREATE of the new one, with the CNAME UPSERTed (or DELETEd, when the new value is not a
 * node's name) in the same batch. Route 53 applies a batch whole or not at all, and refuses a
 * DELETE whose values or TTL differ from what the zone holds (InvalidChangeBatch: "... the values
 * provided do not match the current values") and a CREATE of a record set that exists ("... but it
 * already exists"): a writer that read a record before another changed it cannot overwrite it,
 * nor move its CNAME. The version sits in the TXT, so the exact-match DELETE is a version check.
 * `ifVersion: 0` is a CREATE of the TXT alone. A write without `ifVersion` is the same, from a fresh read, tried again when
 * another writer got in between. The write id makes each TXT unique, so a write whose answer was
 * lost (a timeout) or refused after a retry is recognised as ours on the next read.
 *
 * TTLs are whole seconds: a record's `ttlMs` is 0 (not cached: the chain's membership record, set
 * by its agent with 0) or a multiple of 1000 that is at least 1000; anything else is refused with
 * a ScenarioError. `chaos validate --provider aws` refuses a scenario whose `...TtlMs` fields
 * are not such before anything is created; this is the last line.
 *
 * **Leases** are the same compare-and-set on one TXT record. Route 53 has no clock of its own that
 * a caller can use, so a lease's expiry is written as the wall-clock time (epoch ms) of the
 * holder, taken after it read the lease and before it sent the write (so no earlier than the
 * LeaseKeeper's own start, agents/lease.ts), plus the TTL. Whether a lease has run out is judged
 * on the **caller's wall clock**: `remainingMs` is `expires - Date.now()` on the host that asks,
 * not a registry's count. A host whose clock runs `d` ms ahead of the holder's sees the lease
 * run out `d` ms early, so the holder's margin (LeaseKeeper's `marginMs`) must exceed the largest
 * clock difference between any two hosts that may take the lease, plus the time its fence takes.
 * On EC2 with the Amazon Time Sync Service (chrony) the clocks agree to well under a millisecond;
 * without it, budget the NTP error you can vouch for. A release writes the lease as run out now
 * (keeping its term, so terms never repeat, as the local registry does) rather than deleting it.
 *
 * Every call has a timeout (`callTimeoutMs`). Throttling (`Throttling`: Route 53 limits API
 * requests per account, every caller of the account together: five a second for years, a bucket
 * of 50 refilled at 10 a second in its current "Throttling for Amazon Route 53 API requests";
 * `PriorRequestNotComplete`: a change to a zone still being processed) is retried with
 * exponential backoff and jitter; a conflict is never retried by a conditional write: it is the
 * answer. Reads are retried on timeouts and server errors too. Each set, renewal or release is
 * two requests (a read and a change): leaders that renew every 200 ms, as the local defaults
 * do, would spend the account's whole budget; on AWS renew every few seconds.
 *
 * The API's ListResourceRecordSets sees a change as soon as ChangeResourceRecordSets accepts it;
 * DNS resolvers in the VPC see it once it is INSYNC (usually within a minute) and their cache
 * (the TTL) has run out: a failover measured through DNS includes that.
 */

/** The two calls the registry makes, as Route 53 answers them (a seam for the strict double). */
export interface RecordSetApi {
  /** ChangeResourceRecordSets: every change of the batch, or none (it throws). */
  change(changes: Change[], signal: AbortSignal): Promise<void>;
  /** ListResourceRecordSets from (name, type) on, at most `max`; `next` when more follow. */
  list(
    from: { name?: string; type?: RRType; max: number },
    signal: AbortSignal,
  ): Promise<{ sets: ResourceRecordSet[]; next?: { name: string; type: RRType } }>;
}

/** Route 53 through the AWS SDK, for one hosted zone. */
export function route53RecordSets(client: Pick<Route53Client, 'send'>, zoneId: string): RecordSetApi {
  return {
    async change(changes, signal) {
      await client.send(
        new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: changes } }),
        { abortSignal: signal },
      );
    },
    async list(from, signal) {
      const out = await client.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          StartRecordName: from.name,
          StartRecordType: from.name ? from.type : undefined,
          MaxItems: from.max,
        }),
        { abortSignal: signal },
      );
      const next =
        out.IsTruncated && out.NextRecordName && out.NextRecordType
          ? { name: out.NextRecordName, type: out.NextRecordType }
          : undefined;
      return { sets: out.ResourceRecordSets ?? [], ...(next ? { next } : {}) };
    },
  };
}

export interface Route53RegistryOptions {
  /** The private hosted zone's id (`Z0123...` or `/hostedzone/Z0123...`). */
  zoneId: string;
  /** The zone's domain (`run-3f9a1c07.chaos.internal`), without the trailing dot. */
  domain: string;
  /** The calls; by default Route 53 through the SDK (its own retries off; AWS_ENDPOINT_URL(_ROUTE_53) honoured). */
  api?: RecordSetApi;
  /** The SDK client's region (Route 53 is global; default us-east-1). */
  region?: string;
  /** The wall clock leases are written and judged on (epoch ms). */
  wallNow?: () => number;
  /** Each call's time limit; default 5000 ms. */
  callTimeoutMs?: number;
  /** Throttled calls: attempts in all (default 6) and the backoff (100 ms doubling, at most 2000 ms). */
  retry?: { attempts?: number; baseMs?: number; maxMs?: number };
  /** How many times a write without ifVersion starts again after losing a race; default 5. */
  maxRaces?: number;
  sleep?: (ms: number) => Promise<void>;
  /** 0 <= x < 1: backoff jitter and write ids. */
  random?: () => number;
}

/** Each connection's and each request's time limit in the SDK (the registry's own timeout is shorter). */
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The Route 53 client's configuration: the region, one attempt per call (the registry retries
 * itself, never a conflict, and judges a write that timed out by reading the zone), and the
 * endpoint where the environment names one: AWS_ENDPOINT_URL_ROUTE_53, else AWS_ENDPOINT_URL, as
 * the AWS CLI and SDKs read them (moto in the tests). Credentials: the SDK's default chain (the
 * environment; on a node, the instance role through IMDS).
 */
export function route53ClientConfig(region: string, env: Record<string, string | undefined> = process.env) {
  let endpoint: string | undefined;
  for (const name of ['AWS_ENDPOINT_URL_ROUTE_53', 'AWS_ENDPOINT_URL']) {
    const value = env[name]?.trim();
    if (!value) continue;
    let ok: boolean;
    try {
      ok = ['http:', 'https:'].includes(new URL(value).protocol);
    } catch {
      ok = false;
    }
    if (!ok)
      throw new InfraError('BAD_ENDPOINT_URL', `${name}='${value}' is not an http(s) URL`, {
        hint: `give it as http://host:port (moto: ${name}=http://127.0.0.1:5000), or unset it to call AWS`,
      });
    endpoint = value;
    break;
  }
  return {
    region,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    ...(endpoint ? { endpoint } : {}),
  };
}

/** A DNS label: what a record's or a lease's name must be, and a value must be to get a CNAME. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Route 53 holds at most 255 characters in one TXT string. */
const TXT_STRING_MAX = 255;
const LEASE_DNS_TTL = 1;

const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/** The TTL in seconds for a record's ttlMs; throws a ScenarioError when Route 53 cannot hold it. */
export function dnsTtlSeconds(name: string, ttlMs: number): number {
  if (ttlMs === 0) return 0;
  if (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs % 1000 !== 0)
    throw new ScenarioError(
      'REGISTRY_TTL',
      `registry record ${name}: a TTL of ${ttlMs} ms cannot be a Route 53 TTL, which is whole seconds (0, or at least 1000 ms)`,
      {
        hint: 'give the record a TTL in whole seconds on AWS (chaos validate --provider aws finds such a scenario before anything is created)',
      },
    );
  return ttlMs / 1000;
}

interface StoredRecord {
  record: RegistryRecord;
  writeId: string;
  /** The record sets as the zone holds them: what an exact-match DELETE must name. */
  sets: ResourceRecordSet[];
}

interface StoredLease {
  holder: string;
  term: number;
  expiresAt: number;
  ttlMs: number;
  writeId: string;
  set: ResourceRecordSet;
}

type WriteOutcome = 'done' | 'conflict';

export class Route53Registry implements Registry {
  readonly domain: string;
  private readonly api: RecordSetApi;
  private readonly wallNow: () => number;
  private readonly callTimeoutMs: number;
  private readonly attempts: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly maxRaces: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(opts: Route53RegistryOptions) {
    this.domain = opts.domain.replace(/\.$/, '').toLowerCase();
    this.api =
      opts.api ??
      route53RecordSets(
        // One attempt per call: the registry retries itself, never a conflict, and judges a
        // write that timed out by reading the zone.
        new Route53Client(route53ClientConfig(opts.region ?? 'us-east-1')),
        opts.zoneId,
      );
    this.wallNow = opts.wallNow ?? (() => Date.now());
    this.callTimeoutMs = opts.callTimeoutMs ?? 5000;
    this.attempts = opts.retry?.attempts ?? 6;
    this.baseMs = opts.retry?.baseMs ?? 100;
    this.maxMs = opts.retry?.maxMs ?? 2000;
    this.maxRaces = opts.maxRaces ?? 5;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = opts.random ?? Math.random;
  }

  /** Where DNS clients resolve the record `name`. */
  hostname(name: string): string {
    return `${checkName('record', name)}.${this.domain}`;
  }

  async get(name: string): Promise<RegistryRecord | undefined> {
    return (await this.readRecord(checkName('record', name)))?.record;
  }

  async set(
    name: string,
    value: string,
    ttlMs: number,
    ifVersion?: number,
  ): Promise<RegistryRecord | undefined> {
    checkName('record', name);
    const ttl = dnsTtlSeconds(name, ttlMs);
    const encoded = `value=${encodeURIComponent(value)}`;
    if (encoded.length > TXT_STRING_MAX)
      throw new InfraError(
        'REGISTRY_VALUE_TOO_LONG',
        `registry record ${name}: its value is ${encoded.length} characters as a TXT string, Route 53 holds ${TXT_STRING_MAX}`,
      );
    for (let race = 0; race <= this.maxRaces; race++) {
      const cur = await this.readRecord(name);
      const version = cur?.record.version ?? 0;
      if (ifVersion !== undefined && ifVersion !== version) return undefined;
      const record: RegistryRecord = { name, value, ttlMs, version: version + 1 };
      const writeId = this.writeId();
      const [txt, cname] = this.recordSets(record, ttl, writeId);
      const [oldTxt, oldCname] = cur?.sets ?? [];
      // The TXT's exact DELETE (or its CREATE) is the condition; the CNAME follows in the batch.
      const changes: Change[] = [
        ...(oldTxt ? [{ Action: 'DELETE' as const, ResourceRecordSet: oldTxt }] : []),
        ...(oldCname && !cname ? [{ Action: 'DELETE' as const, ResourceRecordSet: oldCname }] : []),
        { Action: 'CREATE', ResourceRecordSet: txt! },
        ...(cname ? [{ Action: 'UPSERT' as const, ResourceRecordSet: cname }] : []),
      ];
      const outcome = await this.write(`set ${name}`, changes, async () => {
        return (await this.readRecord(name))?.writeId === writeId;
      });
      if (outcome === 'done') return record;
      if (ifVersion !== undefined) return undefined;
    }
    throw new InfraError(
      'REGISTRY_CONTENDED',
      `registry record ${name}: other writers moved it ${this.maxRaces + 1} times while this one tried to set it`,
    );
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    checkName('lease', name);
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs))
      throw new Error(`a lease needs a positive ttlMs, not ${ttlMs}`);
    for (let race = 0; race <= this.maxRaces; race++) {
      const cur = await this.readLease(name);
      const now = this.wallNow();
      const running = cur !== undefined && cur.expiresAt > now;
      if (running && cur.holder !== holder) return undefined;
      // A renewal keeps the term; taking it afresh (free, run out, released) starts the next one.
      const term = running ? cur.term : (cur?.term ?? 0) + 1;
      const writeId = this.writeId();
      const next = { holder, term, expiresAt: now + ttlMs, ttlMs, writeId };
      const outcome = await this.write(
        `lease ${name} for ${holder}`,
        this.leaseChanges(name, cur, next),
        async () => {
          return (await this.readLease(name))?.writeId === writeId;
        },
      );
      if (outcome === 'done') return this.leaseView(name, next);
      // Someone else wrote it between the read and the write: read again and judge afresh.
    }
    throw new InfraError(
      'REGISTRY_CONTENDED',
      `lease ${name}: other writers changed it ${this.maxRaces + 1} times while ${holder} asked for it`,
    );
  }

  async getLease(name: string): Promise<Lease | undefined> {
    const cur = await this.readLease(checkName('lease', name));
    return cur ? this.leaseView(name, cur) : undefined;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    checkName('lease', name);
    for (let race = 0; race <= this.maxRaces; race++) {
      const cur = await this.readLease(name);
      const now = this.wallNow();
      if (!cur || cur.holder !== holder || cur.expiresAt <= now) return;
      const writeId = this.writeId();
      const next = { holder, term: cur.term, expiresAt: now, ttlMs: cur.ttlMs, writeId };
      const outcome = await this.write(
        `release lease ${name}`,
        this.leaseChanges(name, cur, next),
        async () => {
          return (await this.readLease(name))?.writeId === writeId;
        },
      );
      if (outcome === 'done') return;
    }
  }

  /**
   * Deletes every record set the registry wrote (records, their CNAMEs, leases), so the zone can
   * be deleted at teardown (Route 53 refuses to delete a zone that holds other record sets than
   * its SOA and NS). Returns how many record sets it deleted.
   */
  async clear(): Promise<number> {
    const registry = `._registry.${this.domain}`;
    const txts: ResourceRecordSet[] = [];
    const cnames = new Map<string, ResourceRecordSet>();
    let from: { name?: string; type?: RRType } = {};
    for (;;) {
      const page = await this.call('ListResourceRecordSets', true, (signal) =>
        this.api.list({ ...from, max: 300 }, signal),
      );
      for (const s of page.sets) {
        const n = bare(s.Name);
        if (s.Type === 'TXT' && (n.endsWith(registry) || n.endsWith(`._lease.${this.domain}`))) txts.push(s);
        if (s.Type === 'CNAME') cnames.set(n, s);
      }
      if (!page.next) break;
      from = { name: page.next.name, type: page.next.type };
    }
    // Only the CNAMEs of the registry's records: one the stack made itself is not ours to delete.
    const doomed = [
      ...txts,
      ...txts.flatMap((t) => {
        const n = bare(t.Name);
        const c = n.endsWith(registry)
          ? cnames.get(`${n.slice(0, -registry.length)}.${this.domain}`)
          : undefined;
        return c ? [c] : [];
      }),
    ];
    for (let i = 0; i < doomed.length; i += 100) {
      const batch = doomed
        .slice(i, i + 100)
        .map((s) => ({ Action: 'DELETE' as const, ResourceRecordSet: s }));
      await this.call('ChangeResourceRecordSets', false, (signal) => this.api.change(batch, signal));
    }
    return doomed.length;
  }

  private recordSets(r: RegistryRecord, ttl: number, writeId: string): ResourceRecordSet[] {
    const txt: ResourceRecordSet = {
      Name: `${r.name}._registry.${this.domain}`,
      Type: 'TXT',
      TTL: ttl,
      ResourceRecords: [{ Value: `"v=${r.version}" "w=${writeId}" "value=${encodeURIComponent(r.value)}"` }],
    };
    if (!LABEL.test(r.value)) return [txt];
    const cname: ResourceRecordSet = {
      Name: `${r.name}.${this.domain}`,
      Type: 'CNAME',
      TTL: ttl,
      ResourceRecords: [{ Value: `${r.value}.${this.domain}` }],
    };
    return [txt, cname];
  }

  private async readRecord(name: string): Promise<StoredRecord | undefined> {
    const txt = await this.readSet(`${name}._registry.${this.domain}`, 'TXT');
    if (!txt) return undefined;
    const fields = txtFields(txt, `registry record ${name}`);
    const version = Number(fields.get('v'));
    const value = fields.get('value');
    const writeId = fields.get('w');
    if (!Number.isInteger(version) || version < 1 || value === undefined || writeId === undefined)
      throw new InfraError(
        'REGISTRY_CORRUPT',
        `registry record ${name}: its TXT record ${JSON.stringify(txt.ResourceRecords?.[0]?.Value)} is not one the registry wrote`,
      );
    const record: RegistryRecord = {
      name,
      value: decodeURIComponent(value),
      ttlMs: (txt.TTL ?? 0) * 1000,
      version,
    };
    // The CNAME was written in the same batch with the same TTL: what the DELETE must name.
    const sets = this.recordSets(record, txt.TTL ?? 0, writeId);
    sets[0] = txt;
    return { record, writeId, sets };
  }

  private async readLease(name: string): Promise<StoredLease | undefined> {
    const set = await this.readSet(`${name}._lease.${this.domain}`, 'TXT');
    if (!set) return undefined;
    const f = txtFields(set, `lease ${name}`);
    const holder = f.get('holder');
    const term = Number(f.get('term'));
    const expiresAt = Number(f.get('expires'));
    const ttlMs = Number(f.get('ttl'));
    const writeId = f.get('w');
    if (holder === undefined || writeId === undefined || ![term, expiresAt, ttlMs].every(Number.isFinite))
      throw new InfraError(
        'REGISTRY_CORRUPT',
        `lease ${name}: its TXT record ${JSON.stringify(set.ResourceRecords?.[0]?.Value)} is not one the registry wrote`,
      );
    return { holder: decodeURIComponent(holder), term, expiresAt, ttlMs, writeId, set };
  }

  private leaseChanges(name: string, cur: StoredLease | undefined, next: Omit<StoredLease, 'set'>): Change[] {
    const set: ResourceRecordSet = {
      Name: `${name}._lease.${this.domain}`,
      Type: 'TXT',
      TTL: LEASE_DNS_TTL,
      ResourceRecords: [
        {
          Value: [
            `"holder=${encodeURIComponent(next.holder)}"`,
            `"term=${next.term}"`,
            `"expires=${next.expiresAt}"`,
            `"ttl=${next.ttlMs}"`,
            `"w=${next.writeId}"`,
          ].join(' '),
        },
      ],
    };
    return [
      ...(cur ? [{ Action: 'DELETE' as const, ResourceRecordSet: cur.set }] : []),
      { Action: 'CREATE' as const, ResourceRecordSet: set },
    ];
  }

  private leaseView(name: string, l: Pick<StoredLease, 'holder' | 'ttlMs' | 'expiresAt' | 'term'>): Lease {
    return {
      name,
      holder: l.holder,
      ttlMs: l.ttlMs,
      remainingMs: l.expiresAt - this.wallNow(),
      term: l.term,
    };
  }

  /** The record set (name, type), or undefined. */
  private async readSet(name: string, type: RRType): Promise<ResourceRecordSet | undefined> {
    const page = await this.call('ListResourceRecordSets', true, (signal) =>
      this.api.list({ name, type, max: 1 }, signal),
    );
    const s = page.sets[0];
    return s && bare(s.Name) === name && s.Type === type ? s : undefined;
  }

  /**
   * One compare-and-set batch. A refusal because the zone no longer holds what was read is a
   * conflict, unless the zone holds what this write wrote (its answer was lost, and a retry was
   * refused); a timeout is an error unless the zone shows the write took effect.
   */
  private async write(
    what: string,
    changes: Change[],
    isOurs: () => Promise<boolean>,
  ): Promise<WriteOutcome> {
    try {
      await this.call('ChangeResourceRecordSets', false, (signal) => this.api.change(changes, signal));
      return 'done';
    } catch (err) {
      if (isConflict(err)) return (await isOurs()) ? 'done' : 'conflict';
      if (err instanceof InfraError && err.code === 'REGISTRY_TIMEOUT') {
        if (await isOurs().catch(() => false)) return 'done';
        throw new InfraError(
          'REGISTRY_TIMEOUT',
          `${what}: Route 53 did not answer within ${this.callTimeoutMs} ms, and the change is not in the zone yet: it may still apply`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** One API call with a time limit; throttling retried with backoff (reads: timeouts and 5xx too). */
  private async call<T>(
    op: string,
    idempotent: boolean,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withTimeout(op, fn);
      } catch (err) {
        const retryable =
          isThrottled(err) ||
          (idempotent &&
            ((err instanceof InfraError && err.code === 'REGISTRY_TIMEOUT') || isServerError(err)));
        if (!retryable || attempt >= this.attempts) {
          if (isThrottled(err))
            throw new InfraError(
              'REGISTRY_THROTTLED',
              `Route 53 ${op}: still throttled after ${attempt} attempts (${errorName(err)})`,
              {
                cause: err,
                hint: 'Route 53 limits API requests per account (5 to 10 a second, shared): renew leases less often',
              },
            );
          throw err;
        }
        const backoff = Math.min(this.maxMs, this.baseMs * 2 ** (attempt - 1));
        await this.sleep(backoff / 2 + (backoff / 2) * this.random());
      }
    }
  }

  private async withTimeout<T>(op: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(
          new InfraError('REGISTRY_TIMEOUT', `Route 53 ${op} did not answer within ${this.callTimeoutMs} ms`),
        );
      }, this.callTimeoutMs);
    });
    try {
      return await Promise.race([fn(ac.signal), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private writeId(): string {
    return Math.floor(this.random() * 36 ** 8)
      .toString(36)
      .padStart(8, '0');
  }
}

function checkName(kind: 'record' | 'lease', name: string): string {
  if (!LABEL.test(name))
    throw new InfraError(
      'REGISTRY_BAD_NAME',
      `${kind} name '${name}' is not a DNS label (lower-case letters, digits and '-', at most 63)`,
    );
  return name;
}

/** A name as Route 53 returns it (`x.example.` ), without the trailing dot, lower-case. */
function bare(name: string | undefined): string {
  return (name ?? '').replace(/\.$/, '').toLowerCase();
}

/** The `key=value` strings of a TXT record set's one value. */
function txtFields(set: ResourceRecordSet, what: string): Map<string, string> {
  const value = set.ResourceRecords?.[0]?.Value;
  if (set.ResourceRecords?.length !== 1 || value === undefined)
    throw new InfraError(
      'REGISTRY_CORRUPT',
      `${what}: its TXT record set holds ${set.ResourceRecords?.length ?? 0} values, not one`,
    );
  const out = new Map<string, string>();
  for (const m of value.matchAll(/"([^"\\]*)"/g)) {
    const s = m[1]!;
    const eq = s.indexOf('=');
    if (eq > 0) out.set(s.slice(0, eq), s.slice(eq + 1));
  }
  return out;
}

function errorName(err: unknown): string {
  return (err as { name?: string } | undefined)?.name ?? '';
}

function isThrottled(err: unknown): boolean {
  const e = err as {
    name?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  };
  return (
    THROTTLED.has(e?.name ?? '') || e?.$retryable?.throttling === true || e?.$metadata?.httpStatusCode === 429
  );
}

function isServerError(err: unknown): boolean {
  const e = err as { $fault?: string; $metadata?: { httpStatusCode?: number } };
  return e?.$fault === 'server' || (e?.$metadata?.httpStatusCode ?? 0) >= 500;
}

/** Route 53 refused the batch because the zone does not hold what it was read to hold. */
export function isConflict(err: unknown): boolean {
  if (errorName(err) !== 'InvalidChangeBatch') return false;
  const e = err as { message?: string; messages?: string[] };
  const text = [e.message ?? '', ...(e.messages ?? [])].join(' ');
  return /already exists|was not found|do not match the current values/i.test(text);
}
