/**
 * Replay: reads frames in LSN order and hands them over in bounded batches.
 *
 * Loki's WAL replays ran out of memory on large WALs (loki#9939, #15235):
 * here `onBatch` is awaited before the next batch is read, and a batch holds
 * at most `replayBatchBytesMax` frame bytes (a single larger frame goes
 * alone), so memory stays bounded whatever the WAL size. Segments are read
 * with large sequential reads (SegmentReader), and every frame's CRC and LSN
 * are verified again on the way (the read half of the paired checks).
 */
import { SluiceError } from '../../core/errors.ts';
import { FRAME_HEADER_BYTES } from './frame-v1.ts';
import { SEGMENT_HEADER_BYTES, decodeSegmentHeader } from './segment.ts';
import type { SegmentInfo } from './segment.ts';
import { SegmentReader } from './segment-reader.ts';

/** One frame handed to `onBatch`. `payload` is a view that stays valid after the callback. */
export interface WalFrame {
  readonly lsn: bigint;
  readonly type: number;
  readonly payload: Buffer;
}

/** Receives one batch; the next batch is read only after it resolves. */
export type ReplayHandler = (frames: WalFrame[]) => Promise<void>;

/** What a replay delivered. */
export interface ReplayResult {
  readonly frames: number;
  readonly batches: number;
  /** LSN of the last frame delivered, or fromLsn - 1 when none. */
  readonly lastLsn: bigint;
}

export interface ReplayOptions {
  /** Segments in LSN order, as they were when replay started. */
  readonly segments: readonly SegmentInfo[];
  /** First LSN to deliver (earlier frames are read and skipped). */
  readonly fromLsn: bigint;
  /** Last LSN to deliver: the durable end when replay started. */
  readonly toLsn: bigint;
  readonly replayBatchBytesMax: number;
  readonly readChunkBytes: number;
  readonly frameBytesMax: number;
  /** Told the LSN below which this replay will not read again (lets retention proceed). */
  readonly onProgress?: (lsn: bigint) => void;
}

/** Reads frames `[fromLsn, toLsn]` and calls `onBatch` per bounded batch. */
export async function replayWal(options: ReplayOptions, onBatch: ReplayHandler): Promise<ReplayResult> {
  const { segments, fromLsn, toLsn } = options;
  let batch: WalFrame[] = [];
  let batchBytes = 0;
  let delivered = 0;
  let batches = 0;
  const flush = async (): Promise<void> => {
    const frames = batch;
    batch = [];
    batchBytes = 0;
    batches++;
    delivered += frames.length;
    await onBatch(frames);
    options.onProgress?.(frames.at(-1)!.lsn + 1n);
  };

  for (let i = firstSegmentIndex(segments, fromLsn); i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.firstLsn > toLsn) break;
    const reader = await SegmentReader.open(segment.path, 0, options.readChunkBytes, options.frameBytesMax);
    try {
      await checkHeader(reader, segment);
      let expected = segment.firstLsn;
      // Never decode past toLsn: beyond it, the writer may be mid-write.
      while (expected <= toLsn) {
        const decoded = reader.decode();
        if (decoded.status === 'short') {
          if (await reader.fill(decoded.needBytes)) continue;
          if (endsHere(reader, segments[i + 1], expected)) break;
          throw corrupt(segment, reader.offset, `file ends before LSN ${expected} (replay up to ${toLsn})`);
        }
        if (decoded.status === 'bad') {
          if (endsHere(reader, segments[i + 1], expected)) break;
          throw corrupt(segment, reader.offset, `bad frame ${decoded.fault}`);
        }
        if (decoded.lsn !== expected) throw corrupt(segment, reader.offset, `frame has LSN ${decoded.lsn}, expected ${expected}`);
        reader.advance(decoded.frameBytes);
        expected++;
        if (decoded.lsn < fromLsn) continue;
        const bytes = decoded.frameBytes;
        if (batch.length > 0 && batchBytes + bytes > options.replayBatchBytesMax) await flush();
        batch.push({ lsn: decoded.lsn, type: decoded.type, payload: decoded.payload });
        batchBytes += bytes;
      }
      if (expected > toLsn) break;
    } finally {
      await reader.close();
    }
  }
  if (batch.length > 0) await flush();
  return { frames: delivered, batches, lastLsn: fromLsn + BigInt(delivered) - 1n };
}

/**
 * True at the end of a sealed segment: the next segment starts at the
 * expected LSN and the file ends here or continues with zeros (the unused
 * tail of a preallocated segment, which recovery checked in full).
 */
function endsHere(reader: SegmentReader, next: SegmentInfo | undefined, expected: bigint): boolean {
  if (next?.firstLsn !== expected) return false;
  return reader.peek(FRAME_HEADER_BYTES).every((byte) => byte === 0);
}

/** Index of the segment holding `lsn` (the last one starting at or before it). */
function firstSegmentIndex(segments: readonly SegmentInfo[], lsn: bigint): number {
  let index = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstLsn <= lsn) index = i;
  return index;
}

async function checkHeader(reader: SegmentReader, segment: SegmentInfo): Promise<void> {
  await reader.fill(SEGMENT_HEADER_BYTES);
  const header = reader.peek(SEGMENT_HEADER_BYTES);
  const decoded = decodeSegmentHeader(header);
  if (decoded.status === 'bad') throw corrupt(segment, 0, `bad segment header (${decoded.reason})`);
  if (decoded.firstLsn !== segment.firstLsn) throw corrupt(segment, 0, `header says first LSN ${decoded.firstLsn}`);
  reader.advance(SEGMENT_HEADER_BYTES);
}

function corrupt(segment: SegmentInfo, offset: number, reason: string): SluiceError {
  return new SluiceError('WAL_CORRUPT', `WAL corrupt in ${segment.path} at byte offset ${offset} during replay: ${reason}`);
}
