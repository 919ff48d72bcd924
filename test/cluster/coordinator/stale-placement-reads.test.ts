/**
 * A coordinator that has not yet seen a ring switch reads from the old
 * ring. After the switch, writes go to the new ring only, so a quorum of
 * the old ring can miss a write a quorum of the new ring acknowledged: a
 * node that left holds nothing newer than the switch. Replicas that follow
 * the newer placement must refuse such a read, as they refuse a write
 * routed by an older epoch (decision 7), and the coordinator reads again
 * with the placement it then reads from etcd (found in a review,
 * 2026-12-07: reads carried no epoch, and a coordinator lagging behind the
 * switch, or cut off from etcd, answered without the write). The primary-key
 * lookups of a write are reads too (found in a review, 2026-12-08: LookupPks
 * carried no epoch, and a lagging coordinator minted a second id for a key
 * the new ring held). So are the Gets by id a range read or an export makes
 * for records the replicas' pages disagree on (found in a review,
 * 2026-12-08: they carried no epoch, and a ring switch between the Scan and
 * them left the read on the old ring, answering a version the new ring had
 * replaced).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, waitUntil, type TestNode } from '../../support/in-process-cluster.ts';
import { Placement } from '../../../src/cluster/placement/placement.ts';
import { ClusterCoordinator } from '../../../src/cluster/coordinator/cluster-coordinator.ts';
import { SnowflakeGenerator } from '../../../src/core/snowflake.ts';
import { systemClock } from '../../../src/core/clock.ts';
import type { TxConcluder } from '../../../src/cluster/tx/tx-concluder.ts';
import type { ReplicaTransport } from '../../../src/cluster/transport/replica-transport.ts';
import { RecordBatchBuilder, RecordBatchReader, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';

/** A coordinator on `node` that still follows `stale`; a refresh reads `fresh` (what etcd holds). */
function laggingCoordinator(cluster: InProcessCluster, node: TestNode, stale: Placement, fresh: () => Placement, transport: ReplicaTransport = node.transport): { coordinator: ClusterCoordinator; refreshes: () => number } {
  let current = stale;
  let refreshes = 0;
  const ids = new SnowflakeGenerator({ workerId: 99, clock: systemClock });
  const coordinator = new ClusterCoordinator({
    nodeId: node.id,
    hlc: node.hlc,
    ids: () => ids,
    assertLive: () => undefined,
    placement: () => current,
    refreshPlacement: async () => {
      refreshes++;
      current = fresh();
      return current;
    },
    transport,
    detector: node.detector,
    hints: node.hints,
    options: { shards: cluster.shards, replicaTimeoutMs: 300, onPartition: 'refuse', snapshotWaitMs: 1_000, maxClockOffsetMs: 500 },
    tx: {
      decisions: cluster.decisions,
      concluder: {} as TxConcluder,
      registration: () => ({ key: `nodes/${node.id}`, createRevision: '1' }),
      limits: { txBytesMax: 1 << 20, txRecordsMax: 1000, txInFlightMax: 1, txCommitDeadlineMs: 1_000 },
    },
  });
  return { coordinator, refreshes: () => refreshes };
}

