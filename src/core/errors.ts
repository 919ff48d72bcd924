/**
 * Every operating error sluice reports has a stable code from this table.
 * Callers switch on `code`, never on message text. The HTTP and gRPC layers
 * map codes to statuses through this one table, so a code means the same
 * thing on every interface.
 *
 * Programmer errors (a broken invariant) are not SluiceErrors: they are
 * plain `Error`s thrown by `assert` and crash loudly.
 */

/** gRPC status numbers (grpc/status.h), kept here so core has no gRPC import. */
const Grpc = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DEADLINE_EXCEEDED: 4,
  UNAUTHENTICATED: 16,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  ABORTED: 10,
} as const;

interface CodeInfo {
  readonly status: number;
  readonly grpc: number;
  /** The same request may succeed later (backpressure, not ready, no quorum). */
  readonly canRetry: boolean;
}

/** The stable error codes with their HTTP status, gRPC status and retry hint. */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  INVALID_JSON: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  INVALID_ENCODING: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  EMPTY_BODY: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  SCHEMA_VIOLATION: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  KEY_TOO_LARGE: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  INVALID_TABLE_DEFINITION: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  INVALID_ARGUMENT: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  INVALID_CURSOR: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** `as_of` on a table with a primary key: last-writer-wins keeps no older versions to read a snapshot from. */
  AS_OF_UNSUPPORTED: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** A CSV file or body that is not RFC 4180 CSV (the message names the row and line). */
  INVALID_CSV: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** A file or body that is not a readable Parquet file, or uses a codec or type sluice cannot read. */
  INVALID_PARQUET: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** A length-delimited protobuf body whose framing is broken (one message that does not decode is refused alone, with this code). */
  INVALID_PROTOBUF: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** Stream labels of a shipper's push (Loki's `{app="x"}` string or object) that do not parse, or name no label; the whole push is refused. */
  INVALID_LABELS: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** A body that should be a snappy block (a Loki push) and does not decompress, or whose stated length is wrong. */
  INVALID_SNAPPY: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** A body that decodes (JSON or protobuf) but is not an OTLP export request: a resource or scope of the wrong shape. */
  INVALID_OTLP: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** Records whose event time is further ahead of the server clock than the table's `eventTimeAheadMsMax` (nothing written). */
  EVENT_TIME_IN_FUTURE: { status: 400, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  /** An Elasticsearch `_bulk` item whose action sluice does not store (`update`, `delete`: records are append-only). */
  UNSUPPORTED_ACTION: { status: 400, grpc: Grpc.UNIMPLEMENTED, canRetry: false },
  UNAUTHENTICATED: { status: 401, grpc: Grpc.UNAUTHENTICATED, canRetry: false },
  PERMISSION_DENIED: { status: 403, grpc: Grpc.PERMISSION_DENIED, canRetry: false },
  NOT_FOUND: { status: 404, grpc: Grpc.NOT_FOUND, canRetry: false },
  TABLE_NOT_FOUND: { status: 404, grpc: Grpc.NOT_FOUND, canRetry: false },
  RECORD_NOT_FOUND: { status: 404, grpc: Grpc.NOT_FOUND, canRetry: false },
  METHOD_NOT_ALLOWED: { status: 405, grpc: Grpc.UNIMPLEMENTED, canRetry: false },
  TABLE_EXISTS: { status: 409, grpc: Grpc.ALREADY_EXISTS, canRetry: false },
  /** An Elasticsearch `_bulk` `create` whose `_id` is already stored. */
  DOCUMENT_EXISTS: { status: 409, grpc: Grpc.ALREADY_EXISTS, canRetry: false },
  SCHEMA_INCOMPATIBLE: { status: 409, grpc: Grpc.FAILED_PRECONDITION, canRetry: false },
  /** An atomic batch was decided aborted (its coordinator missed the deadline, or was fenced): nothing of it is stored; retry it. */
  TX_ABORTED: { status: 409, grpc: Grpc.ABORTED, canRetry: true },
  PAYLOAD_TOO_LARGE: { status: 413, grpc: Grpc.RESOURCE_EXHAUSTED, canRetry: false },
  /** An atomic batch over --tx-bytes-max or --tx-records-max: split it, or send it without atomic. */
  TX_TOO_LARGE: { status: 413, grpc: Grpc.RESOURCE_EXHAUSTED, canRetry: false },
  /** More records or bytes in one request than the table's burst: it can never fit the bucket; split it, or raise the burst. */
  RATE_LIMIT_BURST_EXCEEDED: { status: 413, grpc: Grpc.RESOURCE_EXHAUSTED, canRetry: false },
  /**
   * A gRPC caller holding one of the node's read slots took too long to send:
   * a unary Write's message not in within --grpc-unary-read-timeout-ms, or a
   * WriteStream waiting on its client past --grpc-stream-idle-timeout-ms
   * (decision 55). Nothing of the unfinished message was written; send it
   * again. DEADLINE_EXCEEDED: a time bound ended the call, as a client's own
   * deadline would; not RESOURCE_EXHAUSTED, which tells well-behaved
   * callers the node is busy and to back off, while the fix is to send faster.
   */
  REQUEST_TIMEOUT: { status: 408, grpc: Grpc.DEADLINE_EXCEEDED, canRetry: true },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, grpc: Grpc.INVALID_ARGUMENT, canRetry: false },
  OVERLOADED: { status: 429, grpc: Grpc.RESOURCE_EXHAUSTED, canRetry: true },
  /** Past the table's records/s or bytes/s limit: nothing written; Retry-After says when this request would fit. */
  RATE_LIMITED: { status: 429, grpc: Grpc.RESOURCE_EXHAUSTED, canRetry: true },
  INTERNAL: { status: 500, grpc: Grpc.INTERNAL, canRetry: false },
  WAL_CORRUPT: { status: 500, grpc: Grpc.INTERNAL, canRetry: false },
  WAL_IO: { status: 500, grpc: Grpc.INTERNAL, canRetry: false },
  STORAGE_IO: { status: 500, grpc: Grpc.INTERNAL, canRetry: false },
  /**
   * A peer's replica message this node cannot take: not replica-v1's shape, or
   * a protocol version it does not speak (internal, between nodes). 500 and
   * INTERNAL: the client of the write or read can do nothing about it, and a
   * retry meets the same peer until an operator upgrades one side.
   */
  REPLICA_PROTOCOL: { status: 500, grpc: Grpc.INTERNAL, canRetry: false },
  NOT_READY: { status: 503, grpc: Grpc.UNAVAILABLE, canRetry: true },
  /**
   * The HTTP listener holds --connections-max connections: a connection past
   * it is answered with this (Retry-After, Connection: close) and closed.
   */
  TOO_MANY_CONNECTIONS: { status: 503, grpc: Grpc.UNAVAILABLE, canRetry: true },
  SHUTTING_DOWN: { status: 503, grpc: Grpc.UNAVAILABLE, canRetry: true },
  NO_QUORUM: { status: 503, grpc: Grpc.UNAVAILABLE, canRetry: true },
  CLOCK_ROLLBACK: { status: 503, grpc: Grpc.UNAVAILABLE, canRetry: true },
  CLOCK_SKEW: { status: 503, grpc: Grpc.UNAVAILABLE, canRetry: true },
  /** A replica has a newer placement than the coordinator that wrote to it (internal; the coordinator retries). */
  STALE_PLACEMENT: { status: 503, grpc: Grpc.FAILED_PRECONDITION, canRetry: true },
  READ_TIMEOUT: { status: 503, grpc: Grpc.DEADLINE_EXCEEDED, canRetry: true },
  DISK_FULL: { status: 507, grpc: Grpc.RESOURCE_EXHAUSTED, canRetry: true },
  /**
   * The outcome of an atomic batch is not known (etcd did not answer the
   * decision in time): it will be all or nothing, decided later. The answer
   * carries `tx_id`; `GET /v1/tx/{id}` tells the outcome once decided.
   */
  TX_IN_DOUBT: { status: 504, grpc: Grpc.DEADLINE_EXCEEDED, canRetry: false },
} as const satisfies Record<string, CodeInfo>;

