/**
 * Cleanup (decision 15) deletes data on purpose: a range goes only once its
 * current replicas hold every record of it that this node holds. In-process
 * nodes with real stores, real replica handlers and real hint queues; the
 * process test (test/process/cluster-cleanup.test.ts) covers a join with
 * real etcd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InProcessCluster, type TestNode } from '../../support/in-process-cluster.ts';
import { AntiEntropy, type ShardRange } from '../../../src/cluster/repair/anti-entropy.ts';
import { cleanup } from '../../../src/cluster/repair/cleanup.ts';
import { Placement } from '../../../src/cluster/placement/placement.ts';
import { RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { SnowflakeGenerator } from '../../../src/core/snowflake.ts';
import { systemClock } from '../../../src/core/clock.ts';

const silent = pino({ level: 'silent' });

/** Lets a test act between a range's hand-off and the drop that follows. */
class WatchedAntiEntropy extends AntiEntropy {
  afterHandOff: (range: ShardRange, peer: string) => Promise<void> = async () => undefined;

  override async handOff(range: ShardRange, peer: string): Promise<number> {
    const pushed = await super.handOff(range, peer);
    await this.afterHandOff(range, peer);
    return pushed;
  }
}

function cleanupOf(cluster: InProcessCluster, node: TestNode, ring: () => Placement, ae?: AntiEntropy) {
  const antiEntropy = ae ?? new AntiEntropy({ nodeId: node.id, shards: cluster.shards, catalog: node.catalog, placement: ring, transport: node.transport, detector: node.detector, timeoutMs: 30_000, log: silent });
  return () => cleanup({ nodeId: node.id, shards: cluster.shards, catalog: node.catalog, placement: ring, detector: node.detector, antiEntropy, store: node.store, log: silent });
}

/** A three-node ring (RF 3: every node holds every shard) that a fourth node joins. */
async function joined(t: { after: (fn: () => Promise<void> | void) => void }) {
  const cluster = await InProcessCluster.start(t, { size: 4, replicaTimeoutMs: 5_000 });
  const c = cluster as unknown as { placement: Placement };
  c.placement = new Placement({ epoch: 1, nodes: ['n1', 'n2', 'n3'] });
  await cluster.waitAllAlive();
  const after = new Placement({ epoch: 3, nodes: ['n1', 'n2', 'n3', 'n4'] });
  let shard = -1;
  for (let s = 0; s < cluster.shards && shard < 0; s++) if (!after.replicas(s, 3).includes('n1')) shard = s;
  assert.ok(shard >= 0, 'the join moves a shard away from n1');
  const keys: string[] = [];
  for (let i = 0; keys.length < 20; i++) if (cluster.batchShard(`key${i}`) === shard) keys.push(`key${i}`);
  const ack = await cluster.write('n1', keys, { consistency: 'all' });
  // Cleanup finds the ranges a node holds in its index: wait until the write is applied there.
  for (const n of cluster.nodes) await n.store.readBarrier(5_000);
  return { cluster, c, after, shard, ids: ack.ids as bigint[] };
}

test('a hint replayed into a range after its hand-off and before its drop is not deleted unhanded', async (t) => {
  const { cluster, c, after, shard } = await joined(t);
  const [n1, n2] = [cluster.node('n1'), cluster.node('n2')];
  c.placement = after;
  // A write buffered at n2 for n1 alone (--on-partition=buffer while n1 was its only reachable replica):
  // the hint is the one copy of it. n1 no longer replicates the shard, so n2 now writes it to the shard's current
  // replicas (decision 45, amended); before, it replayed it to n1 during the cleanup, which the range fence covers.
  let key = '';
  for (let i = 0; key === ''; i++) if (cluster.batchShard(`hinted${i}`) === shard) key = `hinted${i}`;
  const { buf } = cluster.batch([key]);
  const reader = new RecordBatchReader(buf);
  const id = new SnowflakeGenerator({ workerId: 2, clock: systemClock }).next();
  while (reader.next()) {
    reader.id = id;
    reader.version = n2.hlc.now();
  }
  assert.equal(reader.count, 1);
  assert.ok(await n2.hints.add('n1', buf));

  const ae = new WatchedAntiEntropy({ nodeId: 'n1', shards: cluster.shards, catalog: n1.catalog, placement: () => c.placement, transport: n1.transport, detector: n1.detector, timeoutMs: 30_000, log: silent });
  let replayed = false;
  ae.afterHandOff = async (range) => {
    if (range.shard !== shard || replayed) return;
    replayed = true;
    // The replay lands after this range's compare with its first replica, before the drop.
    await n2.replayer.run();
    await n1.store.readBarrier(5_000);
  };
  const first = await cleanupOf(cluster, n1, () => c.placement, ae)();
  assert.ok(replayed, 'the hint was replayed during the cleanup');
  assert.equal(first.ranges > 0, true, JSON.stringify(first));

  // Whatever n1 did with the hint (took it, or refused it while the range was handed off and dropped), once hints
  // are replayed and cleanup has run again the record is on every current replica of its shard.
  await n2.replayer.run();
  assert.equal((await n2.hints.pending())['n1'] ?? 0, 0, 'n2 delivered its hint');
  await cleanupOf(cluster, n1, () => c.placement)();
  for (const node of after.replicas(shard, 3)) {
    assert.equal((await cluster.storedIds(node)).has(id), true, `${node}, a replica of shard ${shard}, holds the hinted record`);
  }
  assert.equal((await cluster.storedIds('n1')).has(id), false, 'n1 dropped it once it was handed off');
});

