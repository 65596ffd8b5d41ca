/**
 * Every failure a user can cause is a ChaosError: a code, a one-line message that says what and
 * where, a hint that says how to fix it, and a fixed exit code per kind. This file is the one
 * place that defines exit codes and the one place that writes the `error[CODE]: ...` line.
 *
 *   exit 0    the run completed and its expectations held
 *   exit 1    the run completed and an expectation failed or could not be judged (a verdict)
 *   exit 2    usage or configuration errors (UsageError, ScenarioError)
 *   exit 3    the infrastructure failed (InfraError), or the run did not complete
 *   exit 130  interrupted (SIGINT, SIGTERM)
 */
export type ErrorKind = 'usage' | 'scenario' | 'infra' | 'interrupted';

export const EXIT = { pass: 0, verdict: 1, usage: 2, infra: 3, interrupted: 130 } as const;

const EXIT_BY_KIND: Record<ErrorKind, number> = {
  usage: EXIT.usage,
  scenario: EXIT.usage,
  infra: EXIT.infra,
  interrupted: EXIT.interrupted,
};

export function exitCodeForKind(kind: string): number {
  return EXIT_BY_KIND[kind as ErrorKind] ?? EXIT.infra;
}

/** The exit code of a run, from its status, verdict and error. */
export function exitCodeOfRun(r: {
  status: string;
  verdict: string;
  error?: { kind: string } | undefined;
}): number {
  switch (r.status) {
    case 'completed':
      return r.verdict === 'pass' ? EXIT.pass : EXIT.verdict;
    case 'interrupted':
      return EXIT.interrupted;
    case 'error':
      return r.error ? exitCodeForKind(r.error.kind) : EXIT.infra;
    default: // aborted (unhealthy before any fault), incomplete (the process died)
      return EXIT.infra;
  }
}

/** The one line a user sees for an error: `error[CODE]: message (hint)`. */
export function formatErrorLine(e: { code: string; message: string; hint?: string | undefined }): string {
  return `error[${e.code}]: ${e.message}${e.hint ? ` (${e.hint})` : ''}`;
}

export class ChaosError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly hint: string | undefined;

  constructor(kind: ErrorKind, code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ChaosError';
    this.kind = kind;
    this.code = code;
    this.hint = opts.hint;
  }

  get exitCode(): number {
    return EXIT_BY_KIND[this.kind];
  }

  oneLine(): string {
    return formatErrorLine(this);
  }
}

export class UsageError extends ChaosError {
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super('usage', code, message, opts);
  }
}

export class ScenarioError extends ChaosError {
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super('scenario', code, message, opts);
  }
}

export class InfraError extends ChaosError {
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super('infra', code, message, opts);
  }
}

export class InterruptedError extends ChaosError {
  constructor(signal: string) {
    super('interrupted', 'INTERRUPTED', `interrupted by ${signal}`);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
