/**
 * LmdbEngine: the B+tree index on lmdb-js (LMDB 0.9 + lmdb-js patches).
 *
 * Layout: one LMDB environment per directory holding two named databases,
 * `data` (the caller's keys and values as raw bytes, memcmp order) and
 * `meta` (the applied-LSN checkpoint). The root database only holds those
 * two names, so every key is free for the caller.
 *
 * Crash safety. A commit writes its puts and the checkpoint in one LMDB
 * write transaction, so they become visible, and durable, together. With
 * `overlappingSync` lmdb-js commits a transaction without fsync (its meta
 * page marked "not flushed"), releases the write lock, then fsyncs and
 * writes a "flushed" meta page; every meta page records the OS boot id.
 * On open:
 * - after a process crash (same boot id) LMDB uses the last committed
 *   transaction: its pages went to the page cache by pwrite() before the
 *   meta page pointing at them, and the page cache survives the process;
 * - after an OS crash (new boot id) it rolls back to the last flushed
 *   transaction, whose pages were fsync'd before its meta page was written.
 * Either way the tree is intact and the checkpoint belongs to the same
 * transaction as the data it claims. `noSync` (fsync only in `sync()`)
 * would be ~2x faster at 2,000-put batches, but an OS crash can then
 * persist a meta page before the pages it points to, or after LMDB reused
 * pages the on-disk tree still needs: a corrupt tree, not lost commits.
 *
 * Throughput. The flush runs on lmdb-js's write thread (never the event
 * loop) and a commit resolves after its transaction's flush, so one commit
 * at a time pays one fsync each. Batches queued while a transaction runs
 * share the next one (and its fsync), so pipelining pays: random 40-byte
 * keys, 4 commits in flight vs 1: 2,000-put batches 54k -> 71k puts/s,
 * 20,000-put batches 112k -> 223k puts/s (2 cores, Node 24). `sync()`
 * forces mdb_env_sync and resolves once every committed batch is on disk.
 *
 * Commit chaining. lmdb-js runs each batch as an asynchronous conditional
 * block (`ifVersion`) on the write thread, in call order, several batches
 * per LMDB transaction when they queue up. Each batch is conditional on the
 * checkpoint entry's version being the one the previous batch wrote, and
 * writes the next version: if a transaction fails (EIO, disk full), every
 * batch queued after it finds the wrong version and is skipped, so a later
 * checkpoint never covers a failed batch. The engine then refuses commits
 * until it is reopened (the WAL replays from the checkpoint).
 *
 * Threads: open an environment in one thread only and use the engine from
 * that thread (lmdb-js#48: crashes with worker_threads sharing an
 * environment). A directory may be opened once per process; a second open
 * fails with STORAGE_IO. Another process opening the same directory is not
 * detected here: the data dir lock (storage/dir-lock.ts) prevents it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { open } from 'lmdb';
import type { Database, RangeOptions, RootDatabase, RootDatabaseOptionsWithPath } from 'lmdb';
import { SluiceError } from '../../core/errors.ts';
import { checkKey, checkRange } from './engine-checks.ts';
import { closedError, failedError, storageError } from './engine-errors.ts';
import { decodeLsn, encodeLsn } from './lsn-bytes.ts';
import type { EngineOptions, KeyRange, StorageEngine, WriteBatch } from './storage-engine.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Options of the LMDB engine. */
export interface LmdbEngineOptions extends EngineOptions {
  /**
   * Initial size of the memory map (virtual address space, not disk). The
   * map grows by itself when the database outgrows it (lmdb-js remaps);
   * a larger start means fewer remaps. @default 1 GiB
   */
  readonly mapBytesInitial?: number;
}

const DEFAULT_MAP_BYTES_INITIAL = GiB;
/** 4 KiB pages give the 1978-byte key limit (ENGINE_KEY_BYTES_MAX). */
const PAGE_BYTES = 4096;
/** A chunked scan's entries per chunk at most, and its bytes (beyond one entry): a long scan stays constant-memory. */
const SCAN_CHUNK_ENTRIES = 1000;
const SCAN_CHUNK_BYTES = MiB;
const CHECKPOINT_KEY = Buffer.from('checkpoint', 'latin1');
const CLOSE_PROBE_KEY = Buffer.from('close-probe', 'latin1');
const CLOSE_PROBE_VALUE = Buffer.from([1]);

/** `RootDatabase.sync(callback)` (mdb_env_sync on a libuv thread) exists in lmdb-js but not in its typings. */
interface EnvSync {
  sync(callback: (err?: unknown) => void): void;
}

/** Directories with an environment open in this process (one environment per process and directory). */
const openDirs = new Set<string>();

/** One batch's queued operations; `values[i] === null` is a delete. */
interface LmdbOps {
  readonly keys: Uint8Array[];
  readonly values: (Uint8Array | null)[];
}

