/**
 * Batches rebuilt from wire records (anti-entropy, read repair) carry each
 * record's primary key, read back through the schema version it was stored
 * with. A node that lacks that version cannot read it: a batch built
 * without it would be stored as an append-only record beside the version
 * it replaced, so such a record is NOT_READY (repaired later), never
 * copied without its key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { TableEntry } from '../../../src/storage/catalog.ts';
import { batchOfRecords, batchesOfRecords, fetchedDedupeKeys } from '../../../src/cluster/repair/record-batches.ts';
import { KEY_BYTES_MAX_LIMIT } from '../../../src/config.ts';
import type { WireRecord } from '../../../src/cluster/transport/replica-messages.ts';
import { recordKey } from '../../../src/storage/index/key-layout.ts';

const V1 = parseTableDef({ name: 'pk', shardKey: 'k', primaryKey: 'p', fields: [{ name: 'k', type: 'string', required: true }, { name: 'p', type: 'string', required: true }] }, 0);
const ENTRY: TableEntry = { id: 7, name: 'pk', createdAtMs: 0, versions: [V1] };

/** One stored record of `schemaVersion` as a replica sends it: record key and value. */
function wireRecord(schemaVersion: number): WireRecord {
  const b = new RecordBatchBuilder(ENTRY.id, schemaVersion, 0);
  b.add(0, 'k1', 'P1', 1_000, encodeFields(['k1', 'P1']));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  r.next();
  r.id = 1n << 22n;
  r.version = 1n << 22n;
  return [recordKey(r.shard, ENTRY.id, buf, r.keyOffset, r.keyLen, r.timeKeyOffset, r.idOffset), Buffer.from(r.value)];
}

test('a record of a known schema version keeps its primary key in the rebuilt batch', () => {
  const rebuilt = new RecordBatchReader(batchOfRecords(ENTRY, [wireRecord(1)]));
  assert.ok(rebuilt.next());
  assert.equal(rebuilt.pk, 'P1');
});

test('a record of a schema version this node lacks is NOT_READY, not copied without its primary key', () => {
  assert.throws(() => batchOfRecords(ENTRY, [wireRecord(2)]), (err: unknown) => isSluiceError(err, 'NOT_READY'));
});

const PLAIN = parseTableDef({ name: 'plain', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, 0);
const PLAIN_ENTRY: TableEntry = { id: 8, name: 'plain', createdAtMs: 0, versions: [PLAIN] };

/** A stored record of the table without a primary key, as a replica sends it. */
function plainRecord(): WireRecord {
  const b = new RecordBatchBuilder(PLAIN_ENTRY.id, 1, 0);
  b.add(0, 'k1', undefined, 1_000, encodeFields(['k1']));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  r.next();
  r.id = 1n << 22n;
  r.version = 1n << 22n;
  return [recordKey(r.shard, PLAIN_ENTRY.id, buf, r.keyOffset, r.keyLen, r.timeKeyOffset, r.idOffset), Buffer.from(r.value)];
}

test('a record of a table without a primary key keeps the dedupe key it came with, and has none when it came without', () => {
  const rebuilt = new RecordBatchReader(batchOfRecords(PLAIN_ENTRY, [plainRecord(), plainRecord()], [Buffer.from('kafka:t:0:00000000000000000007'), null]));
  assert.ok(rebuilt.next());
  assert.equal(rebuilt.pk, 'kafka:t:0:00000000000000000007');
  assert.ok(rebuilt.next());
  assert.equal(rebuilt.pkLen, 0);
  const split = batchesOfRecords(() => PLAIN_ENTRY, [plainRecord()], 1024 * 1024, [Buffer.from('file:ab:0000000000000003')]);
  const one = new RecordBatchReader(split[0] as Buffer);
  assert.ok(one.next());
  assert.equal(one.pk, 'file:ab:0000000000000003');
});

test('a table with a primary key takes its key from the fields, whatever key came along', () => {
  const rebuilt = new RecordBatchReader(batchOfRecords(ENTRY, [wireRecord(1)], [Buffer.from('other')]));
  assert.ok(rebuilt.next());
  assert.equal(rebuilt.pk, 'P1');
});

test("a Fetch reply's dedupe keys are one per record and no longer than a key; a reply without them (an older replica) has none", () => {
  const records = [plainRecord(), plainRecord()];
  assert.equal(fetchedDedupeKeys({ records }), undefined);
  assert.deepEqual(fetchedDedupeKeys({ records, dedupeKeys: [null, Buffer.from('x1')] }), [null, Buffer.from('x1')]);
  const refused = (err: unknown): boolean => isSluiceError(err, 'REPLICA_PROTOCOL');
  assert.throws(() => fetchedDedupeKeys({ records, dedupeKeys: [null] }), refused);
  assert.throws(() => fetchedDedupeKeys({ records, dedupeKeys: [null, Buffer.alloc(0)] }), refused);
  assert.throws(() => fetchedDedupeKeys({ records, dedupeKeys: [null, Buffer.alloc(KEY_BYTES_MAX_LIMIT + 1, 0x61)] }), refused);
});
