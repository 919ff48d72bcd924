/**
 * A hint delivered again (the coordinator crashed after the target stored
 * it and before the delivery cursor was written) changes nothing on the
 * target: for a table without keys, for a table with a primary key (an
 * upsert's older version replayed after its newer one), and for records
 * written with dedupe keys. Checked in a review, 2026-12-08.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBatchBuilder, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { TableEntry } from '../../../src/storage/catalog.ts';
import { InProcessCluster, waitUntil, type TestNode } from '../../support/in-process-cluster.ts';

async function table(cluster: InProcessCluster, def: Record<string, unknown>): Promise<TableEntry> {
  const n1 = cluster.node('n1');
  const entry = await n1.catalog.create(parseTableDef(def, Date.now()), Date.now());
  for (const n of cluster.nodes) if (n !== n1) await n.catalog.install(entry);
  return entry;
}

/** `node`'s records of `entry`: id → the stored fields, and how often each id occurs. */
async function stored(node: TestNode, entry: TableEntry): Promise<{ fields: Map<bigint, unknown[]>; counts: number[] }> {
  await node.store.readBarrier(5_000);
  const fields = new Map<bigint, unknown[]>();
  const seen = new Map<bigint, number>();
  for await (const page of node.store.scanTable(entry.id)) {
    for (const rec of page) {
      const id = rec.recordKey.readBigUInt64BE(rec.recordKey.length - 8);
      fields.set(id, decodeFields(readStoredValue(rec.value).fields));
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  }
  return { fields, counts: [...seen.values()] };
}

test('every hint replayed a second time, in order after the first pass, leaves the target as one pass did', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  const pk = await table(cluster, { name: 'pk', shardKey: 'k', timeField: 'ts', primaryKey: 'p', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'p', type: 'string', required: true }, { name: 'v', type: 'int' }] });
  const keyed = await table(cluster, { name: 'events', shardKey: 'k', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'v', type: 'int' }] });
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');

  const plain = await cluster.write('n1', cluster.keysHeldBy('n3', 20), { consistency: 'quorum' });
  const upsert = (v: number) => {
    const b = new RecordBatchBuilder(pk.id, 1, Date.now());
    for (let i = 0; i < 5; i++) b.add(shardOf('dev-1', cluster.shards), 'dev-1', `P${i}`, Date.UTC(2026, 0, 1, v), encodeFields(['dev-1', Date.UTC(2026, 0, 1, v), `P${i}`, v]));
    return n1.coordinator.write(pk, Buffer.from(b.finish()), 5, () => undefined, { consistency: 'quorum' });
  };
  const v1 = await upsert(1);
  const v2 = await upsert(2);
  assert.deepEqual(v2.ids, v1.ids, 'the upsert kept the ids');
  const msgs = new RecordBatchBuilder(keyed.id, 1, Date.UTC(2026, 0, 1));
  for (let i = 0; i < 5; i++) msgs.add(shardOf('dev-1', cluster.shards), 'dev-1', `kafka:orders:0:${String(i).padStart(20, '0')}`, Date.UTC(2026, 0, 1), encodeFields(['dev-1', i]));
  const sent = await n1.coordinator.write(keyed, Buffer.from(msgs.finish()), 5, () => undefined, { consistency: 'quorum', keyed: true });

  cluster.faults.heal();
  await cluster.waitAllAlive();
  const hints: Buffer[] = [];
  await n1.hints.replay('n3', async (batch) => {
    await n3.transport.call('n3', 'Write', { batch }, 5_000);
    hints.push(Buffer.from(batch));
  });
  assert.ok(hints.length >= 4, `${hints.length} hints: the plain write, both upserts, the keyed write`);
  const once = { plain: await stored(n3, cluster.entry), pk: await stored(n3, pk), keyed: await stored(n3, keyed) };
  assert.deepEqual([...once.pk.fields.values()].map((f) => f[3]), [2, 2, 2, 2, 2], 'one pass: the upserted version');

  // The crash: the cursor never made it to disk, so the next start replays every hint again, in order.
  for (const batch of hints) await n3.transport.call('n3', 'Write', { batch }, 5_000);
  const twice = { plain: await stored(n3, cluster.entry), pk: await stored(n3, pk), keyed: await stored(n3, keyed) };
  assert.deepEqual(twice, once, 'the second pass changed nothing');
  assert.deepEqual([...twice.plain.fields.keys()].sort(), [...plain.ids].sort());
  assert.deepEqual(twice.plain.counts, plain.ids.map(() => 1), 'one record per id');
  assert.deepEqual([...twice.pk.fields.keys()].sort(), [...v2.ids].sort());
  assert.deepEqual([...twice.pk.fields.values()].map((f) => f[3]), [2, 2, 2, 2, 2], 'the older version replayed after the newer one did not win');
  assert.deepEqual(twice.keyed.counts, [1, 1, 1, 1, 1], 'one record per message');
  const lookups = sent.ids.map((_, i) => ({ shard: shardOf('dev-1', cluster.shards), tableId: keyed.id, pk: Buffer.from(`kafka:orders:0:${String(i).padStart(20, '0')}`, 'utf8') }));
  assert.deepEqual((await n3.store.lookupPks(lookups)).map((e) => e?.id), sent.ids, 'each dedupe key resolves to the id it was written with');
  const pkLookups = v2.ids.map((_, i) => ({ shard: shardOf('dev-1', cluster.shards), tableId: pk.id, pk: Buffer.from(`P${i}`, 'utf8') }));
  assert.deepEqual((await n3.store.lookupPks(pkLookups)).map((e) => e?.id), v2.ids, 'each primary key resolves to its id');
});
