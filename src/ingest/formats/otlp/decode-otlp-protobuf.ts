/**
 * An OTLP/HTTP protobuf body (ExportLogsServiceRequest) as log entries.
 * A body that does not decode is refused whole (INVALID_PROTOBUF); a
 * record with a wrong-length id or a value nested too deep is refused
 * alone (its entry carries the problem).
 */
import { SluiceError } from '../../../core/errors.ts';
import type { JsonValue } from '../../../core/schema/table-def.ts';
import { otlpTypes } from './otlp-proto.ts';
import { type Attributes, type OtlpLogEntry, type OtlpScope, SPAN_ID_BYTES, TRACE_ID_BYTES } from './otlp-log-entry.ts';
import { longToBigInt, protoAnyValue, protoAttributes, type ProtoAnyValue, type ProtoKeyValue, type ProtoLong } from './proto-any-value.ts';
import { perRecord, ValueProblem, wholeRequest } from './value-problem.ts';

/** Limits of decoding. */
export interface OtlpDecodeOptions {
  /** Deepest AnyValue nesting taken (the node's jsonDepthMax). */
  readonly depthMax: number;
}

interface ProtoLogRecord {
  readonly timeUnixNano?: ProtoLong;
  readonly observedTimeUnixNano?: ProtoLong;
  readonly severityNumber?: number;
  readonly severityText?: string;
  readonly body?: ProtoAnyValue | null;
  readonly attributes?: readonly ProtoKeyValue[];
  readonly droppedAttributesCount?: number;
  readonly flags?: number;
  readonly traceId?: Uint8Array;
  readonly spanId?: Uint8Array;
  readonly eventName?: string;
}

interface ProtoRequest {
  readonly resourceLogs?: readonly {
    readonly resource?: { readonly attributes?: readonly ProtoKeyValue[] } | null;
    readonly scopeLogs?: readonly {
      readonly scope?: { readonly name?: string; readonly version?: string; readonly attributes?: readonly ProtoKeyValue[] } | null;
      readonly logRecords?: readonly ProtoLogRecord[];
    }[];
  }[];
}

/** Decodes the body; throws INVALID_PROTOBUF, or INVALID_OTLP for a bad resource or scope value. */
export function decodeOtlpProtobuf(body: Uint8Array, options: OtlpDecodeOptions): OtlpLogEntry[] {
  let request: ProtoRequest;
  try {
    request = otlpTypes().request.decode(body) as unknown as ProtoRequest;
  } catch (err) {
    // RangeError too: nesting deep enough to exhaust the stack is a malformed body, not a crash.
    throw new SluiceError('INVALID_PROTOBUF', `the body is not an OTLP ExportLogsServiceRequest: ${err instanceof Error ? err.message : String(err)}`);
  }
  const entries: OtlpLogEntry[] = [];
  (request.resourceLogs ?? []).forEach((rl, r) => {
    const resource = wholeRequest(`/resourceLogs/${r}/resource/attributes`, () => protoAttributes(rl.resource?.attributes ?? [], '', 1, options.depthMax));
    (rl.scopeLogs ?? []).forEach((sl, s) => {
      const scope: OtlpScope = {
        name: sl.scope?.name ?? '',
        version: sl.scope?.version ?? '',
        attributes: wholeRequest(`/resourceLogs/${r}/scopeLogs/${s}/scope/attributes`, () => protoAttributes(sl.scope?.attributes ?? [], '', 1, options.depthMax)),
      };
      for (const record of sl.logRecords ?? []) entries.push(protoEntry(record, resource, scope, options));
    });
  });
  return entries;
}

function protoEntry(rec: ProtoLogRecord, resource: Attributes, scope: OtlpScope, options: OtlpDecodeOptions): OtlpLogEntry {
  const values = perRecord(() => ({
    body: rec.body === undefined || rec.body === null ? undefined : protoAnyValue(rec.body, '/body', 1, options.depthMax),
    attributes: protoAttributes(rec.attributes ?? [], '/attributes', 1, options.depthMax),
    traceId: hexId(rec.traceId, TRACE_ID_BYTES, '/traceId'),
    spanId: hexId(rec.spanId, SPAN_ID_BYTES, '/spanId'),
  }));
  const fixed = 'value' in values ? values.value : { body: undefined, attributes: {} as Attributes, traceId: '', spanId: '' };
  return {
    resource,
    scope,
    timeUnixNano: longToBigInt(rec.timeUnixNano ?? 0, false).toString(),
    observedTimeUnixNano: longToBigInt(rec.observedTimeUnixNano ?? 0, false).toString(),
    severityNumber: rec.severityNumber ?? 0,
    severityText: rec.severityText ?? '',
    body: fixed.body as JsonValue | undefined,
    attributes: fixed.attributes,
    droppedAttributesCount: rec.droppedAttributesCount ?? 0,
    flags: (rec.flags ?? 0) >>> 0,
    traceId: fixed.traceId,
    spanId: fixed.spanId,
    eventName: rec.eventName ?? '',
    ...('problem' in values ? { problem: values.problem } : {}),
  };
}

/** An id as lower-case hex: '' when empty or all zero (the spec's invalid id), a FORMAT problem at another length. */
function hexId(bytes: Uint8Array | undefined, length: number, path: string): string {
  if (bytes === undefined || bytes.length === 0) return '';
  if (bytes.length !== length) throw new ValueProblem(path, 'FORMAT', `expected ${length} bytes, got ${bytes.length}`);
  return bytes.every((b) => b === 0) ? '' : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