/** A binary key-value index on LMDB with an atomic applied-LSN checkpoint. */
export class LmdbEngine implements StorageEngine {
  readonly kind = 'lmdb' as const;
  readonly #dir: string;
  readonly #root: RootDatabase<Buffer, Buffer>;
  readonly #data: Database<Buffer, Buffer>;
  readonly #meta: Database<Buffer, Buffer>;
  /** Version of the checkpoint entry the next batch is conditional on. */
  #version: number;
  #checkpoint: bigint;
  /** The last submitted commit, settled (close waits for it). */
  #lastCommit: Promise<unknown> = Promise.resolve();
  #failure: unknown = undefined;
  #closing: Promise<void> | undefined;
  /** Open cursors, closed by `close()` before the environment goes away. */
  readonly #cursors = new Set<Iterator<unknown>>();

  private constructor(dir: string, root: RootDatabase<Buffer, Buffer>, data: Database<Buffer, Buffer>, meta: Database<Buffer, Buffer>) {
    this.#dir = dir;
    this.#root = root;
    this.#data = data;
    this.#meta = meta;
    const entry = meta.getEntry(CHECKPOINT_KEY);
    assert(entry !== undefined && entry.version !== undefined, 'checkpoint entry is written at open');
    this.#version = entry.version;
    this.#checkpoint = decodeLsn(entry.value);
  }

  /** Opens (creating if missing) the environment in `options.dir`. */
  static async open(options: LmdbEngineOptions): Promise<LmdbEngine> {
    const mapBytesInitial = options.mapBytesInitial ?? DEFAULT_MAP_BYTES_INITIAL;
    assert(Number.isSafeInteger(mapBytesInitial) && mapBytesInitial >= MiB, 'mapBytesInitial must be an integer >= 1 MiB');
    let dir: string;
    try {
      fs.mkdirSync(options.dir, { recursive: true });
      dir = fs.realpathSync(options.dir);
    } catch (err) {
      throw storageError(`cannot create the lmdb index dir ${options.dir}`, err);
    }
    if (openDirs.has(dir)) {
      throw new SluiceError('STORAGE_IO', `the lmdb index in ${dir} is already open in this process`);
    }
    let root: RootDatabase<Buffer, Buffer> | undefined;
    try {
      root = open<Buffer, Buffer>(rootOptions(dir, mapBytesInitial));
      const data = root.openDB<Buffer, Buffer>('data', { keyEncoding: 'binary', encoding: 'binary', compression: false, cache: false });
      const meta = root.openDB<Buffer, Buffer>('meta', {
        keyEncoding: 'binary',
        encoding: 'binary',
        compression: false,
        cache: false,
        useVersions: true,
      });
      if (meta.getEntry(CHECKPOINT_KEY) === undefined) {
        // Version 0 with LSN 0: the first batch is conditional on it.
        meta.putSync(CHECKPOINT_KEY, encodeLsn(0n), 0);
      }
      openDirs.add(dir);
      return new LmdbEngine(dir, root, data, meta);
    } catch (err) {
      await root?.close().catch(() => undefined);
      throw storageError(`cannot open the lmdb index in ${dir}`, err);
    }
  }

  batch(): WriteBatch {
    if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
    const ops: LmdbOps = { keys: [], values: [] };
    let committed = false;
    const put = (key: Uint8Array, value: Uint8Array): void => {
      if (committed) throw new assert.AssertionError({ message: 'put on a committed batch' });
      checkKey(key);
      ops.keys.push(key);
      ops.values.push(value);
    };
    return {
      put,
      // LMDB keys carry no prefix: the key proper is a view past the spare byte.
      putSpared: (spared: Buffer, value: Uint8Array): void => put(spared.subarray(1), value),
      del(key: Uint8Array): void {
        if (committed) throw new assert.AssertionError({ message: 'del on a committed batch' });
        checkKey(key);
        ops.keys.push(key);
        ops.values.push(null);
      },
      get size(): number {
        return ops.keys.length;
      },
      commit: (checkpointLsn: bigint): Promise<void> => {
        assert(!committed, 'a batch commits once');
        committed = true;
        return this.#commit(ops, checkpointLsn);
      },
    };
  }

