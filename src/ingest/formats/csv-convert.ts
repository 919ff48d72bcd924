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
import { PROBLEMS_PER_TASK_MAX } from './convert-task.ts';
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
  const refuse = (p: RowProblem): boolean => {
    if (task.onInvalid === 'reject') {
      fatal = p;
      return false;
    }
    problemCount++;
    if (problems.length < PROBLEMS_PER_TASK_MAX) problems.push(p);
    batcher.pass(1);
    return true;
  };
  let lines = 0;
  try {
    lines = parseCsv(text, (fields, line) => {
      const row = rowLines.length;
      rowLines.push(line);
      if (fields.length !== columns.length) return refuse(fieldCountProblem(row, line, fields.length, columns));
      const record: Record<string, unknown> = {};
      for (let c = 0; c < columns.length; c++) {
        const column = columns[c] as CsvColumn;
        const value = coerceCell(column.type, fields[c] as string | null);
        if (value === undefined) continue;
        if (value instanceof ValueProblem) return refuse({ row, line, column: column.name, code: 'SCHEMA_VIOLATION', message: value.message });
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
