import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashRing } from '../../src/core/hash-ring.ts';
import { Placement } from '../../src/cluster/placement.ts';

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
