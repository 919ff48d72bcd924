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
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, cliProcessEnv, http, sleep } from './harness.ts';
import { LEDGER, runWriters, verifyOutcome, type LoadOutcome } from './load.ts';

const RF3_LEDGER = { ...LEDGER, replicationFactor: 3 };

/** Runs the sluice CLI. */
function sluice(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'sluice.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: cliProcessEnv() });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

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
  await cluster.createTable(RF3_LEDGER, 1);

  const view = await cluster.status(0);
  assert.deepEqual([...view.placement.nodes].sort(), ['n1', 'n2', 'n3']);
  assert.ok(view.placement.epoch >= 1);
  assert.deepEqual(view.nodes.map((n) => n.state), ['alive', 'alive', 'alive']);
  const cliStatus = sluice(['cluster', 'status', '--url', cluster.url(1)]);
  assert.equal(cliStatus.status, 0, cliStatus.stderr);
  assert.match(cliStatus.stdout, /^cluster · seen from n2 · placement epoch \d+ · 16 shards · hints pending 0/);
  for (const id of ['n1', 'n2', 'n3']) assert.match(cliStatus.stdout, new RegExp(`^${id}\\s+alive\\s+http://127\\.0\\.0\\.1:\\d+\\s+127\\.0\\.0\\.1:\\d+`, 'm'));

  let all: LoadOutcome = { acked: new Map(), unknown: new Map(), refused: new Map() };

  await t.test('read-your-writes: a token makes a consistency=one read on another node see a consistency=one write', async () => {
    for (let round = 0; round < 20; round++) {
      const rec = { account: `ryw-${round}`, ts: 1_700_000_000_000 + round, tag: `ryw-${round}`, amount: '0.10', n: round };
      const w = await http(`${cluster.url(0)}/v1/tables/ledger/records?consistency=one`, { method: 'POST', body: JSON.stringify(rec) });
      assert.equal(w.status, 200, w.text);
      const token = encodeURIComponent(w.body.token as string);
      const r = await http(`${cluster.url(2)}/v1/tables/ledger/records?key=ryw-${round}&consistency=one&token=${token}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.records.length, 1, `round ${round}: the token's write is visible`);
      const byId = await http(`${cluster.url(1)}/v1/tables/ledger/records/${w.body.ids[0]}?consistency=one&token=${token}`);
      assert.equal(byId.status, 200, byId.text);
    }
    // One record is one shard: atomic without two-phase commit (no tx_id).
    const atomic = await http(`${cluster.url(0)}/v1/tables/ledger/records?atomic=true`, { method: 'POST', body: JSON.stringify({ account: 'atomic', ts: 1, tag: 'atomic-0', amount: '1', n: 0 }) });
    assert.equal(atomic.status, 200, atomic.text);
    assert.equal(atomic.body.tx_id, undefined);
    const bad = await http(`${cluster.url(0)}/v1/tables/ledger/records?key=x&token=not-a-token`);
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.error.code, 'INVALID_ARGUMENT');
  });

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
    const metrics = await http(`${cluster.url(0)}/metrics`);
    assert.match(metrics.text, /sluice_hints_pending\{peer="n3"\} [1-9]/);
    assert.match(metrics.text, /sluice_peer_state\{peer="n3",state="suspect"\} 1|sluice_peer_state\{peer="n3",state="dead"\} 1/);
    assert.match(metrics.text, /sluice_hinted_records_total\{peer="n3"\} [1-9]/);
    await cluster.startNode(2);
    await cluster.waitConverged();
    await cluster.waitHintsDrained(0);
    await cluster.waitHintsDrained(1);
    const replayed = await http(`${cluster.url(0)}/metrics`);
    assert.match(replayed.text, /sluice_hints_replayed_total [1-9]/);
    assert.match(replayed.text, /sluice_hints_pending\{peer="n3"\} 0/);
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
    const node = await cluster.startNode(2);
    await cluster.waitConverged();
    // An empty index triggers a bootstrap repair as soon as a peer is alive.
    await waitUntil(async () => node.events('bootstrap_repair').length > 0, 10_000, 'bootstrap repair starts');
    await waitUntil(async () => (await exportIds(cluster, 2)).size >= all.acked.size, 60_000, 'the wiped node holds every record again').catch((err: Error) => {
      const seen = ['bootstrap_repair', 'bootstrap_repair_failed', 'anti_entropy', 'anti_entropy_failed'].map((e) => `${e}: ${JSON.stringify(node.events(e).map(({ time, event, msg, ...rest }) => rest))}`);
      throw new Error(`${err.message}\n${seen.join('\n')}`);
    });
    const restored = await exportIds(cluster, 2);
    for (const id of all.acked.keys()) assert.ok(restored.has(id), `wiped node still lacks ${id}`);
    const pulled = node.events('anti_entropy').reduce((n, e) => n + Number(e['pulled'] ?? 0), 0);
    assert.ok(pulled >= all.acked.size, `anti-entropy pulled ${pulled} of ${all.acked.size}`);
    const second = sluice(['cluster', 'repair', '--url', cluster.url(2)]);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /^repaired 16 shards: 0 replica pairs differed, 0 records pulled, 0 pushed/);
    // The restored node serves alone too.
    const sample = [...all.acked.keys()][7] as string;
    const one = await http(`${cluster.url(2)}/v1/tables/ledger/records/${sample}?consistency=one`);
    assert.equal(one.status, 200, one.text);
  });
});
