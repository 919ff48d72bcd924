/**
 * JSON text encoded from its bytes: an NDJSON body's lines (sent as NDJSON
 * or sniffed as it), a JSON body of one object or an array of them (what
 * `sluice ingest` sends of a Parquet or CSV file), or JSON frames (Kafka
 * message values). Each record's text goes to the schema's scan encoder
 * (core/schema/scan-encoder.ts) and only when that declines to JSON.parse
 * and the object path of batch-encoder.ts, so a body of plain records
 * builds no object per record. The answers are those of `encodeBatch` over
 * `decodeBody` or `decodeFrames`, refusals, errors and record numbering
 * included (test/ingest/encode-json-text.test.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { CompiledSchema } from '../core/schema/compile-schema.ts';
import { recordEncoderOf } from '../core/schema/compile-encoder.ts';
import { scanElementEncoderOf, scanEncoderOf, scanLineEncoderOf } from '../core/schema/scan-encoder.ts';
import { skipJsonSpace } from '../core/codec/flat-json-scanner.ts';
import { BatchEncoding, type EncodeContext, type EncodedBatch } from './batch-encoder.ts';
import { BLANK_LINE, checkBody, noRecords, parseNdjsonLine, type BodyFormat } from './decode-body.ts';
import { parseFrame } from './decode-frames.ts';

const NEWLINE = 0x0a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * `encodeBatch(decodeBody(body, format), …)` from the bytes where the body
 * is NDJSON, one object or an array of plain objects; undefined (the
 * caller parses it) for anything else: a value over several lines, an
 * array with an element the scan encoder declines.
 */
export function encodeJsonBody(body: Uint8Array, format: BodyFormat, schema: CompiledSchema, ctx: EncodeContext): EncodedBatch | undefined {
  const buf = asBuffer(body);
  if (format === 'ndjson' || (format === 'auto' && sniffsAsNdjson(buf))) return encodeNdjson(buf, schema, ctx);
  const first = skipJsonSpace(buf, 0, buf.length);
  if (buf[first] === OPEN_ARRAY) return encodeJsonArray(buf, first, schema, ctx);
  return encodeSingleObject(buf, schema, ctx);
}

/**
 * Whether decodeBody reads an `auto` body as NDJSON, decided from its
 * first line: when that parses alone and more than JSON whitespace
 * follows, the whole cannot be one JSON value, and it has a newline.
 */
function sniffsAsNdjson(buf: Buffer): boolean {
  const newline = buf.indexOf(NEWLINE);
  if (newline < 0) return false;
  if (skipJsonSpace(buf, newline + 1, buf.length) === buf.length) return false;
  try {
    JSON.parse(buf.toString('utf8', 0, newline));
    return true;
  } catch {
    return false;
  }
}

/** `encodeBatch(decodeBody(body, 'ndjson'), …)` in one pass over the bytes. Throws EMPTY_BODY, INVALID_ENCODING or INVALID_JSON. */
export function encodeNdjson(body: Uint8Array, schema: CompiledSchema, ctx: EncodeContext): EncodedBatch {
  checkBody(body);
  const buf = asBuffer(body);
  // Sized for records of ~160 bytes of JSON, each smaller as an entry (no key names).
  const encoding = new BatchEncoding(schema, ctx, Math.ceil(buf.length / 160), recordEncoderOf(schema));
  const scanLine = scanLineEncoderOf(schema)(encoding.target);
  let records = 0;
  let start = 0;
  for (let line = 0; start < buf.length; line++) {
    // The scanner finds the line's end itself: no search for the newline first.
    let end = scanLine(buf, start, buf.length, records);
    if (end >= 0) encoding.added(records++);
    else {
      // Declined: blank, not JSON, or not plain; the line as decodeBody reads it.
      end = buf.indexOf(NEWLINE, start);
      if (end === -1) end = buf.length;
      const record = parseNdjsonLine(buf.toString('utf8', start, end), line, records);
      if (record !== BLANK_LINE) encoding.add(record, records++);
    }
    start = end + 1;
  }
  if (records === 0) throw noRecords();
  return encoding.finish(records);
}

/**
 * The body as one record when it is a single plain JSON object (what
 * `decodeBody` makes one record of); undefined otherwise, and for a body
 * empty or not UTF-8, which decodeBody refuses. Only a body that opens
 * with `{` has its UTF-8 checked here: an array's is checked once, there.
 */
export function encodeSingleObject(body: Uint8Array, schema: CompiledSchema, ctx: EncodeContext): EncodedBatch | undefined {
  const buf = asBuffer(body);
  const first = skipJsonSpace(buf, 0, buf.length);
  if (first === buf.length || buf[first] !== 0x7b /* { */ || !isUtf8(buf)) return undefined;
  const encoding = new BatchEncoding(schema, ctx, 1, undefined);
  if (!scanEncoderOf(schema)(encoding.target)(buf, 0, buf.length, 0)) return undefined;
  encoding.added(0);
  return encoding.finish(1);
}

/**
 * The records of a body that is one JSON array (opening at `first`) of
 * objects the scan encoder takes; undefined when it declines one, or the
 * text around them is anything else (empty, not UTF-8, not closed, more
 * after it): decodeBody then reads the whole body, so every refusal and
 * error keeps its one definition, at the cost of the elements scanned
 * before (an array's records are alike, so a decline comes early).
 */
function encodeJsonArray(buf: Buffer, first: number, schema: CompiledSchema, ctx: EncodeContext): EncodedBatch | undefined {
  if (!isUtf8(buf)) return undefined;
  const end = buf.length;
  const encoding = new BatchEncoding(schema, ctx, Math.ceil(buf.length / 160), undefined);
  const element = scanElementEncoderOf(schema)(encoding.target);
  let records = 0;
  let p = skipJsonSpace(buf, first + 1, end);
  if (buf[p] !== CLOSE_ARRAY) {
    for (;;) {
      const after = element(buf, p, end, records);
      if (after < 0) return undefined;
      encoding.added(records++);
      p = skipJsonSpace(buf, after, end);
      if (buf[p] !== COMMA) break;
      p = skipJsonSpace(buf, p + 1, end);
    }
  }
  if (records === 0 || buf[p] !== CLOSE_ARRAY || skipJsonSpace(buf, p + 1, end) !== end) return undefined;
  return encoding.finish(records);
}

/** `encodeBatch(decodeFrames(body, frames, undefined, noun), …)` in one pass over the bytes. */
export function encodeJsonFrames(body: Uint8Array, frames: Uint32Array, schema: CompiledSchema, ctx: EncodeContext, noun = 'message'): EncodedBatch {
  const buf = asBuffer(body);
  const encoding = new BatchEncoding(schema, ctx, frames.length, recordEncoderOf(schema));
  const scan = scanEncoderOf(schema)(encoding.target);
  // One check for the body, not one per frame: a frame the scanner takes starts and ends in ASCII ('{', '}' or
  // whitespace), so in a well-formed body no frame it takes has a character split at its ends.
  const whole = isUtf8(buf);
  let at = 0;
  for (let i = 0; i < frames.length; i++) {
    const end = at + (frames[i] as number);
    if (end > buf.length) throw new Error(`frame ${i} ends at ${end}, past the body's ${buf.length} bytes`);
    // The scanner needs well-formed UTF-8 (its strings are copied as they are), frame by frame as decodeFrames checks.
    const wellFormed = whole || isUtf8(buf.subarray(at, end));
    if (end > at && wellFormed && scan(buf, at, end, i)) encoding.added(i);
    else encoding.add(parseFrame(buf.subarray(at, end), noun), i);
    at = end;
  }
  return encoding.finish(frames.length);
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}
