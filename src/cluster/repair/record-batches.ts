/**
 * Stored records back into record batches, so that what repair moves
 * (read repair, anti-entropy, hand-off) travels and applies like any other
 * write. A record of a table with a primary key gets its key back from its
 * stored fields, which the index needs to keep last-writer-wins.
 */
import { batchFromStored, tableIdOfRecordKey, type StoredRecord } from '../../core/codec/batch-slices.ts';
import { decodeFields } from '../../core/codec/fields-codec.ts';
import { readStoredValue } from '../../core/codec/record-batch-v1.ts';
import { keyString } from '../../core/schema/key-string.ts';
import { defAtVersion, type TableEntry } from '../../storage/catalog.ts';
import type { WireRecord } from '../transport/replica-messages.ts';

/** A wire record with its primary key recovered from the stored fields (repair needs it). */
export function storedRecordOf(entry: TableEntry, [recordKey, value]: WireRecord): StoredRecord {
  const stored = readStoredValue(value);
  const def = defAtVersion(entry, stored.schemaVersion);
  if (def?.primaryKey === undefined) return { recordKey, value };
  const index = def.fields.findIndex((f) => f.name === def.primaryKey);
  const field = def.fields[index];
  if (field === undefined) return { recordKey, value };
  const pk = keyString(decodeFields(stored.fields)[index], field.type);
  return { recordKey, value, pk };
}

/** One batch of one table's wire records. */
export function batchOfRecords(entry: TableEntry, records: readonly WireRecord[]): Buffer {
  return batchFromStored(entry.id, records.map((r) => storedRecordOf(entry, r)));
}

/** Groups wire records by table and rebuilds batches (anti-entropy streams records of every table of a shard). */
export function batchesOfRecords(tableOf: (id: number) => TableEntry | undefined, records: readonly WireRecord[]): Buffer[] {
  const byTable = new Map<number, StoredRecord[]>();
  for (const rec of records) {
    const tableId = tableIdOfRecordKey(rec[0]);
    const entry = tableOf(tableId);
    if (entry === undefined) continue;
    let list = byTable.get(tableId);
    if (list === undefined) byTable.set(tableId, (list = []));
    list.push(storedRecordOf(entry, rec));
  }
  return [...byTable].map(([tableId, list]) => batchFromStored(tableId, list));
}
