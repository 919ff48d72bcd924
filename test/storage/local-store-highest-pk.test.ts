/**
 * LocalStore.highestPk: the greatest key of a range over every shard, found
 * by seeks run side by side (HIGHEST_PK_SEEKS_PARALLEL at a time), so more
 * shards than lanes are all still looked at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { resolveConfig, HIGHEST_PK_SEEKS_PARALLEL } from '../../src/config.ts';
import { openDataDir } from '../../src/storage/data-dir.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';
import { EVENTS_TABLE } from '../../src/core/schema/parse-table-def.ts';
import { tempDir } from '../support/temp-dir.ts';

const SHARDS = 3 * HIGHEST_PK_SEEKS_PARALLEL + 5;

test(`highestPk finds the greatest key of a range in any of ${SHARDS} shards`, async (t) => {
  const config = resolveConfig({ dataDir: tempDir(t), shards: SHARDS });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, pino({ level: 'silent' }));
  try {
    await check(store, catalog.require('events').id);
  } finally {
    await store.close();
  }
});

async function check(store: Awaited<ReturnType<typeof openDataDir>>['store'], tableId: number): Promise<void> {
  // The greatest key of the range sits in the last shard, past every lane's first round.
  const keys: [number, string][] = [[0, 'p:0005'], [HIGHEST_PK_SEEKS_PARALLEL, 'p:0017'], [SHARDS - 1, 'p:0042'], [7, 'p:0100'], [SHARDS - 2, 'q:0099']];
  const b = new RecordBatchBuilder(tableId, 1, Date.now());
  for (const [shard, pk] of keys) b.add(shard, pk, pk, 1_000, encodeFields([pk]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  for (let id = 1n; r.next(); id++) {
    r.id = id << 22n;
    r.version = id << 22n;
  }
  await store.appendRecords(buf, keys.length);
  await store.readBarrier(5_000);

  assert.equal(await store.highestPk(tableId, 'p:0000', 'p:0099'), 'p:0042');
  assert.equal(await store.highestPk(tableId, 'p:0000', 'p:0041'), 'p:0017');
  assert.equal(await store.highestPk(tableId, 'p:0000', 'p:9999'), 'p:0100');
  assert.equal(await store.highestPk(tableId, 'p:0006', 'p:0016'), undefined);
  assert.equal(await store.highestPk(tableId, 'q:0000', 'q:9999'), 'q:0099');
}
