import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leafOf, MERKLE_LEAVES, MerkleBuilder, MerkleTree, valueDigest } from '../../../src/cluster/repair/merkle.ts';
import { prng } from '../../support/prng.ts';

const utf8 = new TextEncoder();
const TREE_BYTES = MERKLE_LEAVES * 16;

interface Pair {
  readonly key: Uint8Array;
  readonly version: bigint;
}

/** `n` distinct record keys shaped like the store's (`R | shard | table | keyLen | key | time | id`), with versions. */
function pairs(n: number, seed: number): Pair[] {
  const rnd = prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const key = Buffer.alloc(9 + 12 + 16);
    key[0] = 0x52;
    key.writeUInt16BE(7, 1);
    key.writeUInt32BE(3, 3);
    key.writeUInt16BE(12, 7);
    key.write(`acct-${String(i % 5000).padStart(7, '0')}`, 9, 'latin1');
    key.writeUInt32BE(Math.floor(rnd() * 2 ** 32), 21);
    key.writeBigUInt64BE(BigInt(i), 29);
    return { key, version: (BigInt(Math.floor(rnd() * 2 ** 48)) << 16n) | BigInt(i & 0xffff) };
  });
}

function build(entries: Iterable<Pair>): MerkleTree {
  const b = new MerkleBuilder();
  for (const { key, version } of entries) b.add(key, version);
  return b.finish();
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const rnd = prng(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

test('the same pairs in any order give the same leaves and root', () => {
  const base = pairs(5000, 1);
  const a = build(base);
  for (const other of [build([...base].reverse()), build(shuffled(base, 2)), build(shuffled(base, 3))]) {
    assert.ok(a.leaves.equals(other.leaves));
    assert.equal(other.root, a.root);
    assert.equal(other.count, 5000);
    assert.deepEqual(a.diff(other), []);
  }
  assert.match(a.root, /^[0-9a-f]{64}$/);
  assert.equal(a.leaves.length, TREE_BYTES);
});

test('a changed version, a missing record and an extra record each show as exactly their leaf', () => {
  const base = pairs(2000, 4);
  const tree = build(base);
  const victim = base[777] as Pair;
  const leaf = leafOf(victim.key);

  const changed = build(base.map((p) => (p === victim ? { key: p.key, version: p.version + 1n } : p)));
  assert.deepEqual(tree.diff(changed), [leaf], 'changed version');
  assert.deepEqual(changed.diff(tree), [leaf], 'diff is symmetric');
  assert.equal(changed.count, tree.count, 'a changed version keeps the count');
  assert.notEqual(changed.root, tree.root);

  const missing = build(base.filter((p) => p !== victim));
  assert.deepEqual(tree.diff(missing), [leaf], 'missing record');
  assert.equal(missing.count, tree.count - 1);

  const extraKey = Buffer.from(victim.key);
  extraKey.writeBigUInt64BE(999_999n, extraKey.length - 8);
  const extra = build([...base, { key: extraKey, version: 5n }]);
  assert.deepEqual(tree.diff(extra), [leafOf(extraKey)], 'extra record');
  assert.equal(extra.count, tree.count + 1);
});

test('a duplicated pair is a difference (sums, not XOR, so it cannot cancel out)', () => {
  const base = pairs(2000, 5);
  const p = base[10] as Pair;
  const twice = build([...base, p]);
  const thrice = build([...base, p, p]);
  assert.deepEqual(build(base).diff(twice), [leafOf(p.key)]);
  assert.deepEqual(twice.diff(thrice), [leafOf(p.key)]);
  // Same leaf, same count: only the hash sums can tell these apart.
  const q = base.find((x) => x !== p && leafOf(x.key) === leafOf(p.key));
  assert.ok(q, 'test data has two records in one leaf');
  const a = build([p, p]);
  const b = build([q, q]);
  assert.equal(a.count, b.count);
  assert.deepEqual(a.diff(b), [leafOf(p.key)]);
});

test('the leaf depends on the record key only, and versions are hashed as uint64', () => {
  const key = utf8.encode('account-42');
  const a = build([{ key, version: 1n }]);
  const b = build([{ key, version: (1n << 64n) - 1n }]);
  assert.deepEqual(a.diff(b), [leafOf(key)]);
  const builder = new MerkleBuilder();
  assert.throws(() => builder.add(key, -1n));
  assert.throws(() => builder.add(key, 1n << 64n));
  assert.equal(builder.finish().count, 0, 'a rejected pair is not counted');
});

test('empty trees are equal, and differ from a non-empty one', () => {
  const a = new MerkleBuilder().finish();
  const b = new MerkleBuilder().finish();
  assert.equal(a.count, 0);
  assert.equal(a.root, b.root);
  assert.ok(a.leaves.equals(Buffer.alloc(TREE_BYTES)));
  assert.deepEqual(a.diff(b), []);
  const key = utf8.encode('x');
  assert.deepEqual(a.diff(build([{ key, version: 0n }])), [leafOf(key)]);
  assert.deepEqual(a.diff(build([{ key: new Uint8Array(0), version: 0n }])), [leafOf(new Uint8Array(0))], 'an empty key still counts');
});

test('encode/decode round trip, from a Buffer and from a view into a larger array', () => {
  const tree = build(pairs(3000, 6));
  const wire = tree.encode();
  assert.equal(wire.length, TREE_BYTES);
  const back = MerkleTree.decode(wire);
  assert.ok(back.leaves.equals(tree.leaves));
  assert.equal(back.root, tree.root);
  assert.equal(back.count, 3000);
  assert.deepEqual(back.diff(tree), []);

  const framed = new Uint8Array(TREE_BYTES + 10);
  framed.set(wire, 7);
  const fromView = MerkleTree.decode(framed.subarray(7, 7 + TREE_BYTES));
  assert.equal(fromView.root, tree.root);
  framed.fill(0);
  wire.fill(0);
  assert.equal(fromView.root, tree.root, 'decode copies: reusing the receive buffer does not change the tree');
  assert.ok(fromView.leaves.equals(tree.leaves));
  assert.ok(back.leaves.equals(tree.leaves), 'encode copies: the wire buffer is not the tree');
});

test('decode rejects a wrong length with a plain Error', () => {
  for (const len of [0, 16, TREE_BYTES - 1, TREE_BYTES + 1, TREE_BYTES * 2]) {
    assert.throws(
      () => MerkleTree.decode(new Uint8Array(len)),
      (err: unknown) => err instanceof Error && err.constructor === Error && /merkle/.test(err.message),
      `length ${len}`,
    );
  }
  assert.doesNotThrow(() => MerkleTree.decode(new Uint8Array(TREE_BYTES)));
});

test('leaves spread evenly: 100k random keys and 100k store-shaped keys', (t) => {
  const rnd = prng(7);
  const random = Array.from({ length: 100_000 }, () => Uint8Array.from({ length: 8 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
  const shaped = pairs(100_000, 8).map((p) => p.key);
  for (const [name, keys] of [
    ['random', random],
    ['store-shaped', shaped],
  ] as const) {
    const load = new Array<number>(MERKLE_LEAVES).fill(0);
    for (const key of keys) {
      const leaf = leafOf(key);
      assert.ok(Number.isInteger(leaf) && leaf >= 0 && leaf < MERKLE_LEAVES, `leaf ${leaf} out of range`);
      load[leaf] = (load[leaf] as number) + 1;
    }
    const ratio = Math.max(...load) / (keys.length / MERKLE_LEAVES);
    t.diagnostic(`${name}: max/mean ${ratio.toFixed(3)}, min ${Math.min(...load)}`);
    assert.ok(load.every((n) => n > 0), `${name}: every leaf non-empty`);
    assert.ok(ratio < 1.5, `${name}: max/mean ${ratio.toFixed(3)} >= 1.5`);
  }
});

test('1e5 adds complete and are all counted', () => {
  const b = new MerkleBuilder();
  const key = Buffer.alloc(40);
  for (let i = 0; i < 100_000; i++) {
    key.writeUInt32BE(i, 36);
    b.add(key, BigInt(i));
  }
  const tree = b.finish();
  assert.equal(tree.count, 100_000);
  assert.ok(b.finish().leaves.equals(tree.leaves), 'finish is repeatable');
  b.add(key, 0n);
  assert.equal(b.finish().count, 100_001, 'the builder stays usable after finish');
});

test('pinned: leaf mapping and digests are a wire format between builds', () => {
  // Computed once; the leaf digest of "a" was re-checked against smhasher's
  // MurmurHash3_x86_128 compiled with gcc. A change here breaks mixed-version repair.
  assert.deepEqual(
    ['', 'a', 'R-order-1', 'account-42'].map((k) => leafOf(utf8.encode(k))),
    [244, 117, 232, 228],
  );
  const b = new MerkleBuilder();
  b.add(utf8.encode('a'), 1n);
  b.add(utf8.encode('b'), 2n);
  b.add(utf8.encode('R-order-1'), (1n << 64n) - 1n);
  b.add(new Uint8Array(0), 0n);
  const tree = b.finish();
  assert.equal(tree.leaves.subarray(117 * 16, 118 * 16).toString('hex'), '000000010d01489bf86e06a8d68b76e5');
  assert.equal(tree.leaves.subarray(3 * 16, 4 * 16).toString('hex'), '00000001f874ebca1ec6f5da24a47af5');
  assert.equal(tree.root, 'a273fc30b430244680b6b5e80826680a9ae0500d3d0de9eea923337b44b1ab82');
  assert.equal(tree.count, 4);
});

test('summary 2: one record key and version with different values differ; without an extra an entry hashes as summary 1 did (decision 56)', () => {
  const key = Buffer.from('R-key-1');
  const tree = (value?: Buffer): MerkleTree => {
    const b = new MerkleBuilder();
    b.add(key, 7n, value === undefined ? undefined : valueDigest(value));
    return b.finish();
  };
  const a = tree(Buffer.from('value a'));
  const b = tree(Buffer.from('value b'));
  assert.deepEqual(a.diff(b), [leafOf(key)], 'the values differ: so does the leaf');
  assert.deepEqual(a.diff(tree(Buffer.from('value a'))), [], 'the same value: the same tree');
  assert.notEqual(a.root, tree().root, 'a summary 2 entry is not a summary 1 entry');
  assert.equal(valueDigest(Buffer.from('value a')).length, 8);
});
