/**
 * The pipeline's dead-letter step, in process over a real store (WAL and
 * index in a temp dir): letters are durable before the valid records, so a
 * failed letter write leaves nothing of the request; a table's letters land
 * on the same ids when a request with dedupe keys is sent again; and the
 * routes' `deadLetterRefused` stores what it is given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadLetterRefused } from '../../../src/api/http/dead-letter-refused.ts';
import { otelLogsTableDefinition } from '../../../src/api/http/protocols/otlp/otel-logs-table.ts';
import { readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields } from '../../../src/core/codec/fields-codec.ts';
import { otlpTypes } from '../../../src/ingest/formats/otlp/otlp-proto.ts';
import type { ApiContext } from '../../../src/api/http/api-context.ts';
import type { TableAdmin } from '../../../src/cluster/metadata/cluster-tables.ts';
import { SluiceError, isSluiceError } from '../../../src/core/errors.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { Admission } from '../../../src/ingest/admission.ts';
import { DecodePool } from '../../../src/ingest/decode-pool.ts';
import { IngestDoor } from '../../../src/ingest/ingest-door.ts';
import { IngestPipeline } from '../../../src/ingest/pipeline.ts';
import { TableRateLimiter } from '../../../src/ingest/table-rate-limiter.ts';
import type { Catalog } from '../../../src/storage/catalog.ts';
import { localNode } from '../../support/local-node.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

/** A copy of `content` that owns its memory, as a large HTTP body does: the decode pool transfers such a body to its worker unless told to keep it. */
function owningBody(content: string | Uint8Array): Buffer {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  const body = Buffer.from(new ArrayBuffer(bytes.length));
  body.set(bytes);
  return body;
}

async function setup(t: Owner, tables?: (catalog: Catalog) => TableAdmin, threads = 0) {
  const { config, catalog, coordinator } = await localNode(t, 4, 'sluice-dlq-pipeline-');
  // With threads, bodies from 1 KiB go to a worker (transferred there unless the caller keeps them).
  const pool = new DecodePool({ threads, workerBodyBytesMin: 1024, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const limiter = new TableRateLimiter({ share: () => 1, eventTimeAheadMsMax: config.eventTimeAheadMsMax });
  const pipeline = new IngestPipeline({ catalog, coordinator, pool, options: config, limiter, tables: tables === undefined ? catalog : tables(catalog) });
  const entry = await catalog.create(parseTableDef({ name: 'm', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'v', type: 'int' }] }, Date.now()), Date.now());
  const admission = new Admission({ inFlightBytesMax: config.inFlightBytesMax, inFlightRequestsMax: config.inFlightRequestsMax });
  const door = new IngestDoor(admission, () => pipeline);
  const count = async (table: string): Promise<number> => {
    const e = catalog.get(table);
    if (e === undefined) return 0;
    let n = 0;
    for await (const page of coordinator.scanTable(e)) n += page.length;
    return n;
  };
  return { catalog, pipeline, entry, door, admission, count, coordinator };
}

const body = Buffer.from('{"k":"a","v":1}\n{"k":"b","v":"x"}\n{"v":3}');

test('valid records and letters both stored; a failed letter write leaves nothing of the request', async (t) => {
  const ok = await setup(t);
  const result = await ok.door.write({ table: 'm', body, format: 'ndjson', onInvalid: 'dead_letter', source: 'test' }, ok.admission.tryAcquire(body.length)!);
  assert.equal(result.written, 1);
  assert.equal(result.deadLettered?.count, 2);
  assert.equal(await ok.count('m'), 1);
  assert.equal(await ok.count('m__dead_letters'), 2);

  // The letters' table cannot be made (etcd gone, say): the request fails whole, its valid record is not written.
  const failing = await setup(t, (catalog) => ({
    create: async () => {
      throw new SluiceError('NO_QUORUM', 'no etcd');
    },
    evolve: (name, f) => catalog.evolve(name, f),
    setLimits: (name, f) => catalog.setLimits(name, f),
    refresh: () => catalog.refresh(),
    refreshTable: (name) => catalog.refreshTable(name),
  }));
  await assert.rejects(
    failing.door.write({ table: 'm', body, format: 'ndjson', onInvalid: 'dead_letter' }, failing.admission.tryAcquire(body.length)!),
    (e) => isSluiceError(e, 'NO_QUORUM'),
  );
  assert.equal(await failing.count('m'), 0, 'nothing of the request was written');
  assert.equal(failing.admission.inFlightRequests, 0, 'the ticket was released');
});

