/**
 * The participant side of atomic batches in storage, on real engines:
 * tx-frame v1 codecs; a prepared batch invisible to every read path; a
 * COMMIT applying the staged records at the commit version, deleting the
 * staged entry and putting the done marker in one engine commit; an ABORT
 * discarding; replaying any prefix of the WAL, twice, ending where one
 * pass does; the pending table rebuilt at reopen; snapshot waits.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { RecordBatchBuilder, RecordBatchReader, versionOf } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { EVENTS_TABLE } from '../../../src/core/schema/parse-table-def.ts';
import { openDataDir } from '../../../src/storage/data-dir.ts';
import { openEngine } from '../../../src/storage/engine/open-engine.ts';
import type { StorageEngine, WriteBatch } from '../../../src/storage/engine/storage-engine.ts';
import { FRAME_TYPES, type AppliedFrame } from '../../../src/storage/frame-types.ts';
import { IndexStore } from '../../../src/storage/index/index-store.ts';
import { PREFIX_TX_DONE, PREFIX_TX_STAGED, REPLAY_FLOOR_KEY, recordKeyId } from '../../../src/storage/index/key-layout.ts';
import type { LocalStore } from '../../../src/storage/local-store.ts';
import {
  committedBatch,
  decodeAbort,
  decodeCommit,
  decodeDone,
  decodePrepare,
  encodeAbort,
  encodeCommit,
  encodeDone,
  encodePrepare,
  type PrepareMeta,
} from '../../../src/storage/tx/tx-frame-v1.ts';

const silent = pino({ level: 'silent' });
const SHARDS = 4;

/** A stamped events batch: ids from `firstId`, versions provisional (0). */
function stagedBatch(tableId: number, n: number, firstId: bigint, shard = 1): Buffer {
  const b = new RecordBatchBuilder(tableId, 1, 1_000);
  for (let i = 0; i < n; i++) b.add(shard, `key${i % 2}`, undefined, 10_000 + i, encodeFields([`key${i % 2}`]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  let i = 0n;
  while (r.next()) {
    r.id = firstId + i;
    r.version = 0n;
    i++;
  }
  return buf;
}

function meta(txid: bigint, pt: bigint): PrepareMeta {
  return { txid, epoch: 3, deadlineMs: Date.now() + 60_000, pt, coordinator: 'n2', shards: [1, 3] };
}

/** Prepares through the store with a fixed prepare time. */
function prepare(store: LocalStore, txid: bigint, pt: bigint, batch: Buffer): Promise<bigint> {
  const { pt: _pt, ...rest } = meta(txid, pt);
  return store.prepareTx(rest, batch, () => pt).then((r) => r.lsn);
}

/** A store in `dir` (a new temp dir when absent, removed after the test); closed, then removed, when the test ends. */
async function openStore(t: TestContext, dir?: string, overrides: Parameters<typeof resolveConfig>[0] = {}): Promise<{ store: LocalStore; tableId: number; dir: string }> {
  const d = dir ?? mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-'));
  const config = resolveConfig({ dataDir: d, shards: SHARDS, ...overrides });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, silent);
  t.after(async () => {
    await store.close();
    if (dir === undefined) rmSync(d, { recursive: true, force: true });
  });
  return { store, tableId: catalog.require('events').id, dir: d };
}

/** How many of `ids` any read path of the store returns (table and shard scans, key ranges, by id). */
async function visible(store: LocalStore, tableId: number, ids: readonly bigint[]): Promise<number> {
  await store.readBarrier(5_000);
  const wanted = new Set(ids);
  let n = 0;
  const count = (recordKey: Buffer): void => {
    if (wanted.has(recordKeyId(recordKey))) n++;
  };
  for await (const page of store.scanTable(tableId)) for (const rec of page) count(rec.recordKey);
  for (let s = 0; s < SHARDS; s++) for await (const page of store.scanShard(s)) for (const rec of page) count(rec.recordKey);
  for (const key of ['key0', 'key1']) for await (const page of store.scanKey({ tableId, shard: 1, key: Buffer.from(key), limit: 100 })) for (const rec of page) count(rec.recordKey);
  for (const id of ids) if ((await store.getById(tableId, id)) !== undefined) n++;
  return n;
}

test('tx-frame v1: prepare, commit, abort and done markers round-trip; a foreign payload is WAL_CORRUPT', () => {
  const batch = stagedBatch(7, 3, 500n);
  const m = meta(123n, 99n);
  const p = decodePrepare(encodePrepare(m, batch));
  assert.deepEqual({ ...p, batch: undefined }, { ...m, batch: undefined });
  assert.ok(p.batch.equals(batch));
  assert.deepEqual(decodeCommit(encodeCommit(123n, (1n << 63n) + 5n)), { txid: 123n, cv: (1n << 63n) + 5n });
  assert.deepEqual(decodeAbort(encodeAbort(2n ** 64n - 1n)), { txid: 2n ** 64n - 1n });
  assert.deepEqual(decodeDone(encodeDone({ outcome: 'committed', atMs: 1234.5, cv: 77n })), { outcome: 'committed', atMs: 1234.5, cv: 77n });
  assert.deepEqual(decodeDone(encodeDone({ outcome: 'aborted', atMs: 1, cv: 0n })), { outcome: 'aborted', atMs: 1, cv: 0n });
  const corrupt = (fn: () => unknown) => assert.throws(fn, (err: unknown) => isSluiceError(err, 'WAL_CORRUPT'));
  corrupt(() => decodePrepare(Buffer.from([2, 0, 0])));
  corrupt(() => decodePrepare(encodePrepare(m, batch).subarray(0, 32)));
  corrupt(() => decodeCommit(encodeCommit(1n, 2n).subarray(1)));
  corrupt(() => decodeAbort(Buffer.from([1])));
  corrupt(() => decodeDone(Buffer.alloc(17, 3)));
  // One commit version for every entry: no snapshot can fall inside the batch.
  const committed = new RecordBatchReader(committedBatch(batch, 1_000n));
  const versions: bigint[] = [];
  while (committed.next()) versions.push(committed.version);
  assert.deepEqual(versions, [1_000n, 1_000n, 1_000n]);
  assert.equal(new RecordBatchReader(batch).count, 3, 'the staged batch is left as it was');
});

for (const engine of ['level', 'lmdb'] as const) {
  test(`a prepared batch is invisible to every read path until its COMMIT, which applies it at version cv; an ABORT discards (${engine})`, async (t) => {
    const { store, tableId } = await openStore(t, undefined, { engine });
    const ids = [900n, 901n, 902n, 903n];
    await prepare(store, 1n, 50n, stagedBatch(tableId, 4, 900n));
    await prepare(store, 2n, 60n, stagedBatch(tableId, 2, 950n));
    assert.equal(await visible(store, tableId, [...ids, 950n, 951n]), 0, 'nothing prepared is visible');
    assert.deepEqual((await store.txState(1n)).state, 'pending');
    assert.deepEqual(store.pendingTxs().map((p) => p.txid).sort(), [1n, 2n]);

    await store.commitTx(1n, 7_000n);
    await store.abortTx(2n);
    await store.readBarrier(5_000);
    const got = [];
    for await (const page of store.scanTable(tableId)) for (const rec of page) got.push([recordKeyId(rec.recordKey), versionOf(rec.value)]);
    assert.deepEqual(got.sort((a, b) => Number((a[0] as bigint) - (b[0] as bigint))), ids.map((id) => [id, 7_000n]));
    assert.equal((await store.getById(tableId, 950n)), undefined, 'the aborted batch never appears');
    assert.deepEqual(await store.txState(1n), { state: 'committed', cv: 7_000n });
    assert.deepEqual(await store.txState(2n), { state: 'aborted', cv: 0n });
    assert.deepEqual(await store.txState(3n), { state: 'unknown' });
    assert.equal(store.pendingTxs().length, 0);
    assert.equal(store.stagedTxBytes, 0);
    // A late PREPARE of a decided batch is refused; a second PREPARE of a pending one is idempotent.
    await assert.rejects(prepare(store, 2n, 61n, stagedBatch(tableId, 2, 950n)), (err: unknown) => isSluiceError(err, 'TX_ABORTED'));
    const a = await prepare(store, 4n, 70n, stagedBatch(tableId, 1, 990n));
    assert.equal(await prepare(store, 4n, 70n, stagedBatch(tableId, 1, 990n)), a);
    assert.equal(store.pendingTxs().length, 1);
  });
}

/** An engine that records what each commit carried. */
function recording(engine: StorageEngine, commits: { puts: Buffer[]; dels: Buffer[] }[]): StorageEngine {
  return {
    ...engine,
    kind: engine.kind,
    get: (k) => engine.get(k),
    getMany: (k) => engine.getMany(k),
    iterate: (r) => engine.iterate(r),
    checkpointLsn: () => engine.checkpointLsn(),
    sync: () => engine.sync(),
    close: () => engine.close(),
    batch(): WriteBatch {
      const inner = engine.batch();
      const seen = { puts: [] as Buffer[], dels: [] as Buffer[] };
      return {
        put: (k, v) => {
          seen.puts.push(Buffer.from(k));
          inner.put(k, v);
        },
        putSpared: (k, v) => {
          seen.puts.push(Buffer.from(k.subarray(1)));
          inner.putSpared(k, v);
        },
        del: (k) => {
          seen.dels.push(Buffer.from(k));
          inner.del(k);
        },
        get size() {
          return inner.size;
        },
        commit: (lsn) => {
          commits.push(seen);
          return inner.commit(lsn);
        },
      };
    },
  };
}

test('a prepared payload stays in memory (the replay floor in the index) until its COMMIT applies records and done marker in one engine commit; a spilled one is deleted in that commit', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-'));
  const raw = await openEngine('level', { dir });
  t.after(async () => {
    await raw.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const commits: { puts: Buffer[]; dels: Buffer[] }[] = [];
  const index = new IndexStore(recording(raw, commits));
  const isFloor = (k: Buffer) => k.equals(REPLAY_FLOOR_KEY);
  await index.apply([{ lsn: 1n, type: FRAME_TYPES.TX_PREPARE, payload: encodePrepare(meta(5n, 10n), stagedBatch(1, 3, 100n)) }]);
  const prepared = commits[0] as { puts: Buffer[]; dels: Buffer[] };
  assert.deepEqual(prepared.puts.filter((k) => k[0] === PREFIX_TX_STAGED), [], 'no staged entry written');
  assert.ok(prepared.puts.some(isFloor), 'the replay floor is recorded with the checkpoint');
  assert.equal(await index.replayFloor(), 1n);
  await index.apply([{ lsn: 2n, type: FRAME_TYPES.TX_COMMIT, payload: encodeCommit(5n, 500n) }]);
  assert.equal(commits.length, 2);
  const c = commits[1] as { puts: Buffer[]; dels: Buffer[] };
  assert.equal(c.puts.filter((k) => k[0] === 0x52).length, 3, 'the three records');
  assert.ok(c.puts.some((k) => k[0] === PREFIX_TX_DONE), 'the done marker');
  assert.ok(c.dels.some(isFloor), 'no floor once nothing is held');
  assert.equal(await raw.checkpointLsn(), 2n);
  assert.equal(await index.replayFloor(), undefined);

  // Undecided at a sync: spilled under T|txid; its COMMIT deletes that in the same commit as its records.
  await index.apply([{ lsn: 3n, type: FRAME_TYPES.TX_PREPARE, payload: encodePrepare(meta(6n, 11n), stagedBatch(1, 2, 200n)) }]);
  assert.equal(await index.spill(), 1);
  const spill = commits.at(-1) as { puts: Buffer[]; dels: Buffer[] };
  assert.equal(spill.puts.filter((k) => k[0] === PREFIX_TX_STAGED).length, 1, 'the spill writes the payload');
  assert.ok(spill.dels.some(isFloor), 'and releases the floor');
  assert.equal(index.stagedFloor, undefined);
  await index.apply([{ lsn: 4n, type: FRAME_TYPES.TX_COMMIT, payload: encodeCommit(6n, 600n) }]);
  const c2 = commits.at(-1) as { puts: Buffer[]; dels: Buffer[] };
  assert.equal(c2.puts.filter((k) => k[0] === 0x52).length, 2);
  assert.ok(c2.dels.some((k) => k[0] === PREFIX_TX_STAGED), 'the spilled entry deleted with the records');
});

/**
 * Every entry of an engine but the derived id entries (a replayed frame
 * may index its ids per record instead of as a block: both find them),
 * done markers reduced to outcome and cv (their time is when applied).
 */
async function dump(engine: StorageEngine): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of engine.iterate({})) {
    const key = Buffer.from(k);
    if (key[0] === 0x49 || key[0] === 0x42) continue;
    const value = key[0] === PREFIX_TX_DONE ? `${decodeDone(v).outcome}@${decodeDone(v).cv}` : Buffer.from(v).toString('hex');
    out.push(`${key.toString('hex')}=${value}`);
  }
  return out;
}

