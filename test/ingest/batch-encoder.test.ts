import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/ingest/batch-encoder.ts';
import { compileSchema } from '../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { RecordBatchReader, readStoredValue } from '../../src/core/codec/record-batch-v1.ts';
import { decodeFields } from '../../src/core/codec/fields-codec.ts';
import { shardOf } from '../../src/core/murmur3.ts';

const def = parseTableDef(
  {
    name: 'payments',
    shardKey: 'account_id',
    timeField: 'ts',
    primaryKey: 'txn_id',
    fields: [
      { name: 'account_id', type: 'string', required: true },
      { name: 'txn_id', type: 'string', required: true },
      { name: 'amount', type: 'decimal', required: true },
      { name: 'ts', type: 'timestamp', required: true },
    ],
  },
  0,
);
const schema = compileSchema(def);
const ctx = { tableId: 9, shards: 16, nowMs: 1_000, keyBytesMax: 16, errorDetailsMax: 3 };

test('valid records become batch entries routed by murmur3 of the shard key', () => {
  const records = [
    { account_id: 'a', txn_id: 't1', amount: '1.50', ts: 5000 },
    { account_id: 'ü-b', txn_id: 't2', amount: '2', ts: '1970-01-01T00:00:01Z' },
  ];
  const out = encodeBatch(records, schema, ctx);
  assert.equal(out.count, 2);
  assert.equal(out.rejectedCount, 0);
  assert.equal(out.positions, undefined);
  const r = new RecordBatchReader(out.batch);
  assert.equal(r.tableId, 9);
  assert.ok(r.next());
  assert.equal(r.key, 'a');
  assert.equal(r.pk, 't1');
  assert.equal(r.shard, shardOf('a', 16));
  assert.equal(r.timeMs, 5000);
  assert.deepEqual(decodeFields(readStoredValue(r.value).fields), ['a', 't1', '1.50', 5000]);
  assert.ok(r.next());
  assert.equal(r.shard, shardOf('ü-b', 16));
  assert.equal(r.timeMs, 1000);
  assert.equal(readStoredValue(r.value).ingestedAtMs, 1000);
  assert.ok(!r.next());
});

test('invalid records are listed by index and path; positions map the valid ones back', () => {
  const records = [
    { account_id: 'a', txn_id: 't1', amount: '1', ts: 1 },
    { account_id: 'a', txn_id: 't2', amount: 1.5, ts: 1 },
    { account_id: 'x'.repeat(17), txn_id: 't3', amount: '1', ts: 1 },
    { account_id: 'a', txn_id: 't4', amount: '1', ts: 1 },
    'not an object',
  ];
  const out = encodeBatch(records, schema, ctx);
  assert.equal(out.count, 2);
  assert.equal(out.total, 5);
  assert.equal(out.rejectedCount, 3);
  assert.deepEqual(
    out.rejected.map((r) => [r.index, r.code, r.path]),
    [
      [1, 'TYPE', '/amount'],
      [2, 'KEY_TOO_LARGE', '/account_id'],
      [4, out.rejected[2]?.code, out.rejected[2]?.path],
    ],
  );
  assert.deepEqual([...(out.positions ?? [])], [0, 3]);
});

test('the detail list is bounded but every rejected record is counted', () => {
  const records = Array.from({ length: 50 }, () => ({ account_id: 1, txn_id: 2, amount: 3, ts: 'x' }));
  const out = encodeBatch(records, schema, ctx);
  assert.equal(out.rejectedCount, 50);
  assert.equal(out.rejected.length, 3);
  assert.equal(out.count, 0);
});

test('event times past the bound are rejected per record with EVENT_TIME_IN_FUTURE, and counted', () => {
  const future = { ...ctx, nowMs: 1_000_000, eventTimeMaxMs: 1_000_000 + 3_600_000 };
  const records = [
    { account_id: 'a', txn_id: 't1', amount: '1', ts: 1_000_000 + 3_600_000 },
    { account_id: 'a', txn_id: 't2', amount: '1', ts: 1_000_000 + 3_600_001 },
    { account_id: 'a', txn_id: 't3', amount: '1', ts: 0 },
    { account_id: 'a', txn_id: 't4', amount: 'x', ts: 9e12 },
  ];
  const out = encodeBatch(records, schema, future);
  assert.equal(out.count, 2);
  assert.equal(out.rejectedCount, 2);
  assert.equal(out.futureCount, 2, 'a record with a future time and another problem counts as future too');
  assert.deepEqual(
    out.rejected.map((r) => `${r.index} ${r.path} ${r.code}`),
    ['1 /ts EVENT_TIME_IN_FUTURE', '3 /amount FORMAT', '3 /ts EVENT_TIME_IN_FUTURE'],
  );
  assert.deepEqual([...(out.positions ?? [])], [0, 2]);
  assert.equal(encodeBatch(records.slice(1, 2), schema, ctx).count, 1, 'no bound in the context: no check');
});

test('json values and kept extras named "constructor" and "toJSON" are stored, not a crash', async () => {
  const { EVENTS_TABLE } = await import('../../src/core/schema/parse-table-def.ts');
  const events = compileSchema(EVENTS_TABLE);
  const records = [JSON.parse('{"trace_id":"t1","constructor":1,"toJSON":1}'), JSON.parse('{"trace_id":"t2","x":{"constructor":{},"toJSON":"y"}}')];
  const out = encodeBatch(records, events, ctx);
  assert.equal(out.count, 2);
  const r = new RecordBatchReader(out.batch);
  assert.ok(r.next());
  assert.deepEqual(decodeFields(readStoredValue(r.value).fields), ['t1', { constructor: 1, toJSON: 1 }]);
  assert.ok(r.next());
  assert.deepEqual(decodeFields(readStoredValue(r.value).fields), ['t2', { x: { constructor: {}, toJSON: 'y' } }]);
});
