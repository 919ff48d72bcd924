/**
 * Steady-state anti-entropy between the replicas of a shard (found in a
 * review, 2026-12-07).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InProcessCluster, waitUntil, type TestNode } from '../../support/in-process-cluster.ts';
import { AntiEntropy } from '../../../src/cluster/repair/anti-entropy.ts';
import { RecordBatchBuilder, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';

const silent = pino({ level: 'silent' });

function antiEntropy(cluster: InProcessCluster, node: TestNode): AntiEntropy {
  return new AntiEntropy({ nodeId: node.id, shards: cluster.shards, catalog: node.catalog, placement: () => cluster.placement, transport: node.transport, detector: node.detector, timeoutMs: 30_000, log: silent });
}

test('a replica that missed more record bytes of a shard than one WAL frame holds is repaired (records of up to a body each)', async (t) => {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  const def = parseTableDef(
    { name: 'big', shardKey: 'k', timeField: 'ts', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'body', type: 'string' }] },
    Date.now(),
  );
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of cluster.nodes) if (n !== n1) await n.catalog.install(entry);
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  // Five records of 14 MiB in one shard: each fits a WAL frame (64 MiB), together they do not.
  const key = 'dev-1';
  const body = 'x'.repeat(14 * 1024 * 1024);
  const ids: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    const b = new RecordBatchBuilder(entry.id, 1, Date.now());
    const ts = Date.UTC(2024, 0, 1) + i;
    b.add(shardOf(key, cluster.shards), key, undefined, ts, encodeFields([key, ts, body]));
    const ack = await n1.coordinator.write(entry, Buffer.from(b.finish()), 1, () => undefined, { consistency: 'quorum' });
    ids.push(...ack.ids);
  }
  await n1.hints.discard('n3'); // n3 gets them from no one but a repair
  cluster.faults.heal();
  await cluster.waitAllAlive();

  const report = await antiEntropy(cluster, n3).repair(shardOf(key, cluster.shards));
  assert.equal(report.pulled, 5, 'every record n3 missed is pulled');
  await n3.store.readBarrier(5_000);
  const held: bigint[] = [];
  for await (const page of n3.store.scanTable(entry.id)) for (const rec of page) held.push(rec.recordKey.readBigUInt64BE(rec.recordKey.length - 8));
  assert.deepEqual(held.sort(), [...ids].sort(), 'n3 holds every record');
});

test('a round goes on past a peer whose comparison of a range fails: the other replicas still repair every range, and the failed pairs are reported as not compared', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const keys = cluster.keysOfShards(cluster.shards);
  const { ids } = await cluster.write('n1', keys, { consistency: 'quorum' });
  await n1.hints.discard('n3'); // n3 gets them from no one but a repair
  cluster.faults.heal();
  await cluster.waitAllAlive();

  // n1 is alive (its health checks pass) but cannot answer n3's LeafEntries: a reply past the gRPC message
  // limit, an index too far behind for the read barrier, a scan slower than the timeout.
  cluster.faults.add({ action: 'drop-request', from: 'n3', to: 'n1', methods: ['LeafEntries'] });
  const ae = new AntiEntropy({ nodeId: 'n3', shards: cluster.shards, catalog: n3.catalog, placement: () => cluster.placement, transport: n3.transport, detector: n3.detector, timeoutMs: 200, log: silent });
  const report = await ae.repair();
  assert.equal(report.pulled, keys.length, 'every record n3 missed is pulled from n2');
  // Where n2 comes first n3 already matches n1 by then and no LeafEntries is needed: some shards, not all.
  assert.ok(report.skipped > 0, 'the pairs with n1 that failed are reported as not compared');
  assert.deepEqual([...(await cluster.storedIds('n3')).keys()].sort(), [...ids].sort());
});

test('a replica whose catalog lacks the schema version of a record it pulls does not store the record without its primary key next to the version it replaced', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const [n1, n2, n3] = [cluster.node('n1'), cluster.node('n2'), cluster.node('n3')];
  const def = parseTableDef(
    { name: 'pk', shardKey: 'k', timeField: 'ts', primaryKey: 'p', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'p', type: 'string', required: true }, { name: 'v', type: 'int' }] },
    Date.now(),
  );
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of [n2, n3]) await n.catalog.install(entry);
  const key = 'dev-1';
  const write = (schemaVersion: number, ts: number, v: number) => {
    const b = new RecordBatchBuilder(entry.id, schemaVersion, Date.now());
    b.add(shardOf(key, cluster.shards), key, 'P1', ts, encodeFields([key, ts, 'P1', v]));
    return n1.coordinator.write(n1.catalog.require('pk'), Buffer.from(b.finish()), 1, () => undefined, { consistency: 'quorum' });
  };
  const t1 = Date.UTC(2024, 0, 1);
  const t2 = Date.UTC(2024, 5, 1);
  await write(1, t1, 1);
  // Schema version 2 reaches n1 and n2; n3 has not read it yet (the cluster catalog is read by a watch).
  const evolved = await n1.catalog.evolve('pk', (current) => ({ ...current, version: current.version + 1 }));
  await n2.catalog.install(evolved);
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  await write(2, t2, 2); // the upsert moves the record to t2
  await n1.hints.discard('n3');
  cluster.faults.heal();
  await cluster.waitAllAlive();

  await antiEntropy(cluster, n3)
    .repair(shardOf(key, cluster.shards))
    .catch(() => undefined); // not being able to repair yet is fine; storing both versions is not
  await n3.store.readBarrier(5_000);
  const schemas: number[] = [];
  for await (const page of n3.store.scanTable(entry.id)) for (const rec of page) schemas.push(readStoredValue(rec.value).schemaVersion);
  assert.ok(schemas.length <= 1, `n3 holds the record once, not the replaced version beside the new one (schema versions held: ${schemas.join(', ')})`);

  // Once n3 knows version 2, repair converges: the new version only, everywhere.
  await n3.catalog.install(evolved);
  await antiEntropy(cluster, n3).repair(shardOf(key, cluster.shards));
  for (const n of [n1, n2, n3]) {
    await n.store.readBarrier(5_000);
    const held: unknown[] = [];
    for await (const page of n.store.scanTable(entry.id)) for (const rec of page) held.push(decodeFields(readStoredValue(rec.value).fields)[3]);
    assert.deepEqual(held, [2], `${n.id} holds the upsert only`);
  }
});

test('a Fetch reply ends at its byte bound and says where to go on; repair asks again until every record is copied', async (t) => {
  const bound = 4096;
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000, fetchReplyBytesMax: bound });
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  const entry = cluster.entry;
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const key = 'dev-1';
  const shard = shardOf(key, cluster.shards);
  const b = new RecordBatchBuilder(entry.id, 1, Date.now());
  for (let i = 0; i < 300; i++) b.add(shard, key, undefined, Date.UTC(2024, 0, 1) + i, encodeFields([key, Date.UTC(2024, 0, 1) + i, i]));
  const ack = await n1.coordinator.write(entry, Buffer.from(b.finish()), 300, () => undefined, { consistency: 'quorum' });
  await n1.hints.discard('n3'); // n3 gets them from no one but a repair
  cluster.faults.heal();
  await cluster.waitAllAlive();

  // The replica side: one reply holds about `bound` bytes of records and names the first key it did not look at.
  const keys: Buffer[] = [];
  for await (const page of n1.store.scanTable(entry.id)) for (const rec of page) keys.push(rec.recordKey);
  const reply = await n1.transport.call('n1', 'Fetch', { keys }, 5_000);
  const bytes = reply.records.reduce((sum, [k, v]) => sum + k.length + v.length, 0);
  assert.ok(reply.next !== undefined && reply.next === reply.records.length, `the reply says where to go on (next ${reply.next}, ${reply.records.length} records)`);
  assert.ok(bytes <= bound && reply.records.length < keys.length, `${bytes} bytes in ${reply.records.length} records`);

  const report = await antiEntropy(cluster, n3).repair(shard);
  assert.equal(report.pulled, 300, 'every record n3 missed is pulled, a reply at a time');
  await n3.store.readBarrier(5_000);
  const held: bigint[] = [];
  for await (const page of n3.store.scanTable(entry.id)) for (const rec of page) held.push(rec.recordKey.readBigUInt64BE(rec.recordKey.length - 8));
  assert.deepEqual(held.sort(), [...ack.ids].sort(), 'n3 holds every record');
});

test('a replica that lacks more keys of a shard than one LeafEntries reply can list under the message limit is repaired: the keys come in pages, each compared as it comes', async (t) => {
  // Under a 48 KiB message limit the 1,200 keys n3 lacks (about 64 KB as one list) do not fit one reply; pages of 4 KiB do.
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000, messageBytesMax: 48 * 1024, leafEntriesReplyBytesMax: 4096, fetchReplyBytesMax: 16 * 1024 });
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  const entry = cluster.entry;
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const key = 'dev-1';
  const shard = shardOf(key, cluster.shards);
  const ids: bigint[] = [];
  for (let from = 0; from < 1_200; from += 300) {
    const b = new RecordBatchBuilder(entry.id, 1, Date.now());
    for (let i = from; i < from + 300; i++) b.add(shard, key, undefined, Date.UTC(2024, 0, 1) + i, encodeFields([key, Date.UTC(2024, 0, 1) + i, i]));
    ids.push(...(await n1.coordinator.write(entry, Buffer.from(b.finish()), 300, () => undefined, { consistency: 'quorum' })).ids);
  }
  await n1.hints.discard('n3'); // n3 gets them from no one but a repair
  cluster.faults.heal();
  await cluster.waitAllAlive();

  const report = await antiEntropy(cluster, n3).repair(shard);
  assert.equal(report.skipped, 0, 'no comparison failed');
  assert.equal(report.pulled, 1_200, 'every record n3 missed is pulled once');
  const held = await cluster.storedIds('n3');
  assert.deepEqual([...held.keys()].sort(), [...ids].sort(), 'n3 holds every record');
  assert.ok([...held.values()].every((n) => n === 1), 'each once');
  assert.deepEqual(await antiEntropy(cluster, n3).repair(shard), { shards: 1, differing: 0, pulled: 0, pushed: 0, skipped: 0 }, 'the next round finds nothing to do');
});
