import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { openEngine } from '../../../src/storage/engine/open-engine.ts';
import type { StorageEngine } from '../../../src/storage/engine/storage-engine.ts';
import { IndexStore } from '../../../src/storage/index/index-store.ts';
import { FRAME_TYPES, type AppliedFrame } from '../../../src/storage/frame-types.ts';
import { readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields } from '../../../src/core/codec/fields-codec.ts';
import { PREFIX_ID_BLOCK, idBlockKeyLastId } from '../../../src/storage/index/id-block.ts';
import { PREFIX_ID } from '../../../src/storage/index/key-layout.ts';
import { ID_BLOCK_MERGED_RECORDS_MAX } from '../../../src/config.ts';
import { stampedBatch, type StampedRec } from '../../support/stamped-batch.ts';

async function engineFor(t: TestContext, kind: 'lmdb' | 'level'): Promise<StorageEngine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-merged-'));
  const engine = await openEngine(kind, { dir });
  t.after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return engine;
}

/** A snowflake id: ms, worker (the id-block lane), sequence. */
const id = (ms: number, worker: number, seq: number): bigint => (BigInt(ms) << 22n) | (BigInt(worker) << 12n) | BigInt(seq);
/** `n` append-only records stamped by `worker` in millisecond `ms`. */
const frameOf = (ms: number, worker: number, n = 1, seq0 = 0): StampedRec[] =>
  Array.from({ length: n }, (_, i) => ({ shard: i % 3, key: `k${(ms + i) % 5}`, time: ms, id: id(ms, worker, seq0 + i), version: id(ms, worker, seq0 + i), value: `${worker}@${ms}#${seq0 + i}` }));
const valueOf = (v: Uint8Array): unknown => decodeFields(readStoredValue(v).fields)[0];

async function entries(engine: StorageEngine, prefix: number): Promise<Buffer[]> {
  const keys: Buffer[] = [];
  for await (const [k] of engine.iterate({ gte: Buffer.from([prefix]), lt: Buffer.from([prefix + 1]) })) keys.push(Buffer.from(k));
  return keys;
}

