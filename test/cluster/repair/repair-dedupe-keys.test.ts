/**
 * Repair keeps a record's dedupe key (decision 54). A table without a
 * primary key written with dedupe keys (a Kafka source's
 * `kafka:<topic>:<partition>:<offset>`, a file's row key) answers a re-sent
 * record with the id it was stored with, and a re-delivery replaces the
 * record it repeats. A replica that got such records from anti-entropy must
 * do the same: before, repair rebuilt them without their keys and the
 * replica stored them as plain appended records, with no dedupe-key entry.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InProcessCluster, waitUntil, type TestNode } from '../../support/in-process-cluster.ts';
import { AntiEntropy } from '../../../src/cluster/repair/anti-entropy.ts';
import { RecordBatchBuilder } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { TableEntry } from '../../../src/storage/catalog.ts';
import { batchesOfRecords } from '../../../src/cluster/repair/record-batches.ts';
import type { ReplicaTransport } from '../../../src/cluster/transport/replica-transport.ts';

const silent = pino({ level: 'silent' });

function antiEntropy(cluster: InProcessCluster, node: TestNode): AntiEntropy {
  return new AntiEntropy({ nodeId: node.id, shards: cluster.shards, catalog: node.catalog, placement: () => cluster.placement, transport: node.transport, detector: node.detector, timeoutMs: 30_000, log: silent });
}

/** A table without a primary key nor a time field: a record's key holds its ingest time, as the pipeline stamps it. */
async function keyedTable(cluster: InProcessCluster): Promise<TableEntry> {
  const n1 = cluster.node('n1');
  const def = parseTableDef({ name: 'events', shardKey: 'k', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'v', type: 'int' }] }, Date.now());
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of cluster.nodes) if (n !== n1) await n.catalog.install(entry);
  return entry;
}

/** The Kafka source's key of message `offset` of partition 0 of topic `orders`. */
const kafkaKey = (offset: number): string => `kafka:orders:0:${String(offset).padStart(20, '0')}`;

/** Messages 0..n-1 of one device as a keyed batch, ingested at `ingestMs` (a re-delivery is ingested later). */
function messages(cluster: InProcessCluster, entry: TableEntry, n: number, ingestMs: number): { buf: Buffer; count: number } {
  const b = new RecordBatchBuilder(entry.id, 1, ingestMs);
  for (let i = 0; i < n; i++) b.add(shardOf('dev-1', cluster.shards), 'dev-1', kafkaKey(i), ingestMs, encodeFields(['dev-1', i]));
  return { buf: Buffer.from(b.finish()), count: n };
}

