/**
 * Recovery on open: validates every segment header and every frame (length,
 * CRC, LSN continuity), repairs a torn tail, and refuses to open on
 * corruption anywhere else.
 *
 * The rules (DESIGN §2, §7):
 * - A torn tail — incomplete or bad bytes at the very end of the last
 *   segment with no valid later frame — is what a crash during a write
 *   leaves. Those frames were never acknowledged (the ack waits for
 *   fdatasync), so the file is truncated at the last valid frame and the cut
 *   is reported.
 * - A bad frame anywhere else (a non-last segment, or followed by a valid
 *   frame with a higher LSN), a bad header, or an LSN gap between segments
 *   means acknowledged data is damaged: open fails with WAL_CORRUPT naming
 *   the file and byte offset. With `recovery: 'truncate'` everything from
 *   the bad spot on is discarded instead and reported as `corruption`.
 * - A preallocated segment (SEGMENT_FLAG_PREALLOCATED) ends where its frames
 *   give way to zeros up to the end of the file: that is its normal end, not
 *   a torn tail. Bytes that are neither frames nor zeros follow the torn-tail
 *   rule, except that when the bad frame shows a torn write's zeros
 *   (torn-write.ts), a valid frame within TORN_WRITE_BYTES_MAX of them is not
 *   evidence of damage: over preallocated blocks a power loss can persist the
 *   pages of the last unsynced write in any order, and the writer never lets
 *   one fdatasync cover more than that many bytes.
 * - Frames of an older generation (lower LSNs, as a recycled file would
 *   hold) never pass the LSN check, and only a frame with an LSN above the
 *   last good one counts as "a valid frame follows".
 */
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { SluiceError, errnoCode } from '../../core/errors.ts';
import { FRAME_HEADER_BYTES, FRAME_OVERHEAD_BYTES, decodeFrame, mayBeFrameAt } from './frame-v1.ts';
import {
  SEGMENT_FLAG_PREALLOCATED,
  SEGMENT_HEADER_BYTES,
  TORN_WRITE_BYTES_MAX,
  decodeSegmentHeader,
  listSegments,
  rewriteSegmentHeader,
  segmentHeaderFlags,
  syncDir,
} from './segment.ts';
import type { SegmentInfo } from './segment.ts';
import { SegmentReader } from './segment-reader.ts';
import { allZeroFrom, tornWriteZerosAt } from './torn-write.ts';

/** What recovery does with corruption before the tail. */
export type RecoveryMode = 'strict' | 'truncate';

/** Where recovery cut the WAL and why. */
export interface RecoveryCut {
  /** Segment file name. */
  readonly segment: string;
  /** Byte offset in that file of the first discarded byte. */
  readonly offset: number;
  /** Bytes discarded, in this segment and in any later segment deleted. */
  readonly bytesDiscarded: number;
  readonly reason: string;
}

/** What recovery found and did; the caller logs it (`corruption` loudly). */
export interface RecoveryReport {
  readonly segmentsScanned: number;
  /** Valid frames kept. */
  readonly frames: number;
  /** Bytes kept (headers + frames). */
  readonly bytes: number;
  /** LSN of the oldest frame kept, or 0n when the WAL holds none. */
  readonly firstLsn: bigint;
  /** LSN of the newest frame kept; 0n for an empty WAL. */
  readonly lastLsn: bigint;
  /** A torn tail that was truncated (normal after a crash). */
  readonly tornTail: RecoveryCut | null;
  /** Corruption discarded under `recovery: 'truncate'` (data loss: log at error level). */
  readonly corruption: RecoveryCut | null;
  /** Segment files deleted because they came after a corruption cut. */
  readonly deletedSegments: readonly string[];
  readonly durationMs: number;
}

/** Recovery's result: the report and the state the writer resumes from. */
export interface RecoveredWal {
  readonly report: RecoveryReport;
  /** Remaining segments in LSN order; the last one is where appends continue. */
  readonly segments: readonly SegmentInfo[];
  /** Durable end of the last segment (where the next frame goes). */
  readonly activeBytes: number;
  readonly lastLsn: bigint;
}

/** Recovery settings (a subset of the WAL options). */
export interface RecoveryOptions {
  readonly dir: string;
  readonly frameBytesMax: number;
  readonly readChunkBytes: number;
  readonly recovery: RecoveryMode;
}

