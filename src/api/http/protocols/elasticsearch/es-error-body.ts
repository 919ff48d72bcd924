/**
 * Whole-request errors on the Elasticsearch routes in both shapes at once:
 * sluice's `{"error": {"code", "message", "details"}}` (unchanged, what
 * every sluice client reads) plus Elasticsearch's `error.type`,
 * `error.reason` and top-level `status`, which the Elastic clients put in
 * their exception message and shippers write to their logs.
 */
import type { ErrorCode } from '../../../../core/errors.ts';

/** Elasticsearch's exception type for a sluice code (what Elasticsearch itself answers in that case). */
const ES_TYPES: Partial<Record<ErrorCode, string>> = {
  OVERLOADED: 'es_rejected_execution_exception',
  UNAUTHENTICATED: 'security_exception',
  PERMISSION_DENIED: 'security_exception',
  BAD_REQUEST: 'illegal_argument_exception',
  INVALID_ENCODING: 'parse_exception',
  EMPTY_BODY: 'action_request_validation_exception',
  INVALID_ARGUMENT: 'illegal_argument_exception',
  UNSUPPORTED_MEDIA_TYPE: 'media_type_header_exception',
  PAYLOAD_TOO_LARGE: 'content_too_long_exception',
  NOT_FOUND: 'resource_not_found_exception',
  NOT_READY: 'cluster_block_exception',
  SHUTTING_DOWN: 'cluster_block_exception',
  NO_QUORUM: 'unavailable_shards_exception',
  DISK_FULL: 'cluster_block_exception',
};

/** `payload` (a sluice error body answered with `status`) with the Elasticsearch fields added; anything else unchanged. */
export function withEsErrorFields(payload: unknown, status: number): unknown {
  if (status < 400 || typeof payload !== 'string' || !payload.startsWith('{"error":{"code":')) return payload;
  let body: { error: { code: ErrorCode; message: string } & Record<string, unknown> } & Record<string, unknown>;
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    return payload;
  }
  const type = ES_TYPES[body.error.code] ?? 'sluice_exception';
  return JSON.stringify({ ...body, error: { ...body.error, type, reason: body.error.message, root_cause: [{ type, reason: body.error.message }] }, status });
}
