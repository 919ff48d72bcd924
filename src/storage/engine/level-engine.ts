/**
 * LevelEngine: the LSM index on classic-level (LevelDB 1.20).
 *
 * Layout: one LevelDB per directory. Data keys are stored behind the byte
 * 'd', the engine's own entries behind 'm' (checkpoint, synced checkpoint,
 * open state), so every key is free for the caller and a scan never meets
 * metadata. Prefixing preserves memcmp order.
 *
 * Crash safety. A commit is one LevelDB write batch holding the puts and
 * the checkpoint: one record in LevelDB's log, checksummed, so it is applied
 * whole or not at all. Writes go to the log with write() and no fsync;
 * `sync()` fsyncs every log (see fsync-level-logs.ts) and then records the
 * checkpoint it made durable ("synced checkpoint") with a synced write.
 * - Process crash: every accepted write is in the page cache; LevelDB drops
 *   a torn last record on open. The checkpoint matches the data.
 * - OS crash: unsynced log pages may be lost in any order, and LevelDB
 *   skips unreadable log blocks and replays the records after them, so the
 *   checkpoint may survive while some earlier batch did not. The engine
 *   records the OS boot id and a clean-close flag at open; opening after an
 *   unclean stop under a different boot id rolls the checkpoint back to the
 *   synced checkpoint, which only covers fsync'd data. Batches after it may
 *   be partly present: WAL replay from the checkpoint re-applies them.
 *
 * Commits run one at a time in call order: classic-level writes on libuv's
 * thread pool, where two pending writes could reach LevelDB in either order.
 * After a failed commit or sync the engine refuses commits until reopened.
 *
 * One process per directory: LevelDB holds a LOCK file; a second open (from
 * any process, or this one) fails with STORAGE_IO naming the directory.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { SluiceError } from '../../core/errors.ts';
import { readBootId } from './boot-id.ts';
import { checkKey, checkKeyBytes, checkRange } from './engine-checks.ts';
import { closedError, failedError, storageError } from './engine-errors.ts';
import { fsyncLevelLogs } from './fsync-level-logs.ts';
import { processOpenFilesBudget } from './open-files-budget.ts';
import { decodeLsn, encodeLsn } from './lsn-bytes.ts';
import type { EngineOptions, KeyRange, StorageEngine, WriteBatch } from './storage-engine.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Options of the LevelDB engine. */
export interface LevelEngineOptions extends EngineOptions {
  /** Memtable size before LevelDB flushes it to a table file (up to two are in memory). @default 16 MiB */
  readonly writeBufferBytes?: number;
  /** LRU cache of uncompressed blocks. @default 32 MiB */
  readonly blockCacheBytes?: number;
  /** Table files kept open. @default half the process's open-file limit, 1,000 to 50,000 (open-files-budget.ts) */
  readonly maxOpenFiles?: number;
}

const DEFAULT_WRITE_BUFFER_BYTES = 16 * MiB;
const DEFAULT_BLOCK_CACHE_BYTES = 32 * MiB;
/** Most entries fetched per native iterator call; bounded in bytes by ITERATOR_CHUNK_BYTES too. */
const ITERATOR_CHUNK_ENTRIES = 1000;
/**
 * Entries asked of a scan's first native call; each later call asks four
 * times more, up to ITERATOR_CHUNK_ENTRIES. classic-level reserves native
 * room for every entry asked (64 B each) and keeps it until the iterator
 * is garbage-collected, not when it is closed: a read by shard key asking
 * 1,000 pinned 64 KiB per request until the next full collection, whose
 * finalizers then freed it all at once on the main thread (RSS swung by
 * ~300 MiB at 7k reads/s; ~110 MiB with this schedule; a stall of those
 * finalizers remains, from what they still free: docs/benchmarks.md). Short
 * reads are most reads; a long scan pays three more thread-pool round trips.
 */
export const ITERATOR_FIRST_CHUNK_ENTRIES = 16;

