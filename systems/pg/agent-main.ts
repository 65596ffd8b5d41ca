/**
 * Entry point of the promotion agent inside a node (bundled by agents/bundle.ts, run by Node.js
 * in a container that shares the Postgres container's network namespace and its /control).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { realTimer } from '../../agents/lease.ts';
import { registryFromUrl } from '../../agents/registry/from-url.ts';
import { agentRuntime, stepped } from '../../agents/runtime.ts';
import { PromotionAgent, parseLsn } from './agent.ts';
import { queryOnce } from './client.ts';
import { ControlFiles } from './control.ts';

const { env, wallNow, emit, step } = agentRuntime('promotion agent', () => process.env.NODE_NAME ?? '?');

const CONTROL = '/control';
/**
 * A standby's position: the larger of the WAL received and the WAL replayed. A standby that
 * restarted with no primary to stream from reports as received only the start of its current
 * segment, below what it replayed; GREATEST skips a NULL (a primary has neither).
 */
const POSITION = 'greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())';
const HEALTH_COMMIT =
  "BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_logical_emit_message(true, 'chaos-health', 'lease'); COMMIT";

export async function main(): Promise<void> {
  const self = env('NODE_NAME');
  const port = Number(env('PG_PORT', '5432'));
  const pingTimeoutMs = Number(env('PING_TIMEOUT_MS', '500'));

  /** One query on a fresh connection: the agent never holds a session a fence would end. */
  const query = async (
    host: string,
    sql: string,
    timeoutMs = pingTimeoutMs,
    queryTimeoutMs = Math.max(timeoutMs, 2000),
  ) =>
    step(`query ${host}: ${sql.slice(0, 60)}`, () =>
      queryOnce({ host, port }, sql, { connectMs: timeoutMs, queryMs: queryTimeoutMs }),
    );
  const local = (sql: string) => query('127.0.0.1', sql, 1000);
  const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

  const control = new ControlFiles(CONTROL);
  const agent = new PromotionAgent(
    {
      self,
      peers: env('PEERS').split(','),
      leaseMs: Number(env('LEASE_MS', '3000')),
      leaseMarginMs: Number(env('LEASE_MARGIN_MS', '500')),
      checkIntervalMs: Number(env('CHECK_INTERVAL_MS', '200')),
      writerTtlMs: Number(env('WRITER_TTL_MS', '1000')),
      promotion: env('PROMOTION', 'auto') === 'manual' ? 'manual' : 'auto',
      replication: env('REPLICATION', 'async') === 'sync' ? 'sync' : 'async',
    },
    {
      local: {
        isPrimary: async () => {
          try {
            const [row] = await local('SELECT pg_is_in_recovery() AS standby');
            return !row?.standby;
          } catch {
            return null;
          }
        },
        followedHost: async () => {
          const [row] = await local('SHOW primary_conninfo');
          return /host=([^\s]+)/.exec(String(row?.primary_conninfo ?? ''))?.[1] ?? null;
        },
        streaming: async () => {
          const [row] = await local('SELECT status FROM pg_stat_wal_receiver');
          return row?.status === 'streaming';
        },
        position: async () => {
          const [row] = await local(`SELECT ${POSITION}::text AS lsn`);
          return parseLsn(row?.lsn as string | undefined);
        },
        commits: async () => {
          try {
            // A commit, not a SELECT: a primary whose disk is frozen answers queries but cannot
            // flush a commit record. Committed locally only: with synchronous replication the
            // check must not wait for a standby. A transactional WAL message needs no table.
            await query('127.0.0.1', HEALTH_COMMIT, pingTimeoutMs, pingTimeoutMs);
            return true;
          } catch {
            return false;
          }
        },
        repoint: async (host) => {
          await local(
            `ALTER SYSTEM SET primary_conninfo = ${literal(`host=${host} port=${port} user=postgres application_name=${self} connect_timeout=2`)}`,
          );
          await local('SELECT pg_reload_conf()');
        },
        promote: async () => {
          // Without waiting: the agent keeps renewing its lease while the server promotes, and
          // checks on its next looks that it did.
          const [row] = await local('SELECT pg_promote(false) AS asked');
          return row?.asked === true;
        },
        fence: async () => {
          await local('ALTER SYSTEM SET default_transaction_read_only = on');
          await local('SELECT pg_reload_conf()');
          await local(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
          );
        },
      },
      registry: stepped(step, 'registry', registryFromUrl(env('REGISTRY_URL'))),
      peerPosition: async (host) => {
        try {
          const [row] = await query(host, `SELECT pg_is_in_recovery() AS standby, ${POSITION}::text AS lsn`);
          return row?.standby ? parseLsn(row.lsn as string) : null;
        } catch {
          return null;
        }
      },
      control: async (role, restart) => control.setRole(role, restart),
      // The supervisor looks for the fence every 100 ms: pg_ctl stop -m immediate, then it waits
      // for the role the agent gives next (the one in force is withdrawn first).
      stopNow: () => control.fence(wallNow()),
      armWatchdog: (wallMs) => control.leaseUntil(wallMs),
      dataUnfit: () => control.needsClone(),
      wallNow,
      setTimer: realTimer,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      emit,
    },
  );
  process.on('SIGTERM', () => {
    agent.stop();
    process.exit(0);
  });
  emit('agent-started', { pid: process.pid, restarted: existsSync(`${CONTROL}/started`) });
  writeFileSync(`${CONTROL}/started`, String(Date.now()));
  // Ready once the local server answers in the role the record says (the first tick decides it).
  for (;;) {
    const r = await agent.tick().catch((err) => {
      emit('agent-error', { error: String(err) });
      return 'local-down' as const;
    });
    if (r !== 'local-down' && r !== 'waiting') break;
    await new Promise((res) => setTimeout(res, 100));
  }
  emit('agent-ready', {});
  await agent.run();
}
