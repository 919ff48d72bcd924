import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdBlockBuilder, findInIdBlock, idBlockKeyLastId } from '../../../src/storage/index/id-block.ts';
import { workerIdOfId } from '../../../src/core/snowflake.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { recordKey } from '../../../src/storage/index/key-layout.ts';

function frame(ids: readonly bigint[]): Buffer {
  const b = new RecordBatchBuilder(5, 1, 0);
  ids.forEach((_, i) => b.add(i % 7, `key-${i % 13}-é`, undefined, 1000 - i, Buffer.from([0x90])));
  const buf = b.finish();
  const r = new RecordBatchReader(buf);
  let i = 0;
  while (r.next()) r.id = ids[i++] as bigint;
  return buf;
}

test('every id of a block is found with the exact record key; others are not', () => {
  const ids = Array.from({ length: 777 }, (_, i) => (1n << 50n) + BigInt(i * 3));
  const buf = frame(ids);
  const builder = new IdBlockBuilder(5);
  const r = new RecordBatchReader(buf);
  const keys: Buffer[] = [];
  while (r.next()) {
    builder.add(buf, r.idOffset, r.shard, r.keyOffset, r.keyLen, r.timeKeyOffset);
    keys.push(recordKey(r.shard, 5, buf, r.keyOffset, r.keyLen, r.timeKeyOffset, r.idOffset));
  }
  const { key, value } = builder.finish();
  assert.equal(idBlockKeyLastId(key), ids.at(-1));
  assert.equal(key.readUInt16BE(1), workerIdOfId(ids.at(-1)!), 'keyed under the lane of its ids');
  ids.forEach((id, i) => {
    const hit = findInIdBlock(value, id);
    assert.equal(hit?.tableId, 5);
    assert.deepEqual(hit?.recordKey, keys[i]);
  });
  for (const missing of [0n, ids[0]! - 1n, ids[0]! + 1n, ids.at(-1)! + 1n]) assert.equal(findInIdBlock(value, missing), undefined);
});

test('ids out of order in a frame are a programmer error', () => {
  const buf = frame([5n, 4n]);
  const builder = new IdBlockBuilder(5);
  const r = new RecordBatchReader(buf);
  r.next();
  builder.add(buf, r.idOffset, r.shard, r.keyOffset, r.keyLen, r.timeKeyOffset);
  r.next();
  assert.throws(() => builder.add(buf, r.idOffset, r.shard, r.keyOffset, r.keyLen, r.timeKeyOffset));
});

test('the order check compares whole 64-bit ids: the high word first, then the low word; an equal id is out of order', () => {
  const add = (ids: bigint[]): void => {
    const buf = frame(ids);
    const builder = new IdBlockBuilder(5);
    const r = new RecordBatchReader(buf);
    while (r.next()) builder.add(buf, r.idOffset, r.shard, r.keyOffset, r.keyLen, r.timeKeyOffset);
  };
  const high = 1n << 40n;
  add([5n, high]);
  add([high + 4n, high + 5n]);
  assert.throws(() => add([high, 5n]), /increase/);
  assert.throws(() => add([high + 5n, high + 4n]), /increase/);
  assert.throws(() => add([high + 5n, high + 5n]), /increase/);
});
