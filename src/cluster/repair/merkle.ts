/**
 * Per-shard Merkle summary for anti-entropy between replicas (after
 * Cassandra's repair trees). Each replica scans its copy of a shard, feeds
 * every (record key, version) pair in, and ships the 4 KiB of leaves; the
 * leaves that differ name the records to exchange: those whose `leafOf` is
 * one of them. A leaf is a hash bucket, not a key range, so a repair scan
 * filters by `leafOf` rather than seeking.
 *
 * A leaf is a commutative sum of per-record hashes, so the summary does not
 * depend on scan order, on how a storage engine splits a range, or on where
 * a scan was resumed: two replicas holding the same pairs agree bit for bit.
 *
 * Leaf digest (16 bytes, big-endian like every integer on disk):
 *
 *   count u32 | sum1 u32 | sum2 u32 | sum3 u32
 *
 * where count is the number of pairs in the leaf and sumN is the sum mod 2^32
 * of word N of MurmurHash3 x86_128(recordKey ‖ version u64 BE) over them
 * (96 bits in all). Sums, not XOR: under XOR a pair added twice cancels out
 * and a replica with a duplicated record would look clean. The count makes a
 * missing or extra record visible even if the sums happened to agree.
 * MurmurHash3 is not collision-resistant against chosen inputs, but every
 * hashed input ends in a store-stamped id and version, so a client cannot
 * pick the bytes freely; a random miss needs a 96-bit sum and the count to
 * agree.
 *
 * The record → leaf mapping and the digests are a wire format: replicas on
 * different builds compare them, so changing a seed, the hash or the layout
 * makes every leaf of every shard look different until all nodes upgrade.
 *
 * Summary 2 (decision 56) hashes recordKey ‖ version ‖ valueDigest(value) ‖
 * 8 u32 instead: two replicas that hold one record key and version with
 * different values (the two sides of a tie of decision 52) differ. The same
 * builder, fed `P` index key ‖ version ‖ record key ‖ len u32, summarizes a
 * table's dedupe-key entries. A summary-1 entry is hashed exactly as
 * before, so a node still answers an asker of an earlier release.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { murmur3 } from '../../core/murmur3.ts';

/** Leaves per shard tree. */
export const MERKLE_LEAVES = 256;
const LEAF_BITS = 8; // log2(MERKLE_LEAVES)
/** Bytes per leaf digest: count u32 and three 32-bit sums. */
const LEAF_BYTES = 16;
const TREE_BYTES = MERKLE_LEAVES * LEAF_BYTES;
/** Hash words summed per leaf (of the four x86_128 produces). */
const LANES = 3;

/**
 * Seeds of the leaf hash and the entry hash: arbitrary, but fixed forever.
 * The leaf seed is not shardOf's seed 0, so a record key that equals its
 * shard key still spreads over leaves when shardCount is a multiple of 256.
 */
const LEAF_SEED = 0x6d726b6c;
const ENTRY_SEED = 0x6d726b65;
const VALUE_SEED = 0x6d726b76;

/** The summary this build computes for askers that ask for it: 2 hashes values too (decision 56). */
export const MERKLE_SUMMARY_VERSION = 2;
/** Bytes of `valueDigest`. */
export const VALUE_DIGEST_BYTES = 8;

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffff;

/** Which leaf a record falls into: the top 8 bits of murmur3(recordKey), so a new version stays in its leaf. */
export function leafOf(recordKey: Uint8Array): number {
  return murmur3(recordKey, LEAF_SEED) >>> (32 - LEAF_BITS);
}

/** Accumulates (recordKey, version) pairs in any order. */
export class MerkleBuilder {
  readonly #counts = new Uint32Array(MERKLE_LEAVES);
  /** `LANES` running sums per leaf; a Uint32Array store wraps mod 2^32 for free. */
  readonly #sums = new Uint32Array(MERKLE_LEAVES * LANES);
  /** recordKey ‖ version, reused so `add` allocates only when a key outgrows it. */
  #scratch = new Uint8Array(128);
  #view = new DataView(this.#scratch.buffer);

