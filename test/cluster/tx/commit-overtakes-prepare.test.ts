/**
 * A replica's COMMIT travels on the control connection and can overtake
 * its PREPARE on the bulk one (or the PREPARE waits in admission). The
 * PREPARE that arrives behind its outcome is refused, so that replica
 * counts as missed and gets the batch's records as a hint. Accepted, it
 * staged a payload after the outcome that nothing ever applied: the
 * replica reported the batch committed, the decision was deleted, and the
 * replica never held the records (found in a review, 2026-12-07).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

const TX_CONFIG = { txCommitDeadlineMs: 1_000, txResolveAfterMs: 1_700, txReadWaitMs: 3_000 };

test('a PREPARE overtaken by its COMMIT: the replica still ends up holding the committed batch, and stages nothing', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: TX_CONFIG, replayHints: true });
  await cluster.waitAllAlive();
  const keys = cluster.keysOfShards(4);
  const n3 = cluster.node('n3');
  const n3Keys = keys.filter((k) => cluster.placement.replicas(cluster.batchShard(k), 3).includes('n3'));
  for (const n of cluster.nodes) n.resolver.start();
  cluster.node('n1').sweeper.start();
  for (let attempt = 0; attempt < 6; attempt++) {
    cluster.faults.heal();
    // n3's PREPARE a little late, n2's COMMIT answer slow: n3's COMMIT lands first in some attempts.
    cluster.faults.add({ action: 'delay', from: 'n1', to: 'n3', methods: ['Prepare'], delayMs: 2 + (attempt % 3), times: 1 });
    cluster.faults.add({ action: 'delay', from: 'n1', to: 'n2', methods: ['Commit'], delayMs: 300, times: 1 });
    const ack = await cluster.write('n1', keys, { atomic: true });
    const txid = BigInt(ack.txId as string);
    const heldByN3 = async (): Promise<number> => {
      const stored = await cluster.storedIds('n3');
      return ack.ids.filter((id) => stored.has(id)).length;
    };
    await waitUntil(async () => (await heldByN3()) === n3Keys.length, 6_000, `attempt ${attempt}: n3 holds the committed batch ${txid}`);
    await waitUntil(() => n3.store.pendingTxs().length === 0, 6_000, `attempt ${attempt}: nothing stays pending on n3`);
    assert.equal((await n3.store.txState(txid)).state, 'committed');
  }
  await waitUntil(() => n3.store['index'].stagedFloor === undefined, 6_000, 'no payload stays staged on n3');
});
