/**
 * Turns a request body into parsed records: one JSON object, a JSON array
 * of objects, or NDJSON (one JSON value per line). Errors name the record
 * (array index or NDJSON line, 0-based) so a client can fix its input.
 */
import { isUtf8 } from 'node:buffer';
import { SluiceError } from '../core/errors.ts';

/** How a body is framed. `auto` sniffs: a body that parses as one JSON value is JSON, else NDJSON. */
export type BodyFormat = 'json' | 'ndjson' | 'auto';

/** The body format a Content-Type names (parameters ignored). */
export function bodyFormatOf(contentType: string | undefined): BodyFormat {
  const mime = mimeOf(contentType);
  if (mime === 'application/x-ndjson' || mime === 'application/ndjson' || mime === 'application/jsonl' || mime === 'application/x-jsonlines') {
    return 'ndjson';
  }
  if (mime === 'application/json') return 'json';
  return 'auto';
}

/** Whether a Content-Type names length-delimited protobuf messages of the table's message. */
export function isDelimitedProtobuf(contentType: string | undefined): boolean {
  const mime = mimeOf(contentType);
  return mime === 'application/x-protobuf' || mime === 'application/protobuf';
}

let lastContentType = '';
let lastMime = '';

/** The media type of a Content-Type header, lower case; the last header's is kept, as clients send one type over and over. */
function mimeOf(contentType: string | undefined): string {
  const header = contentType ?? '';
  if (header !== lastContentType) {
    lastMime = header.split(';', 1)[0]?.trim().toLowerCase() ?? '';
    lastContentType = header;
  }
  return lastMime;
}

/** Parses a body into records (not yet validated). Throws EMPTY_BODY, INVALID_ENCODING or INVALID_JSON. */
export function decodeBody(body: Uint8Array, format: BodyFormat): unknown[] {
  checkBody(body);
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let records: unknown[];
  if (format === 'ndjson') {
    records = parseNdjson(text);
  } else {
    const whole = tryParse(text);
    if (whole.ok) {
      records = Array.isArray(whole.value) ? whole.value : [whole.value];
    } else if (format === 'auto' && text.includes('\n')) {
      records = parseNdjson(text);
    } else {
      throw new SluiceError('INVALID_JSON', `the body is not valid JSON: ${whole.message}`, [{ message: whole.message }]);
    }
  }
  if (records.length === 0) throw noRecords();
  return records;
}

/** Throws EMPTY_BODY or INVALID_ENCODING for a body that no format can hold records in. */
export function checkBody(body: Uint8Array): void {
  if (body.length === 0) throw new SluiceError('EMPTY_BODY', 'the request body is empty');
  if (!isUtf8(body)) throw new SluiceError('INVALID_ENCODING', 'the request body is not valid UTF-8');
}

/** The refusal of a body whose lines are all blank. */
export function noRecords(): SluiceError {
  return new SluiceError('EMPTY_BODY', 'the request holds no records');
}

function parseNdjson(text: string): unknown[] {
  const records: unknown[] = [];
  let start = 0;
  let line = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const record = parseNdjsonLine(text.slice(start, end), line, records.length);
    if (record !== BLANK_LINE) records.push(record);
    start = end + 1;
    line++;
  }
  return records;
}

/** What `parseNdjsonLine` returns for a blank line. */
export const BLANK_LINE: unique symbol = Symbol('blank line');

const UTF8 = new TextDecoder();

/**
 * Whether bytes [start, end) are a line `parseNdjsonLine` calls blank:
 * JavaScript's trim() leaves nothing, so Unicode whitespace (U+00A0,
 * U+FEFF, U+2028…) counts as well as ASCII. For those that count records
 * in bytes (the file importer, dead letters' byte spans): counted any other
 * way, records after such a line get the wrong number. A line past ASCII
 * is decoded to tell (rare: a record starts with ASCII).
 */
export function isBlankLine(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    if (c >= 0x80) return UTF8.decode(bytes.subarray(start, end)).trim().length === 0;
    // \t, \n, \v, \f, \r, space
    if (c !== 9 && c !== 10 && c !== 11 && c !== 12 && c !== 13 && c !== 32) return false;
  }
  return true;
}

/** NDJSON line `line` (0-based) parsed, or BLANK_LINE; `index`: the records before it. Throws INVALID_JSON naming both. */
export function parseNdjsonLine(raw: string, line: number, index: number): unknown {
  // Blank lines (and a trailing newline) are framing, not records.
  if (raw.trim().length === 0) return BLANK_LINE;
  const parsed = tryParse(raw);
  if (!parsed.ok) {
    throw new SluiceError('INVALID_JSON', `NDJSON line ${line + 1} is not valid JSON: ${parsed.message}`, [{ index, message: `line ${line + 1}: ${parsed.message}` }]);
  }
  return parsed.value;
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    // RangeError: nesting deep enough to exhaust the parser; SyntaxError: malformed.
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}