  /**
   * Adds one record; the same pair added twice counts twice. With `extra`
   * (summary 2: a value digest, or a dedupe-key entry's record key) the
   * entry hashes key ‖ version ‖ extra ‖ extra's length u32.
   */
  add(recordKey: Uint8Array, version: bigint, extra?: Uint8Array): void {
    if (version < 0n || version > U64_MAX) assert.fail(`version is not a uint64: ${version}`);
    const len = recordKey.length;
    const total = len + 8 + (extra === undefined ? 0 : extra.length + 4);
    if (total > this.#scratch.length) {
      this.#scratch = new Uint8Array(2 ** Math.ceil(Math.log2(total)));
      this.#view = new DataView(this.#scratch.buffer);
    }
    this.#scratch.set(recordKey);
    // Fixed-width suffix: key ‖ version is unambiguous without a length prefix.
    this.#view.setBigUint64(len, version);
    if (extra !== undefined) {
      // The trailing length splits key from extra however long each is.
      this.#scratch.set(extra, len + 8);
      this.#view.setUint32(total - 4, extra.length);
    }
    murmur3x86_128(this.#scratch, total, ENTRY_SEED, entryHash);
    const leaf = leafOf(recordKey);
    // A wrapped count would let 2^32 extra records pass as none; no shard gets near it.
    if (this.#counts[leaf] === U32_MAX) assert.fail(`merkle leaf ${leaf} holds 2^32 - 1 records`);
    this.#counts[leaf]! += 1;
    const at = leaf * LANES;
    this.#sums[at]! += entryHash[0]!;
    this.#sums[at + 1]! += entryHash[1]!;
    this.#sums[at + 2]! += entryHash[2]!;
  }

  /** The tree of the pairs added so far; the builder stays usable. */
  finish(): MerkleTree {
    const leaves = Buffer.allocUnsafe(TREE_BYTES);
    for (let leaf = 0; leaf < MERKLE_LEAVES; leaf++) {
      const at = leaf * LEAF_BYTES;
      leaves.writeUInt32BE(this.#counts[leaf]!, at);
      for (let lane = 0; lane < LANES; lane++) leaves.writeUInt32BE(this.#sums[leaf * LANES + lane]!, at + 4 + lane * 4);
    }
    return new MerkleTree(leaves);
  }
}

/** A finished per-shard summary; compare two with `diff`. */
export class MerkleTree {
  /** Per-leaf digests, `LEAF_BYTES` each in leaf order (layout in the file header). Treat as read-only. */
  readonly leaves: Buffer;
  /**
   * sha256 of `leaves`, hex. Flat rather than a binary tree of levels:
   * replicas swap roots and, only when they differ, all 4 KiB of leaves, so
   * inner nodes would never be exchanged.
   */
  readonly root: string;
  /** Number of records added. */
  readonly count: number;

  /** A tree over `leaves` (taken, not copied), MERKLE_LEAVES digests long; untrusted bytes go through `decode`. */
  constructor(leaves: Buffer) {
    assert.equal(leaves.length, TREE_BYTES, 'merkle tree: wrong leaves length');
    this.leaves = leaves;
    this.root = createHash('sha256').update(leaves).digest('hex');
    let count = 0;
    // At most 256 * (2^32 - 1) < 2^53: exact as a number.
    for (let at = 0; at < TREE_BYTES; at += LEAF_BYTES) count += leaves.readUInt32BE(at);
    this.count = count;
  }

  /** Serializes the leaves for the wire (the root is recomputed on decode). */
  encode(): Buffer {
    return Buffer.from(this.leaves);
  }

  /** The tree `encode` produced; throws a plain Error when `bytes` is not exactly one tree long. */
  static decode(bytes: Uint8Array): MerkleTree {
    if (bytes.length !== TREE_BYTES) throw new Error(`merkle tree: expected ${TREE_BYTES} bytes, got ${bytes.length}`);
    // Copied: the tree must not change when the caller reuses its receive buffer.
    return new MerkleTree(Buffer.from(bytes));
  }

  /** Leaf numbers, ascending, whose digests differ between this tree and `other`. */
  diff(other: MerkleTree): number[] {
    if (this.root === other.root) return [];
    const out: number[] = [];
    const a = this.leaves;
    const b = other.leaves;
    for (let leaf = 0; leaf < MERKLE_LEAVES; leaf++) {
      const at = leaf * LEAF_BYTES;
      if (a.compare(b, at, at + LEAF_BYTES, at, at + LEAF_BYTES) !== 0) out.push(leaf);
    }
    return out;
  }
}

/** Output of the last `murmur3x86_128` call, so the hot path allocates nothing. */
const entryHash = new Uint32Array(4);
const valueHash = new Uint32Array(4);

/** 64 bits of MurmurHash3 x86_128 of a stored value: what summary 2 and its leaf entries compare values by. */
export function valueDigest(value: Uint8Array, out: Buffer = Buffer.allocUnsafe(VALUE_DIGEST_BYTES)): Buffer {
  murmur3x86_128(value, value.length, VALUE_SEED, valueHash);
  out.writeUInt32BE(valueHash[0]!, 0);
  out.writeUInt32BE(valueHash[1]!, 4);
  return out;
}

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Little-endian word of the 1..4 bytes `bytes[from, to)`, as the reference's tail switch builds it. */
function tailWord(bytes: Uint8Array, from: number, to: number): number {
  let k = 0;
  for (let i = to - 1; i >= from; i--) k = (k << 8) | bytes[i]!;
  return k;
}

/**
 * MurmurHash3 x86_128 of `bytes[0, len)` into `out`, bit-for-bit equal to
 * smhasher's `MurmurHash3_x86_128` on a little-endian machine (out[i] is its
 * i-th output word). All 32-bit arithmetic, so no BigInt on the hot path.
 */
function murmur3x86_128(bytes: Uint8Array, len: number, seed: number, out: Uint32Array): void {
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const blockEnd = len & ~15;
  let i = 0;
  for (; i < blockEnd; i += 16) {
    // `!` is safe: i + 15 < blockEnd <= len <= bytes.length.
    let k1 = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    let k2 = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    let k3 = bytes[i + 8]! | (bytes[i + 9]! << 8) | (bytes[i + 10]! << 16) | (bytes[i + 11]! << 24);
    let k4 = bytes[i + 12]! | (bytes[i + 13]! << 8) | (bytes[i + 14]! << 16) | (bytes[i + 15]! << 24);

    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul((rotl(h1, 19) + h2) | 0, 5) + 0x561ccd1b) | 0;

    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul((rotl(h2, 17) + h3) | 0, 5) + 0x0bcaa747) | 0;

    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul((rotl(h3, 15) + h4) | 0, 5) + 0x96cd1c35) | 0;

    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul((rotl(h4, 13) + h1) | 0, 5) + 0x32ac3b17) | 0;
  }

  // The reference's fall-through switch: each partly or wholly filled tail word mixes into its lane.
  const rem = len & 15;
  if (rem > 12) h4 ^= Math.imul(rotl(Math.imul(tailWord(bytes, i + 12, i + rem), C4), 18), C1);
  if (rem > 8) h3 ^= Math.imul(rotl(Math.imul(tailWord(bytes, i + 8, i + Math.min(rem, 12)), C3), 17), C4);
  if (rem > 4) h2 ^= Math.imul(rotl(Math.imul(tailWord(bytes, i + 4, i + Math.min(rem, 8)), C2), 16), C3);
  if (rem > 0) h1 ^= Math.imul(rotl(Math.imul(tailWord(bytes, i, i + Math.min(rem, 4)), C1), 15), C2);

  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  out[0] = h1;
  out[1] = h2 + h1;
  out[2] = h3 + h1;
  out[3] = h4 + h1;
}