/** Outcome of scanning one segment. */
type SegmentScan =
  | { readonly status: 'ok'; readonly frames: number; readonly endOffset: number; readonly lastLsn: bigint }
  | {
      readonly status: 'bad';
      readonly frames: number;
      /** Offset of the first bad byte; frames before it are valid. */
      readonly offset: number;
      readonly lastLsn: bigint;
      readonly reason: string;
      /** The bad spot is the torn tail of the file (no valid frame after it). */
      readonly torn: boolean;
      /** The whole segment is out of sequence (LSN gap): repair deletes it instead of cutting it. */
      readonly dropSegment: boolean;
    };

/** Scans and repairs the WAL in `options.dir` (which must exist). */
export async function recoverWal(options: RecoveryOptions): Promise<RecoveredWal> {
  const startedMs = performance.now();
  const all = await listSegments(options.dir);
  const state = { kept: [] as SegmentInfo[], frames: 0, bytes: 0, lastLsn: 0n, activeBytes: 0 };
  let tornTail: RecoveryCut | null = null;
  let corruption: RecoveryCut | null = null;
  const deletedSegments: string[] = [];

  for (let i = 0; i < all.length; i++) {
    const segment = all[i]!;
    const expectedFirst = state.kept.length === 0 ? segment.firstLsn : state.lastLsn + 1n;
    const handle = await fs.open(segment.path, 'r+');
    try {
      const size = (await handle.stat()).size;
      const scan =
        segment.firstLsn === expectedFirst
          ? await scanSegment(handle, segment, size, i === all.length - 1, options)
          : gap(expectedFirst, segment);
      state.frames += scan.frames;
      if (scan.status === 'ok') {
        // A crashed writer's last flush may be whole in the page cache but not on disk: made durable before it
        // counts, or a power loss after later, acknowledged frames would leave a gap before them (PostgreSQL
        // fsyncs its data directory in crash recovery for the same reason). Earlier segments were synced before
        // the writer moved past them.
        if (i === all.length - 1) await syncRecovered(handle, segment);
        keep(state, segment, scan.endOffset, scan.lastLsn);
        continue;
      }
      if (!scan.torn && options.recovery === 'strict') {
        throw new SluiceError(
          'WAL_CORRUPT',
          `WAL corrupt in ${segment.path} at byte offset ${scan.offset}: ${scan.reason}. ` +
            'Acknowledged data may be damaged: restore the node from a replica, ' +
            "or open with recovery 'truncate' to discard everything from this point.",
        );
      }
      const dropped = all.slice(scan.dropSegment ? i : i + 1);
      const droppedBytes = await deleteSegments(dropped, options.dir);
      deletedSegments.push(...dropped.map((s) => s.name));
      if (!scan.dropSegment) keep(state, segment, await cutSegment(handle, segment, scan.offset), scan.lastLsn);
      const cut: RecoveryCut = {
        segment: segment.name,
        offset: scan.offset,
        bytesDiscarded: (scan.dropSegment ? 0 : size - scan.offset) + droppedBytes,
        reason: scan.reason,
      };
      if (scan.torn) tornTail = cut;
      else corruption = cut;
      break;
    } finally {
      await handle.close();
    }
  }
  const { kept, frames, bytes, lastLsn, activeBytes } = state;
  return {
    report: {
      segmentsScanned: all.length,
      frames,
      bytes,
      firstLsn: frames === 0 ? 0n : lastLsn - BigInt(frames) + 1n,
      lastLsn,
      tornTail,
      corruption,
      deletedSegments,
      durationMs: performance.now() - startedMs,
    },
    segments: kept,
    activeBytes,
    lastLsn,
  };
}

/** fdatasyncs a recovered segment, failing the open as any other WAL I/O error does. */
async function syncRecovered(handle: FileHandle, segment: SegmentInfo): Promise<void> {
  try {
    await handle.datasync();
  } catch (err) {
    throw new SluiceError('WAL_IO', `fdatasync of recovered WAL segment ${segment.path} failed (${errnoCode(err) ?? String(err)})`, [], { cause: err });
  }
}

/** Records a segment kept up to `endOffset`, its frames ending at `lastLsn`. */
function keep(
  state: { kept: SegmentInfo[]; bytes: number; lastLsn: bigint; activeBytes: number },
  segment: SegmentInfo,
  endOffset: number,
  lastLsn: bigint,
): void {
  state.kept.push(segment);
  state.bytes += endOffset;
  state.lastLsn = lastLsn;
  state.activeBytes = endOffset;
}

