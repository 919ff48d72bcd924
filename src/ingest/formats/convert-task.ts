/**
 * One unit of file conversion, run in a worker thread: a chunk of CSV
 * (whole records) or a row range of a Parquet file becomes request
 * bodies of records. A task knows nothing of where it sits in the file;
 * row and line numbers in its result are relative to the task, and the
 * reader, which sees results in file order, makes them absolute.
 */
import type { ErrorCode } from '../../core/errors.ts';
import type { TableDef } from '../../core/schema/table-def.ts';
import type { OnInvalid } from '../batch-encoder.ts';
import type { BatchLimits, ConvertedBatch } from './row-batches.ts';
import type { RowEncodeParams } from './encode-rows.ts';
import { convertCsvChunk } from './csv-convert.ts';
import { convertParquetRange } from './parquet-convert.ts';
import { taskJsonBudget } from './json-containers.ts';

/** CSV: whole records (the header is not in `bytes`). */
export interface CsvChunkTask {
  readonly kind: 'csv';
  readonly bytes: Uint8Array;
  readonly header: readonly string[];
  readonly def: TableDef;
  readonly onInvalid: OnInvalid;
  readonly limits: BatchLimits;
}

/** Parquet: rows [rowStart, rowEnd) of the file at `path` (absolute row numbers). */
export interface ParquetRangeTask {
  readonly kind: 'parquet';
  readonly path: string;
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly def: TableDef;
  readonly onInvalid: OnInvalid;
  readonly limits: BatchLimits;
  /** A node's own import: rows become record batches, not request bodies (encode-rows.ts). */
  readonly encode?: RowEncodeParams;
}

/** A conversion task. */
export type ConvertTask = CsvChunkTask | ParquetRangeTask;

/** A row that cannot be imported. `row` and `line` are relative to the task. */
export interface RowProblem {
  readonly row: number;
  /** CSV: the line the row starts on. */
  readonly line?: number;
  readonly column?: string;
  readonly code: ErrorCode;
  readonly message: string;
  /**
   * With `onInvalid: 'dead_letter'`: the row as a record, kept as its dead
   * letter (the cells that converted, the refused one as the file has it).
   */
  readonly record?: Record<string, unknown>;
}

/** What a task produced. */
export interface ConvertResult {
  /** Rows the task covered (sent, refused or skipped). */
  readonly rows: number;
  /** CSV: line breaks the chunk holds. */
  readonly lines: number;
  /** Contiguous, in order, covering rows [0, rows) unless `fatal` stopped the task early. */
  readonly batches: readonly ConvertedBatch[];
  /** CSV: the line each row starts on, relative to the chunk (to name lines in errors the node reports). */
  readonly rowLines?: Uint32Array;
  /** Rows refused in skip mode (at most PROBLEMS_PER_TASK_MAX; every one in dead_letter mode, each with its record), and how many in all. */
  readonly problems: readonly RowProblem[];
  readonly problemCount: number;
  /** The problem that stopped the task: a syntax error, or any problem in reject mode. `batches` hold the rows before it. */
  readonly fatal?: RowProblem;
}

/** Refused rows listed per task; the rest are counted (in dead_letter mode every one is kept: it becomes a letter). */
export const PROBLEMS_PER_TASK_MAX = 100;

/** Whether a task keeps refused row `count + 1` (0-based `count` kept so far) in its result. */
export function keepsProblem(onInvalid: OnInvalid, count: number): boolean {
  return onInvalid === 'dead_letter' || count < PROBLEMS_PER_TASK_MAX;
}

/** Runs one task; never throws on bad input (it is reported in the result). */
export function runConvertTask(task: ConvertTask): Promise<ConvertResult> {
  taskJsonBudget.reset();
  return task.kind === 'csv' ? Promise.resolve(convertCsvChunk(task)) : convertParquetRange(task);
}
