/**
 * A real 3-node cluster (real etcd, real processes, RF=3, W=R=quorum)
 * through the failures of issue #3: a node SIGKILLed under load, a node
 * paused past the suspect threshold, a coordinator killed right after it
 * acknowledged, and a node whose data dir is wiped. After each, every
 * acknowledged record reads back at quorum and the replicas converge:
 * their Merkle summaries match (a repair round finds nothing to copy).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, waitUntil } from './cluster.ts';
import { http, sleep } from './harness.ts';
import { LEDGER, runWriters, verifyOutcome, type LoadOutcome } from './load.ts';

const RF3_LEDGER = { ...LEDGER, replicationFactor: 3 };

/** Runs `repair` on node `i` and returns its report. */
async function repair(cluster: TestCluster, i: number): Promise<{ shards: number; differing: number; pulled: number; pushed: number }> {
  const res = await http(`${cluster.url(i)}/v1/cluster/repair`, { method: 'POST' });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** Lines of node `i`'s export (each shard read from one replica, this node's own first). */
async function exportIds(cluster: TestCluster, i: number): Promise<Set<string>> {
  const res = await http(`${cluster.url(i)}/v1/tables/ledger/export?consistency=one`);
  assert.equal(res.status, 200, res.text);
  const ids = res.text.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { _id: string })._id);
  const set = new Set(ids);
  assert.equal(set.size, ids.length, `node ${i} exports an id twice`);
  return set;
}

/** Merges outcomes of writers on several coordinators. */
function merge(outcomes: readonly LoadOutcome[]): LoadOutcome {
  const out: LoadOutcome = { acked: new Map(), unknown: new Map(), refused: new Map(), failures: [] };
  for (const o of outcomes) {
    out.failures?.push(...(o.failures ?? []));
    for (const [k, v] of o.acked) out.acked.set(k, v);
    for (const [k, v] of o.unknown) out.unknown.set(k, v);
    for (const [k, v] of o.refused) out.refused.set(k, (out.refused.get(k) ?? 0) + v);
  }
  return out;
}

test('3-node cluster, RF=3: failover, hints, repair', { timeout: 240_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  const created = await http(`${cluster.url(1)}/v1/tables`, { method: 'POST', body: JSON.stringify(RF3_LEDGER) });
  assert.equal(created.status, 201, created.text);
  await waitUntil(async () => (await http(`${cluster.url(2)}/v1/tables/ledger`)).status === 200, 5_000, 'table visible on node 2');

  const view = await cluster.status(0);
  assert.deepEqual([...view.placement.nodes].sort(), ['n1', 'n2', 'n3']);
  assert.ok(view.placement.epoch >= 1);
  assert.deepEqual(view.nodes.map((n) => n.state), ['alive', 'alive', 'alive']);

  let all: LoadOutcome = { acked: new Map(), unknown: new Map(), refused: new Map() };

  await t.test('SIGKILL of one node under load: no write to the others fails; the node converges after restart', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const writers = [runWriters(cluster.url(0), 3, 50, stopped, 'k'), runWriters(cluster.url(1), 3, 50, stopped, 'l')];
    await sleep(1_000);
    await cluster.kill(2);
    await sleep(2_500);
    stop();
    const outcome = merge(await Promise.all(writers));
    assert.equal(outcome.unknown.size, 0, `a request to a live coordinator failed: ${JSON.stringify(outcome.failures)}`);
    assert.ok(outcome.acked.size > 500, `only ${outcome.acked.size} records written`);
    await verifyOutcome(cluster.url(0), outcome);
    all = merge([all, outcome]);

    const pending = await cluster.status(0);
    assert.ok(pending.hintsPending > 0, 'the coordinator holds hints for the dead node');
    await cluster.startNode(2);
    await cluster.waitConverged();
    await cluster.waitHintsDrained(0);
    await cluster.waitHintsDrained(1);
    const report = await repair(cluster, 2);
    assert.equal(report.shards, 16);
    assert.equal(report.differing, 0, `Merkle summaries differ after hint replay: ${JSON.stringify(report)}`);
    const ids = await exportIds(cluster, 2);
    for (const id of all.acked.keys()) assert.ok(ids.has(id), `restarted node lacks ${id}`);
  });

  await t.test('SIGSTOP past the suspect threshold, writes, SIGCONT: hints replayed, nothing duplicated', async () => {
    const paused = cluster.node(2);
    process.kill(paused.pid, 'SIGSTOP');
    try {
      await cluster.waitPeerState(0, 2, 'suspect');
      await cluster.waitPeerState(1, 2, 'suspect');
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const writers = [runWriters(cluster.url(0), 2, 40, stopped, 's'), runWriters(cluster.url(1), 2, 40, stopped, 't')];
      await sleep(1_500);
      stop();
      const outcome = merge(await Promise.all(writers));
      assert.equal(outcome.unknown.size, 0, JSON.stringify(outcome.failures));
      all = merge([all, outcome]);
    } finally {
      process.kill(paused.pid, 'SIGCONT');
    }
    await cluster.waitConverged();
    await cluster.waitHintsDrained(0);
    await cluster.waitHintsDrained(1);
    const report = await repair(cluster, 2);
    assert.equal(report.differing, 0, JSON.stringify(report));
    const ids = await exportIds(cluster, 2);
    assert.equal(ids.size, (await exportIds(cluster, 0)).size, 'the paused node holds as many records as the others');
    for (const id of all.acked.keys()) assert.ok(ids.has(id), `paused node lacks ${id}`);
    await verifyOutcome(cluster.url(2), all);
  });

  await t.test('a coordinator killed right after acknowledging: the write is readable at quorum', async () => {
    const records = Array.from({ length: 20 }, (_, i) => ({ account: `ack-${i % 4}`, ts: 1_700_000_000_000 + i, tag: `ack-${i}`, amount: '1.00', n: i }));
    const res = await http(`${cluster.url(0)}/v1/tables/ledger/records`, { method: 'POST', body: JSON.stringify(records) });
    assert.equal(res.status, 200, res.text);
    await cluster.kill(0);
    for (const [i, id] of (res.body.ids as string[]).entries()) {
      const one = await http(`${cluster.url(1)}/v1/tables/ledger/records/${id}?consistency=quorum`);
      assert.equal(one.status, 200, one.text);
      assert.equal(one.body.tag, `ack-${i}`);
    }
    const byKey = await http(`${cluster.url(2)}/v1/tables/ledger/records?key=ack-1&consistency=quorum`);
    assert.equal(byKey.body.records.length, 5);
    await cluster.startNode(0);
    await cluster.waitConverged();
  });

  await t.test('a node restarted with an empty data dir is restored by anti-entropy', async () => {
    await cluster.kill(2);
    await cluster.wipe(2);
    await cluster.startNode(2);
    await cluster.waitConverged();
    assert.equal((await exportIds(cluster, 2)).size < (await exportIds(cluster, 0)).size, true, 'the wiped node starts empty');
    const first = await repair(cluster, 2);
    assert.ok(first.pulled >= all.acked.size, `repair pulled ${first.pulled} of ${all.acked.size}`);
    const second = await repair(cluster, 2);
    assert.equal(second.differing, 0, `still differs after repair: ${JSON.stringify(second)}`);
    const restored = await exportIds(cluster, 2);
    for (const id of all.acked.keys()) assert.ok(restored.has(id), `wiped node still lacks ${id}`);
    // The restored node serves alone too.
    const sample = [...all.acked.keys()][7] as string;
    const one = await http(`${cluster.url(2)}/v1/tables/ledger/records/${sample}?consistency=one`);
    assert.equal(one.status, 200, one.text);
  });
});