/** An LSN gap between segments is corruption at offset 0 of the later one. */
function gap(expectedFirst: bigint, segment: SegmentInfo): SegmentScan {
  return {
    status: 'bad',
    frames: 0,
    offset: 0,
    lastLsn: expectedFirst - 1n,
    reason: `LSN gap: expected the segment to start at LSN ${expectedFirst}, its name says ${segment.firstLsn}`,
    torn: false,
    dropSegment: true,
  };
}

/**
 * Truncates `segment` at `offset` and makes it durable. When the cut hits
 * the header, the header is rewritten from the name (the authority on the
 * first LSN) so that LSNs continue without a gap. Returns the new size.
 */
async function cutSegment(handle: FileHandle, segment: SegmentInfo, offset: number): Promise<number> {
  if (offset < SEGMENT_HEADER_BYTES) {
    await rewriteSegmentHeader(handle, segment.firstLsn);
    return SEGMENT_HEADER_BYTES;
  }
  await handle.truncate(offset);
  await handle.sync();
  return offset;
}

/** Deletes segments (after a cut) and returns the bytes they held. */
async function deleteSegments(segments: readonly SegmentInfo[], dir: string): Promise<number> {
  let bytes = 0;
  // Newest first: a crash part-way leaves a contiguous WAL that shows the
  // same corruption on the next open, never a new LSN gap.
  for (const segment of segments.toReversed()) {
    bytes += (await fs.stat(segment.path)).size;
    await fs.rm(segment.path);
  }
  if (segments.length > 0) await syncDir(dir);
  return bytes;
}

/** Validates one segment's header and frames. */
async function scanSegment(
  handle: FileHandle,
  segment: SegmentInfo,
  size: number,
  isLast: boolean,
  options: RecoveryOptions,
): Promise<SegmentScan> {
  const header = Buffer.alloc(Math.min(size, SEGMENT_HEADER_BYTES));
  if (header.length > 0) await handle.read(header, 0, header.length, 0);
  const decoded = decodeSegmentHeader(header);
  let reason: string | undefined;
  if (decoded.status === 'bad') reason = `bad segment header (${decoded.reason})`;
  else if (decoded.firstLsn !== segment.firstLsn) {
    reason = `segment header says first LSN ${decoded.firstLsn}, its name says ${segment.firstLsn}`;
  }
  if (reason !== undefined) {
    // The header is written and fsync'd before any frame: a header torn by a
    // crash (short or zeroed) in the last segment has no frame after it.
    const tornHeader = isLast && (header.length < SEGMENT_HEADER_BYTES || header.every((b) => b === 0));
    const torn =
      tornHeader && (await findFrameAfter(handle, SEGMENT_HEADER_BYTES, size, segment.firstLsn - 1n, options)) === undefined;
    return { status: 'bad', frames: 0, offset: 0, lastLsn: segment.firstLsn - 1n, reason, torn, dropSegment: false };
  }
  const preallocated = (segmentHeaderFlags(header) & SEGMENT_FLAG_PREALLOCATED) !== 0;
  return scanFrames(handle, segment, size, { isLast, preallocated }, options);
}

/** Validates the frames of a segment whose header is valid. */
async function scanFrames(
  handle: FileHandle,
  segment: SegmentInfo,
  size: number,
  layout: { readonly isLast: boolean; readonly preallocated: boolean },
  options: RecoveryOptions,
): Promise<SegmentScan> {
  const { isLast, preallocated } = layout;
  const reader = SegmentReader.onHandle(handle, SEGMENT_HEADER_BYTES, options.readChunkBytes, options.frameBytesMax);
  let frames = 0;
  let expected = segment.firstLsn;
  let reason: string;
  const end = (): SegmentScan => ({ status: 'ok', frames, endOffset: reader.offset, lastLsn: expected - 1n });
  for (;;) {
    const decoded = reader.decode();
    if (decoded.status === 'short') {
      if (await reader.fill(decoded.needBytes)) continue;
      if (reader.bufferedBytes === 0) return end();
      if (preallocated && (await allZeroFrom(handle, reader.offset, size, options.readChunkBytes))) return end();
      reason = `incomplete frame (${reader.bufferedBytes} bytes left in the file, frame needs ${decoded.needBytes})`;
      break;
    }
    if (decoded.status === 'bad') {
      if (preallocated && (await allZeroFrom(handle, reader.offset, size, options.readChunkBytes))) return end();
      reason = `bad frame ${decoded.fault}`;
      break;
    }
    if (decoded.lsn !== expected) {
      reason = `frame has LSN ${decoded.lsn}, expected ${expected}`;
      break;
    }
    reader.advance(decoded.frameBytes);
    frames++;
    expected++;
  }
  const offset = reader.offset;
  const lastLsn = expected - 1n;
  const bad = { status: 'bad', frames, offset, lastLsn, dropSegment: false } as const;
  if (!isLast) return { ...bad, reason: `${reason} in a sealed (non-last) segment`, torn: false };
  const later = await findFrameAfter(handle, await searchFrom(handle, offset, size, preallocated, options), size, lastLsn, options);
  if (later === undefined) return { ...bad, reason, torn: true };
  return { ...bad, reason: `${reason}, yet a valid frame with LSN ${later.lsn} follows at byte offset ${later.offset}`, torn: false };
}

