/**
 * The `_bulk` answer, `{took, errors, items[]}`, one item per op in body
 * order: `{"<action>": {_index, _id, status, result?, error?}}`. Shippers
 * read `errors`, then each item's `status` (Fluent Bit, the Elastic
 * clients' bulk helpers retry items answered 429).
 */
import { snowflakeParts } from '../../../../core/snowflake.ts';
import type { SluiceError } from '../../../../core/errors.ts';
import type { WriteResult } from '../../../../ingest/pipeline.ts';
import type { BulkItem, TableBatch } from './bulk-plan.ts';
import { ES_FIELDS } from './index-table.ts';

/** What became of one op. */
export interface ItemOutcome {
  readonly status: number;
  readonly result?: 'created' | 'updated';
  /** Elasticsearch's error `type` and `reason`, and sluice's stable code. */
  readonly error?: { readonly type: string; readonly reason: string; readonly code: string };
}

/** The outcomes of a written item, shared by all items (one object per item was garbage on the main thread). */
export const CREATED: ItemOutcome = Object.freeze({ status: 201, result: 'created' });
const UPDATED: ItemOutcome = Object.freeze({ status: 200, result: 'updated' });

/** A per-item error. */
export function itemError(status: number, type: string, reason: string, code: string): ItemOutcome {
  return { status, error: { type, reason, code } };
}

/** The 409 of a `create` whose `_id` exists. */
export function conflict(id: string): ItemOutcome {
  return itemError(409, 'version_conflict_engine_exception', `[${id}]: version conflict, document already exists`, 'DOCUMENT_EXISTS');
}

/** Elasticsearch's error types for sluice's codes of a failed write (429 is what bulk helpers retry). */
function typeOfStatus(status: number): string {
  if (status === 429) return 'es_rejected_execution_exception';
  if (status === 503) return 'unavailable_shards_exception';
  if (status === 403) return 'security_exception';
  if (status === 400 || status === 409) return 'illegal_argument_exception';
  return 'sluice_exception';
}

/** Every record of `batch` answered with the error that failed its write. */
export function failedBatch(batch: TableBatch, err: SluiceError, outcomes: (ItemOutcome | undefined)[]): void {
  const outcome = itemError(err.status, typeOfStatus(err.status), err.message, err.code);
  for (const pos of batch.positions) outcomes[pos] = outcome;
}

/**
 * The outcomes of a table's write. A record whose `doc_id` was stored
 * before keeps its old id (the primary key), so an id minted before the
 * write began (`startedMs`, from the snowflake's time bits) means the
 * document existed: `index` answers 200 updated, `create` 409.
 */
export function writtenBatch(
  batch: TableBatch,
  result: WriteResult,
  items: readonly BulkItem[],
  at: { startedMs: number; timeField: string },
  outcomes: (ItemOutcome | undefined)[],
  prior: number[] = [],
): void {
  const rejections = new Map(result.rejected?.map((r) => [r.index, r]));
  batch.positions.forEach((pos, i) => {
    const item = items[pos] as BulkItem;
    if (!result.ids.isWritten(i)) {
      const r = rejections.get(i);
      const reason = r === undefined ? 'the document does not fit the table schema' : `${senderPath(r.path, at.timeField)}${r.message}`;
      outcomes[pos] = itemError(400, 'document_parsing_exception', reason, r?.code ?? 'SCHEMA_VIOLATION');
      return;
    }
    // A made-up id is new by construction: no id to read the time of (nor to make text of).
    const earlier = batch.earlier[i] ?? -1;
    const existed = item.idGiven && (leftStored(earlier, outcomes, prior) || snowflakeParts(BigInt(result.ids.at(i) as string)).timestampMs < at.startedMs);
    if (!existed) outcomes[pos] = CREATED;
    else outcomes[pos] = item.action === 'create' ? conflict(item.id ?? '') : UPDATED;
  });
}

/** Whether an op's outcome leaves its document stored: written, or a create refused because it exists. */
function stored(o: ItemOutcome | undefined): boolean {
  return o !== undefined && (o.error === undefined || o.error.code === 'DOCUMENT_EXISTS');
}

/**
 * Whether the document of op `pos` is stored once that op is settled: its
 * own outcome, or, when it was refused (which changes nothing), what the
 * ops before it left (`prior`, planBulk's chain; without it, `pos` alone).
 * Each refused op passed is pointed past the others, so a request of many
 * refused ops of one `_id` walks each of them once.
 */
