/**
 * A protocol's documents as records of its table, built where they are
 * parsed (the decode worker) instead of on the main thread. The body is
 * framed, one document per frame, as the sender wrote it; each record is
 *
 *   { <fields[k].name>: fields[k].values[i] …, <timeField>: time, <docField>: document }
 *
 * where `time` is the document's `docTimePath` (a top-level key, else a
 * dotted path) or the receive time. Elasticsearch `_bulk` is the first
 * user: the route splits the body and reads only the small action lines,
 * so every document is parsed exactly once, off the main thread (before,
 * the route parsed each one for its time, wrote it back out inside a
 * record line, and the pipeline parsed that again).
 *
 * A frame that is not JSON, or not an object, is refused on its own
 * (INVALID_JSON) like a bad Kafka message, not fatal to its neighbours.
 */
import { UnparsedRecord } from './batch-encoder.ts';

/**
 * A string field's values: every record's, back to back in `text`, cut by
 * `lengths` (UTF-16 code units); without `lengths` every record has all of
 * `text`. One string and one typed array cross to the worker instead of a
 * string per record (structured-cloning 2,000 strings per request was a
 * fifth of the main thread's time on a `_bulk` request).
 */
export interface PackedStrings {
  readonly text: string;
  readonly lengths?: Uint32Array;
}

/** Packs `values` (one string when they are all the same). */
export function packStrings(values: readonly string[]): PackedStrings {
  const first = values[0] ?? '';
  let same = true;
  for (let i = 1; i < values.length && same; i++) same = values[i] === first;
  if (same) return { text: first };
  // Plain loops: a callback per value (every, Uint32Array.from's map) was a tenth of a _bulk request's planning.
  const lengths = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) lengths[i] = (values[i] as string).length;
  return { text: values.join(''), lengths };
}

/** The values of `packed` for `count` records. */
export function unpackStrings(packed: PackedStrings, count: number): string[] {
  const lengths = packed.lengths;
  if (lengths === undefined) return new Array<string>(count).fill(packed.text);
  const out = new Array<string>(lengths.length);
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    const end = at + (lengths[i] as number);
    out[i] = packed.text.slice(at, end);
    at = end;
  }
  return out;
}

/** How the frames of a body become records. */
export interface FrameEnvelope {
  /** The field that holds the parsed document. */
  readonly docField: string;
  /** The record's event-time field. */
  readonly timeField: string;
  /** Where the event time is in the document: a top-level key, else a dotted path. */
  readonly docTimePath: string;
  /** String fields set per record (the document's id, its index name…), one value per frame. */
  readonly fields: readonly { readonly name: string; readonly values: PackedStrings }[];
  /** What a frame is called in refusals ("the source is not JSON"). */
  readonly noun: string;
}

/** The records of `docs` (decoded frames, UnparsedRecords left as they are); never throws on user input. */
export function wrapFrames(docs: readonly unknown[], env: FrameEnvelope, nowMs: number): unknown[] {
  const fields = unpacked(env, docs.length);
  const out = new Array<unknown>(docs.length);
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i];
    if (doc instanceof UnparsedRecord) out[i] = doc;
    else if (!isObject(doc)) out[i] = new UnparsedRecord(`the ${env.noun} must be a JSON object`);
    else out[i] = recordOf(doc, i, fields, env, nowMs);
  }
  return out;
}

type Unpacked = readonly { readonly name: string; readonly values: readonly string[] }[];

function unpacked(env: FrameEnvelope, count: number): Unpacked {
  return env.fields.map((f) => ({ name: f.name, values: unpackStrings(f.values, count) }));
}

/**
 * The record of document `i` as JSON text, for a dead letter: what `sluice
 * dlq replay` sends to the table again. A frame that does not parse is
 * kept as sent (it can only be replayed once fixed by hand).
 */
export function envelopedText(frame: Uint8Array, i: number, count: number, env: FrameEnvelope, nowMs: number): Uint8Array {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8'));
  } catch {
    return frame;
  }
  return isObject(doc) ? Buffer.from(JSON.stringify(recordOf(doc, i, unpacked(env, count), env, nowMs)), 'utf8') : frame;
}

/**
 * The event time of `doc`: the value at `path`, or `nowMs` when it has
 * none (or null). A value the `timestamp` type refuses (an object, a bad
 * date) is passed on, so validation refuses that record with its path.
 */
export function docTime(doc: Readonly<Record<string, unknown>>, path: string, nowMs: number): unknown {
  let value: unknown = doc[path];
  if (value === undefined && path.includes('.')) {
    value = doc;
    for (const part of path.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  }
  return value === undefined || value === null ? nowMs : value;
}

function recordOf(doc: Record<string, unknown>, i: number, fields: Unpacked, env: FrameEnvelope, nowMs: number): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const f of fields) record[f.name] = f.values[i];
  record[env.timeField] = docTime(doc, env.docTimePath, nowMs);
  record[env.docField] = doc;
  return record;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