/** A stable machine-readable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** One problem inside a request, e.g. a field of one record. */
export interface ErrorDetail {
  /** Index of the record in the request (0-based), when the problem is in a record. */
  readonly index?: number;
  /** JSON-pointer-like path of the field, e.g. `/amount`. */
  readonly path?: string;
  readonly code?: string;
  readonly message: string;
}

const kSluiceError = Symbol.for('sluice.error');

/** An operating error with a stable code, an HTTP status and client-facing details. */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly grpcStatus: number;
  readonly canRetry: boolean;
  readonly details: readonly ErrorDetail[];
  /** The atomic batch an error is about (TX_IN_DOUBT, TX_ABORTED): clients ask `GET /v1/tx/{id}` with it. */
  readonly txId: string | undefined;
  /** When the same request would succeed, ms from now (RATE_LIMITED): the answer's Retry-After. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, details: readonly ErrorDetail[] = [], options?: { cause?: unknown; txId?: string; retryAfterMs?: number }) {
    super(message, options);
    this.txId = options?.txId;
    this.retryAfterMs = options?.retryAfterMs;
    const info = ERROR_CODES[code];
    this.name = 'SluiceError';
    this.code = code;
    this.status = info.status;
    this.grpcStatus = info.grpc;
    this.canRetry = info.canRetry;
    this.details = details;
    Object.defineProperty(this, kSluiceError, { value: true });
  }

  /** Works across copies of this module (undici's brand pattern). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kSluiceError] === true;
  }

  /** The JSON body every interface answers with. */
  toBody(): { error: { code: ErrorCode; message: string; details: readonly ErrorDetail[]; tx_id?: string } } {
    const error = { code: this.code, message: this.message, details: this.details };
    return { error: this.txId === undefined ? error : { ...error, tx_id: this.txId } };
  }
}

/** True when `err` is a SluiceError with one of `codes` (or any code if none given). */
export function isSluiceError(err: unknown, ...codes: ErrorCode[]): err is SluiceError {
  return err instanceof SluiceError && (codes.length === 0 || codes.includes(err.code));
}

/** Node's errno code of a system error, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
