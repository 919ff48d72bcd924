/**
 * A node down while the ring changed around it (here: it gains shards of a
 * node being decommissioned, and the leader switches without it, since it
 * is not registered) copies its shards from their replicas when it comes
 * back, before the next anti-entropy round, as a node with an empty index
 * does. Found in a review (2026-12-07): it answered quorum reads of the
 * shards it gained without the writes only their old holders had, for up
 * to the anti-entropy interval. A restart into the ring it last ran in
 * copies nothing.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { TestCluster, waitUntil } from './cluster.ts';
import { http } from './harness.ts';
import { LEDGER } from './load.ts';

test('a node that missed a ring change copies its shards when it comes back; a restart into the same ring does not', { timeout: 180_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: 4 });
  await cluster.createTable(LEDGER);
  // Records on every node, so that n4's index is not empty when it comes back (an empty one always copies).
  const body = Array.from({ length: 400 }, (_, n) => JSON.stringify({ account: `a${n % 50}`, ts: 1_700_000_000_000 + n, tag: 'r', amount: '1.00', n })).join('\n');
  const wrote = await http(`${cluster.url(0)}/v1/tables/ledger/records?consistency=all`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(wrote.status, 200, wrote.text);
  const ring = async () => (await cluster.status(0)).placement;
  await cluster.kill(3);
  await cluster.waitPeerState(0, 3, 'suspect');
  const before = await ring();
  const asked = await http(`${cluster.url(0)}/v1/cluster/nodes/n3/decommission`, { method: 'POST' });
  assert.equal(asked.status, 202, asked.text);
  await waitUntil(async () => {
    const now = await ring();
    return now.target === undefined && JSON.stringify(now.nodes) === JSON.stringify(['n1', 'n2', 'n4']);
  }, 60_000, 'n3 left the ring while n4 was down');
  assert.ok((await ring()).epoch > before.epoch);

  const back = await cluster.startNode(3);
  await waitUntil(async () => back.events('rings_missed').length > 0, 20_000, 'n4 sees it missed a ring');
  await waitUntil(async () => back.events('bootstrap_repair_done').length > 0, 60_000, 'n4 copied its shards from their replicas');

  const epoch = (await ring()).epoch;
  const seenFile = path.join(cluster.dataDir(3), 'ring-seen.json');
  await waitUntil(async () => (await readFile(seenFile, 'utf8').catch(() => '')).includes(`"epoch":${epoch}`), 10_000, `n4 records ring ${epoch} as the one it runs in`);
  await cluster.kill(3);
  const again = await cluster.startNode(3);
  await waitUntil(async () => (await http(`${cluster.url(3)}/readyz`)).status === 200, 20_000, 'n4 ready again');
  assert.equal(again.events('rings_missed').length, 0, 'a restart into the ring it last ran in copies nothing');
});
