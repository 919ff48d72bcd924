/**
 * The Loki decode pool: a push past `workerBodyBytesMin` is decoded in a
 * worker thread (its records come back whole, its errors with their codes
 * and paths), a smaller one inline; both give the same records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { isSluiceError } from '../../../../src/core/errors.ts';
import { LokiDecodePool } from '../../../../src/api/http/protocols/loki/loki-decode-pool.ts';

const require = createRequire(import.meta.url);
const snappy = require('snappy') as { compressSync(b: Uint8Array): Buffer };
const { logproto } = require('winston-loki/src/proto/index.js') as {
  logproto: { PushRequest: { encode(m: unknown): { finish(): Uint8Array }; create(m: unknown): unknown } };
};
const MiB = 1024 * 1024;

function protoPush(entries: number): Buffer {
  const stream = { labels: '{app="pool",level="info"}', entries: Array.from({ length: entries }, (_, i) => ({ timestamp: { seconds: 1_764_000_000 + i, nanos: i }, line: `line ${i}` })) };
  return snappy.compressSync(logproto.PushRequest.encode(logproto.PushRequest.create({ streams: [stream] })).finish());
}

test('a large push is decoded in a worker thread, a small one inline, to the same records', async (t) => {
  const pool = new LokiDecodePool({ threads: 1, workerBodyBytesMin: 1024, workerHeapMbMax: 128, idleTimeoutMs: 1000 });
  t.after(() => pool.close());
  const big = protoPush(5000);
  assert.ok(big.length >= 1024);
  const inWorker = await pool.decode({ body: Buffer.from(big), encoding: 'protobuf', bytesMax: 16 * MiB });
  const inline = await new LokiDecodePool({ threads: 0, workerBodyBytesMin: 1024, workerHeapMbMax: 128, idleTimeoutMs: 1000 }).decode({ body: big, encoding: 'protobuf', bytesMax: 16 * MiB });
  assert.equal(inWorker.count, 5000);
  assert.ok(inWorker.decodedBytes > big.length);
  assert.deepEqual(Buffer.from(inWorker.records), Buffer.from(inline.records));
  const rows = JSON.parse(Buffer.from(inWorker.records).toString()) as { stream: string; ts_ns: string; line: string }[];
  assert.deepEqual(rows[4999], { stream: '{app="pool", level="info"}', labels: { app: 'pool', level: 'info' }, ts: 1_764_004_999_000, ts_ns: '1764004999000004999', line: 'line 4999', structured_metadata: {} });
  const small = await pool.decode({ body: Buffer.from('{"streams":[{"stream":{"a":"b"},"values":[["5","x"]]}]}'), encoding: 'json', bytesMax: MiB });
  assert.equal(small.count, 1);
});

test('errors from the worker keep their code, message and path', async (t) => {
  const pool = new LokiDecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: 128, idleTimeoutMs: 1000 });
  t.after(() => pool.close());
  await assert.rejects(pool.decode({ body: Buffer.from('{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}'), encoding: 'json', bytesMax: MiB }), (err: unknown) => {
    assert.ok(isSluiceError(err, 'BAD_REQUEST'));
    assert.equal(err.details[0]?.path, '/streams/0/values/0/0');
    return true;
  });
  await assert.rejects(pool.decode({ body: protoPush(10), encoding: 'protobuf', bytesMax: 10 }), (err: unknown) => isSluiceError(err, 'PAYLOAD_TOO_LARGE'));
  await assert.rejects(pool.decode({ body: Buffer.from('nope'), encoding: 'protobuf', bytesMax: MiB }), (err: unknown) => isSluiceError(err, 'INVALID_SNAPPY'));
});

/** A protobuf length prefix. */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** `count` copies of `message`. */
function repeated(message: readonly number[], count: number): Buffer {
  const out = Buffer.alloc(count * message.length);
  for (let i = 0; i < count; i++) out.set(message, i * message.length);
  return out;
}

test('a push of millions of tiny messages is refused 413, not decoded until the worker runs out of heap', async (t) => {
  const bytesMax = 4 * MiB;
  // The worker heap as loki-routes.ts sizes it for this body limit.
  const pool = new LokiDecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: Math.ceil((bytesMax * 12) / MiB) + 64, idleTimeoutMs: 1000 });
  t.after(() => pool.close());
  // One stream {a="b"} of entries of 6 bytes each: a timestamp of 1 s and no line.
  const entries = repeated([0x12, 0x04, 0x0a, 0x02, 0x08, 0x01], Math.floor((bytesMax - 64) / 6));
  const stream = Buffer.concat([Buffer.from([0x0a, 7]), Buffer.from('{a="b"}'), entries]);
  const manyEntries = Buffer.concat([Buffer.from([0x0a, ...varint(stream.length)]), stream]);
  // Streams of 2 bytes each: no labels, no entries.
  const manyStreams = repeated([0x0a, 0x00], Math.floor((bytesMax - 64) / 2));
  for (const push of [manyEntries, manyStreams]) {
    // Snappy takes either to about 200 KB.
    await assert.rejects(pool.decode({ body: snappy.compressSync(push), encoding: 'protobuf', bytesMax }), (err: unknown) => {
      assert.ok(isSluiceError(err, 'PAYLOAD_TOO_LARGE'), String(err));
      return true;
    });
  }
});

test('a JSON push of the default 16 MiB limit made of empty objects is refused 413 before JSON.parse builds them', async (t) => {
  const bytesMax = 16 * MiB;
  // Its parse tree, 56 bytes of heap per 3-byte `{},`, outgrows the worker heap loki-routes.ts gives this limit.
  const pool = new LokiDecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: Math.ceil((bytesMax * 12) / MiB) + 64, idleTimeoutMs: 1000 });
  t.after(() => pool.close());
  const objects = Buffer.from(`{"streams":[${'{},'.repeat(Math.floor(bytesMax / 3) - 20)}{}]}`);
  await assert.rejects(pool.decode({ body: objects, encoding: 'json', bytesMax }), (err: unknown) => {
    assert.ok(isSluiceError(err, 'PAYLOAD_TOO_LARGE'), String(err));
    return true;
  });
});
