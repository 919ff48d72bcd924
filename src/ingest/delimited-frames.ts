/**
 * Length-delimited protobuf bodies: messages one after another, each after
 * its length as a varint, as protobuf's `writeDelimitedTo` /
 * `encodeDelimited` write them. The HTTP write route takes this form under
 * `application/x-protobuf` and hands the pipeline the messages back to back
 * with their lengths, the form gRPC's `messages` arrive in.
 */
import { SluiceError } from '../core/errors.ts';

/** The messages of a delimited body, concatenated, and the length of each. */
export interface DelimitedMessages {
  readonly body: Buffer;
  readonly frames: Uint32Array;
}

/** Varint length prefixes longer than this cannot be a message length below 4 GiB. */
const VARINT_BYTES_MAX = 5;

/** Splits a length-delimited body; a broken prefix or a message running past the end is INVALID_PROTOBUF for the whole body. */
export function splitDelimited(input: Buffer): DelimitedMessages {
  if (input.length === 0) throw new SluiceError('EMPTY_BODY', 'the request body is empty');
  const lengths: number[] = [];
  const starts: number[] = [];
  let at = 0;
  while (at < input.length) {
    let length = 0;
    let shift = 0;
    let i = 0;
    for (;;) {
      if (i === VARINT_BYTES_MAX || at + i >= input.length) {
        throw new SluiceError('INVALID_PROTOBUF', `message ${lengths.length} (byte ${at}): its length prefix is not a complete varint`, [{ index: lengths.length, message: 'broken length prefix' }]);
      }
      const byte = input[at + i] as number;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      i++;
      if ((byte & 0x80) === 0) break;
    }
    const start = at + i;
    if (length > input.length - start) {
      throw new SluiceError('INVALID_PROTOBUF', `message ${lengths.length} (byte ${at}) says it is ${length} bytes long, but ${input.length - start} are left`, [{ index: lengths.length, message: 'message runs past the end of the body' }]);
    }
    lengths.push(length);
    starts.push(start);
    at = start + length;
  }
  const body = Buffer.allocUnsafe(lengths.reduce((a, b) => a + b, 0));
  let out = 0;
  lengths.forEach((length, k) => {
    const start = starts[k] as number;
    input.copy(body, out, start, start + length);
    out += length;
  });
  return { body, frames: Uint32Array.from(lengths) };
}
