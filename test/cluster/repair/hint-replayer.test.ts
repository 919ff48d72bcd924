/**
 * The hint replayer's housekeeping (found in a review, 2026-12-07).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';
import { Placement } from '../../../src/cluster/placement/placement.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { SnowflakeGenerator } from '../../../src/core/snowflake.ts';
import { systemClock } from '../../../src/core/clock.ts';

test('the queue of a node that left the ring is discarded also when every hint in it was delivered', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  await cluster.write('n1', cluster.keysHeldBy('n3', 5), { consistency: 'quorum' });
  cluster.faults.heal();
  await cluster.waitAllAlive();
  await n1.replayer.run();
  assert.deepEqual(await n1.hints.pending(), { n3: 0 }, 'delivered');
  const dir = path.join((n1.hints as unknown as { o: { dir: string } }).o.dir, 'n3');
  assert.ok(existsSync(dir));

  // n3 is decommissioned: a ring without it.
  (cluster as unknown as { placement: Placement }).placement = new Placement({ epoch: 2, nodes: ['n1', 'n2'] });
  await n1.replayer.run();
  assert.deepEqual(await n1.hints.pending(), {}, 'no queue for a node outside the ring (it held delivered hints only)');
  assert.equal(existsSync(dir), false, 'its files (a segment of delivered hints, up to HINT_SEGMENT_BYTES_MAX) are gone');
});

/**
 * A write buffered (`--on-partition=buffer`, 202 degraded) for an RF 1 table while its one replica was out of
 * reach: the hint at another node is its only copy, counted for W. Then the shard moves off that replica before the
 * hint is replayed; the new owner's copy of the shard came from the old one, which did not have the record either.
 */
async function bufferedThenMoved(t: Parameters<typeof InProcessCluster.start>[0], moved: Placement, from?: string) {
  const cluster = await InProcessCluster.start(t, { size: 4 });
  const c = cluster as unknown as { placement: Placement };
  c.placement = new Placement({ epoch: 1, nodes: ['n1', 'n2', 'n3'] });
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  const def = parseTableDef({ name: 'rf1', shardKey: 'k', timeField: 'ts', replicationFactor: 1, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }] }, Date.now());
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of cluster.nodes) if (n !== n1) await n.catalog.install(entry);
  const was = (s: number): string => c.placement.replicas(s, 1)[0] as string;
  const shard = Array.from({ length: cluster.shards }, (_, s) => s).find((s) => was(s) !== moved.replicas(s, 1)[0] && was(s) !== 'n2' && (from === undefined || was(s) === from));
  assert.ok(shard !== undefined, 'the ring change moves an RF 1 shard between nodes other than n2');
  const owner = moved.replicas(shard, 1)[0] as string;
  let key = '';
  for (let i = 0; i < 10_000 && key === ''; i++) if (shardOf(`k${i}`, cluster.shards) === shard) key = `k${i}`;
  const b = new RecordBatchBuilder(entry.id, 1, Date.now());
  b.add(shard, key, undefined, Date.now(), encodeFields([key, Date.now()]));
  const buf = Buffer.from(b.finish());
  const reader = new RecordBatchReader(buf);
  const n2 = cluster.node('n2');
  const id = new SnowflakeGenerator({ workerId: 2, clock: systemClock }).next();
  while (reader.next()) {
    reader.id = id;
    reader.version = n2.hlc.now();
  }
  const target = was(shard);
  assert.ok(await n2.hints.add(target, buf));
  c.placement = moved;
  const holds = async (node: string): Promise<boolean> => (await cluster.node(node).store.getById(entry.id, id)) !== undefined;
  return { n2, was: target, owner, holds };
}

test('a hint for a node that no longer replicates its shard (a join moved it) reaches the shard\'s current replica', async (t) => {
  const { n2, was, owner, holds } = await bufferedThenMoved(t, new Placement({ epoch: 3, nodes: ['n1', 'n2', 'n3', 'n4'] }));
  await n2.replayer.run();
  assert.deepEqual(await n2.hints.pending(), { [was]: 0 }, 'the hint is done with');
  await waitUntil(() => holds(owner), 3_000, `${owner}, the shard's replica now, holds the buffered record`);
  assert.equal(await holds(was), false, `${was}, which no longer replicates the shard, was not sent it`);
});

test('the queue of a node decommissioned with a buffered hint in it goes to the hint\'s current replica, not away', async (t) => {
  // n1 decommissioned: the shards it held (the buffered record's among them) moved to n2 and n3; its queue is left.
  const { n2, owner, holds } = await bufferedThenMoved(t, new Placement({ epoch: 3, nodes: ['n2', 'n3'] }), 'n1');
  await n2.replayer.run();
  assert.deepEqual(await n2.hints.pending(), {}, 'the queue of a node outside the ring is gone');
  await waitUntil(() => holds(owner), 3_000, `${owner}, the shard's replica now, holds the buffered record`);
});
