/**
 * What a file reader hands its sender (the CLI's HTTP client, or a node's
 * import route): request bodies in file order, each a contiguous range of
 * rows numbered from 0 in the file, so `dedupe_first` is the batch's first
 * row and a re-send after a crash is idempotent. Errors name the row
 * (1-based in messages, 0-based in `details[].index`), the line (text
 * formats) and the column.
 */
import { SluiceError, type ErrorCode, type ErrorDetail } from '../../core/errors.ts';
import type { TableDef } from '../../core/schema/table-def.ts';
import type { OnInvalid } from '../batch-encoder.ts';
import { dedupeKeyAt } from '../dedupe-keys.ts';
import type { EncodedBatch } from '../batch-encoder.ts';
import type { BatchLimits } from './row-batches.ts';
import type { RowEncodeParams } from './encode-rows.ts';

/** The file formats an import reads. */
export type FileFormat = 'ndjson' | 'csv' | 'parquet';

/** A place to start reading a text file again: byte `byte` (of the decompressed text) starts row `row` on line `line` (1-based). */
export interface ResumePoint {
  readonly byte: number;
  readonly row: number;
  readonly line: number;
}

/** A row that cannot be imported, numbered in the file (`row` 0-based, `line` 1-based). */
export interface FileRowProblem {
  readonly row: number;
  readonly line?: number;
  readonly column?: string;
  readonly code: ErrorCode;
  readonly message: string;
  /** With `onInvalid: 'dead_letter'`: the row as a record, kept as its dead letter. */
  readonly record?: Record<string, unknown>;
}

/** One request body's worth of rows. */
export interface FileBatch {
  /** 0-based row of the file the body starts with. */
  readonly firstRow: number;
  readonly rows: number;
  /** Null: nothing to send (rows refused in skip mode, or written before a resume), or the rows are `encoded`. */
  readonly body: Uint8Array | null;
  /** The rows validated and encoded by the reader (a node's own Parquet import, `FileReadOptions.encode`). */
  readonly encoded?: EncodedBatch;
  readonly contentType: 'application/json' | 'application/x-ndjson';
  /** The 1-based line of row `firstRow + i`, when the format has lines. */
  lineOf(i: number): number | undefined;
  /** Text formats: reading again from here reaches every row after this batch. */
  readonly restart?: ResumePoint;
  /** How far the reader was when it made this batch: bytes of the file (text) or rows (Parquet). */
  readonly progress: number;
  /** Rows refused (skip mode) among this batch's rows or just before them, and how many. */
  readonly problems: readonly FileRowProblem[];
  readonly problemCount: number;
}

/** How to read a file. */
export interface FileReadOptions {
  readonly format: FileFormat;
  /** The text is gzip-compressed (NDJSON, CSV). */
  readonly gzip: boolean;
  readonly def: TableDef;
  readonly onInvalid: OnInvalid;
  readonly limits: BatchLimits;
  /** Text formats: bytes handed to one conversion task (cut on a record boundary). @default 1 MiB */
  readonly chunkBytes?: number;
  /** Parquet: rows of one conversion task (within one row group). @default 65_536 */
  readonly taskRows?: number;
  /** Conversion tasks in flight; results wait in file order. @default pool threads + 2 */
  readonly depth?: number;
  /**
   * Parquet read by a node for its own pipeline: rows become record
   * batches in the conversion threads instead of JSON bodies (decision 31).
   * Other formats ignore it and send bodies.
   */
  readonly encode?: RowEncodeParams;
  /** Rows [0, rowsDone) are written already; text formats restart at `at`. */
  readonly resume?: { readonly rowsDone: number; readonly at?: ResumePoint };
}

/** Digits of a file row number in its dedupe key (every safe integer fits): `sluice ingest`'s and the import route's. */
export const ROW_KEY_DIGITS = 16;

/**
 * Adds a refused row to `listed`, which keeps the `max` first rows of the
 * file (by `rowOf`) in file order whatever order they are reported in:
 * batches are written several at a time and answer out of order.
 */
export function listInRowOrder<T>(listed: T[], item: T, max: number, rowOf: (item: T) => number): void {
  const row = rowOf(item);
  let at = listed.length;
  while (at > 0 && rowOf(listed[at - 1] as T) > row) at--;
  if (at >= max) return;
  listed.splice(at, 0, item);
  if (listed.length > max) listed.length = max;
}

/** A refused row as a dead letter (dead_letter mode): its record, why and where, and the row's dedupe key under `prefix`. */
export interface RowLetter {
  readonly record: Record<string, unknown>;
  readonly code: ErrorCode;
  readonly message: string;
  readonly path: string;
  readonly index: number;
  readonly dedupeKey?: string;
}

/** The letters of the refused rows among `problems` that carry their record. */
export function rowLetters(problems: readonly FileRowProblem[], prefix: string | undefined): RowLetter[] {
  const out: RowLetter[] = [];
  for (const p of problems) {
    if (p.record === undefined) continue;
    out.push({
      record: p.record,
      code: p.code,
      message: `row ${p.row + 1}${p.line === undefined ? '' : ` (line ${p.line})`}: ${p.message}`,
      path: p.column === undefined ? '' : `/${p.column}`,
      index: p.row,
      ...(prefix === undefined ? {} : { dedupeKey: dedupeKeyAt({ prefix, first: 0, digits: ROW_KEY_DIGITS }, p.row) }),
    });
  }
  return out;
}

/** The error of a row, naming it (1-based), its line and column; `written` says what is durable before it. */
export function rowError(p: FileRowProblem, def: TableDef, written?: string): SluiceError {
  const where = `row ${p.row + 1}${p.line === undefined ? '' : ` (line ${p.line})`}${p.column === undefined ? '' : `, column "${p.column}"`}`;
  const detail: ErrorDetail = { index: p.row, ...(p.column === undefined ? {} : { path: `/${p.column}` }), code: p.code, message: `${where}: ${p.message}` };
  return new SluiceError(p.code, `${where} cannot be imported into table ${def.name}: ${p.message}${written === undefined ? '' : `; ${written}`}`, [detail]);
}

/**
 * Runs `run` over `source` with up to `depth` calls in flight and yields
 * the results in source order, so a slow consumer stops the reading.
 */
export async function* inOrder<T, R>(source: AsyncIterable<T> | Iterable<T>, run: (item: T) => Promise<R>, depth: number): AsyncGenerator<{ item: T; result: R }> {
  const it = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()) as AsyncIterator<T> | Iterator<T>;
  const queue: { item: T; result: Promise<R> }[] = [];
  let done = false;
  try {
    for (;;) {
      while (!done && queue.length < depth) {
        const next = await it.next();
        if (next.done === true) {
          done = true;
          break;
        }
        const result = run(next.value);
        // Awaited in order below; this keeps a later failure from being unhandled meanwhile.
        result.catch(() => undefined);
        queue.push({ item: next.value, result });
      }
      const head = queue.shift();
      if (head === undefined) return;
      yield { item: head.item, result: await head.result };
    }
  } finally {
    if (!done) await it.return?.();
  }
}
