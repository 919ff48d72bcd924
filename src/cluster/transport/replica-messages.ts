/**
 * The messages of the internal `sluice.v1.Replica` service, protocol
 * `replica-v1`. Bodies are msgpack (record batches travel as raw bytes
 * inside, in the same record-batch-v1 form the WAL stores), ids and LSNs as
 * decimal strings because msgpack has no unsigned 64-bit type that every
 * decoder agrees on. Everything is batched: one call carries a whole batch,
 * page or key list.
 *
 * Every decoded message is shape-checked before it is used (requests on
 * the server, replies on the client): a peer of another version, or a bug,
 * becomes a REPLICA_PROTOCOL error naming the method and the field, not a
 * TypeError deep in a handler.
 */
import { Packr } from 'msgpackr';
import { SluiceError } from '../../core/errors.ts';
import type { KeyRangeQuery } from '../../storage/index/index-store.ts';

/*
 * replica-v1 grammar. Each method but WriteStream is unary; its request and its reply are
 * one msgpack map each (the whole gRPC message, no other framing):
 *
 *   Message   => map { name: Field ... }    string keys. A field marked ?
 *                                           may be absent or msgpack's
 *                                           undefined (fixext 1, type 0);
 *                                           never nil. Unknown names are
 *                                           ignored, so a later node may add
 *                                           an optional field within v1
 *   int       => msgpack int, 0 <= n <= 2^53 - 1
 *   number    => msgpack int or float
 *   decimal   => msgpack str of 1..20 ASCII digits: an unsigned 64-bit
 *                id, LSN or HLC version in base 10
 *   bytes     => msgpack bin
 *   batch     => bytes: one stamped record batch in record-batch-v1
 *                (core/codec/record-batch-v1.ts), the bytes the WAL stores
 *   recordKey => bytes: an index record key
 *                `R | shard u16 | tableId u32 | keyLen u16 | key | timeKey[8] | id[8]`
 *                (storage/index/key-layout.ts)
 *   Record    => array [recordKey, value: bytes]
 *                value = record-batch-v1 `value` (version | ingestedAt | schemaVersion | fields)
 *
 *   Write        req   { batch: batch, epoch?: int, requestId?: str }
 *                reply { lsn: decimal }               the replica's WAL LSN, after fsync
 *   Get          req   { tableId: int, id: decimal, lsn?: decimal, asOf?: decimal,
 *                        epoch?: int }
 *                reply { record?: Record }            absent: no such id
 *   Scan         req   { tableId: int, shard: int, key: bytes (UTF-8 shard key),
 *                        fromMs?: number, toMs?: number, after?: recordKey,
 *                        limit: int, lsn?: decimal, asOf?: decimal, epoch?: int,
 *                        replyBytesMax?: int }
 *                reply { records: array [Record ...], more?: bool }
 *   ScanShard    req   { tableId: int, shard: int, after?: recordKey, limit: int,
 *                        asOf?: decimal, epoch?: int, replyBytesMax?: int }
 *                reply { records: array [Record ...], more?: bool }
 *                replyBytesMax: the reader pages on from a reply cut short;
 *                the reply ends once its records pass this (or the
 *                replica's own bound, if lower), with at least one record,
 *                and says `more`: records follow its last. Without it (an
 *                older reader) the reply holds the whole page
 *                asOf: a snapshot (HLC version); only records at or below
 *                it, once no atomic batch prepared at or below it is pending
 *                epoch (reads): the placement epoch the coordinator chose
 *                the replicas by; a replica that follows a newer one
 *                refuses (STALE_PLACEMENT), as it refuses such a write
 *   LookupPks    req   { tableId: int, shard: int, pks: array [str ...], epoch?: int }
 *                reply { entries: array [(array [id: decimal, version: decimal] | nil) ...] }
 *                                                     one per pk, in order; nil: unknown pk
 *   Merkle       req   { shard: int, tableId?: int, minEpoch?: int, summary?: int }
 *                reply { tree: bytes, summary?: int, keys?: bytes }
 *                                                     a MerkleTree (cluster/repair/merkle.ts);
 *                                                     summary 2 asked and known: the tree hashes
 *                                                     values too, the reply says summary: 2, and
 *                                                     for a table without a primary key `keys` is
 *                                                     the tree of its dedupe-key entries (decision 56).
 *                                                     Absent (a replica of an earlier release):
 *                                                     summary 1
 *   LeafEntries  req   { shard: int, tableId?: int, leaves: array [int ...],
 *                        paged?: bool, after?: recordKey, summary?: int, keys?: bool }
 *                reply { entries: array [array [recordKey, version: decimal, extra?: bytes] ...],
 *                        next?: recordKey }           in key order, only keys after `after`;
 *                                                     summary 2: each entry ends with the value's
 *                                                     8-byte digest; keys (with tableId): the
 *                                                     dedupe-key entries instead, as [P index key,
 *                                                     version, recordKey]. Both only to an asker
 *                                                     whose Merkle reply said summary 2;
 *                                                     paged true: the reply ends before its entries
 *                                                     pass the replica's byte bound (it holds at least
 *                                                     one), an entry counting its key and version bytes
 *                                                     and 5 (LEAF_ENTRY_FRAMING_BYTES); next: the last
 *                                                     key it holds, more may follow (ask again with
 *                                                     after = next). Not paged (older askers): every
 *                                                     entry, no next
 *   Fetch        req   { keys: array [recordKey ...], withDedupeKeys?: bool }
 *                reply { records: array [Record ...], next?: int,
 *                        dedupeKeys?: array [(bytes | nil) ...] }
 *                                                     only the keys found;
 *                                                     next: the first key not looked at, the
 *                                                     reply having reached its byte bound (ask again from it);
 *                                                     dedupeKeys (only to an asker that sent
 *                                                     withDedupeKeys): one per record, in order, the
 *                                                     UTF-8 dedupe key it was written with, nil: none
 *                                                     known (decision 54)
 *   Prepare      req   { txid: decimal, epoch: int, deadlineMs: number,
 *                        coordinator: str, shards: array [int ...], batch: batch,
 *                        requestId?: str }
 *                reply { lsn: decimal, pt: decimal }  staged and fsync'd; pt is
 *                                                     the replica's prepare time (HLC)
 *                       batch: this replica's entries, versions provisional
 *                       (0); shards: all of the batch's participant shards
 *   Commit       req   { txid: decimal, cv: decimal } every entry stored with version cv
 *                reply { lsn: decimal, durable?: bool }  durable false: claimed over
 *                                                     the durable PREPARE (lsn is its LSN),
 *                                                     the COMMIT frame not yet fsync'd;
 *                                                     absent: true (older nodes)
 *   Abort        req   { txid: decimal }
 *                reply { lsn: decimal }
 *   TxStatus     req   { txids: array [decimal ...] }
 *                reply { states: array [{ txid: decimal, state: str, cv?: decimal } ...] }
 *                       state: pending | committed | aborted | unknown
 *
 *   WriteStream  bidirectional: each message a Write request plus
 *                `id: int`, each reply { id, lsn } or { id, error }; an
 *                optional part of replica-v1 (write-stream-messages.ts)
 *
 * Version: every call carries the gRPC metadata `sluice-replica-protocol: 1`
 * (REPLICA_PROTOCOL_METADATA). A server refuses a version it does not speak
 * with REPLICA_PROTOCOL and takes a call without the header as version 1
 * (nodes from before the header send none), so a rolling upgrade works. A
 * change an older node would misread (a new required field, a changed type
 * or meaning) is replica-v2. Errors travel as a gRPC status with the sluice
 * code in the `sluice-code` trailer (replica-service.ts).
 */

