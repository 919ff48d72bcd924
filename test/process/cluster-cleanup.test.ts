/**
 * Cleanup after a join: every node drops exactly the records of the table
 * shards it no longer replicates, and nothing else. Before a range goes,
 * its current replicas must be alive and are handed what they lack: here
 * the joiner's disk is wiped and its bootstrap copy held back (a peer is
 * down), so the only copy of some ranges on the new ring is the one the
 * cleaning node pushes. Ranges with a replica down are kept and reported.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { Placement } from '../../src/cluster/placement/placement.ts';
import { shardOf } from '../../src/core/murmur3.ts';
import { TestCluster, waitUntil } from './cluster.ts';
import { ROOT, cliProcessEnv, http, sleep } from './harness.ts';
import { LEDGER, runWriters, verifyOutcome, type LedgerRecord } from './load.ts';

const SHARDS = 16;
const RF = 2;

interface Report {
  epoch: number;
  ranges: number;
  deleted: number;
  pushed: number;
  skipped: { shard: number; table: string; reason: string }[];
}

test('cleanup drops exactly the ranges a node lost in a join, hands them to an empty replica first, and keeps ranges whose replica is down', { timeout: 240_000 }, async (t) => {
  const cluster = await TestCluster.start(t);
  await cluster.createTable({ ...LEDGER, replicationFactor: RF });
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const writing = runWriters(cluster.url(0), 3, 50, stopped, 'c');
  await sleep(2_000);
  stop();
  const outcome = await writing;
  assert.equal(outcome.unknown.size, 0, JSON.stringify(outcome.failures));
  assert.ok(outcome.acked.size > 500, `writers made progress: ${outcome.acked.size}`);

  const before = await cluster.status(0);
  const joiner = await cluster.addNode();
  await cluster.waitConverged(60_000);
  const after = await cluster.status(0);
  const oldRing = new Placement({ epoch: before.placement.epoch, nodes: before.placement.nodes });
  const newRing = new Placement({ epoch: after.placement.epoch, nodes: after.placement.nodes });
  const records = [...outcome.acked.values()];
  /** Records of the ranges `node` replicated before the join and not after, filtered by the new replicas. */
  const lost = (node: string, keep: (replicas: readonly string[]) => boolean = () => true): LedgerRecord[] =>
    records.filter((r) => {
      const shard = shardOf(r.account, SHARDS);
      const now = newRing.replicas(shard, RF);
      return oldRing.replicas(shard, RF).includes(node) && !now.includes(node) && keep(now);
    });
  assert.ok(lost('n1').length > 0 && lost('n2').length > 0 && lost('n3').length > 0, 'the join moved ranges away from every node');
  assert.ok(lost('n1', (now) => !now.includes('n2')).length > 0, 'n1 lost a range that n2 does not replicate either');
  assert.ok(lost('n1', (now) => now.includes('n2')).length > 0, 'n1 lost a range that n2 replicates');

  // The joiner loses its disk and cannot copy it back yet: n2 is down, so its bootstrap waits for it.
  await cluster.kill(1);
  await cluster.kill(joiner);
  await cluster.wipe(joiner);
  await cluster.startNode(joiner);
  await cluster.waitPeerState(0, joiner, 'alive');
  await waitUntil(async () => (await cluster.status(0)).nodes.find((n) => n.id === 'n2')?.state !== 'alive', 20_000, 'n1 sees n2 down');

  const first = await http(`${cluster.url(0)}/v1/cluster/cleanup`, { method: 'POST' });
  assert.equal(first.status, 200, first.text);
  const r1 = first.body as Report;
  const handed = lost('n1', (now) => !now.includes('n2')).length;
  assert.equal(r1.deleted, handed, `n1 dropped the ranges whose replicas are up: ${first.text}`);
  assert.equal(r1.pushed, handed, 'each dropped record was handed to the wiped joiner first');
  assert.ok(r1.skipped.length > 0 && r1.skipped.every((s) => s.table === 'ledger' && /n2/.test(s.reason)), `ranges with n2 down are kept: ${first.text}`);
  // The log line may reach the pipe after the answer.
  await waitUntil(async () => cluster.node(0).events('cleanup').length === 1, 5_000, 'a cleanup log event');

  await cluster.startNode(1);
  await cluster.waitConverged(60_000);
  await waitUntil(async () => cluster.node(joiner).events('bootstrap_repair').length > 0, 30_000, 'the joiner copies its shards back');
  for (const i of [0, 1, 2, joiner]) {
    // A bootstrap copy still running holds the repair lock; cleanup queues behind it.
    const res = await http(`${cluster.url(i)}/v1/cluster/cleanup`, { method: 'POST' });
    assert.equal(res.status, 200, res.text);
    const r = res.body as Report;
    const id = `n${i + 1}`;
    const expected = id === 'n1' ? lost('n1').length - handed : lost(id).length;
    assert.equal(r.deleted, expected, `${id} dropped what it lost: ${res.text}`);
    assert.deepEqual(r.skipped, [], `${id} kept nothing: ${res.text}`);
    const again = await http(`${cluster.url(i)}/v1/cluster/cleanup`, { method: 'POST' });
    assert.equal((again.body as Report).deleted, 0, `${id}: a second cleanup finds nothing: ${again.text}`);
  }

  // The CLI cleans every registered node in turn; by now there is nothing left to drop.
  const cli = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'sluice.js'), 'cluster', 'cleanup', '--all', '--url', cluster.url(2)], { cwd: ROOT, encoding: 'utf8', env: cliProcessEnv() });
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(cli.stdout.match(/: dropped 0 table shards \(0 records\)/g)?.length, 4, cli.stdout);

  // Every record is still on its replicas: read back through each node, and the replicas agree.
  for (const i of [0, 1, 2, joiner]) await verifyOutcome(cluster.url(i), outcome);
  for (const i of [0, 1, 2, joiner]) {
    const repaired = await http(`${cluster.url(i)}/v1/cluster/repair`, { method: 'POST' });
    assert.equal(repaired.status, 200, repaired.text);
    assert.equal(repaired.body.differing, 0, `node ${i}: replicas differ after cleanup: ${repaired.text}`);
  }
});
