/**
 * The id index of append-only records, one entry per WAL frame instead of
 * one per record. A frame's ids are stamped from one snowflake batch, so
 * they are strictly increasing; the frame's locations are stored as one
 * block under `B | lane | lastId`, and a lookup seeks to the first block of
 * the id's lane whose last id is ≥ the id, then binary-searches it. This
 * halves the index writes of the bulk path (one put per record instead of
 * two). Records with a primary key keep per-record `I | id` entries: an
 * upsert reuses an older id, which would not fall inside its frame's range.
 * Small frames applied together share a block (id-block-plan.ts): a block
 * holds the ids of one frame or of consecutive frames, always one lane's,
 * strictly increasing.
 *
 * The lane is the snowflake worker id of the block's ids: each coordinator
 * stamps from its own worker, so on a replica the frames of different
 * coordinators, whose ids interleave in time, still form disjoint ranges
 * within their own lanes. (Format 1 keyed blocks `B | lastId` in one lane;
 * `migrateIdBlockKey` rewrites those keys.)
 *
 *   block     := magic u8 (0x42 'B') | tableId u32le | count u32le
 *                | ids [count × 8]            u64 big-endian, strictly increasing
 *                | offsets [count × u32le]    start of each location in `locations`
 *                | locations
 *   location  := shard u16le | keyLen u16le | key [keyLen] | timeKey [8]
 */
import { copyBytes } from '../../core/copy-bytes.ts';
import assert from 'node:assert/strict';
import { workerIdAt, workerIdOfId } from '../../core/snowflake.ts';
import { RECORD_KEY_HEAD_BYTES, PREFIX_RECORD } from './key-layout.ts';

export const PREFIX_ID_BLOCK = 0x42; // 'B'
const MAGIC = 0x42;
const HEADER_BYTES = 9;
/** `B | lane u16 | lastId[8]`. */
const KEY_BYTES = 11;
/** Format 1's `B | lastId[8]`. */
const LEGACY_KEY_BYTES = 9;

/** `B | lane`: the prefix of one lane's blocks. */
export function idBlockLanePrefix(lane: number): Buffer {
  const out = Buffer.allocUnsafe(3);
  out[0] = PREFIX_ID_BLOCK;
  out.writeUInt16BE(lane, 1);
  return out;
}

/** `B | lane(id) | id` (a seek target). */
export function idBlockKeyOf(id: bigint): Buffer {
  const out = Buffer.allocUnsafe(KEY_BYTES);
  out[0] = PREFIX_ID_BLOCK;
  out.writeUInt16BE(workerIdOfId(id), 1);
  out.writeBigUInt64BE(id, 3);
  return out;
}

/** The lane (worker id) of the big-endian id at `offset`. */
export function idLaneAt(src: Uint8Array, offset: number): number {
  return workerIdAt(src, offset);
}

/** The last id of a block, from its key. */
export function idBlockKeyLastId(key: Uint8Array): bigint {
  const b = Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return b.readBigUInt64BE(KEY_BYTES - 8);
}

/** A format-1 key (`B | lastId`) in today's form, or undefined when `key` has it already. */
export function migrateIdBlockKey(key: Uint8Array): Buffer | undefined {
  if (key.length !== LEGACY_KEY_BYTES) return undefined;
  const b = Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return idBlockKeyOf(b.readBigUInt64BE(1));
}

/** Whether the big-endian u64 at `a` is below the one at `b`: two word compares in JS, not a native `Buffer#compare` per record. */
export function idBefore(src: Buffer, a: number, b: number): boolean {
  return idBeforeIn(src, a, src, b);
}

/** Whether the big-endian u64 at `a` of `srcA` is below the one at `b` of `srcB`. */
export function idBeforeIn(srcA: Buffer, a: number, srcB: Buffer, b: number): boolean {
  const hiA = srcA.readUInt32BE(a);
  const hiB = srcB.readUInt32BE(b);
  return hiA < hiB || (hiA === hiB && srcA.readUInt32BE(a + 4) < srcB.readUInt32BE(b + 4));
}

