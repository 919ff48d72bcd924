/**
 * The local coordinator's minted keys (Elasticsearch's made-up `_id`s):
 * when the table's primary key is its shard key, the batch is flagged
 * PK_IN_RECORD_KEY and the index writes no primary-key entry, yet a later
 * lookup of the key (a sender re-using an id it was answered) finds the
 * record; on a table whose primary key is another field the flag stays off.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalCoordinator } from '../../../src/cluster/coordinator/local-coordinator.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { localNode } from '../../support/local-node.ts';

const SHARDS = 4;


test('minted keys that are the shard key are flagged and found without a primary-key entry; others are not flagged', async (t) => {
  const { store, catalog, coordinator } = await localNode(t, SHARDS, 'sluice-minted-');
  const fields = [{ name: 'id', type: 'string', required: true }, { name: 'dev', type: 'string', required: true }];
  const same = await catalog.create(parseTableDef({ name: 'same', shardKey: 'id', primaryKey: 'id', fields }, Date.now()), Date.now());
  const other = await catalog.create(parseTableDef({ name: 'other', shardKey: 'dev', primaryKey: 'id', fields }, Date.now()), Date.now());
  const write = async (tableId: number, version: number, rows: readonly [string, string][], key: (r: [string, string]) => string) => {
    const b = new RecordBatchBuilder(tableId, version, Date.now());
    for (const r of rows) b.add(shardOf(key(r), SHARDS), key(r), r[0], Date.now(), encodeFields([...r]));
    const batch = b.finish();
    const ack = await (tableId === same.id ? coordinator.write(same, batch, rows.length, () => {}, { freshKeys: true, keysMinted: true }) : coordinator.write(other, batch, rows.length, () => {}, { freshKeys: true, keysMinted: true }));
    return { ack, flagged: new RecordBatchReader(batch).pkInRecordKey };
  };
  const rows: [string, string][] = [['m1', 'd1'], ['m2', 'd2']];
  const a = await write(same.id, same.versions.at(-1)!.version, rows, (r) => r[0]);
  const b = await write(other.id, other.versions.at(-1)!.version, rows, (r) => r[1]);
  assert.equal(a.flagged, true, 'primary key = shard key: flagged');
  assert.equal(b.flagged, false, 'primary key on another field: not flagged');
  // Read through the barrier, so both are in the index.
  await coordinator.getById(same, BigInt(a.ack.ids[0]!), { token: a.ack.token });
  await coordinator.getById(other, BigInt(b.ack.ids[0]!), { token: b.ack.token });
  const found = await store.lookupPks(rows.map(([pk]) => ({ shard: shardOf(pk, SHARDS), tableId: same.id, pk: Buffer.from(pk) })));
  assert.deepEqual(found.map((e) => e?.id), a.ack.ids.map((id) => BigInt(id!)), 'found by record key');
  // (A primary key lives in its record's shard: the shard of the shard key.)
  const otherFound = await store.lookupPks(rows.map(([pk, dev]) => ({ shard: shardOf(dev, SHARDS), tableId: other.id, pk: Buffer.from(pk) })));
  assert.deepEqual(otherFound.map((e) => e?.id), b.ack.ids.map((id) => BigInt(id!)), 'found by primary-key entry');
});

test('fenced fresh dedupe keys are flagged with their digit count on a table without a primary key, never on one with', async (t) => {
  const { catalog, coordinator } = await localNode(t, SHARDS, 'sluice-minted-');
  const fields = [{ name: 'id', type: 'string', required: true }, { name: 'dev', type: 'string', required: true }];
  const plain = await catalog.create(parseTableDef({ name: 'plain', shardKey: 'dev', fields }, Date.now()), Date.now());
  const keyed = await catalog.create(parseTableDef({ name: 'keyed', shardKey: 'dev', primaryKey: 'id', fields }, Date.now()), Date.now());
  const digitsOf = async (entry: typeof plain, options: Parameters<LocalCoordinator['write']>[4]): Promise<number> => {
    const b = new RecordBatchBuilder(entry.id, entry.versions.at(-1)!.version, Date.now());
    b.add(shardOf('d1', SHARDS), 'd1', `src:0:${String(Math.floor(Math.random() * 1e9)).padStart(12, '0')}`, Date.now(), encodeFields(['x', 'd1']));
    const batch = b.finish();
    await coordinator.write(entry, batch, 1, () => {}, options);
    return new RecordBatchReader(batch).fencedDigits;
  };
  assert.equal(await digitsOf(plain, { freshKeys: true, fencedDigits: 12 }), 12);
  assert.equal(await digitsOf(plain, { keyed: true, fencedDigits: 12 }), 0, 'not fresh: looked up, no blocks');
  assert.equal(await digitsOf(keyed, { freshKeys: true, keysMinted: true, fencedDigits: 12 }), 0, 'a table\'s own primary keys');
});
