/**
 * A table's records as one Parquet file (`GET /v1/tables/{t}/export?format=parquet`),
 * produced as a stream of byte chunks: rows are gathered into a row group
 * of at most `rowGroupRowsMax` rows or `rowGroupBytesMax` estimated value
 * bytes, encoded, handed on, and dropped. Memory holds one row group, plus
 * the footer's per-row-group metadata (a few hundred bytes per column per
 * row group), which Parquet writes last and so must keep until the end.
 *
 * Columns, in the order of an NDJSON record (docs/decisions/0011):
 *
 *   column / field type  Parquet                                      why
 *   _id                  INT64, required                              snowflakes use 63 bits, always ≥ 0
 *   string               BYTE_ARRAY (STRING)
 *   int                  INT64                                        int fields are 64-bit
 *   float                DOUBLE
 *   bool                 BOOLEAN
 *   timestamp            INT64 TIMESTAMP(MILLIS, adjusted to UTC)     stored as epoch ms: exact
 *   decimal              BYTE_ARRAY (STRING), the exact decimal text  the scale varies per record; no fixed DECIMAL(p,s)
 *   bytes                BYTE_ARRAY
 *   json                 BYTE_ARRAY (JSON), the JSON text
 *   _extra               BYTE_ARRAY (JSON), an object or null         only for tables that keep extra fields
 *   _ingested_at         INT64 TIMESTAMP(MILLIS, adjusted to UTC), required
 *
 * Every declared field is OPTIONAL, even a required one: a field made
 * required later reads back null in records written before (schema
 * evolution never rewrites data), so "required" does not promise non-null
 * for the whole table.
 */
import assert from 'node:assert/strict';
import type { RowGroup } from 'hyparquet';
import { ByteWriter, ParquetWriter, type SchemaElement } from 'hyparquet-writer';
import { unconvertMinMax } from 'hyparquet-writer/src/unconvert.js';
import type { FieldType, TableDef } from '../core/schema/table-def.ts';
import type { RecordParts } from './record-view.ts';

/** The registered media type of Parquet files. */
export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';

/** Bounds of one row group. */
export interface ParquetExportLimits {
  /** Rows in one row group. */
  readonly rowGroupRowsMax: number;
  /** Estimated bytes of the values of one row group (before encoding). */
  readonly rowGroupBytesMax: number;
}

/** What the export writes for one table. */
export interface ParquetExportPlan {
  readonly schema: SchemaElement[];
  readonly columns: readonly ExportColumn[];
  /** Key-value metadata of the file footer. */
  readonly metadata: { key: string; value: string }[];
}

/** One column: its name, whether it gets min/max statistics, and how a record gives its value. */
interface ExportColumn {
  readonly name: string;
  readonly statistics: boolean;
  /** The value as hyparquet-writer takes it for this column's schema element; null when absent. */
  readonly take: (row: RecordParts) => unknown;
}

/**
 * Text as UTF-8 bytes, made here: hyparquet-writer would run TextEncoder's
 * encode on each string (~0.45 µs a value here, a fresh ArrayBuffer each),
 * where Buffer.from takes small strings from Node's pool (~0.12 µs).
 */
function utf8(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

const TIMESTAMP_MS = { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } } as const;
const STRING = { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } } as const;
// JSON columns carry the logical type only: with the (legacy) converted type
// hyparquet-writer would JSON.stringify the value itself, and the export
// needs the encoded text first to bound the row group by bytes.
const JSON_TEXT = { type: 'BYTE_ARRAY', logical_type: { type: 'JSON' } } as const;

type ElementShape = Omit<SchemaElement, 'name' | 'repetition_type'>;

/** The Parquet element and the conversion from the JSON form (`RecordView`) of each field type. */
const FIELD_COLUMNS: Readonly<Record<FieldType, { element: ElementShape; convert: (v: unknown) => unknown }>> = {
  string: { element: STRING, convert: (v) => utf8(v as string) },
  // JSON form: a number when safe, else a decimal string; both are exact.
  int: { element: { type: 'INT64' }, convert: (v) => BigInt(v as number | string) },
  float: { element: { type: 'DOUBLE' }, convert: (v) => v },
  bool: { element: { type: 'BOOLEAN' }, convert: (v) => v },
  timestamp: { element: TIMESTAMP_MS, convert: (v) => BigInt(v as number) },
  decimal: { element: STRING, convert: (v) => utf8(v as string) },
  bytes: { element: { type: 'BYTE_ARRAY' }, convert: (v) => Buffer.from(v as string, 'base64') },
  json: { element: JSON_TEXT, convert: (v) => utf8(JSON.stringify(v)) },
};

/**
 * The columns of a table's export. `keepsExtras`: some schema version of
 * the table kept extra fields, so records may carry them (`_extra`).
 */
export function parquetExportPlan(def: TableDef, keepsExtras: boolean): ParquetExportPlan {
  const schema: SchemaElement[] = [{ name: 'schema', num_children: 0 }];
  const columns: ExportColumn[] = [];
  const add = (name: string, element: ElementShape, required: boolean, take: ExportColumn['take']): void => {
    schema.push({ ...element, name, repetition_type: required ? 'REQUIRED' : 'OPTIONAL' });
    // Min/max of JSON text orders nothing useful, and hyparquet-writer keeps JSON bounds untruncated (whole documents in the footer).
    columns.push({ name, statistics: element.logical_type?.type !== 'JSON', take });
  };
  add('_id', { type: 'INT64' }, true, (row) => row.id);
  for (const field of def.fields) {
    const { element, convert } = FIELD_COLUMNS[field.type];
    const name = field.name;
    add(name, element, false, (row) => {
      const v = row.fields[name];
      return v === null || v === undefined ? null : convert(v);
    });
  }
  if (keepsExtras) {
    const declared = new Set(def.fields.map((f) => f.name));
    add('_extra', JSON_TEXT, false, (row) => extrasOf(row.fields, declared));
  }
  add('_ingested_at', TIMESTAMP_MS, true, (row) => BigInt(row.ingestedAtMs));
  schema[0] = { name: 'schema', num_children: columns.length };
  const metadata = [
    { key: 'sluice.table', value: def.name },
    { key: 'sluice.schema_version', value: String(def.version) },
  ];
  return { schema, columns, metadata };
}