/** The replica protocol this node speaks. */
export const REPLICA_PROTOCOL_VERSION = 1;
/** Its name in messages and docs. */
export const REPLICA_PROTOCOL = `replica-v${REPLICA_PROTOCOL_VERSION}`;
/** The gRPC metadata key carrying a call's protocol version (decimal). */
export const REPLICA_PROTOCOL_METADATA = 'sluice-replica-protocol';

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
  /** The client request that carried the batch (1..64 characters), for the replica's audit log. */
  readonly requestId?: string;
}
export interface WriteReply {
  readonly lsn: string;
}
export interface GetRequest {
  readonly tableId: number;
  readonly id: string;
  /** Wait until this replica's index holds this LSN (a read token). */
  readonly lsn?: string;
  /** A snapshot: only a record at or below this HLC version. */
  readonly asOf?: string;
  /** The placement epoch the read was routed by (a replica that follows a newer one refuses). */
  readonly epoch?: number;
}
export interface GetReply {
  readonly record?: WireRecord;
}
/** The index's range query, plus the read token's LSN for this replica and a snapshot. */
export type ScanRequest = Omit<KeyRangeQuery, 'maxVersion'> & { readonly lsn?: string; readonly asOf?: string; readonly epoch?: number; readonly replyBytesMax?: number };
export interface ScanShardRequest {
  readonly tableId: number;
  readonly shard: number;
  readonly after?: Buffer;
  readonly limit: number;
  readonly asOf?: string;
  /** The placement epoch the read was routed by (a replica that follows a newer one refuses). */
  readonly epoch?: number;
  /** Record bytes the reader takes in one reply, paging on when it says `more` (absent: the whole page). */
  readonly replyBytesMax?: number;
}
export interface RecordsReply {
  readonly records: WireRecord[];
}
export interface ScanReply extends RecordsReply {
  /** The reply reached its byte bound before the limit: records follow its last. */
  readonly more?: boolean;
}
export interface LookupPksRequest {
  readonly tableId: number;
  readonly shard: number;
  readonly pks: string[];
  /** The placement epoch the lookup was routed by (a replica that follows a newer one refuses, as for reads). */
  readonly epoch?: number;
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
  /** The summary the asker reads (2: values hashed too, dedupe-key entries summarized; absent: 1). */
  readonly summary?: number;
}
export interface MerkleReply {
  readonly tree: Buffer;
  /** 2 when the tree is a summary 2 (absent: 1, as a replica of an earlier release answers). */
  readonly summary?: number;
  /** Summary 2 of a table without a primary key: the tree of its dedupe-key entries in the shard. */
  readonly keys?: Buffer;
}
export interface LeafEntriesRequest {
  readonly shard: number;
  /** Only this table's records of the shard (absent: every table's). */
  readonly tableId?: number;
  readonly leaves: number[];
  /**
   * The asker reads `next`: the reply may end at the replica's byte bound.
   * Absent (a node of an earlier release, which would take a page for the
   * whole list): every entry in one reply, as before.
   */
  readonly paged?: boolean;
  /** Only keys after this record key: the `next` of the previous page. */
  readonly after?: Buffer;
  /** 2: each entry ends with its value's digest. Sent only to a replica whose Merkle reply said 2. */
  readonly summary?: number;
  /** List the table's dedupe-key entries (summary 2's `keys` tree) instead of its records. */
  readonly keys?: boolean;
}
/** [key, version] of summary 1; summary 2 appends a value digest, or a dedupe-key entry's record key. */
export type LeafEntry = [Buffer, string] | [Buffer, string, Buffer];
export interface LeafEntriesReply {
  /** The entries of the records (or dedupe-key entries) in the leaves, in key order. */
  readonly entries: LeafEntry[];
  /** Present when the reply reached its byte bound: its last key; ask again with `after` set to it. */
  readonly next?: Buffer;
}

