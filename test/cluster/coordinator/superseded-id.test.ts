/**
 * A read by id of a record that a newer write of its primary key, under
 * another id, superseded (two coordinators' concurrent first writes of the
 * key, last-writer-wins: decision 52). A node's store answers such an id
 * with nothing: applying the newer write deleted the older record and its
 * id entry. A replica that missed the newer write still holds the old
 * record, and the cluster read returned it from there (found in a review,
 * 2026-12-08). The read must answer what a single node answers: nothing,
 * when a replica that answered holds the key at a newer version.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, waitUntil, type TestNode } from '../../support/in-process-cluster.ts';
import { RecordBatchBuilder, RecordBatchReader, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { TableEntry } from '../../../src/storage/catalog.ts';

async function pkTable(cluster: InProcessCluster): Promise<TableEntry> {
  const def = parseTableDef(
    { name: 'pk', shardKey: 'k', timeField: 'ts', primaryKey: 'p', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'p', type: 'string', required: true }, { name: 'v', type: 'int' }] },
    Date.now(),
  );
  const [first, ...rest] = cluster.nodes as [TestNode, ...TestNode[]];
  const entry = await first.catalog.create(def, Date.now());
  for (const n of rest) await n.catalog.install(entry);
  return entry;
}

/** One record of primary key `pk`, stamped as a coordinator would: `id`, `version`. */
function stamped(cluster: InProcessCluster, entry: TableEntry, pk: string, v: number, id: bigint, version: bigint): Buffer {
  const key = `dev-${pk}`;
  const ts = Date.UTC(2026, 0, 1);
  const b = new RecordBatchBuilder(entry.id, 1, Date.now());
  b.add(shardOf(key, cluster.shards), key, pk, ts, encodeFields([key, ts, pk, v]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  r.next();
  r.id = id;
  r.version = version;
  return buf;
}

/** Replica writes of `batch` straight to each of `targets` (as a coordinator's replicate, or a hint, makes them). */
async function deliver(cluster: InProcessCluster, targets: readonly string[], batch: Buffer): Promise<void> {
  for (const target of targets) await cluster.node('n1').transport.call(target, 'Write', { batch }, 5_000);
}

const vOf = (value: Uint8Array): unknown => decodeFields(readStoredValue(value).fields)[3];

test('a read by id of a record its primary key superseded under another id answers nothing, as a single node does, though one replica missed the newer write', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const entry = await pkTable(cluster);
  const now = Date.now();
  const [oldId, newId, onlyN3] = [1_000_001n, 2_000_002n, 3_000_003n];
  // Two first writes of P1 under two ids; n3 got only the older one.
  await deliver(cluster, ['n1', 'n2', 'n3'], stamped(cluster, entry, 'P1', 1, oldId, hlcFromParts(now, 0)));
  await deliver(cluster, ['n1', 'n2'], stamped(cluster, entry, 'P1', 2, newId, hlcFromParts(now + 1, 0)));
  // A key only n3 holds (the others missed it, nothing newer of it anywhere): still found, and repaired.
  await deliver(cluster, ['n3'], stamped(cluster, entry, 'P2', 3, onlyN3, hlcFromParts(now + 2, 0)));

  // What one node answers: the superseded id is gone from its store.
  const n1 = cluster.node('n1');
  await n1.store.readBarrier(5_000);
  assert.equal(await n1.store.getById(entry.id, oldId), undefined, 'a node that applied the newer write has no record under the old id');

  for (const via of ['n1', 'n3']) {
    for (const consistency of ['one', 'quorum', 'all'] as const) {
      const got = await cluster.node(via).coordinator.getById(entry, oldId, { consistency });
      assert.equal(got, undefined, `via ${via} at ${consistency}: the superseded record is not answered`);
      const current = await cluster.node(via).coordinator.getById(entry, newId, { consistency });
      assert.equal(current === undefined ? undefined : vOf(current.value), 2, `via ${via} at ${consistency}: the newer record is`);
    }
  }
  const kept = await n1.coordinator.getById(entry, onlyN3, { consistency: 'one' });
  assert.equal(kept === undefined ? undefined : vOf(kept.value), 3, 'a record the others merely lack is found');
});

test('a read by id that finds the record superseded repairs the replica still holding it: that replica gets the newer record, which deletes the old one there', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const entry = await pkTable(cluster);
  const now = Date.now();
  const [oldId, newId] = [1_000_001n, 2_000_002n];
  // n3 missed the newer first write of P1 (its hint lost): it still holds the old record, and not the newer one.
  await deliver(cluster, ['n1', 'n2', 'n3'], stamped(cluster, entry, 'P1', 1, oldId, hlcFromParts(now, 0)));
  await deliver(cluster, ['n1', 'n2'], stamped(cluster, entry, 'P1', 2, newId, hlcFromParts(now + 1, 0)));
  const n3 = cluster.node('n3');
  await n3.store.readBarrier(5_000);
  assert.notEqual(await n3.store.getById(entry.id, oldId), undefined, 'n3 holds the old record before the read');

  const got = await cluster.node('n1').coordinator.getById(entry, oldId, { consistency: 'all' });
  assert.equal(got, undefined, 'the superseded record is not answered');
  await waitUntil(
    async () => {
      await n3.store.readBarrier(5_000);
      return (await n3.store.getById(entry.id, newId)) !== undefined && (await n3.store.getById(entry.id, oldId)) === undefined;
    },
    5_000,
    'read repair gives n3 the newer record of P1, and its apply deletes the old one',
  );
  assert.ok((cluster.node('n1').counts.repaired.get('n3') ?? 0) >= 1, 'counted as a read repair of n3');
  const current = await n3.store.getById(entry.id, newId);
  assert.equal(current === undefined ? undefined : vOf(current.value), 2);
});
