/**
 * The messages of the internal `sluice.v1.Replica` service. Bodies are
 * msgpack (record batches travel as raw bytes inside, in the same
 * record-batch-v1 form the WAL stores), ids and LSNs as decimal strings
 * because msgpack has no unsigned 64-bit type that every decoder agrees on.
 * Everything is batched: one call carries a whole batch, page or key list.
 */
import { Packr } from 'msgpackr';
import type { KeyRangeQuery } from '../../storage/index/index-store.ts';

/** A stored record on the wire: record key and stored value. */
export type WireRecord = [recordKey: Buffer, value: Buffer];

export interface WriteRequest {
  /** A stamped record batch (ids and versions set). */
  readonly batch: Buffer;
  /**
   * The coordinator's placement epoch; a replica that knows a newer one
   * refuses (STALE_PLACEMENT). Absent for hints and repair, which target a
   * node, not a ring.
   */
  readonly epoch?: number;
}
export interface WriteReply {
  readonly lsn: string;
}
export interface GetRequest {
  readonly tableId: number;
  readonly id: string;
  /** Wait until this replica's index holds this LSN (a read token). */
  readonly lsn?: string;
}
export interface GetReply {
  readonly record?: WireRecord;
}
/** The index's range query, plus the read token's LSN for this replica. */
export type ScanRequest = KeyRangeQuery & { readonly lsn?: string };
export interface ScanShardRequest {
  readonly tableId: number;
  readonly shard: number;
  readonly after?: Buffer;
  readonly limit: number;
}
export interface RecordsReply {
  readonly records: WireRecord[];
}
export interface LookupPksRequest {
  readonly tableId: number;
  readonly shard: number;
  readonly pks: string[];
}
export interface LookupPksReply {
  /** [id, version] per pk, null where the pk is unknown. */
  readonly entries: ([string, string] | null)[];
}
export interface MerkleRequest {
  readonly shard: number;
  /** Only this table's records of the shard (absent: every table's). */
  readonly tableId?: number;
  /**
   * Answer only once this replica follows this placement epoch and every
   * write it accepted under an older one is indexed: a node copying a shard
   * it gains then misses no write routed by the old ring.
   */
  readonly minEpoch?: number;
}
export interface MerkleReply {
  readonly tree: Buffer;
}
export interface LeafEntriesRequest {
  readonly shard: number;
  /** Only this table's records of the shard (absent: every table's). */
  readonly tableId?: number;
  readonly leaves: number[];
}
export interface LeafEntriesReply {
  /** [recordKey, version] of every record in the leaves. */
  readonly entries: [Buffer, string][];
}
export interface FetchRequest {
  readonly keys: Buffer[];
}

/** Method name → [request, reply]. */
export interface ReplicaMethods {
  Write: [WriteRequest, WriteReply];
  Get: [GetRequest, GetReply];
  Scan: [ScanRequest, RecordsReply];
  ScanShard: [ScanShardRequest, RecordsReply];
  LookupPks: [LookupPksRequest, LookupPksReply];
  Merkle: [MerkleRequest, MerkleReply];
  LeafEntries: [LeafEntriesRequest, LeafEntriesReply];
  Fetch: [FetchRequest, RecordsReply];
}
export type ReplicaMethod = keyof ReplicaMethods;

export const REPLICA_METHODS: readonly ReplicaMethod[] = ['Write', 'Get', 'Scan', 'ScanShard', 'LookupPks', 'Merkle', 'LeafEntries', 'Fetch'];

/** The fully qualified service name. */
export const REPLICA_SERVICE = 'sluice.v1.Replica';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** Encodes a message body. */
export function encodeMessage(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decodes a message body. */
export function decodeMessage<T>(bytes: Buffer): T {
  return packr.unpack(bytes) as T;
}
