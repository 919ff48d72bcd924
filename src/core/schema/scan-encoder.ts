/**
 * The generated encoder of compile-encoder.ts, but from a record's JSON
 * bytes instead of a JSON.parse'd object: a flat JSON scan
 * (core/codec/flat-json-scanner.ts) finds each field's value in the text,
 * the same checks as the generated encoder's fast paths accept or decline
 * it, and the entry is written with a string field's bytes copied from the
 * text. No object, no value strings (only the shard key's), no garbage per
 * field: JSON.parse and the object it builds were half of a decode
 * worker's time per record.
 *
 * Like the generated encoder it is a fast path, not a definition of
 * validity: it declines (false or -1, nothing written) whatever the scanner
 * declines and every record the generated encoder would decline (a
 * violation, an extra field, a time past the bound, a key too long, an
 * unusual value), plus timestamps given as text and any value of a `json`
 * or `bytes` field. The caller then parses that record and takes the
 * object path, so refusals keep one definition and the batch bytes are
 * the same either way (test/ingest/encode-json-text.test.ts compares random
 * records, plain and not, byte for byte).
 */
import { FlatJsonScanner, SLOT_ESCAPED, SLOT_FALSE, SLOT_MISSING, SLOT_NULL, SLOT_NUMBER, SLOT_STRING, SLOT_TRUE, latin1 } from '../codec/flat-json-scanner.ts';
import type { MsgpackWriter } from '../codec/msgpack-writer.ts';
import type { PkWriter } from '../codec/record-batch-v1.ts';
import { shardOf, shardOfBytes } from '../murmur3.ts';
import type { EncodeTarget } from './compile-encoder.ts';
import { slowNormalizers, type CompiledSchema } from './compile-schema.ts';
import { isPlainDecimalBytes, TIMESTAMP_MS_MAX, ValueProblem } from './field-value.ts';
import { keyString } from './key-string.ts';
import type { FieldType } from './table-def.ts';

/** Encodes the JSON text src[start, end) as record `index` of the batch; false, with nothing written, when the object path must take it. */
export type ScanEncoder = (src: Buffer, start: number, end: number, index: number) => boolean;

/** Binds a schema's scan encoder to one batch. */
export type ScanEncoderFactory = (target: EncodeTarget) => ScanEncoder;

/**
 * Encodes the object src[start, end) opens with (an array's element) as
 * record `index`: the position after its `}`, or -1, with nothing written,
 * when the object path must take it.
 */
export type ScanElementEncoder = (src: Buffer, start: number, end: number, index: number) => number;

/** A field's value once checked: a scanner slot kind, or VALUE (held in `values`: a default, a decimal's text). */
const VALUE = 9;

const encoders = new WeakMap<CompiledSchema, RecordScanEncoder>();

/** What text an encode takes: all of [start, end), the object it opens with, or the NDJSON line that starts at `start`. */
const WHOLE = 0;
const ELEMENT = 1;
const LINE = 2;
type Extent = typeof WHOLE | typeof ELEMENT | typeof LINE;

/** The schema's scan encoder, made on first use and kept for the life of the compiled schema. */
export function scanEncoderOf(schema: CompiledSchema): ScanEncoderFactory {
  const encoder = encoderOf(schema);
  return (target) => (src, start, end, index) => encoder.encode(target, src, start, end, index, WHOLE) >= 0;
}

/** The schema's scan encoder for the elements of a JSON array. */
export function scanElementEncoderOf(schema: CompiledSchema): (target: EncodeTarget) => ScanElementEncoder {
  const encoder = encoderOf(schema);
  return (target) => (src, start, end, index) => encoder.encode(target, src, start, end, index, ELEMENT);
}

/**
 * The schema's scan encoder for NDJSON lines: encodes the line that starts
 * at `start` (src[start, end) holds it and maybe more lines) as the scan
 * encoder would the line's text alone; the line's end (its newline, or
 * `end`), or -1, with nothing written, when the line must be found and
 * parsed instead. Saves finding each line's end before scanning it.
 */
export function scanLineEncoderOf(schema: CompiledSchema): (target: EncodeTarget) => ScanElementEncoder {
  const encoder = encoderOf(schema);
  return (target) => (src, start, end, index) => encoder.encode(target, src, start, end, index, LINE);
}

function encoderOf(schema: CompiledSchema): RecordScanEncoder {
  let encoder = encoders.get(schema);
  if (encoder === undefined) {
    // One encoder per schema and thread, its slots reused record after record: a call runs to its end before the next
    // (decoding is synchronous), and a single-record request does not pay for typed arrays of its own.
    encoder = new RecordScanEncoder(schema, new FlatJsonScanner(schema.def.fields.map((f) => Buffer.from(f.name, 'utf8'))));
    encoders.set(schema, encoder);
  }
  return encoder;
}