test('replaying any prefix of a WAL with atomic batches, in any batching and twice over, ends as one pass does', async (t) => {
  const b = (n: number, first: bigint) => stagedBatch(1, n, first);
  const records = (first: bigint): Buffer => {
    const buf = b(2, first);
    const r = new RecordBatchReader(buf);
    while (r.next()) r.version = 1_000_000n + r.id;
    return buf;
  };
  const frames: AppliedFrame[] = [
    { lsn: 1n, type: FRAME_TYPES.RECORDS, payload: records(10n) },
    { lsn: 2n, type: FRAME_TYPES.TX_PREPARE, payload: encodePrepare(meta(1n, 5n), b(3, 100n)) },
    { lsn: 3n, type: FRAME_TYPES.TX_PREPARE, payload: encodePrepare(meta(2n, 6n), b(2, 200n)) },
    { lsn: 4n, type: FRAME_TYPES.TX_COMMIT, payload: encodeCommit(1n, 5_000n) },
    { lsn: 5n, type: FRAME_TYPES.RECORDS, payload: records(20n) },
    { lsn: 6n, type: FRAME_TYPES.TX_ABORT, payload: encodeAbort(2n) },
    { lsn: 7n, type: FRAME_TYPES.TX_PREPARE, payload: encodePrepare(meta(3n, 7n), b(1, 300n)) },
    { lsn: 8n, type: FRAME_TYPES.TX_COMMIT, payload: encodeCommit(9n, 9_000n) },
  ];
  const fresh = async (): Promise<{ engine: StorageEngine; index: IndexStore }> => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-replay-'));
    const engine = await openEngine('level', { dir });
    t.after(async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { engine, index: new IndexStore(engine) };
  };
  for (let end = 1; end <= frames.length; end++) {
    const once = await fresh();
    for (const f of frames.slice(0, end)) await once.index.apply([f]);
    const expected = await dump(once.engine);
    // All at once, then again from every earlier point (LevelDB may hold effects past its checkpoint).
    for (let from = 0; from < end; from++) {
      const twice = await fresh();
      await twice.index.apply(frames.slice(0, end));
      await twice.index.apply(frames.slice(from, end));
      assert.deepEqual(await dump(twice.engine), expected, `prefix ${end}, replayed again from frame ${from}`);
      for await (const [k] of twice.engine.iterate({ gte: Buffer.from([0x52]), lt: Buffer.from([0x53]) })) {
        assert.ok((await twice.index.getById(1, recordKeyId(k))) !== undefined, `record ${recordKeyId(k)} is found by id`);
      }
    }
  }
});

