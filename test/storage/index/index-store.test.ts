import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { openEngine } from '../../../src/storage/engine/open-engine.ts';
import type { StorageEngine, WriteBatch } from '../../../src/storage/engine/storage-engine.ts';
import { IndexStore } from '../../../src/storage/index/index-store.ts';
import { FRAME_TYPES } from '../../../src/storage/frame-types.ts';
import { RecordBatchReader, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields } from '../../../src/core/codec/fields-codec.ts';
import { idKeyOf, idValue, recordKeyId } from '../../../src/storage/index/key-layout.ts';
import { stampedBatch, type StampedRec } from '../../support/stamped-batch.ts';
import { PREFIX_ID_BLOCK, findInIdBlock } from '../../../src/storage/index/id-block.ts';

async function store(t: TestContext, kind: 'lmdb' | 'level'): Promise<IndexStore> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-index-'));
  const engine = await openEngine(kind, { dir });
  t.after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return new IndexStore(engine);
}

type Rec = StampedRec;
const batch = stampedBatch;

const valueOf = (v: Uint8Array): unknown => decodeFields(readStoredValue(v).fields)[0];

for (const kind of ['lmdb', 'level'] as const) {
  test(`a record's dedupe key is read back from its id entry, after an upsert moved it too; a plain record and an entry from before have none (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const keyed: Rec = { shard: 0, key: 'dev', pk: 'kafka:t:0:00000000000000000007', time: 100, id: 10n, version: 1n, value: 'v1' };
    const plain: Rec = { shard: 0, key: 'dev', time: 101, id: 11n, version: 2n, value: 'plain' };
    await idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, [keyed, plain]) }]);
    // The re-delivery, ingested later: a new record key for the same id and key.
    await idx.apply([{ lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(1, [{ ...keyed, time: 200, version: 3n, value: 'v2' }]) }]);
    const rks: Buffer[] = [];
    for await (const page of idx.scanShard(0, { tableId: 1 })) for (const r of page) rks.push(r.recordKey);
    assert.equal(rks.length, 2, 'the re-delivery replaced the record it repeats');
    const byId = new Map(rks.map((rk) => [recordKeyId(rk), rk]));
    const [k, p] = await idx.dedupeKeysOf([byId.get(10n)!, byId.get(11n)!]);
    assert.equal(k?.toString('utf8'), keyed.pk);
    assert.equal(p, undefined, 'a record written without a key has none');
    // An id entry written before decision 54 ends at the time key: no key, not a misread one.
    const old = idKeyOf(10n);
    const b = idx.engine.batch();
    b.put(old, idValue(byId.get(10n)!));
    await b.commit(2n);
    assert.deepEqual(await idx.dedupeKeysOf([byId.get(10n)!]), [undefined]);
  });

  test(`records read back by id, by key in time order, and by table scan (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const recs: Rec[] = [
      { shard: 1, key: 'k', time: 300, id: 3n, version: 1n, value: 'c' },
      { shard: 1, key: 'k', time: 100, id: 4n, version: 2n, value: 'a' },
      { shard: 1, key: 'k', time: 200, id: 5n, version: 3n, value: 'b' },
      { shard: 1, key: 'kk', time: 150, id: 6n, version: 4n, value: 'other key' },
      { shard: 2, key: 'z', time: -5, id: 7n, version: 5n, value: 'negative time' },
    ];
    await idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, recs) }]);
    assert.equal(await idx.engine.checkpointLsn(), 1n);
    for (const r of recs) assert.equal(valueOf((await idx.getById(1, r.id))!.value), r.value, `id ${r.id} through the frame's id block`);
    assert.equal(await idx.getById(2, 4n), undefined, 'another table does not see it');
    assert.equal(await idx.getById(1, 99n), undefined);
    assert.equal(await idx.getById(1, 1n), undefined, 'below the block');
    const k = Buffer.from('k');
    const ordered = [];
    for await (const page of idx.scanKey({ tableId: 1, shard: 1, key: k, limit: 10 })) for (const r of page) ordered.push(valueOf(r.value));
    assert.deepEqual(ordered, ['a', 'b', 'c'], '"k" never interleaves with "kk"');
    const window = [];
    for await (const page of idx.scanKey({ tableId: 1, shard: 1, key: k, fromMs: 150, toMs: 300, limit: 10 })) for (const r of page) window.push(valueOf(r.value));
    assert.deepEqual(window, ['b']);
    const first = [];
    for await (const page of idx.scanKey({ tableId: 1, shard: 1, key: k, limit: 1 })) for (const r of page) first.push(r);
    const rest = [];
    for await (const page of idx.scanKey({ tableId: 1, shard: 1, key: k, after: first[0]!.recordKey, limit: 10 })) for (const r of page) rest.push(valueOf(r.value));
    assert.deepEqual(rest, ['b', 'c']);
    const all = [];
    for await (const page of idx.scanTable(1, 4)) for (const r of page) all.push(recordKeyId(r.recordKey));
    assert.deepEqual(all.sort(), [3n, 4n, 5n, 6n, 7n]);
    assert.equal(await idx.maxId(), 7n);
  });

  test(`a primary key keeps the highest version, moves with its event time, and re-applying is idempotent (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const v1: Rec = { shard: 0, key: 'acct', pk: 'tx', time: 100, id: 10n, version: 1n, value: 'v1' };
    const v2: Rec = { ...v1, time: 500, version: 2n, value: 'v2' };
    const stale: Rec = { ...v1, time: 50, version: 1n, value: 'stale' };
    await idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, [v1]) }]);
    const s1 = await idx.apply([{ lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(1, [v2, stale]) }]);
    assert.deepEqual(s1, { records: 2, upserts: 1, stale: 1 });
    // Replaying the same frames (a crash before the checkpoint) changes nothing.
    await idx.apply([
      { lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, [v1]) },
      { lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(1, [v2, stale]) },
    ]);
    const got = await idx.getById(1, 10n);
    assert.equal(valueOf(got!.value), 'v2');
    const rows = [];
    for await (const page of idx.scanKey({ tableId: 1, shard: 0, key: Buffer.from('acct'), limit: 10 })) for (const r of page) rows.push(valueOf(r.value));
    assert.deepEqual(rows, ['v2'], 'one record per primary key');
    const [entry] = await idx.lookupPks([{ shard: 0, tableId: 1, pk: Buffer.from('tx') }]);
    assert.equal(entry?.id, 10n);
    assert.equal(entry?.version, 2n);
  });
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`overlapping applies see each other's primary keys before they commit (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const base: Rec = { shard: 3, key: 'acct', pk: 'p', time: 10, id: 42n, version: 1n, value: 'v1' };
    const applies = [1, 2, 3, 4].map((v) =>
      idx.apply([{ lsn: BigInt(v), type: FRAME_TYPES.RECORDS, payload: batch(1, [{ ...base, time: v * 100, version: BigInt(v), value: `v${v}` }]) }]),
    );
    const stats = await Promise.all(applies);
    assert.deepEqual(stats.map((s) => s.upserts), [0, 1, 1, 1]);
    const rows = [];
    for await (const page of idx.scanKey({ tableId: 1, shard: 3, key: Buffer.from('acct'), limit: 10 })) for (const r of page) rows.push(valueOf(r.value));
    assert.deepEqual(rows, ['v4'], 'every superseded version was deleted');
    assert.equal(await idx.engine.checkpointLsn(), 4n);
  });
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`frames whose ids interleave (several coordinators, repair batches) stay findable by id (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const rec = (id: bigint, value: string): Rec => ({ shard: 0, key: 'k', time: Number(id), id, version: id, value });
    // A block [10, 20], then a frame overlapping it, then one in descending (key) order.
    await idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, [rec(10n, 'a'), rec(20n, 'b')]) }]);
    await idx.apply([{ lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(1, [rec(5n, 'c'), rec(15n, 'd'), rec(30n, 'e')]) }]);
    await idx.apply([{ lsn: 3n, type: FRAME_TYPES.RECORDS, payload: batch(1, [rec(50n, 'f'), rec(40n, 'g')]) }]);
    await idx.apply([{ lsn: 4n, type: FRAME_TYPES.RECORDS, payload: batch(1, [rec(60n, 'h'), rec(70n, 'i')]) }]);
    const want: [bigint, string][] = [[10n, 'a'], [20n, 'b'], [5n, 'c'], [15n, 'd'], [30n, 'e'], [50n, 'f'], [40n, 'g'], [60n, 'h'], [70n, 'i']];
    for (const [id, value] of want) {
      const got = await idx.getById(1, id);
      assert.ok(got !== undefined, `id ${id} is findable`);
      assert.equal(valueOf(got.value), value);
    }
    assert.equal(await idx.maxId(), 70n);
  });
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`fresh-key batches: stored without lookups, found by highestPk, and a keyed batch right behind still replaces them (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const fresh = batch(1, [
      { shard: 0, key: 'a', pk: 'kafka:t:0:0007', time: 1, id: 10n, version: 1n, value: 'first' },
      { shard: 0, key: 'b', pk: 'kafka:t:0:0008', time: 2, id: 11n, version: 2n, value: 'second' },
    ]);
    new RecordBatchReader(fresh).freshKeys = true;
    // A re-delivery of offset 8 through the resolver, applied before the fresh batch has committed.
    const resent = batch(1, [{ shard: 0, key: 'b', pk: 'kafka:t:0:0008', time: 2, id: 12n, version: 3n, value: 'second again' }]);
    const applied = [idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: fresh }]), idx.apply([{ lsn: 2n, type: FRAME_TYPES.RECORDS, payload: resent }])];
    const [first, second] = await Promise.all(applied);
    assert.equal(first?.upserts, 0);
    assert.equal(second?.upserts, 1, 'the keyed batch found the fresh key and replaced its record');
    const rows: unknown[] = [];
    for await (const page of idx.scanTable(1, 1)) for (const r of page) rows.push(valueOf(r.value));
    assert.deepEqual(rows.sort(), ['first', 'second again']);
    assert.equal(await idx.highestPk(0, 1, 'kafka:t:0:0000', 'kafka:t:0:9999'), 'kafka:t:0:0008');
    assert.equal(await idx.highestPk(0, 1, 'kafka:t:1:0000', 'kafka:t:1:9999'), undefined);
    assert.equal((await idx.getById(1, 11n)) === undefined, true, 'the replaced id is gone');
    assert.equal(valueOf((await idx.getById(1, 10n))?.value as Uint8Array), 'first', 'a fresh record is found by id through its id block');
  });
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`dropRanges deletes one table's shards with their keys and id entries, keeps everything else, and keeps the highest id (${kind})`, async (t) => {
    const idx = await store(t, kind);
    // Frame 1 (one id block): table 1 in shards 0 and 1. Frame 2: table 2 in shard 1. Frame 3: table 1, shard 1, keyed.
    const blockRecs: Rec[] = [];
    // Snowflake-shaped ids of one worker (one id-block lane): the sequence wraps into the next ms.
    const snow = (n: number): bigint => (BigInt(n >> 12) << 22n) | BigInt(n & 4095);
    for (let i = 0; i < 12_000; i++) blockRecs.push({ shard: i % 2, key: `k${i % 7}`, time: i, id: snow(100 + i), version: BigInt(i + 1), value: `a${i}` });
    const other: Rec[] = [{ shard: 1, key: 'x', time: 1, id: 20_000n, version: 1n, value: 'other table' }];
    const keyed: Rec[] = [
      { shard: 1, key: 'acct', pk: 'p1', time: 5, id: 9_000_000n, version: 1n, value: 'pk1' },
      { shard: 0, key: 'acct', pk: 'p0', time: 5, id: 9_000_001n, version: 2n, value: 'pk0' },
    ];
    await idx.apply([
      { lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, blockRecs) },
      { lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(2, other) },
      { lsn: 3n, type: FRAME_TYPES.RECORDS, payload: batch(1, keyed) },
    ]);
    // An upsert of p1 moves it to a per-record id entry (an older id reused).
    await idx.apply([{ lsn: 4n, type: FRAME_TYPES.RECORDS, payload: batch(1, [{ ...keyed[0]!, time: 6, version: 3n, value: 'pk1 v2' }]) }]);
    assert.equal(await idx.maxId(), 9_000_001n);
    let calls = 0;

    // A drop told to stop after its first chunk leaves the id blocks alone: the records left stay findable.
    const stopped = await idx.dropRanges([{ tableId: 1, shard: 1 }], () => (calls++ === 0));
    assert.deepEqual(stopped, { records: 5_000, complete: false, ranges: 0 });
    assert.ok(await idx.holds({ tableId: 1, shard: 1 }));
    let findable = 0;
    for (const r of blockRecs) if (r.shard === 1 && (await idx.getById(1, r.id)) !== undefined) findable++;
    assert.equal(findable, 1_000, 'the records the stopped drop left');

    const dropped = await idx.dropRanges([{ tableId: 1, shard: 1 }]);
    assert.deepEqual(dropped, { records: 1_000 + 1, complete: true, ranges: 1 }, 'the rest of the odd block records, and p1');
    assert.equal(await idx.holds({ tableId: 1, shard: 1 }), false);
    for (const r of blockRecs.slice(0, 10)) {
      const got = await idx.getById(1, r.id);
      if (r.shard === 1) assert.equal(got, undefined, `id ${r.id} of the dropped shard`);
      else assert.equal(valueOf(got!.value), r.value, `id ${r.id} of the kept shard`);
    }
    let keptInBlock = false;
    for await (const [, block] of idx.engine.iterate({ gte: Buffer.from([PREFIX_ID_BLOCK]), lt: Buffer.from([PREFIX_ID_BLOCK + 1]) })) {
      assert.equal(findInIdBlock(block, 101n), undefined, 'the id block no longer lists the dropped shard');
      if (findInIdBlock(block, 100n) !== undefined) keptInBlock = true;
    }
    assert.ok(keptInBlock, 'the id block still lists the kept shard');
    assert.equal(await idx.getById(1, 9_000_000n), undefined, 'the keyed record of the dropped shard');
    assert.deepEqual(await idx.lookupPks([{ shard: 1, tableId: 1, pk: Buffer.from('p1') }]), [undefined], 'its primary key went with it');
    assert.equal((await idx.lookupPks([{ shard: 0, tableId: 1, pk: Buffer.from('p0') }]))[0]?.id, 9_000_001n);
    assert.equal(valueOf((await idx.getById(2, 20_000n))!.value), 'other table', 'the same shard of another table stays');
    let kept = 0;
    for await (const page of idx.scanTable(1, 2)) for (const r of page) {
      assert.equal(r.recordKey.readUInt16BE(1), 0, 'only shard 0 of table 1 is left');
      kept++;
    }
    assert.equal(kept, 6_000 + 1);
    assert.equal(await idx.engine.checkpointLsn(), 4n, 'the checkpoint does not move');

    // Dropping the last holder of the highest id leaves it known, so a restarted node issues ids above it.
    await idx.dropRanges([{ tableId: 1, shard: 0 }, { tableId: 2, shard: 1 }]);
    for await (const page of idx.scanShard(0)) assert.fail(`left in shard 0: ${page[0]?.recordKey.toString('hex')}`);
    for await (const page of idx.scanShard(1)) assert.fail(`left in shard 1: ${page[0]?.recordKey.toString('hex')}`);
    assert.equal(await idx.maxId(), 9_000_001n);
    assert.equal(await idx.getById(1, 150n), undefined);

    // Applies go on after a drop, and new frames are still found by their blocks.
    await idx.apply([{ lsn: 5n, type: FRAME_TYPES.RECORDS, payload: batch(1, [{ shard: 1, key: 'k', time: 1, id: 9_500_000n, version: 9n, value: 'after' }]) }]);
    assert.equal(valueOf((await idx.getById(1, 9_500_000n))!.value), 'after');
    assert.equal(await idx.engine.checkpointLsn(), 5n);
  });
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`a drop stopped between a range's records and its primary keys (a placement change, a SIGKILL) leaves the range held, and the next drop finishes it (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const keyed: Rec[] = Array.from({ length: 10 }, (_, i) => ({ shard: 1, key: 'acct', pk: `p${i}`, time: i, id: 1_000n + BigInt(i), version: BigInt(i + 1), value: `v${i}` }));
    await idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, keyed) }]);
    const range = { tableId: 1, shard: 1 };
    // Two chunks of the record keys (the second finds none left), then a stop before the primary keys.
    let calls = 0;
    const stopped = await idx.dropRanges([range], () => calls++ < 2);
    assert.deepEqual(stopped, { records: 10, complete: false, ranges: 0 });
    assert.notEqual((await idx.lookupPks([{ ...range, pk: Buffer.from('p0') }]))[0], undefined, 'its primary keys are left');
    // Cleanup asks holds() which ranges to drop: a range with its primary keys left must still be one.
    assert.equal(await idx.holds(range), true, 'the range still holds entries to drop');
    const rest = await idx.dropRanges([range]);
    assert.deepEqual(rest, { records: 0, complete: true, ranges: 1 });
    assert.deepEqual(await idx.lookupPks([{ ...range, pk: Buffer.from('p0') }]), [undefined], 'the primary keys went');
    assert.equal(await idx.holds(range), false);
  });
}

/**
 * `engine`, with the bytes each commit puts measured (the memory a write batch holds until it commits), and
 * commits failed on demand from the `n`th after a reset (an interrupted run, in-process).
 */
function measured(engine: StorageEngine): { engine: StorageEngine; largestCommitBytes: () => number; reset: (failFromCommit?: number) => void } {
  let largest = 0;
  let commits = 0;
  let failFrom = Number.POSITIVE_INFINITY;
  const batchOf = (batch: WriteBatch): WriteBatch => {
    let bytes = 0;
    return new Proxy(batch, {
      get(target, prop) {
        if (prop === 'put') return (key: Uint8Array, value: Uint8Array) => ((bytes += key.length + value.length), target.put(key, value));
        if (prop === 'commit') {
          return (lsn: bigint) => {
            if (++commits >= failFrom) return Promise.reject(new Error(`commit ${commits} failed (injected)`));
            largest = Math.max(largest, bytes);
            return target.commit(lsn);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  const wrapped = new Proxy(engine, {
    get(target, prop) {
      if (prop === 'batch') return () => batchOf(target.batch());
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const reset = (failFromCommit = Number.POSITIVE_INFINITY): void => {
    largest = 0;
    commits = 0;
    failFrom = failFromCommit;
  };
  return { engine: wrapped, largestCommitBytes: () => largest, reset };
}

/** A snowflake id `n` steps into the first ms's (4,096 ids a ms). */
const snow = (n: number): bigint => (BigInt(n >> 12) << 22n) | BigInt(n & 4095);

/**
 * Applies 30 frames of 6,000 records with long shard keys: one id block of ~1.3 MB per frame, ~39 MB in all
 * (ids snow(100 + f × 6,000 + i), one record in ten in shard 1). Returns the largest block's bytes.
 */
async function applyLargeIdBlocks(idx: IndexStore): Promise<number> {
  const long = 'x'.repeat(190);
  for (let f = 0; f < 30; f++) {
    const recs: Rec[] = Array.from({ length: 6_000 }, (_, i) => ({ shard: i % 10 === 0 ? 1 : 0, key: `${long}${i % 50}`, time: i, id: snow(100 + f * 6_000 + i), version: BigInt(f * 6_000 + i + 1), value: 'v' }));
    await idx.apply([{ lsn: BigInt(f + 1), type: FRAME_TYPES.RECORDS, payload: batch(1, recs) }]);
  }
  let largestBlock = 0;
  for await (const [, block] of idx.engine.iterate({ gte: Buffer.from([PREFIX_ID_BLOCK]), lt: Buffer.from([PREFIX_ID_BLOCK + 1]) })) largestBlock = Math.max(largestBlock, block.length);
  return largestBlock;
}

/** Rewrites the id-block keys as format 1 stored them (`B | lastId`, one lane), one block per commit. */
async function toFormat1Keys(engine: StorageEngine, lsn: bigint): Promise<void> {
  const keys: Buffer[] = [];
  for await (const [k] of engine.iterate({ gte: Buffer.from([PREFIX_ID_BLOCK]), lt: Buffer.from([PREFIX_ID_BLOCK + 1]) })) keys.push(Buffer.from(k));
  for (const k of keys) {
    const v = await engine.get(k);
    const b = engine.batch();
    b.del(k);
    b.put(Buffer.concat([Buffer.from([PREFIX_ID_BLOCK]), k.subarray(3)]), v ?? assert.fail('block gone'));
    await b.commit(lsn);
  }
}

/** Id-block keys by length: 9 bytes (format 1) and 11 (today's). */
async function idBlockKeyLengths(engine: StorageEngine): Promise<{ format1: number; current: number }> {
  const out = { format1: 0, current: 0 };
  for await (const [k] of engine.iterate({ gte: Buffer.from([PREFIX_ID_BLOCK]), lt: Buffer.from([PREFIX_ID_BLOCK + 1]) })) {
    if (k.length === 9) out.format1++;
    else if (k.length === 11) out.current++;
    else assert.fail(`an id-block key of ${k.length} bytes`);
  }
  return out;
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`the id-block pass of a drop rewrites blocks a bounded number of bytes at a time, not up to 5,000 blocks of any size (${kind})`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-index-'));
    const raw = await openEngine(kind, { dir });
    t.after(async () => {
      await raw.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const m = measured(raw);
    const idx = new IndexStore(m.engine);
    // Dropping shard 1 (one record in ten) rewrites nearly every byte of every block.
    const largestBlock = await applyLargeIdBlocks(idx);
    m.reset();
    const dropped = await idx.dropRanges([{ tableId: 1, shard: 1 }]);
    assert.deepEqual(dropped, { records: 18_000, complete: true, ranges: 1 });
    const boundBytes = 16 * 1024 * 1024;
    assert.ok(m.largestCommitBytes() <= boundBytes + largestBlock, `a drop commit held ${m.largestCommitBytes()} bytes of puts (bound ${boundBytes} + one block of ${largestBlock})`);
    assert.equal(valueOf((await idx.getById(1, snow(101)))!.value), 'v', 'a kept record is found by its block');
    assert.equal(await idx.getById(1, snow(100)), undefined, 'a dropped one is not');
    assert.equal(valueOf((await idx.getById(1, snow(100 + 29 * 6_000 + 1)))!.value), 'v', 'nor are kept records of the last block lost');
  });

  test(`a format-1 id-block migration rewrites blocks a bounded number of bytes per commit, and one interrupted after a commit is finished by a rerun (${kind})`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-index-'));
    const raw = await openEngine(kind, { dir });
    t.after(async () => {
      await raw.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const largestBlock = await applyLargeIdBlocks(new IndexStore(raw));
    await toFormat1Keys(raw, 30n);
    assert.deepEqual(await idBlockKeyLengths(raw), { format1: 30, current: 0 });
    const boundBytes = 16 * 1024 * 1024;
    const bounded = (m: ReturnType<typeof measured>, what: string): void =>
      assert.ok(m.largestCommitBytes() <= boundBytes + largestBlock, `${what}: a commit held ${m.largestCommitBytes()} bytes of puts (bound ${boundBytes} + one block of ${largestBlock})`);

    // The first run stops at its second commit (a crash there: node.json still says format 1).
    const interrupted = measured(raw);
    interrupted.reset(2);
    const first = await new IndexStore(interrupted.engine).migrateIdBlocks().then(String, (err: unknown) => err);
    bounded(interrupted, 'the interrupted run');
    assert.match(String(first), /injected/, 'the first run was stopped by its second commit');
    const between = await idBlockKeyLengths(raw);
    assert.ok(between.current > 0 && between.format1 > 0 && between.current + between.format1 === 30, `keys of both forms between the runs: ${JSON.stringify(between)}`);

    // The rerun at the next open rewrites the rest, and only the rest.
    const rerun = measured(raw);
    rerun.reset();
    const idx = new IndexStore(rerun.engine);
    assert.equal(await idx.migrateIdBlocks(), between.format1);
    bounded(rerun, 'the rerun');
    assert.deepEqual(await idBlockKeyLengths(raw), { format1: 0, current: 30 });
    assert.equal(await idx.migrateIdBlocks(), 0, 'a third run finds nothing left');
    for (const n of [100, 101, 100 + 15 * 6_000 + 7, 100 + 29 * 6_000 + 5_999]) assert.equal(valueOf((await idx.getById(1, snow(n)))?.value ?? assert.fail(`id ${snow(n)} not found`)), 'v');
    assert.equal(await idx.maxId(), snow(100 + 29 * 6_000 + 5_999));
  });
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`interleaved frames of several coordinators each get an id block in their worker's lane; format-1 block keys migrate (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const id = (ms: number, worker: number, seq: number): bigint => (BigInt(ms) << 22n) | (BigInt(worker) << 12n) | BigInt(seq);
    const frameOf = (ms: number, worker: number): Rec[] =>
      Array.from({ length: 10 }, (_, s) => ({ shard: s % 2, key: `k${s}`, time: ms, id: id(ms, worker, s), version: id(ms, worker, s), value: `${worker}@${ms}#${s}` }));
    // Coordinator 7 stamps a ms earlier than coordinator 3 but reaches this replica later, twice over.
    const frames = [frameOf(100, 3), frameOf(99, 7), frameOf(101, 3), frameOf(100, 7)];
    let lsn = 0n;
    for (const f of frames) await idx.apply([{ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: batch(1, f) }]);
    const count = async (prefix: number): Promise<number> => {
      let n = 0;
      for await (const _ of idx.engine.iterate({ gte: Buffer.from([prefix]), lt: Buffer.from([prefix + 1]) })) n++;
      return n;
    };
    assert.equal(await count(0x49), 0, 'no per-record id entries');
    assert.equal(await count(PREFIX_ID_BLOCK), 4, 'one block per frame');
    const all = frames.flat();
    const findAll = async (store: IndexStore): Promise<void> => {
      for (const r of all) assert.equal(valueOf((await store.getById(1, r.id))?.value ?? assert.fail(`id ${r.id} not found`)), r.value);
      assert.equal(await store.getById(1, id(100, 3, 10)), undefined, 'an id between two of a block');
      assert.equal(await store.maxId(), id(101, 3, 9));
    };
    await findAll(idx);

    // Rewrite the blocks as format 1 stored them (`B | lastId`, one lane), then migrate.
    const legacy = idx.engine.batch();
    for await (const [k, v] of idx.engine.iterate({ gte: Buffer.from([PREFIX_ID_BLOCK]), lt: Buffer.from([PREFIX_ID_BLOCK + 1]) })) {
      legacy.del(k);
      legacy.put(Buffer.concat([Buffer.from([PREFIX_ID_BLOCK]), Buffer.from(k).subarray(3)]), v);
    }
    await legacy.commit(lsn);
    const reopened = new IndexStore(idx.engine);
    assert.equal(await reopened.migrateIdBlocks(), 4);
    assert.equal(await reopened.migrateIdBlocks(), 0, 'a second run finds nothing left');
    for await (const [k] of idx.engine.iterate({ gte: Buffer.from([PREFIX_ID_BLOCK]), lt: Buffer.from([PREFIX_ID_BLOCK + 1]) })) assert.equal(k.length, 11);
    await findAll(reopened);
    // A frame after the migration continues its lane.
    await reopened.apply([{ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: batch(1, frameOf(102, 7)) }]);
    assert.equal(await count(PREFIX_ID_BLOCK), 5);
    assert.equal(await count(0x49), 0);
  });

  test(`frames of one lane out of id order (atomic batches commit in decision order) get blocks when disjoint, per-record entries when they overlap (${kind})`, async (t) => {
    const idx = await store(t, kind);
    const id = (ms: number, seq: number): bigint => (BigInt(ms) << 22n) | (5n << 12n) | BigInt(seq);
    const frameOf = (ms: number, seqs: readonly number[]): Rec[] =>
      seqs.map((s) => ({ shard: s % 2, key: `k${s}`, time: ms, id: id(ms, s), version: id(ms, s), value: `${ms}#${s}` }));
    const count = async (prefix: number): Promise<number> => {
      let n = 0;
      for await (const _ of idx.engine.iterate({ gte: Buffer.from([prefix]), lt: Buffer.from([prefix + 1]) })) n++;
      return n;
    };
    let lsn = 0n;
    const apply = async (store: IndexStore, recs: Rec[]): Promise<unknown> => store.apply([{ lsn: ++lsn, type: FRAME_TYPES.RECORDS, payload: batch(1, recs) }]);
    // Stamped 200, 201, 202 (ms); committed 202, 200, 201: each below the lane's last block, disjoint from all.
    const [a, b, c] = [frameOf(200, [0, 1, 2]), frameOf(201, [0, 1, 2]), frameOf(202, [0, 1, 2])];
    for (const f of [c, a, b]) await apply(idx, f);
    assert.equal(await count(PREFIX_ID_BLOCK), 3, 'one block per frame, out of order');
    assert.equal(await count(0x49), 0);
    // A frame whose range straddles another block (ids of 199 and 203 ms: a repair batch) keeps per-record entries.
    const straddling = [...frameOf(199, [5]), ...frameOf(203, [5])];
    await apply(idx, straddling);
    assert.equal(await count(0x49), 2, 'an overlapping frame gets per-record id entries');
    const all = [...a, ...b, ...c, ...straddling];
    const findAll = async (s: IndexStore): Promise<void> => {
      for (const r of all) assert.equal(valueOf((await s.getById(1, r.id))?.value ?? assert.fail(`id ${r.id} not found`)), r.value);
      assert.equal(await s.getById(1, id(201, 3)), undefined, 'an id past a block, inside no frame');
    };
    await findAll(idx);
    // After a restart only the newest stored block is known: an older frame gets per-record entries, and all is found.
    const reopened = new IndexStore(idx.engine);
    await apply(reopened, frameOf(198, [0, 1]));
    assert.equal(await count(0x49), 4, 'below the restart floor: per-record entries');
    await apply(reopened, frameOf(204, [0, 1]));
    assert.equal(await count(PREFIX_ID_BLOCK), 4, 'above it: a block');
    all.push(...frameOf(198, [0, 1]), ...frameOf(204, [0, 1]));
    await findAll(reopened);
  });
}

