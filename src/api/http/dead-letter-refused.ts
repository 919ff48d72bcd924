/**
 * Records refused before they reached the pipeline, stored as dead letters
 * in `<table>__dead_letters`: rows an import's conversion could not read
 * (routes/import-dead-letters.ts) and letters a client made itself
 * (`POST /v1/tables/{t}/dead_letters`). A record the pipeline refuses is
 * dead-lettered by the pipeline itself (`onInvalid: 'dead_letter'` through
 * `ctx.door.write`). Either way the letters are durable (WAL, fsync) before
 * the call resolves, so the route answers the refusal only after the
 * record has a place.
 */
import { SluiceError } from '../../core/errors.ts';
import { deadLetterId, newRequestTag, type DeadLetter, type RawFormat } from '../../ingest/dead-letters/dead-letter-record.ts';
import type { DeadLetterAck } from '../../ingest/dead-letters/dead-letter-writer.ts';
import type { ApiContext } from './api-context.ts';

/** A record a protocol route refused before it reached the pipeline. */
export interface RefusedRecord {
  /** The record as the client sent it (a protobuf LogRecord, an NDJSON line…). */
  readonly raw: Uint8Array;
  /** @default 'json' */
  readonly rawFormat?: RawFormat;
  /** A stable code for the refusal (the route's own, e.g. INVALID_ARGUMENT, or a violation code). */
  readonly code: string;
  readonly message: string;
  /** Where in the record; '' for the whole record. @default '' */
  readonly path?: string;
  /** Its index in the request. */
  readonly index?: number;
  /** Its source dedupe key (an import's row key): a re-sent request's letter then lands on the same id, and a replay writes under it. */
  readonly dedupeKey?: string;
}

/**
 * Stores `refused`, records meant for `table`, in its dead-letter table,
 * labelled with `source` (the protocol); resolves once durable. OVERLOADED
 * (429, retryable) when the node has no room: the route answers that, and
 * the client sends the request again.
 */
export async function deadLetterRefused(ctx: ApiContext, table: string, source: string, refused: readonly RefusedRecord[], requestId?: string): Promise<DeadLetterAck> {
  const { pipeline, catalog } = ctx.services();
  const def = catalog.require(table);
  let bytes = 0;
  for (const r of refused) bytes += r.raw.byteLength;
  const ticket = ctx.door.tryAdmit(bytes);
  if (ticket === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  try {
    const tag = newRequestTag();
    const nowMs = Date.now();
    const letters: DeadLetter[] = refused.map((r, i) => ({
      // Without a dedupe key, the id is the letter's place in this request: the index a client gives may repeat
      // (rows of two files) or be another letter's place, and a shared id would keep one letter of the two.
      id: deadLetterId(def.name, i, r.dedupeKey, tag),
      table: def.name,
      raw: r.raw,
      rawFormat: r.rawFormat ?? 'json',
      code: r.code,
      message: r.message,
      path: r.path ?? '',
      source,
      ...(requestId === undefined ? {} : { requestId }),
      ...(r.index === undefined ? {} : { index: r.index }),
      ...(r.dedupeKey === undefined ? {} : { dedupeKey: r.dedupeKey }),
      failedAtMs: nowMs,
    }));
    return await pipeline.writeDeadLetters(def.name, letters, requestId === undefined ? {} : { requestId });
  } finally {
    ticket.release();
  }
}
