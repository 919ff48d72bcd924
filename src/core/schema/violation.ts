/**
 * One problem found in one record by a compiled schema. Violations are data,
 * not exceptions: the ingest layer puts them, with the record's index, into a
 * `SCHEMA_VIOLATION` error's details or a dead-letter entry.
 */

/** The violation codes; clients switch on these, never on the message. */
export const VIOLATION_CODES = {
  /** A required field is missing or explicitly null. */
  REQUIRED: 'REQUIRED',
  /** The JSON type is wrong (a number for a decimal, a float for an int, ...). */
  TYPE: 'TYPE',
  /** The JSON type is right but its text is not (a bad date, bad base64, ...). */
  FORMAT: 'FORMAT',
  /** Well-formed but out of range (int64 overflow, too many decimal digits). */
  RANGE: 'RANGE',
  /** A string longer than `stringBytesMax`. */
  TOO_LONG: 'TOO_LONG',
  /** A `json` value nested deeper than `jsonDepthMax`. */
  DEPTH: 'DEPTH',
  /** A field the table does not declare (extraFields 'reject'). */
  UNKNOWN_FIELD: 'UNKNOWN_FIELD',
  /** A top-level name starting with `_`: reserved for system fields (`_id`, `_ingested_at`). */
  RESERVED_FIELD: 'RESERVED_FIELD',
  /** A field written under an alias whose grace period is over. */
  ALIAS_EXPIRED: 'ALIAS_EXPIRED',
  /** A field given twice, under its name and an alias (or two aliases). */
  DUPLICATE_FIELD: 'DUPLICATE_FIELD',
  /** The event time is further ahead of the server clock than the table's `eventTimeAheadMsMax` (the same name as the request's error code). */
  EVENT_TIME_IN_FUTURE: 'EVENT_TIME_IN_FUTURE',
} as const;

export type ViolationCode = (typeof VIOLATION_CODES)[keyof typeof VIOLATION_CODES];

/**
 * Violations a later schema version of the table could lift (decision 57):
 * a field added or renamed (UNKNOWN_FIELD, an alias given again:
 * ALIAS_EXPIRED, an alias dropped for a new field of its name:
 * DUPLICATE_FIELD), a type widened (TYPE, FORMAT, RANGE: int → float or
 * decimal), a field made optional (REQUIRED). Limits (TOO_LONG, DEPTH),
 * reserved names and event times do not depend on the version.
 */
export const VERSION_DEPENDENT_CODES: ReadonlySet<string> = new Set<ViolationCode>(['UNKNOWN_FIELD', 'ALIAS_EXPIRED', 'DUPLICATE_FIELD', 'TYPE', 'FORMAT', 'RANGE', 'REQUIRED']);

/** One problem in one record. */
export interface Violation {
  /** JSON pointer (RFC 6901) of the offending value: `/amount`, `/meta/a/0`; `` for the record itself. */
  readonly path: string;
  readonly code: ViolationCode;
  readonly message: string;
}

/** Escapes one JSON pointer reference token (RFC 6901 §3). */
export function pointerToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key;
}