test('a coordinator still on the ring before a switch does not miss a write the new ring acknowledged: the replicas refuse its reads and it reads again', async (t) => {
  const cluster = await InProcessCluster.start(t, { size: 4 });
  await cluster.waitAllAlive();
  const c = cluster as unknown as { placement: Placement };
  const before = c.placement;
  // n4 is decommissioned: the ring switches from n1..n4 to n1..n3 (the copy before the switch is not this test's subject).
  const after = new Placement({ epoch: before.epoch + 2, nodes: ['n1', 'n2', 'n3'] });
  let key = '';
  for (let i = 0; key === ''; i++) if (before.replicas(cluster.batchShard(`key${i}`), 3).includes('n4')) key = `key${i}`;
  const old = before.replicas(cluster.batchShard(key), 3);
  const [A, B] = old.filter((n) => n !== 'n4') as [string, string];
  const C = ['n1', 'n2', 'n3'].find((n) => !old.includes(n)) as string;
  c.placement = after;

  // After the switch, a write that A misses (its hint lost) is acknowledged by B and C.
  cluster.faults.isolate(A, ['n1', 'n2', 'n3', 'n4']);
  await waitUntil(() => cluster.node(B).detector.state(A) !== 'alive', 5_000, 'B suspects A');
  const ack = await cluster.write(B, [key], { consistency: 'quorum' });
  await cluster.node(B).hints.discard(A);
  cluster.faults.heal();
  await cluster.waitAllAlive();

  // C coordinates a read with the ring before the switch, where the key's replicas are A, B and n4; B is out of its reach.
  cluster.faults.partition(C, B);
  await waitUntil(() => cluster.node(C).detector.state(B) !== 'alive', 5_000, 'C suspects B');
  const lagging = laggingCoordinator(cluster, cluster.node(C), before, () => c.placement);
  const page = await lagging.coordinator.queryRange(cluster.entry, { key, limit: 10, consistency: 'quorum' });
  assert.deepEqual(page.records.map((r) => r.id), [...ack.ids], 'the range read finds the write the new ring acknowledged');
  assert.ok(lagging.refreshes() >= 1, 'the coordinator read the placement again');

  const exported: bigint[] = [];
  const stale = laggingCoordinator(cluster, cluster.node(C), before, () => c.placement);
  for await (const records of stale.coordinator.scanTable(cluster.entry, { consistency: 'quorum' })) for (const r of records) exported.push(r.id);
  assert.deepEqual(exported, [...ack.ids], 'a quorum export finds it too');
});

test('a coordinator still on the ring before a switch looks primary keys up on the new ring: the replicas refuse its LookupPks, and an upsert keeps the id the new ring holds', async (t) => {
  const cluster = await InProcessCluster.start(t, { size: 4 });
  await cluster.waitAllAlive();
  const c = cluster as unknown as { placement: Placement };
  const before = c.placement;
  const after = new Placement({ epoch: before.epoch + 2, nodes: ['n1', 'n2', 'n3'] });
  const def = parseTableDef(
    { name: 'pk', shardKey: 'k', timeField: 'ts', primaryKey: 'p', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'p', type: 'string', required: true }, { name: 'v', type: 'int' }] },
    Date.now(),
  );
  const n1 = cluster.node('n1');
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of cluster.nodes) if (n !== n1) await n.catalog.install(entry);
  let key = '';
  for (let i = 0; key === ''; i++) if (before.replicas(cluster.batchShard(`key${i}`), 3).includes('n4')) key = `key${i}`;
  const old = before.replicas(cluster.batchShard(key), 3);
  const [A, B] = old.filter((n) => n !== 'n4') as [string, string];
  const C = ['n1', 'n2', 'n3'].find((n) => !old.includes(n)) as string;
  const batch = (v: number): Buffer => {
    const b = new RecordBatchBuilder(entry.id, 1, Date.now());
    b.add(cluster.batchShard(key), key, 'P1', Date.UTC(2026, 0, 1), encodeFields([key, Date.UTC(2026, 0, 1), 'P1', v]));
    return Buffer.from(b.finish());
  };
  c.placement = after;

  // After the switch, P1's first write reaches B and C only (A cut off, its hint lost).
  cluster.faults.isolate(A, ['n1', 'n2', 'n3', 'n4']);
  await waitUntil(() => cluster.node(B).detector.state(A) !== 'alive', 5_000, 'B suspects A');
  const first = await cluster.node(B).coordinator.write(entry, batch(1), 1, () => undefined, { consistency: 'quorum' });
  await cluster.node(B).hints.discard(A);
  cluster.faults.heal();
  await cluster.waitAllAlive();

  // C upserts P1 with the ring before the switch, where P1's replicas are A, B and n4, and B is out of its reach:
  // A and n4 alone would make a quorum that never saw P1, and a second id for it.
  cluster.faults.partition(C, B);
  await waitUntil(() => cluster.node(C).detector.state(B) !== 'alive', 5_000, 'C suspects B');
  const lagging = laggingCoordinator(cluster, cluster.node(C), before, () => c.placement);
  const second = await lagging.coordinator.write(entry, batch(2), 1, () => undefined, { consistency: 'quorum' });
  assert.deepEqual(second.ids, first.ids, 'the upsert kept the id the new ring holds');
  assert.ok(lagging.refreshes() >= 1, 'the coordinator read the placement again');
});

