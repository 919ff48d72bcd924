/**
 * Options of the WAL, with their defaults and bounds. Every limit is named
 * with its unit last and can be overridden (config.ts passes them through).
 */
import { SluiceError } from '../../core/errors.ts';
import type { FlushMode } from './group-commit.ts';
import type { RecoveryMode } from './recovery.ts';
import { TORN_WRITE_BYTES_MAX } from './segment.ts';
import type { FlushInfo } from './wal-writer.ts';

const MiB = 1024 * 1024;
/** arenaKeptBytesMax unless 2 × flushBytesMax is more (WalOptions.arenaKeptBytesMax). */
const ARENA_KEPT_BYTES_DEFAULT = 16 * MiB;
/** Upper bound of preallocSegmentsAhead: each spare holds a whole segment of disk. */
export const PREALLOC_SEGMENTS_AHEAD_MAX = 4;

/** Options of `Wal.open`. */
export interface WalOptions {
  /** Directory of the segment files, normally `DATA_DIR/wal`; created if missing. */
  readonly dir: string;
  /**
   * A segment is rotated before a frame would take it past this size (a
   * single larger frame gets a segment of its own).
   * @default 67108864 (64 MiB)
   */
  readonly segmentBytesMax?: number;
  /**
   * Largest frame (header + type + LSN + payload). Guards recovery against a
   * garbage length; lowering it below an existing frame's size makes that
   * frame read as corrupt.
   * @default 67108864 (64 MiB)
   */
  readonly frameBytesMax?: number;
  /**
   * Buffered bytes at which a flush starts without waiting for any delay.
   * @default 65536 (64 KiB)
   */
  readonly flushBytesMax?: number;
  /**
   * A flush's buffer at most this big is kept and reused by a later batch;
   * a bigger one (after a burst, or a huge frame) is dropped. Under bulk
   * load a flush holds several ~150 KB frames: with a 1 MiB bound every
   * such flush grew a new buffer by doubling, ~1–2× the WAL's bytes again
   * in fresh Buffers, and those allocations are what start most of V8's
   * full collections (decision 41). Two buffers this big can stay held
   * (the next batch's and the spare). At least 2 × flushBytesMax.
   * @default 16 MiB, or 2 × flushBytesMax when that is more
   */
  readonly arenaKeptBytesMax?: number;
  /**
   * Writes of at most this many bytes are made on the calling thread (a
   * `write(2)` into the page cache, ~4 µs for a few KiB here) instead of in
   * libuv's thread pool (~15 µs to hand over, ~50 µs until the loop hears
   * back); only the fdatasync waits on the disk off the loop. Bigger writes
   * (bulk frames) stay in the pool so the loop never copies much at once.
   * 0: every write in the pool. At most TORN_WRITE_BYTES_MAX.
   * @default 65536 (64 KiB)
   */
  readonly loopWriteBytesMax?: number;
  /**
   * Hard cap on how long the WAL holds a buffered frame back before starting
   * its flush (a running fdatasync is waited for on top of it).
   * @default 200
   */
  readonly flushDelayMsMax?: number;
  /**
   * `idle`: flush on the next tick when no flush is running (lowest latency).
   * `adaptive`: under a high append rate, wait a clamped delay to gather
   * bigger batches (fewer fsyncs).
   * @default 'idle'
   */
  readonly flushMode?: FlushMode;
  /**
   * Lower clamp of the adaptive delay when it is active (it is 0 at low rate).
   * @default 1
   */
  readonly adaptiveDelayMsMin?: number;
  /**
   * Upper clamp of the adaptive delay; at most flushDelayMsMax.
   * @default 20
   */
  readonly adaptiveDelayMsMax?: number;
  /**
   * Bytes appended but not yet durable (buffered + in flight); beyond it
   * `append` rejects with OVERLOADED. At least frameBytesMax.
   * @default 268435456 (256 MiB)
   */
  readonly pendingBytesMax?: number;
  /**
   * Appends reject with DISK_FULL while the WAL's file system has less free
   * space than this; 0 disables the check.
   * @default 268435456 (256 MiB)
   */
  readonly diskFreeBytesMin?: number;
  /**
   * Minimum interval between two free-space measurements (statfs).
   * @default 1000
   */
  readonly diskCheckIntervalMs?: number;
  /**
   * Bound on the frame bytes handed to one `replay` callback (a single larger
   * frame is delivered alone).
   * @default 16777216 (16 MiB)
   */
  readonly replayBatchBytesMax?: number;
  /**
   * Size of one sequential read in recovery and replay.
   * @default 1048576 (1 MiB)
   */
  readonly readChunkBytes?: number;
  /**
   * `strict`: corruption before the tail stops `open` with WAL_CORRUPT.
   * `truncate`: everything from the bad frame on is discarded and reported
   * in `wal.recovery.corruption` (data loss: an operator's decision).
   * @default 'strict'
   */
  readonly recovery?: RecoveryMode;
  /**
   * The next LSN must be at least this. When the WAL ends below it (the
   * caller's index already holds frames the WAL lost, e.g. after a
   * `truncate` recovery), every remaining segment is deleted (all its frames
   * are below the mark, so the index has them) and appends continue at this
   * LSN, so no new frame reuses an LSN the index already applied.
   * @default 0n (no minimum)
   */
  readonly nextLsnMin?: bigint;
  /**
   * Zero-filled spare segments kept ready in the background, so rotation
   * finds a segment whose blocks exist and an fdatasync commits no file-size
   * change (preallocator.ts); 0 turns preallocation off (segments grow by
   * appending). Each spare takes segmentBytesMax bytes of disk.
   * @default 0
   */
  readonly preallocSegmentsAhead?: number;
  /**
   * Told when a spare segment could not be prepared (no space, I/O error):
   * the first failure after open or after a success. Appends go on in a
   * plain segment; log it. Must not throw.
   */
  readonly onPreallocationError?: (err: Error) => void;
  /** Observer called after every write + fdatasync (metrics). Must not throw. */
  readonly onFlush?: (info: FlushInfo) => void;
}

