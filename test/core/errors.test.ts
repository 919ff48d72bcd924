/**
 * The one table mapping error codes to HTTP and gRPC statuses, row by row:
 * a code's statuses are part of the API contract (docs/operations.md), so
 * a change to one must change this table too. Also the error body every
 * interface answers with, and `tx_id` on errors about an atomic batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, SluiceError, isSluiceError, type ErrorCode } from '../../src/core/errors.ts';

/** [code, HTTP status, gRPC status number, retryable]. */
const TABLE: readonly (readonly [ErrorCode, number, number, boolean])[] = [
  ['BAD_REQUEST', 400, 3, false],
  ['INVALID_JSON', 400, 3, false],
  ['INVALID_ENCODING', 400, 3, false],
  ['EMPTY_BODY', 400, 3, false],
  ['SCHEMA_VIOLATION', 400, 3, false],
  ['KEY_TOO_LARGE', 400, 3, false],
  ['INVALID_TABLE_DEFINITION', 400, 3, false],
  ['INVALID_ARGUMENT', 400, 3, false],
  ['INVALID_CURSOR', 400, 3, false],
  ['AS_OF_UNSUPPORTED', 400, 3, false],
  ['INVALID_CSV', 400, 3, false],
  ['INVALID_PARQUET', 400, 3, false],
  ['INVALID_PROTOBUF', 400, 3, false],
  ['INVALID_LABELS', 400, 3, false],
  ['INVALID_SNAPPY', 400, 3, false],
  ['INVALID_OTLP', 400, 3, false],
  ['EVENT_TIME_IN_FUTURE', 400, 3, false],
  ['UNSUPPORTED_ACTION', 400, 12, false],
  ['UNAUTHENTICATED', 401, 16, false],
  ['PERMISSION_DENIED', 403, 7, false],
  ['NOT_FOUND', 404, 5, false],
  ['TABLE_NOT_FOUND', 404, 5, false],
  ['RECORD_NOT_FOUND', 404, 5, false],
  ['METHOD_NOT_ALLOWED', 405, 12, false],
  ['TABLE_EXISTS', 409, 6, false],
  ['DOCUMENT_EXISTS', 409, 6, false],
  ['SCHEMA_INCOMPATIBLE', 409, 9, false],
  ['TX_ABORTED', 409, 10, true],
  ['PAYLOAD_TOO_LARGE', 413, 8, false],
  ['TX_TOO_LARGE', 413, 8, false],
  ['RATE_LIMIT_BURST_EXCEEDED', 413, 8, false],
  ['REQUEST_TIMEOUT', 408, 4, true],
  ['UNSUPPORTED_MEDIA_TYPE', 415, 3, false],
  ['OVERLOADED', 429, 8, true],
  ['RATE_LIMITED', 429, 8, true],
  ['INTERNAL', 500, 13, false],
  ['WAL_CORRUPT', 500, 13, false],
  ['WAL_IO', 500, 13, false],
  ['STORAGE_IO', 500, 13, false],
  ['REPLICA_PROTOCOL', 500, 13, false],
  ['NOT_READY', 503, 14, true],
  ['TOO_MANY_CONNECTIONS', 503, 14, true],
  ['SHUTTING_DOWN', 503, 14, true],
  ['NO_QUORUM', 503, 14, true],
  ['CLOCK_ROLLBACK', 503, 14, true],
  ['CLOCK_SKEW', 503, 14, true],
  ['STALE_PLACEMENT', 503, 9, true],
  ['READ_TIMEOUT', 503, 4, true],
  ['TX_IN_DOUBT', 504, 4, false],
  ['DISK_FULL', 507, 8, true],
];

test('every error code has exactly the statuses and retry hint of this table', () => {
  assert.deepEqual(Object.keys(ERROR_CODES).sort(), TABLE.map(([code]) => code).sort(), 'the table lists every code, and no other');
  for (const [code, status, grpc, canRetry] of TABLE) {
    assert.deepEqual(ERROR_CODES[code], { status, grpc, canRetry }, code);
    const err = new SluiceError(code, 'm');
    assert.equal(err.status, status);
    assert.equal(err.grpcStatus, grpc);
    assert.equal(err.canRetry, canRetry);
    assert.ok(isSluiceError(err, code));
  }
});

test('the error body: code, message and details; tx_id only on errors about an atomic batch', () => {
  const plain = new SluiceError('NO_QUORUM', 'two of three', [{ path: 'shard', message: '3' }]);
  assert.deepEqual(plain.toBody(), { error: { code: 'NO_QUORUM', message: 'two of three', details: [{ path: 'shard', message: '3' }] } });
  const doubt = new SluiceError('TX_IN_DOUBT', 'etcd did not answer', [], { txId: '332277389407027200' });
  assert.deepEqual(doubt.toBody(), { error: { code: 'TX_IN_DOUBT', message: 'etcd did not answer', details: [], tx_id: '332277389407027200' } });
  assert.equal(JSON.parse(JSON.stringify(doubt.toBody())).error.tx_id, '332277389407027200');
});