function leftStored(pos: number, outcomes: readonly (ItemOutcome | undefined)[], prior: number[]): boolean {
  let p = pos;
  while (p >= 0 && outcomes[p] !== undefined && !stored(outcomes[p])) p = prior[p] ?? -1;
  const found = p >= 0 && stored(outcomes[p]);
  for (let q = pos; q >= 0 && q !== p; ) {
    const next = prior[q] ?? -1;
    prior[q] = p;
    q = next;
  }
  return found;
}

/**
 * The creates of an `_id` that an earlier op of the same request wrote
 * (planBulk's `deferred`), once every write settled: 409 when that op left
 * the document stored, else 429, which shippers retry, so the create is
 * sent again on its own. Never 409 for a document that is not there: a
 * shipper drops an item answered 409 on `create`.
 */
export function settleDeferred(deferred: readonly { pos: number; earlier: number }[], items: readonly BulkItem[], outcomes: (ItemOutcome | undefined)[], prior: number[] = []): void {
  for (const { pos, earlier } of deferred) {
    const id = items[pos]?.id ?? '';
    outcomes[pos] = leftStored(earlier, outcomes, prior)
      ? conflict(id)
      : itemError(429, 'es_rejected_execution_exception', `[${id}]: the document of this _id earlier in the request was not written; send this create again`, 'OVERLOADED');
  }
}

/** A rejection's field path in the sender's terms: `/ts` is the document's time field, `/doc_id` its `_id`. */
function senderPath(path: string, timeField: string): string {
  if (path === '') return '';
  if (path === `/${ES_FIELDS.time}`) return `${timeField}: `;
  if (path === `/${ES_FIELDS.id}`) return '_id: ';
  if (path.startsWith(`/${ES_FIELDS.doc}`)) return `${path.slice(ES_FIELDS.doc.length + 1) || 'the document'}: `;
  return `${path}: `;
}

/** The answer body as text (bulk-answer-bytes.ts writes the same as bytes). */
export function bulkAnswerJson(items: readonly BulkItem[], outcomes: readonly (ItemOutcome | undefined)[], tookMs: number): string {
  const indexJson = new Map<string, string>();
  const parts = items.map((item, i) => itemJson(item, outcomeAt(outcomes, i), indexJson));
  return `{"took":${tookMs},"errors":${hasErrors(items, outcomes)},"items":[${parts.join(',')}]}`;
}

/** The outcome of op `i` (an op nothing decided is an internal error: every op must be answered). */
export function outcomeAt(outcomes: readonly (ItemOutcome | undefined)[], i: number): ItemOutcome {
  return outcomes[i] ?? itemError(500, 'sluice_exception', 'the item was not processed', 'INTERNAL');
}

/** Whether any item is answered with an error. */
export function hasErrors(items: readonly BulkItem[], outcomes: readonly (ItemOutcome | undefined)[]): boolean {
  for (let i = 0; i < items.length; i++) if (outcomeAt(outcomes, i).error !== undefined) return true;
  return false;
}

/** One item's JSON; `indexJson` caches the JSON text of index names (most items of a request share one). */
export function itemJson(item: BulkItem, o: ItemOutcome, indexJson: Map<string, string>): string {
  if (o.error === undefined && o.result !== undefined) {
    let index = indexJson.get(item.index);
    if (index === undefined) indexJson.set(item.index, (index = JSON.stringify(item.index)));
    return writtenItemJson(item.action, index, item.id, !item.idGiven, o.status, o.result);
  }
  const body = {
    _index: item.index,
    ...(item.id === undefined ? {} : { _id: item.id }),
    status: o.status,
    ...(o.result === undefined ? {} : { result: o.result, ...WRITTEN }),
    ...(o.error === undefined ? {} : { error: o.error }),
  };
  return JSON.stringify({ [item.action]: body });
}

/** The fields of a written item after its `result`. */
const WRITTEN = { _version: 1, _shards: { total: 1, successful: 1, failed: 0 } } as const;
const WRITTEN_JSON = JSON.stringify(WRITTEN).slice(1, -1);

/**
 * A written item's JSON, built as text: the answer to 1,000 documents was
 * a tenth of the main thread's time on a `_bulk` request with an object
 * and a JSON.stringify per item. Same keys, same order as the general case.
 */
function writtenItemJson(action: string, indexJson: string, id: string | undefined, madeUp: boolean, status: number, result: string): string {
  // A made-up id is URL-safe (doc-ids.ts): nothing in it to escape.
  const idPart = id === undefined ? '' : madeUp ? `"_id":"${id}",` : `"_id":${JSON.stringify(id)},`;
  return `{"${action}":{"_index":${indexJson},${idPart}"status":${status},"result":"${result}",${WRITTEN_JSON}}}`;
}