/**
 * Where to look for a valid frame after the bad spot at `offset`. In a
 * preallocated segment whose bad frame shows a torn write's zeros at Z, the
 * frames of that same unsynced write all start before Z +
 * TORN_WRITE_BYTES_MAX (the writer caps each fdatasync at that), so only a
 * frame beyond it proves that acknowledged data was damaged.
 */
async function searchFrom(handle: FileHandle, offset: number, size: number, preallocated: boolean, options: RecoveryOptions): Promise<number> {
  if (!preallocated) return offset + 1;
  const head = Buffer.alloc(4);
  await handle.read(head, 0, Math.min(4, size - offset), offset);
  const claimed = FRAME_HEADER_BYTES + head.readUInt32LE(0);
  // A plausible length bounds the frame; a garbage one leaves only its header to inspect.
  const extent = claimed > FRAME_HEADER_BYTES && claimed <= options.frameBytesMax ? claimed : FRAME_HEADER_BYTES;
  const zeros = await tornWriteZerosAt(handle, offset, Math.min(size, offset + extent), options.readChunkBytes);
  return zeros === undefined ? offset + 1 : zeros + TORN_WRITE_BYTES_MAX;
}

/**
 * Looks for a valid frame with an LSN above `lsnAfter` starting anywhere in
 * `[from, size)`. This is what separates a torn tail (nothing valid after
 * the bad spot) from damage in the middle. The LSN window makes the
 * byte-by-byte probe cheap: random bytes almost never pass it, so the CRC
 * runs only on real candidates.
 */
async function findFrameAfter(
  handle: FileHandle,
  from: number,
  size: number,
  lsnAfter: bigint,
  options: RecoveryOptions,
): Promise<{ offset: number; lsn: bigint } | undefined> {
  // Every frame takes at least FRAME_OVERHEAD_BYTES, which bounds the LSN a
  // real frame in this range can carry.
  const lsnMax = lsnAfter + BigInt(Math.ceil(Math.max(0, size - from) / FRAME_OVERHEAD_BYTES));
  const chunk = Buffer.allocUnsafe(Math.max(options.readChunkBytes, FRAME_OVERHEAD_BYTES * 2));
  for (let chunkStart = from; chunkStart + FRAME_OVERHEAD_BYTES <= size; ) {
    const length = Math.min(chunk.length, size - chunkStart);
    const { bytesRead } = await handle.read(chunk, 0, length, chunkStart);
    const probeEnd = bytesRead - FRAME_OVERHEAD_BYTES;
    for (let p = 0; p <= probeEnd; p++) {
      if (!mayBeFrameAt(chunk, p, bytesRead, options.frameBytesMax, lsnAfter, lsnMax)) continue;
      const candidate = await readFrameAt(handle, chunkStart + p, size, options.frameBytesMax);
      if (candidate !== undefined && candidate > lsnAfter) return { offset: chunkStart + p, lsn: candidate };
    }
    // Overlap chunks by one probe window so no offset is skipped.
    chunkStart += Math.max(1, probeEnd + 1);
  }
  return undefined;
}

/** Decodes one frame at a file offset; its LSN if valid. */
async function readFrameAt(handle: FileHandle, offset: number, size: number, frameBytesMax: number): Promise<bigint | undefined> {
  const lengthBuf = Buffer.alloc(4);
  await handle.read(lengthBuf, 0, 4, offset);
  const total = 8 + lengthBuf.readUInt32LE(0);
  if (total > frameBytesMax || offset + total > size) return undefined;
  const buf = Buffer.allocUnsafe(total);
  const { bytesRead } = await handle.read(buf, 0, total, offset);
  const decoded = decodeFrame(buf, 0, bytesRead, frameBytesMax);
  return decoded.status === 'ok' ? decoded.lsn : undefined;
}
