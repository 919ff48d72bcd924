/**
 * An OTLP/JSON body (ExportLogsServiceRequest) as log entries, the same
 * entries the protobuf decoder makes. Ids are hex (OTLP/JSON's exception
 * to proto3 JSON, where bytes would be base64), times are decimal strings
 * of nanoseconds (or JSON numbers, exact only up to 2^53). A body that is
 * not JSON is INVALID_JSON; one whose resource or scope is not shaped like
 * OTLP is INVALID_OTLP; a log record with a bad value is refused alone.
 */
import { SluiceError } from '../../../core/errors.ts';
import { checkJsonContainers } from '../json-containers.ts';
import { tooManyRecords, type OtlpDecodeOptions } from './decode-otlp-protobuf.ts';
import { newAttributes, type Attributes, type OtlpLogEntry, type OtlpScope, SPAN_ID_BYTES, TRACE_ID_BYTES } from './otlp-log-entry.ts';
import { asArray, asInteger, asObject, asString, jsonAnyValue, jsonAttributes, member } from './json-any-value.ts';
import { perRecord, ValueProblem, wholeRequest } from './value-problem.ts';

const UINT32_MAX = 2n ** 32n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;

/** Decodes the body; throws INVALID_ENCODING, INVALID_JSON, INVALID_OTLP, or PAYLOAD_TOO_LARGE past `recordsMax` records. */
export function decodeOtlpJson(body: Uint8Array, options: OtlpDecodeOptions): OtlpLogEntry[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new SluiceError('INVALID_ENCODING', 'the request body is not valid UTF-8');
  }
  checkJsonContainers(body, options.containersMax ?? Number.POSITIVE_INFINITY);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // RangeError: nesting deep enough to exhaust the parser; SyntaxError: malformed.
    const message = err instanceof Error ? err.message : String(err);
    throw new SluiceError('INVALID_JSON', `the body is not valid JSON: ${message}`, [{ message }]);
  }
  const entries: OtlpLogEntry[] = [];
  const resourceLogs = wholeRequest('', () => asArray(member(asObject(parsed, ''), 'resourceLogs', 'resource_logs'), '/resourceLogs'));
  resourceLogs.forEach((raw, r) => {
    const at = `/resourceLogs/${r}`;
    const rl = wholeRequest(at, () => asObject(raw, ''));
    const resource = wholeRequest(`${at}/resource`, () => attributesOf(member(rl, 'resource'), options));
    const scopeLogs = wholeRequest(at, () => asArray(member(rl, 'scopeLogs', 'scope_logs'), '/scopeLogs'));
    scopeLogs.forEach((rawScope, s) => {
      const sat = `${at}/scopeLogs/${s}`;
      const sl = wholeRequest(sat, () => asObject(rawScope, ''));
      const scope = wholeRequest(`${sat}/scope`, () => scopeOf(member(sl, 'scope'), options));
      const records = wholeRequest(sat, () => asArray(member(sl, 'logRecords', 'log_records'), '/logRecords'));
      // Counted before any entry of the scope is built (the parsed tree is already there; the entries would double it).
      if (entries.length + records.length > (options.recordsMax ?? Number.POSITIVE_INFINITY)) throw tooManyRecords(options.recordsMax ?? 0);
      for (const record of records) entries.push(jsonEntry(record, resource, scope, options));
    });
  });
  return entries;
}

/** A Resource's (or absent resource's) attributes. */
function attributesOf(raw: unknown, options: OtlpDecodeOptions): Attributes {
  if (raw === undefined) return newAttributes();
  return jsonAttributes(asArray(member(asObject(raw, ''), 'attributes'), '/attributes'), '/attributes', 1, options.depthMax);
}

function scopeOf(raw: unknown, options: OtlpDecodeOptions): OtlpScope {
  if (raw === undefined) return { name: '', version: '', attributes: newAttributes() };
  const o = asObject(raw, '');
  return { name: asString(member(o, 'name'), '/name'), version: asString(member(o, 'version'), '/version'), attributes: attributesOf(o, options) };
}

const NO_RECORD: Omit<OtlpLogEntry, 'resource' | 'scope' | 'problem'> = {
  timeUnixNano: '0',
  observedTimeUnixNano: '0',
  severityNumber: 0,
  severityText: '',
  body: undefined,
  attributes: newAttributes(),
  droppedAttributesCount: 0,
  flags: 0,
  traceId: '',
  spanId: '',
  eventName: '',
};

function jsonEntry(raw: unknown, resource: Attributes, scope: OtlpScope, options: OtlpDecodeOptions): OtlpLogEntry {
  const fields = perRecord(() => {
    const o = asObject(raw, '');
    const body = member(o, 'body');
    return {
      timeUnixNano: asInteger(member(o, 'timeUnixNano', 'time_unix_nano') ?? 0, '/timeUnixNano', 0n, UINT64_MAX).toString(),
      observedTimeUnixNano: asInteger(member(o, 'observedTimeUnixNano', 'observed_time_unix_nano') ?? 0, '/observedTimeUnixNano', 0n, UINT64_MAX).toString(),
      severityNumber: severityNumber(member(o, 'severityNumber', 'severity_number')),
      severityText: asString(member(o, 'severityText', 'severity_text'), '/severityText'),
      body: body === undefined ? undefined : jsonAnyValue(body, '/body', 1, options.depthMax),
      attributes: jsonAttributes(asArray(member(o, 'attributes'), '/attributes'), '/attributes', 1, options.depthMax),
      droppedAttributesCount: Number(asInteger(member(o, 'droppedAttributesCount', 'dropped_attributes_count') ?? 0, '/droppedAttributesCount', 0n, UINT32_MAX)),
      flags: Number(asInteger(member(o, 'flags') ?? 0, '/flags', 0n, UINT32_MAX)),
      traceId: hexId(member(o, 'traceId', 'trace_id'), TRACE_ID_BYTES, '/traceId'),
      spanId: hexId(member(o, 'spanId', 'span_id'), SPAN_ID_BYTES, '/spanId'),
      eventName: asString(member(o, 'eventName', 'event_name'), '/eventName'),
    };
  });
  if ('value' in fields) return { resource, scope, ...fields.value };
  return { resource, scope, ...NO_RECORD, problem: fields.problem };
}

const SEVERITY_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

/**
 * `severityNumber`: OTLP/JSON sends the enum as its number, but proto3 JSON
 * allows its name (`SEVERITY_NUMBER_WARN2` = 14), which some senders use.
 */
function severityNumber(raw: unknown): number {
  if (typeof raw === 'string') {
    const m = /^SEVERITY_NUMBER_(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)([234]?)$/.exec(raw);
    if (m !== null) return SEVERITY_LEVELS.indexOf(m[1] as string) * 4 + (m[2] === '' ? 1 : Number(m[2]));
    if (raw === 'SEVERITY_NUMBER_UNSPECIFIED') return 0;
  }
  return Number(asInteger(raw ?? 0, '/severityNumber', INT32_MIN, INT32_MAX));
}

/** A hex id as lower case: '' when absent, empty or all zero; a FORMAT problem otherwise. */
function hexId(raw: unknown, bytes: number, path: string): string {
  const hex = asString(raw, path);
  if (hex === '') return '';
  if (hex.length !== bytes * 2 || !/^[0-9a-fA-F]+$/.test(hex)) throw new ValueProblem(path, 'FORMAT', `expected ${bytes * 2} hex digits`);
  return /^0+$/.test(hex) ? '' : hex.toLowerCase();
}
