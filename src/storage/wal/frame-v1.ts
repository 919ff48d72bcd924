/**
 * WAL frame codec, version 1. One frame carries one opaque payload (one
 * batch of records of one request) and its LSN.
 *
 * The checks are paired (TigerBeetle's journal): the CRC is computed here,
 * before the bytes reach the writer, and verified here again after every
 * read, in recovery and in replay alike.
 */
import { crc32c } from '@node-rs/crc32';
import assert from 'node:assert/strict';

/** Bytes before the body: `length u32le | crc32c u32le`. */
export const FRAME_HEADER_BYTES = 8;
/** Bytes of the body before the payload: `type u8 | lsn u64le`. */
export const FRAME_BODY_HEADER_BYTES = 9;
/** Total framing cost of one payload. */
export const FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + FRAME_BODY_HEADER_BYTES;

/** Largest LSN a frame can carry (u64). */
const LSN_MAX = 0xffff_ffff_ffff_ffffn;

/** Bytes one frame takes on disk for a payload of `payloadBytes`. */
export function frameBytes(payloadBytes: number): number {
  return FRAME_OVERHEAD_BYTES + payloadBytes;
}

/*
 * Frame v1 grammar (all integers little-endian):
 *
 *   Frame   => length:u32 crc:u32 Body
 *   Body    => type:u8 lsn:u64 payload:bytes[length - 9]
 *
 *   length  = byte length of Body; 9 <= length <= frameBytesMax - 8, so a
 *             garbage length is refused before anything is read or summed
 *   crc     = CRC32C (Castagnoli) of Body
 *   type    = 1..255, chosen by the caller. 0 is never written, so a
 *             zero-filled region (a torn or preallocated tail) never parses
 *   lsn     = frame sequence number: 1, 2, 3, ... across segments, no gaps
 *
 * A segment file is a segment header (see segment.ts) followed by Frame*.
 */

/**
 * Encodes one frame into `target` at `offset` and returns the bytes written.
 * `target` must have `frameBytes(payload.length)` bytes free at `offset`.
 */
export function encodeFrameInto(target: Buffer, offset: number, type: number, lsn: bigint, payload: Uint8Array): number {
  assert(Number.isInteger(type) && type >= 1 && type <= 255, 'frame type must be an integer in 1..255');
  assert(lsn >= 1n && lsn <= LSN_MAX, 'lsn out of range');
  const bodyBytes = FRAME_BODY_HEADER_BYTES + payload.length;
  const end = offset + FRAME_HEADER_BYTES + bodyBytes;
  assert(end <= target.length, 'frame does not fit the target buffer');
  const bodyStart = offset + FRAME_HEADER_BYTES;
  target.writeUInt32LE(bodyBytes, offset);
  target[bodyStart] = type;
  target.writeBigUInt64LE(lsn, bodyStart + 1);
  target.set(payload, bodyStart + FRAME_BODY_HEADER_BYTES);
  target.writeUInt32LE(crc32c(target.subarray(bodyStart, end)), offset + 4);
  return end - offset;
}

/** Encodes one frame into a fresh buffer. */
export function encodeFrame(type: number, lsn: bigint, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frameBytes(payload.length));
  encodeFrameInto(out, 0, type, lsn, payload);
  return out;
}

/** Why bytes at an offset are not a valid frame. */
export type FrameFault = 'length' | 'type' | 'crc';

/** Result of decoding the bytes at one offset. */
export type FrameDecode =
  | {
      readonly status: 'ok';
      readonly type: number;
      readonly lsn: bigint;
      /** A view into the decoded buffer (no copy). */
      readonly payload: Buffer;
      /** Bytes the whole frame takes, header included. */
      readonly frameBytes: number;
    }
  /** Not enough bytes to decide: at least `needBytes` from the offset are required. */
  | { readonly status: 'short'; readonly needBytes: number }
  | { readonly status: 'bad'; readonly fault: FrameFault };

/**
 * Decodes and verifies the frame starting at `offset` in `buf[offset, end)`.
 * Checks run cheapest first: length bound, completeness, type, CRC.
 */
export function decodeFrame(buf: Buffer, offset: number, end: number, frameBytesMax: number): FrameDecode {
  const available = end - offset;
  if (available < FRAME_HEADER_BYTES) return { status: 'short', needBytes: FRAME_HEADER_BYTES };
  const bodyBytes = buf.readUInt32LE(offset);
  const total = FRAME_HEADER_BYTES + bodyBytes;
  if (bodyBytes < FRAME_BODY_HEADER_BYTES || total > frameBytesMax) return { status: 'bad', fault: 'length' };
  if (available < total) return { status: 'short', needBytes: total };
  const bodyStart = offset + FRAME_HEADER_BYTES;
  const type = buf[bodyStart] ?? 0;
  if (type === 0) return { status: 'bad', fault: 'type' };
  const body = buf.subarray(bodyStart, offset + total);
  if (crc32c(body) !== buf.readUInt32LE(offset + 4)) return { status: 'bad', fault: 'crc' };
  return {
    status: 'ok',
    type,
    lsn: buf.readBigUInt64LE(bodyStart + 1),
    payload: body.subarray(FRAME_BODY_HEADER_BYTES),
    frameBytes: total,
  };
}

/**
 * Cheap pre-check used when scanning garbage for a later valid frame:
 * true when the bytes at `offset` could be a frame whose LSN lies in
 * `(lsnAfter, lsnMax]` and that ends by `end`. Runs no CRC; call
 * `decodeFrame` to confirm.
 */
export function mayBeFrameAt(
  buf: Buffer,
  offset: number,
  end: number,
  frameBytesMax: number,
  lsnAfter: bigint,
  lsnMax: bigint,
): boolean {
  if (end - offset < FRAME_OVERHEAD_BYTES) return false;
  const bodyBytes = buf.readUInt32LE(offset);
  if (bodyBytes < FRAME_BODY_HEADER_BYTES || FRAME_HEADER_BYTES + bodyBytes > frameBytesMax) return false;
  if (buf[offset + FRAME_HEADER_BYTES] === 0) return false;
  const lsn = buf.readBigUInt64LE(offset + FRAME_HEADER_BYTES + 1);
  return lsn > lsnAfter && lsn <= lsnMax;
}
