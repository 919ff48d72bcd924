/**
 * The bytes of a text file (NDJSON, CSV), optionally gzip-compressed,
 * from a byte offset of its text: a plain file is read from that offset,
 * a gzip one decompressed from its start with the bytes before the offset
 * dropped (gzip has no random access). Reads are 1 MiB; the stream is
 * pulled, so a slow consumer stops the reading.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { SluiceError } from '../../core/errors.ts';

const READ_BYTES = 1024 * 1024;

/** A text stream and how many bytes of the file (compressed, for gzip) it has read. */
export interface TextStream extends AsyncIterable<Buffer> {
  /** Bytes of the file read so far, counted from 0 (a progress figure). */
  fileBytesRead(): number;
  /** Stops reading; idempotent. */
  close(): void;
}

/** Opens `path` for reading its text from byte `start`. */
export function openTextStream(path: string, gzip: boolean, start = 0): TextStream {
  const raw: ReadStream = createReadStream(path, { highWaterMark: READ_BYTES, ...(gzip ? {} : { start }) });
  let read = gzip ? 0 : start;
  raw.on('data', (chunk) => {
    read += chunk.length;
  });
  const text = gzip ? raw.pipe(createGunzip({ chunkSize: 256 * 1024 })) : raw;
  if (gzip) raw.on('error', (err) => text.destroy(err));
  return {
    fileBytesRead: () => read,
    close: () => {
      text.destroy();
      raw.destroy();
    },
    async *[Symbol.asyncIterator]() {
      let skip = gzip ? start : 0;
      try {
        for await (const chunk of text as AsyncIterable<Buffer>) {
          if (skip >= chunk.length) {
            skip -= chunk.length;
            continue;
          }
          yield skip > 0 ? chunk.subarray(skip) : chunk;
          skip = 0;
        }
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw new SluiceError('INVALID_ENCODING', `${path} is not valid gzip: ${(err as Error).message}`);
        throw new SluiceError('INVALID_ARGUMENT', `cannot read ${path}: ${(err as Error).message}`);
      } finally {
        raw.destroy();
      }
    },
  };
}
