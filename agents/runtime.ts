/**
 * What every agent program shares inside its container: its configuration from the environment,
 * the wall clock it stamps events with (the harness maps them onto the run's clock), and its
 * events as JSON lines on stdout, which the harness puts on the run's timeline.
 */
export interface AgentRuntime {
  env(name: string, fallback?: string): string;
  wallNow(): number;
  emit(type: string, data?: Record<string, unknown>): void;
}

export function agentRuntime(program: string, node: () => string): AgentRuntime {
  const wallNow = () => performance.timeOrigin + performance.now();
  return {
    env: (name, fallback) => {
      const v = process.env[name] ?? fallback;
      if (v === undefined) throw new Error(`${program}: environment variable ${name} is required`);
      return v;
    },
    wallNow,
    emit: (type, data = {}) =>
      process.stdout.write(`${JSON.stringify({ t: wallNow(), type, node: node(), ...data })}\n`),
  };
}
