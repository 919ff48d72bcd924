/**
 * The dedupe keys of a fresh batch as blocks instead of one primary-key
 * entry per record (decision 32). A source numbers its dedupe keys
 * `<prefix><number, zero-padded to d digits>` (Kafka: a prefix per
 * partition and the offset; files: a prefix per file and the row), and
 * the dedupe fence writes a batch with fresh keys only when, per prefix,
 * the span of its numbers overlaps nothing stored or admitted
 * (ingest/dedupe-fence.ts). So the keys one fresh batch holds of one
 * prefix in one shard form a block whose span no other block of that
 * prefix and shard meets, and a lookup's seek to the first block of the
 * prefix ending at or after a key finds the only one that can hold it
 * (as id-block.ts does for ids). A Kafka batch of 5,000 messages on 6
 * partitions over 16 shards writes ~100 entries instead of 5,000.
 *
 *   key    K | shard u16 | tableId u32 | pkLen u16 | lastPk      (as a P key)
 *   value  magic u8 (0x4b 'K') | digits u8 | count u32le
 *          | offsets [count × u32le]  start of each entry in `entries`
 *          | entries
 *   entry  number [digits]            the key's last `digits` bytes, increasing
 *          | id [8] | version [8] | keyLen u16 | key | timeKey [8]
 *                                     (a P entry's value, key-layout.ts)
 *
 * A P entry, where one exists, is newer than a block's entry of the same
 * key: a later write of the key (a re-delivery, resolved) writes P.
 */
import assert from 'node:assert/strict';
import { copyBytes } from '../../core/copy-bytes.ts';
import { PREFIX_META, RECORD_KEY_HEAD_BYTES, shardTableKey } from './key-layout.ts';

export const PREFIX_KEY_BLOCK = 0x4b; // 'K'
const MAGIC = 0x4b;
const HEADER_BYTES = 6;

/** `K | shard | tableId | pkLen | pk` (a block's key when `pk` is its last key; a seek target otherwise). */
export function keyBlockKey(shard: number, tableId: number, pk: Uint8Array, pkLen: number = pk.length): Buffer {
  return shardTableKey(PREFIX_KEY_BLOCK, shard, tableId, pk, pkLen);
}

/** `M | "key-blocks"`: the marks of the tables (and digit counts) that hold key blocks. */
export const KEY_BLOCKS_MARK_PREFIX = Buffer.concat([Buffer.from([PREFIX_META]), Buffer.from('key-blocks', 'ascii')]);

/** `M | "key-blocks" | tableId u32 | digits u8`: the table holds blocks of keys with `digits`-digit numbers. */
export function keyBlocksMark(tableId: number, digits: number): Buffer {
  const out = Buffer.allocUnsafe(KEY_BLOCKS_MARK_PREFIX.length + 5);
  KEY_BLOCKS_MARK_PREFIX.copy(out, 0);
  out.writeUInt32BE(tableId, KEY_BLOCKS_MARK_PREFIX.length);
  out[KEY_BLOCKS_MARK_PREFIX.length + 4] = digits;
  return out;
}

/** The table and digit count a mark names. */
export function keyBlocksMarkOf(mark: Uint8Array): { tableId: number; digits: number } {
  const b = Buffer.from(mark.buffer, mark.byteOffset, mark.byteLength);
  return { tableId: b.readUInt32BE(KEY_BLOCKS_MARK_PREFIX.length), digits: b[KEY_BLOCKS_MARK_PREFIX.length + 4] as number };
}

/** The last key of a block, from the block's key. */
export function keyBlockLastPk(key: Uint8Array): Buffer {
  const b = Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return b.subarray(RECORD_KEY_HEAD_BYTES);
}

/** One record of a group: where its parts are in the batch (the entry is copied from there, no record key is built). */
interface Part {
  readonly pkOffset: number;
  readonly idOffset: number;
  readonly versionOffset: number;
  readonly keyOffset: number;
  readonly keyLen: number;
  readonly timeKeyOffset: number;
}

/** Collects a fresh batch's fenced keys per (shard, prefix). */
export class KeyBlockBuilder {
  private readonly tableId: number;
  private readonly digits: number;
  private readonly src: Buffer;
  /** Distinct prefixes seen: [offset in src, length]. */
  private readonly prefixes: [number, number][] = [];
  private lastPrefix = -1;
  private readonly groups = new Map<number, { shard: number; pkLen: number; parts: Part[] }>();

  /** Keys are `src` bytes (a record batch); their last `digits` bytes are the number. */
  constructor(tableId: number, digits: number, src: Buffer) {
    assert.ok(Number.isInteger(digits) && digits > 0, 'a fenced key has digits');
    this.tableId = tableId;
    this.digits = digits;
    this.src = src;
  }

  /** Whether a key of `pkLen` bytes can go into a block (it has a number and a prefix). */
  accepts(pkLen: number): boolean {
    return pkLen > this.digits;
  }

  /** Adds one record's key (`accepts(pkLen)`), id, version, shard key and time key, all by offset in the batch. */
  add(shard: number, pkOffset: number, pkLen: number, idOffset: number, versionOffset: number, keyOffset: number, keyLen: number, timeKeyOffset: number): void {
    const prefix = this.prefixIndex(pkOffset, pkLen - this.digits);
    const id = prefix * 65_536 + shard;
    let group = this.groups.get(id);
    if (group === undefined) {
      group = { shard, pkLen, parts: [] };
      this.groups.set(id, group);
    }
    group.parts.push({ pkOffset, idOffset, versionOffset, keyOffset, keyLen, timeKeyOffset });
  }