/**
 * Collects the (id, location) pairs of one block, in id order: one frame's,
 * or the consecutive frames of one lane that an apply merges (index-store.ts
 * `planIdBlocks`). Entries are read from their record batches by offset;
 * nothing is copied until `finish`.
 */
export class IdBlockBuilder {
  private readonly tableId: number;
  /** Per entry: the record batch it is read from. */
  private readonly srcs: Buffer[] = [];
  /** Per entry: id offset, shard, key offset, key length, time-key offset in its batch. */
  private parts: number[];
  /** Numbers used in `parts` (5 per entry). */
  private used = 0;
  private locationBytes = 0;

  /** `capacity`: the entries expected, so `parts` is allocated once instead of grown. */
  constructor(tableId: number, capacity = 16) {
    this.tableId = tableId;
    this.parts = new Array<number>(Math.max(1, capacity) * 5).fill(0);
  }

  get count(): number {
    return this.used / 5;
  }

  /** Adds one record of batch `src`; ids must be added in strictly increasing order, all of one lane. */
  add(src: Buffer, idOffset: number, shard: number, keyOffset: number, keyLen: number, timeKeyOffset: number): void {
    const n = this.used;
    if (n > 0) {
      const prevSrc = this.srcs[n / 5 - 1] as Buffer;
      const prevAt = this.parts[n - 5] as number;
      // Checked with `if`, not assert.ok: its rest arguments allocate an array per call, and this runs per record.
      if (!idBeforeIn(prevSrc, prevAt, src, idOffset)) throw new assert.AssertionError({ message: 'ids of a block increase' });
      if (idLaneAt(src, idOffset) !== idLaneAt(prevSrc, prevAt)) throw new assert.AssertionError({ message: 'ids of a block share a lane' });
    }
    if (n + 5 > this.parts.length) this.parts = this.parts.concat(new Array<number>(this.parts.length).fill(0));
    const parts = this.parts;
    parts[n] = idOffset;
    parts[n + 1] = shard;
    parts[n + 2] = keyOffset;
    parts[n + 3] = keyLen;
    parts[n + 4] = timeKeyOffset;
    this.srcs.push(src);
    this.used = n + 5;
    this.locationBytes += 4 + keyLen + 8;
  }

  /** The block's key and value; call once, with at least one entry. */
  finish(): { key: Buffer; value: Buffer } {
    const count = this.count;
    assert.ok(count > 0, 'an id block has entries');
    const out = Buffer.allocUnsafe(HEADER_BYTES + count * 12 + this.locationBytes);
    out[0] = MAGIC;
    out.writeUInt32LE(this.tableId, 1);
    out.writeUInt32LE(count, 5);
    const idsAt = HEADER_BYTES;
    const offsetsAt = idsAt + count * 8;
    const locationsAt = offsetsAt + count * 4;
    let loc = 0;
    for (let i = 0; i < count; i++) {
      const src = this.srcs[i] as Buffer;
      const p = i * 5;
      const idOffset = this.parts[p] as number;
      const keyOffset = this.parts[p + 2] as number;
      const keyLen = this.parts[p + 3] as number;
      const timeKeyOffset = this.parts[p + 4] as number;
      copyBytes(src, idOffset, idOffset + 8, out, idsAt + i * 8);
      out.writeUInt32LE(loc, offsetsAt + i * 4);
      const at = locationsAt + loc;
      out.writeUInt16LE(this.parts[p + 1] as number, at);
      out.writeUInt16LE(keyLen, at + 2);
      copyBytes(src, keyOffset, keyOffset + keyLen, out, at + 4);
      copyBytes(src, timeKeyOffset, timeKeyOffset + 8, out, at + 4 + keyLen);
      loc += 4 + keyLen + 8;
    }
    const lastSrc = this.srcs[count - 1] as Buffer;
    const lastIdOffset = this.parts[(count - 1) * 5] as number;
    const key = Buffer.allocUnsafe(KEY_BYTES);
    key[0] = PREFIX_ID_BLOCK;
    key.writeUInt16BE(idLaneAt(lastSrc, lastIdOffset), 1);
    lastSrc.copy(key, 3, lastIdOffset, lastIdOffset + 8);
    return { key, value: out };
  }
}

