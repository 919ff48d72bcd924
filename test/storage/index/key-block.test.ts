import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openEngine } from '../../../src/storage/engine/open-engine.ts';
import type { StorageEngine } from '../../../src/storage/engine/storage-engine.ts';
import { IndexStore } from '../../../src/storage/index/index-store.ts';
import { FRAME_TYPES } from '../../../src/storage/frame-types.ts';
import { RecordBatchReader, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields } from '../../../src/core/codec/fields-codec.ts';
import { stampedBatch, type StampedRec } from '../../support/stamped-batch.ts';
import { PREFIX_PK, PREFIX_RECORD, pkValue, readPkValue, recordKey, recordKeyId } from '../../../src/storage/index/key-layout.ts';
import { KeyBlockBuilder, PREFIX_KEY_BLOCK, findInKeyBlock, keyBlockLastPk } from '../../../src/storage/index/key-block.ts';

type Rec = StampedRec & { pk: string };

/** A stamped batch; with `fencedDigits`, flagged as a fence's fresh keys of that many digits. */
function batch(tableId: number, recs: readonly Rec[], fencedDigits = 0): Buffer {
  const buf = stampedBatch(tableId, recs);
  if (fencedDigits > 0) {
    const reader = new RecordBatchReader(buf);
    reader.freshKeys = true;
    reader.fencedDigits = fencedDigits;
  }
  return buf;
}

const offset = (n: number): string => String(n).padStart(20, '0');
const valueOf = (v: Uint8Array): unknown => decodeFields(readStoredValue(v).fields)[0];

/** Kafka-shaped records: partitions p (prefix `kafka:t:<p>:`), offsets, spread over two shards. */
function kafkaRecs(partitions: readonly number[], offsets: readonly number[], idBase: bigint): Rec[] {
  const recs: Rec[] = [];
  for (const p of partitions) {
    for (const o of offsets) {
      const i = recs.length;
      recs.push({ shard: (o + p) % 2, key: `acct-${o % 5}`, pk: `kafka:t:${p}:${offset(o)}`, time: 1_000 + o, id: idBase + BigInt(i), version: BigInt(i + 1), value: `p${p}o${o}` });
    }
  }
  return recs;
}

async function countPrefix(engine: StorageEngine, prefixByte: number): Promise<number> {
  let n = 0;
  for await (const _ of engine.iterate({ gte: Buffer.from([prefixByte]), lt: Buffer.from([prefixByte + 1]) })) n++;
  return n;
}

test('a key block holds one shard and prefix, in number order; each key is found with its P value, others are not', () => {
  const recs = kafkaRecs([0, 1], [7, 3, 12, 40], 100n);
  // A later record of the same key replaces an earlier one, as a later put would.
  recs.push({ ...(recs[1] as Rec), id: 999n, version: 99n, value: 'again' });
  const buf = batch(5, recs);
  const builder = new KeyBlockBuilder(5, 20, buf);
  const r = new RecordBatchReader(buf);
  const expected = new Map<string, Buffer>();
  while (r.next()) {
    assert.ok(builder.accepts(r.pkLen));
    const rk = recordKey(r.shard, 5, buf, r.keyOffset, r.keyLen, r.timeKeyOffset, r.idOffset);
    builder.add(r.shard, r.pkOffset, r.pkLen, r.idOffset, r.valueOffset, r.keyOffset, r.keyLen, r.timeKeyOffset);
    expected.set(`${r.shard}|${buf.subarray(r.pkOffset, r.pkOffset + r.pkLen).toString()}`, pkValue(buf, r.idOffset, buf, r.valueOffset, rk));
  }
  assert.equal(builder.accepts(20), false, 'a key of only digits has no prefix');
  const blocks = builder.finish();
  assert.equal(blocks.length, 4, 'two partitions × two shards');
  let found = 0;
  for (const { key, value } of blocks) {
    assert.equal(key[0], PREFIX_KEY_BLOCK);
    const shard = key.readUInt16BE(1);
    const last = keyBlockLastPk(key).toString();
    const prefix = last.slice(0, -20);
    const inBlock = [...expected.keys()].filter((k) => k.startsWith(`${shard}|${prefix}`)).sort();
    assert.equal(`${shard}|${last}`, inBlock.at(-1), 'keyed by its greatest key');
    for (const k of inBlock) {
      const hit = findInKeyBlock(value, Buffer.from(k.slice(-20)));
      assert.deepEqual(hit, expected.get(k), k);
      found++;
    }
    for (const missing of [0, 4, 13, 41, 10 ** 15]) {
      if (inBlock.some((k) => k.endsWith(offset(missing)))) continue;
      assert.equal(findInKeyBlock(value, Buffer.from(offset(missing))), undefined, `offset ${missing}`);
    }
    assert.equal(findInKeyBlock(value, Buffer.from('12')), undefined, 'a number of another width');
  }
  assert.equal(found, 8);
  const again = readPkValue(1, 5, expected.get(`${(3 + 0) % 2}|kafka:t:0:${offset(3)}`) as Buffer);
  assert.equal(again.id, 999n, 'the later record of a repeated key is the one kept');
});

