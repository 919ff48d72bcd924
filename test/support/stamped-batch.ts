/** Record batches for index tests: records with their ids and versions already stamped, as a coordinator leaves them. */
import { RecordBatchBuilder, RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';

/** One record: where it goes, its keys and time, its stamp, and one string field as its value. */
export interface StampedRec {
  shard: number;
  key: string;
  pk?: string;
  time: number;
  id: bigint;
  version: bigint;
  value: string;
}

/** A batch of table `tableId` holding `recs` in order, stamped. */
export function stampedBatch(tableId: number, recs: readonly StampedRec[]): Buffer {
  const b = new RecordBatchBuilder(tableId, 1, 0);
  for (const r of recs) b.add(r.shard, r.key, r.pk, r.time, encodeFields([r.value]));
  const buf = b.finish();
  const reader = new RecordBatchReader(buf);
  let i = 0;
  while (reader.next()) {
    const r = recs[i++] as StampedRec;
    reader.id = r.id;
    reader.version = r.version;
  }
  return buf;
}