/**
 * The block without the locations `drop(tableId, shard)` selects: the same bytes when
 * none is dropped, undefined when every one is. Kept blocks keep their key,
 * so the ranges of blocks stay disjoint.
 */
export function filterIdBlock(block: Uint8Array, drop: (tableId: number, shard: number) => boolean): Uint8Array | undefined {
  const b = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  assert.equal(b[0], MAGIC, 'id block magic');
  const tableId = b.readUInt32LE(1);
  const count = b.readUInt32LE(5);
  const offsetsAt = HEADER_BYTES + count * 8;
  const locationsAt = offsetsAt + count * 4;
  const kept: { at: number; len: number; i: number }[] = [];
  for (let i = 0; i < count; i++) {
    const at = locationsAt + b.readUInt32LE(offsetsAt + i * 4);
    if (!drop(tableId, b.readUInt16LE(at))) kept.push({ at, len: 4 + b.readUInt16LE(at + 2) + 8, i });
  }
  if (kept.length === count) return block;
  if (kept.length === 0) return undefined;
  const locationBytes = kept.reduce((sum, k) => sum + k.len, 0);
  const out = Buffer.allocUnsafe(HEADER_BYTES + kept.length * 12 + locationBytes);
  out[0] = MAGIC;
  out.writeUInt32LE(tableId, 1);
  out.writeUInt32LE(kept.length, 5);
  const outOffsetsAt = HEADER_BYTES + kept.length * 8;
  const outLocationsAt = outOffsetsAt + kept.length * 4;
  let loc = 0;
  kept.forEach((k, j) => {
    b.copy(out, HEADER_BYTES + j * 8, HEADER_BYTES + k.i * 8, HEADER_BYTES + k.i * 8 + 8);
    out.writeUInt32LE(loc, outOffsetsAt + j * 4);
    b.copy(out, outLocationsAt + loc, k.at, k.at + k.len);
    loc += k.len;
  });
  return out;
}

/**
 * A block with no entries under `B | lane(id) | id`: it keeps `id` as the highest id
 * the index has seen after the records that carried it were dropped (a
 * restarted node issues ids above the index's highest).
 */
export function idFloorBlock(id: bigint): { key: Buffer; value: Buffer } {
  const value = Buffer.alloc(HEADER_BYTES);
  value[0] = MAGIC;
  return { key: idBlockKeyOf(id), value };
}

/** Where an id's record lives, found in a block. */
export interface BlockHit {
  readonly tableId: number;
  readonly recordKey: Buffer;
}

/** Binary-searches a block for `id`; undefined when the block does not hold it. */
export function findInIdBlock(block: Uint8Array, id: bigint): BlockHit | undefined {
  const b = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  assert.equal(b[0], MAGIC, 'id block magic');
  const tableId = b.readUInt32LE(1);
  const count = b.readUInt32LE(5);
  const idsAt = HEADER_BYTES;
  let lo = 0;
  let hi = count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = b.readBigUInt64BE(idsAt + mid * 8);
    if (v === id) return { tableId, recordKey: locationKey(b, count, mid, tableId, id) };
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

function locationKey(b: Buffer, count: number, i: number, tableId: number, id: bigint): Buffer {
  const offsetsAt = HEADER_BYTES + count * 8;
  const at = offsetsAt + count * 4 + b.readUInt32LE(offsetsAt + i * 4);
  const shard = b.readUInt16LE(at);
  const keyLen = b.readUInt16LE(at + 2);
  const out = Buffer.allocUnsafe(RECORD_KEY_HEAD_BYTES + keyLen + 16);
  out[0] = PREFIX_RECORD;
  out.writeUInt16BE(shard, 1);
  out.writeUInt32BE(tableId, 3);
  out.writeUInt16BE(keyLen, 7);
  b.copy(out, 9, at + 4, at + 4 + keyLen + 8);
  out.writeBigUInt64BE(id, 17 + keyLen);
  return out;
}
