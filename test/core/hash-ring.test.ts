import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashRing } from '../../src/core/hash-ring.ts';

const names = (n: number, prefix = 'n'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const SHARDS = 4096;

/** max/mean of replica assignments per node. */
function imbalance(ring: HashRing, rf: number): number {
  const load = new Map<string, number>(ring.nodes.map((n) => [n, 0]));
  for (const replicas of ring.placement(SHARDS, rf)) for (const n of replicas) load.set(n, (load.get(n) ?? 0) + 1);
  const values = [...load.values()];
  return Math.max(...values) / (values.reduce((a, b) => a + b, 0) / values.length);
}

test('replicas are rf distinct nodes, deterministic whatever the input order', () => {
  const a = new HashRing(['n3', 'n1', 'n2', 'n4']);
  const b = new HashRing(['n1', 'n2', 'n3', 'n4']);
  for (let shard = 0; shard < 256; shard++) {
    const r = a.replicasFor(shard, 3);
    assert.equal(r.length, 3);
    assert.equal(new Set(r).size, 3);
    assert.deepEqual(r, b.replicasFor(shard, 3));
  }
  assert.deepEqual(new HashRing(['only']).replicasFor(7, 3), ['only'], 'rf above the node count gives every node');
  assert.deepEqual(new HashRing([]).replicasFor(7, 3), []);
  assert.throws(() => new HashRing(['a', 'a']));
});

test('load is balanced: max/mean replica load for 3, 10 and 100 nodes', (t) => {
  for (const [nodes, bound] of [
    [3, 1.1],
    [10, 1.25],
    [100, 1.6],
  ] as const) {
    const ratio = imbalance(new HashRing(names(nodes)), 3);
    t.diagnostic(`${nodes} nodes: max/mean ${ratio.toFixed(3)}`);
    assert.ok(ratio <= bound, `${nodes} nodes: max/mean ${ratio.toFixed(3)} > ${bound}`);
  }
});

test('a joining node only takes shards; no shard moves between nodes that stay', () => {
  const before = new HashRing(names(10));
  const after = new HashRing([...names(10), 'n11']);
  let movedPrimaries = 0;
  for (let shard = 0; shard < SHARDS; shard++) {
    const old = before.replicasFor(shard, 3);
    const now = after.replicasFor(shard, 3);
    if (old[0] !== now[0]) {
      movedPrimaries++;
      assert.equal(now[0], 'n11', `shard ${shard}: a primary may only move to the new node`);
    }
    // The new set is the old one with at most one member replaced by the new node.
    const lost = old.filter((n) => !now.includes(n));
    const gained = now.filter((n) => !old.includes(n));
    assert.ok(lost.length <= 1 && gained.length === lost.length, `shard ${shard}: ${old} → ${now}`);
    if (gained.length === 1) assert.equal(gained[0], 'n11');
  }
  const optimal = SHARDS / 11;
  assert.ok(movedPrimaries <= optimal * 1.25, `moved ${movedPrimaries} primaries, optimal ${optimal.toFixed(0)}`);
});

test('a leaving node only gives its shards away', () => {
  const before = new HashRing(names(10));
  const after = new HashRing(names(10).filter((n) => n !== 'n4'));
  for (let shard = 0; shard < SHARDS; shard++) {
    const old = before.replicasFor(shard, 3);
    const now = after.replicasFor(shard, 3);
    const kept = old.filter((n) => n !== 'n4');
    assert.deepEqual(
      now.filter((n) => kept.includes(n)),
      kept,
      `shard ${shard}: surviving replicas stay in order`,
    );
  }
});
