/**
 * A joiner that goes away before it is ready. n4 registers; the placement
 * leader names a target ring with it (epoch e); n4 stops itself (a
 * failpoint's SIGSTOP) the moment its registration is in etcd, so it never
 * copies its shards, then it is SIGKILLed. (A watcher in the test sending
 * SIGSTOP raced n4's catch-up on a busy machine.) Once its lease expires
 * the leader drops it from the transition (epoch e+1 is the old ring
 * again), writes go on through the whole change,
 * the hints kept for n4 are discarded, and nothing acknowledged is lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { TestCluster, settleWithout, waitUntil } from './cluster.ts';
import { sleep } from './harness.ts';
import { LEDGER, runWriters } from './load.ts';

test('a joiner SIGSTOPped as it registers, then killed, is dropped from the transition; writes go on and nothing is lost', { timeout: 180_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  // RF 3 of 4 nodes in the target ring: every target set keeps 2 live replicas for W=2.
  await cluster.createTable({ ...LEDGER, replicationFactor: 3 });
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const writing = runWriters(cluster.url(0), 3, 50, stopped, 'g');
  await sleep(2_000);
  const before = await cluster.status(0);

  const etcd = new Etcd3({ hosts: cluster.etcd.clientUrl });
  t.after(() => etcd.close());
  // n4 stops itself (SIGSTOP) right after its registration is in etcd: it never starts copying its shards.
  const { index, proc } = await cluster.spawnNode({ SLUICE_FAILPOINT: 'member.after-register=stop' });
  await waitUntil(async () => (await etcd.get('sluice/nodes/n4').string()) !== null, 30_000, 'n4 registered (and stopped at the failpoint)');

  await waitUntil(async () => (await cluster.status(0)).placement.target?.includes('n4') === true, 15_000, 'a target ring with n4');
  const transition = (await cluster.status(0)).placement;
  assert.equal(transition.epoch, before.placement.epoch + 1);
  assert.deepEqual(transition.nodes, ['n1', 'n2', 'n3'], 'reads stay on the old ring');
  await sleep(1_000);
  await proc.kill('SIGKILL');

  // Its lease (6 s in tests) runs out, and the leader takes it out of the transition.
  await waitUntil(async () => (await cluster.status(0)).placement.target === undefined, 30_000, 'the transition without n4');
  const after = await cluster.status(0);
  assert.equal(after.placement.epoch, transition.epoch + 1, 'one more epoch: back to the old ring');
  assert.deepEqual(after.placement.nodes, ['n1', 'n2', 'n3']);
  for (const i of [0, 1, 2]) {
    const copies = cluster.node(i).events('catch_up');
    assert.ok(copies.every((e) => Number(e['pulled'] ?? 0) === 0), `node ${i} gains nothing in that ring: ${JSON.stringify(copies)}`);
  }
  // The hints n1 kept for n4 are discarded, the others delivered; every node has everything.
  await settleWithout(cluster, 'n4', [0, 1, 2], stop, writing);
  assert.equal(index, 3);
});
