/**
 * Cutting and assembling record-batch-v1 buffers without re-encoding any
 * record: a coordinator sends each replica only the entries of the shards
 * it holds (`subBatch`), and repair turns stored records back into a batch
 * (`batchFromStored`) so they travel and apply like any other write.
 */
import { BATCH_FORMAT_VERSION, BATCH_HEADER_BYTES, BATCH_MAGIC, ENTRY_FIXED_BYTES, RecordBatchReader } from './record-batch-v1.ts';

/** Bytes of a record key before the shard key (`R | shard u16 | tableId u32 | keyLen u16`). */
const RECORD_KEY_HEAD_BYTES = 9;

/** A new batch of the same table holding the entries at `positions` (ascending) of `batch`. */
export function subBatch(batch: Buffer, positions: readonly number[]): Buffer {
  const reader = new RecordBatchReader(batch);
  if (positions.length === reader.count) return batch;
  const slices: Buffer[] = [];
  let bytes = BATCH_HEADER_BYTES;
  let want = 0;
  while (reader.next() && want < positions.length) {
    if (reader.position !== positions[want]) continue;
    want++;
    const start = reader.entryOffset;
    const slice = reader.buf.subarray(start, reader.valueEnd);
    slices.push(slice);
    bytes += slice.length;
  }
  const out = Buffer.allocUnsafe(bytes);
  batch.copy(out, 0, 0, BATCH_HEADER_BYTES);
  out.writeUInt32LE(slices.length, 8);
  let at = BATCH_HEADER_BYTES;
  for (const s of slices) {
    s.copy(out, at);
    at += s.length;
  }
  return out;
}

/** A stored record to turn back into a batch entry. */
export interface StoredRecord {
  /** Index record key: R | shard | tableId | keyLen | key | timeKey | id. */
  readonly recordKey: Buffer;
  /** Stored value (version, ingestedAt, schemaVersion, fields). */
  readonly value: Buffer;
  /** The record's primary key, for tables that have one. */
  readonly pk?: string;
}

/** Table id of an index record key. */
export function tableIdOfRecordKey(recordKey: Buffer): number {
  return recordKey.readUInt32BE(3);
}

/** One batch of table `tableId` from stored records (all of that table). */
export function batchFromStored(tableId: number, records: readonly StoredRecord[]): Buffer {
  let bytes = BATCH_HEADER_BYTES;
  for (const r of records) bytes += ENTRY_FIXED_BYTES + (r.recordKey.length - RECORD_KEY_HEAD_BYTES - 16) + Buffer.byteLength(r.pk ?? '') + r.value.length;
  const out = Buffer.allocUnsafe(bytes);
  out[0] = BATCH_MAGIC;
  out[1] = BATCH_FORMAT_VERSION;
  out.writeUInt16LE(0, 2);
  out.writeUInt32LE(tableId, 4);
  out.writeUInt32LE(records.length, 8);
  let at = BATCH_HEADER_BYTES;
  for (const r of records) {
    const rk = r.recordKey;
    const keyLen = rk.readUInt16BE(7);
    const keyEnd = RECORD_KEY_HEAD_BYTES + keyLen;
    const start = at;
    out.writeUInt16LE(rk.readUInt16BE(1), start + 4);
    out.writeUInt16LE(keyLen, start + 6);
    out.writeUInt16LE(0, start + 10);
    rk.copy(out, start + 12, keyEnd, keyEnd + 16); // timeKey, then id: the same order as in the entry
    at = start + ENTRY_FIXED_BYTES;
    rk.copy(out, at, RECORD_KEY_HEAD_BYTES, keyEnd);
    at += keyLen;
    const pkLen = r.pk === undefined ? 0 : out.write(r.pk, at, 'utf8');
    at += pkLen;
    out.writeUInt16LE(pkLen, start + 8);
    r.value.copy(out, at);
    at += r.value.length;
    out.writeUInt32LE(at - start, start);
  }
  return out;
}
