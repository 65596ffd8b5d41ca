/**
 * The supervisor of a Postgres + Patroni node (bundled by agents/bundle.ts, run by Node.js as the
 * node's main process in the patroni image). Configured by environment: NODE_NAME,
 * PATRONI_CONFIG (the node's patroni.yml), DATA_ROOT (its data volume).
 *
 * It does what a VM's init would: gives the data volume to the postgres user, starts Patroni as
 * that user, and passes Patroni's output (and Postgres's, which Patroni's children write to the
 * same pipes) to the container's output unchanged. Each of Patroni's decisions (log.ts) is also
 * an event line, stamped with Patroni's own time. Patroni is not started again if it exits, as
 * Debian's per-cluster unit `patroni@.service` has it (`Restart=no`: "we want to manually
 * inspect database on failure"); the exit is an event, and Postgres, if it still runs, runs on
 * unmanaged.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DecisionFilter, classify, parseLogLine } from './log.ts';

/** Printed once Patroni has taken its place (leader, or a replica following one): the node is up. */
export const READY_LINE = 'chaos-patroni-ready';
const READY_TYPES = new Set([
  'leader-with-lock',
  'following-leader',
  'bootstrapped',
  'promoted-self',
  'started-as-secondary',
]);

export async function main(): Promise<void> {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  const node = need('NODE_NAME');
  const config = need('PATRONI_CONFIG');
  const dataRoot = need('DATA_ROOT');
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const emit = (t: number, type: string, data: Record<string, unknown> = {}) =>
    out(JSON.stringify({ t, type, node, ...data }));

  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  for (const dir of [dataRoot, '/var/run/postgresql']) {
    mkdirSync(dir, { recursive: true });
    chownSync(dir, uid, gid);
  }
  chmodSync(dataRoot, 0o700);

  const child = spawn('patroni', [config], {
    uid,
    gid,
    env: { ...process.env, HOME: '/var/lib/postgresql', USER: 'postgres', LOGNAME: 'postgres' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  emit(Date.now(), 'patroni-started', { pid: child.pid ?? null });
  const filter = new DecisionFilter();
  let ready = false;
  const onLine = (line: string) => {
    out(line);
    const l = parseLogLine(line);
    const d = l && classify(l.message);
    if (!l || !d) return;
    if (filter.accept(d)) emit(l.t, d.type, { message: d.message, ...d.data });
    if (!ready && READY_TYPES.has(d.type)) {
      ready = true;
      out(READY_LINE);
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  child.on('exit', (code, signal) => {
    emit(Date.now(), 'patroni-exited', { code, signal, restarted: false });
  });
  process.on('SIGTERM', () => {
    if (child.exitCode !== null || child.signalCode !== null) process.exit(0);
    child.once('exit', () => process.exit(0));
    child.kill('SIGTERM');
  });
  // Keeps running after Patroni exits, as the machine would.
  setInterval(() => {}, 1 << 30);
}
