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
import { batchOfRecords } from '../../../src/cluster/repair/record-batches.ts';
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
