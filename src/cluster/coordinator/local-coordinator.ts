/**
 * The coordinator of a single node: every shard is local, W = R = 1. It
 * stamps snowflake ids and HLC versions into the batch, appends it to the
 * local WAL and acknowledges after the fsync. Reads wait on the read barrier
 * so that they see every write acknowledged before them.
 */
import { RANGE_PAGE_BYTES_MAX } from '../../config.ts';
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { HLC_LOGICAL_BITS, type Hlc } from '../../core/hlc.ts';
import { shardOf } from '../../core/murmur3.ts';
import type { SnowflakeGenerator } from '../../core/snowflake.ts';
import type { TableEntry } from '../../storage/catalog.ts';
import type { IndexedRecord } from '../../storage/index/index-store.ts';
import { recordKeyId } from '../../storage/index/key-layout.ts';
import type { PkClaim } from '../../storage/index/pk-resolver.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import type { Coordinator, RangePage, RangeQuery, ReadOptions, ReadRecord, TxStatus, WriteAck, WriteOptions } from './coordinator.ts';
import { cursorKey, encodeCursor } from './cursor.ts';
import { decodeLocalToken, encodeLocalToken } from './read-token.ts';
import { stampBatch } from './stamp-batch.ts';

/** Options of the local coordinator. */
export interface LocalCoordinatorOptions {
  readonly shards: number;
  readonly readBarrierMsMax: number;
  /** Room past this node's clock that an `as_of` may ask for (--max-clock-offset-ms). */
  readonly maxClockOffsetMs: number;
}

/** Single-node coordinator over a LocalStore. */
export class LocalCoordinator implements Coordinator {
  private readonly store: LocalStore;
  private readonly ids: SnowflakeGenerator;
  private readonly hlc: Hlc;
  private readonly options: LocalCoordinatorOptions;
  /**
   * The first version of each write stamped and not yet acknowledged (nor
   * failed), in stamping order, so ascending: the oldest comes first.
   */
  private readonly unsettled = new Set<bigint>();

  constructor(store: LocalStore, ids: SnowflakeGenerator, hlc: Hlc, options: LocalCoordinatorOptions) {
    this.store = store;
    this.ids = ids;
    this.hlc = hlc;
    this.options = options;
  }