test('the pending table is rebuilt at reopen; a batch prepared before the restart commits after it', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-'));
  const first = await openStore(t, dir);
  await prepare(first.store, 11n, 42n, stagedBatch(first.tableId, 3, 700n));
  await prepare(first.store, 12n, 43n, stagedBatch(first.tableId, 1, 800n));
  await first.store.commitTx(12n, 9_000n);
  await first.store.close();

  const again = await openStore(t, dir);
  // After both stores' close hooks (hooks run in the order they were added).
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pending = again.store.pendingTxs();
  assert.deepEqual(pending.map((p) => [p.txid, p.pt, p.coordinator, p.shards, p.records]), [[11n, 42n, 'n2', [1, 3], 3]]);
  assert.ok(again.store.stagedTxBytes > 0);
  assert.equal(await visible(again.store, again.tableId, [700n, 701n, 702n]), 0);
  assert.ok((await again.store.getById(again.tableId, 800n)) !== undefined, 'the committed batch survived');
  await again.store.commitTx(11n, 10_000n);
  await again.store.readBarrier(5_000);
  assert.equal(versionOf((await again.store.getById(again.tableId, 702n))?.value ?? new Uint8Array()), 10_000n);
  assert.equal(again.store.pendingTxs().length, 0);
});

test('a snapshot waits for batches prepared at or below it, not above; past the wait it is READ_TIMEOUT naming them', async (t) => {
  const { store, tableId } = await openStore(t);
  await prepare(store, 21n, 100n, stagedBatch(tableId, 1, 600n));
  await store.waitSnapshot(99n, 50);
  await assert.rejects(store.waitSnapshot(100n, 50), (err: unknown) => isSluiceError(err, 'READ_TIMEOUT') && /21/.test(err.message));
  let done = false;
  const waiting = store.waitSnapshot(150n, 5_000).then(() => {
    done = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(done, false);
  await store.commitTx(21n, 120n);
  await waiting;
  assert.equal(done, true);
  assert.ok((await store.getById(tableId, 600n)) !== undefined, 'the snapshot reader sees the commit once it is applied');
});

test('staged bytes are bounded: a PREPARE past --tx-pending-bytes-max is refused with OVERLOADED and stages nothing', async (t) => {
  const { store, tableId } = await openStore(t, undefined, { txPendingBytesMax: 1024 * 1024 });
  const big = stagedBatch(tableId, 15_000, 1_000n);
  assert.ok(big.length > 600 * 1024, `${big.length} bytes`);
  await prepare(store, 31n, 1n, big);
  await assert.rejects(prepare(store, 32n, 2n, stagedBatch(tableId, 15_000, 100_000n)), (err: unknown) => isSluiceError(err, 'OVERLOADED'));
  assert.deepEqual(store.pendingTxs().map((p) => p.txid), [31n]);
  await store.abortTx(31n);
  await store.readBarrier(5_000);
  await prepare(store, 32n, 2n, stagedBatch(tableId, 15_000, 100_000n));
});

test('a batch is pending from the moment its prepare time is taken, before its frame is durable (a snapshot read in between waits for it)', async (t) => {
  const { store, tableId } = await openStore(t);
  const { pt: _pt, ...m } = meta(41n, 0n);
  let pendingWhilePreparing: boolean | undefined;
  const preparing = store.prepareTx(m, stagedBatch(tableId, 2, 4_000n), () => {
    // Runs right after the prepare time is chosen, while the PREPARE frame still awaits its fsync.
    queueMicrotask(() => {
      pendingWhilePreparing = store.pendingTxs().some((p) => p.txid === 41n);
    });
    return 500n;
  });
  let blocked = true;
  const reading = (async () => {
    while (pendingWhilePreparing === undefined) await new Promise((resolve) => setImmediate(resolve));
    await store.waitSnapshot(600n, 5_000);
    blocked = false;
  })();
  const { pt } = await preparing;
  assert.equal(pt, 500n);
  assert.equal(pendingWhilePreparing, true, 'in the pending table before the fsync');
  assert.equal(blocked, true, 'the snapshot read started during the fsync waits');
  await store.abortTx(41n);
  await reading;
  assert.equal(blocked, false);
});

test('an outcome is reported (TxStatus) only once its frame is durable: the sweeper concludes on it, and a crash before the fsync must not find the decision gone', async (t) => {
  const { store, tableId } = await openStore(t);
  await prepare(store, 61n, 1n, stagedBatch(tableId, 2, 6_000n));
  await prepare(store, 62n, 2n, stagedBatch(tableId, 2, 6_100n));
  const committing = store.commitTx(61n, 7_000n);
  const aborting = store.abortTx(62n);
  // The COMMIT and ABORT frames are appended and await their fsync: both batches still pending here.
  assert.equal((await store.txState(61n)).state, 'pending', 'a COMMIT not yet fsync\'d is not reported committed');
  assert.equal((await store.txState(62n)).state, 'pending', 'an ABORT not yet fsync\'d is not reported aborted');
  await Promise.all([committing, aborting]);
  assert.deepEqual(await store.txState(61n), { state: 'committed', cv: 7_000n });
  assert.deepEqual(await store.txState(62n), { state: 'aborted', cv: 0n });
  // A second COMMIT of the same batch (a sweeper's push that crossed the first) is harmless.
  await store.commitTx(61n, 7_000n);
  await store.readBarrier(5_000);
  assert.equal(await visible(store, tableId, [6_000n, 6_001n]), 8, "both records on all four read paths");
  assert.equal(await visible(store, tableId, [6_100n, 6_101n]), 0);
});

test('a batch prepared before a crash comes back from the WAL when its payload was only in memory, and from the index once spilled and the WAL released', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-'));
  // A tiny WAL segment so that a release really drops segments.
  const overrides = { walSegmentBytesMax: 64 * 1024 };
  const first = await openStore(t, dir, overrides);
  await prepare(first.store, 51n, 70n, stagedBatch(first.tableId, 3, 5_000n));
  // Later writes move the checkpoint well past the PREPARE.
  for (let i = 0; i < 20; i++) await first.store.appendRecords(stagedBatch(first.tableId, 50, 10_000n + BigInt(i) * 100n, 2), 50);
  await first.store.readBarrier(5_000);
  await first.store.close();

  // Reopened (as after SIGKILL: nothing was spilled), the PREPARE is replayed from the floor.
  const second = await openStore(t, dir, overrides);
  assert.deepEqual(second.store.pendingTxs().map((p) => p.txid), [51n], 'pending again after the restart');
  assert.ok(second.store.replay.fromLsn <= 1n, `replayed from the floor (from ${second.store.replay.fromLsn})`);
  // A sync spills it and releases the WAL up to the checkpoint.
  await second.store.syncIndex();
  await second.store.close();

  const third = await openStore(t, dir, overrides);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(third.store.pendingTxs().map((p) => p.txid), [51n], 'pending from its spilled entry');
  assert.ok(third.store.replay.fromLsn > 1n, 'the WAL before the checkpoint was released, nothing replayed from the floor');
  await third.store.commitTx(51n, 9_999n);
  await third.store.readBarrier(5_000);
  assert.equal(versionOf((await third.store.getById(third.tableId, 5_002n))?.value ?? new Uint8Array()), 9_999n);
  assert.equal(third.store.pendingTxs().length, 0);
});

test('an early COMMIT is answered before its fsync with the PREPARE\'s LSN; plain reads of its table and shards wait until it is applied, undecided batches do not hold them', async (t) => {
  const { store, tableId } = await openStore(t);
  const prepareLsn = await prepare(store, 71n, 100n, stagedBatch(tableId, 2, 7_100n));
  await prepare(store, 72n, 101n, stagedBatch(tableId, 1, 7_200n));
  // Undecided: no client can have been told it committed, so a plain read does not wait for it.
  await store.waitCommittedTxs(tableId, 1, 50);
  const answer = await store.commitTx(71n, 8_000n, true);
  assert.deepEqual(answer, { lsn: prepareLsn, durable: false });
  assert.equal((await store.txState(71n)).state, 'pending', 'not reported committed before the COMMIT is durable');
  // Shards 1 and 3 take part (meta()); shard 2 and other tables are not held.
  await store.waitCommittedTxs(tableId, 2, 50);
  await store.waitCommittedTxs(tableId + 1, 1, 50);
  await store.waitCommittedTxs(tableId, 1, 5_000);
  // No read barrier here: the wait itself must leave the records readable.
  assert.ok((await store.getById(tableId, 7_101n)) !== undefined, 'a plain read after the wait sees the batch');
  assert.deepEqual(await store.txState(71n), { state: 'committed', cv: 8_000n });
  // A batch not prepared here is committed durably before the answer, as before.
  assert.equal((await store.commitTx(73n, 8_100n, true)).durable, true);
});

test('a batch found pending at reopen holds plain reads of its shards until it is resolved (it may have been committed before the crash)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-'));
  const first = await openStore(t, dir);
  await prepare(first.store, 81n, 42n, stagedBatch(first.tableId, 2, 8_100n));
  await first.store.close();
  const again = await openStore(t, dir);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(again.store.pendingTxs()[0]?.recovered, true);
  await assert.rejects(again.store.waitCommittedTxs(again.tableId, 3, 50), (err: unknown) => isSluiceError(err, 'READ_TIMEOUT') && /81/.test(err.message));
  await again.store.waitCommittedTxs(again.tableId, 2, 50);
  const reading = again.store.waitCommittedTxs(again.tableId, 1, 5_000);
  await again.store.commitTx(81n, 9_000n);
  await reading;
  assert.ok((await again.store.getById(again.tableId, 8_101n)) !== undefined);
});

