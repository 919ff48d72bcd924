/**
 * A node that gains a shard in a transition copies it from the old
 * replicas before it reports ready. It must compare with enough of them
 * that every quorum of the old ring is met (2 of 3): copying from the one
 * a write missed, while the two that hold it were unreachable for a moment,
 * and reporting ready anyway, let a quorum of the new ring miss an
 * acknowledged write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';
import { Placement } from '../../../src/cluster/placement/placement.ts';
import { AntiEntropy } from '../../../src/cluster/repair/anti-entropy.ts';
import { sourcesNeeded } from '../../../src/cluster/placement/placement.ts';

test('sources needed: enough old replicas to meet every quorum of them', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(sourcesNeeded), [0, 1, 1, 2, 2, 3]);
});

test('catch-up is not done while it compared fewer old replicas than meet every quorum; once they are back, a quorum of the new ring holds the write', async (t) => {
  const cluster = await InProcessCluster.start(t, { size: 4 });
  const c = cluster as unknown as { placement: Placement };
  c.placement = new Placement({ epoch: 1, nodes: ['n1', 'n2', 'n3'] });
  await cluster.waitAllAlive();
  const transition = new Placement({ epoch: 2, nodes: ['n1', 'n2', 'n3'], target: ['n1', 'n2', 'n3', 'n4'] });
  let key = '';
  for (let i = 0; key === ''; i++) if (transition.gained('n4', cluster.shards, 3).includes(cluster.batchShard(`key${i}`))) key = `key${i}`;
  const target = transition.targetReplicas(cluster.batchShard(key), 3) as string[];
  // L leaves the shard, H and M keep it; the write reaches H and L only.
  const L = ['n1', 'n2', 'n3'].find((n) => !target.includes(n)) as string;
  const [H, M] = ['n1', 'n2', 'n3'].filter((n) => n !== L) as [string, string];
  cluster.faults.isolate(M, ['n1', 'n2', 'n3', 'n4'].filter((n) => n !== M));
  await waitUntil(() => cluster.node(H).detector.state(M) !== 'alive', 5_000, 'H suspects M');
  const ack = await cluster.write(H, [key], { consistency: 'quorum' });
  await cluster.node(H).hints.discard(M); // M gets it from no one but a repair
  cluster.faults.heal();

  c.placement = transition;
  cluster.faults.partition('n4', H);
  cluster.faults.partition('n4', L);
  const n4 = cluster.node('n4');
  await waitUntil(() => n4.detector.state(H) !== 'alive' && n4.detector.state(L) !== 'alive' && n4.detector.state(M) === 'alive', 5_000, 'n4 suspects H and L');
  const ae = new AntiEntropy({ nodeId: 'n4', shards: cluster.shards, catalog: n4.catalog, placement: () => c.placement, transport: n4.transport, detector: n4.detector, timeoutMs: 5_000, log: pino({ level: 'silent' }) });
  await assert.rejects(ae.catchUp(2), (err: Error & { code?: string }) => err.code === 'NO_QUORUM', 'one old replica of three compared: not ready');

  cluster.faults.heal();
  await waitUntil(() => n4.detector.state(H) === 'alive' && n4.detector.state(L) === 'alive', 10_000, 'n4 sees H and L again');
  const report = await ae.catchUp(2);
  assert.equal(report.skipped, 0);
  c.placement = new Placement({ epoch: 3, nodes: ['n1', 'n2', 'n3', 'n4'] });
  assert.ok((await cluster.storedIds('n4')).has(ack.ids[0] as bigint), 'n4 copied the write from H or L');
  const page = await n4.coordinator.queryRange(cluster.entry, { key, limit: 10, consistency: 'quorum' });
  assert.equal(page.records.length, 1, 'a quorum read of the new ring finds the acknowledged write');
});
