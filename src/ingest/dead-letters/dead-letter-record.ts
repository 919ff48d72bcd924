/**
 * A refused record as a dead letter, and a dead letter as a record of the
 * dead-letter table (see dead-letter-table.ts for the schema). Pure: the
 * pipeline, the protocol routes and `sluice dlq replay` share it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { DEDUPE_NUMBER_CHARS_MAX, DEDUPE_PREFIX_BYTES_MAX } from '../../config.ts';
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
  /** The dedupe key the record was sent with (an import's row key, a Kafka offset's, a client's `dedupe_prefix`): the replay writes under it. */
  readonly dedupeKey?: string;
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
    ...(letter.dedupeKey === undefined ? {} : { dedupe_key: letter.dedupeKey }),
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

/** A dedupe key as the write route's query takes it: `dedupe_prefix`, `dedupe_first` and `dedupe_digits` (absent: unpadded). */
export interface ReplayDedupe {
  readonly prefix: string;
  readonly first: number;
  readonly digits?: number;
}

/**
 * The dedupe key a replay of letter `id` writes under. With the key its
 * record was sent with, that key, so the replay and any re-send of the
 * source row (an import run again) are one record whichever comes first
 * (decision 50). Without one (or with one the write route cannot spell,
 * see `splitDedupeKey`), `dlq-<id>-0`: a replay interrupted and run again
 * re-sends the letter under the same key, and the table keeps the record
 * it stored the first time.
 */
export function replayDedupe(id: string, dedupeKey: string | undefined): ReplayDedupe {
  return (dedupeKey === undefined ? undefined : splitDedupeKey(dedupeKey)) ?? { prefix: replayDedupePrefix(id), first: 0 };
}

/** Digits of a number every one of whose values is a safe integer (10^15 < 2^53). */
const SAFE_DIGITS = 15;

/**
 * `key` as prefix + zero-padded number, the form every write route builds
 * its keys in: the key's trailing digits (at most DEDUPE_NUMBER_CHARS_MAX,
 * fewer when their value would pass a safe integer) are the number, the
 * rest a non-empty prefix. Prefix + String(first).padStart(digits) is
 * `key` again, byte for byte, so the node resolves it as the same key
 * whichever split first wrote it (decision 43). Undefined for a key no
 * route could have written: no trailing digit, nothing before its digits,
 * or a prefix past DEDUPE_PREFIX_BYTES_MAX (only a client's own letter,
 * `POST /v1/tables/{t}/dead_letters`, can carry such a key).
 */
export function splitDedupeKey(key: string): Required<ReplayDedupe> | undefined {
  let start = key.length;
  while (start > 0 && isDigit(key.charCodeAt(start - 1))) start--;
  start = Math.max(start, key.length - DEDUPE_NUMBER_CHARS_MAX, 1);
  if (start < key.length && !Number.isSafeInteger(Number(key.slice(start)))) start = Math.max(start, key.length - SAFE_DIGITS);
  if (start >= key.length) return undefined;
  const prefix = key.slice(0, start);
  if (Buffer.byteLength(prefix) > DEDUPE_PREFIX_BYTES_MAX) return undefined;
  return { prefix, first: Number(key.slice(start)), digits: key.length - start };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** The dedupe prefix that replays letter `id` when its record had no dedupe key of its own (key prefix + "0"). */
export function replayDedupePrefix(id: string): string {
  return `dlq-${id}-`;
}
