/**
 * A CSV file as request bodies, in file order: the main thread reads the
 * header and cuts the text into chunks of whole records (quote-aware);
 * worker threads parse and coerce the chunks (csv-convert.ts); results
 * come back in order and get their absolute row and line numbers here.
 */
import { SluiceError } from '../../core/errors.ts';
import type { ConvertPool } from './convert-pool.ts';
import type { ConvertResult } from './convert-task.ts';
import { parseCsvHeader, CsvSyntaxError } from './csv-parser.ts';
import { planCsvColumns } from './csv-columns.ts';
import { inOrder, rowError, type FileBatch, type FileReadOptions, type FileRowProblem, type ResumePoint } from './file-batch.ts';
import { RecordSplitter, type SplitChunk } from './record-splitter.ts';
import { openTextStream, type TextStream } from './text-stream.ts';

const CHUNK_BYTES_DEFAULT = 1024 * 1024;

interface Header {
  readonly names: string[];
  /** Bytes of the header record and its line break. */
  readonly bytes: number;
  readonly lines: number;
}

/** Reads the header record (the first record) of a CSV file. */
export async function readCsvHeader(path: string, gzip: boolean): Promise<Header> {
  const stream = openTextStream(path, gzip);
  try {
    const chunk = await firstChunk(stream);
    return headerOf(path, chunk);
  } finally {
    stream.close();
  }
}

async function firstChunk(stream: TextStream): Promise<Buffer | undefined> {
  const splitter = new RecordSplitter({ chunkBytes: 1, quotes: true });
  for await (const buf of stream) {
    const [chunk] = splitter.push(buf);
    if (chunk !== undefined) return chunk.bytes;
  }
  return splitter.end()?.bytes;
}

function headerOf(path: string, chunk: Buffer | undefined): Header {
  if (chunk === undefined || chunk.length === 0) throw new SluiceError('EMPTY_BODY', `${path} is empty: a CSV file starts with a header row`);
  const text = chunk.toString('utf8');
  let header: ReturnType<typeof parseCsvHeader>;
  try {
    header = parseCsvHeader(text);
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw new SluiceError('INVALID_CSV', `the header row (line ${err.line + 1}) is not valid CSV: ${err.message}`);
    throw err;
  }
  if (header === undefined) throw new SluiceError('EMPTY_BODY', `${path} has no header row`);
  return { names: header.names, bytes: Buffer.byteLength(text.slice(0, header.end)), lines: header.lines };
}

/** The CSV file's rows as request bodies (see file-batch.ts). */
export async function* csvBatches(path: string, o: FileReadOptions, pool: ConvertPool): AsyncGenerator<FileBatch> {
  const header = await readCsvHeader(path, o.gzip);
  // Refuse a header that does not fit the table before reading on.
  planCsvColumns(header.names, o.def);
  const start: ResumePoint = o.resume?.at ?? { byte: header.bytes, row: 0, line: 1 + header.lines };
  const rowsDone = o.resume?.rowsDone ?? 0;
  const stream = openTextStream(path, o.gzip, start.byte);
  // A chunk's end offset is taken now: its bytes are transferred to a worker thread (0 bytes left here) when it runs.
  const placed = (chunk: SplitChunk): SplitChunk & { fileBytes: number; endByte: number } => ({ ...chunk, fileBytes: stream.fileBytesRead(), endByte: chunk.offset + chunk.bytes.length });
  const chunks = async function* (): AsyncGenerator<SplitChunk & { fileBytes: number; endByte: number }> {
    const splitter = new RecordSplitter({ chunkBytes: o.chunkBytes ?? CHUNK_BYTES_DEFAULT, quotes: true }, start.byte);
    for await (const buf of stream) {
      for (const chunk of splitter.push(buf)) yield placed(chunk);
    }
    const last = splitter.end();
    if (last !== undefined) yield placed(last);
  };
  let row = start.row;
  let line = start.line;
  try {
    const run = (chunk: SplitChunk): Promise<ConvertResult> =>
      pool.run({ kind: 'csv', bytes: chunk.bytes, header: header.names, def: o.def, onInvalid: o.onInvalid, limits: o.limits });
    for await (const { item: chunk, result } of inOrder(chunks(), run, o.depth ?? pool.threads + 2)) {
      const firstRow = row;
      const firstLine = line;
      const rowLines = result.rowLines;
      const lineOf = (r: number): number | undefined => (rowLines === undefined || r < 0 || r >= rowLines.length ? undefined : firstLine + (rowLines[r] as number));
      const problems: FileRowProblem[] = result.problems.map((p) => ({ ...p, row: firstRow + p.row, ...(p.line === undefined ? {} : { line: firstLine + p.line }) }));
      const end: ResumePoint = { byte: chunk.endByte, row: firstRow + result.rows, line: firstLine + result.lines };
      const begin: ResumePoint = { byte: chunk.offset, row: firstRow, line: firstLine };
      for (let b = 0; b < result.batches.length; b++) {
        const batch = result.batches[b];
        if (batch === undefined) continue;
        const last = b === result.batches.length - 1 && result.fatal === undefined;
        const written = firstRow + batch.first + batch.rows <= rowsDone;
        yield {
          firstRow: firstRow + batch.first,
          rows: batch.rows,
          // Rows written before a resume are not sent again (a batch across that point is: its dedupe keys make it harmless).
          body: written ? null : batch.body,
          contentType: 'application/json',
          lineOf: (i) => lineOf(batch.first + i),
          restart: last ? end : begin,
          progress: chunk.fileBytes,
          problems: b === 0 ? problems : [],
          problemCount: b === 0 ? result.problemCount : 0,
        };
      }
      if (result.fatal !== undefined) {
        const p = result.fatal;
        throw rowError({ ...p, row: firstRow + p.row, ...(p.line === undefined ? {} : { line: firstLine + p.line }) }, o.def);
      }
      row = end.row;
      line = end.line;
    }
  } finally {
    stream.close();
  }
}
