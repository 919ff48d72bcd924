/**
 * The hint replayer's housekeeping (found in a review, 2026-12-07).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';
import { Placement } from '../../../src/cluster/placement/placement.ts';

test('the queue of a node that left the ring is discarded also when every hint in it was delivered', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const n1 = cluster.node('n1');
  cluster.faults.isolate('n3', ['n1', 'n2']);
  await waitUntil(() => n1.detector.state('n3') !== 'alive', 5_000, 'n1 suspects n3');
  await cluster.write('n1', cluster.keysHeldBy('n3', 5), { consistency: 'quorum' });
  cluster.faults.heal();
  await cluster.waitAllAlive();
  await n1.replayer.run();
  assert.deepEqual(await n1.hints.pending(), { n3: 0 }, 'delivered');
  const dir = path.join((n1.hints as unknown as { o: { dir: string } }).o.dir, 'n3');
  assert.ok(existsSync(dir));

  // n3 is decommissioned: a ring without it.
  (cluster as unknown as { placement: Placement }).placement = new Placement({ epoch: 2, nodes: ['n1', 'n2'] });
  await n1.replayer.run();
  assert.deepEqual(await n1.hints.pending(), {}, 'no queue for a node outside the ring (it held delivered hints only)');
  assert.equal(existsSync(dir), false, 'its files (a segment of delivered hints, up to HINT_SEGMENT_BYTES_MAX) are gone');
});