/** A schema's scan encoder: the scanner's slots, then each field checked, then the entry written into a batch. */
class RecordScanEncoder {
  private readonly schema: CompiledSchema;
  private readonly scanner: FlatJsonScanner;
  private readonly types: readonly FieldType[];
  private readonly required: readonly boolean[];
  private readonly stringBytesMax: number;
  /** The table keeps extra fields: an entry ends with their map (nil here: the scanner declines extras). */
  private readonly keep: boolean;
  /** Per field after `check`: a slot kind or VALUE. */
  private readonly kinds: Uint8Array;
  private readonly values: unknown[];
  private readonly slow: ReturnType<typeof slowNormalizers>;

  constructor(schema: CompiledSchema, scanner: FlatJsonScanner) {
    this.schema = schema;
    this.scanner = scanner;
    this.types = schema.def.fields.map((f) => f.type);
    this.required = schema.def.fields.map((f) => f.required === true);
    this.stringBytesMax = schema.limits.stringBytesMax;
    this.keep = schema.def.extraFields === 'keep';
    this.kinds = new Uint8Array(this.types.length);
    this.values = new Array<unknown>(this.types.length).fill(undefined);
    this.slow = slowNormalizers(schema.limits);
  }

  /** Record `index` from src[start, end), the object it opens with, or the line at `start` (`extent`); where the text taken ends, or -1. */
  encode(t: EncodeTarget, src: Buffer, start: number, end: number, index: number, extent: Extent): number {
    const s = this.scanner;
    const after = extent === WHOLE ? (s.scan(src, start, end) ? end : -1) : extent === ELEMENT ? s.scanObject(src, start, end) : s.scanLine(src, start, end);
    if (after < 0) return -1;
    for (let i = 0; i < this.types.length; i++) if (!this.check(src, i)) return -1;
    const schema = this.schema;
    const ki = schema.shardKeyIndex;
    // A string shard key is hashed and copied as the bytes it is in the text; any other is made a string as the object path makes it.
    const keyBytes = this.kinds[ki] === SLOT_STRING && this.types[ki] === 'string';
    const key = keyBytes ? undefined : this.keyOf(src, ki, t.keyBytesMax);
    if (keyBytes ? (s.ends[ki] as number) - (s.starts[ki] as number) > t.keyBytesMax : key === undefined) return -1;
    let pk: string | undefined;
    if (schema.primaryKeyIndex >= 0) {
      pk = this.keyOf(src, schema.primaryKeyIndex, t.keyBytesMax);
      if (pk === undefined) return -1;
    }
    const time = schema.timeIndex >= 0 ? this.numberOf(schema.timeIndex) : undefined;
    // The same comparison as the generated encoder's: no bound refuses nothing.
    if (time !== undefined && t.eventTimeMaxMs !== undefined && time > t.eventTimeMaxMs) return -1;
    this.begin(t, src, key, pk ?? t.dedupeKeys, index, time ?? t.nowMs);
    const keep = this.keep;
    const w = t.builder.writer;
    w.arrayHeader(this.types.length + (keep ? 1 : 0));
    for (let i = 0; i < this.types.length; i++) {
      if (!this.write(w, src, i)) {
        t.builder.abortEntry();
        return -1;
      }
    }
    // Every key was a field (the scanner declines others): no extras.
    if (keep) w.nil();
    t.builder.endEntry();
    return after;
  }

  /** The entry's head, with the shard key as its string or, when `key` is absent, as the text's bytes. */
  private begin(t: EncodeTarget, src: Buffer, key: string | undefined, pk: string | PkWriter | undefined, index: number, timeMs: number): void {
    if (key !== undefined) {
      t.builder.beginEntry(shardOf(key, t.shards), key, pk, timeMs, index);
      return;
    }
    const s = this.scanner;
    const ki = this.schema.shardKeyIndex;
    const start = s.starts[ki] as number;
    const end = s.ends[ki] as number;
    t.builder.beginEntryKeyBytes(shardOfBytes(src, start, end, t.shards), src, start, end, pk, timeMs, index);
  }

  /**
   * Field `i`'s slot against its type, as the generated encoder judges the
   * parsed value; false declines. The common cases are judged on the bytes
   * (no string made); any other scalar is made the value JSON.parse would
   * make and goes through the same slow normalizer as there.
   */
  private check(src: Buffer, i: number): boolean {
    const s = this.scanner;
    const kind = s.kinds[i] as number;
    this.kinds[i] = kind;
    if (kind === SLOT_MISSING) {
      const d = this.schema.defaults[i];
      if (d !== undefined) return this.setValue(i, d);
      if (this.required[i] === true) return false;
      this.kinds[i] = SLOT_NULL;
      return true;
    }
    if (kind === SLOT_NULL) return this.required[i] !== true;
    if (this.fromBytes(src, i, kind)) return true;
    const type = this.types[i] as FieldType;
    // json and bytes values are never judged here: nested values need the object path, and a scalar one is rare.
    if (type === 'json' || type === 'bytes') return false;
    const v = this.parsedValue(src, i, kind);
    if (v === undefined) return false;
    const r = this.slow[type](v);
    return !(r instanceof ValueProblem) && this.setValue(i, r);
  }

