/**
 * OTLP/HTTP answers, in the encoding of the request (the spec's rule):
 * an ExportLogsServiceResponse on success, with `partialSuccess` when some
 * records were refused, and a google.rpc.Status on failure, whose
 * ErrorInfo detail carries sluice's stable error code as `reason`.
 */
import type { SluiceError } from '../../../../core/errors.ts';
import { otlpTypes } from '../../../../ingest/formats/otlp/otlp-proto.ts';
import type { OtlpEncoding } from '../../../../ingest/formats/otlp/encode-otlp.ts';

/** How a request (and so its answer) is encoded. */
export type { OtlpEncoding };

/** The `domain` of the ErrorInfo in error answers. */
export const ERROR_DOMAIN = 'sluice';
const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

/** The Content-Type of an answer. */
export function otlpContentType(encoding: OtlpEncoding): string {
  return encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json';
}

/** The encoding a request's Content-Type names (parameters ignored), or undefined for any other type. */
export function otlpEncodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  const mime = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (mime === 'application/x-protobuf' || mime === 'application/protobuf') return 'protobuf';
  if (mime === 'application/json') return 'json';
  return undefined;
}

/** The success answer; `rejected` 0 means every record was written (an empty response, as the spec asks). */
export function exportResponse(encoding: OtlpEncoding, rejected: number, errorMessage: string): Buffer | string {
  const body = rejected === 0 ? {} : { partialSuccess: { rejectedLogRecords: rejected, errorMessage } };
  if (encoding === 'json') return JSON.stringify(body);
  const type = otlpTypes().response;
  return Buffer.from(type.encode(type.fromObject(body)).finish());
}

/** The failure answer for `err`. */
export function statusResponse(encoding: OtlpEncoding, err: SluiceError): Buffer | string {
  const message = `${err.code}: ${err.message}`;
  if (encoding === 'json') {
    return JSON.stringify({ code: err.grpcStatus, message, details: [{ '@type': ERROR_INFO_TYPE, reason: err.code, domain: ERROR_DOMAIN }] });
  }
  const { status, errorInfo } = otlpTypes();
  const info = errorInfo.encode(errorInfo.fromObject({ reason: err.code, domain: ERROR_DOMAIN })).finish();
  return Buffer.from(status.encode(status.fromObject({ code: err.grpcStatus, message, details: [{ typeUrl: ERROR_INFO_TYPE, value: info }] })).finish());
}
