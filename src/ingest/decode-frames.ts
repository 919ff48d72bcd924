/**
 * Decodes a body made of separate JSON texts back to back, one per record,
 * with their byte lengths alongside (Kafka message values). Unlike a
 * request body, one bad message must not fail its neighbours: a text that is
 * not UTF-8 or not JSON becomes an `UnparsedRecord`, rejected on its own
 * (and sent to the dead-letter topic by the source).
 */
import { isUtf8 } from 'node:buffer';
import { UnparsedRecord } from './batch-encoder.ts';
import type { ProtoDecoder } from '../core/schema/proto-schema.ts';

/** How each frame of a framed body is encoded. */
export type FrameFormat = 'json' | 'protobuf';

/** Parses each frame (JSON, or protobuf with `proto`); `noun` names a frame in refusals; never throws on user input. */
export function decodeFrames(body: Uint8Array, frames: Uint32Array, proto?: ProtoDecoder, noun = 'message'): unknown[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const records = new Array<unknown>(frames.length);
  let at = 0;
  for (let i = 0; i < frames.length; i++) {
    const end = at + (frames[i] as number);
    if (end > buf.length) throw new Error(`frame ${i} ends at ${end}, past the body's ${buf.length} bytes`);
    records[i] = proto === undefined ? parseFrame(buf.subarray(at, end), noun) : decodeProto(buf.subarray(at, end), proto);
    at = end;
  }
  return records;
}

function decodeProto(bytes: Buffer, proto: ProtoDecoder): unknown {
  try {
    return proto.decode(bytes);
  } catch (err) {
    return new UnparsedRecord(`the message is not a valid protobuf of the table's message: ${err instanceof Error ? err.message : String(err)}`, 'INVALID_PROTOBUF');
  }
}

/** One JSON frame parsed, or an UnparsedRecord saying why it cannot be (`noun` names a frame). */
export function parseFrame(bytes: Buffer, noun: string): unknown {
  if (bytes.length === 0) return new UnparsedRecord(`the ${noun} is empty`);
  if (!isUtf8(bytes)) return new UnparsedRecord(`the ${noun} is not valid UTF-8`);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    return new UnparsedRecord(`the ${noun} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}
