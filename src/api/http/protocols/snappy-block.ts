/**
 * Snappy *block* format (not the framed stream format), as Loki push and
 * Prometheus remote write send it:
 *
 *   block := uvarint(uncompressed length) element*
 *
 * The stated length is read and checked against the caller's limit before
 * any memory is taken, so a small body claiming gigabytes is refused at
 * once. The elements are then decoded by hysnappy (the reference C
 * decoder built to WebAssembly, which hyparquet-compressors already brings
 * for Parquet), which checks every literal and copy and fails unless they
 * produce exactly the stated length. hyparquet's pure-JS decoder, used
 * before, read a 4-byte copy offset with its top bit set as a negative
 * number and decoded such a corrupt block to the zeros ahead of its output.
 */
import { snappyUncompress } from 'hysnappy';
import { SluiceError } from '../../../core/errors.ts';

/** A uvarint holds at most 32 bits of length here: 5 bytes. */
const LENGTH_VARINT_BYTES_MAX = 5;

/** The uncompressed length a snappy block states, and where its elements start; INVALID_SNAPPY when the varint is broken. */
export function snappyBlockLength(block: Uint8Array): { length: number; start: number } {
  let length = 0;
  for (let i = 0; i < LENGTH_VARINT_BYTES_MAX && i < block.length; i++) {
    const b = block[i] as number;
    length += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return { length, start: i + 1 };
  }
  throw new SluiceError('INVALID_SNAPPY', block.length === 0 ? 'the body is empty, not a snappy block' : 'the snappy block does not start with a valid length');
}

/**
 * Decompresses a snappy block of at most `bytesMax` uncompressed bytes:
 * PAYLOAD_TOO_LARGE past it (before allocating), INVALID_SNAPPY when the
 * block is corrupt.
 */
export function snappyUncompressBlock(block: Uint8Array, bytesMax: number): Uint8Array {
  const { length } = snappyBlockLength(block);
  if (length > bytesMax) throw new SluiceError('PAYLOAD_TOO_LARGE', `the snappy body decompresses to ${length} bytes, more than the ${bytesMax}-byte limit`);
  try {
    return snappyUncompress(block, length);
  } catch (err) {
    throw new SluiceError('INVALID_SNAPPY', `the body is not a valid snappy block: ${err instanceof Error ? err.message : String(err)}`);
  }
}
