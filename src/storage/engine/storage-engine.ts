/**
 * The one interface both index engines (LMDB B+tree, LevelDB LSM) implement.
 * The engine is a materialized view of the WAL: it holds binary keys and
 * values and the LSN of the last WAL frame applied, written atomically with
 * the data so recovery knows where to resume replay.
 *
 * Keys compare as unsigned bytes (memcmp); the key layout that makes a shard
 * one contiguous range lives in `storage/index/key-layout.ts`. Every byte string of
 * 1..ENGINE_KEY_BYTES_MAX bytes is a valid key: engines keep their own
 * metadata outside the data key space.
 *
 * Implementations: `lmdb-engine.ts`, `level-engine.ts`; `open-engine.ts`
 * picks one by kind.
 */

/**
 * Longest key (bytes) every engine accepts: LMDB's limit with 4 KiB pages.
 * Longer keys throw `KEY_TOO_LARGE` on both engines, so the choice of engine
 * never changes which records a node accepts.
 */
export const ENGINE_KEY_BYTES_MAX = 1978;

/** Which engine implementation a node uses. */
export type EngineKind = 'lmdb' | 'level';

/** A key range; bounds are optional, `gte`/`gt` and `lt`/`lte` are exclusive pairs. */
export interface KeyRange {
  readonly gte?: Uint8Array;
  readonly gt?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly lte?: Uint8Array;
  readonly reverse?: boolean;
  /** Maximum entries returned; unbounded when absent. */
  readonly limit?: number;
}

/**
 * A group of writes applied atomically with a checkpoint. The engine may keep
 * references to the keys and values passed in until `commit` settles: do not
 * mutate them before. If a commit fails, every later commit of the engine
 * fails too (the checkpoint never claims data that is missing); reopen the
 * engine and replay the WAL from `checkpointLsn()`.
 */
export interface WriteBatch {
  /** Queues a put; throws `KEY_TOO_LARGE` past ENGINE_KEY_BYTES_MAX. */
  put(key: Uint8Array, value: Uint8Array): void;
  /**
   * `put` of the key `spared.subarray(1)`: the caller built it one byte in,
   * and `spared[0]` is the engine's to overwrite, so an engine that prefixes
   * its keys writes its prefix there instead of copying every key (the
   * index's per-record put).
   */
  putSpared(spared: Buffer, value: Uint8Array): void;
  /** Queues a delete; throws `KEY_TOO_LARGE` past ENGINE_KEY_BYTES_MAX. */
  del(key: Uint8Array): void;
  /** Number of operations queued so far. */
  readonly size: number;
  /**
   * Applies every queued operation and stores `checkpointLsn` in the same
   * atomic write. Resolves when the engine has committed (not necessarily
   * fsync'd: the WAL is the durable copy; see `sync`). Commits may be
   * pipelined (call the next before this one resolves); they still apply in
   * call order, and LMDB then shares one transaction among queued batches.
   */
  commit(checkpointLsn: bigint): Promise<void>;
}

/** Options every engine takes. */
export interface EngineOptions {
  /** Directory owned by the engine (created if missing). */
  readonly dir: string;
}

/**
 * A binary key-value index with an atomic applied-LSN checkpoint. After a
 * crash, everything up to `checkpointLsn()` is present; an engine may also
 * hold some effects of batches past it (LevelDB after an OS crash), so
 * replaying the WAL from the checkpoint must be idempotent.
 */
export interface StorageEngine {
  readonly kind: EngineKind;
  /** Starts a write batch; batches commit in the order `commit` is called. */
  batch(): WriteBatch;
  /** One value, or undefined. Reads see every committed batch. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Values for many keys, in order, undefined where absent. */
  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /**
   * Entries in key order (or reverse) within the range, streamed from a
   * snapshot taken at the first step; keys and values are the caller's to
   * keep. Finish or break out of long scans: an open LMDB snapshot keeps
   * freed pages from being reused.
   */
  iterate(range: KeyRange): AsyncIterable<readonly [Uint8Array, Uint8Array]>;
  /**
   * The entries `iterate` gives, in non-empty arrays of up to ~1,000 (and
   * ~1 MiB): a long scan pays a promise per array, not per entry.
   */
  iterateChunks(range: KeyRange): AsyncIterable<readonly (readonly [Uint8Array, Uint8Array])[]>;
  /** LSN stored by the last committed batch (0n for a new engine). */
  checkpointLsn(): Promise<bigint>;
  /** Makes every committed batch durable on disk (fsync). */
  sync(): Promise<void>;
  /** Closes the engine; idempotent. */
  close(): Promise<void>;
}
