/**
 * A primary-key upsert that moves a record to another event time, taken by
 * a quorum while the third replica was cut off (and its hint lost): quorum
 * reads that pair that replica with one holding the upsert must not return
 * the replaced version, by range or in a snapshot export (found in a
 * review, 2026-12-07: the merge keeps the newest version per id among the
 * pages it got, and the newer version was not in them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';
import { RecordBatchBuilder } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';

test('quorum reads after an upsert that moved a record in time return the new version only, by range and in a snapshot export', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  const def = parseTableDef(
    { name: 'pk', shardKey: 'k', timeField: 'ts', primaryKey: 'p', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'p', type: 'string', required: true }, { name: 'v', type: 'int' }] },
    Date.now(),
  );
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of cluster.nodes) if (n !== n1) await n.catalog.install(entry);
  const key = 'dev-1';
  const write = (ts: number, v: number) => {
    const b = new RecordBatchBuilder(entry.id, 1, Date.now());
    b.add(shardOf(key, cluster.shards), key, 'P1', ts, encodeFields([key, ts, 'P1', v]));
    return n1.coordinator.write(entry, Buffer.from(b.finish()), 1, () => undefined, { consistency: 'quorum' });
  };
  const vOf = (value: Uint8Array): unknown => decodeFields(readStoredValue(value).fields)[3];
  const t1 = Date.UTC(2024, 0, 1);
  const t2 = Date.UTC(2024, 5, 1);
  const first = await write(t1, 1);
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const second = await write(t2, 2);
  assert.deepEqual(second.ids, first.ids, 'the upsert kept the id');
  await n1.hints.discard('n3');
  cluster.faults.heal();
  await cluster.waitAllAlive();

  const around = (ms: number) => ({ key, fromMs: ms - 1000, toMs: ms + 1000, limit: 10, consistency: 'quorum' as const });
  // n3 coordinates: its own replica (the old version) is always one of the quorum.
  const old = await n3.coordinator.queryRange(entry, around(t1));
  assert.equal(old.records.length, 0, 'the window of the replaced version is empty');
  const now = await n3.coordinator.queryRange(entry, around(t2));
  assert.deepEqual(now.records.map((r) => vOf(r.value)), [2]);
  const all = await n3.coordinator.queryRange(entry, { key, limit: 10, consistency: 'quorum' });
  assert.deepEqual(all.records.map((r) => vOf(r.value)), [2], 'one record, the upsert');
  const exported: unknown[] = [];
  for await (const page of n3.coordinator.scanTable(entry, { consistency: 'quorum' })) for (const r of page) exported.push(vOf(r.value));
  assert.deepEqual(exported, [2], 'a quorum export holds the record once, as upserted');
});
