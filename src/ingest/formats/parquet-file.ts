/**
 * A Parquet file read the way an import needs it: by byte ranges of an
 * open file (the footer, then the column chunks of one row range), never
 * the whole file in memory; with every codec pyarrow, Spark and DuckDB
 * write by default. Snappy pages go through the checked block decoder
 * (core/codec/snappy-block.ts: hysnappy, with the page header's length
 * checked against the block's; hyparquet's own JS decoder turned a
 * corrupt copy offset into zeros, and took 8–15% more CPU in raw decode:
 * docs/benchmarks.md); zstd, gzip and
 * brotli come from node:zlib (Node 24 has zstd, native and faster than a
 * JavaScript decoder); LZ4 (Hadoop framing or raw) and LZ4_RAW from
 * hyparquet-compressors, by hyparquet's author. LZO is refused with a
 * clear error (hyparquet's own message).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib';
import { parquetMetadataAsync, type AsyncBuffer, type Compressors, type FileMetaData, type ParquetParsers } from 'hyparquet';
import { decompressLz4, decompressLz4Raw } from 'hyparquet-compressors';
import { snappyUncompressExact } from '../../core/codec/snappy-block.ts';
import { SluiceError } from '../../core/errors.ts';
import { BadJson } from './json-value.ts';
import { taskJsonBudget } from './json-containers.ts';

/** Decompressors by codec (hyparquet's own are for none of these). */
export const PARQUET_COMPRESSORS: Compressors = {
  // A plain Error: the conversion reports it as its rows' INVALID_PARQUET, with this message.
  SNAPPY: (input, outputLength) => {
    try {
      return snappyUncompressExact(input, outputLength);
    } catch (err) {
      throw new Error((err as Error).message);
    }
  },
  ZSTD: (input, outputLength) => zstdDecompressSync(input, { maxOutputLength: Math.max(outputLength, 1) }),
  GZIP: (input, outputLength) => gunzipSync(input, { maxOutputLength: Math.max(outputLength, 1) }),
  BROTLI: (input, outputLength) => brotliDecompressSync(input, { maxOutputLength: Math.max(outputLength, 1) }),
  LZ4: decompressLz4,
  LZ4_RAW: decompressLz4Raw,
};

/** Floor division of bigints (BigInt `/` truncates towards zero; times before 1970 must round down). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/**
 * Value parsers: times become epoch milliseconds (sluice's timestamp unit;
 * finer units are floored), dates midnight UTC in ms, and JSON text that
 * does not parse a BadJson the row conversion reports with its row.
 */
export const PARQUET_PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromMicroseconds: (v: bigint) => Number(floorDiv(v, 1000n)),
  timestampFromNanoseconds: (v: bigint) => Number(floorDiv(v, 1_000_000n)),
  dateFromDays: (days: number) => days * 86_400_000,
  jsonFromBytes: (bytes: Uint8Array) => {
    if (bytes === undefined || bytes === null) return bytes;
    const tooLarge = taskJsonBudget.take(bytes);
    if (tooLarge !== undefined) return new BadJson(tooLarge);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      return new BadJson((err as Error).message);
    }
  },
};

/** An open Parquet file as hyparquet's AsyncBuffer: each slice is one positioned read. */
export class ParquetFile {
  readonly path: string;
  readonly byteLength: number;
  private readonly handle: FileHandle;

  private constructor(path: string, handle: FileHandle, byteLength: number) {
    this.path = path;
    this.handle = handle;
    this.byteLength = byteLength;
  }

  /** Opens `path`; throws a SluiceError (INVALID_ARGUMENT) naming the file when it cannot. */
  static async open(path: string): Promise<ParquetFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw new SluiceError('INVALID_ARGUMENT', `cannot open ${path}: ${(err as Error).message}`);
    }
    const { size } = await handle.stat();
    return new ParquetFile(path, handle, size);
  }

  /** The AsyncBuffer view hyparquet reads through. */
  get buffer(): AsyncBuffer {
    return { byteLength: this.byteLength, slice: (start, end) => this.read(start, end ?? this.byteLength) };
  }

  private async read(start: number, end: number): Promise<ArrayBuffer> {
    const length = Math.max(0, Math.min(end, this.byteLength) - start);
    // Its own ArrayBuffer (not Node's pool): hyparquet keeps views into it.
    const out = new Uint8Array(new ArrayBuffer(length));
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, start + done);
      if (bytesRead === 0) throw new SluiceError('INVALID_PARQUET', `${this.path} ended at byte ${start + done}, inside a range the footer names`);
      done += bytesRead;
    }
    return out.buffer;
  }

  /** The footer; throws INVALID_PARQUET when the file is not Parquet. */
  async metadata(): Promise<FileMetaData> {
    try {
      return await parquetMetadataAsync(this.buffer, { parsers: PARQUET_PARSERS });
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      throw new SluiceError('INVALID_PARQUET', `${this.path} is not a readable Parquet file: ${(err as Error).message}`);
    }
  }

  /** Closes the file; idempotent. */
  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
