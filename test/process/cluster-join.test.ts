/**
 * A node joining a cluster that holds data: the placement leader adds it to
 * the ring (a new epoch, by CAS), the joiner copies its shards from their
 * other replicas at once (bootstrap repair), and every acknowledged record
 * reads back through it at quorum.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, waitUntil } from './cluster.ts';
import { http, sleep } from './harness.ts';
import { LEDGER, runWriters, verifyOutcome } from './load.ts';

test('a fourth node joins: new placement epoch, its shards copied before it is asked for them', { timeout: 180_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  const created = await http(`${cluster.url(0)}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...LEDGER, replicationFactor: 2 }) });
  assert.equal(created.status, 201, created.text);
  await waitUntil(async () => (await http(`${cluster.url(2)}/v1/tables/ledger`)).status === 200, 5_000, 'table everywhere');
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const writing = runWriters(cluster.url(0), 3, 50, stopped, 'j');
  await sleep(1_500);
  stop();
  const outcome = await writing;
  assert.equal(outcome.unknown.size, 0, JSON.stringify(outcome.failures));
  const before = await cluster.status(0);
  assert.equal(before.placement.nodes.length, 3);

  const i = await cluster.addNode();
  await cluster.waitConverged();
  const after = await cluster.status(0);
  assert.equal(after.placement.epoch, before.placement.epoch + 1, 'one new epoch');
  assert.deepEqual([...after.placement.nodes].sort(), ['n1', 'n2', 'n3', 'n4']);
  const joiner = after.nodes.find((n) => n.id === 'n4');
  assert.ok(joiner !== undefined && joiner.shards > 0, `n4 holds shards: ${JSON.stringify(joiner)}`);
  const node = cluster.node(i);
  await waitUntil(async () => node.events('anti_entropy').length > 0, 30_000, 'the joiner copied its shards');
  const pulled = node.events('anti_entropy').reduce((n, e) => n + Number(e['pulled'] ?? 0), 0);
  assert.ok(pulled > 0, 'the bootstrap pulled records');
  // Every acknowledged record, through the joiner, at quorum (by id) and in its export.
  await verifyOutcome(cluster.url(i), outcome);
  const repaired = await http(`${cluster.url(i)}/v1/cluster/repair`, { method: 'POST' });
  assert.equal(repaired.status, 200, repaired.text);
  assert.equal(repaired.body.differing, 0, `replicas still differ: ${repaired.text}`);
});
