/**
 * The coordinator contract: what the ingest and API layers ask of "the
 * store", whether it is this node alone (LocalCoordinator) or a quorum of
 * replicas (the cluster coordinator). It stamps ids and versions, makes a
 * batch durable at the requested consistency, and serves reads.
 */
import type { TableEntry } from '../storage/catalog.ts';
import type { IndexedRecord } from '../storage/index-store.ts';

/** The result of a durable write. */
export interface WriteAck {
  /** Ids in batch order. */
  readonly ids: readonly bigint[];
  /** Opaque read-your-writes token: a read that passes it sees this write. */
  readonly token: string;
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
}

/** One page of a range query. */
export interface RangePage {
  readonly records: readonly IndexedRecord[];
  /** Cursor of the next page, or null when this page is the last. */
  readonly nextCursor: string | null;
}

/** What the upper layers need from storage, local or replicated. */
export interface Coordinator {
  /**
   * Stamps ids and versions into the encoded batch and makes it durable.
   * `release` runs once the batch no longer occupies memory on this node.
   */
  write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void): Promise<WriteAck>;
  /** One record by id, or undefined. */
  getById(entry: TableEntry, id: bigint, token?: string): Promise<IndexedRecord | undefined>;
  /** One page of a shard key's records in event-time order. */
  queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage>;
  /** Every record of a table. */
  scanTable(entry: TableEntry, token?: string): AsyncIterable<IndexedRecord>;
}