test('cleanup before the node has read a placement answers NOT_READY and deletes nothing', async (t) => {
  const { cluster, c, ids } = await joined(t);
  const n1 = cluster.node('n1');
  // An empty ring is a placement not read yet (a node started against an etcd with no placement map).
  c.placement = new Placement({ epoch: 0, nodes: [] });
  await assert.rejects(cleanupOf(cluster, n1, () => c.placement)(), (err: Error & { code?: string }) => err.code === 'NOT_READY', 'refused');
  const stored = await cluster.storedIds('n1');
  assert.deepEqual(ids.filter((id) => !stored.has(id)), [], 'n1 kept every record');
});

test('cleanup during a membership change answers NOT_READY and deletes nothing; a transition that starts during the hand-off keeps every range', async (t) => {
  const { cluster, c, after, shard, ids } = await joined(t);
  const n1 = cluster.node('n1');
  c.placement = new Placement({ epoch: 2, nodes: ['n1', 'n2', 'n3'], target: ['n1', 'n2', 'n3', 'n4'] });
  await assert.rejects(cleanupOf(cluster, n1, () => c.placement)(), (err: Error & { code?: string }) => err.code === 'NOT_READY', 'refused while moving');

  c.placement = after;
  const ae = new WatchedAntiEntropy({ nodeId: 'n1', shards: cluster.shards, catalog: n1.catalog, placement: () => c.placement, transport: n1.transport, detector: n1.detector, timeoutMs: 30_000, log: silent });
  ae.afterHandOff = async () => {
    c.placement = new Placement({ epoch: 4, nodes: after.nodes, target: ['n2', 'n3', 'n4'] });
  };
  const report = await cleanupOf(cluster, n1, () => c.placement, ae)();
  assert.equal(report.ranges, 0, JSON.stringify(report));
  assert.ok(report.skipped.some((s) => s.shard === shard && /placement changed/.test(s.reason)), `the handed range is reported kept: ${JSON.stringify(report.skipped)}`);
  const stored = await cluster.storedIds('n1');
  assert.deepEqual(ids.filter((id) => !stored.has(id)), [], 'n1 kept every record');
});

test('a cleanup whose index sync after the drop fails answers STORAGE_IO (not done); run again, it completes', async (t) => {
  const { cluster, c, after, shard } = await joined(t);
  const n1 = cluster.node('n1');
  c.placement = after;
  // In-process fault injection: the index fsync after the drop fails (an I/O error), the one before it works.
  const engine = (n1.store as unknown as { engine: { sync: () => Promise<void> } }).engine;
  const sync = engine.sync.bind(engine);
  let calls = 0;
  const mocked = t.mock.method(engine, 'sync', () => (++calls === 2 ? Promise.reject(new Error('EIO: fsync failed on purpose')) : sync()));
  await assert.rejects(cleanupOf(cluster, n1, () => c.placement)(), (err: Error & { code?: string; status?: number }) => err.code === 'STORAGE_IO' && err.status === 500 && /did not complete/.test(err.message));
  mocked.mock.restore();
  const again = await cleanupOf(cluster, n1, () => c.placement)();
  assert.deepEqual(again.skipped, [], JSON.stringify(again));
  assert.equal(await n1.store.holds({ shard, tableId: cluster.entry.id }), false);
});