  /** Queues one batch on the write thread, conditional on the previous batch's checkpoint version. */
  #commit(ops: LmdbOps, checkpointLsn: bigint): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError(this.kind, this.#dir));
    if (this.#failure !== undefined) return Promise.reject(failedError(this.kind, this.#dir, this.#failure));
    const lsnBytes = encodeLsn(checkpointLsn);
    const expected = this.#version;
    const next = expected + 1;
    this.#version = next;
    const data = this.#data;
    const meta = this.#meta;
    let written: Promise<boolean>;
    try {
      written = meta.ifVersion(CHECKPOINT_KEY, expected, () => {
        const { keys, values } = ops;
        for (let i = 0; i < keys.length; i++) {
          const value = values[i];
          if (value === null || value === undefined) data.remove(keys[i] as Buffer);
          else data.put(keys[i] as Buffer, value as Buffer);
        }
        meta.put(CHECKPOINT_KEY, lsnBytes, next);
      });
    } catch (err) {
      this.#failure = err;
      return Promise.reject(storageError(`lmdb commit failed in ${this.#dir}`, err));
    }
    const result = written.then(
      (applied) => {
        if (!applied) {
          // The checkpoint entry is not at the version the previous batch should have written.
          this.#failure ??= new Error('an earlier commit did not apply');
          throw failedError(this.kind, this.#dir, this.#failure);
        }
        this.#checkpoint = checkpointLsn;
      },
      async (err: unknown) => {
        // lmdb-js rejects with a generic "Commit failed" whose `commitError` promise holds the
        // cause; consume it here (it would otherwise be an unhandled rejection) and report it.
        const cause = await causeOf(err);
        this.#failure ??= cause;
        throw storageError(`lmdb commit failed in ${this.#dir}`, cause);
      },
    );
    this.#lastCommit = result.catch(() => undefined);
    return result;
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.#closing !== undefined) return Promise.reject(closedError(this.kind, this.#dir));
    try {
      checkKey(key);
      // Synchronous: a read from the memory map; the value is a fresh copy.
      return Promise.resolve(this.#data.get(key as Buffer));
    } catch (err) {
      return Promise.reject(storageError(`lmdb get failed in ${this.#dir}`, err));
    }
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
    for (const key of keys) checkKey(key);
    try {
      // Prefetches the pages on another thread (hard page faults off the event loop), then reads.
      return await this.#data.getMany(keys as Buffer[]);
    } catch (err) {
      throw storageError(`lmdb getMany failed in ${this.#dir}`, err);
    }
  }

  iterate(range: KeyRange): AsyncIterable<readonly [Uint8Array, Uint8Array]> {
    return { [Symbol.asyncIterator]: () => this.#iterate(range) };
  }

  iterateChunks(range: KeyRange): AsyncIterable<readonly (readonly [Uint8Array, Uint8Array])[]> {
    return { [Symbol.asyncIterator]: () => this.#chunks(range) };
  }

  async *#iterate(range: KeyRange): AsyncGenerator<readonly [Uint8Array, Uint8Array]> {
    const cursor = this.#openCursor(range);
    try {
      for (;;) {
        // Checked before every step: close() may have ended the read transaction.
        if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
        const step = this.#step(cursor);
        if (step.done === true) return;
        // Keys and values are copies (binary encodings slice out of lmdb-js's shared buffers).
        yield [step.value.key, step.value.value];
      }
    } finally {
      this.#closeCursor(cursor);
    }
  }

  async *#chunks(range: KeyRange): AsyncGenerator<readonly (readonly [Uint8Array, Uint8Array])[]> {
    const cursor = this.#openCursor(range);
    try {
      for (let done = false; !done; ) {
        if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
        // One chunk is read without a pause, so close() cannot end the read transaction in the middle of it.
        const entries: (readonly [Uint8Array, Uint8Array])[] = [];
        let bytes = 0;
        while (entries.length < SCAN_CHUNK_ENTRIES && bytes < SCAN_CHUNK_BYTES) {
          const step = this.#step(cursor);
          if ((done = step.done === true)) break;
          entries.push([step.value.key, step.value.value]);
          bytes += step.value.key.length + step.value.value.length;
        }
        if (entries.length > 0) yield entries;
      }
    } finally {
      this.#closeCursor(cursor);
    }
  }

  /** A cursor over `range` in one read transaction (a snapshot for the whole scan, like LevelDB's iterators). */
  #openCursor(range: KeyRange): Iterator<{ key: Buffer; value: Buffer }> {
    if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
    checkRange(range);
    let cursor: Iterator<{ key: Buffer; value: Buffer }>;
    try {
      cursor = this.#data.getRange(lmdbRange(range))[Symbol.iterator]();
    } catch (err) {
      throw storageError(`lmdb iterate failed in ${this.#dir}`, err);
    }
    this.#cursors.add(cursor);
    return cursor;
  }

  #step(cursor: Iterator<{ key: Buffer; value: Buffer }>): IteratorResult<{ key: Buffer; value: Buffer }> {
    try {
      return cursor.next();
    } catch (err) {
      throw storageError(`lmdb iterate failed in ${this.#dir}`, err);
    }
  }

  #closeCursor(cursor: Iterator<{ key: Buffer; value: Buffer }>): void {
    this.#cursors.delete(cursor);
    if (this.#closing === undefined) cursor.return?.();
  }