test('an outcome that overtakes its PREPARE (another connection, or the PREPARE held in admission) makes that PREPARE refused: nothing is staged after its outcome', async (t) => {
  const { store, tableId } = await openStore(t);
  // The Commit endpoint for a batch not prepared here, the PREPARE right behind it.
  const answer = (p: Promise<bigint>): Promise<string> => p.then(() => 'accepted', (err: Error & { code?: string }) => String(err.code));
  const committing = store.commitTx(91n, 9_000n, true);
  const preparing = answer(prepare(store, 91n, 100n, stagedBatch(tableId, 2, 9_100n)));
  assert.equal((await committing).durable, true);
  assert.equal(await preparing, 'TX_ABORTED', 'the PREPARE of a batch committed here is refused');
  const aborting = store.abortTx(92n);
  const preparing2 = answer(prepare(store, 92n, 100n, stagedBatch(tableId, 2, 9_200n)));
  await aborting;
  assert.equal(await preparing2, 'TX_ABORTED');
  await store.readBarrier(5_000);
  assert.equal(store['index'].stagedFloor, undefined, 'no payload of a decided batch is held');
  assert.deepEqual(store.pendingTxs(), []);
  assert.equal((await store.txState(91n)).state, 'committed');
  assert.equal((await store.txState(92n)).state, 'aborted');
  // Once applied, the outcome is the index's done marker: a later PREPARE is refused from there.
  await assert.rejects(prepare(store, 91n, 100n, stagedBatch(tableId, 2, 9_100n)), (err: Error & { code?: string }) => err.code === 'TX_ABORTED');
});

