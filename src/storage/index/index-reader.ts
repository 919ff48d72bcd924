/**
 * Reading the index: one record by id (its per-record id entry, else the
 * id block covering it), one shard key's records by event-time range, a
 * table or a shard in key order (optionally only up to a snapshot's
 * version), primary-key entries, and the staged and done entries of
 * atomic batches. Stateless over the engine: IndexStore adds applying.
 */
import { versionOf, writeTimeKey } from '../../core/codec/record-batch-v1.ts';
import type { KeyRange, StorageEngine } from '../engine/storage-engine.ts';
import { decodeLsn } from '../engine/lsn-bytes.ts';
import { decodeDone, type TxDone } from '../tx/tx-frame-v1.ts';
import { PREFIX_ID_BLOCK, findInIdBlock, idBlockKeyLastId, idBlockKeyOf, idBlockLanePrefix } from './id-block.ts';
import { KEY_BLOCKS_MARK_PREFIX, PREFIX_KEY_BLOCK, findInKeyBlock, keyBlockDigits, keyBlockKey, keyBlockLastPk, keyBlocksMarkOf } from './key-block.ts';
import {
  PK_IN_RECORD_KEY_PREFIX,
  PREFIX_ID,
  PREFIX_TX_STAGED,
  REPLAY_FLOOR_KEY,
  idKeyOf,
  locationOf,
  pkOfIdValue,
  tableOfIdValue,
  pkKey,
  PREFIX_PK,
  prefixEnd,
  readPkValue,
  recordKeyId,
  recordKeyPrefix,
  shardPrefix,
  tableOfPkInRecordKeyMark,
  tableShardPrefix,
  txDoneKey,
  type PkEntry,
} from './key-layout.ts';

/** One stored record as the index holds it. */
export interface IndexedRecord {
  readonly recordKey: Buffer;
  /** The stored value (see record-batch-v1 `value`). */
  readonly value: Uint8Array;
}

/**
 * The key prefixes of one table shard's entries, in the order a drop
 * deletes them: records first (a drop stopped there leaves their primary
 * keys resolving to nothing, never a record without its key), then primary
 * keys and key blocks.
 */
export function tableShardPrefixes(range: TableShard): Buffer[] {
  const { shard, tableId } = range;
  return [tableShardPrefix(shard, tableId), tableShardPrefix(shard, tableId, PREFIX_PK), tableShardPrefix(shard, tableId, PREFIX_KEY_BLOCK)];
}

/** One table's records in one shard. */
export interface TableShard {
  readonly shard: number;
  readonly tableId: number;
}


/** A range query over one shard key's records. */
export interface KeyRangeQuery {
  readonly tableId: number;
  readonly shard: number;
  readonly key: Buffer;
  /** Inclusive lower bound on event time, epoch ms. */
  readonly fromMs?: number;
  /** Exclusive upper bound on event time, epoch ms. */
  readonly toMs?: number;
  /** Resume strictly after this record key (a cursor). */
  readonly after?: Buffer;
  readonly limit: number;
  /** Only records whose HLC version is at most this (a snapshot read, `as_of`). */
  readonly maxVersion?: bigint;
}

/** A page of one shard's records (of every table, or of one). */
export interface ShardScan {
  readonly tableId?: number;
  /** Resume strictly after this record key. */
  readonly after?: Buffer;
  readonly limit?: number;
  /** Only records whose HLC version is at most this (a snapshot read). */
  readonly maxVersion?: bigint;
}

/** The read side of the index. */
export class IndexReader {
  readonly engine: StorageEngine;
  private pkInRecordKeyLoad: Promise<Set<number>> | undefined;
  private keyBlocksLoad: Promise<Map<number, Set<number>>> | undefined;

  constructor(engine: StorageEngine) {
    this.engine = engine;
  }

  /**
   * Whether the index holds anything of one table's shard: records, or the
   * primary keys and key blocks a drop stopped after the records left
   * (cleanup drops what this says is held).
   */
  async holds(range: TableShard): Promise<boolean> {
    for (const prefix of tableShardPrefixes(range)) {
      for await (const _ of this.engine.iterate({ gte: prefix, lt: prefixEnd(prefix), limit: 1 })) return true;
    }
    return false;
  }

