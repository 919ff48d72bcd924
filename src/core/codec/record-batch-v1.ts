/**
 * record-batch v1: the one binary form of a batch of validated records of
 * one table. The decode workers build it, the coordinator stamps ids and
 * versions into it in place, the WAL stores it as a frame payload, replicas
 * receive it, and the index applies it by slicing keys and values out of it.
 * A record is encoded once; nothing re-serializes it between layers.
 *
 *   batch   := header entry{count}
 *   header  := magic u8 (0x53 'S') | formatVersion u8 (1) | flags u16le
 *              | tableId u32le | count u32le                       (12 bytes)
 *   flags   := bit 0 FRESH_KEYS: every primary/dedupe key in the batch is new
 *              to the table (the writer knows it); the index stores the keys
 *              without looking for existing entries.
 *              bit 1 PK_IN_RECORD_KEY (with FRESH_KEYS): every record's
 *              primary key is its shard key, so its record key already
 *              finds it; the index may leave out its primary-key entry
 *              (storage/index/key-layout.ts).
 *              bits 8–12 FENCED_DIGITS (with FRESH_KEYS): 0, or d when every
 *              key is a dedupe fence's prefix + a number of d digits, so the
 *              index may store the keys as blocks (storage/index/key-block.ts).
 *              Other bits are 0.
 *   entry   := entryBytes u32le       whole entry, this field included
 *              | shard u16le
 *              | keyLen u16le         UTF-8 bytes of the shard key
 *              | pkLen u16le          UTF-8 bytes of the primary key (0: none)
 *              | flags u16le          (0; reserved for tombstones)
 *              | timeKey [8]          event time ms, i64 big-endian with the
 *                                     sign bit flipped (memcmp order = time order)
 *              | id [8]               snowflake, u64 big-endian
 *              | key [keyLen] | pk [pkLen]
 *              | value
 *   value   := version [8]            HLC version, u64 big-endian
 *              | ingestedAtMs f64le
 *              | schemaVersion u32le
 *              | fields               msgpack array, positional in the
 *                                     schema version's field order
 *
 * Big-endian id/time/version let the index copy them straight into
 * memcmp-ordered keys; the value is one contiguous slice, stored as is.
 */
import assert from 'node:assert/strict';
import { MsgpackWriter } from './msgpack-writer.ts';

export const BATCH_MAGIC = 0x53;
export const BATCH_FORMAT_VERSION = 1;
export const BATCH_HEADER_BYTES = 12;
/** Bytes of an entry before its key. */
export const ENTRY_FIXED_BYTES = 28;
/** Bytes of a value before its msgpack fields. */
export const VALUE_HEADER_BYTES = 20;

/** Header flag: the batch's keys are known to be new (see the grammar above). */
export const BATCH_FLAG_FRESH_KEYS = 0x0001;
/** Header flag: every record's primary key is its shard key (see the layout above). */
export const BATCH_FLAG_PK_IN_RECORD_KEY = 0x0002;

/** Bits of the header flags that hold FENCED_DIGITS. */
const FENCED_DIGITS_SHIFT = 8;
const FENCED_DIGITS_MASK = 0x1f << FENCED_DIGITS_SHIFT;
/** Largest FENCED_DIGITS the header holds. */
export const BATCH_FENCED_DIGITS_MAX = 0x1f;

const OFF_FLAGS = 2;
const OFF_SHARD = 4;
const OFF_KEY_LEN = 6;
const OFF_PK_LEN = 8;
const OFF_TIME = 12;
const OFF_ID = 20;

const SIGN_FLIP = 0x80;
const TWO_32 = 4294967296;

/** Writes epoch ms as a memcmp-ordered 8-byte key part. */
export function writeTimeKey(buf: Buffer, offset: number, timeMs: number): void {
  // Two 32-bit halves instead of a BigInt: this runs once per record.
  // Byte stores rather than writeInt32BE/writeUInt32BE, whose range checks cost more than the stores (3% of a
  // decode thread); callers pass validated times, whose high half is far inside an int32.
  const ms = Math.trunc(timeMs);
  const hi = Math.floor(ms / TWO_32);
  const lo = ms - hi * TWO_32;
  buf[offset] = ((hi >>> 24) & 0xff) ^ SIGN_FLIP;
  buf[offset + 1] = (hi >>> 16) & 0xff;
  buf[offset + 2] = (hi >>> 8) & 0xff;
  buf[offset + 3] = hi & 0xff;
  buf[offset + 4] = lo >>> 24;
  buf[offset + 5] = (lo >>> 16) & 0xff;
  buf[offset + 6] = (lo >>> 8) & 0xff;
  buf[offset + 7] = lo & 0xff;
}

