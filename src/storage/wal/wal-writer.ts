/**
 * Durable writes into the active segment: rotation, write + fdatasync, and
 * the failure rules.
 *
 * - ENOSPC/EDQUOT on write: the segment is truncated back to the last
 *   durable offset (so no half frame is left for recovery to call
 *   corruption), DISK_FULL is thrown and the writer stays usable.
 * - Any other write error, and any fdatasync error: WAL_IO and the writer is
 *   failed for good. After a failed fsync the kernel may have dropped the
 *   dirty pages and a retry can "succeed" without the data ("fsyncgate",
 *   PostgreSQL 2018), so the only safe path is a restart and recovery.
 * - Preallocated segments (SEGMENT_FLAG_PREALLOCATED): rotation takes a
 *   zero-filled spare when one is ready, and a segment that is not (fully)
 *   preallocated — the one created at open, or one cut after a torn tail —
 *   is left for a spare as soon as one is ready. In a preallocated segment
 *   each fdatasync covers at most TORN_WRITE_BYTES_MAX bytes and starts at a
 *   frame (syncChunkEnds): recovery's torn-tail rule relies on both.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { SluiceError, errnoCode } from '../../core/errors.ts';
import type { FrameSink } from './group-commit.ts';
import {
  SEGMENT_FLAG_PREALLOCATED,
  SEGMENT_HEADER_BYTES,
  TORN_WRITE_BYTES_MAX,
  activateSpare,
  createSegment,
  decodeSegmentHeader,
  segmentHeaderFlags,
  writeAll,
  writeAllSync,
} from './segment.ts';
import type { SegmentInfo } from './segment.ts';

/** What one write + fdatasync did, for metrics. */
export interface FlushInfo {
  readonly bytes: number;
  readonly frames: number;
  readonly fsyncMs: number;
}

export interface WalWriterOptions {
  readonly dir: string;
  readonly segmentBytesMax: number;
  /** Writes up to this size are made on the event loop, bigger ones in the thread pool (wal-options.ts). */
  readonly loopWriteBytesMax: number;
  /** Called after every fdatasync. */
  readonly onFlush: ((info: FlushInfo) => void) | undefined;
  /** Called when rotation created a new segment (already durable in the directory). */
  readonly onSegmentCreated: (segment: SegmentInfo) => void;
  /** A zero-filled spare file to rotate into, if one is ready (preallocator.ts); undefined disables preallocation. */
  readonly takeSpare: (() => string | undefined) | undefined;
}

/** How the active segment was laid out. */
interface SegmentLayout {
  /** Its header carries SEGMENT_FLAG_PREALLOCATED: fdatasyncs are capped at TORN_WRITE_BYTES_MAX. */
  readonly preallocated: boolean;
  /** Zero-filled to at least segmentBytesMax: nothing to gain from moving to a spare. */
  readonly fullSize: boolean;
}

