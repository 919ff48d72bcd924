/**
 * What a replica reads for anti-entropy: the Merkle summary of one table's
 * shard (merkle.ts) and the entries of the leaves that differ, a bounded
 * page at a time. Summary 2 (decision 56) hashes each record's value too,
 * and for a table without a primary key summarizes its dedupe-key entries
 * (`P` keys) in a second tree, so a replica that holds a record but not its
 * key entry differs from one that holds both.
 */
import { versionOf } from '../../core/codec/record-batch-v1.ts';
import { currentDef, type Catalog } from '../../storage/catalog.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import { readPkValue } from '../../storage/index/key-layout.ts';
import { MERKLE_SUMMARY_VERSION, MerkleBuilder, VALUE_DIGEST_BYTES, leafOf, valueDigest } from '../repair/merkle.ts';
import { leafEntryBytes, type LeafEntriesReply, type LeafEntriesRequest, type LeafEntry, type MerkleReply } from '../transport/replica-messages.ts';

/**
 * Whether a table's records may carry dedupe keys that repair must send
 * along: a table without a primary key (one with a primary key has it in
 * its fields, and the receiver reads it from there). An unknown table
 * too: sending a key costs bytes, leaving one out stores a duplicate.
 */
export function keyedTable(catalog: Catalog, tableId: number): boolean {
  const entry = catalog.byId(tableId);
  return entry === undefined || currentDef(entry).primaryKey === undefined;
}

/** The summary of a shard (of one table, or every table) that `summary` asks for: 1 as before, 2 (or more) as this build computes it. */
export async function merkleOf(store: LocalStore, catalog: Catalog, shard: number, tableId: number | undefined, summary: number | undefined): Promise<MerkleReply> {
  const v2 = summary !== undefined && summary >= MERKLE_SUMMARY_VERSION;
  const builder = new MerkleBuilder();
  const digest = Buffer.allocUnsafe(VALUE_DIGEST_BYTES); // reused: `add` copies it
  for await (const page of store.scanShard(shard, tableId === undefined ? {} : { tableId })) {
    for (const rec of page) builder.add(rec.recordKey, versionOf(rec.value), v2 ? valueDigest(rec.value, digest) : undefined);
  }
  const tree = builder.finish().encode();
  if (!v2) return { tree };
  // A table with a primary key has it in its fields: its key entries follow from the records the tree covers.
  if (tableId === undefined || !keyedTable(catalog, tableId)) return { tree, summary: MERKLE_SUMMARY_VERSION };
  const keys = new MerkleBuilder();
  for await (const page of store.scanKeyEntries(shard, tableId)) {
    // The entry's whole value (id, version, and the record key's shard key and time) is hashed as it is stored:
    // no record key is built per entry. Replicas store the same value for the same entry.
    for (const [pKey, value] of page) keys.add(pKey, pkVersion(value), value);
  }
  return { tree, summary: MERKLE_SUMMARY_VERSION, keys: keys.finish().encode() };
}

/**
 * The entries of `leaves` in a shard (of one table, or every table), in
 * key order after `after`, until the next one would pass `bytesMax`: the
 * reply then names its last key (`next`) to go on after. Records as
 * [recordKey, version] (summary 2: and the value's digest), or with `keys`
 * the table's dedupe-key entries as [P key, version, recordKey]. The scan
 * goes on from `after` on the next call, so paging reads the shard about once.
 */
export async function leafEntriesBounded(store: LocalStore, request: LeafEntriesRequest, bytesMax: number): Promise<LeafEntriesReply> {
  const { shard, tableId, leaves, after } = request;
  const wanted = new Set(leaves);
  const entries: LeafEntry[] = [];
  let bytes = 0;
  /** Adds one entry; false once the reply is full (at least one entry per reply, else a tiny bound would never move on). */
  const push = (entry: LeafEntry): boolean => {
    const size = leafEntryBytes(entry[0], entry[1], entry[2]);
    if (entries.length > 0 && bytes + size > bytesMax) return false;
    entries.push(entry);
    bytes += size;
    return true;
  };
  const full = (): LeafEntriesReply => ({ entries, next: (entries.at(-1) as LeafEntry)[0] });
  if (request.keys === true) {
    if (tableId === undefined) return { entries };
    for await (const page of store.scanKeyEntries(shard, tableId, after)) {
      for (const [pKey, value] of page) {
        if (!wanted.has(leafOf(pKey))) continue;
        const { version, recordKey } = readPkValue(shard, tableId, value);
        if (!push([pKey, String(version), recordKey])) return full();
      }
    }
    return { entries };
  }
  const digests = request.summary !== undefined && request.summary >= MERKLE_SUMMARY_VERSION;
  const scan = { ...(tableId === undefined ? {} : { tableId }), ...(after === undefined ? {} : { after }) };
  for await (const page of store.scanShard(shard, scan)) {
    for (const rec of page) {
      if (!wanted.has(leafOf(rec.recordKey))) continue;
      const version = String(versionOf(rec.value));
      if (!push(digests ? [rec.recordKey, version, valueDigest(rec.value)] : [rec.recordKey, version])) return full();
    }
  }
  return { entries };
}

/** The version a `P` entry's value holds (after its id). */
function pkVersion(value: Uint8Array): bigint {
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(8);
}
