/**
 * OTLP answers (ExportLogsServiceResponse, google.rpc.Status) in both
 * encodings, read back with protobufjs, and the table check that refuses a
 * table OTLP records do not fit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceError, isSluiceError } from '../../../../src/core/errors.ts';
import { parseTableDef } from '../../../../src/core/schema/parse-table-def.ts';
import { checkOtelLogsTable, otelLogsTableDefinition } from '../../../../src/api/http/protocols/otlp/otel-logs-table.ts';
import { otlpTypes } from '../../../../src/ingest/formats/otlp/otlp-proto.ts';
import { exportResponse, otlpEncodingOf, statusResponse } from '../../../../src/api/http/protocols/otlp/otlp-response.ts';

test('success answers: empty when all was written, partialSuccess otherwise, in the request encoding', () => {
  assert.equal(exportResponse('json', 0, ''), '{}');
  assert.equal((exportResponse('protobuf', 0, '') as Buffer).length, 0);
  assert.deepEqual(JSON.parse(exportResponse('json', 2, 'why') as string), { partialSuccess: { rejectedLogRecords: 2, errorMessage: 'why' } });
  const { response } = otlpTypes();
  const decoded = response.toObject(response.decode(exportResponse('protobuf', 2, 'why') as Buffer), { longs: Number });
  assert.deepEqual(decoded, { partialSuccess: { rejectedLogRecords: 2, errorMessage: 'why' } });
});

test('error answers are a Status whose ErrorInfo reason is the stable code', () => {
  const err = new SluiceError('INVALID_OTLP', 'bad resource');
  const fromJson = JSON.parse(statusResponse('json', err) as string);
  assert.equal(fromJson.code, 3);
  assert.match(fromJson.message, /^INVALID_OTLP: bad resource/);
  assert.equal(fromJson.details[0].reason, 'INVALID_OTLP');
  const { status, errorInfo } = otlpTypes();
  const decoded = status.decode(statusResponse('protobuf', err) as Buffer) as unknown as { code: number; details: { typeUrl: string; value: Uint8Array }[] };
  assert.equal(decoded.code, 3);
  assert.equal(decoded.details[0]?.typeUrl, 'type.googleapis.com/google.rpc.ErrorInfo');
  assert.equal((errorInfo.decode(decoded.details[0]?.value as Uint8Array) as unknown as { reason: string }).reason, 'INVALID_OTLP');
});

test('content types', () => {
  assert.equal(otlpEncodingOf('application/x-protobuf'), 'protobuf');
  assert.equal(otlpEncodingOf('Application/JSON; charset=utf-8'), 'json');
  assert.equal(otlpEncodingOf('text/plain'), undefined);
  assert.equal(otlpEncodingOf(undefined), undefined);
});

test('a table OTLP records do not fit is refused with SCHEMA_INCOMPATIBLE; its own definition and a widened one fit', () => {
  const own = parseTableDef(otelLogsTableDefinition('otel_logs'), 0);
  checkOtelLogsTable(own);
  checkOtelLogsTable({ ...own, fields: [...own.fields, { id: 99, name: 'team', type: 'string', required: false }] });
  const other = parseTableDef({ name: 'payments', shardKey: 'account', fields: [{ name: 'account', type: 'string', required: true }, { name: 'amount', type: 'decimal', required: true }] }, 0);
  assert.throws(
    () => checkOtelLogsTable(other),
    (err: unknown) => isSluiceError(err, 'SCHEMA_INCOMPATIBLE') && err.status === 409 && err.details.some((d) => d.path === '/fields/amount') && err.details.some((d) => d.path === '/shardKey'),
  );
  const retyped = { ...own, fields: own.fields.map((f) => (f.name === 'severity_number' ? { ...f, type: 'string' as const } : f)) };
  assert.throws(() => checkOtelLogsTable(retyped), (err: unknown) => isSluiceError(err, 'SCHEMA_INCOMPATIBLE') && err.details.length === 1);
});
