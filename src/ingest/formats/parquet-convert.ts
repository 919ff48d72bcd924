/**
 * A row range of a Parquet file to request bodies. The worker reads only
 * the byte ranges of the columns it needs for those rows (hyparquet's plan
 * over an open file), decodes them column by column, and builds one record
 * per row through the column plan (parquet-columns.ts). The footer and the
 * plan are parsed once per file per worker, not per task.
 */
import { stat } from 'node:fs/promises';
import { parquetRead, type ColumnData, type FileMetaData } from 'hyparquet';
import { SluiceError } from '../../core/errors.ts';
import type { TableDef } from '../../core/schema/table-def.ts';
import type { ConvertResult, ParquetRangeTask, RowProblem } from './convert-task.ts';
import { keepsProblem } from './convert-task.ts';
import { ValueProblem } from './json-value.ts';
import { EXTRA_COLUMN, planParquetImport, type ParquetColumnPlan, type ParquetImportPlan } from './parquet-columns.ts';
import { PARQUET_COMPRESSORS, PARQUET_PARSERS, ParquetFile } from './parquet-file.ts';
import { RowBatcher } from './row-batches.ts';
import { encodeRows } from './encode-rows.ts';

interface CachedFile {
  readonly metadata: FileMetaData;
  readonly plans: Map<string, ParquetImportPlan>;
}

/** Footers by file identity; a few files at once at most (an import reads one). */
const files = new Map<string, CachedFile>();
const FILES_CACHED_MAX = 4;

async function planFor(file: ParquetFile, def: TableDef): Promise<ParquetImportPlan> {
  const s = await stat(file.path);
  const key = `${file.path}\0${s.size}\0${s.mtimeMs}\0${s.ino}`;
  let cached = files.get(key);
  if (cached === undefined) {
    cached = { metadata: await file.metadata(), plans: new Map() };
    if (files.size >= FILES_CACHED_MAX) files.delete(files.keys().next().value as string);
    files.set(key, cached);
  }
  const planKey = `${def.name}:${def.version}`;
  let plan = cached.plans.get(planKey);
  if (plan === undefined) {
    plan = planParquetImport(cached.metadata, def);
    cached.plans.set(planKey, plan);
  }
  return plan;
}

/** Reads one column's values row by row across the chunks hyparquet hands back. */
class ColumnCursor {
  private readonly chunks: ColumnData[];
  private k = 0;

  constructor(chunks: ColumnData[]) {
    this.chunks = chunks.sort((a, b) => a.rowStart - b.rowStart);
  }

  /** The value at absolute row `row`; rows must be asked in increasing order. */
  at(row: number): unknown {
    let chunk = this.chunks[this.k];
    while (chunk !== undefined && row >= chunk.rowEnd) chunk = this.chunks[++this.k];
    if (chunk === undefined || row < chunk.rowStart) return undefined;
    return chunk.columnData[row - chunk.rowStart];
  }
}

/** Converts one row range; never throws on bad input. */
export async function convertParquetRange(task: ParquetRangeTask): Promise<ConvertResult> {
  const rows = task.rowEnd - task.rowStart;
  let file: ParquetFile | undefined;
  try {
    file = await ParquetFile.open(task.path);
    const plan = await planFor(file, task.def);
    const byColumn = new Map<string, ColumnData[]>(plan.columns.map((c) => [c.column, []]));
    await parquetRead({
      file: file.buffer,
      metadata: plan.readMetadata,
      columns: plan.columns.map((c) => c.column),
      rowStart: task.rowStart,
      rowEnd: task.rowEnd,
      compressors: PARQUET_COMPRESSORS,
      parsers: PARQUET_PARSERS,
      // Unannotated BYTE_ARRAY stays bytes: a bytes field must not go through a UTF-8 decode.
      utf8: false,
      // With an offset index in the file, only the pages of these rows are read, not the whole column chunks.
      useOffsetIndex: true,
      onChunk: (chunk) => byColumn.get(chunk.columnName)?.push(chunk),
    });
    return buildRecords(task, plan.columns, byColumn);
  } catch (err) {
    const e = err instanceof SluiceError ? err : undefined;
    const message = e?.message ?? `rows ${task.rowStart + 1} to ${task.rowEnd} cannot be decoded: ${(err as Error).message}`;
    return { rows, lines: 0, batches: [], problems: [], problemCount: 0, fatal: { row: 0, code: e?.code ?? 'INVALID_PARQUET', message } };
  } finally {
    await file?.close();
  }
}

/**
 * A refused row as its dead letter's record: each column converted where
 * it converts, else its value as the file has it, in JSON's terms (a
 * 64-bit integer as a decimal string, NaN as "NaN", bytes as base64, a
 * date as ISO text). Nothing of the row is lost.
 */
function rowRecord(columns: readonly ParquetColumnPlan[], cursors: readonly ColumnCursor[], row: number): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let c = 0; c < columns.length; c++) {
    const raw = (cursors[c] as ColumnCursor).at(row);
    if (raw === null || raw === undefined) continue;
    const column = columns[c] as ParquetColumnPlan;
    const value = column.convert(raw);
    if (column.column === EXTRA_COLUMN && column.field === undefined && typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof ValueProblem)) {
      Object.assign(record, value);
    } else {
      record[column.column] = value instanceof ValueProblem ? asJson(raw) : value;
    }
  }
  return record;
}

/** A decoded Parquet value as a JSON value. */
function asJson(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  // NaN and the infinities have no JSON form (stringify makes them null, which a replay would store as "no value").
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v.toISOString();
  if (Array.isArray(v)) return v.map(asJson);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asJson(x)]));
  return v;
}

function buildRecords(task: ParquetRangeTask, columns: readonly ParquetColumnPlan[], byColumn: Map<string, ColumnData[]>): ConvertResult {
  const cursors = columns.map((c) => new ColumnCursor(byColumn.get(c.column) ?? []));
  const encode = task.encode;
  const batcher = new RowBatcher(task.limits, encode === undefined ? undefined : (records, first) => encodeRows(records, task.def, encode, task.rowStart + first));
  const problems: RowProblem[] = [];
  let problemCount = 0;
  let fatal: RowProblem | undefined;
  const count = task.rowEnd - task.rowStart;
  rows: for (let i = 0; i < count; i++) {
    const record: Record<string, unknown> = {};
    for (let c = 0; c < columns.length; c++) {
      const raw = (cursors[c] as ColumnCursor).at(task.rowStart + i);
      if (raw === null || raw === undefined) continue;
      const column = columns[c] as ParquetColumnPlan;
      const value = column.convert(raw);
      if (value instanceof ValueProblem) {
        const problem: RowProblem = { row: i, column: column.column, code: 'SCHEMA_VIOLATION', message: value.message };
        if (task.onInvalid === 'reject') {
          fatal = problem;
          break rows;
        }
        problemCount++;
        if (keepsProblem(task.onInvalid, problems.length)) {
          problems.push(task.onInvalid === 'dead_letter' ? { ...problem, record: rowRecord(columns, cursors, task.rowStart + i) } : problem);
        }
        batcher.pass(1);
        continue rows;
      }
      if (column.column === EXTRA_COLUMN && column.field === undefined) {
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) Object.assign(record, value);
        continue;
      }
      record[column.column] = value;
    }
    batcher.add(record);
  }
  batcher.flush();
  return { rows: fatal === undefined ? count : fatal.row, lines: 0, batches: batcher.batches, problems, problemCount, ...(fatal === undefined ? {} : { fatal }) };
}
