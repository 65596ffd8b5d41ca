import { MongoServerError, MongoServerSelectionError, MongoWriteConcernError } from 'mongodb';
import type { Outcome } from '../../core/history.ts';

/**
 * Server error codes whose reply means the insert was not applied: the server refused it before
 * doing anything (it is no primary, the command is malformed, not allowed) or the document was
 * rejected (a duplicate `_id`). Every other reply to a write that was sent may come after the
 * write took effect: a stepdown interrupting it (InterruptedDueToReplStateChange 11602,
 * PrimarySteppedDown 189), a shutdown (91, 11600), an interruption (11601), a time limit (50,
 * 262)...
 */
export const NOT_APPLIED: ReadonlyMap<number, string> = new Map([
  [10107, 'NotWritablePrimary'],
  [13435, 'NotPrimaryNoSecondaryOk'],
  [13436, 'NotPrimaryOrSecondary'],
  [11000, 'DuplicateKey'],
  [121, 'DocumentValidationFailure'],
  [2, 'BadValue'],
  [9, 'FailedToParse'],
  [13, 'Unauthorized'],
  [14, 'TypeMismatch'],
  [18, 'AuthenticationFailed'],
  [59, 'CommandNotFound'],
  [72, 'InvalidOptions'],
  [79, 'UnknownReplWriteConcern'],
  [100, 'UnsatisfiableWriteConcern'],
]);

/**
 * How a failed insert is recorded (`sent`: the driver had handed the command to a connection,
 * its `commandStarted` event fired):
 *
 * - `fail` (it certainly did not take effect): never sent (no primary selected in time, no
 *   connection: server selection precedes sending, so a selection error is always this), or
 *   answered with an error whose code says the server refused it (NotWritablePrimary from a
 *   member that is no longer primary, a duplicate key...).
 * - `unknown` (it may have): a **write-concern error**, whatever its code: the primary applied
 *   the insert locally and then could not say it reached the majority in time (`wtimeout`) or
 *   stepped down while waiting; it is on the old primary and may be rolled back, or may survive.
 *   Also a lost or timed-out connection after sending, and any other reply.
 */
export function classifyMongoFailure(err: unknown, sent: boolean): Exclude<Outcome, 'ok'> {
  if (err instanceof MongoServerSelectionError) return 'fail';
  if (!sent) return 'fail';
  if (err instanceof MongoWriteConcernError) return 'unknown';
  // A reply carrying a write-concern error that the driver did not raise as one.
  if (err instanceof MongoServerError && (err as { writeConcernError?: unknown }).writeConcernError)
    return 'unknown';
  if (err instanceof MongoServerError && typeof err.code === 'number' && NOT_APPLIED.has(err.code))
    return 'fail';
  return 'unknown';
}