function isDiskFull(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export class WalWriter implements FrameSink {
  readonly #options: WalWriterOptions;
  #handle: FileHandle;
  #segment: SegmentInfo;
  /** Durable end of the active segment: the next frame goes here. */
  #offset: number;
  #lastLsn: bigint;
  #layout: SegmentLayout;
  #failure: SluiceError | undefined;
  #closed = false;

  private constructor(
    handle: FileHandle,
    segment: SegmentInfo,
    offset: number,
    lastLsn: bigint,
    layout: SegmentLayout,
    options: WalWriterOptions,
  ) {
    this.#handle = handle;
    this.#segment = segment;
    this.#offset = offset;
    this.#lastLsn = lastLsn;
    this.#layout = layout;
    this.#options = options;
  }

  /** Opens `segment` for appending at `offset` (its durable end, as recovery found it). */
  static async open(segment: SegmentInfo, offset: number, lastLsn: bigint, options: WalWriterOptions): Promise<WalWriter> {
    assert(offset >= SEGMENT_HEADER_BYTES, 'active segment offset must be past the header');
    // 'r+' and explicit positions: O_APPEND would make the kernel ignore them.
    const handle = await fs.open(segment.path, 'r+');
    const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
    await handle.read(header, 0, SEGMENT_HEADER_BYTES, 0);
    // Recovery validated the header; the flag decides how this segment is written.
    const preallocated = decodeSegmentHeader(header).status === 'ok' && (segmentHeaderFlags(header) & SEGMENT_FLAG_PREALLOCATED) !== 0;
    const fullSize = preallocated && (await handle.stat()).size >= options.segmentBytesMax;
    return new WalWriter(handle, segment, offset, lastLsn, { preallocated, fullSize }, options);
  }

  /** LSN of the last durable frame. */
  get lastLsn(): bigint {
    return this.#lastLsn;
  }

  /** Set once the writer failed for good. */
  get failure(): SluiceError | undefined {
    return this.#failure;
  }

  async write(bytes: Buffer, frameEnds: readonly number[], firstLsn: bigint, onDurable: (frames: number) => void): Promise<void> {
    assert(this.#failure === undefined && !this.#closed, 'write on a failed or closed WAL writer');
    assert.equal(firstLsn, this.#lastLsn + 1n, 'WAL writes must continue the LSN sequence');
    const { segmentBytesMax } = this.#options;
    if (!this.#layout.fullSize) await this.#moveToSpare(firstLsn);
    let frame = 0;
    let start = 0;
    while (frame < frameEnds.length) {
      // A frame that would overflow a non-empty segment starts a new one; a
      // frame bigger than a whole segment gets a segment of its own.
      if (this.#offset > SEGMENT_HEADER_BYTES && this.#offset + frameEnds[frame]! - start > segmentBytesMax) {
        await this.#rotate(firstLsn + BigInt(frame));
      }
      let next = frame + 1;
      while (next < frameEnds.length && this.#offset + frameEnds[next]! - start <= segmentBytesMax) next++;
      const end = frameEnds[next - 1]!;
      await this.#writeDurably(bytes.subarray(start, end), frameEnds.slice(frame, next).map((e) => e - start));
      onDurable(next - frame);
      frame = next;
      start = end;
    }
  }

  /** Closes the segment file; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#handle.close();
    } catch (err) {
      // A failed writer already reported its error; its handle may be the broken part.
      if (this.#failure === undefined) {
        throw new SluiceError('WAL_IO', `closing ${this.#segment.path} failed: ${String(err)}`, [], { cause: err });
      }
    }
  }

  /** Writes and fdatasyncs `piece`, whole frames ending at `frameEnds` (relative to it). */
  async #writeDurably(piece: Buffer, frameEnds: readonly number[]): Promise<void> {
    const position = this.#offset;
    // Over preallocated blocks the pages of one fdatasync may persist in any order on power loss: bound what
    // one fdatasync covers, and start each at a frame (see syncChunkEnds and TORN_WRITE_BYTES_MAX).
    const ends = this.#layout.preallocated ? syncChunkEnds(frameEnds, TORN_WRITE_BYTES_MAX) : [piece.length];
    let fsyncMs = 0;
    let done = 0;
    for (const end of ends) {
      try {
        const chunk = piece.subarray(done, end);
        // A small write into the page cache costs less than its hand-over to the pool (wal-options.ts).
        if (chunk.length <= this.#options.loopWriteBytesMax) writeAllSync(this.#handle.fd, chunk, position + done);
        else await writeAll(this.#handle, chunk, position + done);
      } catch (err) {
        throw await this.#writeFailed(err, position);
      }
      const startedMs = performance.now();
      try {
        await this.#handle.datasync();
      } catch (err) {
        throw this.#fail('fdatasync', err);
      }
      fsyncMs += performance.now() - startedMs;
      done = end;
    }
    this.#offset += piece.length;
    this.#lastLsn += BigInt(frameEnds.length);
    this.#notify({ bytes: piece.length, frames: frameEnds.length, fsyncMs });
  }

  async #writeFailed(err: unknown, position: number): Promise<SluiceError> {
    if (!isDiskFull(err)) return this.#fail('write', err);
    try {
      await this.#handle.truncate(position);
      await this.#handle.datasync();
    } catch (truncateErr) {
      return this.#fail('truncate after a full disk', truncateErr);
    }
    this.#layout = { preallocated: this.#layout.preallocated, fullSize: false };
    return new SluiceError(
      'DISK_FULL',
      `disk full writing WAL segment ${this.#segment.path}; the partial write was truncated at byte ${position}`,
      [],
      { cause: err },
    );
  }

  /**
   * Leaves a segment that is not fully preallocated for a ready spare. A
   * spare that cannot be prepared is not an error here: the writer keeps
   * appending to the segment it has (the preallocator makes another).
   */
  async #moveToSpare(firstLsn: bigint): Promise<void> {
    const activated = await this.#activateSpare(firstLsn);
    if (activated !== undefined) await this.#switchTo(activated, { preallocated: true, fullSize: true });
  }

  /** A ready spare made the segment starting at `firstLsn`, or undefined when none is ready or usable. */
  async #activateSpare(firstLsn: bigint): Promise<{ info: SegmentInfo; handle: FileHandle } | undefined> {
    const spare = this.#options.takeSpare?.();
    if (spare === undefined) return undefined;
    try {
      return await activateSpare(this.#options.dir, spare, firstLsn);
    } catch (err) {
      throw this.#fail('rename of a preallocated segment', err);
    }
  }

  async #rotate(firstLsn: bigint): Promise<void> {
    const activated = await this.#activateSpare(firstLsn);
    if (activated !== undefined) return this.#switchTo(activated, { preallocated: true, fullSize: true });
    let created: Awaited<ReturnType<typeof createSegment>>;
    try {
      created = await createSegment(this.#options.dir, firstLsn);
    } catch (err) {
      if (!isDiskFull(err)) throw this.#fail('create segment', err);
      throw new SluiceError('DISK_FULL', `disk full creating WAL segment at LSN ${firstLsn} in ${this.#options.dir}`, [], { cause: err });
    }
    await this.#switchTo(created, { preallocated: false, fullSize: false });
  }

  /** Makes a new, durable segment the active one. */
  async #switchTo(created: { info: SegmentInfo; handle: FileHandle }, layout: SegmentLayout): Promise<void> {
    const previous = this.#handle;
    this.#handle = created.handle;
    this.#segment = created.info;
    this.#offset = SEGMENT_HEADER_BYTES;
    this.#layout = layout;
    this.#options.onSegmentCreated(created.info);
    // Every byte of the previous segment was fdatasync'd already, so a close
    // error cannot hide lost data.
    await previous.close().catch(() => undefined);
  }

  #fail(operation: string, err: unknown): SluiceError {
    this.#failure = new SluiceError(
      'WAL_IO',
      `WAL ${operation} failed on ${this.#segment.path} (${errnoCode(err) ?? String(err)}); ` +
        'the WAL refuses writes until the node restarts and recovers',
      [],
      { cause: err },
    );
    return this.#failure;
  }

  /** A throwing metrics hook is a programmer error: rethrow it outside the I/O path so the WAL state stays right. */
  #notify(info: FlushInfo): void {
    if (this.#options.onFlush === undefined) return;
    try {
      this.#options.onFlush(info);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/**
 * Where the fdatasync'd chunks of a flush end, in a preallocated segment:
 * each at most `bound` bytes, and each starting where a frame starts, so
 * that a chunk torn by a power loss shows its zeros at or after its own
 * start (at a frame's first byte or at a later sector), which is where
 * recovery measures the bound from (recovery.ts). A frame larger than
 * `bound` is cut into parts of `bound` bytes whose chunks hold no other
 * frame's start, and the frame after it starts a chunk of its own.
 * `frameEnds` are increasing, relative to the flush; the last is its length.
 */
export function syncChunkEnds(frameEnds: readonly number[], bound: number): number[] {
  const out: number[] = [];
  let chunkStart = 0;
  let frameStart = 0;
  for (const end of frameEnds) {
    if (end - chunkStart > bound && frameStart > chunkStart) {
      out.push(frameStart);
      chunkStart = frameStart;
    }
    if (end - chunkStart > bound) {
      while (end - chunkStart > bound) {
        chunkStart += bound;
        out.push(chunkStart);
      }
      out.push(end);
      chunkStart = end;
    }
    frameStart = end;
  }
  if (chunkStart < frameStart) out.push(frameStart);
  return out;
}
