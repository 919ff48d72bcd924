import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashRing } from '../../../src/core/hash-ring.ts';
import { Placement } from '../../../src/cluster/placement/placement.ts';

test('a placement derives the same replica lists as the ring over its nodes, whatever their order', () => {
  const a = new Placement({ epoch: 3, nodes: ['n3', 'n1', 'n2', 'n4'] });
  const b = new Placement({ epoch: 3, nodes: ['n4', 'n2', 'n1', 'n3'] });
  const ring = new HashRing(['n1', 'n2', 'n3', 'n4']);
  for (let shard = 0; shard < 64; shard++) {
    for (const rf of [1, 2, 3]) {
      assert.deepEqual(a.replicas(shard, rf), ring.replicasFor(shard, rf));
      assert.deepEqual(a.replicas(shard, rf), b.replicas(shard, rf));
      assert.equal(new Set(a.replicas(shard, rf)).size, rf, 'distinct replicas');
    }
  }
  assert.deepEqual(a.nodes, ['n1', 'n2', 'n3', 'n4']);
});

test('shardsPerNode counts every replica slot once', () => {
  const p = new Placement({ epoch: 1, nodes: ['a', 'b', 'c'] });
  const per = p.shardsPerNode(16, 3);
  assert.deepEqual(Object.keys(per).sort(), ['a', 'b', 'c']);
  for (const shards of Object.values(per)) assert.equal(shards.length, 16, 'RF 3 on 3 nodes: every node holds every shard');
  const one = p.shardsPerNode(16, 1);
  assert.equal(Object.values(one).reduce((n, s) => n + s.length, 0), 16);
  assert.deepEqual(new Placement({ epoch: 0, nodes: [] }).replicas(0, 3), []);
});

test('during a transition reads keep the current ring, the target ring is derived beside it, and gained shards are exactly the new slots', () => {
  const joining = new Placement({ epoch: 5, nodes: ['n1', 'n2', 'n3'], target: ['n4', 'n1', 'n2', 'n3'] });
  const before = new Placement({ epoch: 4, nodes: ['n1', 'n2', 'n3'] });
  const after = new Placement({ epoch: 6, nodes: ['n1', 'n2', 'n3', 'n4'] });
  assert.deepEqual(joining.target, ['n1', 'n2', 'n3', 'n4']);
  assert.equal(before.targetReplicas(0, 2), undefined);
  const gained: number[] = [];
  for (let shard = 0; shard < 64; shard++) {
    assert.deepEqual(joining.replicas(shard, 2), before.replicas(shard, 2), 'reads use the current ring');
    assert.deepEqual(joining.targetReplicas(shard, 2), after.replicas(shard, 2), 'the target ring is the next epoch’s ring');
    if (after.replicas(shard, 2).includes('n4')) gained.push(shard);
  }
  assert.ok(gained.length > 0 && gained.length < 64, `n4 gains some shards: ${gained.length}`);
  assert.deepEqual(joining.gained('n4', 64, 2), gained);
  assert.deepEqual(joining.gained('n1', 64, 2), [], 'a join only takes slots away from existing nodes');
  // Decommissioning n1: the nodes that take over its slots gain them.
  const leaving = new Placement({ epoch: 7, nodes: ['n1', 'n2', 'n3', 'n4'], target: ['n2', 'n3', 'n4'] });
  const slots = [...leaving.gained('n2', 64, 2), ...leaving.gained('n3', 64, 2), ...leaving.gained('n4', 64, 2)].length;
  const lost = Array.from({ length: 64 }, (_, s) => s).filter((s) => leaving.replicas(s, 2).includes('n1')).length;
  assert.equal(slots, lost, 'every slot n1 held is gained by exactly one remaining node');
});