async function findAll(idx: IndexStore, recs: readonly StampedRec[], tableOf: (r: StampedRec) => number = () => 1): Promise<void> {
  for (const r of recs) assert.equal(valueOf((await idx.getById(tableOf(r), r.id))?.value ?? assert.fail(`id ${r.id} not found`)), r.value);
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`single-record frames applied together share one id block; every id is found, before and after a reopen (${kind})`, async (t) => {
    const engine = await engineFor(t, kind);
    const idx = new IndexStore(engine);
    const frames = Array.from({ length: 16 }, (_, i) => frameOf(100 + i, 3));
    let lsn = 0n;
    await idx.apply(frames.map((f): AppliedFrame => ({ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: stampedBatch(1, f) })));
    const blocks = await entries(engine, PREFIX_ID_BLOCK);
    assert.equal(blocks.length, 1, 'one block for the 16 frames');
    assert.equal(idBlockKeyLastId(blocks[0] as Buffer), id(115, 3, 0), "keyed by the last frame's id");
    assert.equal((await entries(engine, PREFIX_ID)).length, 0, 'no per-record id entries');
    await findAll(idx, frames.flat());
    assert.equal(await idx.getById(1, id(107, 3, 1)), undefined, 'an id between two frames of the block');
    await findAll(new IndexStore(engine), frames.flat());
  });

  test(`frames merge up to ${ID_BLOCK_MERGED_RECORDS_MAX} ids; another table, another lane or a lower id starts a new block (${kind})`, async (t) => {
    const engine = await engineFor(t, kind);
    const idx = new IndexStore(engine);
    const half = ID_BLOCK_MERGED_RECORDS_MAX / 2;
    // Two halves fill one block; the third frame does not fit it. Then table 2, then lane 4, then lane 3 again but lower.
    const plan: { table: number; recs: StampedRec[] }[] = [
      { table: 1, recs: frameOf(200, 3, half) },
      { table: 1, recs: frameOf(201, 3, half) },
      { table: 1, recs: frameOf(202, 3, 1) },
      { table: 2, recs: frameOf(203, 3, 2) },
      { table: 2, recs: frameOf(204, 4, 2) },
      { table: 2, recs: frameOf(204, 4, 2, 2) },
      { table: 2, recs: frameOf(190, 4, 1) },
    ];
    let lsn = 0n;
    await idx.apply(plan.map(({ table, recs }): AppliedFrame => ({ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: stampedBatch(table, recs) })));
    const lastIds = (await entries(engine, PREFIX_ID_BLOCK)).map(idBlockKeyLastId).sort((a, b) => (a < b ? -1 : 1));
    // Blocks: [200, 201] (full), [202], [203] (table 2), [204 #0..3] (lane 4, two frames), [190] (lane 4, lower).
    assert.deepEqual(lastIds, [id(201, 3, half - 1), id(202, 3, 0), id(203, 3, 1), id(190, 4, 0), id(204, 4, 3)].sort((a, b) => (a < b ? -1 : 1)));
    assert.equal((await entries(engine, PREFIX_ID)).length, 0);
    const tableOf = new Map(plan.flatMap(({ table, recs }) => recs.map((r) => [r.id, table] as const)));
    await findAll(idx, plan.flatMap((p) => p.recs), (r) => tableOf.get(r.id) as number);
    assert.equal(await idx.getById(1, id(203, 3, 0)), undefined, "a table-2 id is not table 1's");
  });

  test(`on a replica, interleaved frames of several coordinators merge per lane; a frame of mixed lanes gets per-record entries and breaks no run (${kind})`, async (t) => {
    const engine = await engineFor(t, kind);
    const idx = new IndexStore(engine);
    const mixed: StampedRec[] = [...frameOf(402, 3, 1, 100), ...frameOf(402, 7, 1, 100)];
    const frames = [frameOf(400, 3), frameOf(400, 7), frameOf(401, 3), mixed, frameOf(401, 7), frameOf(403, 3), frameOf(403, 7)];
    let lsn = 0n;
    await idx.apply(frames.map((f): AppliedFrame => ({ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: stampedBatch(1, f) })));
    const lastIds = (await entries(engine, PREFIX_ID_BLOCK)).map(idBlockKeyLastId).sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(lastIds, [id(403, 3, 0), id(403, 7, 0)], 'one block per lane');
    assert.equal((await entries(engine, PREFIX_ID)).length, 2, "the mixed frame's two records");
    await findAll(idx, frames.flat());
    await findAll(new IndexStore(engine), frames.flat());
  });

  test(`a merged range that would overlap a block is refused as a whole, and each frame is claimed alone (${kind})`, async (t) => {
    const engine = await engineFor(t, kind);
    const idx = new IndexStore(engine);
    let lsn = 0n;
    const middle = frameOf(301, 5);
    await idx.apply([{ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: stampedBatch(1, middle) }]);
    // 300 and 302 in one apply: merged they would span 301's block; alone each is disjoint from it.
    const around = [frameOf(300, 5), frameOf(302, 5)];
    await idx.apply(around.map((f): AppliedFrame => ({ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: stampedBatch(1, f) })));
    assert.equal((await entries(engine, PREFIX_ID_BLOCK)).length, 3, 'a block per frame');
    assert.equal((await entries(engine, PREFIX_ID)).length, 0);
    // Replayed after a restart (the WAL from an older checkpoint): below the newest block, so per-record entries.
    const reopened = new IndexStore(engine);
    await reopened.apply(around.map((f, i): AppliedFrame => ({ lsn: BigInt(i + 2), type: FRAME_TYPES.RECORDS, payload: stampedBatch(1, f) })));
    assert.equal((await entries(engine, PREFIX_ID_BLOCK)).length, 3, 'no block added by the replay');
    await findAll(reopened, [...middle, ...around.flat()]);
  });
}
