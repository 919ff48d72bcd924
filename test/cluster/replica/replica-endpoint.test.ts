/**
 * The replica side of placement epochs (decision 7), on a real store in a
 * temp dir: a write routed by an older epoch is refused with
 * STALE_PLACEMENT and appends nothing; a Merkle summary asked at a newer
 * epoch waits until the replica follows it and no write of an older epoch
 * is still being applied. And LeafEntries pages (decision 47).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { openDataDir } from '../../../src/storage/data-dir.ts';
import { replicaHandlers } from '../../../src/cluster/replica/replica-endpoint.ts';
import { Hlc } from '../../../src/core/hlc.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { EVENTS_TABLE } from '../../../src/core/schema/parse-table-def.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { MERKLE_LEAVES } from '../../../src/cluster/repair/merkle.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LeafEntry } from '../../../src/cluster/transport/replica-messages.ts';

function eventsBatch(tableId: number, n: number, firstId: bigint): Buffer {
  const b = new RecordBatchBuilder(tableId, 1, Date.now());
  for (let i = 0; i < n; i++) b.add(0, `t${i}`, undefined, 1_000 + i, encodeFields([`t${i}`]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  let i = 0n;
  while (r.next()) {
    r.id = firstId + i;
    r.version = firstId + i;
    i++;
  }
  return buf;
}

test('a write routed by an older epoch is STALE_PLACEMENT and appends nothing; Merkle at a newer epoch waits for it', async (t) => {
  // The dir is removed once the store is closed (a test's hooks run in the order they were added).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  const config = resolveConfig({ dataDir: dir, shards: 4 });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, pino({ level: 'silent' }));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let epoch = 5;
  const handlers = replicaHandlers({ store, catalog, hlc: new Hlc(systemClock), reloadTables: async () => undefined, readBarrierMsMax: 5_000, unindexedBytesMax: 64 * 1024 * 1024, epoch: () => epoch });
  const tableId = catalog.require('events').id;

  const before = store.lastAckedLsn;
  await assert.rejects(handlers.Write({ batch: eventsBatch(tableId, 3, 100n), epoch: 4 }), (err: unknown) => isSluiceError(err) && err.code === 'STALE_PLACEMENT' && /epoch 4.*follows 5/.test(err.message));
  assert.equal(store.lastAckedLsn, before, 'nothing was appended');

  const ok = await handlers.Write({ batch: eventsBatch(tableId, 3, 200n), epoch: 5 });
  assert.ok(BigInt(ok.lsn) > before);

  // Asked at epoch 6 while the replica follows 5: the answer waits for the switch.
  let answered = false;
  const summary = handlers.Merkle({ shard: 0, minEpoch: 6 }).then((r) => {
    answered = true;
    return r;
  });
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(answered, false, 'no summary before the replica follows epoch 6');
  epoch = 6;
  await summary;
  assert.equal(answered, true);
  // From now on epoch-5 writes are stale too.
  await assert.rejects(handlers.Write({ batch: eventsBatch(tableId, 1, 300n), epoch: 5 }), (err: unknown) => isSluiceError(err) && err.code === 'STALE_PLACEMENT');
});

/** Bytes one entry counts against a LeafEntries reply's bound, as the replica-v1 grammar states it: key, version and 5 bytes of msgpack framing. */
const entryBytes = ([key, version]: LeafEntry): number => key.length + version.length + 5;

test('LeafEntries pages end at their byte bound and go on after the key they end with: a key exactly at a page end is neither lost nor repeated', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  const config = resolveConfig({ dataDir: dir, shards: 4 });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, pino({ level: 'silent' }));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const deps = { store, catalog, hlc: new Hlc(systemClock), reloadTables: async () => undefined, readBarrierMsMax: 5_000, unindexedBytesMax: 64 * 1024 * 1024, epoch: () => 1 };
  const handlers = replicaHandlers(deps);
  const tableId = catalog.require('events').id;
  await handlers.Write({ batch: eventsBatch(tableId, 40, 1_000n) });
  const request = { shard: 0, tableId, leaves: Array.from({ length: MERKLE_LEAVES }, (_, i) => i) };

  // An asker that does not page (a node of an earlier release) gets every entry in one reply, as before.
  const old = await handlers.LeafEntries(request);
  const all = old.entries;
  assert.equal(all.length, 40);
  assert.equal(old.next, undefined);

  for (const k of [1, 2, 17, 39, 40]) {
    const bound = all.slice(0, k).reduce((sum, e) => sum + entryBytes(e), 0);
    const paged = replicaHandlers({ ...deps, leafEntriesReplyBytesMax: bound });
    const first = await paged.LeafEntries({ ...request, paged: true });
    assert.equal(first.entries.length, k, `a bound of ${bound} bytes holds the ${k} entries that fill it exactly`);
    assert.deepEqual(first.next, k < all.length ? all[k - 1]?.[0] : undefined, 'the page goes on after the last key it holds (none after the last page)');
    const short = await replicaHandlers({ ...deps, leafEntriesReplyBytesMax: bound - 1 }).LeafEntries({ ...request, paged: true });
    assert.equal(short.entries.length, Math.max(1, k - 1), 'one byte less leaves the last key for the next page (a page holds at least one)');

    const got: LeafEntry[] = [];
    let after: Buffer | undefined;
    for (let pages = 0; pages <= all.length; pages++) {
      const reply = await paged.LeafEntries({ ...request, paged: true, ...(after === undefined ? {} : { after }) });
      got.push(...reply.entries);
      after = reply.next;
      if (after === undefined) break;
    }
    assert.deepEqual(got, all, `pages of ${bound} bytes hold every entry once, in order`);
  }
});

test('a write into a range closed for cleanup is NOT_READY, appends nothing and holds no admission; appends already under way are waited for', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  const config = resolveConfig({ dataDir: dir, shards: 4 });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, pino({ level: 'silent' }));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const tableId = catalog.require('events').id;
  const batchBytes = eventsBatch(tableId, 3, 1n).length;
  // Room for about two batches not yet indexed: a refused write that kept its admission would stall the third.
  const handlers = replicaHandlers({ store, catalog, hlc: new Hlc(systemClock), reloadTables: async () => undefined, readBarrierMsMax: 5_000, unindexedBytesMax: batchBytes * 2, epoch: () => 1 });

  // An append past the check when the range closes: the close resolves once it is durable, so a read barrier then sees it.
  let durable = false;
  void store.appendRecords(eventsBatch(tableId, 3, 100n), 3).then(() => (durable = true));
  const release = await store.closeRanges([{ tableId, shard: 0 }]);
  assert.equal(durable, true, 'the close waited for the append under way');
  await store.readBarrier(5_000);
  assert.equal(await store.holds({ tableId, shard: 0 }), true);

  const before = store.lastAckedLsn;
  for (let i = 0; i < 5; i++) {
    await assert.rejects(handlers.Write({ batch: eventsBatch(tableId, 3, 200n + BigInt(i * 10)) }), (err: unknown) => isSluiceError(err) && err.code === 'NOT_READY');
  }
  assert.equal(store.lastAckedLsn, before, 'nothing was appended');
  release();
  release();
  const ok = await handlers.Write({ batch: eventsBatch(tableId, 3, 300n) });
  assert.ok(BigInt(ok.lsn) > before, 'the range takes writes again once released (and no admission was held by the refusals)');
});