  /** The greatest primary/dedupe key of a table's shard in [low, high] (same-length UTF-8 keys sort as bytes). */
  async highestPk(shard: number, tableId: number, low: string, high: string): Promise<string | undefined> {
    const lo = Buffer.from(low, 'utf8');
    const hi = Buffer.from(high, 'utf8');
    if (lo.length !== hi.length) throw new Error('highestPk: bounds of different lengths do not delimit one key range');
    // The P entries' and the key blocks' seeks side by side: each is a round trip through the thread pool.
    const [byP, byBlock] = await Promise.all([
      this.lastKey(pkKey(shard, tableId, lo), pkKey(shard, tableId, hi)).then((k) => k?.subarray(pkKey(shard, tableId, '').length)),
      // Keys stored in blocks: a block's key is its last (greatest) key, and blocks of one prefix do not overlap.
      this.keyBlockTables().then(async (blocked) => {
        if (!blocked.has(tableId)) return undefined;
        const k = await this.lastKey(keyBlockKey(shard, tableId, lo), keyBlockKey(shard, tableId, hi));
        return k === undefined ? undefined : keyBlockLastPk(k);
      }),
    ]);
    const highest = byP === undefined || (byBlock !== undefined && Buffer.compare(byBlock, byP) > 0) ? byBlock : byP;
    return highest?.toString('utf8');
  }

  /** The greatest engine key in [gte, lte], if any. */
  private async lastKey(gte: Buffer, lte: Buffer): Promise<Buffer | undefined> {
    for await (const [k] of this.engine.iterate({ gte, lte, reverse: true, limit: 1 })) return toBuffer(k);
    return undefined;
  }

  /** The current primary-key entries for the given keys (undefined where absent). */
  lookupPks(lookups: readonly { shard: number; tableId: number; pk: Buffer }[]): Promise<(PkEntry | undefined)[]> {
    return this.pkEntries(lookups);
  }

  /**
   * `lookupPks`, also for IndexStore's apply: P entries, and in tables that
   * leave P out for some records the record key of what P does not hold.
   * (A seam of its own: tests hold the write path's `lookupPks` back.)
   */
  protected async pkEntries(lookups: readonly { shard: number; tableId: number; pk: Buffer }[]): Promise<(PkEntry | undefined)[]> {
    if (lookups.length === 0) return [];
    const values = await this.engine.getMany(lookups.map((l) => pkKey(l.shard, l.tableId, l.pk)));
    const entries = values.map((v, i) => {
      const l = lookups[i];
      return v === undefined || l === undefined ? undefined : readPkValue(l.shard, l.tableId, v);
    });
    const marked = await this.pkInRecordKeyTables();
    const blocked = await this.keyBlockTables();
    if (marked.size === 0 && blocked.size === 0) return entries;
    return Promise.all(entries.map((e, i) => {
      const l = lookups[i];
      if (e !== undefined || l === undefined) return e;
      const digits = blocked.get(l.tableId);
      if (digits !== undefined) return this.pkByKeyBlock(l.shard, l.tableId, l.pk, digits);
      return marked.has(l.tableId) ? this.pkByRecordKey(l.shard, l.tableId, l.pk) : undefined;
    }));
  }

  /**
   * Tables that hold dedupe keys in blocks (key-block.ts), each with the
   * digit counts of their numbers, read from their marks once; IndexStore
   * adds to it when it first writes a block. The same Map every call.
   */
  protected keyBlockTables(): Promise<Map<number, Set<number>>> {
    this.keyBlocksLoad ??= (async () => {
      const tables = new Map<number, Set<number>>();
      for await (const [k] of this.engine.iterate({ gte: KEY_BLOCKS_MARK_PREFIX, lt: prefixEnd(KEY_BLOCKS_MARK_PREFIX) })) {
        const { tableId, digits } = keyBlocksMarkOf(k);
        const set = tables.get(tableId) ?? new Set<number>();
        set.add(digits);
        tables.set(tableId, set);
      }
      return tables;
    })();
    return this.keyBlocksLoad;
  }

  /**
   * The entry of a key that a block may hold: the first block of its prefix
   * and digit count ending at or after it. Blocks of a longer prefix with
   * fewer digits (`x:1:` + 2 among `x:` + 4) can sort between the key and
   * its block, so those are stepped over.
   */
  private async pkByKeyBlock(shard: number, tableId: number, pk: Buffer, digitCounts: ReadonlySet<number>): Promise<PkEntry | undefined> {
    for (const digits of digitCounts) {
      if (pk.length <= digits) continue;
      const prefixEndKey = prefixEnd(keyBlockKey(shard, tableId, pk.subarray(0, pk.length - digits), pk.length));
      for await (const [, block] of this.engine.iterate({ gte: keyBlockKey(shard, tableId, pk), lt: prefixEndKey })) {
        if (keyBlockDigits(block) !== digits) continue;
        const hit = findInKeyBlock(block, pk.subarray(pk.length - digits));
        if (hit !== undefined) return readPkValue(shard, tableId, hit);
        break;
      }
    }
    return undefined;
  }

