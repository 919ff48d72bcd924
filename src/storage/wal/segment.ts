/**
 * Segment files: naming, the header codec, creation and directory fsync.
 *
 * A segment is named by the LSN of its first frame, zero-padded to 20 digits
 * (u64 max has 20) so that name order is LSN order. The name is written to
 * the directory (and the directory fsync'd) before any frame goes into the
 * file, so after a crash the name is the authority on the segment's first
 * LSN even when the header itself was torn.
 */
import { crc32c } from '@node-rs/crc32';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '../atomic-file.ts';

export { syncDir };

/** Current segment format version. */
export const SEGMENT_FORMAT_VERSION = 1;
/** Bytes of the segment header; the first frame starts here. */
export const SEGMENT_HEADER_BYTES = 20;

/** Header flag: the segment was zero-filled to its full size before its first frame. */
export const SEGMENT_FLAG_PREALLOCATED = 1;
/**
 * Most bytes one write + fdatasync covers in a preallocated segment. Over
 * preallocated blocks a crash (power loss) can persist the pages of one
 * unsynced write in any order, leaving valid frames after a torn one; they
 * all lie within this many bytes of the torn spot (each write starts at a
 * frame: wal-writer.ts `syncChunkEnds`), and recovery looks for evidence of
 * mid-log corruption only beyond it. A format constant, not an option:
 * recovery must use the value the writer used.
 */
export const TORN_WRITE_BYTES_MAX = 1024 * 1024;

const MAGIC = Buffer.from('SLWAL', 'latin1');
const NAME_PATTERN = /^(\d{20})\.wal$/;

/*
 * Segment header grammar (integers little-endian):
 *
 *   Header  => magic:"SLWAL" version:u8 reserved:u16 firstLsn:u64 crc:u32
 *   Segment => Header Frame*                       (Frame: see frame-v1.ts)
 *
 *   version  = SEGMENT_FORMAT_VERSION (1)
 *   flags    = the former reserved u16: bit 0 (SEGMENT_FLAG_PREALLOCATED) marks a
 *              segment zero-filled to its full size before its first frame, so
 *              frames overwrite zeros in place (see TORN_WRITE_BYTES_MAX);
 *              other bits 0. Readers that predate it ignore it.
 *   firstLsn = LSN of the first frame, equal to the one in the file name
 *   crc      = CRC32C of the 16 bytes before it
 */

/** One segment file of the WAL. */
export interface SegmentInfo {
  /** File name, e.g. `00000000000000000001.wal`. */
  readonly name: string;
  readonly path: string;
  /** LSN of the first frame the segment holds (or will hold, when empty). */
  readonly firstLsn: bigint;
}

/** The file name of the segment starting at `firstLsn`. */
export function segmentName(firstLsn: bigint): string {
  return `${firstLsn.toString().padStart(20, '0')}.wal`;
}

/** The first LSN encoded in a segment file name, or undefined if `name` is not a segment. */
export function parseSegmentName(name: string): bigint | undefined {
  const match = NAME_PATTERN.exec(name);
  return match?.[1] === undefined ? undefined : BigInt(match[1]);
}

/** Encodes a segment header. */
export function encodeSegmentHeader(firstLsn: bigint, flags = 0): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  MAGIC.copy(buf, 0);
  buf[5] = SEGMENT_FORMAT_VERSION;
  buf.writeUInt16LE(flags, 6);
  buf.writeBigUInt64LE(firstLsn, 8);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 16)), 16);
  return buf;
}

/** Result of validating a segment header. */
export type SegmentHeaderDecode =
  | { readonly status: 'ok'; readonly firstLsn: bigint }
  | { readonly status: 'bad'; readonly reason: string };

/** Validates a segment header (magic, CRC, version). */
export function decodeSegmentHeader(buf: Buffer): SegmentHeaderDecode {
  if (buf.length < SEGMENT_HEADER_BYTES) {
    return { status: 'bad', reason: `header is ${buf.length} bytes, expected ${SEGMENT_HEADER_BYTES}` };
  }
  if (!buf.subarray(0, 5).equals(MAGIC)) return { status: 'bad', reason: 'bad magic' };
  if (crc32c(buf.subarray(0, 16)) !== buf.readUInt32LE(16)) return { status: 'bad', reason: 'header crc mismatch' };
  if (buf[5] !== SEGMENT_FORMAT_VERSION) return { status: 'bad', reason: `unsupported segment format version ${buf[5]}` };
  return { status: 'ok', firstLsn: buf.readBigUInt64LE(8) };
}

