/**
 * The pipeline's OTLP decode task (encode-otlp.ts through DecodePool): one
 * task decodes, maps, validates and encodes; a worker thread and inline
 * give the same batch; the decoder's refusals and the table's come back in
 * their two numberings; a refused record's JSON comes back for its dead
 * letter; a body refused whole keeps its code across the thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { isSluiceError } from '../../../../src/core/errors.ts';
import { parseTableDef } from '../../../../src/core/schema/parse-table-def.ts';
import { DecodePool } from '../../../../src/ingest/decode-pool.ts';
import type { DecodeTask } from '../../../../src/ingest/decode-worker.ts';
import type { OtlpBodyOptions } from '../../../../src/ingest/formats/otlp/encode-otlp.ts';
import { otelLogsTableDefinition } from '../../../../src/api/http/protocols/otlp/otel-logs-table.ts';
import { sdkLogRecords } from '../../../api/http/protocols/otlp-sdk-records.ts';

const NOW_MS = 1_800_000_000_000;
const CTX = { tableId: 7, shards: 8, nowMs: NOW_MS, keyBytesMax: 64, errorDetailsMax: 100 };
const OTEL_DEF = parseTableDef(otelLogsTableDefinition('otel_logs'), 0);
/** The OTLP table with `body` narrowed to a string: a record whose body is a map is refused by the table, not the decoder. */
const STRING_BODY_DEF = parseTableDef({ ...otelLogsTableDefinition('strict_logs'), fields: (otelLogsTableDefinition('x')['fields'] as { name: string }[]).map((f) => (f.name === 'body' ? { ...f, type: 'string' } : f)) }, 0);

function task(body: Uint8Array, otlp: Partial<OtlpBodyOptions> & Pick<OtlpBodyOptions, 'encoding'>, def = OTEL_DEF): DecodeTask {
  // Compiled schemas are cached per table id and version: each definition here has an id of its own.
  return { body, format: 'json', otlp: { recordsBytesMax: 1 << 20, ...otlp }, def, ctx: { ...CTX, tableId: def === OTEL_DEF ? 7 : 8 }, jsonDepthMax: 32 };
}

/** A JSON request of one resource (service `svc`) holding `records`. */
function jsonRequest(records: unknown[]): Buffer {
  return Buffer.from(JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeLogs: [{ logRecords: records }] }] }));
}

test('worker and inline make the same batch from SDK bodies, protobuf and JSON', async (t) => {
  const inWorker = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: 64 });
  const inline = new DecodePool({ threads: 0, workerBodyBytesMin: 0, workerHeapMbMax: 64 });
  t.after(() => inWorker.close());
  const sdk = await sdkLogRecords();
  const bodies = { protobuf: () => Buffer.from(ProtobufLogsSerializer.serializeRequest(sdk) as Uint8Array), json: () => Buffer.from(JsonLogsSerializer.serializeRequest(sdk) as Uint8Array) };
  const batches: Buffer[] = [];
  for (const encoding of ['protobuf', 'json'] as const) {
    const a = await inWorker.decode(task(bodies[encoding](), { encoding }));
    const b = await inline.decode(task(bodies[encoding](), { encoding }));
    assert.deepEqual(Buffer.from(a.batch), Buffer.from(b.batch));
    assert.equal(a.count, 3);
    assert.deepEqual([...(a.decoded?.positions ?? [])], [0, 1, 2]);
    assert.deepEqual(a.decoded?.rejected, []);
    assert.equal(a.decoded?.total, 3);
    batches.push(Buffer.from(a.batch));
  }
  assert.deepEqual(batches[0], batches[1], 'protobuf and JSON make the same records');
});

test("the decoder's refusals and the table's, each in its numbering, and the refused record's JSON for its letter", async () => {
  const pool = new DecodePool({ threads: 0, workerBodyBytesMin: 0, workerHeapMbMax: 64 });
  const records = [
    { timeUnixNano: '1764000000000000001', body: { stringValue: 'kept 0' } },
    { timeUnixNano: '1764000000000000002', body: { stringValue: 'bad id' }, traceId: 'not-hex' },
    { timeUnixNano: '1764000000000000003', body: { stringValue: 'kept 2' } },
    { timeUnixNano: '1764000000000000004', body: { kvlistValue: { values: [{ key: 'a', value: { intValue: '1' } }] } } },
  ];
  const encoded = await pool.decode(task(jsonRequest(records), { encoding: 'json', letters: true }, STRING_BODY_DEF));
  assert.equal(encoded.count, 2);
  assert.deepEqual(encoded.decoded?.rejected, [{ index: 1, code: 'FORMAT', path: '/traceId', message: 'expected 32 hex digits' }]);
  assert.deepEqual([...(encoded.decoded?.positions ?? [])], [0, 2, 3], 'request index of each record validated');
  assert.equal(encoded.decoded?.total, 4);
  // The table's numbering: record 2 of the three validated is request record 3.
  assert.equal(encoded.total, 3);
  assert.equal(encoded.rejectedCount, 1);
  assert.deepEqual([encoded.rejected[0]?.index, encoded.rejected[0]?.path], [2, '/body']);
  assert.deepEqual([...(encoded.positions ?? [])], [0, 1]);
  assert.equal(encoded.refusedRaw?.length, 1);
  const letter = JSON.parse(Buffer.from(encoded.refusedRaw?.[0] ?? []).toString('utf8')) as Record<string, unknown>;
  assert.deepEqual([letter['service_name'], letter['time_unix_nano'], letter['body']], ['svc', '1764000000000000004', { a: 1 }]);
  // Without `letters`, no JSON is made.
  const plain = await pool.decode(task(jsonRequest(records), { encoding: 'json' }, STRING_BODY_DEF));
  assert.equal(plain.refusedRaw, undefined);
});

