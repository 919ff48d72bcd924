/**
 * How a torn write looks in a preallocated (zero-filled) segment, for
 * recovery.
 *
 * Over preallocated blocks nothing but the data pages change, so a power
 * loss during the last, unsynced write can persist its pages in any order:
 * a page that did not reach the disk still reads as the spare's zeros.
 * etcd's WAL reads a record as torn when a sector-sized chunk of it is all
 * zeros (`isTornEntry`); here the evidence is a run of ZERO_RUN_BYTES zeros
 * at the frame's first byte (its length field never reached the disk) or at
 * a sector boundary inside the frame. A flipped bit in a written frame
 * leaves no such run, so it keeps counting as damage.
 */
import type { FileHandle } from 'node:fs/promises';

/** Smallest unit a disk writes atomically; an unpersisted page starts at a multiple of it. */
const SECTOR_BYTES = 512;
/** Zeros that count as "this part never reached the disk" (a frame's length field is never 0). */
const ZERO_RUN_BYTES = 8;

/** True when every byte of `[from, size)` is zero: the unused tail of a preallocated segment. */
export async function allZeroFrom(handle: FileHandle, from: number, size: number, chunkBytes: number): Promise<boolean> {
  const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(1, size - from)));
  const zeros = Buffer.alloc(chunk.length);
  for (let at = from; at < size; ) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - at), at);
    if (bytesRead === 0) return false;
    if (!chunk.subarray(0, bytesRead).equals(zeros.subarray(0, bytesRead))) return false;
    at += bytesRead;
  }
  return true;
}

/**
 * The offset of the first torn-write zero run in `[from, end)` — ZERO_RUN_BYTES
 * zeros starting at `from` or at a sector boundary — or undefined when the
 * bytes show none (the frame was written whole and damaged afterwards).
 */
export async function tornWriteZerosAt(handle: FileHandle, from: number, end: number, chunkBytes: number): Promise<number | undefined> {
  const step = Math.max(SECTOR_BYTES, chunkBytes - (chunkBytes % SECTOR_BYTES));
  // Each read overlaps the next by one run, so a run across two reads is seen.
  const buf = Buffer.allocUnsafe(step + ZERO_RUN_BYTES);
  for (let start = from; start + ZERO_RUN_BYTES <= end; start += step) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, end - start), start);
    let candidate = start === from ? from : alignUp(start);
    while (candidate < start + step && candidate - start + ZERO_RUN_BYTES <= bytesRead) {
      if (isZeroRun(buf, candidate - start)) return candidate;
      candidate = alignUp(candidate + 1);
    }
  }
  return undefined;
}

function alignUp(offset: number): number {
  return Math.ceil(offset / SECTOR_BYTES) * SECTOR_BYTES;
}

function isZeroRun(buf: Buffer, at: number): boolean {
  for (let i = at; i < at + ZERO_RUN_BYTES; i++) if (buf[i] !== 0) return false;
  return true;
}