test('a request re-sent with the same dedupe keys rewrites its letters, never adds', async (t) => {
  const s = await setup(t);
  for (let i = 0; i < 2; i++) {
    await s.door.write({ table: 'm', body, format: 'ndjson', onInvalid: 'dead_letter', dedupe: { prefix: 'file:', first: 0, digits: 16 } }, s.admission.tryAcquire(body.length)!);
  }
  assert.equal(await s.count('m'), 1);
  assert.equal(await s.count('m__dead_letters'), 2);
});

test("deadLetterRefused stores records refused before the pipeline, and answers OVERLOADED when the node is full", async (t) => {
  const s = await setup(t);
  const ctx = { services: () => ({ pipeline: s.pipeline, catalog: s.catalog }), door: s.door } as unknown as ApiContext;
  const ack = await deadLetterRefused(ctx, 'm', 'otlp', [{ raw: Buffer.from([1, 2, 3]), rawFormat: 'protobuf', code: 'INVALID_ARGUMENT', message: 'no body', index: 4 }], 'req-1');
  assert.equal(ack.table, 'm__dead_letters');
  assert.equal(await s.count('m__dead_letters'), 1);
  const held = [];
  for (let ticket = s.admission.tryAcquire(1); ticket !== undefined; ticket = s.admission.tryAcquire(1)) held.push(ticket);
  await assert.rejects(deadLetterRefused(ctx, 'm', 'otlp', [{ raw: Buffer.from('x'), code: 'X', message: 'y' }]), (e) => isSluiceError(e, 'OVERLOADED'));
  for (const h of held) h.release();
  await assert.rejects(deadLetterRefused(ctx, 'm__dead_letters', 'otlp', [{ raw: Buffer.from('x'), code: 'X', message: 'y' }]), (e) => isSluiceError(e, 'INVALID_ARGUMENT'));
});

test('a body decoded in a worker thread is still there to cut letters from (copied, not transferred)', async (t) => {
  const s = await setup(t, undefined, 1);
  const lines = Array.from({ length: 400 }, (_, i) => (i % 100 === 7 ? `{"k":"bad-${i}","v":"not an int ${i}"}` : `{"k":"k${i}","v":${i}}`));
  const text = lines.join('\n');
  const big = owningBody(text);
  assert.ok(big.length > 4096);
  const result = await s.door.write({ table: 'm', body: big, format: 'ndjson', onInvalid: 'dead_letter' }, s.admission.tryAcquire(big.length)!);
  assert.equal(result.written, 396);
  assert.equal(result.deadLettered?.count, 4);
  const e = s.catalog.get('m__dead_letters');
  assert.ok(e !== undefined);
  assert.equal(await s.count('m__dead_letters'), 4);
  assert.equal(big.toString(), text, 'the caller still holds its body');
});

test('keepBody: a framed body decoded in a worker thread with onInvalid skip is still whole afterwards, and can be written again', async (t) => {
  // The Kafka source's shape: message values back to back, refusals skipped, its own dead letters cut from the body after the write.
  const s = await setup(t, undefined, 1);
  const values = Array.from({ length: 300 }, (_, i) => (i % 50 === 3 ? `{"k":"bad-${i}","v":"nope"}` : `{"k":"k${i}","v":${i}}`));
  const text = values.join('');
  const body = owningBody(text);
  const frames = Uint32Array.from(values.map((v) => Buffer.byteLength(v)));
  const dedupe = { prefix: 'kafka:t:0:', first: 0, digits: 20 };
  const write = () => s.door.write({ table: 'm', body, format: 'json', frames, dedupe, onInvalid: 'skip', keepBody: true }, s.admission.tryAcquire(body.length)!);
  const first = await write();
  assert.equal(first.written, 294);
  assert.equal(body.toString(), text, 'the caller still holds its body');
  // A retry of the same batch (as after a failure past the decode step) sends the same records: deduplicated, nothing refused anew.
  const again = await write();
  assert.equal(again.written, 294);
  assert.equal(again.rejectedCount, 6);
  assert.equal(await s.count('m'), 294);
});

