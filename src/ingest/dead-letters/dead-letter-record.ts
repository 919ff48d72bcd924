/**
 * A refused record as a dead letter, and a dead letter as a record of the
 * dead-letter table (see dead-letter-table.ts for the schema). Pure: the
 * pipeline, the protocol routes and `sluice dlq replay` share it.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { JsonValue } from '../../core/schema/table-def.ts';

/** How a dead letter's raw bytes are encoded: JSON text, or one protobuf message of the table's message. */
export type RawFormat = 'json' | 'protobuf';

/** Where refused records come from: http, grpc, import:<file>, or a protocol route (otlp, es_bulk, loki…). */
export type DeadLetterSource = string;

/** One refused record and why. */
export interface DeadLetter {
  readonly id: string;
  /** The table that refused it. */
  readonly table: string;
  readonly raw: Uint8Array;
  readonly rawFormat: RawFormat;
  /** The violation code (REQUIRED, TYPE, …) or the record's error code (INVALID_JSON, KEY_TOO_LARGE, …). */
  readonly code: string;
  readonly message: string;
  /** JSON pointer of the offending field; '' for the whole record. */
  readonly path: string;
  readonly source: DeadLetterSource;
  readonly requestId?: string;
  /** The record's 0-based index in its request. */
  readonly index?: number;
  /** The table's schema version that refused it. */
  readonly schemaVersion?: number;
  readonly failedAtMs: number;
}

/**
 * The id of a letter. With a source dedupe key (an import's row number, a
 * client's `dedupe_prefix`) it is a hash of table and key, so the letter of
 * a re-sent request lands on the same id instead of a second letter;
 * without one, `requestTag` (one random UUID per request) plus the index.
 */
export function deadLetterId(table: string, index: number, dedupeKey: string | undefined, requestTag: string): string {
  if (dedupeKey === undefined) return `${requestTag}-${index}`;
  return `k${createHash('sha256').update(table).update('\0').update(dedupeKey).digest('hex').slice(0, 40)}`;
}

/** A fresh request tag for `deadLetterId` (random: two requests never share letter ids). */
export function newRequestTag(): string {
  return randomUUID();
}

/** The letter as a record of the dead-letter table, status `pending`. */
export function deadLetterRecord(letter: DeadLetter): Record<string, JsonValue> {
  return {
    dead_letter_id: letter.id,
    table: letter.table,
    raw: Buffer.from(letter.raw.buffer, letter.raw.byteOffset, letter.raw.byteLength).toString('base64'),
    raw_format: letter.rawFormat,
    code: letter.code,
    message: letter.message,
    path: letter.path,
    source: letter.source,
    ...(letter.requestId === undefined ? {} : { request_id: letter.requestId }),
    ...(letter.index === undefined ? {} : { record_index: letter.index }),
    ...(letter.schemaVersion === undefined ? {} : { schema_version: letter.schemaVersion }),
    failed_at: letter.failedAtMs,
    status: 'pending',
  };
}

/** A stored letter (as read back from the dead-letter table) marked replayed into the record `replayedId`. */
export function replayedRecord(stored: Readonly<Record<string, JsonValue>>, replayedId: string, nowMs: number): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  // System fields (_id, _ingested_at) are the store's, not the record's.
  for (const [k, v] of Object.entries(stored)) if (!k.startsWith('_') && v !== null) out[k] = v;
  return { ...out, status: 'replayed', replayed_at: nowMs, replayed_id: replayedId };
}

/**
 * The dedupe prefix that replays letter `id` (key prefix + "0"): a replay
 * interrupted and run again re-sends the letter under the same key, and
 * the table keeps the record it stored the first time.
 */
export function replayDedupePrefix(id: string): string {
  return `dlq-${id}-`;
}
