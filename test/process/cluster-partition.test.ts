/**
 * A real 3-node cluster losing two nodes (W=2 unreachable) in both
 * partition modes, and losing etcd itself under load: refuse answers 503
 * NO_QUORUM with nothing written anywhere; buffer answers 202 degraded and
 * the records reach their replicas after the heal; an etcd restart neither
 * fails writes nor loses the nodes' registrations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, waitUntil } from './cluster.ts';
import { http, sleep } from './harness.ts';
import { LEDGER, runWriters, verifyOutcome } from './load.ts';

const RF3_LEDGER = { ...LEDGER, replicationFactor: 3 };

function records(tag: string, n: number): { account: string; ts: number; tag: string; amount: string; n: number }[] {
  return Array.from({ length: n }, (_, i) => ({ account: `${tag}-${i % 3}`, ts: 1_700_000_000_000 + i, tag: `${tag}-${i}`, amount: '2.50', n: i }));
}

test('partitions: refuse and buffer modes; etcd restarted under load', { timeout: 240_000 }, async (t) => {
  // The production lease TTL: an etcd restart (kill, start, leader election, client reconnect) takes a few seconds.
  const cluster = await TestCluster.start(t, { args: ['--lease-ttl-ms', '10000'] });
  await cluster.createTable(RF3_LEDGER);

  await t.test('two nodes down, W=2, refuse: 503 NO_QUORUM and nothing written anywhere', async () => {
    await cluster.kill(1);
    await cluster.kill(2);
    await cluster.waitPeerState(0, 1, 'suspect');
    await cluster.waitPeerState(0, 2, 'suspect');
    const res = await http(`${cluster.url(0)}/v1/tables/ledger/records`, { method: 'POST', body: JSON.stringify(records('refused', 9)) });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.error.code, 'NO_QUORUM');
    // consistency=one still has its one replica.
    const one = await http(`${cluster.url(0)}/v1/tables/ledger/records?consistency=one`, { method: 'POST', body: JSON.stringify(records('one', 3)) });
    assert.equal(one.status, 200, one.text);
    await cluster.startNode(1);
    await cluster.startNode(2);
    await cluster.waitConverged();
    await cluster.waitHintsDrained(0);
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 3; i++) {
        const page = await http(`${cluster.url(i)}/v1/tables/ledger/records?key=refused-${k}&consistency=one`);
        assert.equal(page.status, 200, page.text);
        assert.equal(page.body.records.length, 0, `node ${i} holds part of a refused write`);
      }
    }
    const stored = await http(`${cluster.url(2)}/v1/tables/ledger/records?key=one-0&consistency=one`);
    assert.equal(stored.body.records.length, 1, 'the consistency=one write reached the restarted replica through its hint');
  });

  await t.test('two nodes down, buffer mode: 202 degraded, and the records appear on every replica after the heal', async () => {
    await cluster.kill(0);
    await cluster.startNode(0, ['--lease-ttl-ms', '10000', '--on-partition', 'buffer']);
    await cluster.waitConverged();
    await cluster.kill(1);
    await cluster.kill(2);
    await cluster.waitPeerState(0, 1, 'suspect');
    await cluster.waitPeerState(0, 2, 'suspect');
    const res = await http(`${cluster.url(0)}/v1/tables/ledger/records`, { method: 'POST', body: JSON.stringify(records('buffered', 6)) });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.degraded, true);
    assert.equal(res.body.ids.length, 6);
    await cluster.startNode(1);
    await cluster.startNode(2);
    await cluster.waitConverged();
    await cluster.waitHintsDrained(0);
    for (let i = 1; i < 3; i++) {
      for (const [j, id] of (res.body.ids as string[]).entries()) {
        const one = await http(`${cluster.url(i)}/v1/tables/ledger/records/${id}?consistency=one`);
        assert.equal(one.status, 200, `node ${i} lacks buffered record ${j}: ${one.text}`);
        assert.equal(one.body.tag, `buffered-${j}`);
      }
    }
  });

  await t.test('etcd SIGKILLed and restarted under load: writes go on, leases and placement recover', async () => {
    const before = await cluster.status(0);
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const writers = [0, 1, 2].map((i) => runWriters(cluster.url(i), 2, 25, stopped, `e${i}`));
    await sleep(700);
    await cluster.etcd.kill();
    await sleep(1_200);
    await cluster.etcd.restart();
    await sleep(1_500);
    stop();
    const outcomes = await Promise.all(writers);
    for (const o of outcomes) {
      assert.equal(o.unknown.size, 0, `failed during the etcd restart: ${JSON.stringify(o.failures)}`);
    }
    const acked = new Map(outcomes.flatMap((o) => [...o.acked]));
    assert.ok(acked.size > 100, `only ${acked.size} records written`);
    await verifyOutcome(cluster.url(1), { acked, unknown: new Map(), refused: new Map() });
    for (let i = 0; i < 3; i++) {
      await waitUntil(async () => (await cluster.status(i)).live, 15_000, `node ${i} holds a live lease`);
      const view = await cluster.status(i);
      assert.equal(view.placement.epoch, before.placement.epoch, 'placement unchanged');
      assert.deepEqual(view.nodes.map((n) => n.state), ['alive', 'alive', 'alive']);
    }
    // The registrations are back in etcd (a write after the restart needs a live lease on the coordinator).
    const after = await http(`${cluster.url(2)}/v1/tables/ledger/records`, { method: 'POST', body: JSON.stringify(records('after', 3)) });
    assert.equal(after.status, 200, after.text);
  });
});

test('a node that cannot renew its etcd lease stops acknowledging writes until it registers again', { timeout: 120_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: 1, args: ['--lease-ttl-ms', '2000', '--keep-alive-ms', '500'] });
  const created = await http(`${cluster.url(0)}/v1/tables`, { method: 'POST', body: JSON.stringify(RF3_LEDGER) });
  assert.equal(created.status, 201, created.text);
  const before = await http(`${cluster.url(0)}/v1/tables/ledger/records`, { method: 'POST', body: JSON.stringify(records('before', 2)) });
  assert.equal(before.status, 200, before.text);
  process.kill(cluster.etcd.child.pid ?? -1, 'SIGSTOP');
  try {
    await waitUntil(async () => !(await cluster.status(0)).live, 10_000, 'the node notices it cannot renew its lease');
    const fenced = await http(`${cluster.url(0)}/v1/tables/ledger/records`, { method: 'POST', body: JSON.stringify(records('fenced', 2)) });
    assert.equal(fenced.status, 503, fenced.text);
    assert.equal(fenced.body.error.code, 'NO_QUORUM');
    assert.match(fenced.body.error.message, /lease/);
    await sleep(2_500); // past the TTL: etcd expires the lease when it runs again
  } finally {
    process.kill(cluster.etcd.child.pid ?? -1, 'SIGCONT');
  }
  await waitUntil(async () => (await cluster.status(0)).live, 20_000, 'the node registers again');
  const after = await http(`${cluster.url(0)}/v1/tables/ledger/records`, { method: 'POST', body: JSON.stringify(records('after', 2)) });
  assert.equal(after.status, 200, after.text);
  assert.ok(cluster.node(0).events('registered').length >= 2, 'registered again under a new lease');
  const page = await http(`${cluster.url(0)}/v1/tables/ledger/records?key=fenced-0`);
  assert.equal(page.body.records.length, 0, 'the refused write was not stored');
});
