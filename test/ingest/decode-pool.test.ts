/**
 * The decode pool's `onStart`: it runs when a task starts (inline at once,
 * in a worker once a thread is free), not while the task waits for a
 * thread; when it throws, the task does not run and the thread goes on to
 * the next one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { DecodePool } from '../../src/ingest/decode-pool.ts';
import type { DecodeTask } from '../../src/ingest/decode-worker.ts';

const DEF = parseTableDef({ name: 'm', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, 0);

function task(records: number): DecodeTask {
  const body = Buffer.from(Array.from({ length: records }, (_, i) => `{"k":"k${i}"}`).join('\n'));
  return { body, format: 'ndjson', def: DEF, ctx: { tableId: 1, shards: 4, nowMs: 0, keyBytesMax: 64, errorDetailsMax: 10 }, jsonDepthMax: 8 };
}

test('onStart runs when a thread takes the task, not while it waits for one', async (t) => {
  const pool = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const starts: string[] = [];
  const a = pool.decode(task(2000), { onStart: () => starts.push('a') });
  const b = pool.decode(task(10), { onStart: () => starts.push('b') });
  await tick();
  assert.deepEqual(starts, ['a'], 'b waits for the one thread');
  assert.equal((await a).count, 2000);
  assert.equal((await b).count, 10);
  assert.deepEqual(starts, ['a', 'b']);
});

test('an onStart that throws keeps its task from running; the next task gets the thread', async (t) => {
  const pool = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const refused = pool.decode(task(5), {
    onStart: () => {
      throw new Error('no room');
    },
  });
  await assert.rejects(refused, /no room/);
  assert.equal((await pool.decode(task(5))).count, 5);
  const inline = new DecodePool({ threads: 0, workerBodyBytesMin: 0, workerHeapMbMax: 64 });
  let started = false;
  assert.equal((await inline.decode(task(3), { onStart: () => (started = true) })).count, 3);
  assert.ok(started, 'inline too');
});

test('a JSON body within the body limit made of empty objects is refused 413 before JSON.parse outgrows the worker heap', async (t) => {
  const MiB = 2 ** 20;
  const bytesMax = 16 * MiB;
  // The heap sluice-node.ts gives the decode workers at the default 16 MiB limit.
  const pool = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: Math.ceil((bytesMax * 12) / MiB) + 64 });
  t.after(() => pool.close());
  const events = parseTableDef({ name: 'e', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'body', type: 'json' }] }, 0);
  // One record whose json field holds ~5.6M `{}`: 16 MiB of text, ~16 KB gzipped on the wire; parsed, 56 bytes of heap per 3 of text.
  const text = `{"k":"a","body":[${'{},'.repeat(Math.floor(bytesMax / 3) - 20)}{}]}`;
  // A fresh body per task: the pool hands a body's memory to the worker.
  const decode = (format: 'json' | 'ndjson' | 'auto'): Promise<unknown> =>
    pool.decode({ body: Buffer.from(text), format, def: events, ctx: { tableId: 1, shards: 4, nowMs: 0, keyBytesMax: 64, errorDetailsMax: 10 }, jsonDepthMax: 32 });
  for (const format of ['json', 'ndjson', 'auto'] as const) {
    await assert.rejects(decode(format), (err: Error & { code?: string }) => err.code === 'PAYLOAD_TOO_LARGE', format);
  }
  // A body of ordinary records the same size decodes.
  const records = Buffer.from(Array.from({ length: 100_000 }, (_, i) => `{"k":"k${i}","body":{"level":"info","msg":"request ${i} served","tags":["a","b"]}}`).join('\n'));
  assert.equal((await pool.decode({ body: records, format: 'ndjson', def: events, ctx: { tableId: 1, shards: 4, nowMs: 0, keyBytesMax: 64, errorDetailsMax: 10 }, jsonDepthMax: 32 })).count, 100_000);
});

test('a protobuf body within the body limit made of empty nested messages is refused 413 before protobufjs builds them', async (t) => {
  const MiB = 2 ** 20;
  const bytesMax = 16 * MiB;
  const pool = new DecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: Math.ceil((bytesMax * 12) / MiB) + 64 });
  t.after(() => pool.close());
  const def = parseTableDef({ name: 'p', shardKey: 'k', proto: { message: 'a.M', source: 'syntax = "proto3"; package a; message Sub {} message M { string k = 1; repeated Sub items = 2; }' } }, 0);
  // k = "a", then ~8M empty `items` (tag 0x12, length 0): 2 bytes of wire each, an object or two of heap each once decoded.
  const items = Math.floor(bytesMax / 2) - 8;
  const message = Buffer.alloc(3 + items * 2);
  message.set([0x0a, 0x01, 0x61]);
  for (let i = 0; i < items; i++) message[3 + i * 2] = 0x12;
  const answer = pool.decode({ body: message, format: 'auto', frames: Uint32Array.of(message.length), frameFormat: 'protobuf', def, ctx: { tableId: 1, shards: 4, nowMs: 0, keyBytesMax: 64, errorDetailsMax: 10 }, jsonDepthMax: 32 });
  await assert.rejects(answer, (err: Error & { code?: string }) => err.code === 'PAYLOAD_TOO_LARGE');
});
