/**
 * Log entries as records of the OTLP logs table (otel-logs-table.ts). The
 * event time is `timeUnixNano`, else `observedTimeUnixNano`, else the time
 * the request arrived; its nanoseconds are kept exactly in
 * `time_unix_nano`, its milliseconds (truncated) in `time`. Empty values
 * are left out rather than stored as '' or 0, so a reader can tell
 * "not sent" from a value.
 */
import type { JsonValue } from '../../../core/schema/table-def.ts';
import type { Rejection } from '../../batch-encoder.ts';
import type { Attributes, OtlpLogEntry } from './otlp-log-entry.ts';

/** The service of a resource without `service.name` (OpenTelemetry's resource semantic conventions). */
export const UNKNOWN_SERVICE = 'unknown_service';

/** Decimal digits of nanoseconds below a millisecond. */
const NS_DIGITS_PER_MS = 6;

/** Records to write, where each came from, and the entries refused before the table saw them. */
export interface MappedEntries {
  readonly records: Record<string, JsonValue>[];
  /** Index in the request (over all resources and scopes) of each record. */
  readonly positions: number[];
  readonly rejected: Rejection[];
}

/** Maps every entry without a problem to a record; `nowMs` is the receive time. */
export function mapLogEntries(entries: readonly OtlpLogEntry[], nowMs: number): MappedEntries {
  const out: MappedEntries = { records: [], positions: [], rejected: [] };
  entries.forEach((entry, i) => {
    if (entry.problem !== undefined) {
      out.rejected.push({ index: i, code: entry.problem.code, path: entry.problem.path, message: entry.problem.message });
      return;
    }
    out.records.push(logRecord(entry, nowMs));
    out.positions.push(i);
  });
  return out;
}

/** One entry as a record. */
export function logRecord(e: OtlpLogEntry, nowMs: number): Record<string, JsonValue> {
  const ns = e.timeUnixNano !== '0' ? e.timeUnixNano : e.observedTimeUnixNano !== '0' ? e.observedTimeUnixNano : `${nowMs}000000`;
  const record: Record<string, JsonValue> = {
    service_name: serviceName(e.resource),
    time: msOf(ns),
    time_unix_nano: ns,
  };
  if (e.observedTimeUnixNano !== '0') record['observed_time_unix_nano'] = e.observedTimeUnixNano;
  if (e.severityNumber !== 0) record['severity_number'] = e.severityNumber;
  if (e.severityText !== '') record['severity_text'] = e.severityText;
  if (e.body !== undefined) record['body'] = e.body;
  if (e.traceId !== '') record['trace_id'] = e.traceId;
  if (e.spanId !== '') record['span_id'] = e.spanId;
  if (e.flags !== 0) record['flags'] = e.flags;
  if (e.eventName !== '') record['event_name'] = e.eventName;
  if (hasKeys(e.attributes)) record['attributes'] = e.attributes;
  if (hasKeys(e.resource)) record['resource_attributes'] = e.resource;
  const scope = scopeJson(e);
  if (scope !== undefined) record['scope'] = scope;
  if (e.droppedAttributesCount !== 0) record['dropped_attributes_count'] = e.droppedAttributesCount;
  return record;
}

/**
 * Whole milliseconds of a decimal nanosecond count (the decoders give it
 * canonical: digits only, no leading zeros): its digits but the last six.
 * Text, not BigInt: a BigInt per record was a measurable share of the
 * mapping, and the result (at most 14 digits) is always a safe integer.
 */
function msOf(ns: string): number {
  return ns.length <= NS_DIGITS_PER_MS ? 0 : Number(ns.slice(0, -NS_DIGITS_PER_MS));
}

/** `service.name` as a string (a non-string value in its JSON text), or UNKNOWN_SERVICE. */
function serviceName(resource: Attributes): string {
  const v = resource['service.name'];
  if (v === undefined || v === null || v === '') return UNKNOWN_SERVICE;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function scopeJson(e: OtlpLogEntry): JsonValue | undefined {
  const scope: Record<string, JsonValue> = {};
  if (e.scope.name !== '') scope['name'] = e.scope.name;
  if (e.scope.version !== '') scope['version'] = e.scope.version;
  if (hasKeys(e.scope.attributes)) scope['attributes'] = e.scope.attributes;
  return hasKeys(scope) ? scope : undefined;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}
