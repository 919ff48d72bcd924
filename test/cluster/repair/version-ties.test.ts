/**
 * Two coordinators stamped the same HLC version on writes of one primary
 * key, and the replicas got them in different orders (decision 0052): the
 * replicas must converge on one record, through the write path, anti-entropy
 * and read repair, and stay there (a second repair round finds nothing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InProcessCluster, waitUntil, type TestNode } from '../../support/in-process-cluster.ts';
import { AntiEntropy } from '../../../src/cluster/repair/anti-entropy.ts';
import { RecordBatchBuilder, RecordBatchReader, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { TableEntry } from '../../../src/storage/catalog.ts';

const silent = pino({ level: 'silent' });
const KEY = 'dev-1';

function antiEntropy(cluster: InProcessCluster, node: TestNode): AntiEntropy {
  return new AntiEntropy({ nodeId: node.id, shards: cluster.shards, catalog: node.catalog, placement: () => cluster.placement, transport: node.transport, detector: node.detector, timeoutMs: 30_000, log: silent });
}

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

/** One record of key P1, stamped as a coordinator would: `id`, `version`. */
function stamped(cluster: InProcessCluster, entry: TableEntry, ts: number, v: number, id: bigint, version: bigint): Buffer {
  const b = new RecordBatchBuilder(entry.id, 1, 1_700_000_000_000);
  b.add(shardOf(KEY, cluster.shards), KEY, 'P1', ts, encodeFields([KEY, ts, 'P1', v]));
  const buf = Buffer.from(b.finish());
  const r = new RecordBatchReader(buf);
  r.next();
  r.id = id;
  r.version = version;
  return buf;
}

/** Replica writes straight to `target`'s Replica service, in order. */
async function deliver(from: TestNode, target: string, batches: readonly Buffer[]): Promise<void> {
  for (const batch of batches) await from.transport.call(target, 'Write', { batch }, 5_000);
}

/** What `node` stores of the table: [record key hex, v] of each record. */
async function held(node: TestNode, entry: TableEntry): Promise<[string, unknown][]> {
  await node.store.readBarrier(5_000);
  const out: [string, unknown][] = [];
  for await (const page of node.store.scanTable(entry.id)) for (const rec of page) out.push([Buffer.from(rec.recordKey).toString('hex'), decodeFields(readStoredValue(rec.value).fields)[3]]);
  return out;
}

test('equal versions from two coordinators, applied in opposite orders on two replicas: the replicas keep the same record, and anti-entropy leaves all three alike for good', async (t) => {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const entry = await pkTable(cluster);
  const [n1, n2, n3] = [cluster.node('n1'), cluster.node('n2'), cluster.node('n3')];
  const version = hlcFromParts(Date.now(), 7);
  const ts = Date.UTC(2024, 0, 1);
  // Each coordinator minted an id (worker 1 and worker 2): different ids, different record keys.
  const a = stamped(cluster, entry, ts, 1, (1n << 22n) | (1n << 12n), version);
  const b = stamped(cluster, entry, ts + 5, 2, (1n << 22n) | (2n << 12n), version);
  await deliver(n1, 'n1', [a, b]);
  await deliver(n2, 'n2', [b, a]);
  assert.deepEqual(await held(n2, entry), await held(n1, entry), 'n1 and n2 keep the same record');

  // n3 got neither: anti-entropy from it pulls both ways; a second round finds nothing left to copy.
  const shard = shardOf(KEY, cluster.shards);
  await antiEntropy(cluster, n3).repair(shard);
  const kept = await held(n1, entry);
  assert.equal(kept.length, 1);
  for (const n of [n2, n3]) assert.deepEqual(await held(n, entry), kept, `${n.id} holds what n1 holds`);
  for (const n of [n1, n2, n3]) {
    const again = await antiEntropy(cluster, n).repair(shard);
    assert.equal(again.differing, 0, `a second round from ${n.id} finds the replicas alike`);
  }
});

test('equal versions and one id (both coordinators found the stored id): a read returns one record whichever replica answers first, and read repair spreads it', async (t) => {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const entry = await pkTable(cluster);
  const [n1, n2, n3] = [cluster.node('n1'), cluster.node('n2'), cluster.node('n3')];
  const version = hlcFromParts(Date.now(), 7);
  const ts = Date.UTC(2024, 0, 1);
  const id = (3n << 22n) | 42n;
  // Same record key, same version: the Merkle summaries cannot tell these apart; only the values differ.
  const a = stamped(cluster, entry, ts, 1, id, version);
  const b = stamped(cluster, entry, ts, 2, id, version);
  await deliver(n1, 'n1', [a]);
  await deliver(n2, 'n2', [b]);
  await deliver(n3, 'n3', [a, b]);
  const winner = (await held(n3, entry))[0]?.[1];

  for (const via of [n1, n2, n3]) {
    const got = await via.coordinator.getById(entry, id, { consistency: 'all' });
    assert.ok(got !== undefined);
    assert.equal(decodeFields(readStoredValue(got.value).fields)[3], winner, `read through ${via.id} returns the record n3 kept`);
  }
  await waitUntil(async () => {
    const all = await Promise.all([n1, n2, n3].map((n) => held(n, entry)));
    return all.every((h) => h.length === 1 && h[0]?.[1] === winner);
  }, 5_000, 'read repair leaves every replica with the record n3 kept');
});

test('equal versions and one id, the replicas holding different values: anti-entropy alone brings every replica to the winner, and a second round finds them alike (decision 56)', async (t) => {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 5_000 });
  await cluster.waitAllAlive();
  const entry = await pkTable(cluster);
  const [n1, n2, n3] = [cluster.node('n1'), cluster.node('n2'), cluster.node('n3')];
  const version = hlcFromParts(Date.now(), 9);
  const ts = Date.UTC(2024, 0, 1);
  const id = (4n << 22n) | 7n;
  // Same record key and version: a summary of (record key, version) sees these as one record.
  const a = stamped(cluster, entry, ts, 1, id, version);
  const b = stamped(cluster, entry, ts, 2, id, version);
  await deliver(n1, 'n1', [a]);
  await deliver(n2, 'n2', [b]);
  await deliver(n3, 'n3', [b, a]);
  const winner = await held(n3, entry);
  assert.equal(winner.length, 1);
  const shard = shardOf(KEY, cluster.shards);
  // No read: only anti-entropy may repair. n1 and n2 each hold one side of the tie.
  const report = await antiEntropy(cluster, n1).repair(shard);
  assert.ok(report.differing > 0, 'the summaries see the replicas differ');
  for (const n of [n1, n2]) assert.deepEqual(await held(n, entry), winner, `${n.id} holds the record the tie-break keeps`);
  for (const n of [n1, n2, n3]) {
    const again = await antiEntropy(cluster, n).repair(shard);
    assert.equal(again.differing, 0, `a second round from ${n.id} finds the replicas alike`);
  }
});
