/**
 * What a data dir remembers (node.json) on a real store in a temp dir: the
 * engine of a new dir, an existing dir's engine kept when none is asked
 * for, a format-1 dir's id blocks rewritten once at open, a format-2 dir
 * marked 3 with nothing rewritten, and a format this binary does not know
 * refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config.ts';
import { LocalStore } from '../../src/storage/local-store.ts';
import { openDataDir } from '../../src/storage/data-dir.ts';
import { openEngine } from '../../src/storage/engine/open-engine.ts';
import { PREFIX_ID_BLOCK } from '../../src/storage/index/id-block.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';
import { EVENTS_TABLE } from '../../src/core/schema/parse-table-def.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { tempDir } from '../support/temp-dir.ts';

const silent = pino({ level: 'silent' });
const nodeJson = (dir: string): { format: number; engine: string } => JSON.parse(readFileSync(path.join(dir, 'node.json'), 'utf8'));

/** A frame of `n` events with snowflake-shaped ids of `worker`, starting at ms `ms`. */
function eventsBatch(tableId: number, n: number, ms: number, worker: number): { buf: Buffer; ids: bigint[] } {
  const b = new RecordBatchBuilder(tableId, 1, Date.now());
  for (let i = 0; i < n; i++) b.add(i % 4, `t${i}`, undefined, 1_000 + i, encodeFields([`t${i}`]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  const ids: bigint[] = [];
  while (r.next()) {
    const id = (BigInt(ms + ids.length) << 22n) | (BigInt(worker) << 12n);
    r.id = id;
    r.version = id;
    ids.push(id);
  }
  return { buf, ids };
}

test('a new data dir gets LevelDB; an existing dir keeps its engine when none is asked for, and another is refused', async (t) => {
  const fresh = tempDir(t);
  const a = await LocalStore.open(resolveConfig({ dataDir: fresh, shards: 4 }), {}, silent);
  assert.equal(a.engineKind, 'level');
  await a.close();
  assert.equal(nodeJson(fresh).engine, 'level');

  const dir = tempDir(t);
  const b = await LocalStore.open(resolveConfig({ dataDir: dir, shards: 4, engine: 'lmdb' }), {}, silent);
  await b.close();
  const again = await LocalStore.open(resolveConfig({ dataDir: dir, shards: 4 }), {}, silent);
  assert.equal(again.engineKind, 'lmdb', 'no --engine: the dir keeps lmdb');
  await again.close();
  await assert.rejects(
    LocalStore.open(resolveConfig({ dataDir: dir, shards: 4, engine: 'level' }), {}, silent),
    (err: unknown) => isSluiceError(err) && err.code === 'INVALID_ARGUMENT' && /--engine lmdb/.test(err.message),
  );
});

for (const engine of ['lmdb', 'level'] as const) {
  test(`a format-1 data dir has its id-block keys rewritten at open and every record stays findable by id (${engine})`, async (t) => {
    const dir = tempDir(t);
    const config = resolveConfig({ dataDir: dir, shards: 4, engine });
    const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, silent);
    const tableId = catalog.require('events').id;
    const ids: bigint[] = [];
    for (const [ms, worker] of [[1_000, 3], [990, 7], [1_100, 3]] as const) {
      const frame = eventsBatch(tableId, 50, ms, worker);
      await store.appendRecords(frame.buf, frame.ids.length);
      ids.push(...frame.ids);
    }
    await store.readBarrier(5_000);
    await store.close();
    assert.equal(nodeJson(dir).format, 3, 'a new dir is format 3');

    // Make it what format 1 wrote: `B | lastId` keys, and node.json saying so.
    const raw = await openEngine(engine, { dir: path.join(dir, 'index', engine) });
    const blocks = { gte: Buffer.from([PREFIX_ID_BLOCK]), lt: Buffer.from([PREFIX_ID_BLOCK + 1]) };
    const legacy = raw.batch();
    let n = 0;
    for await (const [k, v] of raw.iterate(blocks)) {
      legacy.del(k);
      legacy.put(Buffer.concat([Buffer.from([PREFIX_ID_BLOCK]), Buffer.from(k).subarray(3)]), v);
      n++;
    }
    assert.equal(n, 3, `one block per frame, in two lanes (found ${n})`);
    await legacy.commit(await raw.checkpointLsn());
    await raw.close();
    writeFileSync(path.join(dir, 'node.json'), JSON.stringify({ ...nodeJson(dir), format: 1 }));

    const reopened = await LocalStore.open(resolveConfig({ dataDir: dir, shards: 4 }), {}, silent);
    try {
      assert.equal(nodeJson(dir).format, 3, 'marked current after the rewrite');
      for (const id of ids) assert.ok((await reopened.getById(tableId, id)) !== undefined, `id ${id} is found`);
      assert.equal(reopened.maxIdAtOpen, ids[ids.length - 1]);
    } finally {
      await reopened.close();
    }
  });
}

test('a format-2 dir is marked format 3 at open, its index untouched; a format from a newer sluice is refused', async (t) => {
  const dir = tempDir(t);
  const config = resolveConfig({ dataDir: dir, shards: 4, engine: 'level' });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, silent);
  const tableId = catalog.require('events').id;
  const frame = eventsBatch(tableId, 20, 1_000, 3);
  await store.appendRecords(frame.buf, frame.ids.length);
  await store.readBarrier(5_000);
  await store.close();
  const entries = async (): Promise<string[]> => {
    const raw = await openEngine('level', { dir: path.join(dir, 'index', 'level') });
    const out: string[] = [];
    for await (const [k, v] of raw.iterate({})) out.push(`${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`);
    await raw.close();
    return out;
  };
  const before = await entries();
  writeFileSync(path.join(dir, 'node.json'), JSON.stringify({ ...nodeJson(dir), format: 2 }));

  const reopened = await LocalStore.open(resolveConfig({ dataDir: dir, shards: 4 }), {}, silent);
  try {
    assert.equal(nodeJson(dir).format, 3, 'marked current');
    for (const id of frame.ids) assert.ok((await reopened.getById(tableId, id)) !== undefined, `id ${id} is found`);
  } finally {
    await reopened.close();
  }
  assert.deepEqual(await entries(), before, 'no index entry rewritten');

  writeFileSync(path.join(dir, 'node.json'), JSON.stringify({ ...nodeJson(dir), format: 4 }));
  await assert.rejects(
    LocalStore.open(resolveConfig({ dataDir: dir, shards: 4 }), {}, silent),
    (err: unknown) => isSluiceError(err) && err.code === 'STORAGE_IO' && /format 4/.test(err.message) && /newer sluice/.test(err.message),
  );
});