/**
 * Bytes an entry's msgpack framing takes at most (array header 1, bin
 * header 3, str header 1): a LeafEntries reply counts them with the key
 * and version against its bound.
 */
export const LEAF_ENTRY_FRAMING_BYTES = 5;

/** Bytes one LeafEntries entry counts against a reply's bound. */
export function leafEntryBytes(recordKey: Uint8Array, version: string, extra?: Uint8Array): number {
  return recordKey.length + version.length + LEAF_ENTRY_FRAMING_BYTES + (extra === undefined ? 0 : extra.length + LEAF_ENTRY_FRAMING_BYTES);
}
export interface FetchRequest {
  readonly keys: readonly Buffer[];
  /**
   * The asker writes the records back with their dedupe keys: the reply
   * carries them (`dedupeKeys`). Absent (a node of an earlier release,
   * which would drop them): no keys, and no index reads for them.
   */
  readonly withDedupeKeys?: boolean;
}
export interface FetchReply extends RecordsReply {
  /** Present when the reply reached its byte bound: the index of the first key not looked at. */
  readonly next?: number;
  /**
   * Asked for (`withDedupeKeys`): per record, in order, the dedupe key it
   * was written with (UTF-8), null where it had none or this replica does
   * not know it. A record of a table without a primary key needs it to be
   * stored as its first write was (a key entry, not a plain append).
   */
  readonly dedupeKeys?: (Buffer | null)[];
}

