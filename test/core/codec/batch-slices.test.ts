import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { batchFromStored, subBatch, tableIdOfRecordKey } from '../../../src/core/codec/batch-slices.ts';
import { recordKey } from '../../../src/storage/index/key-layout.ts';

function stamped(): Buffer {
  const b = new RecordBatchBuilder(7, 2, 1234);
  const rows: [number, string, string | undefined, number][] = [
    [0, 'alpha', 'p1', 100],
    [3, 'béta', 'p2', -5],
    [0, 'alpha', 'p3', 50],
    [9, 'gamma', undefined, 7],
  ];
  for (const [shard, key, pk, time] of rows) b.add(shard, key, pk, time, encodeFields([key, time]));
  const buf = b.finish();
  const r = new RecordBatchReader(buf);
  let i = 0;
  while (r.next()) {
    r.id = 1000n + BigInt(i);
    r.version = 500n + BigInt(i++);
  }
  return buf;
}

function entries(batch: Buffer): { shard: number; key: string; pk: string | undefined; time: number; id: bigint; version: bigint; value: string }[] {
  const r = new RecordBatchReader(batch);
  const out = [];
  while (r.next()) out.push({ shard: r.shard, key: r.key, pk: r.pk, time: r.timeMs, id: r.id, version: r.version, value: r.value.toString('hex') });
  return out;
}

test('subBatch keeps exactly the chosen entries, byte for byte, with the table id', () => {
  const batch = stamped();
  const all = entries(batch);
  const part = subBatch(batch, [1, 3]);
  const reader = new RecordBatchReader(part);
  assert.equal(reader.tableId, 7);
  assert.equal(reader.count, 2);
  assert.deepEqual(entries(part), [all[1], all[3]]);
  assert.equal(subBatch(batch, [0, 1, 2, 3]), batch, 'all entries: the batch itself, no copy');
  assert.equal(new RecordBatchReader(subBatch(batch, [])).count, 0);
});

test('batchFromStored rebuilds entries from index record keys and stored values', () => {
  const batch = stamped();
  const r = new RecordBatchReader(batch);
  const stored = [];
  while (r.next()) {
    const rk = recordKey(r.shard, r.tableId, r.buf, r.keyOffset, r.keyLen, r.timeKeyOffset, r.idOffset);
    assert.equal(tableIdOfRecordKey(rk), 7);
    stored.push({ recordKey: rk, value: Buffer.from(r.value), ...(r.pk === undefined ? {} : { pk: r.pk }) });
  }
  const rebuilt = batchFromStored(7, stored);
  assert.deepEqual(entries(rebuilt), entries(batch));
  assert.equal(rebuilt.length, batch.length, 'same size as the original');
});
