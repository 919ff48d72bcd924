/**
 * The dead letters of one write: every record the encoder refused, with its
 * raw bytes and its first violation. The limits are checked before anything
 * is written: a write that cannot dead-letter every refused record is
 * refused whole, so no refused record is ever both unanswered and unstored.
 */
import { DEAD_LETTER_RAW_BYTES_MAX, DEAD_LETTERS_PER_REQUEST_MAX } from '../../config.ts';
import { SluiceError } from '../../core/errors.ts';
import type { TableDef } from '../../core/schema/table-def.ts';
import type { Rejection } from '../batch-encoder.ts';
import { dedupeKeyAt, type DedupeKeys } from '../dedupe-keys.ts';
import { deadLetterId, type DeadLetter, type RawFormat } from './dead-letter-record.ts';
import { rawRecordsAt, type RawBody } from './raw-records.ts';

/** What the encoder said about a request. */
export interface EncodeOutcome {
  readonly total: number;
  /** Request index of each stored record (present when something was refused). */
  readonly positions?: Uint32Array;
  readonly rejected: readonly Rejection[];
  readonly rejectedCount: number;
}

/** Where the refused records came from. */
export interface LetterOrigin {
  readonly def: TableDef;
  /** The body to cut the refused records from, or their bytes already cut (one per refused record, in request order). */
  readonly raw: RawBody | { readonly cut: readonly Uint8Array[] };
  readonly rawFormat: RawFormat;
  readonly dedupe?: DedupeKeys;
  readonly source: string;
  readonly requestId?: string;
  /** Added to a letter's index: where the request starts in what its sender sees as one (an import's file row). @default 0 */
  readonly indexBase?: number;
  /** One random tag per request (ids of letters without a dedupe key). */
  readonly requestTag: string;
  readonly nowMs: number;
  /** Violations listed in the error of a write refused whole (`errorDetailsMax`). */
  readonly detailsMax: number;
}

/** Indexes of the records not stored: those missing from `positions`. */
export function refusedIndexes(outcome: EncodeOutcome): number[] {
  if (outcome.positions === undefined) return outcome.rejectedCount === outcome.total ? Array.from({ length: outcome.total }, (_, i) => i) : [];
  const stored = new Uint8Array(outcome.total);
  for (const p of outcome.positions) stored[p] = 1;
  const out: number[] = [];
  for (let i = 0; i < outcome.total; i++) if (stored[i] === 0) out.push(i);
  return out;
}

/** The letters of every refused record; SCHEMA_VIOLATION (nothing written) past the per-request or raw-size limit. */
export function collectDeadLetters(outcome: EncodeOutcome, origin: LetterOrigin): DeadLetter[] {
  const indexes = refusedIndexes(outcome);
  if (indexes.length > DEAD_LETTERS_PER_REQUEST_MAX) {
    throw refusal(outcome, origin.detailsMax, `${indexes.length} of ${outcome.total} records are invalid, more than the ${DEAD_LETTERS_PER_REQUEST_MAX} one request may dead-letter; nothing was written`);
  }
  const first = new Map<number, Rejection>();
  for (const r of outcome.rejected) if (!first.has(r.index)) first.set(r.index, r);
  const raws = 'cut' in origin.raw ? origin.raw.cut : rawRecordsAt(origin.raw, indexes);
  if (raws.length !== indexes.length) throw new Error(`${raws.length} raw records for ${indexes.length} refused ones`);
  return indexes.map((index, k) => {
    const raw = raws[k] as Uint8Array;
    if (raw.byteLength > DEAD_LETTER_RAW_BYTES_MAX) {
      throw refusal(outcome, origin.detailsMax, `record ${index} is invalid and ${raw.byteLength} bytes long, more than a dead letter keeps (${DEAD_LETTER_RAW_BYTES_MAX}); nothing was written`);
    }
    // Past the violations listed, a record is known refused but not why (DEAD_LETTER_VIOLATIONS_MAX bounds the list).
    const why = first.get(index) ?? { code: 'SCHEMA_VIOLATION', path: '', message: 'refused; its violation was not listed (too many in one request)' };
    const dedupeKey = origin.dedupe === undefined ? undefined : dedupeKeyAt(origin.dedupe, index);
    return {
      id: deadLetterId(origin.def.name, index, dedupeKey, origin.requestTag),
      table: origin.def.name,
      raw,
      rawFormat: origin.rawFormat,
      code: why.code,
      message: why.message,
      path: why.path,
      source: origin.source,
      ...(origin.requestId === undefined ? {} : { requestId: origin.requestId }),
      index: (origin.indexBase ?? 0) + index,
      schemaVersion: origin.def.version,
      ...(dedupeKey === undefined ? {} : { dedupeKey }),
      failedAtMs: origin.nowMs,
    };
  });
}

function refusal(outcome: EncodeOutcome, detailsMax: number, message: string): SluiceError {
  return new SluiceError(
    'SCHEMA_VIOLATION',
    message,
    outcome.rejected.slice(0, detailsMax).map((r) => ({ index: r.index, path: r.path, code: r.code, message: r.message })),
  );
}
