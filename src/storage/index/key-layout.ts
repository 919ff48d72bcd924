/**
 * Index key layout. Keys compare as bytes, so every integer is big-endian
 * and the event time is sign-flipped (see record-batch-v1).
 *
 *   record   R | shard u16 | tableId u32 | keyLen u16 | key | timeKey[8] | id[8]
 *              → stored value (version, ingestedAt, schemaVersion, fields)
 *   by id    I | id[8]                       (records with a primary key)
 *              → tableId u32 | shard u16 | keyLen u16 | key | timeKey[8]
 *                | pk                         (the record's primary or dedupe
 *                                             key, to the end; absent in
 *                                             entries written before decision 54)
 *            B | lane u16 | lastId[8]        (append-only records: one block per
 *              → see id-block.ts              WAL frame, or per run of small frames)
 *   by pk    P | shard u16 | tableId u32 | pkLen u16 | pk
 *              → id[8] | version[8] | keyLen u16 | key | timeKey[8]
 *   key block K | shard u16 | tableId u32 | pkLen u16 | lastPk   (a fresh batch's
 *              → see key-block.ts         fenced dedupe keys of one prefix)
 *   staged   T | txid[8]                     (an atomic batch prepared here,
 *              → tx-prepare-v1 payload        undecided: storage/tx/)
 *   done     D | txid[8]                     (its outcome, kept a while)
 *              → outcome u8 | atMs f64 | cv[8]
 *   floor    M | "replay-floor"              (the oldest PREPARE not yet in
 *              → lsn[8]                       the index: replay starts there)
 *   pk-in-rk M | "pk-in-record-key" | tableId u32   (the table holds records
 *              → (empty)                      without a P entry: see below)
 *   blocks   M | "key-blocks" | tableId u32 | digits u8   (the table holds key
 *              → (one byte)                   blocks of d-digit numbers)
 *
 * A record whose primary key is its shard key, written with minted keys
 * (record-batch flag PK_IN_RECORD_KEY), gets no P entry: its record key
 * `R | shard | tableId | keyLen | pk | …` finds it by prefix, and it is
 * the only live record of that key. The table is marked first, so a
 * primary-key lookup that misses P in a marked table seeks that prefix.
 *
 * Shard first: one shard of every table is one contiguous range (a move is
 * a range scan). Inside a shard and table, one shard key's records are
 * contiguous and ordered by event time, then id, whatever order they
 * arrived in. The key is length-prefixed so "ab" never interleaves with
 * "abc". The id entries are derived data (they can be rebuilt from R).
 * Staged and done entries are neither R, I, P nor B keys: no read, scan,
 * Merkle summary or repair ever sees an undecided record.
 */

import { copyBytes } from '../../core/copy-bytes.ts';

export const PREFIX_RECORD = 0x52; // 'R'
export const PREFIX_ID = 0x49; // 'I'
export const PREFIX_PK = 0x50; // 'P'
export const PREFIX_TX_STAGED = 0x54; // 'T'
export const PREFIX_TX_DONE = 0x44; // 'D'
export const PREFIX_META = 0x4d; // 'M'

/** `M | "replay-floor"`: where recovery must start replaying the WAL at the latest (storage/tx/staged-payloads.ts). */
export const REPLAY_FLOOR_KEY = Buffer.concat([Buffer.from([PREFIX_META]), Buffer.from('replay-floor', 'ascii')]);

/** `M | "pk-in-record-key"`: the prefix of the marks of tables that hold records without a P entry. */
export const PK_IN_RECORD_KEY_PREFIX = Buffer.concat([Buffer.from([PREFIX_META]), Buffer.from('pk-in-record-key', 'ascii')]);

/** The mark of `tableId`: some of its records are found by their record key alone. */
export function pkInRecordKeyMark(tableId: number): Buffer {
  const out = Buffer.allocUnsafe(PK_IN_RECORD_KEY_PREFIX.length + 4);
  PK_IN_RECORD_KEY_PREFIX.copy(out, 0);
  out.writeUInt32BE(tableId, PK_IN_RECORD_KEY_PREFIX.length);
  return out;
}

/** The table a mark names. */
export function tableOfPkInRecordKeyMark(mark: Uint8Array): number {
  return Buffer.from(mark.buffer, mark.byteOffset, mark.byteLength).readUInt32BE(PK_IN_RECORD_KEY_PREFIX.length);
}

/** Bytes of a record key before the shard key. */
export const RECORD_KEY_HEAD_BYTES = 9;

