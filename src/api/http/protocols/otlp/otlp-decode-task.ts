/**
 * One OTLP logs body from wire bytes to the JSON array of records the
 * pipeline reads: decode (protobuf or JSON), map to the table's records,
 * stringify. It runs inline for small bodies and in a worker thread for
 * large ones (otlp-decode-pool.ts), so its answer is plain data that
 * crosses threads: errors as code and message, no SluiceError instances.
 */
import { isSluiceError, type ErrorCode, type ErrorDetail } from '../../../../core/errors.ts';
import type { Rejection } from '../../../../ingest/batch-encoder.ts';
import { decodeOtlpJson } from './decode-otlp-json.ts';
import { decodeOtlpProtobuf } from './decode-otlp-protobuf.ts';
import { mapLogEntries } from './map-log-entries.ts';
import type { OtlpEncoding } from './otlp-response.ts';

/** What to decode. */
export interface OtlpDecodeTask {
  readonly body: Uint8Array;
  readonly encoding: OtlpEncoding;
  /** Deepest AnyValue nesting taken (the node's jsonDepthMax). */
  readonly depthMax: number;
  /** Receive time: the event time of records without one. */
  readonly nowMs: number;
}

/** A decoded body. */
export interface OtlpDecoded {
  /** The records as one JSON array (empty when no record was left). */
  readonly json: Uint8Array;
  /** Records in `json`. */
  readonly records: number;
  /** Index in the request (over all resources and scopes) of each record in `json`. */
  readonly positions: Uint32Array;
  /** Log records refused by the decoder, by their index in the request. */
  readonly rejected: Rejection[];
  /** Log records in the request. */
  readonly total: number;
}

/** The outcome of a task: decoded, or the coded error of a body refused whole. */
export type OtlpDecodeAnswer = { readonly ok: true; readonly decoded: OtlpDecoded } | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly details: readonly ErrorDetail[] } };

/** Runs one task. Only a programmer error throws. */
export function runOtlpDecode(task: OtlpDecodeTask): OtlpDecodeAnswer {
  try {
    const options = { depthMax: task.depthMax };
    const entries = task.encoding === 'protobuf' ? decodeOtlpProtobuf(task.body, options) : decodeOtlpJson(task.body, options);
    const mapped = mapLogEntries(entries, task.nowMs);
    // TextEncoder gives the text its own ArrayBuffer, which a worker can transfer instead of copying.
    const json = mapped.records.length === 0 ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(mapped.records));
    return { ok: true, decoded: { json, records: mapped.records.length, positions: Uint32Array.from(mapped.positions), rejected: mapped.rejected, total: entries.length } };
  } catch (err) {
    if (!isSluiceError(err)) throw err;
    return { ok: false, error: { code: err.code, message: err.message, details: err.details } };
  }
}
