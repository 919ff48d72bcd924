/**
 * The coordinator of a single node: every shard is local, W = R = 1. It
 * stamps snowflake ids and HLC versions into the batch, appends it to the
 * local WAL and acknowledges after the fsync. Reads wait on the read barrier
 * so that they see every write acknowledged before them.
 */
import { RecordBatchReader } from '../../core/codec/record-batch-v1.ts';
import { SluiceError } from '../../core/errors.ts';
import type { Hlc } from '../../core/hlc.ts';
import { shardOf } from '../../core/murmur3.ts';
import type { SnowflakeGenerator } from '../../core/snowflake.ts';
import type { TableEntry } from '../../storage/catalog.ts';
import type { IndexedRecord } from '../../storage/index/index-store.ts';
import type { LocalStore } from '../../storage/local-store.ts';
import { recordKeyPrefix } from '../../storage/index/key-layout.ts';
import type { Coordinator, RangePage, RangeQuery, ReadOptions, WriteAck, WriteOptions } from './coordinator.ts';

/** Bytes of a cursor: the time key and id of the last record returned. */
const CURSOR_BYTES = 16;

/** Options of the local coordinator. */
export interface LocalCoordinatorOptions {
  readonly shards: number;
  readonly readBarrierMsMax: number;
}

/** Single-node coordinator over a LocalStore. */
export class LocalCoordinator implements Coordinator {
  private readonly store: LocalStore;
  private readonly ids: SnowflakeGenerator;
  private readonly hlc: Hlc;
  private readonly options: LocalCoordinatorOptions;

  constructor(store: LocalStore, ids: SnowflakeGenerator, hlc: Hlc, options: LocalCoordinatorOptions) {
    this.store = store;
    this.ids = ids;
    this.hlc = hlc;
    this.options = options;
  }

  /** Stamps ids/versions and appends the batch; resolves after the WAL fsync. */
  async write(entry: TableEntry, batch: Uint8Array, count: number, release: () => void, options: WriteOptions = {}): Promise<WriteAck> {
    const reader = new RecordBatchReader(batch);
    const tablePk = entry.versions.at(-1)?.primaryKey !== undefined;
    // Fresh dedupe keys (never a table's primary key, which users resend at will) need no lookup.
    const freshKeys = options.freshKeys === true && !tablePk;
    reader.freshKeys = freshKeys;
    const hasPk = !freshKeys && (options.keyed === true || tablePk);
    const claim = hasPk
      ? await this.store.pks.resolve(reader, () => this.ids.next(), (v) => this.hlc.update(v))
      : undefined;
    let lsn: bigint;
    const ids: bigint[] = new Array<bigint>(count);
    try {
      // Synchronous from here to the append: ids, versions and LSNs increase together.
      const fresh = hasPk ? undefined : this.ids.nextBatch(count);
      const firstVersion = this.hlc.nowBatch(count);
      reader.rewind();
      let i = 0;
      while (reader.next()) {
        if (fresh !== undefined) reader.id = fresh[i] as bigint;
        reader.version = firstVersion + BigInt(i);
        ids[i] = reader.id;
        i++;
      }
      lsn = await this.store.appendRecords(batch, count, release);
    } catch (err) {
      if (claim !== undefined) this.store.pks.failed(claim);
      throw err;
    }
    if (claim !== undefined) this.store.pks.committed(claim, lsn);
    return { ids, token: lsnToken(lsn) };
  }

  /** One record by id after the read barrier. */
  async getById(entry: TableEntry, id: bigint, options: ReadOptions = {}): Promise<IndexedRecord | undefined> {
    await this.barrier(options.token);
    return this.store.index.getById(entry.id, id);
  }

  /** One page of a shard key's records, ordered by event time then id. */
  async queryRange(entry: TableEntry, query: RangeQuery): Promise<RangePage> {
    await this.barrier(query.token);
    const key = Buffer.from(query.key, 'utf8');
    const shard = shardOf(query.key, this.options.shards);
    const after = query.cursor === undefined ? undefined : cursorKey(shard, entry.id, key, query.cursor);
    const records: IndexedRecord[] = [];
    // Ask for one extra record to know whether another page exists.
    for await (const rec of this.store.index.scanKey({
      tableId: entry.id,
      shard,
      key,
      limit: query.limit + 1,
      ...(query.fromMs === undefined ? {} : { fromMs: query.fromMs }),
      ...(query.toMs === undefined ? {} : { toMs: query.toMs }),
      ...(after === undefined ? {} : { after }),
    })) {
      records.push(rec);
    }
    const more = records.length > query.limit;
    if (more) records.length = query.limit;
    const last = records.at(-1);
    return { records, nextCursor: more && last !== undefined ? encodeCursor(last.recordKey) : null };
  }

  /** Every record of the table, shard by shard. */
  async *scanTable(entry: TableEntry, options: ReadOptions = {}): AsyncGenerator<IndexedRecord> {
    await this.barrier(options.token);
    yield* this.store.index.scanTable(entry.id, this.options.shards);
  }

  /** The greatest key in [low, high] over every shard, once every acknowledged write is in the index. */
  async highestDedupeKey(entry: TableEntry, low: string, high: string): Promise<string | undefined> {
    await this.barrier(undefined);
    let best: string | undefined;
    for (let shard = 0; shard < this.options.shards; shard++) {
      const key = await this.store.index.highestPk(shard, entry.id, low, high);
      if (key !== undefined && (best === undefined || key > best)) best = key;
    }
    return best;
  }

  private barrier(token: string | undefined): Promise<void> {
    const lsn = token === undefined ? this.store.lastAckedLsn : parseToken(token);
    return this.store.readBarrier(this.options.readBarrierMsMax, lsn);
  }
}

function lsnToken(lsn: bigint): string {
  return `l${lsn.toString(36)}`;
}

function parseToken(token: string): bigint {
  const m = /^l([0-9a-z]{1,13})$/.exec(token);
  if (m === null || m[1] === undefined) throw new SluiceError('INVALID_ARGUMENT', 'token is not a token returned by a write');
  return [...m[1]].reduce((acc, ch) => acc * 36n + BigInt(parseInt(ch, 36)), 0n);
}

/** The cursor of the page after `recordKey`: its time key and id. */
export function encodeCursor(recordKey: Buffer): string {
  return recordKey.subarray(recordKey.length - CURSOR_BYTES).toString('base64url');
}

/** The record key a cursor resumes after. */
export function cursorKey(shard: number, tableId: number, key: Buffer, cursor: string): Buffer {
  const tail = Buffer.from(cursor, 'base64url');
  if (tail.length !== CURSOR_BYTES || tail.toString('base64url') !== cursor) {
    throw new SluiceError('INVALID_CURSOR', 'cursor is not a cursor returned by this query');
  }
  return Buffer.concat([recordKeyPrefix(shard, tableId, key), tail]);
}
