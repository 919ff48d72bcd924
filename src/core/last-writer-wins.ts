/**
 * Which of two stored writes of one primary key wins (last writer wins,
 * DESIGN §3; decision 0052). The HLC version decides. Two coordinators can
 * stamp the same version (same ms, same counter: versions carry no node
 * id), and a replica must not then keep whichever write arrived last, or
 * two replicas keep different records for ever. So an equal version is
 * broken, identically everywhere, by what every replica stores and repair
 * copies byte for byte:
 *
 *   1. the version (u64);
 *   2. the record id (u64: its snowflake holds the worker id, so two
 *      coordinators that each minted an id differ here);
 *   3. the stored value's bytes (version | ingestedAtMs | schemaVersion |
 *      fields), memcmp order: writes that share an id (both found the id the
 *      replicas hold) differ in their fields;
 *   4. the record key's bytes (shard key and event time), memcmp order.
 *
 * Equal in all four: the same write (a replay), which wins over itself so
 * applying it again is idempotent. Nothing here needs a new field on disk.
 */
import assert from 'node:assert/strict';
import { versionOf } from './codec/record-batch-v1.ts';

/** One stored write of a primary key, as last-writer-wins compares it. */
export interface StoredWrite {
  readonly version: bigint;
  readonly id: bigint;
  /** The stored value; may be left out when the caller knows version and id differ from the other write's. */
  readonly value?: Uint8Array | undefined;
  readonly recordKey: Uint8Array;
}

/** Negative when `a` loses to `b`, positive when it wins, 0 for the same write (see the file comment). */
export function compareWrites(a: StoredWrite, b: StoredWrite): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  // A caller that left a value out promised the tie would not reach here: a programmer error.
  assert.ok(a.value !== undefined && b.value !== undefined, 'equal version and id: the stored values are needed to break the tie');
  return Buffer.compare(a.value, b.value) || Buffer.compare(a.recordKey, b.recordKey);
}

/** `compareWrites` of two stored records (record key, value), the form replicas answer reads and repair with. */
export function compareStoredRecords(a: readonly [Uint8Array, Uint8Array], b: readonly [Uint8Array, Uint8Array]): number {
  return compareWrites(storedWriteOf(a), storedWriteOf(b));
}

/** A stored record as a StoredWrite: the version heads its value, the id ends its record key. */
function storedWriteOf([recordKey, value]: readonly [Uint8Array, Uint8Array]): StoredWrite {
  const key = Buffer.from(recordKey.buffer, recordKey.byteOffset, recordKey.byteLength);
  return { version: versionOf(value), id: key.readBigUInt64BE(key.length - 8), value, recordKey };
}