  checkpointLsn(): Promise<bigint> {
    if (this.#closing !== undefined) return Promise.reject(closedError(this.kind, this.#dir));
    return Promise.resolve(this.#checkpoint);
  }

  async sync(): Promise<void> {
    if (this.#closing !== undefined) throw closedError(this.kind, this.#dir);
    await this.#flush();
  }

  /**
   * Waits for the submitted commits, then fsyncs the environment on a libuv thread. A failed
   * fsync also stops commits: the kernel may have dropped the unwritten pages.
   */
  async #flush(): Promise<void> {
    await this.#lastCommit;
    await new Promise<void>((resolve, reject) => {
      (this.#root as unknown as EnvSync).sync((err?: unknown) => {
        if (err === undefined || err === null) return resolve();
        this.#failure ??= err;
        reject(storageError(`lmdb sync failed in ${this.#dir}`, err));
      });
    });
  }

  /**
   * Works around lmdb-js 3.5: after a failed transaction its pending "flushed" promise never
   * settles and `close()` waits on it forever. One successful write replaces that promise.
   * If even that write fails the environment stays open (until the process exits).
   */
  async #probeAfterFailure(): Promise<void> {
    try {
      await this.#meta.put(CLOSE_PROBE_KEY, CLOSE_PROBE_VALUE);
    } catch (err) {
      throw storageError(
        `cannot close the lmdb index in ${this.#dir} after a failed commit (left open until the process exits)`,
        await causeOf(err),
      );
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const cursor of this.#cursors) cursor.return?.();
    this.#cursors.clear();
    if (this.#failure !== undefined) await this.#probeAfterFailure();
    let flushError: unknown;
    try {
      await this.#flush();
    } catch (err) {
      flushError = err;
    }
    try {
      await this.#root.close();
    } catch (err) {
      flushError ??= storageError(`lmdb close failed in ${this.#dir}`, err);
    } finally {
      openDirs.delete(this.#dir);
    }
    if (flushError !== undefined) throw flushError;
  }
}

/** Explicit environment options (STYLE: never trust a library's durability defaults). */
function rootOptions(dir: string, mapBytesInitial: number): RootDatabaseOptionsWithPath {
  const options: RootDatabaseOptionsWithPath & { safeRestore: boolean } = {
    path: dir,
    // Without this, a directory name containing '.' would be taken as a file name.
    noSubdir: false,
    keyEncoding: 'binary',
    encoding: 'binary',
    compression: false,
    cache: false,
    maxDbs: 2,
    pageSize: PAGE_BYTES,
    mapSize: mapBytesInitial,
    remapChunks: false,
    // See the header: committed without fsync, flushed in the background, safe across crashes.
    overlappingSync: true,
    noSync: false,
    noMetaSync: false,
    useWritemap: false,
    // After a process crash, keep the last committed (not only the last flushed) transaction.
    safeRestore: false,
    // Only explicit batches group writes. With event-turn batching lmdb-js adds a hidden
    // commit promise per turn that nobody awaits: a failed commit would become an unhandled
    // rejection and take the process down.
    eventTurnBatching: false,
    commitDelay: 0,
  };
  return options;
}

/**
 * Maps a KeyRange to lmdb-js: `start` is where the scan begins (the high
 * bound when reverse), `end` where it stops, exclusive unless `inclusiveEnd`.
 */
function lmdbRange(range: KeyRange): RangeOptions {
  const low = range.gte ?? range.gt;
  const high = range.lt ?? range.lte;
  const out: { -readonly [K in keyof RangeOptions]: RangeOptions[K] } = { snapshot: true };
  if (range.limit !== undefined) out.limit = range.limit;
  if (range.reverse === true) {
    out.reverse = true;
    if (high !== undefined) {
      out.start = high as Buffer;
      out.exclusiveStart = range.lt !== undefined;
    }
    if (low !== undefined) {
      out.end = low as Buffer;
      out.inclusiveEnd = range.gte !== undefined;
    } else {
      // lmdb-js then stops at its default beginning key [0x00], exclusive: include it.
      out.inclusiveEnd = true;
    }
  } else {
    if (low !== undefined) {
      out.start = low as Buffer;
      out.exclusiveStart = range.gt !== undefined;
    }
    if (high !== undefined) {
      out.end = high as Buffer;
      out.inclusiveEnd = range.lte !== undefined;
    }
  }
  return out;
}

/** The error behind lmdb-js's generic commit failure: the rejection of its `commitError` promise. */
async function causeOf(err: unknown): Promise<unknown> {
  if (typeof err !== 'object' || err === null || !('commitError' in err)) return err;
  const detail: unknown = err.commitError;
  if (!(detail instanceof Promise)) return err;
  try {
    await detail;
    return err;
  } catch (cause) {
    return cause;
  }
}
