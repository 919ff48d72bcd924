/**
 * A replica's Scan and ScanShard replies are bounded in bytes, as Fetch's
 * are (decision 47): a range page or an export page of large records
 * (1,000 or 2,000 of them) made one reply past the gRPC message limit, so
 * the read failed on every remote replica, and held the whole page in
 * memory on this one. A reader that pages on from a cut reply asks for a
 * bound; past it (or the replica's own, if lower) a reply ends and says
 * `more`, and paging on from its last record reads every record once.
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
import type { WireRecord } from '../../../src/cluster/transport/replica-messages.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RECORDS = 100;
const FIELD_BYTES = 4_000;
const REPLY_BYTES_MAX = 64 * 1024;

function bigRecords(tableId: number): Buffer {
  const b = new RecordBatchBuilder(tableId, 1, Date.now());
  for (let i = 0; i < RECORDS; i++) b.add(0, 'dev', undefined, 1_000 + i, encodeFields(['x'.repeat(FIELD_BYTES)]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  for (let i = 1n; r.next(); i++) {
    r.id = i;
    r.version = i;
  }
  return buf;
}

const bytesOf = (records: readonly WireRecord[]): number => records.reduce((n, [k, v]) => n + k.length + v.length, 0);

test('Scan and ScanShard replies end past their byte bound and say more; paging on reads every record once', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  const config = resolveConfig({ dataDir: dir, shards: 4 });
  const { store, catalog } = await openDataDir(config, [EVENTS_TABLE], {}, pino({ level: 'silent' }));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const handlers = replicaHandlers({ store, catalog, hlc: new Hlc(systemClock), reloadTables: async () => undefined, readBarrierMsMax: 5_000, unindexedBytesMax: 64 * 1024 * 1024, epoch: () => 1, scanReplyBytesMax: REPLY_BYTES_MAX });
  const tableId = catalog.require('events').id;
  await handlers.Write({ batch: bigRecords(tableId) });

  // The reader asks for a larger bound than this replica's own, which applies.
  const asked = { replyBytesMax: 16 * 1024 * 1024 };
  const pages = {
    Scan: (after?: Buffer) => handlers.Scan({ tableId, shard: 0, key: Buffer.from('dev'), limit: 1_000, ...asked, ...(after === undefined ? {} : { after }) }),
    ScanShard: (after?: Buffer) => handlers.ScanShard({ tableId, shard: 0, limit: 2_000, ...asked, ...(after === undefined ? {} : { after }) }),
  };
  for (const [method, page] of Object.entries(pages)) {
    const ids: bigint[] = [];
    let after: Buffer | undefined;
    for (let n = 0; n < RECORDS; n++) {
      const reply = (await page(after)) as { records: WireRecord[]; more?: boolean };
      const largest = Math.max(...reply.records.map(([k, v]) => k.length + v.length));
      assert.ok(bytesOf(reply.records) <= REPLY_BYTES_MAX + largest, `${method}: ${bytesOf(reply.records)} bytes in one reply`);
      for (const [k] of reply.records) ids.push(k.readBigUInt64BE(k.length - 8));
      if (reply.more !== true) break;
      after = reply.records.at(-1)?.[0];
    }
    assert.deepEqual(ids, Array.from({ length: RECORDS }, (_, i) => BigInt(i + 1)), `${method}: every record once, in order`);
  }
  // A reader that does not ask for a bound (an older node) would not page on from a cut reply: it gets the whole page.
  const whole = await handlers.Scan({ tableId, shard: 0, key: Buffer.from('dev'), limit: 1_000 });
  assert.equal(whole.records.length, RECORDS);
  assert.equal(whole.more, undefined);
});