/** Entries to ask of a scan's next native call after asking `previous` (0: none yet). */
export function nextChunkEntries(previous: number): number {
  return previous === 0 ? ITERATOR_FIRST_CHUNK_ENTRIES : Math.min(previous * 4, ITERATOR_CHUNK_ENTRIES);
}
/** Bytes a scan buffers at most per native call (beyond one entry), keeping scans constant-memory. */
const ITERATOR_CHUNK_BYTES = MiB;

const DATA_PREFIX = 0x64; // 'd'
const META_PREFIX = 0x6d; // 'm'
const DATA_LOW = Buffer.from([DATA_PREFIX]);
const DATA_END = Buffer.from([DATA_PREFIX + 1]);
const CHECKPOINT_KEY = metaKey('checkpoint');
const SYNCED_KEY = metaKey('synced-checkpoint');
const OPEN_STATE_KEY = metaKey('open-state');

type Db = ClassicLevel<Buffer, Buffer>;

/** A binary key-value index on LevelDB with an atomic applied-LSN checkpoint. */
export class LevelEngine implements StorageEngine {
  readonly kind = 'level' as const;
  readonly #dir: string;
  readonly #db: Db;
  readonly #bootId: string;
  #checkpoint: bigint;
  /** Settles when every commit and sync queued so far has run. */
  #tail: Promise<unknown> = Promise.resolve();
  #failure: unknown = undefined;
  #closing: Promise<void> | undefined;

  private constructor(dir: string, db: Db, bootId: string, checkpoint: bigint) {
    this.#dir = dir;
    this.#db = db;
    this.#bootId = bootId;
    this.#checkpoint = checkpoint;
  }