/** Builds `R | shard | tableId | keyLen | key | timeKey | id` from a batch buffer's parts. */
export function recordKey(shard: number, tableId: number, src: Buffer, keyOffset: number, keyLen: number, timeKeyOffset: number, idOffset: number): Buffer {
  return writeRecordKey(Buffer.allocUnsafe(RECORD_KEY_HEAD_BYTES + keyLen + 16), 0, shard, tableId, src, keyOffset, keyLen, timeKeyOffset, idOffset);
}

/** recordKey one byte in: byte 0 is spare, for an engine's `putSpared` (storage-engine.ts). */
export function recordKeySpared(shard: number, tableId: number, src: Buffer, keyOffset: number, keyLen: number, timeKeyOffset: number, idOffset: number): Buffer {
  return writeRecordKey(Buffer.allocUnsafe(1 + RECORD_KEY_HEAD_BYTES + keyLen + 16), 1, shard, tableId, src, keyOffset, keyLen, timeKeyOffset, idOffset);
}

function writeRecordKey(out: Buffer, at: number, shard: number, tableId: number, src: Buffer, keyOffset: number, keyLen: number, timeKeyOffset: number, idOffset: number): Buffer {
  out[at] = PREFIX_RECORD;
  out.writeUInt16BE(shard, at + 1);
  out.writeUInt32BE(tableId, at + 3);
  out.writeUInt16BE(keyLen, at + 7);
  copyBytes(src, keyOffset, keyOffset + keyLen, out, at + 9);
  copyBytes(src, timeKeyOffset, timeKeyOffset + 8, out, at + 9 + keyLen);
  copyBytes(src, idOffset, idOffset + 8, out, at + 17 + keyLen);
  return out;
}

/** `prefix | shard | tableId | len | bytes`: the head shared by record, primary-key and key-block keys (`len` is the whole key's when `bytes` is a prefix of it, for a seek bound). */
export function shardTableKey(prefix: number, shard: number, tableId: number, bytes: Uint8Array, len: number = bytes.length): Buffer {
  const out = Buffer.allocUnsafe(RECORD_KEY_HEAD_BYTES + bytes.length);
  out[0] = prefix;
  out.writeUInt16BE(shard, 1);
  out.writeUInt32BE(tableId, 3);
  out.writeUInt16BE(len, 7);
  copyBytes(bytes, 0, bytes.length, out, 9);
  return out;
}

/** `R | shard | tableId | keyLen | key`: the prefix of one shard key's records. */
export function recordKeyPrefix(shard: number, tableId: number, key: Buffer): Buffer {
  return shardTableKey(PREFIX_RECORD, shard, tableId, key);
}

/** `R | shard | tableId` (or `P | …` for its primary keys): the prefix of one table's records in one shard. */
export function tableShardPrefix(shard: number, tableId: number, prefix: number = PREFIX_RECORD): Buffer {
  const out = Buffer.allocUnsafe(7);
  out[0] = prefix;
  out.writeUInt16BE(shard, 1);
  out.writeUInt32BE(tableId, 3);
  return out;
}

/** `R | shard`: the prefix of every table's records in one shard (what repair compares). */
export function shardPrefix(shard: number): Buffer {
  const out = Buffer.allocUnsafe(3);
  out[0] = PREFIX_RECORD;
  out.writeUInt16BE(shard, 1);
  return out;
}

/** `prefix | id`, the id copied from 8 big-endian bytes of `src`. */
export function prefixedId(prefix: number, src: Buffer, idOffset: number): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = prefix;
  copyBytes(src, idOffset, idOffset + 8, out, 1);
  return out;
}

/** `prefix | id` from a bigint id. */
export function prefixedIdOf(prefix: number, id: bigint): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = prefix;
  out.writeBigUInt64BE(id, 1);
  return out;
}

/** `I | id`. */
export function idKey(src: Buffer, idOffset: number): Buffer {
  return prefixedId(PREFIX_ID, src, idOffset);
}

/** `I | id` from a bigint id. */
export function idKeyOf(id: bigint): Buffer {
  return prefixedIdOf(PREFIX_ID, id);
}

/**
 * The value of an id-index entry: where the record key lives, then the
 * record's primary or dedupe key when it was written with one
 * (`tableId | shard | keyLen | key | timeKey | pk`, pk to the end). The key
 * is what repair sends with the record (decision 54): nothing else leads
 * from a record to its dedupe key. Values written before end at timeKey.
 */
