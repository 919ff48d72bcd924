/**
 * An OTLP/HTTP protobuf body (ExportLogsServiceRequest) as log entries,
 * read straight from the wire (proto-reader.ts). A body that does not
 * decode is refused whole (INVALID_PROTOBUF); a bad resource or scope
 * value refuses the request (INVALID_OTLP); a record with a wrong-length
 * id or a value nested too deep is refused alone (its entry carries the
 * problem).
 *
 *   ExportLogsServiceRequest := 1 ResourceLogs*
 *   ResourceLogs  := 1 Resource, 2 ScopeLogs*, 3 schema_url
 *   Resource      := 1 KeyValue*, 2 dropped_attributes_count
 *   ScopeLogs     := 1 InstrumentationScope, 2 LogRecord*, 3 schema_url
 *   InstrumentationScope := 1 name, 2 version, 3 KeyValue*, 4 dropped_attributes_count
 *   LogRecord     := 1 time_unix_nano fixed64, 2 severity_number int32, 3 severity_text,
 *                    5 body AnyValue, 6 KeyValue*, 7 dropped_attributes_count uint32,
 *                    8 flags fixed32, 9 trace_id, 10 span_id, 11 observed_time_unix_nano fixed64,
 *                    12 event_name
 *
 * A message's fields may come in any order, so a resource (or scope) sent
 * after its records is read first.
 */
import { SluiceError } from '../../../core/errors.ts';
import { type Attributes, newAttributes, type OtlpLogEntry, type OtlpScope, SPAN_ID_BYTES, TRACE_ID_BYTES } from './otlp-log-entry.ts';
import { wireAnyValue, wireAttributes } from './proto-any-value.ts';
import { DELIMITED, FIXED32, FIXED64, MalformedProto, ProtoReader, VARINT, uint64Decimal } from './proto-reader.ts';
import { perRecord, ValueProblem, wholeRequest } from './value-problem.ts';

/** Limits of decoding. */
export interface OtlpDecodeOptions {
  /** Deepest AnyValue nesting taken (the node's jsonDepthMax). */
  readonly depthMax: number;
  /**
   * Most log records a request may hold; past it the request is refused
   * (PAYLOAD_TOO_LARGE) before their entries are built. An empty record is
   * 2 bytes of protobuf (3 of JSON) and hundreds of bytes of heap as an
   * entry and a record: without a bound, a body within the body limit ran
   * a decode worker out of heap. @default unbounded
   */
  readonly recordsMax?: number;
  /** Most objects and arrays a JSON body may open, checked before it is parsed (decode-otlp-json.ts). @default unbounded */
  readonly containersMax?: number;
}

/** [start, end) of a length-delimited field's value. */
type Span = readonly [number, number];

/** Decodes the body; throws INVALID_PROTOBUF, PAYLOAD_TOO_LARGE past `recordsMax` records, or INVALID_OTLP for a bad resource or scope value. */
export function decodeOtlpProtobuf(body: Uint8Array, options: OtlpDecodeOptions): OtlpLogEntry[] {
  const r = new ProtoReader(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  const entries: OtlpLogEntry[] = [];
  const recordsMax = options.recordsMax ?? Number.POSITIVE_INFINITY;
  try {
    eachSpan(r, 0, body.byteLength, 1, (start, end, i) => resourceLogs(r, start, end, i, entries, options.depthMax, recordsMax));
  } catch (err) {
    if (!(err instanceof MalformedProto)) throw err;
    throw new SluiceError('INVALID_PROTOBUF', `the body is not an OTLP ExportLogsServiceRequest: ${err.message}`);
  }
  return entries;
}

/**
 * Calls `fn` with each value of the length-delimited field `field` of the
 * message in [start, end), in order (other fields skipped). No list of the
 * values is made: a 2-byte empty message would cost a 2-number array each.
 */
function eachSpan(r: ProtoReader, start: number, end: number, field: number, fn: (start: number, end: number, i: number) => void): void {
  r.pos = start;
  for (let i = 0, valueEnd = r.nextDelimited(field, end, 'field'); valueEnd >= 0; i++, valueEnd = r.nextDelimited(field, end, 'field')) {
    fn(r.pos, valueEnd, i);
    // `fn` reads with the same cursor: go on after this value whatever it did.
    r.pos = valueEnd;
  }
}

/** The last value of field `field` (a message sent twice keeps the last), or undefined. */
function lastSpan(r: ProtoReader, start: number, end: number, field: number): Span | undefined {
  let last: Span | undefined;
  eachSpan(r, start, end, field, (s, e) => {
    last = [s, e];
  });
  return last;
}

function resourceLogs(r: ProtoReader, start: number, end: number, ri: number, entries: OtlpLogEntry[], depthMax: number, recordsMax: number): void {
  const at = `/resourceLogs/${ri}`;
  const res = lastSpan(r, start, end, 1);
  const resource = res === undefined ? newAttributes() : wholeRequest(`${at}/resource/attributes`, () => wireAttributes(r, res[0], res[1], 1, '', 1, depthMax));
  eachSpan(r, start, end, 2, (s, e, si) => {
    const sat = `${at}/scopeLogs/${si}`;
    const sc = lastSpan(r, s, e, 1);
    const scope = sc === undefined ? { name: '', version: '', attributes: newAttributes() } : scopeOf(r, sc, sat, depthMax);
    eachSpan(r, s, e, 2, (ls, le) => {
      if (entries.length >= recordsMax) throw tooManyRecords(recordsMax);
      entries.push(logRecord(r, ls, le, resource, scope, depthMax));
    });
  });
}

/** PAYLOAD_TOO_LARGE for a request of more than `recordsMax` log records. */
export function tooManyRecords(recordsMax: number): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `the request holds more than ${recordsMax} log records, more than the body limit takes as records: send smaller batches`);
}