test("an OTLP body: the table's refusals are dead-lettered as their records' JSON, the decoder's come back as `decoded`", async (t) => {
  // Decoded in a worker thread (the body is transferred there: its letters cannot be cut from it afterwards).
  const s = await setup(t, undefined, 1);
  await s.catalog.create(parseTableDef(otelLogsTableDefinition('logs'), Date.now()), Date.now());
  const service = (name: string) => ({ attributes: [{ key: 'service.name', value: { stringValue: name } }] });
  const records = (n: number, extra: Record<string, unknown> = {}) => Array.from({ length: n }, (_, i) => ({ timeUnixNano: String(1_764_000_000_000_000_000n + BigInt(i)), body: { stringValue: `line ${i}` }, ...extra }));
  const type = otlpTypes().request;
  const request = {
    resourceLogs: [
      { resource: service('ok'), scopeLogs: [{ logRecords: [...records(30), ...records(1, { traceId: Buffer.alloc(5, 1) })] }] },
      // A service.name past the node's key limit (1 KiB): the table refuses the record (KEY_TOO_LARGE).
      { resource: service('s'.repeat(1100)), scopeLogs: [{ logRecords: records(1) }] },
    ],
  };
  const proto = type.encode(type.fromObject(request)).finish();
  const body = owningBody(proto);
  assert.ok(body.length > 1024, 'large enough for a worker');
  const result = await s.door.write({ table: 'logs', body, format: 'json', otlp: { encoding: 'protobuf', recordsBytesMax: 1 << 20, workingSetBytes: body.length * 8 }, onInvalid: 'dead_letter', source: 'otlp' }, s.admission.tryAcquire(body.length)!);
  assert.equal(result.written, 30);
  assert.deepEqual([result.decoded?.total, result.decoded?.rejected.map((r) => [r.index, r.code, r.path])], [32, [[30, 'FORMAT', '/traceId']]]);
  // The table's numbering: record 30 of the 31 it saw is request record 31.
  assert.deepEqual([result.rejectedCount, result.rejected?.[0]?.index, result.decoded?.positions[30]], [1, 30, 31]);
  assert.equal(result.deadLettered?.count, 1);
  const letters = s.catalog.get('logs__dead_letters');
  assert.ok(letters !== undefined);
  const rows: unknown[][] = [];
  for await (const page of s.coordinator.scanTable(letters)) for (const r of page) rows.push(decodeFields(readStoredValue(r.value).fields));
  assert.equal(rows.length, 1);
  const [, table, raw, rawFormat, code] = rows[0] as [string, string, Uint8Array, string, string];
  assert.deepEqual([table, rawFormat, code], ['logs', 'json', 'KEY_TOO_LARGE']);
  const letter = JSON.parse(Buffer.from(raw).toString('utf8')) as Record<string, unknown>;
  assert.deepEqual([letter['service_name'], letter['body'], letter['time_unix_nano']], ['s'.repeat(1100), 'line 0', '1764000000000000000']);
  assert.equal(s.admission.inFlightBytes, 0, 'the ticket was released');
});

test('a create that lost the race to another node waits for the catalog to learn the table', async (t) => {
  // As in a cluster: etcd says the table exists, this node's watch delivers it a moment later.
  const s = await setup(t, (catalog) => ({
    create: async (def, nowMs) => {
      setTimeout(() => void catalog.create(def, nowMs), 50);
      throw new SluiceError('TABLE_EXISTS', `table ${def.name} exists`);
    },
    evolve: (name, f) => catalog.evolve(name, f),
    setLimits: (name, f) => catalog.setLimits(name, f),
    refresh: () => catalog.refresh(),
    refreshTable: (name) => catalog.refreshTable(name),
  }));
  const result = await s.door.write({ table: 'm', body, format: 'ndjson', onInvalid: 'dead_letter' }, s.admission.tryAcquire(body.length)!);
  assert.equal(result.deadLettered?.count, 2);
  assert.equal(await s.count('m__dead_letters'), 2);
});

test("a write refused for the table's rate leaves no dead letters behind", async (t) => {
  const s = await setup(t);
  await s.catalog.setLimits('m', () => ({ recordsPerSecond: 1, recordsBurst: 2 }));
  const first = Buffer.from('{"k":"a","v":1}\n{"k":"b","v":2}');
  await s.door.write({ table: 'm', body: first, format: 'ndjson', onInvalid: 'dead_letter' }, s.admission.tryAcquire(first.length)!);
  // The burst is spent: the next write is refused for the rate, and its refused record is not kept either.
  const next = Buffer.from('{"k":"c","v":3}\n{"k":"d","v":"x"}');
  await assert.rejects(
    s.door.write({ table: 'm', body: next, format: 'ndjson', onInvalid: 'dead_letter' }, s.admission.tryAcquire(next.length)!),
    (e) => isSluiceError(e, 'RATE_LIMITED'),
  );
  assert.equal(await s.count('m__dead_letters'), 0);
  assert.equal(await s.count('m'), 2);
});