test('a WAL holding a PREPARE after its batch\'s outcome (written before such a PREPARE was refused) replays to nothing staged', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-'));
  const engine = await openEngine('level', { dir });
  t.after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const index = new IndexStore(engine);
  const batch = stagedBatch(1, 2, 9_300n);
  await index.apply([{ lsn: 1n, type: FRAME_TYPES.TX_COMMIT, payload: encodeCommit(93n, 9_000n) }]);
  await index.apply([{ lsn: 2n, type: FRAME_TYPES.TX_PREPARE, payload: encodePrepare(meta(93n, 100n), batch) }]);
  // And in one batch of frames: the outcome not yet in the engine when the PREPARE is resolved.
  await index.apply([
    { lsn: 3n, type: FRAME_TYPES.TX_ABORT, payload: encodeAbort(94n) },
    { lsn: 4n, type: FRAME_TYPES.TX_PREPARE, payload: encodePrepare(meta(94n, 100n), batch) },
  ]);
  assert.equal(index.stagedFloor, undefined);
  const staged: Uint8Array[] = [];
  for await (const p of index.stagedTxs()) staged.push(p);
  assert.equal(staged.length, 0);
});

test('a shard range dropped by cleanup stays dropped across a replay from the floor that a prepared batch holds back', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-tx-'));
  const first = await openStore(t, dir);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // An undecided batch held in memory: the replay floor stays at its PREPARE.
  await prepare(first.store, 95n, 100n, stagedBatch(first.tableId, 1, 9_500n, 3));
  await first.store.appendRecords(stagedBatch(first.tableId, 30, 20_000n, 0), 30);
  await first.store.readBarrier(5_000);
  const dropped = await first.store.dropRanges([{ tableId: first.tableId, shard: 0 }]);
  assert.equal(dropped.records, 30);
  // What a SIGKILL leaves for the next open: replay from the floor when it is older than the checkpoint (LocalStore.open).
  const floor = await first.store['index'].replayFloor();
  const checkpoint = await first.store['engine'].checkpointLsn();
  const from = floor !== undefined && floor <= checkpoint ? floor : checkpoint + 1n;
  const replayed: bigint[] = [];
  await first.store['wal'].replay(from, async (frames: readonly { lsn: bigint; type: number }[]) => {
    for (const f of frames) if (f.type === FRAME_TYPES.RECORDS) replayed.push(f.lsn);
  });
  assert.deepEqual(replayed, [], `a replay from LSN ${from} (floor ${floor}, checkpoint ${checkpoint}) holds no frame of the dropped range`);
  assert.equal((await first.store.txState(95n)).state, 'pending', 'the prepared batch is kept (spilled to the index)');
});
