/**
 * The coordinator contract: what the ingest and API layers ask of "the
 * store", whether it is this node alone (LocalCoordinator) or a quorum of
 * replicas (the cluster coordinator). It stamps ids and versions, makes a
 * batch durable at the requested consistency, and serves reads.
 */
import type { TableEntry } from '../../storage/catalog.ts';

/** How many replicas must answer: one, a majority, or every replica of each shard. */
export type Consistency = 'one' | 'quorum' | 'all';

/** Replicas of `replicas` that `consistency` requires. */
export function requiredReplicas(consistency: Consistency, replicas: number): number {
  if (consistency === 'one') return Math.min(1, replicas);
  if (consistency === 'all') return replicas;
  return Math.floor(replicas / 2) + 1;
}

/** Per-request options of a write. */
export interface WriteOptions {
  readonly consistency?: Consistency;
  /** The caller's request id: replicas receive it with the write (their audit lines follow one write across nodes). */
  readonly requestId?: string;
  /**
   * Entries carry a key (primary or dedupe) that keeps the id it was written
   * with before; without it every entry gets a fresh id.
   */
  readonly keyed?: boolean;
  /**
   * The writer guarantees that none of the batch's keys is stored yet, so a
   * coordinator may skip looking them up (fresh ids) and mark the batch so
   * the index skips it too. A coordinator that cannot honour it treats the
   * batch as `keyed`.
   */
  readonly freshKeys?: boolean;
  /**
   * With `freshKeys`: the keys are the table's primary keys, made up by the
   * writer unique by construction (Elasticsearch's made-up ids), so fresh even though a table's
   * primary keys are otherwise always looked up (users re-send those at will).
   */
  readonly keysMinted?: boolean;
  /**
   * With `freshKeys` from a dedupe fence: every key is a fenced prefix + a
   * number of this many digits, so a single node's index may store them as
   * blocks (storage/index/key-block.ts). Ignored where the store cannot.
   */
  readonly fencedDigits?: number;
  /**
   * All of the batch becomes visible or none of it, whatever crashes: one
   * WAL frame on a single node or inside one shard, two-phase commit across
   * shards in a cluster. Never buffered (no 202).
   */
  readonly atomic?: boolean;
}

/** Per-request options of a read. */
export interface ReadOptions {
  /** A token from a write: the read sees that write. */
  readonly token?: string;
  readonly consistency?: Consistency;
  /**
   * A snapshot (an HLC version, from `Coordinator.snapshot`): only records
   * at or below it, and all of an atomic batch or none of it (read atomic).
   */
  readonly asOf?: bigint;
}

/** The result of a durable write. */
export interface WriteAck {
  /** Ids in batch order. */
  readonly ids: readonly bigint[];
  /** Opaque read-your-writes token: a read that passes it sees this write. */
  readonly token: string;
  /**
   * True when the write could not reach W replicas and was accepted into
   * this node's durable hint queue instead (`--on-partition=buffer`).
   */
  readonly degraded?: boolean;
  /** The id of the two-phase commit that made an atomic batch across shards durable. */
  readonly txId?: string;
}

/**
 * One record as reads return it: its id and its stored value (HLC
 * version, ingest time, schema version, positional fields; see
 * record-batch-v1). Never an index key: the layers above read records, not
 * storage's key layout.
 */
export interface ReadRecord {
  readonly id: bigint;
  readonly value: Uint8Array;
}

/** A range query by shard key and event time. */
export interface RangeQuery {
  readonly key: string;
  readonly fromMs?: number;
  readonly toMs?: number;
  /** Opaque cursor from a previous page. */
  readonly cursor?: string;
  readonly limit: number;
  readonly token?: string;
  readonly consistency?: Consistency;
  /** A snapshot, as in ReadOptions. */
  readonly asOf?: bigint;
}

/** One page of a range query. */
export interface RangePage {
  readonly records: readonly ReadRecord[];
  /** Cursor of the next page, or null when this page is the last. */
  readonly nextCursor: string | null;
  /**
   * The cursor that resumes after record `i`: a caller that ends the page
   * sooner (its text reached a byte bound) pages on from there. Made when
   * asked: most pages are never cut.
   */
  readonly cursorAfter: (i: number) => string;
}

/** What the upper layers need from storage, local or replicated. */
export interface Coordinator {
  /**
   * Stamps ids and versions into the encoded batch and makes it durable.
   * `release` runs once the batch no longer occupies memory on this node.
   */
  write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options?: WriteOptions): Promise<WriteAck>;
  /** One record by id, or undefined. */
  getById(entry: TableEntry, id: bigint, options?: ReadOptions): Promise<ReadRecord | undefined>;
  /** One page of a shard key's records in event-time order. */
  queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage>;
  /** Every record of a table, in non-empty pages (a long scan pays a promise per page, not per record). */
  scanTable(entry: TableEntry, options?: ReadOptions): AsyncIterable<readonly ReadRecord[]>;
  /**
   * The greatest dedupe key of the table in [low, high] (keys of equal length,
   * compared as bytes), counting every acknowledged write; undefined when
   * none. Absent where it cannot be answered exactly (a cluster): a source
   * then looks up every key instead of fencing.
   */
  highestDedupeKey?(entry: TableEntry, low: string, high: string): Promise<string | undefined>;
  /**
   * A snapshot for `as_of=now`: an HLC version at or above every write
   * acknowledged before this call on this node, and above the write a read
   * token names.
   */
  snapshot(token?: string): bigint;
  /**
   * The newest version a snapshot read could have answered, on this node
   * or (in a cluster) on any node whose clock is within the offset bound:
   * an `as_of` past it was made up, and the API refuses it.
   */
  asOfMax(): bigint;
  /** What became of an atomic batch (`GET /v1/tx/{id}`). */
  txStatus(txid: bigint): Promise<TxStatus>;
}

/** The outcome of an atomic batch as a client asks for it. */
export type TxStatus = 'committed' | 'aborted' | 'unknown';
