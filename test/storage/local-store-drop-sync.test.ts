/**
 * `LocalStore.dropRanges` (cleanup, decision 15) syncs the index on both
 * sides of the drop. Before the drop the sync releases the WAL past what is
 * applied, so no replay after a crash brings the ranges back; after it, the
 * deletes become durable (a power loss rolls LevelDB back to its last
 * sync). A failed sync is in-process fault injection here: the engine's
 * fsync rejects, as it does on an I/O error.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { EVENTS_TABLE } from '../../src/core/schema/parse-table-def.ts';
import { openDataDir } from '../../src/storage/data-dir.ts';
import type { StorageEngine } from '../../src/storage/engine/storage-engine.ts';
import type { LocalStore } from '../../src/storage/local-store.ts';
import { stopBeforeRemoval, tempDir } from '../support/temp-dir.ts';

const silent = pino({ level: 'silent' });

/** A stamped events batch of `n` records in `shard`, ids from `firstId`. */
function batch(tableId: number, n: number, firstId: bigint, shard: number): Buffer {
  const b = new RecordBatchBuilder(tableId, 1, 1_000);
  for (let i = 0; i < n; i++) b.add(shard, `key${i}`, undefined, 10_000 + i, encodeFields([`key${i}`]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  for (let i = 0n; r.next(); i++) {
    r.id = firstId + i;
    r.version = 0n;
  }
  return buf;
}

/** A store holding 10 records in shard 0, its index sync failing on the calls `failing` names (1-based). */
async function storeWithFailingSync(t: TestContext, failing: readonly number[]): Promise<{ store: LocalStore; tableId: number }> {
  const dataDir = tempDir(t);
  const config = resolveConfig({ dataDir, shards: 4, indexSyncIntervalMs: 3_600_000 });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, silent);
  stopBeforeRemoval(dataDir, () => store.close());
  const tableId = catalog.require('events').id;
  await store.appendRecords(batch(tableId, 10, 5_000n, 0), 10);
  await store.readBarrier(5_000);
  const engine = (store as unknown as { engine: StorageEngine }).engine;
  const sync = engine.sync.bind(engine);
  let calls = 0;
  t.mock.method(engine, 'sync', () => (failing.includes(++calls) ? Promise.reject(new Error('EIO: fsync failed on purpose')) : sync()));
  return { store, tableId };
}

test('a drop whose index sync before it fails does not start: STORAGE_IO, the range is kept', async (t) => {
  const { store, tableId } = await storeWithFailingSync(t, [1]);
  const range = { tableId, shard: 0 };
  await assert.rejects(store.dropRanges([range]), (err: unknown) => isSluiceError(err, 'STORAGE_IO'));
  assert.equal(await store.holds(range), true, 'nothing was dropped with the WAL not released');
});

test('a drop whose index sync after it fails is reported (STORAGE_IO), not answered as done; a rerun makes it durable', async (t) => {
  const { store, tableId } = await storeWithFailingSync(t, [2]);
  const range = { tableId, shard: 0 };
  await assert.rejects(store.dropRanges([range]), (err: unknown) => isSluiceError(err, 'STORAGE_IO') && /not durable|did not complete/.test((err as Error).message));
  // The rerun (cleanup run again) finds nothing left to drop; its syncs make the deletes durable.
  assert.deepEqual(await store.dropRanges([]), { records: 0, complete: true, ranges: 0 });
  assert.equal(await store.holds(range), false);
});
