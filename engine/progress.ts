import pc from 'picocolors';
import type { TimelineEvent } from '../core/events.ts';
import type { PhaseName, PhaseRecord } from '../core/result.ts';
import type { RunReporter } from './runner.ts';

/** Events worth a line of their own while the run goes on. */
const NOTABLE = new Set([
  'fault-injected',
  'fault-applied',
  'fault-reverted',
  'master-unreachable',
  'master-reachable-again',
  'failover-decision',
  'failover-deferred',
  'became-head',
  'reattached',
  'head-record-moved',
  'not-recovered',
  'read-back-failed',
  'agent-crashed',
  'removed-from-chain',
  'rejoined',
  'demoted',
  'fault-skipped',
  'fault-revert-failed',
  'converged',
  'not-converged',
  'stepped-down',
  'failover-withheld',
  'rejoin-withheld',
  'removed-dead-tail',
]);

/**
 * Live progress on a terminal: one line per phase, the notable events as they happen, and on
 * a TTY a status line with the writes so far. Writes to stderr, so stdout stays for results.
 */
export function consoleReporter(out: NodeJS.WriteStream = process.stderr): RunReporter {
  const tty = Boolean(out.isTTY);
  const c = pc.createColors(tty);
  let status = '';
  const clear = () => {
    if (tty && status) out.write('\r\x1b[2K');
  };
  const line = (s: string) => {
    clear();
    out.write(`${s}\n`);
    if (tty && status) out.write(status);
  };
  const stamp = (t: number) => c.dim(`${(t / 1000).toFixed(3).padStart(8)}s`);
  let current: PhaseName | undefined;
  return {
    runStart: ({ runId, scenario, runDir }) =>
      line(`${c.bold(scenario)} run ${runId} ${c.dim(`-> ${runDir}`)}`),
    phaseStart: (name, t) => {
      current = name;
      line(`${stamp(t)} ${c.cyan('▸')} ${name}`);
    },
    phaseEnd: (r: PhaseRecord) => {
      const took = c.dim(`${Math.round(r.tEnd - r.tStart)} ms`);
      if (r.status === 'failed') line(`${stamp(r.tEnd)} ${c.red('✘')} ${r.name} ${took}: ${r.error}`);
      else line(`${stamp(r.tEnd)} ${c.green('✔')} ${r.name} ${took}`);
    },
    event: (e: TimelineEvent) => {
      if (
        e.source === 'registry' &&
        e.type === 'record-set' &&
        e.data?.name === 'redis-head' &&
        e.data.previous
      ) {
        line(`${stamp(e.t)}   ${c.magenta('registry')} head record ${e.data.previous} -> ${e.data.value}`);
        return;
      }
      if (!NOTABLE.has(e.type)) return;
      const data = Object.entries(e.data ?? {})
        .filter(([k]) => !['chain', 'pid', 'index', 'nodes'].includes(k))
        .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v) : Array.isArray(v) ? v.join('>') : v}`)
        .join(' ');
      const who = e.source === 'fault' ? c.red('fault') : c.yellow(e.source);
      line(
        `${stamp(e.t)}   ${who} ${e.type}${e.node && e.source === 'fault' ? ` ${e.node}` : ''} ${c.dim(data)}`,
      );
    },
    progress: ({ ok, fail, unknown }) => {
      if (!tty || !current || ['provision', 'teardown', 'report', 'check'].includes(current)) return;
      status = c.dim(`  writes: ${ok} ok, ${fail} failed, ${unknown} unknown`);
      out.write(`\r\x1b[2K${status}`);
    },
    runEnd: () => {
      clear();
      status = '';
    },
  };
}
