/**
 * Turns the ops of a `_bulk` body into one NDJSON body per target table
 * (records of the table's schema, see index-table.ts) and the per-item
 * errors known before anything is written. Pure: the route brings the
 * clock and the id maker.
 */
import type { BulkAction, BulkOp } from './bulk-ndjson.ts';
import { ES_FIELDS, tableOfIndex } from './index-table.ts';
import { conflict, itemError, type ItemOutcome } from './bulk-answer.ts';

/** What names an op in the answer. */
export interface BulkItem {
  readonly action: BulkAction;
  readonly index: string;
  readonly id: string | undefined;
  /** The sender named the `_id` (a made-up one is new by construction). */
  readonly idGiven: boolean;
}

/** The records of one table, in body order. */
export interface TableBatch {
  readonly table: string;
  /** One NDJSON line per record. */
  readonly lines: string[];
  /** The op position of each line. */
  readonly positions: number[];
  /** Per line: an earlier op of this request already wrote the same `_id`. */
  readonly repeats: boolean[];
}

/** The plan of one request. */
export interface BulkPlan {
  readonly items: BulkItem[];
  /** Per op: its outcome when already decided (refused before writing), else undefined. */
  readonly outcomes: (ItemOutcome | undefined)[];
  readonly batches: Map<string, TableBatch>;
}

/** How ops map to records. */
export interface PlanOptions {
  /** The `{index}` of `POST /{index}/_bulk`: the default of action lines without `_index`. */
  readonly pathIndex: string | undefined;
  readonly tablePrefix: string;
  readonly timeField: string;
  /** Receive time, epoch ms: the event time of documents without one. */
  readonly nowMs: number;
  /** A fresh `_id` for an op that has none (Elasticsearch makes one up too). */
  readonly newId: () => string;
  /** Distinct tables one request may write; items for more are refused. */
  readonly tablesMax: number;
}

/** Plans the writes of `ops`. */
export function planBulk(ops: readonly BulkOp[], o: PlanOptions): BulkPlan {
  const items: BulkItem[] = [];
  const outcomes: (ItemOutcome | undefined)[] = [];
  const batches = new Map<string, TableBatch>();
  const seen = new Set<string>();
  for (const op of ops) {
    const index = op.index ?? o.pathIndex ?? '';
    const id = op.id ?? (op.action === 'index' || op.action === 'create' ? o.newId() : undefined);
    items.push({ action: op.action, index, id, idGiven: op.id !== undefined });
    const refused = refusal(op, index, id, o.tablePrefix);
    if (refused !== undefined || op.source === undefined || 'error' in op.source || id === undefined) {
      outcomes.push(refused ?? itemError(400, 'document_parsing_exception', 'the source is missing', 'INVALID_JSON'));
      continue;
    }
    const table = tableOfIndex(index, o.tablePrefix) as string;
    const key = `${table}\n${id}`;
    const repeat = seen.has(key);
    // A create never overwrites, not even a document of the same request.
    if (repeat && op.action === 'create') {
      outcomes.push(conflict(id));
      continue;
    }
    let batch = batches.get(table);
    if (batch === undefined && batches.size >= o.tablesMax) {
      outcomes.push(itemError(400, 'illegal_argument_exception', `a _bulk request writes at most ${o.tablesMax} indices (--es-bulk-indices-max); send [${index}] in another request`, 'INVALID_ARGUMENT'));
      continue;
    }
    seen.add(key);
    if (batch === undefined) batches.set(table, (batch = { table, lines: [], positions: [], repeats: [] }));
    batch.lines.push(recordLine(id, index, timeOf(op.source.doc, o.timeField, o.nowMs), op.source.text));
    batch.positions.push(items.length - 1);
    batch.repeats.push(repeat);
    outcomes.push(undefined);
  }
  return { items, outcomes, batches };
}

/** Why an op is answered with an error before anything is written, or undefined. */
function refusal(op: BulkOp, index: string, id: string | undefined, prefix: string): ItemOutcome | undefined {
  if (op.action === 'update' || op.action === 'delete') {
    return itemError(400, 'illegal_argument_exception', `sluice stores documents append-only: the ${op.action} action is not supported (use index or create)`, 'UNSUPPORTED_ACTION');
  }
  if (index === '') return itemError(400, 'action_request_validation_exception', 'Validation Failed: 1: index is missing;', 'INVALID_ARGUMENT');
  if (tableOfIndex(index, prefix) === undefined) {
    return itemError(400, 'invalid_index_name_exception', `Invalid index name [${index}]: the table ${JSON.stringify(prefix + index)} cannot be named after it (letters, digits and _ after a letter, at most 63 characters)`, 'INVALID_ARGUMENT');
  }
  if (id === '') return itemError(400, 'action_request_validation_exception', 'Validation Failed: 1: if _id is specified it must not be empty;', 'INVALID_ARGUMENT');
  if (op.source !== undefined && 'error' in op.source) return itemError(400, 'document_parsing_exception', op.source.error, 'INVALID_JSON');
  return undefined;
}

/**
 * The event time as JSON text: the document's `field` (a top-level key,
 * else a dotted path), or `nowMs`. A value the `timestamp` type refuses
 * (an object, a bad date) is passed on so validation refuses that item.
 */
export function timeOf(doc: Readonly<Record<string, unknown>>, field: string, nowMs: number): string {
  let value: unknown = doc[field];
  if (value === undefined && field.includes('.')) {
    value = doc;
    for (const part of field.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  }
  return value === undefined || value === null ? String(nowMs) : JSON.stringify(value);
}

/** One record of the table's schema; the source text is embedded as sent (it parsed as an object). */
function recordLine(id: string, index: string, timeJson: string, sourceText: string): string {
  return `{"${ES_FIELDS.id}":${JSON.stringify(id)},"${ES_FIELDS.index}":${JSON.stringify(index)},"${ES_FIELDS.time}":${timeJson},"${ES_FIELDS.doc}":${sourceText}}`;
}
