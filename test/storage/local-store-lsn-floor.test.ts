/**
 * A WAL that holds less than the index applied (a `truncate` start that
 * died between deleting the old segments and creating the new one): a
 * strict start refuses it, and a `truncate` start must not hand out LSNs
 * the index already applied. The index skips a frame at or below its
 * checkpoint, so a write acknowledged under such an LSN would be lost at
 * the next start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { resolveConfig } from '../../src/config.ts';
import { openDataDir } from '../../src/storage/data-dir.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';
import { EVENTS_TABLE } from '../../src/core/schema/parse-table-def.ts';
import { tempDir } from '../support/temp-dir.ts';

const log = pino({ level: 'silent' });

/** Appends one record per key with ids from `firstId`; resolves when the index has them. */
async function write(store: Awaited<ReturnType<typeof openDataDir>>['store'], tableId: number, firstId: bigint, keys: string[]): Promise<bigint[]> {
  const b = new RecordBatchBuilder(tableId, 1, Date.now());
  for (const k of keys) b.add(0, k, '', 1_000, encodeFields([k]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  const ids: bigint[] = [];
  for (let id = firstId; r.next(); id++) {
    r.id = id << 22n;
    r.version = id << 22n;
    ids.push(id << 22n);
  }
  await store.appendRecords(buf, keys.length);
  await store.readBarrier(5_000);
  return ids;
}

test('a WAL that lost frames the index holds: a strict start refuses it, a truncate start continues LSNs past the checkpoint and new writes survive a restart', async (t) => {
  const dataDir = tempDir(t);
  const config = resolveConfig({ dataDir, shards: 4 });
  let { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, log);
  const tableId = catalog.require('events').id;
  for (let i = 0; i < 5; i++) await write(store, tableId, BigInt(1 + i * 10), [`a${i}`, `b${i}`]);
  await store.syncIndex();
  await store.close();

  // What a truncating start leaves when it dies after removing the segments: no frame at all.
  const walDir = path.join(dataDir, 'wal');
  for (const f of readdirSync(walDir)) rmSync(path.join(walDir, f), { force: true });

  await assert.rejects(openDataDir(config, [EVENTS_TABLE], {}, log), (err: Error & { code?: string }) => err.code === 'WAL_CORRUPT' && /WAL segments are missing/.test(err.message));
  const truncating = resolveConfig({ dataDir, shards: 4, walRecovery: 'truncate' });
  ({ store } = await openDataDir(truncating, [EVENTS_TABLE], {}, log));
  const fresh = await write(store, tableId, 1000n, ['new1', 'new2']);
  for (const id of fresh) assert.ok((await store.getById(tableId, id)) !== undefined, 'the new write is readable before the restart');
  await store.close();

  ({ store } = await openDataDir(config, [EVENTS_TABLE], {}, log));
  try {
    for (const id of fresh) assert.ok((await store.getById(tableId, id)) !== undefined, `record ${id} acknowledged before the restart is there after it`);
  } finally {
    await store.close();
  }
});