/** Reads a time key part written by `writeTimeKey`. */
export function readTimeKey(buf: Uint8Array, offset: number): number {
  const hi = ((((buf[offset] as number) ^ SIGN_FLIP) << 24) | ((buf[offset + 1] as number) << 16) | ((buf[offset + 2] as number) << 8) | (buf[offset + 3] as number)) | 0;
  const lo = (((buf[offset + 4] as number) << 24) >>> 0) + (((buf[offset + 5] as number) << 16) | ((buf[offset + 6] as number) << 8) | (buf[offset + 7] as number));
  return hi * TWO_32 + lo;
}

/** A u16le by two byte stores; outside 0..65535 it throws as writeUInt16LE does (a key never wraps). */
function putU16(buf: Buffer, offset: number, value: number): void {
  if (value >>> 16 !== 0 || value !== (value | 0)) {
    buf.writeUInt16LE(value, offset);
    return;
  }
  buf[offset] = value & 0xff;
  buf[offset + 1] = value >>> 8;
}

/** Writes a record's primary key without a string for it (a source's numbered dedupe keys). */
export interface PkWriter {
  /** Writes record `index`'s primary key as UTF-8 at `w.pos` (advancing it); returns its length in bytes. */
  writePk(w: MsgpackWriter, index: number): number;
}

/**
 * Builds one record batch; grows its buffer by doubling. An entry is either
 * added whole (`add`, fields already packed) or written in place:
 * `beginEntry`, the fields through `writer`, then `endEntry` (or
 * `abortEntry` to drop it), so a generated encoder packs each record's
 * fields straight into the batch with no buffer of their own and no copy.
 */
export class RecordBatchBuilder {
  private readonly w: MsgpackWriter;
  private countValue = 0;
  /** Start of the entry being written in place, -1 when none. */
  private entryStart = -1;
  private readonly valueHeader: Buffer;

  constructor(tableId: number, schemaVersion: number, ingestedAtMs: number, capacityBytes = 64 * 1024) {
    this.w = new MsgpackWriter(Math.max(capacityBytes, 256));
    const buf = this.w.buf;
    buf[0] = BATCH_MAGIC;
    buf[1] = BATCH_FORMAT_VERSION;
    buf.writeUInt16LE(0, 2);
    buf.writeUInt32LE(tableId, 4);
    this.w.pos = BATCH_HEADER_BYTES;
    this.valueHeader = Buffer.alloc(VALUE_HEADER_BYTES);
    this.valueHeader.writeDoubleLE(ingestedAtMs, 8);
    this.valueHeader.writeUInt32LE(schemaVersion, 16);
  }

  /** Records added so far. */
  get count(): number {
    return this.countValue;
  }

  /** Bytes used so far. */
  get byteLength(): number {
    return this.w.pos;
  }

  /** Where the fields of an entry begun with `beginEntry` are written (msgpack, positional). */
  get writer(): MsgpackWriter {
    return this.w;
  }

  /**
   * Appends one record; `key` and `pk` are already checked against the key
   * size limit, `fields` is the msgpack of the positional values. Id and
   * version are zero until `stampIds` fills them. A `pk` writer writes
   * request record `index`'s key.
   */
  add(shard: number, key: string, pk: string | PkWriter | undefined, timeMs: number, fields: Uint8Array, index = 0): void {
    this.beginEntry(shard, key, pk, timeMs, index);
    this.w.ensure(fields.length);
    this.w.buf.set(fields, this.w.pos);
    this.w.pos += fields.length;
    this.endEntry();
  }

  /** Starts an entry (header, keys, value header); its fields follow through `writer`. A `pk` writer writes record `index`'s key. */
  beginEntry(shard: number, key: string, pk: string | PkWriter | undefined, timeMs: number, index = 0): void {
    const start = this.entryHead(shard, timeMs);
    this.entryTail(start, this.w.raw(key), pk, index);
  }

  /** `beginEntry` with the key given as its UTF-8 bytes, src[keyStart, keyEnd). */
  beginEntryKeyBytes(shard: number, src: Uint8Array, keyStart: number, keyEnd: number, pk: string | PkWriter | undefined, timeMs: number, index = 0): void {
    const start = this.entryHead(shard, timeMs);
    this.w.rawBytes(src, keyStart, keyEnd);
    this.entryTail(start, keyEnd - keyStart, pk, index);
  }

  /** The entry's fixed part (its key follows); returns where the entry starts. */
  private entryHead(shard: number, timeMs: number): number {
    const w = this.w;
    w.ensure(ENTRY_FIXED_BYTES);
    const start = w.pos;
    const buf = w.buf;
    putU16(buf, start + OFF_SHARD, shard);
    buf[start + 10] = 0;
    buf[start + 11] = 0;
    writeTimeKey(buf, start + OFF_TIME, timeMs);
    // Id and version stay zero until stampIds: plain stores beat fill() for 8 bytes.
    for (let i = start + OFF_ID; i < start + OFF_ID + 8; i++) buf[i] = 0;
    w.pos = start + ENTRY_FIXED_BYTES;
    return start;
  }

