/**
 * The cluster coordinator under network faults, in-process (three nodes
 * with real stores and hint queues, the fault-injecting transport between
 * them): a reply lost after the replica applied, an asymmetric partition,
 * a replica slower than the RPC deadline, and read repair. Each write is
 * checked on every node's own store: present once, never twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

/** How many times node `id` stores each id of `ids` (0 when absent). */
async function copies(cluster: InProcessCluster, id: string, ids: readonly bigint[]): Promise<number[]> {
  const stored = await cluster.storedIds(id);
  return ids.map((x) => stored.get(x) ?? 0);
}

test('a reply lost after the replica applied: the write succeeds at quorum, the replica is hinted, and the replay stores nothing twice', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  // n2 applies n1's write, and n1 never hears back.
  cluster.faults.add({ action: 'drop-reply', from: 'n1', to: 'n2', methods: ['Write'], times: 1 });
  const keys = cluster.keysHeldBy('n2', 20);
  const ack = await cluster.write('n1', keys);
  assert.equal(ack.ids.length, 20);
  // The answer comes at W = 2 acks; the silent replica is hinted at its deadline.
  await waitUntil(() => n1.counts.hinted.get('n2') === 20, 3_000, 'the silent replica got its part as a hint');
  assert.deepEqual(await copies(cluster, 'n2', ack.ids), keys.map(() => 1), 'n2 applied the write once before any replay');

  await waitUntil(() => n1.detector.state('n2') === 'alive', 5_000, 'n2 alive again for n1');
  await n1.replayer.run();
  assert.equal(n1.counts.replayed, 1, 'one hint replayed');
  assert.deepEqual(await n1.hints.pending(), { n2: 0 }, 'no hint left');
  for (const node of ['n1', 'n2', 'n3']) assert.deepEqual(await copies(cluster, node, ack.ids), keys.map(() => 1), `${node} stores each record once`);

  // A write at consistency=all cannot succeed without the reply: NO_QUORUM, though n2 applied it.
  cluster.faults.add({ action: 'drop-reply', from: 'n1', to: 'n2', methods: ['Write'], times: 1 });
  await assert.rejects(cluster.write('n1', ['all-1'], { consistency: 'all' }), (err: Error & { code?: string }) => err.code === 'NO_QUORUM');
});

test('an asymmetric partition (n1 → n3 lost, n3 → n1 open): writes through either side reach a quorum; hints converge both without duplicates', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  cluster.faults.partition('n1', 'n3', { oneWay: true });
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  // Health checks fail both ways: n1's requests are lost, n3's replies from n1 too.
  await waitUntil(() => n1.detector.state('n3') !== 'alive' && n3.detector.state('n1') !== 'alive', 5_000, 'n1 and n3 suspect each other');

  const fromN1 = await cluster.write('n1', ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
  const fromN3 = await cluster.write('n3', ['b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
  await waitUntil(() => n1.counts.hinted.get('n3') === 6, 3_000, 'n1 hints n3 (suspect) instead of writing to it');
  await waitUntil(() => n3.counts.hinted.get('n1') === 6, 3_000, 'n3 hints n1 (suspect) instead of writing to it');
  // Read from the side both can reach.
  for (const id of [...fromN1.ids, ...fromN3.ids]) assert.ok((await cluster.node('n2').coordinator.getById(cluster.entry, id, { consistency: 'quorum' })) !== undefined);

  cluster.faults.heal();
  await cluster.waitAllAlive();
  await n1.replayer.run();
  await n3.replayer.run();
  const all = [...fromN1.ids, ...fromN3.ids];
  for (const node of ['n1', 'n2', 'n3']) assert.deepEqual(await copies(cluster, node, all), all.map(() => 1), `${node} stores each record once`);
});

test('a replica slower than the deadline is hinted; its late write lands, and the hint is replayed once without a duplicate', async (t) => {
  const cluster = await InProcessCluster.start(t, { replicaTimeoutMs: 200 });
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  cluster.faults.add({ action: 'delay', to: 'n3', methods: ['Write'], delayMs: 500, times: 1 });
  const keys = cluster.keysHeldBy('n3', 10);
  const started = Date.now();
  const ack = await cluster.write('n1', keys);
  assert.ok(Date.now() - started < 450, 'the write answered at quorum without waiting for the slow replica');
  await waitUntil(() => n1.counts.hinted.get('n3') === 10, 3_000, 'the slow replica was hinted at its deadline');
  // The delayed request still arrives and applies.
  await waitUntil(async () => (await copies(cluster, 'n3', ack.ids)).every((c) => c === 1), 3_000, 'the late write lands on n3');

  await waitUntil(() => n1.detector.state('n3') === 'alive', 5_000, 'n3 alive again for n1');
  await n1.replayer.run();
  await n1.replayer.run();
  assert.equal(n1.counts.replayed, 1, 'the hint was replayed once, and a second round found nothing');
  assert.deepEqual(await copies(cluster, 'n3', ack.ids), keys.map(() => 1), 'still one copy of each record on n3');
});

test('read repair: a quorum read that finds a replica lacking records pushes them to it', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const [n1, n3] = [cluster.node('n1'), cluster.node('n3')];
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  const key = cluster.keysHeldBy('n3', 1)[0] as string;
  const ack = await cluster.write('n1', [key, key, key]);
  assert.deepEqual(await copies(cluster, 'n3', ack.ids), [0, 0, 0], 'n3 missed the write');
  // Its hints are thrown away: only read repair can bring the records.
  await n1.hints.discard('n3');

  cluster.faults.heal();
  await waitUntil(() => n1.detector.state('n3') === 'alive', 5_000, 'n3 alive again for n1');
  const page = await n1.coordinator.queryRange(cluster.entry, { key, limit: 10, consistency: 'all' });
  assert.deepEqual(page.records.map((r) => r.id), [...ack.ids]);
  // A table without a primary key: the records are fetched with their dedupe keys first (decision 54), then pushed.
  await waitUntil(() => n1.counts.repaired.get('n3') === 3, 3_000, 'the read pushed the three records n3 lacked');
  await waitUntil(async () => (await copies(cluster, 'n3', ack.ids)).every((c) => c === 1), 3_000, 'n3 holds the repaired records');
  assert.equal(n3.counts.hinted.size, 0);
});
