/**
 * Membership changes under load. A node joins a cluster that holds data:
 * the placement leader names a target ring (epoch e), writes go to both
 * rings, the joiner copies the shards it gains, and reads switch to the new
 * ring (epoch e+1). Then a node is decommissioned the same way and killed.
 * Writers never stop; every acknowledged record reads back through the
 * node that joined, and the replicas of every shard end identical.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, waitUntil, type ClusterView } from './cluster.ts';
import { http, sleep } from './harness.ts';
import { LEDGER, runWriters, verifyOutcome } from './load.ts';

test('a node joins and another is decommissioned under load: two epochs each, shards copied before reads switch, nothing lost', { timeout: 240_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  await cluster.createTable({ ...LEDGER, replicationFactor: 2 }, 1);
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  // Writes go through n2, which stays in the ring throughout.
  const writing = runWriters(cluster.url(1), 3, 50, stopped, 'j');
  await sleep(1_500);
  const before = await cluster.status(1);
  assert.deepEqual(before.placement.nodes, ['n1', 'n2', 'n3']);

  const joiner = await cluster.addNode();
  await cluster.waitConverged(60_000);
  const joined = await cluster.status(1);
  assert.equal(joined.placement.epoch, before.placement.epoch + 2, 'a transition epoch, then the switch');
  assert.deepEqual(joined.placement.nodes, ['n1', 'n2', 'n3', 'n4']);
  assert.ok((joined.nodes.find((n) => n.id === 'n4')?.shards ?? 0) > 0, 'n4 holds shards');
  const catchUp = cluster.node(joiner).events('catch_up');
  assert.equal(catchUp.length, 1, 'the joiner copied its shards once, in the transition');
  assert.ok(Number(catchUp[0]?.['pulled'] ?? 0) > 0, `the joiner pulled records: ${JSON.stringify(catchUp)}`);
  assert.equal(cluster.node(joiner).events('bootstrap_repair').length, 0, 'no second copy after the switch');
  await sleep(1_000);

  const asked = await http(`${cluster.url(2)}/v1/cluster/nodes/n1/decommission`, { method: 'POST' });
  assert.equal(asked.status, 202, asked.text);
  const unknown = await http(`${cluster.url(2)}/v1/cluster/nodes/n9/decommission`, { method: 'POST' });
  assert.equal(unknown.status, 404, unknown.text);
  const left = await waitForRing(cluster, 1, ['n2', 'n3', 'n4']);
  assert.equal(left.placement.epoch, joined.placement.epoch + 2);
  assert.deepEqual(left.decommissioned, ['n1']);
  assert.equal(left.nodes.find((n) => n.id === 'n1')?.shards, 0, 'n1 holds nothing any more');
  await sleep(1_000);
  stop();
  const outcome = await writing;
  assert.equal(outcome.unknown.size, 0, JSON.stringify(outcome.failures));
  assert.ok(outcome.acked.size > 1_000, `writers made progress: ${outcome.acked.size}`);

  // n1 leaves for good; everything acknowledged is on the new ring.
  await cluster.kill(0);
  await verifyOutcome(cluster.url(joiner), outcome);
  for (const i of [1, 2, joiner]) {
    const repaired = await http(`${cluster.url(i)}/v1/cluster/repair`, { method: 'POST' });
    assert.equal(repaired.status, 200, repaired.text);
    assert.equal(repaired.body.differing, 0, `node ${i}: replicas differ after the moves: ${repaired.text}`);
  }
});

async function waitForRing(cluster: TestCluster, i: number, nodes: readonly string[]): Promise<ClusterView> {
  let view: ClusterView | undefined;
  await waitUntil(
    async () => {
      view = await cluster.status(i);
      return view.placement.target === undefined && JSON.stringify(view.placement.nodes) === JSON.stringify(nodes);
    },
    60_000,
    `ring ${nodes.join(',')}`,
  );
  assert.ok(view !== undefined);
  return view;
}
