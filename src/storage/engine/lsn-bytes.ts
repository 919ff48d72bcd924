/** The applied-LSN checkpoint as stored by the engines: a u64, big-endian. */
import assert from 'node:assert/strict';

/** Bytes of a stored checkpoint. */
export const LSN_BYTES = 8;
const U64_MAX = (1n << 64n) - 1n;

/** Encodes an LSN (0..2^64-1) as 8 big-endian bytes. */
export function encodeLsn(lsn: bigint): Buffer {
  assert(lsn >= 0n && lsn <= U64_MAX, `checkpoint LSN ${lsn} is outside u64`);
  const out = Buffer.allocUnsafe(LSN_BYTES);
  out.writeBigUInt64BE(lsn, 0);
  return out;
}

/** Decodes a stored checkpoint; anything but 8 bytes means the engine's metadata is corrupt. */
export function decodeLsn(bytes: Uint8Array): bigint {
  assert.equal(bytes.length, LSN_BYTES, 'stored checkpoint must be 8 bytes');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64BE(0);
}