  /**
   * Tables that hold records without a primary-key entry (key-layout.ts,
   * "pk-in-rk"), read from their marks once; IndexStore adds a table when
   * it first leaves an entry out. The same Set every call.
   */
  protected pkInRecordKeyTables(): Promise<Set<number>> {
    this.pkInRecordKeyLoad ??= (async () => {
      const tables = new Set<number>();
      for await (const [k] of this.engine.iterate({ gte: PK_IN_RECORD_KEY_PREFIX, lt: prefixEnd(PK_IN_RECORD_KEY_PREFIX) })) tables.add(tableOfPkInRecordKeyMark(k));
      return tables;
    })();
    return this.pkInRecordKeyLoad;
  }

  /** The entry of a primary key that is its record's shard key, from the record key (the only live record of that key). */
  private async pkByRecordKey(shard: number, tableId: number, pk: Buffer): Promise<PkEntry | undefined> {
    const prefix = recordKeyPrefix(shard, tableId, pk);
    for await (const [k, v] of this.engine.iterate({ gte: prefix, lt: prefixEnd(prefix), limit: 1 })) {
      const recordKey = toBuffer(k);
      return { id: recordKeyId(recordKey), version: versionOf(v), recordKey };
    }
    return undefined;
  }

  /** One record by id, or undefined when absent, in another table, or newer than `maxVersion`. */
  async getById(tableId: number, id: bigint, maxVersion?: bigint): Promise<IndexedRecord | undefined> {
    const where = await this.locate(id);
    if (where === undefined || where.tableId !== tableId) return undefined;
    const value = await this.engine.get(where.recordKey);
    if (value === undefined || (maxVersion !== undefined && versionOf(value) > maxVersion)) return undefined;
    return { recordKey: where.recordKey, value };
  }

  /** The table and record key of an id: a per-record entry, else the id block covering it. */
  private async locate(id: bigint): Promise<{ tableId: number; recordKey: Buffer } | undefined> {
    const loc = await this.engine.get(idKeyOf(id));
    if (loc !== undefined) return locationOf(id, loc);
    const from = idBlockKeyOf(id);
    for await (const [, block] of this.engine.iterate({ gte: from, lt: prefixEnd(from.subarray(0, 3)), limit: 1 })) {
      return findInIdBlock(block, id);
    }
    return undefined;
  }

  /** One shard key's records ordered by event time then id, in non-empty pages. */
  scanKey(q: KeyRangeQuery): AsyncGenerator<readonly IndexedRecord[]> {
    const prefix = recordKeyPrefix(q.shard, q.tableId, q.key);
    const lower = withTime(prefix, q.fromMs);
    const upper = q.toMs === undefined ? prefixEnd(prefix) : withTime(prefix, q.toMs);
    const range = q.after !== undefined && Buffer.compare(q.after, lower) >= 0 ? { gt: q.after, lt: upper } : { gte: lower, lt: upper };
    return this.recordPages(range, q.limit, q.maxVersion);
  }

  /** Every record of a table (at most `maxVersion`, when given), shard by shard, in non-empty pages. */
  async *scanTable(tableId: number, shardCount: number, maxVersion?: bigint): AsyncGenerator<readonly IndexedRecord[]> {
    for (let shard = 0; shard < shardCount; shard++) {
      const prefix = tableShardPrefix(shard, tableId);
      yield* this.recordPages({ gte: prefix, lt: prefixEnd(prefix) }, undefined, maxVersion);
    }
  }

  /**
   * Records of one shard across every table (or of one table), in key
   * order, resuming strictly after `after`, in non-empty pages: what repair
   * and export page through.
   */
  scanShard(shard: number, options: ShardScan = {}): AsyncGenerator<readonly IndexedRecord[]> {
    const prefix = options.tableId === undefined ? shardPrefix(shard) : tableShardPrefix(shard, options.tableId);
    const range = {
      ...(options.after !== undefined && Buffer.compare(options.after, prefix) >= 0 ? { gt: options.after } : { gte: prefix }),
      lt: prefixEnd(prefix),
    };
    return this.recordPages(range, options.limit, options.maxVersion);
  }

