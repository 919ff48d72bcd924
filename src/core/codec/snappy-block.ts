/**
 * Snappy *block* format (not the framed stream format), as Loki push and
 * Prometheus remote write send it and as Parquet compresses its pages:
 *
 *   block := uvarint(uncompressed length) element*
 *
 * The stated length is read and checked before any memory is taken: against
 * the caller's limit, against what the block's elements could expand to at
 * most, and (Parquet) against the length the page header states. A small
 * body claiming gigabytes is refused at once. The elements are then decoded
 * by hysnappy (the reference C decoder built to WebAssembly, by hyparquet's
 * author), which checks every literal and copy and fails unless they produce
 * exactly the stated length. hyparquet's pure-JS decoder read a 4-byte copy
 * offset with its top bit set as a negative number and decoded such a corrupt
 * block to the zeros ahead of its output.
 */
import { snappyUncompress, snappyUncompressor } from 'hysnappy';
import { SluiceError } from '../errors.ts';

/** A uvarint holds at most 32 bits of length here: 5 bytes. */
const LENGTH_VARINT_BYTES_MAX = 5;

/** Snappy's densest element is a 3-byte copy of 64 bytes: no block's elements give more than 22 bytes per byte. */
const SNAPPY_EXPANSION_MAX = 22;

/**
 * Blocks up to this size (compressed + uncompressed) share one decoder per
 * thread: a WebAssembly instance is compiled once, and its memory grows to
 * the largest block it decoded and never shrinks. A larger block gets a
 * decoder of its own, whose memory goes with it.
 */
const SHARED_DECODER_BYTES_MAX = 16 * 2 ** 20;

let shared: ((input: Uint8Array, outputLength: number) => Uint8Array) | undefined;

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
  const { length, start } = snappyBlockLength(block);
  if (length > bytesMax) throw new SluiceError('PAYLOAD_TOO_LARGE', `the snappy body decompresses to ${length} bytes, more than the ${bytesMax}-byte limit`);
  return decode(block, length, start);
}

/**
 * Decompresses a snappy block that must hold exactly `length` bytes (a
 * Parquet page header states it): INVALID_SNAPPY when the block states
 * another length or is corrupt. A decoder would otherwise hand back
 * `length` bytes of which only the block's own length were written.
 */
export function snappyUncompressExact(block: Uint8Array, length: number): Uint8Array {
  const stated = snappyBlockLength(block);
  if (stated.length !== length) throw new SluiceError('INVALID_SNAPPY', `the snappy block holds ${stated.length} bytes where ${length} are stated`);
  return decode(block, length, stated.start);
}

function decode(block: Uint8Array, length: number, start: number): Uint8Array {
  if (length > (block.length - start) * SNAPPY_EXPANSION_MAX) {
    throw new SluiceError('INVALID_SNAPPY', `the snappy block states ${length} bytes, more than its ${block.length} bytes can hold`);
  }
  try {
    if (block.length + length > SHARED_DECODER_BYTES_MAX) return snappyUncompress(block, length);
    shared ??= snappyUncompressor();
    return shared(block, length);
  } catch (err) {
    throw new SluiceError('INVALID_SNAPPY', `the body is not a valid snappy block: ${err instanceof Error ? err.message : String(err)}`);
  }
}