  /** After the key of `keyLen` bytes: the primary key, both lengths, the value header. */
  private entryTail(start: number, keyLen: number, pk: string | PkWriter | undefined, index: number): void {
    const w = this.w;
    const pkLen = pk === undefined ? 0 : typeof pk === 'string' ? w.raw(pk) : pk.writePk(w, index);
    w.ensure(VALUE_HEADER_BYTES);
    const buf = w.buf;
    // A key past 65,535 bytes throws (as writeUInt16LE does) with the builder as it was before the call.
    if ((keyLen | pkLen) >>> 16 !== 0) w.pos = start;
    putU16(buf, start + OFF_KEY_LEN, keyLen);
    putU16(buf, start + OFF_PK_LEN, pkLen);
    const header = this.valueHeader;
    const at = w.pos;
    for (let i = 0; i < VALUE_HEADER_BYTES; i++) buf[at + i] = header[i] as number;
    w.pos = at + VALUE_HEADER_BYTES;
    this.entryStart = start;
  }

  /** Completes the entry begun last: its length, and the count. */
  endEntry(): void {
    const start = this.entryStart;
    assert.ok(start >= 0, 'endEntry without beginEntry');
    this.w.buf.writeUInt32LE(this.w.pos - start, start);
    this.entryStart = -1;
    this.countValue++;
  }

  /** Drops the entry begun last, as if it had never been started. */
  abortEntry(): void {
    assert.ok(this.entryStart >= 0, 'abortEntry without beginEntry');
    this.w.pos = this.entryStart;
    this.entryStart = -1;
  }

  /** The finished batch (a view of the internal buffer; the builder is done). */
  finish(): Buffer {
    assert.ok(this.entryStart < 0, 'finish with an entry still open');
    this.w.buf.writeUInt32LE(this.countValue, 8);
    return this.w.buf.subarray(0, this.w.pos);
  }
}

/**
 * A cursor over the entries of a batch: `next()` moves to the following
 * entry and the getters read it. One object per batch, not per record.
 */
export class RecordBatchReader {
  readonly buf: Buffer;
  readonly tableId: number;
  readonly count: number;
  private entryStart = -1;
  private entryEnd = BATCH_HEADER_BYTES;
  private index = -1;

  constructor(batch: Uint8Array) {
    this.buf = Buffer.isBuffer(batch) ? batch : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
    assert.ok(this.buf.length >= BATCH_HEADER_BYTES, 'record batch shorter than its header');
    assert.equal(this.buf[0], BATCH_MAGIC, 'record batch magic');
    assert.equal(this.buf[1], BATCH_FORMAT_VERSION, 'record batch format version');
    this.tableId = this.buf.readUInt32LE(4);
    this.count = this.buf.readUInt32LE(8);
  }

  /** True when the writer marked every key of the batch as new (BATCH_FLAG_FRESH_KEYS). */
  get freshKeys(): boolean {
    return (this.buf.readUInt16LE(OFF_FLAGS) & BATCH_FLAG_FRESH_KEYS) !== 0;
  }

  /** Sets or clears BATCH_FLAG_FRESH_KEYS in place (the coordinator decides, before the append). */
  set freshKeys(on: boolean) {
    const flags = this.buf.readUInt16LE(OFF_FLAGS);
    this.buf.writeUInt16LE(on ? flags | BATCH_FLAG_FRESH_KEYS : flags & ~BATCH_FLAG_FRESH_KEYS, OFF_FLAGS);
  }

  /** True when every record's primary key is its shard key (BATCH_FLAG_PK_IN_RECORD_KEY). */
  get pkInRecordKey(): boolean {
    return (this.buf.readUInt16LE(OFF_FLAGS) & BATCH_FLAG_PK_IN_RECORD_KEY) !== 0;
  }

  /** Sets or clears BATCH_FLAG_PK_IN_RECORD_KEY in place (the coordinator, which knows the schema, decides). */
  set pkInRecordKey(on: boolean) {
    const flags = this.buf.readUInt16LE(OFF_FLAGS);
    this.buf.writeUInt16LE(on ? flags | BATCH_FLAG_PK_IN_RECORD_KEY : flags & ~BATCH_FLAG_PK_IN_RECORD_KEY, OFF_FLAGS);
  }

  /** d when every key is a fenced prefix + d digits (FENCED_DIGITS), else 0. */
  get fencedDigits(): number {
    return (this.buf.readUInt16LE(OFF_FLAGS) & FENCED_DIGITS_MASK) >> FENCED_DIGITS_SHIFT;
  }