/** WalOptions with every default filled in. */
export type WalConfig = Required<Omit<WalOptions, 'onFlush' | 'onPreallocationError'>> & {
  readonly onFlush: ((info: FlushInfo) => void) | undefined;
  readonly onPreallocationError: ((err: Error) => void) | undefined;
};

/** Fills in defaults and checks bounds; bad values are INVALID_ARGUMENT. */
export function resolveWalOptions(options: WalOptions): WalConfig {
  const flushBytesMax = options.flushBytesMax ?? 64 * 1024;
  const config: WalConfig = {
    dir: options.dir,
    segmentBytesMax: options.segmentBytesMax ?? 64 * MiB,
    frameBytesMax: options.frameBytesMax ?? 64 * MiB,
    flushBytesMax,
    arenaKeptBytesMax: options.arenaKeptBytesMax ?? Math.max(ARENA_KEPT_BYTES_DEFAULT, 2 * flushBytesMax),
    loopWriteBytesMax: options.loopWriteBytesMax ?? 64 * 1024,
    flushDelayMsMax: options.flushDelayMsMax ?? 200,
    flushMode: options.flushMode ?? 'idle',
    adaptiveDelayMsMin: options.adaptiveDelayMsMin ?? 1,
    adaptiveDelayMsMax: options.adaptiveDelayMsMax ?? 20,
    pendingBytesMax: options.pendingBytesMax ?? 256 * MiB,
    diskFreeBytesMin: options.diskFreeBytesMin ?? 256 * MiB,
    diskCheckIntervalMs: options.diskCheckIntervalMs ?? 1000,
    replayBatchBytesMax: options.replayBatchBytesMax ?? 16 * MiB,
    readChunkBytes: options.readChunkBytes ?? MiB,
    recovery: options.recovery ?? 'strict',
    nextLsnMin: options.nextLsnMin ?? 0n,
    preallocSegmentsAhead: options.preallocSegmentsAhead ?? 0,
    onFlush: options.onFlush,
    onPreallocationError: options.onPreallocationError,
  };
  const positive = [
    'segmentBytesMax',
    'frameBytesMax',
    'flushBytesMax',
    'arenaKeptBytesMax',
    'pendingBytesMax',
    'replayBatchBytesMax',
    'readChunkBytes',
  ] as const;
  for (const key of positive) {
    if (!Number.isSafeInteger(config[key]) || config[key] <= 0) invalid(`${key} must be a positive integer, got ${config[key]}`);
  }
  const nonNegative = [
    'flushDelayMsMax',
    'adaptiveDelayMsMin',
    'adaptiveDelayMsMax',
    'diskFreeBytesMin',
    'diskCheckIntervalMs',
  ] as const;
  for (const key of nonNegative) {
    if (!Number.isFinite(config[key]) || config[key] < 0) invalid(`${key} must be a non-negative number, got ${config[key]}`);
  }
  if (!Number.isSafeInteger(config.preallocSegmentsAhead) || config.preallocSegmentsAhead < 0 || config.preallocSegmentsAhead > PREALLOC_SEGMENTS_AHEAD_MAX) {
    invalid(`preallocSegmentsAhead must be an integer in 0..${PREALLOC_SEGMENTS_AHEAD_MAX}, got ${config.preallocSegmentsAhead}`);
  }
  if (!Number.isSafeInteger(config.loopWriteBytesMax) || config.loopWriteBytesMax < 0 || config.loopWriteBytesMax > TORN_WRITE_BYTES_MAX) {
    invalid(`loopWriteBytesMax must be an integer in 0..${TORN_WRITE_BYTES_MAX}, got ${config.loopWriteBytesMax}`);
  }
  if (config.frameBytesMax > 0xffff_ffff) invalid('frameBytesMax must fit the u32 length field');
  if (config.pendingBytesMax < config.frameBytesMax) invalid('pendingBytesMax must be at least frameBytesMax');
  if (config.arenaKeptBytesMax < 2 * config.flushBytesMax) invalid('arenaKeptBytesMax must be at least 2 × flushBytesMax (a batch starts with a buffer that big)');
  if (config.adaptiveDelayMsMin > config.adaptiveDelayMsMax) invalid('adaptiveDelayMsMin must not exceed adaptiveDelayMsMax');
  if (config.adaptiveDelayMsMax > config.flushDelayMsMax) invalid('adaptiveDelayMsMax must not exceed flushDelayMsMax');
  if (config.flushMode !== 'idle' && config.flushMode !== 'adaptive') invalid(`flushMode must be 'idle' or 'adaptive'`);
  if (config.recovery !== 'strict' && config.recovery !== 'truncate') invalid(`recovery must be 'strict' or 'truncate'`);
  return config;
}

function invalid(message: string): never {
  throw new SluiceError('INVALID_ARGUMENT', `WAL options: ${message}`);
}
