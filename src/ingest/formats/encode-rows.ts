/**
 * A node's own import encodes converted rows where they were converted:
 * the conversion thread validates them and writes the record batch with
 * the table's generated encoder (decision 29) instead of turning them into
 * JSON text that a decode thread parses back (decision 31). The records
 * are the JSON values the text would have parsed to, so the batch, its
 * refusals and their order are the decode path's. The pipeline hands the
 * encode context over once per import (IngestPipeline.encodeParams); the
 * clock is read per batch, as a decode task reads it.
 */
import type { TableDef } from '../../core/schema/table-def.ts';
import { encodeBatch, type EncodedBatch } from '../batch-encoder.ts';
import { refusedIndexes } from '../dead-letters/collect-dead-letters.ts';
import { schemaFor } from '../decode-worker.ts';

/** What a source needs to encode a table's records itself, as the pipeline's decode step would. */
export interface RowEncodeParams {
  readonly tableId: number;
  readonly shards: number;
  readonly keyBytesMax: number;
  /** Violations listed per batch (more in dead_letter mode: each refused row needs its own). */
  readonly errorDetailsMax: number;
  /** Latest event time accepted, relative to the clock at encoding. */
  readonly eventTimeAheadMsMax: number;
  readonly jsonDepthMax: number;
  /** Dead_letter mode: keep each refused row's JSON text (the letter's raw bytes, as the decode path cuts them from the body). */
  readonly deadLetters: boolean;
  /** Row i of the file is written under the dedupe key prefix + i, zero-padded to `digits`. */
  readonly dedupe?: { readonly prefix: string; readonly digits: number };
  /** A fixed clock (tests compare batches byte for byte); absent: Date.now() per batch. */
  readonly nowMs?: number;
}

const utf8 = new TextEncoder();

/** Validates and encodes `records`, rows `firstRow`… of the file, as the pipeline's decode step would encode their JSON text. */
export function encodeRows(records: readonly unknown[], def: TableDef, p: RowEncodeParams, firstRow: number): EncodedBatch {
  const nowMs = p.nowMs ?? Date.now();
  const schema = schemaFor(def, p.tableId, p.jsonDepthMax);
  const encoded = encodeBatch(records, schema, {
    tableId: p.tableId,
    shards: p.shards,
    nowMs,
    eventTimeMaxMs: nowMs + p.eventTimeAheadMsMax,
    keyBytesMax: p.keyBytesMax,
    errorDetailsMax: p.errorDetailsMax,
    ...(p.dedupe === undefined ? {} : { dedupe: { prefix: p.dedupe.prefix, first: firstRow, digits: p.dedupe.digits } }),
  });
  if (!p.deadLetters || encoded.rejectedCount === 0) return encoded;
  // A letter keeps its row as the JSON text the body would have held: JSON.stringify of an array joins its elements' texts.
  return { ...encoded, refusedRaw: refusedIndexes(encoded).map((i) => utf8.encode(JSON.stringify(records[i]))) };
}
