/**
 * Issue #12: keyBytesMax could be configured above what the index engine
 * accepts. A write with a 1,960-byte shard key was acknowledged (WAL
 * fsync) and then failed to apply to the index, on every restart. Now
 * resolveConfig refuses such a value, and the largest value it accepts
 * really fits: a record whose shard key and primary key are exactly
 * KEY_BYTES_MAX_LIMIT bytes passes the encoder, is indexed, and is found
 * again after a reopen and after a replay of the WAL into an empty index,
 * on both engines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { KEY_BYTES_MAX_LIMIT, resolveConfig } from '../../src/config.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { RecordBatchReader, readStoredValue } from '../../src/core/codec/record-batch-v1.ts';
import { decodeFields } from '../../src/core/codec/fields-codec.ts';
import { compileSchema } from '../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { shardOf } from '../../src/core/murmur3.ts';
import { encodeBatch } from '../../src/ingest/batch-encoder.ts';
import { openDataDir } from '../../src/storage/data-dir.ts';
import type { LocalStore } from '../../src/storage/local-store.ts';
import { tempDir } from '../support/temp-dir.ts';

const silent = pino({ level: 'silent' });
const SHARDS = 4;

const def = parseTableDef(
  {
    name: 'payments',
    shardKey: 'account_id',
    timeField: 'ts',
    primaryKey: 'txn_id',
    fields: [
      { name: 'account_id', type: 'string', required: true },
      { name: 'txn_id', type: 'string', required: true },
      { name: 'ts', type: 'timestamp', required: true },
    ],
  },
  0,
);

/** `bytes` UTF-8 bytes, mostly two-byte characters, so the limit is counted in bytes, not characters. */
function utf8Key(bytes: number, last: string): string {
  const key = 'é'.repeat((bytes - 1) >> 1) + (bytes % 2 === 1 ? last : `${last}${last}`).slice(0, bytes % 2 === 1 ? 1 : 2);
  assert.equal(Buffer.byteLength(key), bytes);
  return key;
}

test('the issue: a 1,960-byte keyBytesMax is refused, naming the engine key limit', () => {
  assert.throws(
    () => resolveConfig({ keyBytesMax: 1960 }),
    (err: unknown) => isSluiceError(err, 'INVALID_ARGUMENT') && /keyBytesMax 1960 exceeds 1953/.test(err.message) && /ENGINE_KEY_BYTES_MAX \(1978 bytes\)/.test(err.message),
  );
});

async function expectRecord(store: LocalStore, tableId: number, id: bigint, account: string, txn: string): Promise<void> {
  const key = Buffer.from(account);
  const byId = await store.getById(tableId, id);
  assert.ok(byId !== undefined, 'found by id');
  assert.deepEqual(decodeFields(readStoredValue(byId.value).fields), [account, txn, 1_000]);
  const shard = shardOf(account, SHARDS);
  const byKey = [];
  for await (const r of store.scanKey({ tableId, shard, key, limit: 10 })) byKey.push(r);
  assert.equal(byKey.length, 1, 'found by shard key');
  const [pk] = await store.lookupPks([{ shard, tableId, pk: Buffer.from(txn) }]);
  assert.equal(pk?.id, id, 'found by primary key');
}

for (const engine of ['lmdb', 'level'] as const) {
  test(`a record whose shard key and primary key are keyBytesMax = KEY_BYTES_MAX_LIMIT bytes is indexed and survives a reopen and a replay (${engine})`, async (t) => {
    const dir = tempDir(t);
    const config = resolveConfig({ dataDir: dir, shards: SHARDS, engine, keyBytesMax: KEY_BYTES_MAX_LIMIT });
    const account = utf8Key(KEY_BYTES_MAX_LIMIT, 'a');
    const txn = utf8Key(KEY_BYTES_MAX_LIMIT, 't');

    const { store, catalog } = await openDataDir(config, [def], {}, silent);
    const tableId = catalog.require('payments').id;
    const ctx = { tableId, shards: SHARDS, nowMs: 1_000, keyBytesMax: config.keyBytesMax, errorDetailsMax: 10 };
    const encoded = encodeBatch(
      [
        { account_id: account, txn_id: txn, ts: 1_000 },
        { account_id: `${account}x`, txn_id: 'one byte too many', ts: 1_000 },
        { account_id: 'short', txn_id: `${txn}x`, ts: 1_000 },
      ],
      compileSchema(def),
      ctx,
    );
    assert.equal(encoded.count, 1, 'the key of exactly keyBytesMax bytes passes the encoder');
    assert.deepEqual(
      encoded.rejected.map((r) => [r.index, r.code, r.path]),
      [[1, 'KEY_TOO_LARGE', '/account_id'], [2, 'KEY_TOO_LARGE', '/txn_id']],
    );
    const batch = Buffer.from(encoded.batch);
    const reader = new RecordBatchReader(batch);
    assert.ok(reader.next());
    const id = (1_000n << 22n) | (1n << 12n);
    reader.id = id;
    reader.version = id;
    await store.appendRecords(batch, encoded.count);
    await store.readBarrier(5_000);
    await expectRecord(store, tableId, id, account, txn);
    await store.close();

    const reopened = await openDataDir(config, [def], {}, silent);
    try {
      await expectRecord(reopened.store, tableId, id, account, txn);
    } finally {
      await reopened.store.close();
    }

    // The bug bit at replay: drop the index so the WAL frame is applied again at open.
    rmSync(path.join(dir, 'index', engine), { recursive: true, force: true });
    const replayed = await openDataDir(config, [def], {}, silent);
    try {
      assert.equal(replayed.store.replay.records, 1, 'the frame was replayed into the new index');
      await expectRecord(replayed.store, tableId, id, account, txn);
    } finally {
      await replayed.store.close();
    }
  });
}
