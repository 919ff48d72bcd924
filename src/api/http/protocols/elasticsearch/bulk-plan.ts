/**
 * Turns the ops of a `_bulk` body into one batch of documents per target
 * table (records of the table's schema, see index-table.ts, wrapped where
 * the documents are parsed: esEnvelope) and the per-item errors known
 * before anything is written. Pure: the route brings the id maker.
 *
 * A document is parsed here only when its `_id` was given. A later op with
 * the same `_id` is answered by what became of the earlier one, known only
 * after the write (the decode worker validates): a `create` is left out of
 * the write and answered then (`deferred`: 409 when the earlier op was
 * stored, else a 429 to send it again), an `index` says `updated` only
 * when the earlier op was stored. A made-up
 * `_id` never repeats, so its document is parsed once, in the decode
 * worker, which refuses it on its own if it is not a JSON object.
 */
import { sourceProblem, type BulkAction, type BulkOp } from './bulk-ndjson.ts';
import { ES_FIELDS, tableOfIndex } from './index-table.ts';
import { packStrings, type FrameEnvelope, type PackedStrings } from '../../../../ingest/frame-envelope.ts';
import { itemError, type ItemOutcome } from './bulk-answer.ts';

/** What names an op in the answer. */
export interface BulkItem {
  readonly action: BulkAction;
  readonly index: string;
  readonly id: string | undefined;
  /** The sender named the `_id` (a made-up one is new by construction). */
  readonly idGiven: boolean;
}

/** The documents of one table, in body order. */
export interface TableBatch {
  readonly table: string;
  /** The source lines' bytes in the body: record k's [start, end) at 2k and 2k + 1 (no object per record). */
  readonly sources: number[];
  /** The op position of each record. */
  readonly positions: number[];
  /** Per record: the op position of the latest earlier op of this request with the same `_id` in this table, or -1. */
  readonly earlier: number[];
}

/** The plan of one request. */
export interface BulkPlan {
  /** The request body (the batches' sources point into it). */
  readonly body: Buffer;
  readonly items: BulkItem[];
  /** Per op: its outcome when already decided (refused before writing), else undefined. */
  readonly outcomes: (ItemOutcome | undefined)[];
  readonly batches: Map<string, TableBatch>;
  /** Creates of an `_id` an earlier op of the request writes: answered after the writes (settleDeferred). */
  readonly deferred: { readonly pos: number; readonly earlier: number }[];
  /**
   * Per op: the op before it with the same `_id` in the same table that was
   * put in a batch, or -1. An op refused leaves its document as the ops
   * before it did, so answers follow this chain past refused ops.
   */
  readonly prior: number[];
}

/** How ops map to records. */
export interface PlanOptions {
  /** The `{index}` of `POST /{index}/_bulk`: the default of action lines without `_index`. */
  readonly pathIndex: string | undefined;
  readonly tablePrefix: string;
  /** A fresh `_id` for an op that has none (Elasticsearch makes one up too). */
  readonly newId: () => string;
  /** Distinct tables one request may write; items for more are refused. */
  readonly tablesMax: number;
}

/** Plans the writes of `ops`, the ops of `body`. */
export function planBulk(body: Buffer, ops: readonly BulkOp[], o: PlanOptions): BulkPlan {
  const items: BulkItem[] = [];
  const outcomes: (ItemOutcome | undefined)[] = [];
  const batches = new Map<string, TableBatch>();
  const deferred: { pos: number; earlier: number }[] = [];
  const prior: number[] = [];
  /** table + given `_id` → the op position of the latest op of it in a batch. */
  const seen = new Map<string, number>();
  // Index → table (null: none), worked out once per index of the request.
  const tables = new Map<string, string | null>();
  for (const op of ops) {
    const index = op.index ?? o.pathIndex ?? '';
    const id = op.id ?? (op.action === 'index' || op.action === 'create' ? o.newId() : undefined);
    items.push({ action: op.action, index, id, idGiven: op.id !== undefined });
    let table = tables.get(index);
    if (table === undefined) tables.set(index, (table = tableOfIndex(index, o.tablePrefix) ?? null));
    const refused = refusal(body, op, { index, table }, id, o.tablePrefix);
    // (A null table is always refused: an invalid index name.)
    if (refused !== undefined || op.source === undefined || id === undefined || table === null) {
      outcomes.push(refused ?? itemError(400, 'document_parsing_exception', 'the source is missing', 'INVALID_JSON'));
      continue;
    }
    // A made-up id never repeats (nor equals a given one: the sender cannot know it yet), so only given ids are remembered.
    const key = op.id === undefined ? undefined : `${table}\n${id}`;
    const earlier = key === undefined ? -1 : (seen.get(key) ?? -1);
    prior[items.length - 1] = earlier;
    // A create never overwrites, not even a document of the same request: whether there is one is known after the write.
    if (earlier >= 0 && op.action === 'create') {
      deferred.push({ pos: items.length - 1, earlier });
      outcomes.push(undefined);
      continue;
    }
    let batch = batches.get(table);
    if (batch === undefined && batches.size >= o.tablesMax) {
      outcomes.push(itemError(400, 'illegal_argument_exception', `a _bulk request writes at most ${o.tablesMax} indices (--es-bulk-indices-max); send [${index}] in another request`, 'INVALID_ARGUMENT'));
      continue;
    }
    if (key !== undefined) seen.set(key, items.length - 1);
    if (batch === undefined) batches.set(table, (batch = { table, sources: [], positions: [], earlier: [] }));
    batch.sources.push(op.source.start, op.source.end);
    batch.positions.push(items.length - 1);
    batch.earlier.push(earlier);
    outcomes.push(undefined);
  }
  // Ops refused before the lookup above have no earlier op on record.
  for (let i = 0; i < items.length; i++) prior[i] ??= -1;
  return { body, items, outcomes, batches, deferred, prior };
}

