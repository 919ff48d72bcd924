/**
 * A node whose etcd lease ran out without a restart (SIGSTOPped past its
 * lease, or cut off from etcd) while the ring changed around it: the
 * leader switched without it, since it was not registered, so it never
 * copied the shards it gained. When it resumes and registers again it must
 * copy them, as a node restarting into a newer ring does (decision 45);
 * otherwise it answers quorum reads of them without the writes only their
 * old holders had, until an anti-entropy round.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, waitUntil } from './cluster.ts';
import { http } from './harness.ts';
import { LEDGER } from './load.ts';

test('a node resumed after its lease ran out copies the shards it gained meanwhile', { timeout: 180_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: 4 });
  await cluster.createTable(LEDGER);
  const body = Array.from({ length: 400 }, (_, n) => JSON.stringify({ account: `a${n % 50}`, ts: 1_700_000_000_000 + n, tag: 'r', amount: '1.00', n })).join('\n');
  const wrote = await http(`${cluster.url(0)}/v1/tables/ledger/records?consistency=all`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(wrote.status, 200, wrote.text);
  const ring = async () => (await cluster.status(0)).placement;
  const registered = async (id: string) => (await cluster.status(0)).nodes.find((n) => n.id === id)?.registered === true;

  const paused = cluster.node(3);
  // Registered in n1's view first: else the wait for its lease to run out below ends before it began.
  await waitUntil(async () => await registered('n4'), 20_000, 'n4 is registered');
  process.kill(paused.pid, 'SIGSTOP');
  t.after(() => {
    if (paused.child.exitCode === null && paused.child.signalCode === null) paused.child.kill('SIGCONT');
  });
  await waitUntil(async () => !(await registered('n4')), 20_000, 'n4’s lease runs out');
  const asked = await http(`${cluster.url(0)}/v1/cluster/nodes/n3/decommission`, { method: 'POST' });
  assert.equal(asked.status, 202, asked.text);
  await waitUntil(async () => {
    const now = await ring();
    return now.target === undefined && JSON.stringify(now.nodes) === JSON.stringify(['n1', 'n2', 'n4']);
  }, 60_000, 'n3 left the ring while n4 was stopped (n4 gains every shard n3 held that it did not)');

  // A first start copies too (no ring recorded yet): only a copy after the resume counts.
  const copiesBefore = paused.events('bootstrap_repair_done').length;
  process.kill(paused.pid, 'SIGCONT');
  await waitUntil(async () => await registered('n4'), 20_000, 'n4 registers again');
  // Give it the time a copy takes (a node that copies says so); then whatever a repair still pulls, it lacked.
  await waitUntil(async () => paused.events('bootstrap_repair_done').length > copiesBefore, 30_000, 'n4 copied its shards').catch(() => undefined);
  const repaired = await http(`${cluster.url(3)}/v1/cluster/repair`, { method: 'POST' });
  assert.equal(repaired.status, 200, repaired.text);
  const report = repaired.body as { pulled: number };
  assert.equal(report.pulled, 0, `n4 served shards it gained without their records: a repair pulled ${report.pulled}`);
});
