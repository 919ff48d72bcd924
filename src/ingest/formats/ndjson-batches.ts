/**
 * An NDJSON file as request bodies, in file order, cut on line feeds
 * without parsing: the node parses and validates (in its decode workers),
 * so the reader only counts records. A body is the file's own bytes from
 * a batch's first record to its last, blank lines included, so the node's
 * "NDJSON line K" is line firstLine + K - 1 of the file.
 *
 * Records are counted exactly as the node counts them (`isBlankLine`:
 * Unicode whitespace is blank too, as decodeBody trims). Counting more
 * would shift the node's record numbers after such a line (dead letters
 * and errors naming the wrong row, dedupe keys that depend on where the
 * batches are cut); counting fewer would give two records one key.
 */
import { isBlankLine } from '../decode-body.ts';
import type { FileBatch, FileReadOptions, ResumePoint } from './file-batch.ts';
import { RecordSplitter } from './record-splitter.ts';
import { openTextStream } from './text-stream.ts';

const CHUNK_BYTES = 1024 * 1024;
const LF = 10;

/** The lines of row i of an NDJSON body: the i-th non-blank line (error path only). */
function lineOfRow(body: Uint8Array, firstLine: number, i: number): number | undefined {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let row = -1;
  let line = firstLine;
  for (let start = 0; start < buf.length; line++) {
    let end = buf.indexOf(LF, start);
    if (end === -1) end = buf.length;
    if (!isBlankLine(buf, start, end) && ++row === i) return line;
    start = end + 1;
  }
  return undefined;
}

/** The NDJSON file's rows as request bodies (see file-batch.ts). */
export async function* ndjsonBatches(path: string, o: FileReadOptions): AsyncGenerator<FileBatch> {
  const start: ResumePoint = o.resume?.at ?? { byte: 0, row: 0, line: 1 };
  const rowsDone = o.resume?.rowsDone ?? 0;
  const stream = openTextStream(path, o.gzip, start.byte);
  // Bodies stay on this thread (the node parses NDJSON itself): views into the read buffers, no copies.
  const splitter = new RecordSplitter({ chunkBytes: o.chunkBytes ?? CHUNK_BYTES, quotes: false, ownMemory: false }, start.byte);
  let row = start.row;
  let line = start.line;
  // The batch being built: slices of chunks, from its first record's line to its last record's line feed.
  let parts: Buffer[] = [];
  let partBytes = 0;
  let batchRows = 0;
  let batchFirstLine = line;
  let progress = 0;

  const emit = (endByte: number): FileBatch => {
    const body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, partBytes);
    const firstRow = row - batchRows;
    const firstLine = batchFirstLine;
    const batch: FileBatch = {
      firstRow,
      rows: batchRows,
      body: firstRow + batchRows <= rowsDone ? null : body,
      contentType: 'application/x-ndjson',
      lineOf: (i) => lineOfRow(body, firstLine, i),
      restart: { byte: endByte, row, line },
      progress,
      problems: [],
      problemCount: 0,
    };
    parts = [];
    partBytes = 0;
    batchRows = 0;
    return batch;
  };

  const lines = function* (chunk: Buffer, offset: number): Generator<FileBatch> {
    let at = 0;
    // Where the pending part of this chunk starts (undefined: no batch open in this chunk).
    let from: number | undefined = batchRows > 0 ? 0 : undefined;
    while (at < chunk.length) {
      let end = chunk.indexOf(LF, at);
      if (end === -1) end = chunk.length;
      const next = Math.min(end + 1, chunk.length);
      if (!isBlankLine(chunk, at, end)) {
        if (batchRows === 0) {
          from = at;
          batchFirstLine = line;
        }
        row++;
        batchRows++;
        line += end < chunk.length ? 1 : 0;
        if (batchRows >= o.limits.rowsMax || partBytes + (next - (from ?? 0)) >= o.limits.bytesMax) {
          const piece = chunk.subarray(from ?? 0, next);
          parts.push(piece);
          partBytes += piece.length;
          from = undefined;
          yield emit(offset + next);
        }
      } else {
        line += end < chunk.length ? 1 : 0;
      }
      at = next;
    }
    if (from !== undefined && batchRows > 0) {
      const piece = chunk.subarray(from, chunk.length);
      parts.push(piece);
      partBytes += piece.length;
    }
  };

  try {
    let offset = start.byte;
    for await (const buf of stream) {
      for (const chunk of splitter.push(buf)) {
        progress = stream.fileBytesRead();
        yield* lines(chunk.bytes, chunk.offset);
        offset = chunk.offset + chunk.bytes.length;
      }
    }
    const last = splitter.end();
    progress = stream.fileBytesRead();
    if (last !== undefined) {
      yield* lines(last.bytes, last.offset);
      offset = last.offset + last.bytes.length;
    }
    if (batchRows > 0) yield emit(offset);
  } finally {
    stream.close();
  }
}
