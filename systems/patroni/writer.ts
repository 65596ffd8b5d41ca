/**
 * Finding the writer as libpq does with several hosts and `target_session_attrs=read-write`
 * (libpq's "Connection Strings": "read-write: session must accept read-write transactions by
 * default (that is, the server must not be in hot standby mode and the
 * default_transaction_read_only parameter must be off)"): each host in the order given, one
 * connection attempt each; a server that answers but is a standby or read-only is left (its
 * connection closed) for the next; the first that accepts writes is kept. node-postgres has no
 * multi-host support, so the probe does this itself. Pure: the connecting is given.
 */

/** What a candidate server says of itself. */
export interface SessionFacts {
  /** `pg_is_in_recovery()`: a standby (hot standby). */
  inRecovery: boolean;
  /** `current_setting('transaction_read_only')`: `on` or `off`. */
  transactionReadOnly: string;
}

/** The query that gets SessionFacts, and how its row reads. */
export const SESSION_FACTS_SQL =
  "SELECT pg_is_in_recovery() AS in_recovery, current_setting('transaction_read_only') AS read_only";

export function sessionFacts(row: Record<string, unknown> | undefined): SessionFacts {
  if (!row || typeof row.in_recovery !== 'boolean' || typeof row.read_only !== 'string')
    throw new Error('the session check answered no row of (in_recovery, read_only)');
  return { inRecovery: row.in_recovery, transactionReadOnly: row.read_only };
}

/** Why a session cannot take writes, or undefined when it can. */
export function notWritable(f: SessionFacts): string | undefined {
  if (f.inRecovery) return 'in recovery (a standby)';
  if (f.transactionReadOnly !== 'off') return 'read-only (transaction_read_only is on)';
  return undefined;
}

export interface WriterOps<C> {
  /** Opens a connection to a host (with the client's connect timeout); throws when it cannot. */
  connect(host: string): Promise<C>;
  /** What the server on that connection says of itself; throws when it cannot say. */
  facts(conn: C): Promise<SessionFacts>;
  /** Closes a connection that is not kept (never waits on the server). */
  close(conn: C): void;
}

export class NoWriterError extends Error {
  constructor(readonly tried: readonly { host: string; why: string }[]) {
    super(
      `no host accepts writes (target_session_attrs=read-write): ${tried.map((t) => `${t.host}: ${t.why}`).join('; ') || 'no host given'}`,
    );
  }
}

/** The first host, in order, whose server accepts writes, with its open connection. */
export async function pickWriter<C>(
  hosts: readonly string[],
  ops: WriterOps<C>,
): Promise<{ host: string; conn: C }> {
  const tried: { host: string; why: string }[] = [];
  for (const host of hosts) {
    let conn: C;
    try {
      conn = await ops.connect(host);
    } catch (err) {
      tried.push({ host, why: `connect: ${firstLine(err)}` });
      continue;
    }
    let why: string | undefined;
    try {
      why = notWritable(await ops.facts(conn));
    } catch (err) {
      why = `check: ${firstLine(err)}`;
    }
    if (why === undefined) return { host, conn };
    ops.close(conn);
    tried.push({ host, why });
  }
  throw new NoWriterError(tried);
}

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0]!;
