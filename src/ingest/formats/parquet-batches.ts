/**
 * A Parquet file as request bodies, in file order. The main thread reads
 * only the footer: it checks the file against the table (nothing is
 * written when a column does not fit) and deals out row ranges of at most
 * `taskRows` rows inside one row group; worker threads read and convert
 * each range from the file by byte ranges (parquet-convert.ts). Memory
 * holds the ranges in flight, never the file.
 */
import type { FileMetaData } from 'hyparquet';
import type { ConvertPool } from './convert-pool.ts';
import type { ParquetRangeTask } from './convert-task.ts';
import { inOrder, rowError, type FileBatch, type FileReadOptions } from './file-batch.ts';
import { planParquetImport } from './parquet-columns.ts';
import { ParquetFile } from './parquet-file.ts';

const TASK_ROWS_DEFAULT = 65_536;
/** Uncompressed bytes of values one task decodes at most (rows are fewer when they are wide). */
const TASK_BYTES_MAX = 8 * 1024 * 1024;
/** Rows of a task however wide they are. */
const TASK_ROWS_MIN = 256;

/** The footer of a Parquet file (INVALID_PARQUET when it is not one). */
export async function readParquetFooter(path: string): Promise<FileMetaData> {
  const file = await ParquetFile.open(path);
  try {
    return await file.metadata();
  } finally {
    await file.close();
  }
}

/**
 * Row ranges inside one row group each, from row `from` on: at most
 * `taskRows` rows, and fewer when the group's rows are wide, so a task
 * decodes about TASK_BYTES_MAX of values whatever the schema.
 */
export function* parquetRanges(metadata: FileMetaData, taskRows: number, from: number): Generator<{ rowStart: number; rowEnd: number }> {
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const rows = Number(group.num_rows);
    const groupEnd = groupStart + rows;
    const rowBytes = rows > 0 ? Number(group.total_byte_size) / rows : 0;
    const step = Math.max(Math.min(taskRows, TASK_ROWS_MIN), Math.min(taskRows, Math.floor(TASK_BYTES_MAX / Math.max(rowBytes, 1))));
    for (let start = Math.max(groupStart, from); start < groupEnd; start += step) {
      yield { rowStart: start, rowEnd: Math.min(start + step, groupEnd) };
    }
    groupStart = groupEnd;
  }
}

/** The Parquet file's rows as request bodies, or as record batches with `o.encode` (see file-batch.ts). */
export async function* parquetBatches(path: string, o: FileReadOptions, pool: ConvertPool): AsyncGenerator<FileBatch> {
  const metadata = await readParquetFooter(path);
  // Throws SCHEMA_VIOLATION naming every column that does not fit, before any task runs.
  planParquetImport(metadata, o.def);
  const rowsDone = o.resume?.rowsDone ?? 0;
  const tasks = function* (): Generator<ParquetRangeTask> {
    for (const r of parquetRanges(metadata, o.taskRows ?? TASK_ROWS_DEFAULT, rowsDone)) {
      yield { kind: 'parquet', path, rowStart: r.rowStart, rowEnd: r.rowEnd, def: o.def, onInvalid: o.onInvalid, limits: o.limits, ...(o.encode === undefined ? {} : { encode: o.encode }) };
    }
  };
  for await (const { item: task, result } of inOrder(tasks(), (t) => pool.run(t), o.depth ?? pool.threads + 2)) {
    for (let b = 0; b < result.batches.length; b++) {
      const batch = result.batches[b];
      if (batch === undefined) continue;
      yield {
        firstRow: task.rowStart + batch.first,
        rows: batch.rows,
        body: batch.body,
        ...(batch.encoded === undefined ? {} : { encoded: batch.encoded }),
        contentType: 'application/json',
        lineOf: () => undefined,
        progress: task.rowStart + batch.first + batch.rows,
        problems: b === 0 ? result.problems.map((p) => ({ ...p, row: task.rowStart + p.row })) : [],
        problemCount: b === 0 ? result.problemCount : 0,
      };
    }
    if (result.fatal !== undefined) throw rowError({ ...result.fatal, row: task.rowStart + result.fatal.row }, o.def);
  }
}
