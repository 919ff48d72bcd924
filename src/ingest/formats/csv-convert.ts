/**
 * A CSV chunk (whole records, no header) to request bodies: parse, check
 * the field count against the header, coerce each cell to its field's
 * JSON shape (csv-columns.ts), batch. A cell that cannot be coerced or a
 * row with the wrong number of fields refuses its row (skip mode) or
 * stops the task (reject mode); a syntax error always stops it, since
 * after a broken quote no later column can be trusted.
 */
import { isUtf8 } from 'node:buffer';
import type { TableDef } from '../../core/schema/table-def.ts';
import type { ConvertResult, CsvChunkTask, RowProblem } from './convert-task.ts';
import { keepsProblem } from './convert-task.ts';
import { coerceCell, planCsvColumns, type CsvColumn } from './csv-columns.ts';
import { CsvSyntaxError, parseCsv } from './csv-parser.ts';
import { ValueProblem } from './json-value.ts';
import { RowBatcher } from './row-batches.ts';

/** Column plans per header and table version (a worker converts many chunks of one file). */
const plans = new Map<string, CsvColumn[]>();

function columnsFor(header: readonly string[], def: TableDef): CsvColumn[] {
  const key = `${def.name}:${def.version}:${JSON.stringify(header)}`;
  let columns = plans.get(key);
  if (columns === undefined) {
    columns = planCsvColumns(header, def);
    if (plans.size >= 16) plans.clear();
    plans.set(key, columns);
  }
  return columns;
}

/** Converts one chunk; never throws on bad input. */
export function convertCsvChunk(task: CsvChunkTask): ConvertResult {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const batcher = new RowBatcher(task.limits);
  if (!isUtf8(bytes)) {
    const { line, row } = firstBadLine(bytes);
    return { rows: 0, lines: 0, batches: [], problems: [], problemCount: 0, fatal: { row, line, code: 'INVALID_ENCODING', message: 'the text is not valid UTF-8' } };
  }
  const text = bytes.toString('utf8');
  const columns = columnsFor(task.header, task.def);
  const rowLines: number[] = [];
  const problems: RowProblem[] = [];
  let problemCount = 0;
  let fatal: RowProblem | undefined;
  const refuse = (p: RowProblem, fields: readonly (string | null)[]): boolean => {
    if (task.onInvalid === 'reject') {
      fatal = p;
      return false;
    }
    problemCount++;
    if (keepsProblem(task.onInvalid, problems.length)) problems.push(task.onInvalid === 'dead_letter' ? { ...p, record: rowRecord(columns, fields) } : p);
    batcher.pass(1);
    return true;
  };
  let lines = 0;
  try {
    lines = parseCsv(text, (fields, line) => {
      const row = rowLines.length;
      rowLines.push(line);
      if (fields.length !== columns.length) return refuse(fieldCountProblem(row, line, fields.length, columns), fields);
      const record: Record<string, unknown> = {};
      for (let c = 0; c < columns.length; c++) {
        const column = columns[c] as CsvColumn;
        const value = coerceCell(column.type, fields[c] as string | null);
        if (value === undefined) continue;
        if (value instanceof ValueProblem) return refuse({ row, line, column: column.name, code: 'SCHEMA_VIOLATION', message: value.message }, fields);
        record[column.name] = value;
      }
      batcher.add(record);
      return true;
    }).lines;
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    const row = rowLines.length;
    fatal = { row, line: err.line, ...columnName(columns, err.field), code: 'INVALID_CSV', message: err.message };
  }
  batcher.flush();
  const rows = fatal === undefined ? batcher.rows : fatal.row;
  return { rows, lines, batches: batcher.batches, rowLines: Uint32Array.from(rowLines), problems, problemCount, ...(fatal === undefined ? {} : { fatal }) };
}

/** Key of a dead-lettered row's cells past the header's columns. */
export const CSV_EXTRA_CELLS_KEY = '_csv_extra_cells';

/**
 * A refused row as its dead letter's record: each cell under its column,
 * converted where it converts and read as plain JSON where it does not
 * (cellAsJson), cells past the header's columns under CSV_EXTRA_CELLS_KEY.
 * Nothing of the row is lost.
 */
function rowRecord(columns: readonly CsvColumn[], fields: readonly (string | null)[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let c = 0; c < Math.min(columns.length, fields.length); c++) {
    const column = columns[c] as CsvColumn;
    const cell = fields[c] as string | null;
    const value = coerceCell(column.type, cell);
    if (value === undefined) continue;
    record[column.name] = value instanceof ValueProblem ? cellAsJson(cell) : value;
  }
  if (fields.length > columns.length) record[CSV_EXTRA_CELLS_KEY] = fields.slice(columns.length);
  return record;
}

const JSON_NUMBER_RE = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * A cell its column refused, as the JSON value it reads as: a number or a
 * boolean when its text is one (so "5.5" refused by an int column replays
 * as 5.5 into the float it was widened to), else its text. Integers past
 * 2^53 stay text: a double would change them.
 */
function cellAsJson(cell: string | null): unknown {
  if (cell === null) return null;
  if (cell === 'true' || cell === 'false') return cell === 'true';
  if (!JSON_NUMBER_RE.test(cell)) return cell;
  const n = Number(cell);
  return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : cell;
}

function fieldCountProblem(row: number, line: number, count: number, columns: readonly CsvColumn[]): RowProblem {
  const message =
    count < columns.length
      ? `the row has ${count} fields and the header ${columns.length}: no value for column "${columns[count]?.name}" onwards`
      : `the row has ${count} fields and the header ${columns.length}: extra fields after column "${columns.at(-1)?.name}"`;
  const column = count < columns.length ? columns[count]?.name : undefined;
  return { row, line, ...(column === undefined ? {} : { column }), code: 'INVALID_CSV', message };
}

function columnName(columns: readonly CsvColumn[], index: number): { column?: string } {
  const name = columns[index]?.name;
  return name === undefined ? {} : { column: name };
}

/** The 0-based line holding the first bytes that are not UTF-8, and the row it is in (error path only). */
function firstBadLine(bytes: Buffer): { line: number; row: number } {
  let line = 0;
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(10, start);
    if (end === -1) end = bytes.length;
    if (!isUtf8(bytes.subarray(start, end))) break;
    line++;
    start = end + 1;
  }
  // Rows that start before that line (a quoted field may span lines: then it is the row's own line that is bad).
  let row = 0;
  try {
    parseCsv(bytes.subarray(0, start).toString('utf8'), (_fields, at) => {
      if (at < line) row++;
    });
  } catch {
    // The prefix ends inside a quoted field: the bad bytes are in the row that opened it, already counted out.
  }
  return { line, row };
}
