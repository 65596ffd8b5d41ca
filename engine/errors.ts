/**
 * Every failure a user can cause is a ChaosError: a code, a one-line message that says what and
 * where, a hint that says how to fix it, and a fixed exit code per kind.
 *
 *   exit 0  the scenario's expectations held
 *   exit 1  they did not (a verdict, not an error: see engine/runner.ts)
 *   exit 2  usage or configuration errors (UsageError, ScenarioError)
 *   exit 3  the infrastructure itself failed (InfraError)
 */
export type ErrorKind = 'usage' | 'scenario' | 'infra' | 'interrupted';

const EXIT_CODES: Record<ErrorKind, number> = { usage: 2, scenario: 2, infra: 3, interrupted: 130 };

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
    return EXIT_CODES[this.kind];
  }

  /** One line for a terminal: `error[CODE]: message (hint)`. */
  oneLine(): string {
    return `error[${this.code}]: ${this.message}${this.hint ? ` (${this.hint})` : ''}`;
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
