/**
 * What every agent program shares inside its container: its configuration from the environment,
 * the wall clock it stamps events with (the harness maps them onto the run's clock), and its
 * events as JSON lines on stdout, which the harness puts on the run's timeline.
 */
export interface AgentRuntime {
  env(name: string, fallback?: string): string;
  wallNow(): number;
  emit(type: string, data?: Record<string, unknown>): void;
  /**
   * Runs one call of the agent's loop under a name. Every call an agent makes has its own
   * timeout of a second or two, so a call still in flight after `stuckMs` of the agent's running
   * time is a hang: the agent reports `agent-stuck` (which call, for how long) and exits with
   * status 1, and Docker's restart policy starts it afresh, as a supervisor's watchdog would. A
   * hung agent is otherwise only silence on the timeline while its node goes unwatched.
   */
  step<T>(name: string, run: () => Promise<T>): Promise<T>;
}

/** How long one call may be in flight, in the agent's running time, before it is a hang. */
export const AGENT_STUCK_MS = 5000;
/** How often the watchdog looks. */
const WATCH_EVERY_MS = 250;

export interface AgentRuntimeOptions {
  stuckMs?: number;
  /** Where event lines go; default stdout. */
  write?: (line: string) => void;
  /** What a hang does after it is reported; default: exit 1 (Docker restarts the agent). */
  onStuck?: () => void;
  /**
   * Report and exit 1 when the event loop runs dry: an agent's loop never ends, so a dry loop
   * means a call's promise was stranded, and Node would otherwise exit 0 (no restart). Default:
   * on unless `write` is given (tests).
   */
  guardExit?: boolean;
}

export function agentRuntime(
  program: string,
  node: () => string,
  opts: AgentRuntimeOptions = {},
): AgentRuntime {
  const stuckMs = opts.stuckMs ?? AGENT_STUCK_MS;
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  const onStuck = opts.onStuck ?? (() => process.exit(1));
  const wallNow = () => performance.timeOrigin + performance.now();
  const emit = (type: string, data: Record<string, unknown> = {}) =>
    write(`${JSON.stringify({ t: wallNow(), type, node: node(), ...data })}\n`);
  /**
   * Calls in flight and the watchdog's looks since each began. Looks count running time: a
   * paused container's timers stop with it, and the one look after it thaws counts once, so a
   * `docker pause` or a frozen cgroup is never taken for a hang.
   */
  const inFlight = new Map<number, { name: string; since: number; looks: number }>();
  const every = Math.max(1, Math.min(WATCH_EVERY_MS, stuckMs / 4));
  let nextStep = 0;
  let watchdog: ReturnType<typeof setInterval> | undefined;
  let reported = false;
  const watch = () => {
    for (const s of inFlight.values()) {
      s.looks++;
      // The first look comes anywhere within the first interval: it does not count.
      if (!reported && (s.looks - 1) * every >= stuckMs) {
        reported = true;
        emit('agent-stuck', {
          step: s.name,
          forMs: Math.round(performance.now() - s.since),
          action: 'exit 1: restarted by its restart policy',
        });
        onStuck();
      }
    }
  };
  if (opts.guardExit ?? !opts.write)
    process.once('beforeExit', () => {
      emit('agent-crashed', {
        error: `the event loop ran dry${inFlight.size ? ` with ${[...inFlight.values()].map((s) => s.name).join(', ')} in flight` : ''}: a promise was stranded`,
      });
      process.exit(1);
    });
  return {
    env: (name, fallback) => {
      const v = process.env[name] ?? fallback;
      if (v === undefined) throw new Error(`${program}: environment variable ${name} is required`);
      return v;
    },
    wallNow,
    emit,
    step: async (name, run) => {
      if (!watchdog) {
        watchdog = setInterval(watch, every);
        watchdog.unref();
      }
      const id = nextStep++;
      inFlight.set(id, { name, since: performance.now(), looks: 0 });
      try {
        return await run();
      } finally {
        inFlight.delete(id);
      }
    },
  };
}

/**
 * The same object, each of its methods run as a named step (`registry get pg-writer`), so that a
 * call that never returns is reported by the watchdog of {@link AgentRuntime.step}.
 */
export function stepped<T extends object>(step: AgentRuntime['step'], prefix: string, target: T): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      const value = Reflect.get(obj, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        step(`${prefix} ${String(key)}${typeof args[0] === 'string' ? ` ${args[0]}` : ''}`, async () =>
          value.apply(obj, args),
        );
    },
  });
}