  /** The blocks, one per (shard, prefix); call once. */
  finish(): { key: Buffer; value: Buffer }[] {
    const out: { key: Buffer; value: Buffer }[] = [];
    for (const { shard, pkLen, parts } of this.groups.values()) out.push(this.block(shard, pkLen, inKeyOrder(this.src, parts, pkLen - this.digits, this.digits)));
    return out;
  }

  private block(shard: number, pkLen: number, parts: readonly Part[]): { key: Buffer; value: Buffer } {
    const src = this.src;
    const digits = this.digits;
    const numberAt = pkLen - digits;
    let entriesBytes = 0;
    for (const p of parts) entriesBytes += entryBytes(digits, p.keyLen);
    const count = parts.length;
    const value = Buffer.allocUnsafe(HEADER_BYTES + count * 4 + entriesBytes);
    value[0] = MAGIC;
    value[1] = digits;
    value.writeUInt32LE(count, 2);
    const entriesAt = HEADER_BYTES + count * 4;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const p = parts[i] as Part;
      value.writeUInt32LE(at, HEADER_BYTES + i * 4);
      let w = entriesAt + at;
      copyBytes(src, p.pkOffset + numberAt, p.pkOffset + pkLen, value, w);
      w += digits;
      copyBytes(src, p.idOffset, p.idOffset + 8, value, w);
      copyBytes(src, p.versionOffset, p.versionOffset + 8, value, w + 8);
      w += 16;
      const keyLen = p.keyLen;
      value[w] = keyLen >>> 8;
      value[w + 1] = keyLen & 0xff;
      copyBytes(src, p.keyOffset, p.keyOffset + keyLen, value, w + 2);
      copyBytes(src, p.timeKeyOffset, p.timeKeyOffset + 8, value, w + 2 + keyLen);
      at += entryBytes(digits, keyLen);
    }
    const last = parts[count - 1] as Part;
    return { key: keyBlockKey(shard, this.tableId, src.subarray(last.pkOffset, last.pkOffset + pkLen)), value };
  }

  /** The index of the prefix at src[offset, offset + length), added when new (a batch has few: runs of one are usual). */
  private prefixIndex(offset: number, length: number): number {
    const last = this.prefixes[this.lastPrefix];
    if (last !== undefined && sameBytes(this.src, last, offset, length)) return this.lastPrefix;
    let i = this.prefixes.findIndex((p) => sameBytes(this.src, p, offset, length));
    if (i < 0) i = this.prefixes.push([offset, length]) - 1;
    this.lastPrefix = i;
    return i;
  }
}

/** An entry's bytes: the number, id and version, then what a record key holds after its `R | shard | tableId` head (keyLen u16, key, time key), without its id. */
function entryBytes(digits: number, keyLen: number): number {
  return digits + 16 + 2 + keyLen + 8;
}

function sameBytes(src: Buffer, [offset, length]: [number, number], other: number, otherLength: number): boolean {
  if (length !== otherLength) return false;
  for (let i = 0; i < length; i++) if (src[offset + i] !== src[other + i]) return false;
  return true;
}

/** src[a, a + length) against src[b, b + length), as bytes: a loop in JS (about 20 bytes) rather than a native call per pair. */
function compareBytes(src: Buffer, a: number, b: number, length: number): number {
  for (let i = 0; i < length; i++) {
    const d = (src[a + i] as number) - (src[b + i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** The parts by number, a later record replacing an earlier one of the same key (as a later put would). */
function inKeyOrder(src: Buffer, parts: Part[], numberAt: number, digits: number): Part[] {
  const cmp = (a: Part, b: Part): number => compareBytes(src, a.pkOffset + numberAt, b.pkOffset + numberAt, digits);
  let sorted = true;
  for (let i = 1; i < parts.length && sorted; i++) sorted = cmp(parts[i - 1] as Part, parts[i] as Part) < 0;
  if (sorted) return parts;
  // Stable: of equal keys the later record stays last, and only the last of each key is kept.
  const ordered = parts.map((p, i) => ({ p, i })).sort((a, b) => cmp(a.p, b.p) || a.i - b.i).map((e) => e.p);
  return ordered.filter((p, i) => i === ordered.length - 1 || cmp(p, ordered[i + 1] as Part) !== 0);
}

/** The digit count of a block's numbers, from its value. */
export function keyBlockDigits(value: Uint8Array): number {
  assert.equal(value[0], MAGIC, 'key block magic');
  return value[1] as number;
}

/**
 * The entry of the key whose number is `number` (its last `digits` bytes)
 * in a block's value, as a P entry's value bytes; undefined when absent.
 */
export function findInKeyBlock(value: Uint8Array, number: Uint8Array): Buffer | undefined {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  assert.equal(v[0], MAGIC, 'key block magic');
  const digits = v[1] as number;
  if (number.length !== digits) return undefined;
  const count = v.readUInt32LE(2);
  const entriesAt = HEADER_BYTES + count * 4;
  const startOf = (i: number): number => entriesAt + v.readUInt32LE(HEADER_BYTES + i * 4);
  let lo = 0;
  let hi = count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = startOf(mid);
    // The entry's number against the sought one: below it, look right.
    const c = v.compare(number, 0, digits, at, at + digits);
    if (c === 0) return v.subarray(at + digits, mid + 1 < count ? startOf(mid + 1) : v.length);
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