/** The flags of a header that `decodeSegmentHeader` accepted. */
export function segmentHeaderFlags(buf: Buffer): number {
  return buf.readUInt16LE(6);
}

/** Segment files of `dir` in LSN order (other files are ignored). */
export async function listSegments(dir: string): Promise<SegmentInfo[]> {
  const segments: SegmentInfo[] = [];
  for (const name of await fs.readdir(dir)) {
    const firstLsn = parseSegmentName(name);
    if (firstLsn !== undefined) segments.push({ name, path: path.join(dir, name), firstLsn });
  }
  return segments.sort((a, b) => (a.firstLsn < b.firstLsn ? -1 : a.firstLsn > b.firstLsn ? 1 : 0));
}

/**
 * Creates (or overwrites) the segment starting at `firstLsn`: writes and
 * fsyncs the header, then fsyncs the directory. Returns the handle open for
 * writing, positioned by the caller at SEGMENT_HEADER_BYTES. On failure the
 * partial file is removed (best effort) and the error rethrown.
 */
export async function createSegment(dir: string, firstLsn: bigint): Promise<{ info: SegmentInfo; handle: FileHandle }> {
  const name = segmentName(firstLsn);
  const file = path.join(dir, name);
  // 'w' truncates: a file with this name can only be a leftover of a failed
  // creation, since no frame with an LSN >= firstLsn is durable yet.
  const handle = await fs.open(file, 'w');
  try {
    await writeAll(handle, encodeSegmentHeader(firstLsn), 0);
    await handle.sync();
    await syncDir(dir);
  } catch (err) {
    // The leftover must go: the writer keeps appending LSNs >= firstLsn to
    // the previous segment, and a stale file with this name would read as an
    // LSN gap. If removing it fails, that error (not ENOSPC) propagates.
    await handle.close().catch(() => undefined);
    await fs.rm(file, { force: true });
    await syncDir(dir);
    throw err;
  }
  return { info: { name, path: file, firstLsn }, handle };
}

/**
 * Turns a zero-filled spare file (preallocator.ts) into the segment starting
 * at `firstLsn`: writes the header with SEGMENT_FLAG_PREALLOCATED and
 * fdatasyncs it, then renames the spare to the segment's name and fsyncs the
 * directory, so a segment name never appears before its header is durable.
 *
 * Undefined when the spare could not be prepared (it is removed, nothing
 * changed in the WAL: the caller creates a plain segment instead). Throws
 * when the rename or the directory fsync failed: the directory may then hold
 * the new name, so the caller must stop writing (recovery sorts it out).
 */
export async function activateSpare(
  dir: string,
  sparePath: string,
  firstLsn: bigint,
): Promise<{ info: SegmentInfo; handle: FileHandle } | undefined> {
  const name = segmentName(firstLsn);
  const file = path.join(dir, name);
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(sparePath, 'r+');
    await writeAll(handle, encodeSegmentHeader(firstLsn, SEGMENT_FLAG_PREALLOCATED), 0);
    await handle.datasync();
  } catch {
    await handle?.close().catch(() => undefined);
    await fs.rm(sparePath, { force: true }).catch(() => undefined);
    return undefined;
  }
  try {
    // rename replaces a leftover with this name (or the empty active segment), like createSegment's 'w'.
    await fs.rename(sparePath, file);
    await syncDir(dir);
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  return { info: { name, path: file, firstLsn }, handle };
}

/** Overwrites a segment's header in place and truncates the file right after it (repair of a torn header). */
export async function rewriteSegmentHeader(handle: FileHandle, firstLsn: bigint): Promise<void> {
  await handle.truncate(0);
  await writeAll(handle, encodeSegmentHeader(firstLsn), 0);
  await handle.sync();
}

/**
 * Writes all of `buf` at `position`. A regular-file write can be short
 * without an error (the disk filled up mid-write); writing the rest then
 * surfaces the real errno (ENOSPC) instead of a silent partial frame.
 */
export async function writeAll(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, position + done);
    assert(bytesWritten > 0, 'write made no progress');
    done += bytesWritten;
  }
}

/** writeAll on the calling thread: for writes smaller than their hand-over to the thread pool (wal-options.ts loopWriteBytesMax). */
export function writeAllSync(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = writeSync(fd, buf, done, buf.length - done, position + done);
    assert(n > 0, 'write made no progress');
    done += n;
  }
}