/** Why an op is answered with an error before anything is written, or undefined. */
function refusal(body: Buffer, op: BulkOp, target: { index: string; table: string | null }, id: string | undefined, prefix: string): ItemOutcome | undefined {
  const index = target.index;
  if (op.action === 'update' || op.action === 'delete') {
    return itemError(400, 'illegal_argument_exception', `sluice stores documents append-only: the ${op.action} action is not supported (use index or create)`, 'UNSUPPORTED_ACTION');
  }
  if (index === '') return itemError(400, 'action_request_validation_exception', 'Validation Failed: 1: index is missing;', 'INVALID_ARGUMENT');
  if (target.table === null) {
    return itemError(400, 'invalid_index_name_exception', `Invalid index name [${index}]: the table ${JSON.stringify(prefix + index)} cannot be named after it (letters, digits and _ after a letter, at most 63 characters)`, 'INVALID_ARGUMENT');
  }
  if (id === '') return itemError(400, 'action_request_validation_exception', 'Validation Failed: 1: if _id is specified it must not be empty;', 'INVALID_ARGUMENT');
  const problem = op.source !== undefined && op.id !== undefined ? sourceProblem(body, op.source) : undefined;
  if (problem !== undefined) return itemError(400, 'document_parsing_exception', problem, 'INVALID_JSON');
  return undefined;
}

/** What the pipeline gets for one table's batch: the documents as frames and how each becomes a record. */
export interface TableWrite {
  /** The source lines back to back. */
  readonly body: Buffer;
  /** Byte length of each source line. */
  readonly frames: Uint32Array;
  readonly envelope: FrameEnvelope;
  /** Every `_id` of the batch was made up here (none can be stored yet). */
  readonly minted: boolean;
}

/** The write of `batch`: its documents, to be wrapped as `{doc_id, es_index, ts, doc}` where they are parsed. */
export function tableWrite(plan: BulkPlan, batch: TableBatch, timeField: string): TableWrite {
  const ids: string[] = [];
  const indexes: string[] = [];
  let minted = true;
  for (const pos of batch.positions) {
    const item = plan.items[pos] as BulkItem;
    ids.push(item.id as string);
    indexes.push(item.index);
    if (item.idGiven) minted = false;
  }
  return { ...sourceFrames(plan.body, batch.sources), envelope: esEnvelope(timeField, packStrings(ids), packStrings(indexes)), minted };
}

/** How the pipeline wraps each document: `{doc_id, es_index, ts, doc}`, the time read from the document's `timeField`. */
export function esEnvelope(timeField: string, ids: PackedStrings, indexes: PackedStrings): FrameEnvelope {
  return {
    docField: ES_FIELDS.doc,
    timeField: ES_FIELDS.time,
    docTimePath: timeField,
    fields: [
      { name: ES_FIELDS.id, values: ids },
      { name: ES_FIELDS.index, values: indexes },
    ],
    noun: 'source',
  };
}

/**
 * The source lines `sources` (start and end pairs) of `body` back to back,
 * and their lengths: the frames of the pipeline's write. Copied range by
 * range with TypedArray#set (Buffer.concat made a view per document).
 */
export function sourceFrames(body: Buffer, sources: readonly number[]): { body: Buffer; frames: Uint32Array } {
  const frames = new Uint32Array(sources.length / 2);
  let length = 0;
  for (let i = 0; i < frames.length; i++) length += frames[i] = (sources[2 * i + 1] as number) - (sources[2 * i] as number);
  const out = Buffer.allocUnsafe(length);
  const from = new Uint8Array(body.buffer, body.byteOffset, body.length);
  let at = 0;
  for (let i = 0; i < frames.length; i++) {
    out.set(from.subarray(sources[2 * i] as number, sources[2 * i + 1] as number), at);
    at += frames[i] as number;
  }
  return { body: out, frames };
}