  /** Sets FENCED_DIGITS in place (0 clears it); the coordinator decides, before the append. */
  set fencedDigits(digits: number) {
    assert.ok(Number.isInteger(digits) && digits >= 0 && digits <= BATCH_FENCED_DIGITS_MAX, `fenced digits must be 0..${BATCH_FENCED_DIGITS_MAX}`);
    const flags = this.buf.readUInt16LE(OFF_FLAGS) & ~FENCED_DIGITS_MASK;
    this.buf.writeUInt16LE(flags | (digits << FENCED_DIGITS_SHIFT), OFF_FLAGS);
  }

  /** Moves to the next entry; false after the last. */
  next(): boolean {
    if (this.index + 1 >= this.count) return false;
    this.index++;
    this.entryStart = this.entryEnd;
    const bytes = this.buf.readUInt32LE(this.entryStart);
    this.entryEnd = this.entryStart + bytes;
    // `if`, not assert.ok: its rest arguments allocate an array per call, and every reader loop runs this per record.
    if (bytes < ENTRY_FIXED_BYTES + VALUE_HEADER_BYTES || this.entryEnd > this.buf.length) throw new assert.AssertionError({ message: 'record batch entry out of bounds' });
    return true;
  }

  /** Restarts from the first entry. */
  rewind(): void {
    this.entryStart = -1;
    this.entryEnd = BATCH_HEADER_BYTES;
    this.index = -1;
  }

  /** Position of the current entry in the batch. */
  get position(): number {
    return this.index;
  }
  get shard(): number {
    return this.buf.readUInt16LE(this.entryStart + OFF_SHARD);
  }
  get keyLen(): number {
    return this.buf.readUInt16LE(this.entryStart + OFF_KEY_LEN);
  }
  get pkLen(): number {
    return this.buf.readUInt16LE(this.entryStart + OFF_PK_LEN);
  }
  /** Offset of the current entry in `buf`. */
  get entryOffset(): number {
    return this.entryStart;
  }
  /** Offset of the 8-byte time key in `buf`. */
  get timeKeyOffset(): number {
    return this.entryStart + OFF_TIME;
  }
  /** Offset of the 8-byte big-endian id in `buf`. */
  get idOffset(): number {
    return this.entryStart + OFF_ID;
  }
  get keyOffset(): number {
    return this.entryStart + ENTRY_FIXED_BYTES;
  }
  get pkOffset(): number {
    return this.keyOffset + this.keyLen;
  }
  get valueOffset(): number {
    return this.pkOffset + this.pkLen;
  }
  get valueEnd(): number {
    return this.entryEnd;
  }
  get id(): bigint {
    return this.buf.readBigUInt64BE(this.idOffset);
  }
  set id(value: bigint) {
    this.buf.writeBigUInt64BE(value, this.idOffset);
  }
  get version(): bigint {
    return this.buf.readBigUInt64BE(this.valueOffset);
  }
  set version(value: bigint) {
    this.buf.writeBigUInt64BE(value, this.valueOffset);
  }
  get timeMs(): number {
    return readTimeKey(this.buf, this.timeKeyOffset);
  }
  get key(): string {
    return this.buf.toString('utf8', this.keyOffset, this.keyOffset + this.keyLen);
  }
  get pk(): string | undefined {
    const len = this.pkLen;
    return len === 0 ? undefined : this.buf.toString('utf8', this.pkOffset, this.pkOffset + len);
  }
  /** The stored value (version, ingestedAt, schemaVersion, fields) as a view. */
  get value(): Buffer {
    return this.buf.subarray(this.valueOffset, this.entryEnd);
  }
}

/** The parts of a stored value. */
export interface StoredValue {
  readonly version: bigint;
  readonly ingestedAtMs: number;
  readonly schemaVersion: number;
  /** msgpack of the positional field values. */
  readonly fields: Uint8Array;
}

/** The HLC version at the head of a stored value (0n for a value too short to hold one). */
export function versionOf(value: Uint8Array): bigint {
  if (value.length < VALUE_HEADER_BYTES) return 0n;
  return Buffer.from(value.buffer, value.byteOffset, 8).readBigUInt64BE(0);
}

/** Splits a stored value (as kept in the index) into its header and fields. */
export function readStoredValue(value: Uint8Array): StoredValue {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  assert.ok(buf.length >= VALUE_HEADER_BYTES, 'stored value shorter than its header');
  return {
    version: buf.readBigUInt64BE(0),
    ingestedAtMs: buf.readDoubleLE(8),
    schemaVersion: buf.readUInt32LE(16),
    fields: buf.subarray(VALUE_HEADER_BYTES),
  };
}
