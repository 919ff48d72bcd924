/**
 * Decommissioning a node that is already dead (its disk is gone): its
 * slots are copied to the nodes that take them over from the replicas that
 * are left, while writes go on at quorum, and nothing acknowledged is lost.
 * The table is created without a replication factor: the cluster's default
 * (3) is what keeps the records through the loss.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, settleWithout, waitUntil } from './cluster.ts';
import { http, sleep } from './harness.ts';
import { LEDGER, runWriters } from './load.ts';

test('a dead node is decommissioned under load: the others copy its slots from the live replicas and nothing acknowledged is lost', { timeout: 240_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: 4 });
  // No replicationFactor: a cluster's tables get --replication-factor-default (3).
  const created = await cluster.createTable(LEDGER);
  assert.equal(created['replicationFactor'], 3, JSON.stringify(created));
  for (const i of [0, 1, 2, 3]) {
    const events = await http(`${cluster.url(i)}/v1/tables/events`);
    assert.equal(events.body.replicationFactor, 3, `node ${i}: the built-in events table is replicated like the others`);
  }
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const writing = runWriters(cluster.url(0), 3, 50, stopped, 'd');
  await sleep(1_500);

  await cluster.kill(3);
  await cluster.waitPeerState(0, 3, 'suspect');
  const before = await cluster.status(0);
  const asked = await http(`${cluster.url(1)}/v1/cluster/nodes/n4/decommission`, { method: 'POST' });
  assert.equal(asked.status, 202, asked.text);
  await waitUntil(
    async () => {
      const view = await cluster.status(0);
      return view.placement.target === undefined && JSON.stringify(view.placement.nodes) === JSON.stringify(['n1', 'n2', 'n3']);
    },
    60_000,
    'n4 left the ring',
  );
  const after = await cluster.status(0);
  assert.equal(after.placement.epoch, before.placement.epoch + 2, 'a transition epoch, then the switch');
  const copied = [1, 2].flatMap((i) => cluster.node(i).events('catch_up'));
  assert.ok(copied.some((e) => Number(e['pulled'] ?? 0) > 0), `the nodes taking n4's slots pulled records: ${JSON.stringify(copied)}`);
  // Hints for n4 are thrown away once it is out of the ring; hints for live peers (replica writes
  // that timed out under load) are delivered. Then every acknowledged record is on the three nodes
  // left, which agree.
  await settleWithout(cluster, 'n4', [0, 1, 2], stop, writing);
  for (const i of [0, 1, 2]) {
    const repaired = await http(`${cluster.url(i)}/v1/cluster/repair`, { method: 'POST' });
    assert.equal(repaired.status, 200, repaired.text);
    assert.equal(repaired.body.differing, 0, `node ${i}: replicas differ after the move: ${repaired.text}`);
  }
});