for (const kind of ['lmdb', 'level'] as const) {
  test(`fenced fresh keys are stored as blocks, not P entries: found by lookups and highestPk, replaced by a later keyed write, after a reopen too, and dropped with their shard (${kind})`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-keyblock-'));
    let engine = await openEngine(kind, { dir });
    t.after(async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    });
    let idx = new IndexStore(engine);
    const first = kafkaRecs([0, 1, 2], [5, 6, 7, 9], 1_000n);
    const second = kafkaRecs([0, 1, 2], [10, 11], 2_000n);
    await idx.apply([
      { lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(3, first, 20) },
      { lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(3, second, 20) },
    ]);
    assert.equal(await countPrefix(engine, PREFIX_PK), 0, 'no P entry for fenced fresh keys');
    assert.equal(await countPrefix(engine, PREFIX_KEY_BLOCK), 2 * 3 * 2, 'a block per frame, shard and partition');

    const look = async (rec: Rec) => (await idx.lookupPks([{ shard: rec.shard, tableId: 3, pk: Buffer.from(rec.pk) }]))[0];
    for (const rec of [...first, ...second]) {
      const e = await look(rec);
      assert.deepEqual([e?.id, e?.version, recordKeyId(e?.recordKey as Buffer)], [rec.id, rec.version, rec.id], rec.pk);
      assert.equal(valueOf((await idx.engine.get(e?.recordKey as Buffer)) as Uint8Array), rec.value, 'the record key is the record');
    }
    const absent = (pk: string, shard: number, tableId = 3) => idx.lookupPks([{ shard, tableId, pk: Buffer.from(pk) }]).then((e) => e[0]);
    assert.equal(await absent(`kafka:t:0:${offset(8)}`, 0), undefined, 'a gap in the offsets');
    assert.equal(await absent(`kafka:t:0:${offset(8)}`, 1), undefined);
    assert.equal(await absent(`kafka:t:3:${offset(5)}`, 1), undefined, 'another partition');
    assert.equal(await absent(`kafka:t:0:${offset(5)}`, (5 + 0 + 1) % 2), undefined, 'another shard');
    assert.equal(await absent(`kafka:t:0:${offset(5)}`, 1, 4), undefined, 'another table');
    assert.equal(await absent(`kafka:t:0:${offset(5)}`.slice(0, -1), 1), undefined, 'a shorter key');
    assert.equal(await idx.highestPk(1, 3, `kafka:t:1:${offset(0)}`, `kafka:t:1:${'9'.repeat(20)}`), `kafka:t:1:${offset(10)}`);
    assert.equal(await idx.highestPk(0, 3, `kafka:t:1:${offset(0)}`, `kafka:t:1:${'9'.repeat(20)}`), `kafka:t:1:${offset(11)}`);
    assert.equal(await idx.highestPk(0, 3, `kafka:t:7:${offset(0)}`, `kafka:t:7:${'9'.repeat(20)}`), undefined);

    // A re-delivery of offset 6 of partition 1 (resolved, not fresh): the applier finds the block's entry and replaces the record.
    const old = first.find((r) => r.pk === `kafka:t:1:${offset(6)}`) as Rec;
    const resent: Rec = { ...old, time: old.time + 1, version: 500n, value: 'redelivered' };
    const stats = await idx.apply([{ lsn: 3n, type: FRAME_TYPES.RECORDS, payload: batch(3, [resent]) }]);
    assert.equal(stats.upserts, 1);
    const rows: unknown[] = [];
    for await (const page of idx.scanKey({ tableId: 3, shard: old.shard, key: Buffer.from(old.key), limit: 100 })) for (const r of page) rows.push(valueOf(r.value));
    assert.ok(rows.includes('redelivered') && !rows.includes(old.value), 'the old record was replaced');
    assert.equal((await look(resent))?.version, 500n, 'the P entry it wrote wins over the block');

    await engine.close();
    engine = await openEngine(kind, { dir });
    idx = new IndexStore(engine);
    const other = second[3] as Rec;
    assert.equal((await look(other))?.id, other.id, 'after a reopen the marks still send lookups to the blocks');
    assert.equal((await look(resent))?.version, 500n);

    const recordsHeld = await countPrefix(engine, PREFIX_RECORD);
    const dropped = await idx.dropRanges([{ tableId: 3, shard: 0 }, { tableId: 3, shard: 1 }]);
    assert.equal(dropped.records, recordsHeld, 'records are counted, blocks are not');
    assert.equal(await countPrefix(engine, PREFIX_KEY_BLOCK), 0, 'blocks go with their shards');
    assert.equal(await look(other), undefined);
  });
}

test('blocks of another prefix and digit count between a key and its own block do not hide it (level)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-keyblock-'));
  const engine = await openEngine('level', { dir });
  t.after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const idx = new IndexStore(engine);
  const rec = (pk: string, id: bigint): Rec => ({ shard: 0, key: 'a', pk, time: 1_000 + Number(id), id, version: id, value: pk });
  // `x:` + 4 digits spans x:1405..x:2500; `x:1:` + 2 digits (same length) sorts inside that span (':' > '9').
  const wide = [rec('x:1405', 10n), rec('x:2500', 11n)];
  const narrow = [rec('x:1:05', 20n), rec('x:1:07', 21n)];
  await idx.apply([
    { lsn: 1n, type: FRAME_TYPES.RECORDS, payload: batch(3, wide, 4) },
    { lsn: 2n, type: FRAME_TYPES.RECORDS, payload: batch(3, narrow, 2) },
  ]);
  assert.equal(await countPrefix(engine, PREFIX_KEY_BLOCK), 2);
  for (const r of [...wide, ...narrow]) {
    const [e] = await idx.lookupPks([{ shard: 0, tableId: 3, pk: Buffer.from(r.pk) }]);
    assert.equal(e?.id, r.id, `${r.pk} is stored and found`);
  }
  const [missing] = await idx.lookupPks([{ shard: 0, tableId: 3, pk: Buffer.from('x:1406') }]);
  assert.equal(missing, undefined);
});