/** The kept extra fields of a record as JSON text, or null when it has none. */
function extrasOf(fields: Record<string, unknown>, declared: ReadonlySet<string>): Uint8Array | null {
  let extras: Record<string, unknown> | null = null;
  for (const k in fields) if (!declared.has(k)) (extras ??= {})[k] = fields[k];
  return extras === null ? null : utf8(JSON.stringify(extras));
}

/** A ByteWriter that hands its bytes on at every row group instead of growing with the file. */
class ChunkWriter extends ByteWriter {
  private chunks: Buffer[] = [];

  /** Called by ParquetWriter after each row group. */
  flush(): void {
    if (this.index === 0) return;
    // A copy: the buffer is reused for the next row group.
    this.chunks.push(Buffer.from(this.buffer.slice(0, this.index)));
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }

  /** The chunks flushed since the last call. */
  take(): Buffer[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }
}

/**
 * Shrinks the min/max statistics of a row group just written to what the
 * footer will hold of them: hyparquet-writer writes 16 bytes of a byte
 * array bound (a prefix, or a short upper bound, marked inexact), but keeps
 * every row group's metadata until the footer, with the whole values in it
 * (a 64 KiB log line each; a small value kept its 8 KiB Buffer pool slab
 * alive), so the export's memory grew with the table. The footer written is
 * the same: a bound of 16 bytes or less is written as it is.
 */
function compactStatistics(group: RowGroup | undefined, schema: readonly SchemaElement[]): void {
  group?.columns.forEach((chunk, i) => {
    const stats = chunk.meta_data?.statistics;
    const element = schema[i + 1];
    if (stats === undefined || element?.type !== 'BYTE_ARRAY') return;
    const min = compactBound(stats.min_value, element, false);
    if (min !== undefined) {
      stats.min_value = min.bound;
      if (!min.exact) stats.is_min_value_exact = false;
    }
    const max = compactBound(stats.max_value, element, true);
    if (max !== undefined) {
      stats.max_value = max.bound;
      if (!max.exact) stats.is_max_value_exact = false;
    }
  });
}

/** A byte array bound as the footer writes it, in memory of its own; undefined for any other value. */
function compactBound(value: unknown, element: SchemaElement, isMax: boolean): { bound: Uint8Array; exact: boolean } | undefined {
  if (!(value instanceof Uint8Array)) return undefined;
  // The same bytes back when it is short enough, or when no shorter upper bound exists (kept whole, as the footer does).
  const written = unconvertMinMax(value, element, isMax) ?? value;
  return { bound: new Uint8Array(written), exact: written === value };
}

/** Rough bytes of one value before encoding, for the row group bound. */
function approxBytes(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (v instanceof Uint8Array) return v.length;
  return 8;
}

/**
 * Encodes `rows` as one Parquet file and yields it chunk by chunk: the
 * magic bytes first, then one chunk per row group, then the footer. No rows
 * gives a valid file with the schema and 0 rows. The caller's consumption
 * paces the reading of `rows` (one row group ahead at most).
 */
export async function* parquetExport(plan: ParquetExportPlan, rows: AsyncIterable<RecordParts>, limits: ParquetExportLimits): AsyncGenerator<Buffer> {
  const writer = new ChunkWriter(64 * 1024);
  const parquet = new ParquetWriter({ writer, schema: plan.schema, codec: 'SNAPPY', kvMetadata: plan.metadata, createdBy: 'sluice (hyparquet-writer)' });
  const width = plan.columns.length;
  let data: unknown[][] = plan.columns.map(() => []);
  let count = 0;
  let bytes = 0;
  const writeGroup = (): void => {
    // One call = one row group: rowGroupSize is the whole batch. The writer's
    // flush is synchronous, so the write is too (a promise would mean bytes
    // still on their way when we take them).
    const done = parquet.write({ columnData: plan.columns.map((c, i) => ({ name: c.name, data: data[i] as unknown[], statistics: c.statistics })), rowGroupSize: count });
    assert(done === undefined, 'a synchronous Parquet writer returned a promise');
    compactStatistics(parquet.row_groups.at(-1), plan.schema);
    data = plan.columns.map(() => []);
    count = 0;
    bytes = 0;
  };
  writer.flush();
  yield* writer.take();
  for await (const row of rows) {
    for (let i = 0; i < width; i++) {
      const v = (plan.columns[i] as ExportColumn).take(row);
      (data[i] as unknown[]).push(v);
      bytes += approxBytes(v);
    }
    count++;
    if (count >= limits.rowGroupRowsMax || bytes >= limits.rowGroupBytesMax) {
      writeGroup();
      yield* writer.take();
    }
  }
  if (count > 0) writeGroup();
  const finished = parquet.finish();
  assert(finished === undefined, 'a synchronous Parquet writer returned a promise');
  yield* writer.take();
}
