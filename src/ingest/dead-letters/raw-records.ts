/**
 * The bytes of one record of a request body, as its sender sent them: what
 * a dead letter keeps so that `sluice dlq replay` can send it again.
 *
 * - framed bodies (Kafka values, gRPC protobuf messages): frame i; a
 *   wrapped document (frame-envelope.ts): its record as JSON text;
 * - one JSON object: the body, trimmed;
 * - a JSON array: element i, cut from the text by a scan of the array's
 *   top level (strings and nesting followed, nothing parsed);
 * - NDJSON: the i-th non-blank line, as `decodeBody` numbers records.
 *
 * It runs on the main thread, only for requests that refused something,
 * and only after the body decoded (so it is well-formed JSON or NDJSON).
 * Scanning bytes is safe for UTF-8: every structural character is ASCII
 * and no byte of a multi-byte character is below 0x80.
 */
import { isBlankLine, type BodyFormat } from '../decode-body.ts';
import { envelopedText, type FrameEnvelope } from '../frame-envelope.ts';

/** The shape of a body as the pipeline received it. */
export interface RawBody {
  readonly body: Uint8Array;
  readonly format: BodyFormat;
  readonly frames?: Uint32Array;
  /** The frames are documents wrapped at decode time (at `nowMs`): a letter keeps the record, so a replay can store it. */
  readonly envelope?: { readonly env: FrameEnvelope; readonly nowMs: number };
}

const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** The raw bytes of records `indexes` of `raw` (views into the body, not copies), in the order asked. */
export function rawRecordsAt(raw: RawBody, indexes: readonly number[]): Uint8Array[] {
  const spans = raw.frames !== undefined ? frameSpans(raw.frames) : textSpans(raw.body, raw.format);
  return indexes.map((i) => {
    const span = spans[i];
    if (span === undefined) throw new Error(`record ${i} is not in the body (${spans.length} records)`);
    const bytes = raw.body.subarray(span[0], span[1]);
    return raw.envelope === undefined ? bytes : envelopedText(bytes, i, spans.length, raw.envelope.env, raw.envelope.nowMs);
  });
}

function frameSpans(frames: Uint32Array): [number, number][] {
  const spans: [number, number][] = [];
  let at = 0;
  for (const n of frames) {
    spans.push([at, at + n]);
    at += n;
  }
  return spans;
}

/** [start, end) of every record of a JSON or NDJSON body. */
export function textSpans(body: Uint8Array, format: BodyFormat): [number, number][] {
  const [start, end] = trim(body, 0, body.length);
  if (format !== 'ndjson' && start < end) {
    // One JSON text whose value ends where the body ends: an object, or an array of records.
    const close = valueEnd(body, start);
    if (close === end) return body[start] === 0x5b ? arraySpans(body, start, end) : [[start, end]];
  }
  return lineSpans(body);
}

function lineSpans(body: Uint8Array): [number, number][] {
  const spans: [number, number][] = [];
  for (let at = 0; at < body.length; ) {
    let eol = body.indexOf(LF, at);
    if (eol === -1) eol = body.length;
    const [s, e] = trim(body, at, eol);
    if (!isBlankLine(body, s, e)) spans.push([s, e]);
    at = eol + 1;
  }
  return spans;
}

/** Elements of the array at [start, end): split on the commas of its top level. */
function arraySpans(body: Uint8Array, start: number, end: number): [number, number][] {
  const spans: [number, number][] = [];
  let from = start + 1;
  let depth = 0;
  for (let i = start + 1; i < end - 1; i++) {
    const c = body[i];
    if (c === QUOTE) i = stringEnd(body, i) - 1;
    else if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === COMMA && depth === 0) {
      spans.push(trim(body, from, i));
      from = i + 1;
    }
  }
  const last = trim(body, from, end - 1);
  if (last[0] < last[1]) spans.push(last);
  return spans;
}

/** One past the end of the JSON value starting at `start` (a container is matched by depth); -1 if unterminated. */
function valueEnd(body: Uint8Array, start: number): number {
  const open = body[start];
  if (open !== 0x5b && open !== 0x7b) return -1;
  let depth = 0;
  for (let i = start; i < body.length; i++) {
    const c = body[i];
    if (c === QUOTE) i = stringEnd(body, i) - 1;
    else if (c === 0x5b || c === 0x7b) depth++;
    else if ((c === 0x5d || c === 0x7d) && --depth === 0) return i + 1;
  }
  return -1;
}

/** One past the closing quote of the string opening at `at`. */
function stringEnd(body: Uint8Array, at: number): number {
  for (let i = at + 1; i < body.length; i++) {
    const c = body[i];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return body.length;
}

function trim(body: Uint8Array, start: number, end: number): [number, number] {
  let s = start;
  let e = end;
  while (s < e && isSpace(body[s])) s++;
  while (e > s && isSpace(body[e - 1])) e--;
  return [s, e];
}