test('a ring switch between the Scans of a range read (or an export) and its Gets of records the replicas disagree on: the Gets are refused too, and the read is made again on the new ring', async (t) => {
  const cluster = await InProcessCluster.start(t, { size: 4 });
  await cluster.waitAllAlive();
  const c = cluster as unknown as { placement: Placement };
  const before = c.placement;
  const after = new Placement({ epoch: before.epoch + 2, nodes: ['n1', 'n2', 'n3'] });
  const def = parseTableDef(
    { name: 'pk', shardKey: 'k', timeField: 'ts', primaryKey: 'p', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'p', type: 'string', required: true }, { name: 'v', type: 'int' }] },
    Date.now(),
  );
  const n1 = cluster.node('n1');
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of cluster.nodes) if (n !== n1) await n.catalog.install(entry);
  let key = '';
  for (let i = 0; key === ''; i++) if (before.replicas(cluster.batchShard(`key${i}`), 3).includes('n4')) key = `key${i}`;
  const old = before.replicas(cluster.batchShard(key), 3);
  // A (the other old replica) holds nothing of P1.
  const [, B] = old.filter((n) => n !== 'n4') as [string, string];
  const C = ['n1', 'n2', 'n3'].find((n) => !old.includes(n)) as string;
  const [t1, t2] = [Date.UTC(2026, 0, 1), Date.UTC(2026, 5, 1)];
  const id = 4_000_004n;
  const stamped = (ts: number, v: number, version: bigint): Buffer => {
    const b = new RecordBatchBuilder(entry.id, 1, Date.now());
    b.add(cluster.batchShard(key), key, 'P1', ts, encodeFields([key, ts, 'P1', v]));
    const buf = Buffer.from(b.finish());
    const r = new RecordBatchReader(buf);
    r.next();
    r.id = id;
    r.version = version;
    return buf;
  };
  // P1 was written at t1 on the old ring, where only n4 kept it (A never had it); after the switch an upsert moved it to
  // t2 on the new ring's B and C (A cut off, its hint lost), n4 having left. The replicas have not heard of the switch yet.
  const now = Date.now();
  for (const [node, batch] of [['n4', stamped(t1, 1, hlcFromParts(now, 0))], [B, stamped(t2, 2, hlcFromParts(now + 1, 0))], [C, stamped(t2, 2, hlcFromParts(now + 1, 0))]] as const) {
    await n1.transport.call(node, 'Write', { batch }, 5_000);
  }
  const vOf = (value: Uint8Array): unknown => decodeFields(readStoredValue(value).fields)[3];

  // C coordinates with the old ring (A, B, n4), B out of its reach: its Scans reach A and n4, which disagree on P1.
  cluster.faults.partition(C, B);
  await waitUntil(() => cluster.node(C).detector.state(B) !== 'alive', 5_000, 'C suspects B');
  /** C's transport, on which the replicas learn of the switch just as the first Get by id leaves. */
  const switchingAtGet = (): ReplicaTransport => {
    const inner = cluster.node(C).transport;
    let switched = false;
    return {
      call(node, method, request, timeoutMs) {
        if (method === 'Get' && !switched) {
          switched = true;
          c.placement = after;
        }
        return inner.call(node, method, request, timeoutMs);
      },
      check: (node, timeoutMs) => inner.check(node, timeoutMs),
    };
  };
  const lagging = laggingCoordinator(cluster, cluster.node(C), before, () => c.placement, switchingAtGet());
  const page = await lagging.coordinator.queryRange(entry, { key, fromMs: t1 - 1000, toMs: t1 + 1000, limit: 10, consistency: 'quorum' });
  assert.deepEqual(page.records.map((r) => vOf(r.value)), [], 'the window P1 moved out of is empty, as the new ring holds it');
  assert.ok(lagging.refreshes() >= 1, 'the coordinator read the placement again');

  c.placement = before;
  const exporting = laggingCoordinator(cluster, cluster.node(C), before, () => c.placement, switchingAtGet());
  const exported: unknown[] = [];
  for await (const records of exporting.coordinator.scanTable(entry, { consistency: 'quorum' })) for (const r of records) exported.push(vOf(r.value));
  assert.deepEqual(exported, [2], 'a quorum export holds P1 as upserted');
  assert.ok(exporting.refreshes() >= 1, 'the export read the placement again');
});