  /** The generated encoder's fast paths on the bytes: true when field `i` is accepted as its slot holds it. */
  private fromBytes(src: Buffer, i: number, kind: number): boolean {
    const s = this.scanner;
    switch (this.types[i]) {
      case 'string':
        // The fast path's v.length test, or normalizeString's byte count: the same string either way.
        return kind === SLOT_STRING && (s.ends[i] as number) - (s.starts[i] as number) <= this.stringBytesMax;
      case 'decimal':
        // A plain decimal is its own canonical form: written as the bytes it is.
        return kind === SLOT_STRING && s.ascii[i] === 1 && isPlainDecimalBytes(src, s.starts[i] as number, s.ends[i] as number);
      case 'int':
        return kind === SLOT_NUMBER && this.setNumber(i, Number.isSafeInteger(s.numbers[i]));
      case 'timestamp': {
        const v = s.numbers[i] as number;
        return kind === SLOT_NUMBER && this.setNumber(i, Number.isSafeInteger(v) && v >= -TIMESTAMP_MS_MAX && v <= TIMESTAMP_MS_MAX);
      }
      case 'float':
        return kind === SLOT_NUMBER && Number.isFinite(s.numbers[i]);
      case 'bool':
        return kind === SLOT_TRUE || kind === SLOT_FALSE;
      default:
        return false;
    }
  }

  /** The value JSON.parse makes of field `i`'s scalar; undefined when its escapes are not JSON. */
  private parsedValue(src: Buffer, i: number, kind: number): unknown {
    const s = this.scanner;
    const start = s.starts[i] as number;
    const end = s.ends[i] as number;
    switch (kind) {
      case SLOT_STRING:
        return s.ascii[i] === 1 ? latin1(src, start, end) : src.toString('utf8', start, end);
      case SLOT_ESCAPED:
        try {
          return JSON.parse(src.toString('utf8', start - 1, end + 1)) as string;
        } catch {
          return undefined;
        }
      case SLOT_NUMBER:
        return s.numbers[i];
      default:
        return kind === SLOT_TRUE;
    }
  }

  private setValue(i: number, v: unknown): boolean {
    this.kinds[i] = VALUE;
    this.values[i] = v;
    return true;
  }

  /** An integer number's `v + 0` (so -0 is 0), when `ok`. */
  private setNumber(i: number, ok: boolean): boolean {
    if (ok) this.scanner.numbers[i] = (this.scanner.numbers[i] as number) + 0;
    return ok;
  }

  /** The number field `i` holds once checked (undefined when null); the time bound declines past it. */
  private numberOf(i: number): number | undefined {
    const kind = this.kinds[i];
    const v = kind === SLOT_NUMBER ? this.scanner.numbers[i] : kind === VALUE ? this.values[i] : undefined;
    return typeof v === 'number' ? v : undefined;
  }

  /** Field `i`'s key string, as keySource of compile-encoder.ts makes it; undefined declines (null, too long). */
  private keyOf(src: Buffer, i: number, keyBytesMax: number): string | undefined {
    const kind = this.kinds[i];
    if (kind === SLOT_NULL) return undefined;
    const s = this.scanner;
    let key: string;
    if (kind === SLOT_STRING) {
      const start = s.starts[i] as number;
      const end = s.ends[i] as number;
      const text = s.ascii[i] === 1 ? latin1(src, start, end) : src.toString('utf8', start, end);
      key = keyString(text, this.types[i] as FieldType);
    } else {
      key = keyString(kind === SLOT_NUMBER ? s.numbers[i] : kind === VALUE ? this.values[i] : kind === SLOT_TRUE, this.types[i] as FieldType);
    }
    if (key.length * 3 > keyBytesMax && Buffer.byteLength(key) > keyBytesMax) return undefined;
    return key;
  }

  /** Writes field `i` as writeFieldSource of compile-encoder.ts does; false when a default cannot be written so. */
  private write(w: MsgpackWriter, src: Buffer, i: number): boolean {
    const kind = this.kinds[i];
    const s = this.scanner;
    if (kind === SLOT_NULL) {
      w.nil();
      return true;
    }
    if (kind === SLOT_STRING) w.strBytes(src, s.starts[i] as number, s.ends[i] as number);
    else if (kind === SLOT_NUMBER) w.num(s.numbers[i] as number);
    else if (kind === SLOT_TRUE || kind === SLOT_FALSE) w.bool(kind === SLOT_TRUE);
    else return writeValue(w, this.types[i] as FieldType, this.values[i]);
    return true;
  }
}

/** A normalized value (a default, a decimal's text) of `type`, as the generated encoder writes it. */
function writeValue(w: MsgpackWriter, type: FieldType, v: unknown): boolean {
  switch (type) {
    case 'string':
    case 'decimal':
      w.str(v as string);
      return true;
    case 'float':
    case 'timestamp':
      w.num(v as number);
      return true;
    case 'int':
      if (typeof v === 'number') {
        w.num(v);
        return true;
      }
      return w.bigint(v as bigint);
    case 'bool':
      w.bool(v as boolean);
      return true;
    case 'bytes':
      w.bin(v as Uint8Array);
      return true;
    case 'json':
      return w.json(v);
  }
}
