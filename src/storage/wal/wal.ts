/**
 * The write-ahead log of a node: one commit log for all tables and shards,
 * the single source of truth the index is rebuilt from. See README.md in
 * this folder for the frame grammar, the flush policy and the recovery rules.
 *
 * ```ts
 * const wal = await Wal.open({ dir: path.join(dataDir, 'wal') });
 * logger.info({ recovery: wal.recovery }, 'wal opened');
 * await wal.replay(index.appliedLsn + 1n, async (frames) => index.apply(frames));
 * const lsn = await wal.append(FRAME_TYPE_RECORDS, payload); // durable now
 * await wal.releaseBefore(index.syncedLsn + 1n);
 * ```
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../../core/errors.ts';
import { DiskSpaceGuard } from './disk-space-guard.ts';
import { GroupCommit } from './group-commit.ts';
import type { FrameSink } from './group-commit.ts';
import { SegmentPreallocator } from './preallocator.ts';
import type { PreallocationStatus } from './preallocator.ts';
import { recoverWal } from './recovery.ts';
import type { RecoveryReport } from './recovery.ts';
import { SEGMENT_HEADER_BYTES, createSegment, syncDir } from './segment.ts';
import type { SegmentInfo } from './segment.ts';
import { resolveWalOptions } from './wal-options.ts';
import type { WalConfig, WalOptions } from './wal-options.ts';
import { replayWal } from './wal-reader.ts';
import type { ReplayHandler, ReplayResult } from './wal-reader.ts';
import { WalWriter } from './wal-writer.ts';

export type { FlushMode } from './group-commit.ts';
export type { RecoveryCut, RecoveryMode, RecoveryReport } from './recovery.ts';
export type { WalOptions } from './wal-options.ts';
export type { ReplayHandler, ReplayResult, WalFrame } from './wal-reader.ts';
export type { FlushInfo } from './wal-writer.ts';
export type { PreallocationStatus } from './preallocator.ts';

export class Wal {
  /** What recovery found and did on open; log it (`corruption` at error level). */
  readonly recovery: RecoveryReport;
  readonly #config: WalConfig;
  /** Segments in LSN order; the last is the active one. Rotation appends, retention removes from the front. */
  readonly #segments: SegmentInfo[];
  readonly #writer: WalWriter;
  readonly #commit: GroupCommit;
  readonly #diskGuard: DiskSpaceGuard;
  readonly #preallocator: SegmentPreallocator | undefined;
  /** Lowest LSN each running replay may still read; retention keeps those segments. */
  readonly #replayFloors = new Set<{ lsn: bigint }>();
  #releasing: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    config: WalConfig;
    recovery: RecoveryReport;
    segments: SegmentInfo[];
    writer: WalWriter;
    diskGuard: DiskSpaceGuard;
    preallocator: SegmentPreallocator | undefined;
  }) {
    this.#config = parts.config;
    this.#preallocator = parts.preallocator;
    this.recovery = parts.recovery;
    this.#segments = parts.segments;
    this.#writer = parts.writer;
    this.#diskGuard = parts.diskGuard;
    const writer = parts.writer;
    const diskGuard = parts.diskGuard;
    const sink: FrameSink = {
      async write(bytes, frameEnds, firstLsn, onDurable) {
        try {
          await writer.write(bytes, frameEnds, firstLsn, onDurable);
        } catch (err) {
          if (err instanceof SluiceError && err.code === 'DISK_FULL') diskGuard.invalidate();
          throw err;
        }
      },
    };
    this.#commit = new GroupCommit(sink, writer.lastLsn, parts.config);
  }

  /** Creates the directory if needed, recovers the WAL and opens it for appends. */
  static async open(options: WalOptions): Promise<Wal> {
    const config = resolveWalOptions(options);
    await ensureDir(config.dir);
    const recovered = await recoverWal(config);
    const segments = [...recovered.segments];
    let activeBytes = recovered.activeBytes;
    let lastLsn = recovered.lastLsn;
    if (config.nextLsnMin > lastLsn + 1n) {
      // Every frame left is below the mark, so the caller's index holds it.
      for (const segment of segments) await fs.rm(segment.path);
      if (segments.length > 0) await syncDir(config.dir);
      segments.length = 0;
      lastLsn = config.nextLsnMin - 1n;
    }
    if (segments.length === 0) {
      const created = await createSegment(config.dir, lastLsn + 1n);
      await created.handle.close();
      segments.push(created.info);
      activeBytes = SEGMENT_HEADER_BYTES;
    }
    const diskGuard = new DiskSpaceGuard({
      dir: config.dir,
      freeBytesMin: config.diskFreeBytesMin,
      checkIntervalMs: config.diskCheckIntervalMs,
    });
    await diskGuard.refresh();
    if (config.preallocSegmentsAhead === 0) await SegmentPreallocator.removeAll(config.dir);
    const preallocator =
      config.preallocSegmentsAhead === 0
        ? undefined
        : await SegmentPreallocator.open({
            dir: config.dir,
            segmentBytes: config.segmentBytesMax,
            sparesMax: config.preallocSegmentsAhead,
            freeBytesMin: config.diskFreeBytesMin,
            onFilled: (bytes) => diskGuard.consumed(bytes),
            ...(config.onPreallocationError === undefined ? {} : { onFailed: config.onPreallocationError }),
          });
    const userOnFlush = config.onFlush;
    // A failed open must not leave a fill running for a WAL nobody holds.
    const writer = await WalWriter.open(segments.at(-1)!, activeBytes, lastLsn, {
      dir: config.dir,
      segmentBytesMax: config.segmentBytesMax,
      loopWriteBytesMax: config.loopWriteBytesMax,
      onFlush: (info) => {
        diskGuard.consumed(info.bytes);
        userOnFlush?.(info);
      },
      onSegmentCreated: (segment) => {
        // A spare can replace the empty active segment under the same name.
        if (segments.at(-1)?.firstLsn === segment.firstLsn) segments[segments.length - 1] = segment;
        else segments.push(segment);
      },
      takeSpare: preallocator === undefined ? undefined : () => preallocator.take(),
    }).catch(async (err: unknown) => {
      await preallocator?.close();
      throw err;
    });
    return new Wal({ config, recovery: recovered.report, segments, writer, diskGuard, preallocator });
  }

  /** LSN of the last durable (acknowledged) frame; 0n for an empty WAL. */
  get lastLsn(): bigint {
    return this.#writer.lastLsn;
  }

  /** Lowest LSN the WAL still holds (older segments were released). */
  get firstLsn(): bigint {
    return this.#segments[0]!.firstLsn;
  }

  /** Current adaptive flush delay in ms (0 in idle mode or at a low append rate). */
  get adaptiveDelayMs(): number {
    return this.#commit.adaptiveDelayMs;
  }

  /** What segment preallocation did so far; undefined when it is off (preallocSegmentsAhead 0). */
  get preallocation(): PreallocationStatus | undefined {
    return this.#preallocator?.status;
  }

  /** Resolves when no spare segment is being zero-filled (tests and benches wait for the spares with it). */
  async preallocationIdle(): Promise<void> {
    await this.#preallocator?.idle();
  }

  /** Number of segment files. */
  get segmentCount(): number {
    return this.#segments.length;
  }

  /**
   * Appends one payload as a frame of `type` (1..255). The LSN is assigned
   * synchronously, so call order is LSN order; the promise resolves with it
   * once the frame is fdatasync'd, strictly in LSN order. Rejects with
   * DISK_FULL, WAL_IO, OVERLOADED, PAYLOAD_TOO_LARGE or SHUTTING_DOWN.
   */
  append(type: number, payload: Uint8Array): Promise<bigint> {
    if (this.#closing === undefined) {
      const full = this.#diskGuard.check();
      if (full !== undefined) return Promise.reject(full);
    }
    return this.#commit.append(type, payload);
  }

  /**
   * Delivers every durable frame with `lsn >= fromLsn` (up to `lastLsn` at
   * the time of the call) in bounded batches; each `onBatch` is awaited
   * before the next batch is read.
   */
  async replay(fromLsn: bigint, onBatch: ReplayHandler): Promise<ReplayResult> {
    if (this.#closing !== undefined) throw new SluiceError('SHUTTING_DOWN', 'the WAL is closed');
    const from = fromLsn < 1n ? 1n : fromLsn;
    const to = this.lastLsn;
    if (from > to) return { frames: 0, batches: 0, lastLsn: from - 1n };
    if (from < this.firstLsn) {
      throw new SluiceError(
        'INVALID_ARGUMENT',
        `cannot replay the WAL from LSN ${from}: it starts at LSN ${this.firstLsn} (older segments were released)`,
      );
    }
    const floor = { lsn: from };
    this.#replayFloors.add(floor);
    try {
      return await replayWal(
        {
          segments: [...this.#segments],
          fromLsn: from,
          toLsn: to,
          replayBatchBytesMax: this.#config.replayBatchBytesMax,
          readChunkBytes: this.#config.readChunkBytes,
          frameBytesMax: this.#config.frameBytesMax,
          onProgress: (lsn) => {
            floor.lsn = lsn;
          },
        },
        onBatch,
      );
    } finally {
      this.#replayFloors.delete(floor);
    }
  }

  /**
   * Deletes whole segments whose every frame has an LSN below `lsn` (never
   * the active segment, nor one a running replay still needs). Call it once
   * the index has synced past `lsn - 1`. Returns the number deleted.
   */
  releaseBefore(lsn: bigint): Promise<number> {
    const run = this.#releasing.then(() => this.#release(lsn));
    this.#releasing = run.catch(() => undefined);
    return run;
  }

  /** Flushes and fsyncs pending appends, then closes; later appends reject with SHUTTING_DOWN. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#commit.close();
      await this.#preallocator?.close();
      await this.#writer.close();
    })();
    return this.#closing;
  }

  async #release(lsn: bigint): Promise<number> {
    let limit = lsn;
    for (const floor of this.#replayFloors) if (floor.lsn < limit) limit = floor.lsn;
    const released: SegmentInfo[] = [];
    // Segment i holds LSNs [first_i, first_{i+1}); it is all below `limit`
    // exactly when the next one starts at or before it.
    while (this.#segments.length > 1 && this.#segments[1]!.firstLsn <= limit) released.push(this.#segments.shift()!);
    try {
      for (const segment of released) await fs.rm(segment.path);
      if (released.length > 0) await syncDir(this.#config.dir);
    } catch (err) {
      // A segment left on disk is harmless: the next open reads it again.
      throw new SluiceError('WAL_IO', `releasing WAL segments failed: ${String(err)}`, [], { cause: err });
    }
    return released.length;
  }
}

/** Creates `dir` if missing and makes its entry durable in the parent. */
async function ensureDir(dir: string): Promise<void> {
  const existed = await fs.stat(dir).then(
    () => true,
    () => false,
  );
  if (existed) return;
  await fs.mkdir(dir, { recursive: true });
  await syncDir(path.dirname(dir));
}
