/**
 * Stamping ids and versions into an encoded batch, the one place both
 * coordinators do it. Records without a key get fresh snowflake ids in one
 * call; records with a primary or dedupe key get the id `idOf` finds for
 * them (the id the key was stored with, or a new one). Versions are HLC
 * timestamps, one per record in batch order, so a later record of the
 * batch wins over an earlier one with the same key.
 *
 * Synchronous from the first id to the last version: a coordinator that
 * appends right after keeps ids, versions and LSNs increasing together.
 */
import type { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import type { Hlc } from '../../core/hlc.ts';
import type { SnowflakeGenerator } from '../../core/snowflake.ts';

/** Where the ids of a batch come from. */
export interface StampSource {
  readonly generator: SnowflakeGenerator;
  readonly hlc: Hlc;
  /** The id of a keyed record (called once per record, in order); absent: every record gets a fresh id. */
  readonly idOf?: (reader: RecordBatchReader) => bigint;
}

/** Stamps every entry of `reader`'s batch; returns the ids in batch order. Leaves the reader rewound. */
export function stampBatch(reader: RecordBatchReader, count: number, source: StampSource): bigint[] {
  const { idOf } = source;
  const fresh = idOf === undefined ? source.generator.nextBatch(count) : undefined;
  const firstVersion = source.hlc.nowBatch(count);
  const ids = new Array<bigint>(count);
  reader.rewind();
  let i = 0;
  while (reader.next()) {
    const id = fresh !== undefined ? (fresh[i] as bigint) : (idOf as (r: RecordBatchReader) => bigint)(reader);
    reader.id = id;
    reader.version = firstVersion + BigInt(i);
    ids[i] = id;
    i++;
  }
  reader.rewind();
  return ids;
}
