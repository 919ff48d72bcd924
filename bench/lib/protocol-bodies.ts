/**
 * Request bodies of the protocols benchmark: one batch of `BenchLog`s in
 * each way in's wire format, built before the clock starts.
 *
 * - native: NDJSON of exactly the records the OTLP route stores for the
 *   same batch (the peer: the same rows with no protocol to decode);
 * - OTLP protobuf and JSON: the OpenTelemetry JS SDK's own serializers
 *   (`@opentelemetry/otlp-transformer`), fed SDK-shaped log records;
 * - `_bulk`: an `index` action without `_id` (rsyslog's default) and an
 *   ECS-like document per record;
 * - Loki protobuf: a `PushRequest` (Loki's push.proto, field numbers from
 *   its wire contract) encoded with protobufjs, then a snappy block from the
 *   `snappy` package (what winston-loki sends); Loki JSON: the push API's
 *   JSON form. Streams are `{service, level}`; the trace context and the
 *   attributes travel as structured metadata (strings only, as in Loki).
 */
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import protobuf from 'protobufjs';
import { compressSync } from 'snappy';
import type { BenchLog } from './log-records.ts';

/** The instrumentation scope of every OTLP record. */
export const BENCH_SCOPE = { name: 'bench-logger', version: '1.0.0' } as const;
/** The `_index` of every `_bulk` action (lands in `es_bench_logs` with the default prefix). */
export const BENCH_ES_INDEX = 'bench-logs';
/** Trace flags of every record: sampled. */
const SAMPLED = 1;

/** The record the OTLP route stores for `log` (see map-log-entries.ts), as the native route takes it. */
export function otelRow(log: BenchLog): Record<string, unknown> {
  return {
    service_name: log.service,
    time: log.timeMs,
    time_unix_nano: log.timeNs,
    observed_time_unix_nano: log.timeNs,
    severity_number: log.severityNumber,
    severity_text: log.severityText,
    body: log.message,
    trace_id: log.traceId,
    span_id: log.spanId,
    flags: SAMPLED,
    attributes: log.attributes,
    resource_attributes: { 'service.name': log.service },
    scope: BENCH_SCOPE,
  };
}

/** Native NDJSON body: one `otelRow` per line. */
export function nativeBody(logs: readonly BenchLog[]): Buffer {
  return Buffer.from(logs.map((l) => JSON.stringify(otelRow(l))).join('\n') + '\n');
}

// One resource object per service: the serializer groups records by resource identity.
const resources = new Map<string, Resource>();
const scope = { ...BENCH_SCOPE };

/** `log` as the SDK hands it to an exporter. */
function readable(log: BenchLog): ReadableLogRecord {
  let resource = resources.get(log.service);
  if (resource === undefined) {
    resource = resourceFromAttributes({ 'service.name': log.service });
    resources.set(log.service, resource);
  }
  const hrTime: [number, number] = [log.hrTime[0], log.hrTime[1]];
  return {
    hrTime,
    hrTimeObserved: hrTime,
    spanContext: { traceId: log.traceId, spanId: log.spanId, traceFlags: SAMPLED },
    severityText: log.severityText,
    severityNumber: log.severityNumber,
    body: log.message,
    resource,
    instrumentationScope: scope,
    attributes: { ...log.attributes },
    droppedAttributesCount: 0,
  };
}

/** OTLP/HTTP protobuf body (`ExportLogsServiceRequest`), by the SDK's serializer. */
export function otlpProtobufBody(logs: readonly BenchLog[]): Buffer {
  const bytes = ProtobufLogsSerializer.serializeRequest(logs.map(readable));
  if (bytes === undefined) throw new Error('the OTLP protobuf serializer returned nothing');
  return Buffer.from(bytes);
}

/** OTLP/HTTP JSON body, by the SDK's serializer. */
export function otlpJsonBody(logs: readonly BenchLog[]): Buffer {
  const bytes = JsonLogsSerializer.serializeRequest(logs.map(readable));
  if (bytes === undefined) throw new Error('the OTLP JSON serializer returned nothing');
  return Buffer.from(bytes);
}

/** The `_bulk` document of `log`. */
export function esDoc(log: BenchLog): Record<string, unknown> {
  return {
    '@timestamp': new Date(log.timeMs).toISOString(),
    service: { name: log.service },
    log: { level: log.severityText.toLowerCase() },
    message: log.message,
    trace: { id: log.traceId },
    span: { id: log.spanId },
    attributes: log.attributes,
  };
}

/** `_bulk` body: action line, source line, per record. */
export function esBulkBody(logs: readonly BenchLog[]): Buffer {
  const action = JSON.stringify({ index: { _index: BENCH_ES_INDEX } });
  return Buffer.from(logs.map((l) => `${action}\n${JSON.stringify(esDoc(l))}\n`).join(''));
}

/** The Loki labels of `log`'s stream. */
export function lokiLabels(log: BenchLog): { readonly service: string; readonly level: string } {
  return { service: log.service, level: log.severityText.toLowerCase() };
}

/** The Loki structured metadata of `log` (string values only). */
export function lokiMetadata(log: BenchLog): Record<string, string> {
  const out: Record<string, string> = { trace_id: log.traceId, span_id: log.spanId };
  for (const [k, v] of Object.entries(log.attributes)) out[k] = String(v);
  return out;
}

/** The batch grouped into streams by label string, entries in batch order. */
function lokiStreams(logs: readonly BenchLog[]): Map<string, BenchLog[]> {
  const streams = new Map<string, BenchLog[]>();
  for (const l of logs) {
    const { service, level } = lokiLabels(l);
    const key = `{service="${service}", level="${level}"}`;
    const entries = streams.get(key);
    if (entries === undefined) streams.set(key, [l]);
    else entries.push(l);
  }
  return streams;
}

/** Loki JSON push body. */
export function lokiJsonBody(logs: readonly BenchLog[]): Buffer {
  const streams = [...lokiStreams(logs).values()].map((entries) => ({
    stream: lokiLabels(entries[0] as BenchLog),
    values: entries.map((l) => [l.timeNs, l.message, lokiMetadata(l)]),
  }));
  return Buffer.from(JSON.stringify({ streams }));
}

// Loki's push.proto (logproto), the fields a push carries.
const PUSH_PROTO = `
syntax = "proto3";
package bench.loki;
import "google/protobuf/timestamp.proto";
message PushRequest { repeated StreamAdapter streams = 1; }
message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
message EntryAdapter { google.protobuf.Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
message LabelPairAdapter { string name = 1; string value = 2; }
`;

let pushType: protobuf.Type | undefined;

function pushRequestType(): protobuf.Type {
  if (pushType !== undefined) return pushType;
  const parsed = protobuf.parse(PUSH_PROTO, { keepCase: true });
  parsed.root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')?.nested ?? {});
  pushType = parsed.root.resolveAll().lookupType('bench.loki.PushRequest');
  return pushType;
}

/** Loki protobuf push body: a snappy block of a `PushRequest`. */
export function lokiProtobufBody(logs: readonly BenchLog[]): Buffer {
  const type = pushRequestType();
  const streams = [...lokiStreams(logs)].map(([labels, entries]) => ({
    labels,
    entries: entries.map((l) => ({
      timestamp: { seconds: l.hrTime[0], nanos: l.hrTime[1] },
      line: l.message,
      structuredMetadata: Object.entries(lokiMetadata(l)).map(([name, value]) => ({ name, value })),
    })),
  }));
  return compressSync(Buffer.from(type.encode(type.fromObject({ streams })).finish()));
}