export interface PrepareRequest {
  readonly txid: string;
  readonly epoch: number;
  /** The coordinator's decision deadline, epoch ms: no PREPARE is taken after it. */
  readonly deadlineMs: number;
  readonly coordinator: string;
  readonly shards: number[];
  readonly batch: Buffer;
  /** The client request the batch came from, for the replica's audit line. */
  readonly requestId?: string;
}
export interface PrepareReply {
  readonly lsn: string;
  /** The HLC prepare time this replica gave the batch. */
  readonly pt: string;
}
export interface CommitRequest {
  readonly txid: string;
  readonly cv: string;
}
export interface CommitReply {
  readonly lsn: string;
  /** False when answered before the COMMIT frame's fsync (absent: true). */
  readonly durable?: boolean;
}
export interface AbortRequest {
  readonly txid: string;
}
export interface TxStatusRequest {
  readonly txids: string[];
}
/** What a replica knows of one atomic batch. */
export interface TxStatusEntry {
  readonly txid: string;
  readonly state: 'pending' | 'committed' | 'aborted' | 'unknown';
  /** The commit version base, when committed. */
  readonly cv?: string;
}
export interface TxStatusReply {
  readonly states: TxStatusEntry[];
}

/** Method name → [request, reply]. */
export interface ReplicaMethods {
  Write: [WriteRequest, WriteReply];
  Get: [GetRequest, GetReply];
  Scan: [ScanRequest, ScanReply];
  ScanShard: [ScanShardRequest, ScanReply];
  LookupPks: [LookupPksRequest, LookupPksReply];
  Merkle: [MerkleRequest, MerkleReply];
  LeafEntries: [LeafEntriesRequest, LeafEntriesReply];
  Fetch: [FetchRequest, FetchReply];
  Prepare: [PrepareRequest, PrepareReply];
  Commit: [CommitRequest, CommitReply];
  Abort: [AbortRequest, WriteReply];
  TxStatus: [TxStatusRequest, TxStatusReply];
}
export type ReplicaMethod = keyof ReplicaMethods;

export const REPLICA_METHODS: readonly ReplicaMethod[] = ['Write', 'Get', 'Scan', 'ScanShard', 'LookupPks', 'Merkle', 'LeafEntries', 'Fetch', 'Prepare', 'Commit', 'Abort', 'TxStatus'];

