/**
 * MurmurHash3 x86_32, bit-for-bit equal to Austin Appleby's reference
 * (smhasher `MurmurHash3_x86_32`, public domain), blocks read little-endian
 * as on x86. Shard routing (`shardOf`) and the placement ring both hash with
 * it, so a key lands on the same shard in every node, process and version:
 * changing this function re-routes every stored record. The vectors in
 * test/core/murmur3.test.ts pin it.
 *
 * Strings are hashed over their UTF-8 bytes as produced by `TextEncoder`
 * (a lone surrogate becomes U+FFFD, EF BF BD), never over UTF-16 code units.
 */
import assert from 'node:assert/strict';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * Scratch buffers up to this size are kept for reuse by `murmur3String`;
 * a longer string is encoded into a one-off buffer so one huge key cannot pin
 * memory for the life of the process.
 */
const SCRATCH_BYTES_MAX = 64 * 1024;

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of `bytes[start, end)`, as an unsigned 32-bit integer. */
export function murmur3Range(bytes: Uint8Array, start: number, end: number, seed = 0): number {
  const len = end - start;
  const blockEnd = start + (len & ~3);
  let h = seed | 0;
  let i = start;
  for (; i < blockEnd; i += 4) {
    // `!` is safe: i + 3 < blockEnd <= end <= bytes.length.
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h = mixH(h, mixK(k));
  }
  const rem = len & 3;
  if (rem !== 0) {
    let k = bytes[i]!;
    if (rem > 1) k |= bytes[i + 1]! << 8;
    if (rem > 2) k |= bytes[i + 2]! << 16;
    h ^= mixK(k);
  }
  return fmix(h ^ len);
}

/** MurmurHash3 x86_32 of `bytes`, as an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  return murmur3Range(bytes, 0, bytes.length, seed);
}

/**
 * MurmurHash3 x86_32 of the UTF-8 encoding of `s`. ASCII strings (the usual
 * shard key: ids, account numbers) are hashed straight from their char codes,
 * with no encoding pass and no allocation; others are encoded into a reused
 * scratch buffer.
 */
export function murmur3String(s: string, seed = 0): number {
  const len = s.length;
  const blockEnd = len & ~3;
  let h = seed | 0;
  let i = 0;
  for (; i < blockEnd; i += 4) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    const c = s.charCodeAt(i + 2);
    const d = s.charCodeAt(i + 3);
    // For ASCII, UTF-8 bytes == char codes; anything else takes the encoding path.
    if ((a | b | c | d) > 0x7f) return murmur3Utf8(s, seed);
    h = mixH(h, mixK(a | (b << 8) | (c << 16) | (d << 24)));
  }
  const rem = len & 3;
  if (rem !== 0) {
    const a = s.charCodeAt(i);
    const b = rem > 1 ? s.charCodeAt(i + 1) : 0;
    const c = rem > 2 ? s.charCodeAt(i + 2) : 0;
    if ((a | b | c) > 0x7f) return murmur3Utf8(s, seed);
    h ^= mixK(a | (b << 8) | (c << 16));
  }
  return fmix(h ^ len);
}

function murmur3Utf8(s: string, seed: number): number {
  // One UTF-16 code unit encodes to at most 3 UTF-8 bytes (a surrogate pair: 2 units -> 4 bytes).
  const bytesMax = s.length * 3;
  if (bytesMax > scratch.length) {
    if (bytesMax > SCRATCH_BYTES_MAX) return murmur3(encoder.encode(s), seed);
    scratch = new Uint8Array(Math.min(SCRATCH_BYTES_MAX, 2 ** Math.ceil(Math.log2(bytesMax))));
  }
  const { written } = encoder.encodeInto(s, scratch);
  return murmur3Range(scratch, 0, written, seed);
}

/** The shard (0..shardCount-1) of a shard-key value: `murmur3String(key) % shardCount`. */
export function shardOf(key: string, shardCount: number): number {
  checkShardCount(shardCount);
  return murmur3String(key) % shardCount;
}

/** `shardOf` of the key whose UTF-8 bytes are src[start, end). */
export function shardOfBytes(src: Uint8Array, start: number, end: number, shardCount: number): number {
  checkShardCount(shardCount);
  return murmur3Range(src, start, end) % shardCount;
}

/** `if`, not assert(): its rest arguments allocate per call, and both callers run per record. */
function checkShardCount(shardCount: number): void {
  if (!(shardCount >= 1 && shardCount <= 0xffffffff && Number.isInteger(shardCount))) {
    throw new assert.AssertionError({ message: 'shardCount must be an integer in 1..2^32-1' });
  }
}
