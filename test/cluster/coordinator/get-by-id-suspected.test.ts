/**
 * A read by id asks every node the failure detector believes alive; nodes
 * it suspects (a lapsed etcd lease, a missed health check) are asked
 * after them, never skipped. Found in a review (2026-12-08): the read left
 * suspected nodes out altogether, so a record held only by a node that
 * was suspected but reachable (a W=1 write, the other copies not yet
 * repaired) answered 404 at consistency=one, and a quorum that only the
 * suspected node could complete answered NO_QUORUM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

/** A write through `via` that only `via` stores: its peers are cut off while it is made, and their hints thrown away. */
async function writeOnlyOn(cluster: InProcessCluster, via: string, key: string): Promise<bigint> {
  const others = cluster.nodes.map((n) => n.id).filter((n) => n !== via);
  cluster.faults.isolate(via, others);
  await waitUntil(() => others.every((o) => cluster.node(via).detector.state(o) !== 'alive'), 5_000, `${via} suspects its peers`);
  const ack = await cluster.write(via, [key], { consistency: 'one' });
  for (const o of others) await cluster.node(via).hints.discard(o);
  cluster.faults.heal();
  await cluster.waitAllAlive();
  return ack.ids[0] as bigint;
}

test('a record held only by a node the reader suspects (but can reach) is found at consistency=one, not 404', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const id = await writeOnlyOn(cluster, 'n2', 'k-only-on-n2');
  const n1 = cluster.node('n1');
  // n2's etcd lease lapsed as n1 sees it: suspected, though it answers every call.
  n1.detector.track('n2', false);
  assert.equal(n1.detector.state('n2'), 'suspect');
  const got = await n1.coordinator.getById(cluster.entry, id, { consistency: 'one' });
  assert.equal(got?.id, id, 'the suspected holder was asked after the others said "not found"');
  // A quorum read finds it too: a stronger level never finds less than `one` does.
  const quorum = await n1.coordinator.getById(cluster.entry, id, { consistency: 'quorum' });
  assert.equal(quorum?.id, id);
  // An id nobody holds is still a 404 once every node answered.
  assert.equal(await n1.coordinator.getById(cluster.entry, id + 1n, { consistency: 'one' }), undefined);
});

test('a quorum that only a suspected node can complete is read from it, not refused as NO_QUORUM', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const ack = await cluster.write('n1', ['k-quorum'], { consistency: 'all' });
  const id = ack.ids[0] as bigint;
  const n1 = cluster.node('n1');
  // n3 is down; n2 is suspected but reachable: n1 alone is not the two answers a quorum needs.
  cluster.network.setDown('n3', true);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  n1.detector.track('n2', false);
  const got = await n1.coordinator.getById(cluster.entry, id, { consistency: 'quorum' });
  assert.equal(got?.id, id);
  assert.equal(await n1.coordinator.getById(cluster.entry, id + 1n, { consistency: 'quorum' }), undefined, 'a miss with two answers is a 404');
  // With n2 cut off as well, one answer is too few: NO_QUORUM, not "not found".
  cluster.faults.isolate('n2', ['n1']);
  await assert.rejects(n1.coordinator.getById(cluster.entry, id + 1n, { consistency: 'quorum' }), (err: Error & { code?: string }) => err.code === 'NO_QUORUM');
});