/** The fully qualified service name. */
export const REPLICA_SERVICE = 'sluice.v1.Replica';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** Encodes a message body. */
export function encodeMessage(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decodes a message body, unchecked (see decodeRequest and decodeReply). */
export function decodeMessage<T>(bytes: Buffer): T {
  return packr.unpack(bytes) as T;
}

/** Decodes and shape-checks a request of `method`; throws REPLICA_PROTOCOL. */
export function decodeRequest<M extends ReplicaMethod>(method: M, bytes: Buffer): ReplicaMethods[M][0] {
  return checkRequest(method, decodeOrRefuse(method, 'request', bytes));
}

/** Decodes and shape-checks a reply of `method`; throws REPLICA_PROTOCOL. */
export function decodeReply<M extends ReplicaMethod>(method: M, bytes: Buffer): ReplicaMethods[M][1] {
  return checkReply(method, decodeOrRefuse(method, 'reply', bytes));
}

/** `value` as a request of `method` once its shape is checked; throws REPLICA_PROTOCOL. */
export function checkRequest<M extends ReplicaMethod>(method: M, value: unknown): ReplicaMethods[M][0] {
  checkShape(method, 'request', SHAPES[method].request, value);
  return value as ReplicaMethods[M][0];
}

/** `value` as a reply of `method` once its shape is checked; throws REPLICA_PROTOCOL. */
export function checkReply<M extends ReplicaMethod>(method: M, value: unknown): ReplicaMethods[M][1] {
  checkShape(method, 'reply', SHAPES[method].reply, value);
  return value as ReplicaMethods[M][1];
}

type Side = 'request' | 'reply';

/** One field's check: `ok` on the value, or on each element when `items` (the value must be an array). */
interface Field {
  readonly expected: string;
  readonly ok: (value: unknown) => boolean;
  readonly optional?: boolean;
  readonly items?: boolean;
}
type Shape = readonly (readonly [name: string, field: Field])[];

const UINT64_DECIMAL = /^[0-9]{1,20}$/;
/** 2^64 - 1: twenty digits compare as strings once their lengths are equal. */
const UINT64_MAX_DECIMAL = '18446744073709551615';
const isInt = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isDecimal = (v: unknown): boolean => typeof v === 'string' && UINT64_DECIMAL.test(v) && (v.length < UINT64_MAX_DECIMAL.length || v <= UINT64_MAX_DECIMAL);
const isBytes = (v: unknown): boolean => Buffer.isBuffer(v);
const isPair = (v: unknown, first: (x: unknown) => boolean, second: (x: unknown) => boolean): boolean =>
  Array.isArray(v) && v.length === 2 && first(v[0]) && second(v[1]);
const isString = (v: unknown): boolean => typeof v === 'string';
// The version is read with BigInt (leaf-pages.ts): a decimal, or BigInt would throw a plain SyntaxError, or read hex and blanks.
const isLeafEntry = (v: unknown): boolean => isPair(v, isBytes, isDecimal) || (Array.isArray(v) && v.length === 3 && isBytes(v[0]) && isDecimal(v[1]) && isBytes(v[2]));

const int: Field = { expected: 'an integer >= 0', ok: isInt };
const number: Field = { expected: 'a number', ok: (v) => typeof v === 'number' };
const boolean: Field = { expected: 'true or false', ok: (v) => typeof v === 'boolean' };
const decimal: Field = { expected: 'a decimal string of 1..20 digits', ok: isDecimal };
const bytes: Field = { expected: 'bytes (msgpack bin)', ok: isBytes };
const text: Field = { expected: 'a string of 1..64 characters', ok: (v) => typeof v === 'string' && v.length >= 1 && v.length <= 64 };
const optional = (f: Field): Field => ({ ...f, optional: true });
/** An array whose elements each pass `ok`: one level deep (a pair's types are checked, its bytes are not parsed). */
const arrayOf = (expected: string, ok: (v: unknown) => boolean): Field => ({ expected, ok, items: true });
const record: Field = { expected: 'a record [recordKey: bin, value: bin]', ok: (v) => isPair(v, isBytes, isBytes) };
const records = arrayOf(record.expected, record.ok);

/** Every method's request and reply shape (the grammar above, as checks). */
const SHAPES: { readonly [M in ReplicaMethod]: { readonly request: Shape; readonly reply: Shape } } = {
  Write: {
    request: [['batch', bytes], ['epoch', optional(int)], ['requestId', optional(text)]],
    reply: [['lsn', decimal]],
  },
  Get: {
    request: [['tableId', int], ['id', decimal], ['lsn', optional(decimal)], ['asOf', optional(decimal)], ['epoch', optional(int)]],
    reply: [['record', optional(record)]],
  },
  Scan: {
    request: [['tableId', int], ['shard', int], ['key', bytes], ['fromMs', optional(number)], ['toMs', optional(number)], ['after', optional(bytes)], ['limit', int], ['lsn', optional(decimal)], ['asOf', optional(decimal)], ['epoch', optional(int)], ['replyBytesMax', optional(int)]],
    reply: [['records', records], ['more', optional(boolean)]],
  },
  ScanShard: {
    request: [['tableId', int], ['shard', int], ['after', optional(bytes)], ['limit', int], ['asOf', optional(decimal)], ['epoch', optional(int)], ['replyBytesMax', optional(int)]],
    reply: [['records', records], ['more', optional(boolean)]],
  },
  LookupPks: {
    request: [['tableId', int], ['shard', int], ['pks', arrayOf('a string', isString)], ['epoch', optional(int)]],
    // Decimals, not any string: the coordinator reads them with BigInt(), which throws on others or reads hex and blanks.
    reply: [['entries', arrayOf('[id: decimal, version: decimal] or nil', (v) => v === null || isPair(v, isDecimal, isDecimal))]],
  },
  Merkle: {
    request: [['shard', int], ['tableId', optional(int)], ['minEpoch', optional(int)], ['summary', optional(int)]],
    reply: [['tree', bytes], ['summary', optional(int)], ['keys', optional(bytes)]],
  },
  LeafEntries: {
    request: [['shard', int], ['tableId', optional(int)], ['leaves', arrayOf(int.expected, isInt)], ['paged', optional(boolean)], ['after', optional(bytes)], ['summary', optional(int)], ['keys', optional(boolean)]],
    reply: [['entries', arrayOf('[key: bin, version: decimal, extra?: bin]', isLeafEntry)], ['next', optional(bytes)]],
  },
  Fetch: {
    request: [['keys', arrayOf(bytes.expected, isBytes)], ['withDedupeKeys', optional(boolean)]],
    reply: [['records', records], ['next', optional(int)], ['dedupeKeys', optional(arrayOf('bytes (msgpack bin) or nil', (v) => v === null || isBytes(v)))]],
  },
  Prepare: {
    request: [['txid', decimal], ['epoch', int], ['deadlineMs', number], ['coordinator', { expected: 'a string', ok: isString }], ['shards', arrayOf(int.expected, isInt)], ['batch', bytes], ['requestId', optional(text)]],
    reply: [['lsn', decimal], ['pt', decimal]],
  },
  Commit: {
    request: [['txid', decimal], ['cv', decimal]],
    reply: [['lsn', decimal], ['durable', optional(boolean)]],
  },
  Abort: {
    request: [['txid', decimal]],
    reply: [['lsn', decimal]],
  },
  TxStatus: {
    request: [['txids', arrayOf(decimal.expected, isDecimal)]],
    reply: [['states', arrayOf('{ txid: decimal, state: string, cv?: decimal }', isTxStatusEntry)]],
  },
};

const TX_STATES = new Set(['pending', 'committed', 'aborted', 'unknown']);
function isTxStatusEntry(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const e = v as Record<string, unknown>;
  return isDecimal(e['txid']) && TX_STATES.has(e['state'] as string) && (e['cv'] === undefined || isDecimal(e['cv']));
}

function checkShape(method: ReplicaMethod, side: Side, shape: Shape, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw protocolError(method, side, '', 'a msgpack map', value);
  }
  const message = value as Record<string, unknown>;
  for (const [name, field] of shape) {
    const v = message[name];
    if (v === undefined) {
      if (field.optional === true) continue;
      throw protocolError(method, side, name, field.items === true ? `an array of ${field.expected}` : field.expected, v);
    }
    if (field.items !== true) {
      if (!field.ok(v)) throw protocolError(method, side, name, field.expected, v);
      continue;
    }
    if (!Array.isArray(v)) throw protocolError(method, side, name, `an array of ${field.expected}`, v);
    for (let i = 0; i < v.length; i++) {
      if (!field.ok(v[i])) throw protocolError(method, side, `${name}[${i}]`, field.expected, v[i]);
    }
  }
}

function decodeOrRefuse(method: ReplicaMethod, side: Side, bytes: Buffer): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new SluiceError('REPLICA_PROTOCOL', `${REPLICA_PROTOCOL} ${method} ${side}: not a msgpack value (${err instanceof Error ? err.message : String(err)})`, [], { cause: err });
  }
}

function protocolError(method: ReplicaMethod, side: Side, field: string, expected: string, got: unknown): SluiceError {
  const where = field === '' ? 'the message' : `field ${field}`;
  const message = `${REPLICA_PROTOCOL} ${method} ${side}: ${where} must be ${expected}, got ${describe(got)}`;
  const path = field === '' ? '' : `/${field.replace(/\[(\d+)\]$/, '/$1')}`;
  return new SluiceError('REPLICA_PROTOCOL', message, [{ path, code: 'REPLICA_PROTOCOL', message }]);
}

/** What a value is, briefly (never its content: a record may be large). */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'nil';
  if (Buffer.isBuffer(value)) return `bin of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return value.length <= 24 ? `string ${JSON.stringify(value)}` : `a string of ${value.length} characters`;
  if (typeof value === 'number') return `number ${value}`;
  return typeof value === 'object' ? 'a map' : typeof value;
}