test('a body refused whole keeps its code across the thread; records past the body limit are 413', async (t) => {
  const pool = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const refusedAs = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (err: unknown) => err);
  const garbage = await refusedAs(pool.decode(task(Buffer.from('not protobuf at all'), { encoding: 'protobuf' })));
  assert.ok(isSluiceError(garbage, 'INVALID_PROTOBUF') && garbage.status === 400, String(garbage));
  const shape = await refusedAs(pool.decode(task(Buffer.from('{"resourceLogs": {"not": "an array"}}'), { encoding: 'json' })));
  assert.ok(isSluiceError(shape, 'INVALID_OTLP'), String(shape));
  // Empty log records are 2 bytes each on the wire and far more as records.
  const empties = Buffer.from(JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: Array.from({ length: 200 }, () => ({})) }] }] }));
  const tooBig = await refusedAs(pool.decode(task(empties, { encoding: 'json', recordsBytesMax: 4096 })));
  assert.ok(isSluiceError(tooBig, 'PAYLOAD_TOO_LARGE') && tooBig.status === 413, String(tooBig));
  const fits = await pool.decode(task(Buffer.from(JSON.stringify({ resourceLogs: [] })), { encoding: 'json' }));
  assert.deepEqual([fits.count, fits.total, fits.decoded?.total], [0, 0, 0], 'an empty request is no records, not an error');
});

/** A protobuf length prefix. */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** `count` copies of the two bytes `[tag, 0]`: empty messages of one repeated field. */
function emptyMessages(tag: number, count: number): Buffer {
  const out = Buffer.alloc(count * 2);
  for (let i = 0; i < count; i++) out[2 * i] = tag;
  return out;
}

test('a body of millions of empty log records is refused 413 before their entries outgrow the worker heap', async (t) => {
  const MiB = 1024 * 1024;
  const bodyBytesMax = 4 * MiB;
  // The decode pool's heap as sluice-node.ts sizes it for this body limit.
  const pool = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: Math.ceil((bodyBytesMax * 12) / MiB) + 64 });
  t.after(() => pool.close());
  const refusedAs = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (err: unknown) => err);
  const n = bodyBytesMax / 2 - 16;
  // An empty LogRecord is 2 bytes on the wire (tag 0x12, length 0): 2M of them in one ScopeLogs.
  const scope = Buffer.concat([Buffer.from([0x12, ...varint(2 * n)]), emptyMessages(0x12, n)]);
  const records = Buffer.concat([Buffer.from([0x0a, ...varint(scope.length)]), scope]);
  const proto = await refusedAs(pool.decode(task(records, { encoding: 'protobuf', recordsBytesMax: bodyBytesMax })));
  assert.ok(isSluiceError(proto, 'PAYLOAD_TOO_LARGE'), String(proto));
  // 2M empty ResourceLogs hold no record: nothing to write, and no list of where each one starts.
  const resources = await pool.decode(task(emptyMessages(0x0a, n), { encoding: 'protobuf', recordsBytesMax: bodyBytesMax }));
  assert.deepEqual([resources.count, resources.decoded?.total], [0, 0]);
  // The same in JSON: `{},` is 3 bytes a record.
  const json = Buffer.from(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[${'{},'.repeat(Math.floor(bodyBytesMax / 3) - 40)}{}]}]}]}`);
  const parsed = await refusedAs(pool.decode(task(json, { encoding: 'json', recordsBytesMax: bodyBytesMax })));
  assert.ok(isSluiceError(parsed, 'PAYLOAD_TOO_LARGE'), String(parsed));
});

test('JSON: a body of the default limit made of empty objects is refused 413 before JSON.parse builds them', async (t) => {
  const MiB = 1024 * 1024;
  // The default limit: its parse tree, 56 bytes of heap per 3-byte `{},`, outgrows the worker heap sluice-node.ts gives it.
  const bodyBytesMax = 16 * MiB;
  const pool = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: Math.ceil((bodyBytesMax * 12) / MiB) + 64 });
  t.after(() => pool.close());
  const objects = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[${'{},'.repeat(Math.floor(bodyBytesMax / 3) - 40)}{}]}]}]}`;
  const refused = await pool.decode(task(Buffer.from(objects), { encoding: 'json', recordsBytesMax: bodyBytesMax })).then(() => undefined, (err: unknown) => err);
  assert.ok(isSluiceError(refused, 'PAYLOAD_TOO_LARGE'), String(refused));
});