export function idValue(recordKeyBuf: Buffer, pk?: Uint8Array): Buffer {
  // tableId | shard | keyLen | key | timeKey, taken from the record key.
  const keyLen = recordKeyBuf.readUInt16BE(7);
  const at = 8 + keyLen + 8;
  const out = Buffer.allocUnsafe(at + (pk?.length ?? 0));
  recordKeyBuf.copy(out, 0, 3, 7);
  recordKeyBuf.copy(out, 4, 1, 3);
  recordKeyBuf.copy(out, 6, 7, 9 + keyLen + 8);
  if (pk !== undefined) copyBytes(pk, 0, pk.length, out, at);
  return out;
}

/** The primary or dedupe key an id-index value carries, if any (none in values written before decision 54). */
export function pkOfIdValue(value: Uint8Array): Buffer | undefined {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const at = 8 + v.readUInt16BE(6) + 8;
  return v.length > at ? v.subarray(at) : undefined;
}

/** The table an id-index value names. */
export function tableOfIdValue(value: Uint8Array): number {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return v.readUInt32BE(0);
}

/** The location an id-index value points at. */
export interface RecordLocation {
  readonly tableId: number;
  readonly shard: number;
  /** The full record key. */
  readonly recordKey: Buffer;
}

/** Rebuilds the record key from an id and its id-index value. */
export function locationOf(id: bigint, value: Uint8Array): RecordLocation {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const tableId = v.readUInt32BE(0);
  const shard = v.readUInt16BE(4);
  const keyLen = v.readUInt16BE(6);
  const out = Buffer.allocUnsafe(RECORD_KEY_HEAD_BYTES + keyLen + 16);
  out[0] = PREFIX_RECORD;
  out.writeUInt16BE(shard, 1);
  out.writeUInt32BE(tableId, 3);
  v.copy(out, 7, 6, 8 + keyLen + 8);
  out.writeBigUInt64BE(id, 17 + keyLen);
  return { tableId, shard, recordKey: out };
}

/** `P | shard | tableId | pkLen | pk`. */
export function pkKey(shard: number, tableId: number, pk: Buffer | string): Buffer {
  return shardTableKey(PREFIX_PK, shard, tableId, typeof pk === 'string' ? Buffer.from(pk, 'utf8') : pk);
}

/** The value of a primary-key entry: current id, version and record key. */
export function pkValue(id: Buffer, idOffset: number, version: Buffer, versionOffset: number, recordKeyBuf: Buffer): Buffer {
  const suffixLen = recordKeyBuf.length - 7 - 8; // keyLen | key | timeKey
  const out = Buffer.allocUnsafe(16 + suffixLen);
  copyBytes(id, idOffset, idOffset + 8, out, 0);
  copyBytes(version, versionOffset, versionOffset + 8, out, 8);
  copyBytes(recordKeyBuf, 7, 7 + suffixLen, out, 16);
  return out;
}

/** A decoded primary-key entry. */
export interface PkEntry {
  readonly id: bigint;
  readonly version: bigint;
  /** The record key the primary key currently points at. */
  readonly recordKey: Buffer;
}

/** Decodes a primary-key entry value. */
export function readPkValue(shard: number, tableId: number, value: Uint8Array): PkEntry {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const id = v.readBigUInt64BE(0);
  const version = v.readBigUInt64BE(8);
  const suffixLen = v.length - 16;
  const rk = Buffer.allocUnsafe(7 + suffixLen + 8);
  rk[0] = PREFIX_RECORD;
  rk.writeUInt16BE(shard, 1);
  rk.writeUInt32BE(tableId, 3);
  v.copy(rk, 7, 16);
  v.copy(rk, 7 + suffixLen, 0, 8);
  return { id, version, recordKey: rk };
}

/** The smallest key greater than every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const out = Buffer.from(prefix);
  for (let i = out.length - 1; i >= 0; i--) {
    if ((out[i] as number) < 0xff) {
      out[i] = (out[i] as number) + 1;
      return out.subarray(0, i + 1);
    }
  }
  // All 0xFF: nothing sorts after it within the key space.
  return Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

/** Id of a record key (its last 8 bytes). */
export function recordKeyId(recordKeyBuf: Uint8Array): bigint {
  const b = Buffer.isBuffer(recordKeyBuf) ? recordKeyBuf : Buffer.from(recordKeyBuf.buffer, recordKeyBuf.byteOffset, recordKeyBuf.byteLength);
  return b.readBigUInt64BE(b.length - 8);
}

/** `T | txid`: the staged payload of a prepared atomic batch. */
export function txStagedKey(txid: bigint): Buffer {
  return prefixedIdOf(PREFIX_TX_STAGED, txid);
}

/** `D | txid`: the outcome of a decided atomic batch. */
export function txDoneKey(txid: bigint): Buffer {
  return prefixedIdOf(PREFIX_TX_DONE, txid);
}