function scopeOf(r: ProtoReader, [start, end]: Span, at: string, depthMax: number): OtlpScope {
  let name = '';
  let version = '';
  r.pos = start;
  while (r.pos < end) {
    const key = r.uint32(end);
    if (key === ((1 << 3) | DELIMITED)) name = r.string(end);
    else if (key === ((2 << 3) | DELIMITED)) version = r.string(end);
    else r.skip(key & 7, end);
  }
  return { name, version, attributes: wholeRequest(`${at}/scope/attributes`, () => wireAttributes(r, start, end, 3, '', 1, depthMax)) };
}

/** What a LogRecord's scan finds: scalars read, values that can be refused left as spans. */
interface RecordFields {
  timeLo: number;
  timeHi: number;
  observedLo: number;
  observedHi: number;
  severityNumber: number;
  severityText: string;
  body: Span | undefined;
  attributes: boolean;
  droppedAttributesCount: number;
  flags: number;
  traceId: Span | undefined;
  spanId: Span | undefined;
  eventName: string;
}

function logRecord(r: ProtoReader, start: number, end: number, resource: Attributes, scope: OtlpScope, depthMax: number): OtlpLogEntry {
  const f = scanRecord(r, start, end);
  // The values a record is refused for, in a fixed order (body, attributes, ids): the first problem is the one named.
  const values = perRecord(() => ({
    body: f.body === undefined ? undefined : wireAnyValue(r, f.body[0], f.body[1], '/body', 1, depthMax),
    attributes: f.attributes ? wireAttributes(r, start, end, 6, '/attributes', 1, depthMax) : newAttributes(),
    traceId: hexId(r, f.traceId, TRACE_ID_BYTES, '/traceId'),
    spanId: hexId(r, f.spanId, SPAN_ID_BYTES, '/spanId'),
  }));
  const fixed = 'value' in values ? values.value : { body: undefined, attributes: newAttributes(), traceId: '', spanId: '' };
  return {
    resource,
    scope,
    timeUnixNano: uint64Decimal(f.timeLo, f.timeHi),
    observedTimeUnixNano: uint64Decimal(f.observedLo, f.observedHi),
    severityNumber: f.severityNumber,
    severityText: f.severityText,
    body: fixed.body,
    attributes: fixed.attributes,
    droppedAttributesCount: f.droppedAttributesCount,
    flags: f.flags,
    traceId: fixed.traceId,
    spanId: fixed.spanId,
    eventName: f.eventName,
    ...('problem' in values ? { problem: values.problem } : {}),
  };
}

/** One pass over a LogRecord's fields (a field sent twice keeps the last). */
function scanRecord(r: ProtoReader, start: number, end: number): RecordFields {
  const f: RecordFields = { timeLo: 0, timeHi: 0, observedLo: 0, observedHi: 0, severityNumber: 0, severityText: '', body: undefined, attributes: false, droppedAttributesCount: 0, flags: 0, traceId: undefined, spanId: undefined, eventName: '' };
  r.pos = start;
  while (r.pos < end) {
    const key = r.uint32(end);
    switch (key) {
      case (1 << 3) | FIXED64: f.timeLo = r.fixed64(end); f.timeHi = r.hi; break;
      case (11 << 3) | FIXED64: f.observedLo = r.fixed64(end); f.observedHi = r.hi; break;
      case (2 << 3) | VARINT: f.severityNumber = r.varint64(end) | 0; break;
      case (3 << 3) | DELIMITED: f.severityText = r.string(end); break;
      case (5 << 3) | DELIMITED: f.body = delimited(r, end); break;
      case (6 << 3) | DELIMITED: f.attributes = true; r.skip(DELIMITED, end); break;
      case (7 << 3) | VARINT: f.droppedAttributesCount = r.varint64(end); break;
      case (8 << 3) | FIXED32: f.flags = r.fixed32(end); break;
      case (9 << 3) | DELIMITED: f.traceId = delimited(r, end); break;
      case (10 << 3) | DELIMITED: f.spanId = delimited(r, end); break;
      case (12 << 3) | DELIMITED: f.eventName = r.string(end); break;
      default:
        if ((key >>> 3) >= 1 && (key >>> 3) <= 12 && (key >>> 3) !== 4) throw new MalformedProto(`LogRecord field ${key >>> 3} with wire type ${key & 7}`);
        r.skip(key & 7, end);
    }
  }
  return f;
}

function delimited(r: ProtoReader, end: number): Span {
  const valueEnd = r.delimitedEnd(end);
  const span: Span = [r.pos, valueEnd];
  r.pos = valueEnd;
  return span;
}

/** An id as lower-case hex: '' when absent, empty or all zero (the spec's invalid id), a FORMAT problem at another length. */
function hexId(r: ProtoReader, span: Span | undefined, length: number, path: string): string {
  if (span === undefined || span[0] === span[1]) return '';
  const n = span[1] - span[0];
  if (n !== length) throw new ValueProblem(path, 'FORMAT', `expected ${length} bytes, got ${n}`);
  for (let i = span[0]; i < span[1]; i++) if (r.buf[i] !== 0) return r.buf.toString('hex', span[0], span[1]);
  return '';
}
