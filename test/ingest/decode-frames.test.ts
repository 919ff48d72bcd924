import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrames } from '../../src/ingest/decode-frames.ts';
import { encodeBatch, UnparsedRecord } from '../../src/ingest/batch-encoder.ts';
import { compileSchema } from '../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';

function framed(texts: (string | Buffer)[]): { body: Buffer; frames: Uint32Array } {
  const parts = texts.map((t) => (typeof t === 'string' ? Buffer.from(t) : t));
  return { body: Buffer.concat(parts), frames: Uint32Array.from(parts.map((p) => p.length)) };
}

const schema = compileSchema(
  parseTableDef({ name: 'm', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'v', type: 'int' }] }, 0),
);
const ctx = { tableId: 3, shards: 8, nowMs: 1_000, keyBytesMax: 64, errorDetailsMax: 10 };

test('frames parse one by one; a bad frame is an UnparsedRecord, not a failure of its neighbours', () => {
  // A pretty-printed value with newlines is one record, which NDJSON framing would break apart.
  const { body, frames } = framed(['{"k":"a","v":1}', '{\n "k": "b"\n}', 'not json', Buffer.from([0xff, 0xfe]), '']);
  const records = decodeFrames(body, frames);
  assert.deepEqual(records.slice(0, 2), [{ k: 'a', v: 1 }, { k: 'b' }]);
  assert.ok(records[2] instanceof UnparsedRecord && /not valid JSON/.test(records[2].message));
  assert.ok(records[3] instanceof UnparsedRecord && /UTF-8/.test(records[3].message));
  assert.ok(records[4] instanceof UnparsedRecord && /empty/.test(records[4].message));
  assert.throws(() => decodeFrames(body, Uint32Array.from([body.length + 1])), /past the body/);
});

test('unparsed records are rejected with INVALID_JSON at their index; dedupe keys land in the key slot', () => {
  const { body, frames } = framed(['{"k":"a","v":1}', '{oops', '{"k":"c","v":"x"}', '{"k":"d"}']);
  const out = encodeBatch(decodeFrames(body, frames), schema, { ...ctx, dedupe: { prefixes: ['t/0/', 't/1/'], prefixIndex: Uint16Array.from([0, 0, 1, 1]), numbers: Float64Array.from([10, 11, 12, 13]), digits: 4 } });
  assert.equal(out.count, 2);
  assert.equal(out.keyed, true);
  assert.deepEqual(out.rejected[0], { index: 1, code: 'INVALID_JSON', path: '', message: out.rejected[0]?.message });
  assert.equal(out.rejected[1]?.index, 2);
  assert.equal(out.rejected[1]?.path, '/v');
  assert.equal(out.rejectedCount, 2);
  assert.deepEqual([...(out.positions ?? [])], [0, 3]);
  const r = new RecordBatchReader(out.batch);
  const pks: (string | undefined)[] = [];
  while (r.next()) pks.push(r.pk);
  assert.deepEqual(pks, ['t/0/0010', 't/1/0013']);
});

test('prefix dedupe keys number the request records; without keys the batch is not keyed', () => {
  const records = [{ k: 'a' }, { k: 'b' }];
  const keyed = encodeBatch(records, schema, { ...ctx, dedupe: { prefix: 'file:9:', first: 100 } });
  const r = new RecordBatchReader(keyed.batch);
  const pks: (string | undefined)[] = [];
  while (r.next()) pks.push(r.pk);
  assert.deepEqual(pks, ['file:9:100', 'file:9:101']);
  assert.equal(encodeBatch(records, schema, ctx).keyed, false);
});
