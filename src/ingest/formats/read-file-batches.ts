/**
 * One entry to every file reader: an import (the CLI, or a node's import
 * route) asks for a file's rows as request bodies in file order and does
 * not care which format produced them.
 */
import type { ConvertPool } from './convert-pool.ts';
import { csvBatches } from './csv-batches.ts';
import type { FileBatch, FileFormat, FileReadOptions } from './file-batch.ts';
import { ndjsonBatches } from './ndjson-batches.ts';
import { parquetBatches } from './parquet-batches.ts';

/** The file's rows as request bodies, in order; throws the SluiceError of the first row that stops the import. */
export function readFileBatches(path: string, options: FileReadOptions, pool: ConvertPool): AsyncGenerator<FileBatch> {
  switch (options.format) {
    case 'ndjson':
      return ndjsonBatches(path, options);
    case 'csv':
      return csvBatches(path, options, pool);
    case 'parquet':
      return parquetBatches(path, options, pool);
  }
}

/** The format and compression a file name says: `.parquet`, `.csv[.gz]`, `.ndjson|.jsonl[.gz]`; undefined if none. */
export function formatOfFileName(name: string): { format: FileFormat; gzip: boolean } | undefined {
  const lower = name.toLowerCase();
  const gzip = lower.endsWith('.gz');
  const base = gzip ? lower.slice(0, -3) : lower;
  if (base.endsWith('.parquet') || base.endsWith('.pq')) return gzip ? undefined : { format: 'parquet', gzip: false };
  if (base.endsWith('.csv')) return { format: 'csv', gzip };
  if (base.endsWith('.ndjson') || base.endsWith('.jsonl')) return { format: 'ndjson', gzip };
  return undefined;
}
