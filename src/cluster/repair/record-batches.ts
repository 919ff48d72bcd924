/**
 * Stored records back into record batches, so that what repair moves
 * (read repair, anti-entropy, hand-off) travels and applies like any other
 * write. A record of a table with a primary key gets its key back from its
 * stored fields, which the index needs to keep last-writer-wins; a record
 * of a table without one gets the dedupe key it was written with, which
 * the sending replica reads from its index and sends along (decision 54),
 * so a re-delivery of its message is still answered as one.
 */
import { batchFromStored, tableIdOfRecordKey, type StoredRecord } from '../../core/codec/batch-slices.ts';
import { decodeFields } from '../../core/codec/fields-codec.ts';
import { readStoredValue } from '../../core/codec/record-batch-v1.ts';
import { SluiceError } from '../../core/errors.ts';
import { keyString } from '../../core/schema/key-string.ts';
import { defAtVersion, type TableEntry } from '../../storage/catalog.ts';
import { REPLICA_PROTOCOL, type FetchReply, type WireRecord } from '../transport/replica-messages.ts';
import { KEY_BYTES_MAX_LIMIT } from '../../config.ts';

/**
 * A wire record with its key: a primary key recovered from the stored
 * fields, or for a table without one the dedupe key the record was written
 * with, when the sending replica knew it (`dedupeKey`, decision 54). Either
 * way the receiver stores it as its first write was, under that key.
 */
export function storedRecordOf(entry: TableEntry, [recordKey, value]: WireRecord, dedupeKey?: Buffer | null): StoredRecord {
  const stored = readStoredValue(value);
  const def = defAtVersion(entry, stored.schemaVersion);
  if (def === undefined || def.primaryKey === undefined) {
    return dedupeKey === undefined || dedupeKey === null ? { recordKey, value } : { recordKey, value, pk: dedupeKey.toString('utf8') };
  }
  const index = def.fields.findIndex((f) => f.name === def.primaryKey);
  const field = def.fields[index];
  if (field === undefined) return { recordKey, value };
  const pk = keyString(decodeFields(stored.fields)[index], field.type);
  return { recordKey, value, pk };
}

/** One batch of one table's wire records (with their dedupe keys, in order, when known); NOT_READY when this node lacks the schema version of one (knownSchema). */
export function batchOfRecords(entry: TableEntry, records: readonly WireRecord[], dedupeKeys?: readonly (Buffer | null)[]): Buffer {
  return batchFromStored(entry.id, records.map((r, i) => storedRecordOf(knownSchema(entry, r), r, dedupeKeys?.[i])));
}

/**
 * The dedupe keys of a Fetch reply, checked against its records: one per
 * record, none longer than a key may be (KEY_BYTES_MAX_LIMIT). Undefined
 * from a replica of an earlier release, which sends none: its records are
 * copied without them, as before. Throws REPLICA_PROTOCOL.
 */
export function fetchedDedupeKeys(reply: FetchReply): readonly (Buffer | null)[] | undefined {
  const keys = reply.dedupeKeys;
  if (keys === undefined) return undefined;
  if (keys.length !== reply.records.length) {
    throw new SluiceError('REPLICA_PROTOCOL', `${REPLICA_PROTOCOL} Fetch reply: ${keys.length} dedupe keys for ${reply.records.length} records`);
  }
  const long = keys.findIndex((k) => k !== null && (k.length === 0 || k.length > KEY_BYTES_MAX_LIMIT));
  if (long >= 0) throw new SluiceError('REPLICA_PROTOCOL', `${REPLICA_PROTOCOL} Fetch reply: dedupe key ${long} is empty or longer than ${KEY_BYTES_MAX_LIMIT} bytes`);
  return keys;
}

/**
 * Groups wire records by table and rebuilds batches (anti-entropy streams records of every table of a shard),
 * cut at about `bytesMax` bytes of records each: a batch is applied as one WAL frame, and the records of one
 * Fetch together can outgrow the frame limit each of them fits. A lone larger record gets a batch of its own.
 */
export function batchesOfRecords(tableOf: (id: number) => TableEntry | undefined, records: readonly WireRecord[], bytesMax: number, dedupeKeys?: readonly (Buffer | null)[]): Buffer[] {
  const open = new Map<number, { list: StoredRecord[]; bytes: number }>();
  const out: Buffer[] = [];
  for (const [i, rec] of records.entries()) {
    const tableId = tableIdOfRecordKey(rec[0]);
    const entry = tableOf(tableId);
    if (entry === undefined) continue;
    const stored = storedRecordOf(knownSchema(entry, rec), rec, dedupeKeys?.[i]);
    const bytes = storedBytes(stored);
    let group = open.get(tableId);
    if (group !== undefined && group.bytes + bytes > bytesMax) {
      out.push(batchFromStored(tableId, group.list));
      group = undefined;
    }
    if (group === undefined) open.set(tableId, (group = { list: [], bytes: 0 }));
    group.list.push(stored);
    group.bytes += bytes;
  }
  for (const [tableId, group] of open) out.push(batchFromStored(tableId, group.list));
  return out;
}

/**
 * `entry`, once it is known to hold the schema version `rec` was stored with. Without that version the
 * record's primary key cannot be read back, and a batch without it would be stored as an append-only
 * record: beside the version it replaced, which would then never go. Not yet repairable here, then.
 */
function knownSchema(entry: TableEntry, [, value]: WireRecord): TableEntry {
  const { schemaVersion } = readStoredValue(value);
  if (defAtVersion(entry, schemaVersion) === undefined) {
    throw new SluiceError('NOT_READY', `table ${entry.name} has no schema version ${schemaVersion} here yet (it has ${entry.versions.length}): its records cannot be copied until this node reads it`);
  }
  return entry;
}

/** About what a record takes in a batch (the fixed entry header aside). */
function storedBytes(r: StoredRecord): number {
  return r.recordKey.length + r.value.length + (r.pk === undefined ? 0 : Buffer.byteLength(r.pk));
}