  /** Stamps ids/versions and appends the batch; resolves after the WAL fsync. */
  async write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options: WriteOptions = {}): Promise<WriteAck> {
    const reader = new RecordBatchReader(batch);
    const def = entry.versions.at(-1);
    const tablePk = def?.primaryKey !== undefined;
    // Fresh dedupe keys need no lookup; a table's primary keys only when the writer minted them (users resend theirs at will).
    const freshKeys = options.freshKeys === true && (!tablePk || options.keysMinted === true);
    reader.freshKeys = freshKeys;
    // Minted keys that are also the shard key need no primary-key entry: the record key finds them (decision 27).
    reader.pkInRecordKey = freshKeys && tablePk && def?.primaryKey === def?.shardKey;
    // Fenced dedupe keys (never a table's own primary keys) may be stored as blocks (decision 32).
    reader.fencedDigits = freshKeys && !tablePk && options.fencedDigits !== undefined ? options.fencedDigits : 0;
    const hasPk = !freshKeys && (options.keyed === true || tablePk);
    const claim: PkClaim | undefined = hasPk ? await this.store.claimKeys(reader, () => this.ids.next(), (v) => this.hlc.update(v)) : undefined;
    let lsn: bigint;
    let ids: bigint[];
    let firstVersion: bigint | undefined;
    try {
      // Synchronous from the stamp to the append: ids, versions and LSNs increase together.
      // An atomic batch is one WAL frame here (all or nothing) with one version (no snapshot shows part of it).
      const versions = options.atomic === true ? 'one' : 'sequence';
      ids = stampBatch(reader, count, { generator: this.ids, hlc: this.hlc, versions, ...(hasPk ? { idOf: (r: RecordBatchReader) => r.id } : {}) });
      firstVersion = firstVersionOf(reader);
      this.unsettled.add(firstVersion);
      lsn = await this.store.appendRecords(batch, count, release);
    } catch (err) {
      if (claim !== undefined) this.store.settleKeys(claim, undefined);
      throw err;
    } finally {
      if (firstVersion !== undefined) this.unsettled.delete(firstVersion);
    }
    if (claim !== undefined) this.store.settleKeys(claim, lsn);
    return { ids, token: encodeLocalToken(lsn) };
  }

  /** One record by id after the read barrier. */
  async getById(entry: TableEntry, id: bigint, options: ReadOptions = {}): Promise<ReadRecord | undefined> {
    await this.barrier(options.token);
    const rec = await this.store.getById(entry.id, id, options.asOf);
    return rec === undefined ? undefined : readRecordOf(rec);
  }

  /**
   * One page of a shard key's records, ordered by event time then id: up to
   * `limit` records, ending sooner once they hold RANGE_PAGE_BYTES_MAX
   * (at least one), as a replica's Scan reply does in a cluster.
   */
  async queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage> {
    await this.barrier(query.token);
    const key = Buffer.from(query.key, 'utf8');
    const shard = shardOf(query.key, this.options.shards);
    const after = query.cursor === undefined ? undefined : cursorKey(shard, entry.id, key, query.cursor);
    const records: IndexedRecord[] = [];
    let bytes = 0;
    let more = false;
    // Ask for one extra record to know whether another page exists.
    const scan = this.store.scanKey({
      tableId: entry.id,
      shard,
      key,
      limit: query.limit + 1,
      ...(query.fromMs === undefined ? {} : { fromMs: query.fromMs }),
      ...(query.toMs === undefined ? {} : { toMs: query.toMs }),
      ...(after === undefined ? {} : { after }),
      ...(query.asOf === undefined ? {} : { maxVersion: query.asOf }),
    });
    // Leaving the loop closes the scan: the records past the page are never read.
    pages: for await (const page of scan) {
      for (const rec of page) {
        if (records.length === query.limit || bytes >= RANGE_PAGE_BYTES_MAX) {
          more = true;
          break pages;
        }
        records.push(rec);
        bytes += rec.recordKey.length + rec.value.length;
      }
    }
    const last = records.at(-1);
    const cursorAfter = (i: number): string => encodeCursor((records[i] as IndexedRecord).recordKey);
    return { records: records.map(readRecordOf), nextCursor: more && last !== undefined ? encodeCursor(last.recordKey) : null, cursorAfter };
  }

  /** Every record of the table, shard by shard, in non-empty pages. */
  async *scanTable(entry: TableEntry, options: ReadOptions = {}): AsyncGenerator<readonly ReadRecord[]> {
    await this.barrier(options.token);
    for await (const page of this.store.scanTable(entry.id, options.asOf)) yield page.map(readRecordOf);
  }

  /**
   * This node's clock: every write it acknowledged is below it. A single
   * node has no two-phase commit (an atomic batch is one WAL frame), so a
   * snapshot never waits. It stays below every write stamped and not yet
   * acknowledged (its fsync pending): a read taken now cannot see such a
   * write, and a read of the same version taken after its fsync would, so
   * two pages of one snapshot would skip it.
   */
  snapshot(): bigint {
    const now = this.hlc.now();
    const oldest = this.unsettled.values().next();
    return oldest.done === true ? now : oldest.value - 1n;
  }

  /**
   * Every snapshot this node answered is at or below its clock: this node's
   * clock now and `maxClockOffsetMs` of room (a single node has no peers
   * whose clocks lead; its own HLC already covers a restart's lead).
   */
  asOfMax(): bigint {
    return this.hlc.now() + (BigInt(this.options.maxClockOffsetMs) << BigInt(HLC_LOGICAL_BITS));
  }

  /** A single node runs no two-phase commit: it knows no batch by id. */
  async txStatus(): Promise<TxStatus> {
    return 'unknown';
  }

  /** The greatest key in [low, high] over every shard, once every acknowledged write is in the index. */
  async highestDedupeKey(entry: TableEntry, low: string, high: string): Promise<string | undefined> {
    await this.barrier(undefined);
    return this.store.highestPk(entry.id, low, high);
  }

  private barrier(token: string | undefined): Promise<void> {
    // A write's token is given once its LSN is acknowledged here: one past that is not this node's (INVALID_ARGUMENT).
    const lsn = token === undefined ? this.store.lastAckedLsn : decodeLocalToken(token, this.store.lastAckedLsn);
    return this.store.readBarrier(this.options.readBarrierMsMax, lsn);
  }
}

/** The version of a stamped batch's first record, the lowest of the batch (leaves the reader rewound). */
function firstVersionOf(reader: RecordBatchReader): bigint {
  reader.rewind();
  reader.next();
  const version = reader.version;
  reader.rewind();
  return version;
}

function readRecordOf(rec: IndexedRecord): ReadRecord {
  return { id: recordKeyId(rec.recordKey), value: rec.value };
}