/** Node `node`'s records of `entry`, by id with how often each occurs. */
async function storedIds(node: TestNode, entry: TableEntry): Promise<Map<bigint, number>> {
  await node.store.readBarrier(5_000);
  const out = new Map<bigint, number>();
  for await (const page of node.store.scanTable(entry.id)) {
    for (const rec of page) {
      const id = rec.recordKey.readBigUInt64BE(rec.recordKey.length - 8);
      out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

/** n3 misses `count` keyed messages (written at quorum by n1, its hints dropped), then anti-entropy pulls them. */
async function repairedReplica(t: TestContext, count: number): Promise<{ cluster: InProcessCluster; entry: TableEntry; ids: readonly bigint[] }> {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const entry = await keyedTable(cluster);
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const first = messages(cluster, entry, count, Date.UTC(2026, 0, 1));
  const { ids } = await n1.coordinator.write(entry, first.buf, first.count, () => undefined, { consistency: 'quorum', keyed: true });
  await n1.hints.discard('n3'); // n3 gets them from no one but a repair
  cluster.faults.heal();
  await cluster.waitAllAlive();
  const report = await antiEntropy(cluster, n3).repair(shardOf('dev-1', cluster.shards));
  assert.equal(report.pulled, count, 'n3 pulls every message it missed');
  return { cluster, entry, ids };
}

test('a replica repaired by anti-entropy knows the dedupe keys of the records it was copied', async (t) => {
  const { cluster, entry, ids } = await repairedReplica(t, 5);
  const n3 = cluster.node('n3');
  await n3.store.readBarrier(5_000);
  const shard = shardOf('dev-1', cluster.shards);
  const found = await n3.store.lookupPks(ids.map((_, i) => ({ shard, tableId: entry.id, pk: Buffer.from(kafkaKey(i), 'utf8') })));
  assert.deepEqual(found.map((e) => e?.id), ids, "n3 resolves each message's dedupe key to the id it was stored with");
});

test('after a failover to the repaired replica, re-delivered messages replace the records they repeat: one record per message there', async (t) => {
  const count = 5;
  const { cluster, entry, ids } = await repairedReplica(t, count);
  const [n2, n3] = [cluster.node('n2'), cluster.node('n3')];
  // n1 fails; the source re-delivers the messages since its last commit through n2, later (a new ingest-time key).
  cluster.faults.isolate('n1', ['n2', 'n3']);
  await waitUntil(() => n2.detector.state('n1') !== 'alive', 5_000, 'n2 suspects n1');
  const again = messages(cluster, entry, count, Date.UTC(2026, 0, 1, 0, 5));
  const ack = await n2.coordinator.write(entry, again.buf, again.count, () => undefined, { consistency: 'quorum', keyed: true });
  assert.deepEqual(ack.ids, ids, 'the re-delivered messages keep their ids');
  const held = await storedIds(n3, entry);
  assert.deepEqual([...held.keys()].sort(), [...ids].sort(), 'n3 holds the messages');
  assert.deepEqual([...held.values()], ids.map(() => 1), 'n3 holds one record per message, not the repaired copy beside the re-delivery');
});

test('the repaired replica passes the keys on to a newer asker; an asker of an earlier release (no withDedupeKeys) gets the records alone, as before', async (t) => {
  const { cluster, entry } = await repairedReplica(t, 3);
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  await n3.store.readBarrier(5_000);
  const keys: Buffer[] = [];
  for await (const page of n3.store.scanTable(entry.id)) for (const rec of page) keys.push(rec.recordKey);
  assert.equal(keys.length, 3);
  const newer = await n1.transport.call('n3', 'Fetch', { keys, withDedupeKeys: true }, 5_000);
  assert.deepEqual(newer.dedupeKeys?.map((k) => k?.toString('utf8')), [0, 1, 2].map(kafkaKey), 'one key per record, as the first write had it');
  const older = await n1.transport.call('n3', 'Fetch', { keys }, 5_000);
  assert.equal(older.records.length, 3);
  assert.equal(older.dedupeKeys, undefined, 'no keys for an asker that would drop them');
});

/** n3 misses `count` keyed messages of one device (written at quorum by n1, its hints dropped); nothing repaired yet. */
async function missedByN3(t: TestContext, count: number): Promise<{ cluster: InProcessCluster; entry: TableEntry; ids: readonly bigint[] }> {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const entry = await keyedTable(cluster);
  const n1 = cluster.node('n1');
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const first = messages(cluster, entry, count, Date.UTC(2026, 0, 1));
  const { ids } = await n1.coordinator.write(entry, first.buf, first.count, () => undefined, { consistency: 'quorum', keyed: true });
  await n1.hints.discard('n3');
  cluster.faults.heal();
  await cluster.waitAllAlive();
  return { cluster, entry, ids };
}

/** Waits until n3 resolves every message's dedupe key, then returns the ids it resolves them to. */
async function keyedIdsOnN3(cluster: InProcessCluster, entry: TableEntry, count: number): Promise<(bigint | undefined)[]> {
  const n3 = cluster.node('n3');
  const shard = shardOf('dev-1', cluster.shards);
  const lookups = Array.from({ length: count }, (_, i) => ({ shard, tableId: entry.id, pk: Buffer.from(kafkaKey(i), 'utf8') }));
  await waitUntil(async () => (await storedIds(n3, entry)).size === count, 5_000, 'n3 holds the repaired records');
  return (await n3.store.lookupPks(lookups)).map((e) => e?.id);
}

test('read repair of a range page copies the records n3 lacked with their dedupe keys', async (t) => {
  const { cluster, entry, ids } = await missedByN3(t, 3);
  const page = await cluster.node('n1').coordinator.queryRange(entry, { key: 'dev-1', limit: 10, consistency: 'all' });
  assert.deepEqual(page.records.map((r) => r.id), [...ids]);
  assert.deepEqual(await keyedIdsOnN3(cluster, entry, 3), ids, 'n3 resolves each key to the id it was stored with');
});

test('read repair of a read by id copies the record n3 lacked with its dedupe key', async (t) => {
  const { cluster, entry, ids } = await missedByN3(t, 1);
  const rec = await cluster.node('n1').coordinator.getById(entry, ids[0] as bigint, { consistency: 'all' });
  assert.equal(rec?.id, ids[0]);
  assert.deepEqual(await keyedIdsOnN3(cluster, entry, 1), ids);
});

test('hints keep dedupe keys: a replica that gets keyed records by hint replay resolves their keys (checked, no change needed)', async (t) => {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const entry = await keyedTable(cluster);
  const n1 = cluster.node('n1');
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const first = messages(cluster, entry, 3, Date.UTC(2026, 0, 1));
  const { ids } = await n1.coordinator.write(entry, first.buf, first.count, () => undefined, { consistency: 'quorum', keyed: true });
  // The write answers at W acks; n3's hint may still be on its way to disk.
  await waitUntil(async () => (await n1.hints.pending())['n3'] === 1, 5_000, 'n1 holds the hint for n3');
  cluster.faults.heal();
  await cluster.waitAllAlive();
  await n1.replayer.run();
  assert.deepEqual(await keyedIdsOnN3(cluster, entry, 3), ids, 'the hinted batch carried its keys');
});

test('a replica that holds the records but not their dedupe-key entries (repaired before decision 54) gets the entries from anti-entropy; a re-delivery after a failover then stores one record per message there (decision 56)', async (t) => {
  const count = 3;
  const { cluster, entry, ids } = await missedByN3(t, count);
  const [n1, n2, n3] = [cluster.node('n1'), cluster.node('n2'), cluster.node('n3')];
  const shard = shardOf('dev-1', cluster.shards);
  // Repair as it was before decision 54: the records copied without their keys.
  const keys: Buffer[] = [];
  for await (const page of n1.store.scanTable(entry.id)) for (const rec of page) keys.push(rec.recordKey);
  const old = await n1.transport.call('n1', 'Fetch', { keys }, 5_000);
  for (const batch of batchesOfRecords((id) => n1.catalog.byId(id), old.records, 1 << 24)) await n1.transport.call('n3', 'Write', { batch }, 5_000);
  await n3.store.readBarrier(5_000);
  const lookups = ids.map((_, i) => ({ shard, tableId: entry.id, pk: Buffer.from(kafkaKey(i), 'utf8') }));
  assert.deepEqual((await n3.store.lookupPks(lookups)).map((e) => e?.id), ids.map(() => undefined), 'n3 holds the records without their keys');

  await antiEntropy(cluster, n1).repair(shard);
  await n3.store.readBarrier(5_000);
  assert.deepEqual((await n3.store.lookupPks(lookups)).map((e) => e?.id), ids, 'anti-entropy gave n3 the key entries');
  for (const n of [n1, n2, n3]) assert.equal((await antiEntropy(cluster, n).repair(shard)).differing, 0, `a second round from ${n.id} finds the replicas alike`);

  cluster.faults.isolate('n1', ['n2', 'n3']);
  await waitUntil(() => n2.detector.state('n1') !== 'alive', 5_000, 'n2 suspects n1');
  const again = messages(cluster, entry, count, Date.UTC(2026, 0, 1, 0, 5));
  const ack = await n2.coordinator.write(entry, again.buf, again.count, () => undefined, { consistency: 'quorum', keyed: true });
  assert.deepEqual(ack.ids, ids, 'the re-delivered messages keep their ids');
  const stored = await storedIds(n3, entry);
  assert.deepEqual([...stored.values()], ids.map(() => 1), 'n3 holds one record per message');
});

/** n1's transport as if `old` ran a release before decision 56: it ignores the fields it does not know. */
function olderPeer(node: TestNode, old: string): ReplicaTransport {
  const inner = node.transport;
  return {
    call(to, method, request, timeoutMs) {
      if (to !== old) return inner.call(to, method, request, timeoutMs);
      const { summary: _summary, keys: _keys, ...known } = request as { summary?: unknown; keys?: unknown };
      return inner.call(to, method, known as typeof request, timeoutMs);
    },
    check: (to, timeoutMs) => inner.check(to, timeoutMs),
  };
}

test('with a replica of an earlier release (summary 1 only), anti-entropy compares summary 1: it repairs what that replica lacks, and alike replicas stay alike (decision 56)', async (t) => {
  const { cluster, entry, ids } = await missedByN3(t, 3);
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  const shard = shardOf('dev-1', cluster.shards);
  const withOlderN3 = (): AntiEntropy =>
    new AntiEntropy({ nodeId: n1.id, shards: cluster.shards, catalog: n1.catalog, placement: () => cluster.placement, transport: olderPeer(n1, 'n3'), detector: n1.detector, timeoutMs: 30_000, log: silent });
  const first = await withOlderN3().repair(shard);
  assert.equal(first.pushed, 3, 'the records n3 lacked are pushed to it');
  assert.deepEqual([...(await storedIds(n3, entry)).keys()].sort(), [...ids].sort());
  const again = await withOlderN3().repair(shard);
  assert.equal(again.differing, 0, 'a summary 2 of n1 is not compared with the summary 1 of n3: no difference at every round');
});