for (const kind of ['lmdb', 'level'] as const) {
  test(`minted keys that are the shard key get no P entry: lookups find them by record key, a later keyed write replaces them, the mark survives a reopen (${kind})`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-index-'));
    let engine = await openEngine(kind, { dir });
    t.after(async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    });
    let idx = new IndexStore(engine);
    const minted = batch(3, [
      { shard: 0, key: 'doc-a', pk: 'doc-a', time: 1, id: 10n, version: 1n, value: 'a' },
      { shard: 1, key: 'doc-b', pk: 'doc-b', time: 2, id: 11n, version: 2n, value: 'b' },
    ]);
    const r = new RecordBatchReader(minted);
    r.freshKeys = true;
    r.pkInRecordKey = true;
    // Another table's keyed record, and a key that only starts like a minted one: neither may be found for it.
    await idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: minted }]);
    await idx.apply([{ lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(4, [{ shard: 0, key: 'doc-a', pk: 'doc-a', time: 1, id: 12n, version: 3n, value: 'other table' }]) }]);
    const pEntries = async (tableId: number): Promise<number> => {
      let n = 0;
      const prefix = Buffer.from([0x50, 0, 0, 0, 0, 0, tableId]);
      for (const shard of [0, 1]) {
        prefix.writeUInt16BE(shard, 1);
        for await (const _ of engine.iterate({ gte: prefix, lt: Buffer.concat([prefix, Buffer.from([0xff])]) })) n++;
      }
      return n;
    };
    assert.equal(await pEntries(3), 0, 'no P entry for the minted records');
    assert.equal(await pEntries(4), 1, 'a keyed record keeps its P entry');
    const look = (pk: string, shard: number, tableId = 3) => idx.lookupPks([{ shard, tableId, pk: Buffer.from(pk) }]).then((e) => e[0]);
    assert.deepEqual([(await look('doc-a', 0))?.id, (await look('doc-a', 0))?.version, recordKeyId((await look('doc-a', 0))?.recordKey as Buffer)], [10n, 1n, 10n]);
    assert.equal((await look('doc-b', 1))?.id, 11n);
    assert.equal(await look('doc-', 0), undefined, 'a prefix of a key is not the key');
    assert.equal(await look('doc-b', 0), undefined, 'another shard');

    // The sender re-uses the minted key: a keyed write of it replaces the record, through the applier's own lookup.
    await idx.apply([{ lsn: 3n, type: FRAME_TYPES.RECORDS, payload: batch(3, [{ shard: 0, key: 'doc-a', pk: 'doc-a', time: 5, id: 10n, version: 4n, value: 'a v2' }]) }]);
    const rows: unknown[] = [];
    for await (const page of idx.scanTable(3, 2)) for (const rec of page) rows.push(valueOf(rec.value));
    assert.deepEqual(rows.sort(), ['a v2', 'b'], 'the old record of doc-a is gone');
    assert.equal(valueOf((await idx.getById(3, 10n))?.value as Uint8Array), 'a v2');
    assert.equal((await look('doc-a', 0))?.version, 4n);

    await engine.close();
    engine = await openEngine(kind, { dir });
    idx = new IndexStore(engine);
    assert.equal((await look('doc-b', 1))?.id, 11n, 'after a reopen the mark still sends lookups to the record key');
    assert.equal(await look('doc-a', 0, 4).then((e) => e?.id), 12n);
  });

  test(`a shard scan pages through records, its limit counting only those at or below a snapshot (${kind})`, async (t) => {
    const idx = await store(t, kind);
    // 2,500 records of shard 0 (more than one engine chunk), every third newer than the snapshot; one record of shard 1.
    const recs: Rec[] = Array.from({ length: 2_500 }, (_, i) => ({ shard: 0, key: `k${String(i).padStart(5, '0')}`, time: i, id: BigInt(100 + i), version: i % 3 === 2 ? 9_000n : 10n, value: `v${i}` }));
    recs.push({ shard: 1, key: 'other', time: 0, id: 99n, version: 10n, value: 'shard 1' });
    await idx.apply([{ lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(1, recs) }]);
    const scan = async (options: Parameters<IndexStore['scanShard']>[1]): Promise<string[]> => {
      const out: string[] = [];
      for await (const page of idx.scanShard(0, options)) {
        assert.ok(page.length > 0, 'no empty page');
        for (const r of page) out.push(valueOf(r.value) as string);
      }
      return out;
    };
    const all = recs.filter((r) => r.shard === 0).map((r) => r.value);
    const visible = recs.filter((r) => r.shard === 0 && r.version <= 100n).map((r) => r.value);
    assert.deepEqual(await scan({ tableId: 1 }), all);
    assert.deepEqual(await scan({}), all, 'every table of the shard');
    assert.deepEqual(await scan({ tableId: 1, limit: 1_200 }), all.slice(0, 1_200));
    assert.deepEqual(await scan({ tableId: 1, maxVersion: 100n }), visible);
    assert.deepEqual(await scan({ tableId: 1, maxVersion: 100n, limit: 1_200 }), visible.slice(0, 1_200), 'the limit counts visible records only');
    assert.deepEqual(await scan({ tableId: 1, limit: 0 }), []);
    const firstPage: Buffer[] = [];
    for await (const page of idx.scanShard(0, { tableId: 1, limit: 700 })) for (const r of page) firstPage.push(r.recordKey);
    assert.deepEqual(await scan({ tableId: 1, after: firstPage.at(-1) as Buffer, limit: 1_000 }), all.slice(700, 1_700), 'resumes strictly after `after`');
  });
}