  /** Opens (creating if missing) the database in `options.dir`. */
  static async open(options: LevelEngineOptions): Promise<LevelEngine> {
    const dir = options.dir;
    const writeBufferBytes = options.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES;
    const blockCacheBytes = options.blockCacheBytes ?? DEFAULT_BLOCK_CACHE_BYTES;
    assert(Number.isSafeInteger(writeBufferBytes) && writeBufferBytes >= 64 * KiB, 'writeBufferBytes must be an integer >= 64 KiB');
    assert(Number.isSafeInteger(blockCacheBytes) && blockCacheBytes >= 0, 'blockCacheBytes must be an integer >= 0');
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (err) {
      throw storageError(`cannot create the level index dir ${dir}`, err);
    }
    const db: Db = new ClassicLevel<Buffer, Buffer>(dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      createIfMissing: true,
      errorIfExists: false,
      compression: true,
      cacheSize: blockCacheBytes,
      writeBufferSize: writeBufferBytes,
      blockSize: 4 * KiB,
      blockRestartInterval: 16,
      maxFileSize: 2 * MiB,
      maxOpenFiles: options.maxOpenFiles ?? processOpenFilesBudget(),
      multithreading: false,
    });
    try {
      await db.open();
    } catch (err) {
      if (causeCode(err) === 'LEVEL_LOCKED') {
        throw new SluiceError('STORAGE_IO', `the level index in ${dir} is locked: another process or engine has it open`, [], {
          cause: err,
        });
      }
      throw storageError(`cannot open the level index in ${dir}`, err);
    }
    try {
      const bootId = readBootId();
      const checkpoint = await recoverCheckpoint(db, bootId);
      // Everything LevelDB recovered is durable now (recovered logs become synced table files;
      // fsync the logs anyway), so the checkpoint is also the synced checkpoint.
      await fsyncLevelLogs(dir);
      const lsn = encodeLsn(checkpoint);
      await db.batch().put(CHECKPOINT_KEY, lsn).put(SYNCED_KEY, lsn).put(OPEN_STATE_KEY, openState(false, bootId)).write({ sync: true });
      return new LevelEngine(dir, db, bootId, checkpoint);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw storageError(`cannot open the level index in ${dir}`, err);
    }
  }

  batch(): WriteBatch {
    if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
    // The native batch copies each key and value as it is added.
    const chained = this.#db.batch();
    let size = 0;
    let committed = false;
    return {
      put(key: Uint8Array, value: Uint8Array): void {
        if (committed) throw new assert.AssertionError({ message: 'put on a committed batch' });
        checkKey(key);
        chained.put(dataKey(key), asBuffer(value));
        size++;
      },
      putSpared(spared: Buffer, value: Uint8Array): void {
        if (committed) throw new assert.AssertionError({ message: 'put on a committed batch' });
        checkKeyBytes(spared.length - 1);
        // The data namespace byte goes into the caller's spare byte: no copy of the key.
        spared[0] = DATA_PREFIX;
        chained.put(spared, asBuffer(value));
        size++;
      },
      del(key: Uint8Array): void {
        if (committed) throw new assert.AssertionError({ message: 'del on a committed batch' });
        checkKey(key);
        chained.del(dataKey(key));
        size++;
      },
      get size(): number {
        return size;
      },
      commit: (checkpointLsn: bigint): Promise<void> => {
        assert(!committed, 'a batch commits once');
        committed = true;
        // The checkpoint goes into the same LevelDB batch: one log record with the data.
        if (this.#closing === undefined) chained.put(CHECKPOINT_KEY, encodeLsn(checkpointLsn));
        return this.#enqueue(async () => {
          await chained.write({ sync: false });
          this.#checkpoint = checkpointLsn;
        }, 'commit');
      },
    };
  }

  /** Runs `work` after every commit and sync queued before it; a failure stops all later ones. */
  #enqueue(work: () => Promise<void>, what: string): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError(this.kind, this.#dir));
    const run = async (): Promise<void> => {
      if (this.#failure !== undefined) throw failedError(this.kind, this.#dir, this.#failure);
      try {
        await work();
      } catch (err) {
        this.#failure = err;
        throw storageError(`level ${what} failed in ${this.#dir}`, err);
      }
    };
    const result = this.#tail.then(run);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.#closing !== undefined) return Promise.reject(closedError(this.kind, this.#dir));
    try {
      checkKey(key);
      // Synchronous: ~8x the rate of the thread-pool get here (block cache / page cache hits).
      return Promise.resolve(this.#db.getSync(dataKey(key)));
    } catch (err) {
      return Promise.reject(storageError(`level get failed in ${this.#dir}`, err));
    }
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
    const prefixed = keys.map((key) => {
      checkKey(key);
      return dataKey(key);
    });
    try {
      return await this.#db.getMany(prefixed);
    } catch (err) {
      throw this.#readError('getMany', err);
    }
  }

  iterate(range: KeyRange): AsyncIterable<readonly [Uint8Array, Uint8Array]> {
    return { [Symbol.asyncIterator]: () => this.#iterate(range) };
  }

  iterateChunks(range: KeyRange): AsyncIterable<readonly (readonly [Uint8Array, Uint8Array])[]> {
    return { [Symbol.asyncIterator]: () => this.#chunks(range) };
  }

  async *#iterate(range: KeyRange): AsyncGenerator<readonly [Uint8Array, Uint8Array]> {
    // A loop, not `yield*`: delegating to a sync array in an async generator costs a promise per entry more.
    for await (const entries of this.#chunks(range)) for (const entry of entries) yield entry;
  }

  async *#chunks(range: KeyRange): AsyncGenerator<readonly (readonly [Uint8Array, Uint8Array])[]> {
    if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
    checkRange(range);
    // An implicit snapshot: the scan sees the data as of this call.
    const iterator = this.#db.iterator(levelRange(range));
    let chunk = 0;
    let ahead: Promise<[Buffer, Buffer][]> | undefined;
    try {
      for (;;) {
        if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
        let entries: [Buffer, Buffer][];
        chunk = nextChunkEntries(chunk);
        try {
          entries = await (ahead ?? iterator.nextv(chunk));
        } catch (err) {
          throw this.#readError('iterate', err);
        } finally {
          ahead = undefined;
        }
        if (entries.length === 0) return;
        // A long scan (full-size chunks) reads its next chunk on the thread pool while the caller works on this one.
        if (chunk === ITERATOR_CHUNK_ENTRIES) (ahead = iterator.nextv(chunk)).catch(() => undefined);
        // Native code hands out fresh buffers and arrays per entry; subarray drops the prefix without a copy.
        for (const entry of entries) entry[0] = entry[0].subarray(1);
        yield entries;
      }
    } finally {
      // A read ahead must settle first: an iterator does not close while it is nexting.
      await ahead?.catch(() => undefined);
      await iterator.close().catch(() => undefined);
    }
  }

  #readError(what: string, err: unknown): SluiceError {
    if (this.#closing !== undefined) return closedError(this.kind, this.#dir);
    return storageError(`level ${what} failed in ${this.#dir}`, err);
  }

  checkpointLsn(): Promise<bigint> {
    if (this.#closing !== undefined) return Promise.reject(closedError(this.kind, this.#dir));
    return Promise.resolve(this.#checkpoint);
  }

  sync(): Promise<void> {
    return this.#enqueue(() => this.#syncNow(), 'sync');
  }

  /** fsyncs the logs, then durably records the checkpoint they cover (order matters: see header). */
  async #syncNow(): Promise<void> {
    await fsyncLevelLogs(this.#dir);
    await this.#db.put(SYNCED_KEY, encodeLsn(this.#checkpoint), { sync: true });
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#tail;
    let error: unknown;
    if (this.#failure === undefined) {
      try {
        // A clean close: the next open needs no OS-crash rollback.
        await fsyncLevelLogs(this.#dir);
        const lsn = encodeLsn(this.#checkpoint);
        await this.#db.batch().put(SYNCED_KEY, lsn).put(OPEN_STATE_KEY, openState(true, this.#bootId)).write({ sync: true });
      } catch (err) {
        error = storageError(`level close failed in ${this.#dir}`, err);
      }
    }
    try {
      await this.#db.close();
    } catch (err) {
      error ??= storageError(`level close failed in ${this.#dir}`, err);
    }
    if (error !== undefined) throw error;
  }
}

/**
 * The checkpoint to resume from. After an unclean stop under another boot id
 * (an OS crash), only the synced checkpoint is known to be whole.
 */
async function recoverCheckpoint(db: Db, bootId: string): Promise<bigint> {
  const [checkpoint, synced, state] = await db.getMany([CHECKPOINT_KEY, SYNCED_KEY, OPEN_STATE_KEY]);
  const lsn = checkpoint === undefined ? 0n : decodeLsn(checkpoint);
  if (state === undefined) return lsn;
  const wasClean = state[0] === 1;
  const sameBoot = bootId !== '' && state.subarray(1).toString('latin1') === bootId;
  if (wasClean || sameBoot) return lsn;
  const syncedLsn = synced === undefined ? 0n : decodeLsn(synced);
  return syncedLsn < lsn ? syncedLsn : lsn;
}

/*
 * Open state grammar:  clean:u8 (1 = closed cleanly, 0 = open or crashed)  bootId:latin1*
 */
function openState(clean: boolean, bootId: string): Buffer {
  return Buffer.concat([Buffer.from([clean ? 1 : 0]), Buffer.from(bootId, 'latin1')]);
}

function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.from([META_PREFIX]), Buffer.from(name, 'latin1')]);
}

/** 'd' + key: one small allocation per key (from Buffer's pool), the price of a reserved-free key space. */
function dataKey(key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(key.length + 1);
  out[0] = DATA_PREFIX;
  out.set(key, 1);
  return out;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface LevelRange {
  gte?: Buffer;
  gt?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  reverse: boolean;
  limit: number;
  highWaterMarkBytes: number;
  fillCache: boolean;
}

/** The range in prefixed keys, clamped to the data space when a side is open. */
function levelRange(range: KeyRange): LevelRange {
  const out: LevelRange = {
    reverse: range.reverse === true,
    limit: range.limit ?? -1,
    highWaterMarkBytes: ITERATOR_CHUNK_BYTES,
    fillCache: true,
  };
  if (range.gte !== undefined) out.gte = dataKey(range.gte);
  else if (range.gt !== undefined) out.gt = dataKey(range.gt);
  else out.gte = DATA_LOW;
  if (range.lt !== undefined) out.lt = dataKey(range.lt);
  else if (range.lte !== undefined) out.lte = dataKey(range.lte);
  else out.lt = DATA_END;
  return out;
}

/** `cause.code` of an abstract-level error (open failures wrap the LevelDB status there). */
function causeCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || typeof err.cause !== 'object' || err.cause === null) return undefined;
  const code: unknown = (err.cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