  /**
   * The primary/dedupe-key entries (`P` keys) of one table's shard, in key
   * order, resuming strictly after `after` (a `P` key), in non-empty pages
   * of [P key, value]: what the summary of dedupe-key entries reads
   * (decision 56).
   */
  async *scanKeyEntries(shard: number, tableId: number, after?: Buffer): AsyncGenerator<readonly (readonly [Buffer, Uint8Array])[]> {
    const prefix = tableShardPrefix(shard, tableId, PREFIX_PK);
    const range = { ...(after !== undefined && Buffer.compare(after, prefix) >= 0 ? { gt: after } : { gte: prefix }), lt: prefixEnd(prefix) };
    for await (const entries of this.engine.iterateChunks(range)) {
      if (entries.length > 0) yield entries.map(([k, v]) => [toBuffer(k), v] as const);
    }
  }

  /**
   * The records of a key range in non-empty pages, as the engine reads
   * them (pages, not records: each record would otherwise cost a promise
   * in every layer it passes). At most `limit` of them; with `maxVersion`,
   * only those at or below it, newer ones skipped (one 8-byte compare
   * each) and not counted against the limit.
   */
  private async *recordPages(range: KeyRange, limit: number | undefined, maxVersion: bigint | undefined): AsyncGenerator<readonly IndexedRecord[]> {
    if (limit === 0) return;
    // Without a snapshot every entry counts, so the engine can stop at the limit itself.
    const scan = maxVersion === undefined && limit !== undefined ? { ...range, limit } : range;
    let left = limit ?? Infinity;
    for await (const entries of this.engine.iterateChunks(scan)) {
      const page: IndexedRecord[] = [];
      for (const [k, v] of entries) {
        if (maxVersion !== undefined && versionOf(v) > maxVersion) continue;
        page.push({ recordKey: toBuffer(k), value: v });
        if (--left === 0) break;
      }
      if (page.length > 0) yield page;
      if (left === 0) return;
    }
  }

  /** Payloads of every staged (prepared, undecided) atomic batch: what the pending table is rebuilt from. */
  async *stagedTxs(): AsyncGenerator<Uint8Array> {
    const p = Buffer.from([PREFIX_TX_STAGED]);
    for await (const [, v] of this.engine.iterate({ gte: p, lt: prefixEnd(p) })) yield v;
  }

  /** The replay floor the index holds (staged-payloads.ts), or undefined. */
  async replayFloor(): Promise<bigint | undefined> {
    const v = await this.engine.get(REPLAY_FLOOR_KEY);
    return v === undefined ? undefined : decodeLsn(v);
  }

  /** The done marker of an atomic batch, or undefined (never decided here, or swept). */
  async txDone(txid: bigint): Promise<TxDone | undefined> {
    const v = await this.engine.get(txDoneKey(txid));
    return v === undefined ? undefined : decodeDone(v);
  }

  /** Stored values of the given record keys (undefined where absent). */
  getRecords(recordKeys: readonly Buffer[]): Promise<(Uint8Array | undefined)[]> {
    return recordKeys.length === 0 ? Promise.resolve([]) : this.engine.getMany(recordKeys);
  }

  /**
   * The primary or dedupe key each record was written with, as its id
   * entry holds it (undefined: none there, as for a record written without
   * a key, with fresh keys into blocks, or before decision 54). Any record
   * of an id gets the id's key: one key has one id.
   */
  async dedupeKeysOf(recordKeys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    if (recordKeys.length === 0) return [];
    const values = await this.engine.getMany(recordKeys.map((rk) => idKeyOf(recordKeyId(rk))));
    return values.map((v, i) => {
      const rk = recordKeys[i] as Buffer;
      return v === undefined || tableOfIdValue(v) !== rk.readUInt32BE(3) ? undefined : pkOfIdValue(v);
    });
  }

  /** The largest id in the index (0n if empty): a restarted node never issues ids below it. */
  async maxId(): Promise<bigint> {
    let max = 0n;
    const ids = Buffer.from([PREFIX_ID]);
    for await (const [k] of this.engine.iterate({ gt: ids, lt: prefixEnd(ids), reverse: true, limit: 1 })) max = toBuffer(k).readBigUInt64BE(1);
    // The newest block of each lane, lane by lane from the highest (one seek per lane in use).
    const blocks = Buffer.from([PREFIX_ID_BLOCK]);
    let below = prefixEnd(blocks);
    for (;;) {
      let lane = -1;
      for await (const [k] of this.engine.iterate({ gt: blocks, lt: below, reverse: true, limit: 1 })) {
        const id = idBlockKeyLastId(k);
        if (id > max) max = id;
        lane = toBuffer(k).readUInt16BE(1);
      }
      if (lane < 0) return max;
      below = idBlockLanePrefix(lane);
    }
  }
}

function withTime(prefix: Buffer, timeMs: number | undefined): Buffer {
  if (timeMs === undefined) return prefix;
  const out = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(out);
  writeTimeKey(out, prefix.length, timeMs);
  return out;
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
