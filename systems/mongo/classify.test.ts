import {
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  MongoWriteConcernError,
} from 'mongodb';
import { describe, expect, it } from 'vitest';
import { classifyMongoFailure } from './classify.ts';

/** An error reply to the insert command, as the server sends it. */
const reply = (code: number, codeName: string, errmsg: string) =>
  new MongoServerError({ ok: 0, code, codeName, errmsg });
/** A reply whose write went through on the primary but whose write concern was not met. */
const writeConcernError = (code: number, codeName: string, errmsg: string, errInfo = {}) =>
  new MongoWriteConcernError({ ok: 1, n: 1, writeConcernError: { code, codeName, errmsg, errInfo } });

describe('how the Mongo probe classifies a failed insert', () => {
  it('never sent (no primary selected, no connection): fail', () => {
    const selection = new MongoServerSelectionError('Server selection timed out after 1000 ms', {
      type: 'ReplicaSetNoPrimary',
      servers: new Map(),
      stale: false,
      compatible: true,
      heartbeatFrequencyMS: 500,
      localThresholdMS: 15,
      setName: 'rs0',
      maxElectionId: null,
      maxSetVersion: null,
      commonWireVersion: 0,
      logicalSessionTimeoutMinutes: null,
    } as never);
    expect(classifyMongoFailure(selection, false)).toBe('fail');
    // server selection precedes sending, whatever the flag says
    expect(classifyMongoFailure(selection, true)).toBe('fail');
    expect(classifyMongoFailure(new MongoNetworkError('connect ECONNREFUSED 10.201.1.10:27017'), false)).toBe(
      'fail',
    );
    expect(classifyMongoFailure(new Error('no mongo-primary record in the registry'), false)).toBe('fail');
  });

  it('a reply that refused it: fail (NotWritablePrimary from a member no longer primary, a duplicate _id)', () => {
    expect(classifyMongoFailure(reply(10107, 'NotWritablePrimary', 'not primary'), true)).toBe('fail');
    expect(
      classifyMongoFailure(
        reply(13435, 'NotPrimaryNoSecondaryOk', 'not primary and secondaryOk=false'),
        true,
      ),
    ).toBe('fail');
    expect(
      classifyMongoFailure(
        reply(
          11000,
          'DuplicateKey',
          'E11000 duplicate key error collection: chaos.writes index: _id_ dup key',
        ),
        true,
      ),
    ).toBe('fail');
  });

  it('a write-concern error: unknown, whatever its code (the primary applied it and may keep it or roll it back)', () => {
    // w: majority not met within wtimeout: on the primary, not (yet) on a majority
    expect(
      classifyMongoFailure(
        writeConcernError(64, 'WriteConcernFailed', 'waiting for replication timed out', { wtimeout: true }),
        true,
      ),
    ).toBe('unknown');
    // the primary stepped down while it waited for the majority
    expect(
      classifyMongoFailure(
        writeConcernError(11602, 'InterruptedDueToReplStateChange', 'operation was interrupted'),
        true,
      ),
    ).toBe('unknown');
    expect(
      classifyMongoFailure(writeConcernError(91, 'ShutdownInProgress', 'shutdown in progress'), true),
    ).toBe('unknown');
    // even with a code that, as a reply of its own, would mean "refused"
    expect(classifyMongoFailure(writeConcernError(10107, 'NotWritablePrimary', 'not primary'), true)).toBe(
      'unknown',
    );
    // a write-concern error riding on an error reply
    const both = new MongoServerError({
      ok: 0,
      code: 189,
      codeName: 'PrimarySteppedDown',
      errmsg: 'stepped down',
      writeConcernError: { code: 64, errmsg: 'waiting for replication timed out' },
    });
    expect(classifyMongoFailure(both, true)).toBe('unknown');
  });

  it('sent, then the connection was lost or timed out, or a reply that does not say it was not applied: unknown', () => {
    expect(
      classifyMongoFailure(new MongoNetworkTimeoutError('connection 4 to 10.201.1.10:27017 timed out'), true),
    ).toBe('unknown');
    expect(
      classifyMongoFailure(new MongoNetworkError('connection 4 to 10.201.1.10:27017 closed'), true),
    ).toBe('unknown');
    expect(
      classifyMongoFailure(
        reply(11602, 'InterruptedDueToReplStateChange', 'operation was interrupted'),
        true,
      ),
    ).toBe('unknown');
    expect(classifyMongoFailure(reply(189, 'PrimarySteppedDown', 'primary stepped down'), true)).toBe(
      'unknown',
    );
    expect(classifyMongoFailure(new Error('something else'), true)).toBe('unknown');
  });
});
