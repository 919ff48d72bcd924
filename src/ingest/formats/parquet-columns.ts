/**
 * Parquet columns against a table: which field each top-level column
 * fills, whether its Parquet type can become that field's type, and how
 * each decoded value becomes the JSON value the write path validates.
 * Checked once before anything is written, so a file that does not fit
 * the table is refused whole, naming every column that does not fit.
 *
 *   field type  Parquet columns it takes
 *   string      STRING, ENUM, UUID, JSON (its text), unannotated BYTE_ARRAY (strict UTF-8)
 *   int         INT32/INT64 of any width and sign, DECIMAL with scale 0, TIME
 *   float       FLOAT, DOUBLE, FLOAT16, integers, DECIMAL
 *   bool        BOOLEAN
 *   timestamp   TIMESTAMP (ms/µs/ns, floored to ms), DATE (midnight UTC), INT96, integers (epoch ms), STRING (ISO-8601)
 *   decimal     DECIMAL (exact: unscaled integer and scale, never a float), integers, STRING
 *   bytes       unannotated BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY
 *   json        any column, including LIST, MAP and struct groups
 *
 * `_id` and `_ingested_at` (the system columns of a sluice export) are not
 * imported, so an export imports back; `_extra` (a sluice export's kept
 * extra fields) is merged into the record.
 */
import type { FileMetaData, SchemaElement, SchemaTree } from 'hyparquet';
import { parquetSchema } from 'hyparquet';
import { SluiceError, type ErrorDetail } from '../../core/errors.ts';
import type { FieldType, TableDef } from '../../core/schema/table-def.ts';
import { BadJson, ValueProblem, toJsonValue } from './json-value.ts';
import { taskJsonBudget } from './json-containers.ts';

/** What a column's values are, as far as an import cares. */
export type ParquetKind =
  | 'string'
  | 'uuid'
  | 'json'
  | 'bytes'
  | 'int'
  | 'decimal'
  | 'float'
  | 'bool'
  | 'timestamp'
  | 'date'
  | 'time'
  | 'nested'
  | 'geo'
  | 'unsupported';

/** A column's kind and its Parquet type as people write it ("INT64 (TIMESTAMP MICROS)"). */
export interface ParquetColumnType {
  readonly kind: ParquetKind;
  readonly label: string;
  /** DECIMAL: digits after the point. */
  readonly scale?: number;
  /** The column cannot hold nulls. */
  readonly required: boolean;
}

/** Columns of a sluice export that are not record fields. */
export const SYSTEM_COLUMNS: ReadonlySet<string> = new Set(['_id', '_ingested_at']);
/** A sluice export's column of kept extra fields (a JSON object per record). */
export const EXTRA_COLUMN = '_extra';

/** The kind and label of a top-level column. */
export function parquetColumnType(node: SchemaTree): ParquetColumnType {
  const e = node.element;
  const required = e.repetition_type === 'REQUIRED';
  if (node.children.length > 0 || e.repetition_type === 'REPEATED') {
    const what = e.logical_type?.type ?? e.converted_type ?? 'struct';
    return { kind: 'nested', label: `group (${what})`, required };
  }
  const physical = e.type ?? 'BYTE_ARRAY';
  const lt = e.logical_type;
  const ct = e.converted_type;
  const label = (what: string): string => `${physical} (${what})`;
  if (lt?.type === 'DECIMAL' || ct === 'DECIMAL') {
    const scale = lt?.type === 'DECIMAL' ? lt.scale : (e.scale ?? 0);
    const precision = lt?.type === 'DECIMAL' ? lt.precision : (e.precision ?? 0);
    return { kind: 'decimal', label: label(`DECIMAL(${precision},${scale})`), scale, required };
  }
  if (lt?.type === 'STRING' || ct === 'UTF8') return { kind: 'string', label: label('STRING'), required };
  if (lt?.type === 'ENUM' || ct === 'ENUM') return { kind: 'string', label: label('ENUM'), required };
  if (lt?.type === 'UUID') return { kind: 'uuid', label: label('UUID'), required };
  if (lt?.type === 'JSON' || ct === 'JSON') return { kind: 'json', label: label('JSON'), required };
  if (lt?.type === 'BSON' || ct === 'BSON' || lt?.type === 'INTERVAL' || ct === 'INTERVAL' || lt?.type === 'VARIANT') {
    return { kind: 'unsupported', label: label(lt?.type ?? ct ?? '?'), required };
  }
  if (lt?.type === 'GEOMETRY' || lt?.type === 'GEOGRAPHY') return { kind: 'geo', label: label(lt.type), required };
  if (lt?.type === 'TIMESTAMP') return { kind: 'timestamp', label: label(`TIMESTAMP ${lt.unit}`), required };
  if (ct === 'TIMESTAMP_MILLIS' || ct === 'TIMESTAMP_MICROS') return { kind: 'timestamp', label: label(ct), required };
  if (physical === 'INT96') return { kind: 'timestamp', label: 'INT96 (legacy timestamp)', required };
  if (lt?.type === 'DATE' || ct === 'DATE') return { kind: 'date', label: label('DATE'), required };
  if (lt?.type === 'TIME' || ct === 'TIME_MILLIS' || ct === 'TIME_MICROS') return { kind: 'time', label: label('TIME'), required };
  if (lt?.type === 'FLOAT16') return { kind: 'float', label: label('FLOAT16'), required };
  switch (physical) {
    case 'BOOLEAN':
      return { kind: 'bool', label: physical, required };
    case 'INT32':
    case 'INT64':
      return { kind: 'int', label: lt?.type === 'INTEGER' ? label(`INTEGER(${lt.bitWidth},${lt.isSigned ? 'signed' : 'unsigned'})`) : ct === undefined ? physical : label(ct), required };
    case 'FLOAT':
    case 'DOUBLE':
      return { kind: 'float', label: physical, required };
    default:
      return { kind: 'bytes', label: physical, required };
  }
}

/** Kinds each field type takes (see the file comment). */
const ACCEPTS: Readonly<Record<FieldType, ReadonlySet<ParquetKind>>> = {
  string: new Set(['string', 'uuid', 'json', 'bytes']),
  int: new Set(['int', 'decimal', 'time']),
  float: new Set(['float', 'int', 'decimal']),
  bool: new Set(['bool']),
  timestamp: new Set(['timestamp', 'date', 'int', 'string']),
  decimal: new Set(['decimal', 'int', 'string']),
  bytes: new Set(['bytes']),
  json: new Set(['string', 'uuid', 'json', 'bytes', 'int', 'decimal', 'float', 'bool', 'timestamp', 'date', 'time', 'nested', 'geo']),
};

/** One column to read, and how its values become record values. */
export interface ParquetColumnPlan {
  readonly column: string;
  readonly type: ParquetColumnType;
  /** The field it fills; undefined for `_extra` and for extra columns a table keeps. */
  readonly field: FieldType | undefined;
  /** A decoded value (never null) to its JSON value, or a ValueProblem. */
  readonly convert: (v: unknown) => unknown;
}

/** How to read a file into a table. */
export interface ParquetImportPlan {
  readonly columns: readonly ParquetColumnPlan[];
  /**
   * The footer to hand hyparquet: DECIMAL columns lose their annotation so
   * hyparquet returns the exact unscaled integers instead of a float.
   */
  readonly readMetadata: FileMetaData;
}

/** Plans reading `metadata`'s file into `def`; throws SCHEMA_VIOLATION (or INVALID_PARQUET) naming every column that does not fit. */
export function planParquetImport(metadata: FileMetaData, def: TableDef): ParquetImportPlan {
  const byName = new Map<string, FieldType>();
  for (const f of def.fields) {
    byName.set(f.name, f.type);
    for (const a of f.aliases ?? []) byName.set(a.name, f.type);
  }
  const root = parquetSchema(metadata);
  const problems: ErrorDetail[] = [];
  const columns: ParquetColumnPlan[] = [];
  const present = new Set<string>();
  for (const node of root.children) {
    const column = node.element.name;
    if (SYSTEM_COLUMNS.has(column)) continue;
    const type = parquetColumnType(node);
    present.add(column);
    const field = byName.get(column);
    if (type.kind === 'unsupported') {
      problems.push({ path: `/${column}`, message: `column "${column}" is ${type.label}, which sluice cannot read` });
      continue;
    }
    if (column === EXTRA_COLUMN && field === undefined) {
      columns.push({ column, type, field: undefined, convert: (v) => toJsonValue(v) });
      continue;
    }
    if (field === undefined) {
      if (def.extraFields === 'keep') columns.push({ column, type, field: undefined, convert: converterFor('json', type) });
      else problems.push({ path: `/${column}`, message: `column "${column}" (${type.label}) is not a field of table ${def.name}` });
      continue;
    }
    if (!ACCEPTS[field].has(type.kind) || (field === 'int' && type.kind === 'decimal' && type.scale !== 0)) {
      problems.push({ path: `/${column}`, message: `column "${column}" is ${type.label}, which cannot become field "${column}" of type ${field}` });
      continue;
    }
    columns.push({ column, type, field, convert: converterFor(field, type) });
  }
  for (const f of def.fields) {
    const named = present.has(f.name) || (f.aliases ?? []).some((a) => present.has(a.name));
    if (f.required && f.default === undefined && !named) {
      problems.push({ path: `/${f.name}`, message: `required field "${f.name}" of table ${def.name} has no column in the file` });
    }
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new SluiceError('SCHEMA_VIOLATION', `the Parquet file does not match table ${def.name}: ${problems[0]?.message}${more}; nothing was written`, problems);
  }
  return { columns, readMetadata: withRawDecimals(metadata) };
}

/**
 * A copy of the footer whose top-level DECIMAL columns carry no annotation
 * (hyparquet would turn them into floats; the plan converts them exactly).
 * A DECIMAL inside a struct or list keeps it: such a column becomes a json
 * field whole (toJsonValue), which would otherwise store the unscaled
 * integer, or the value's bytes, in place of the number.
 */
function withRawDecimals(metadata: FileMetaData): FileMetaData {
  const isDecimal = (e: SchemaElement): boolean => e.converted_type === 'DECIMAL' || e.logical_type?.type === 'DECIMAL';
  if (!metadata.schema.some(isDecimal)) return metadata;
  const top = topLevelElements(metadata.schema);
  const schema = metadata.schema.map((e, i) => {
    if (!top.has(i) || !isDecimal(e)) return e;
    const { converted_type: _c, logical_type: _l, ...rest } = e;
    return rest;
  });
  return { ...metadata, schema };
}

/** Indexes of the root's children in a flattened (depth-first) Parquet schema. */
function topLevelElements(schema: readonly SchemaElement[]): Set<number> {
  const top = new Set<number>();
  let at = 1;
  const skip = (i: number): number => {
    let next = i + 1;
    for (let c = 0; c < (schema[i]?.num_children ?? 0); c++) next = skip(next);
    return next;
  };
  for (let c = 0; c < (schema[0]?.num_children ?? 0) && at < schema.length; c++) {
    top.add(at);
    at = skip(at);
  }
  return top;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** The value converter of a column of `type` into a field of type `field`. */
function converterFor(field: FieldType, type: ParquetColumnType): (v: unknown) => unknown {
  const kind = type.kind;
  if (kind === 'decimal') {
    const scale = type.scale ?? 0;
    if (field === 'float') return (v) => Number(decimalText(v, scale));
    if (field === 'int') return (v) => intJson(unscaled(v));
    return (v) => decimalText(v, scale);
  }
  switch (field) {
    case 'string':
      // JSON text stays the text it is (hyparquet parses only columns with the legacy JSON annotation).
      if (kind === 'json') return (v) => (v instanceof Uint8Array ? utf8Text(v) : v instanceof BadJson ? new ValueProblem(`not JSON text: ${v.message}`) : JSON.stringify(toJsonValue(v)));
      if (kind === 'bytes') return (v) => utf8Text(v as Uint8Array);
      return identity;
    case 'int':
      return (v) => intJson(v as number | bigint);
    case 'float':
      return (v) => {
        const n = typeof v === 'bigint' ? Number(v) : (v as number);
        return Number.isFinite(n) ? n : new ValueProblem(`${String(n)} is not a finite number`);
      };
    case 'timestamp':
      if (kind === 'int') return (v) => intJson(v as number | bigint);
      return identity;
    case 'decimal':
      if (kind === 'int') return (v) => String(v);
      return identity;
    case 'bytes':
      return (v) => Buffer.from((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, (v as Uint8Array).byteLength).toString('base64');
    case 'bool':
      return identity;
    case 'json':
      if (kind === 'json') return (v) => toJsonValue(v instanceof Uint8Array ? parseJsonBytes(v) : v);
      return (v) => toJsonValue(v);
  }
}

/** JSON text given as bytes: a column with only the JSON logical type (hyparquet leaves those as bytes). */
function parseJsonBytes(bytes: Uint8Array): unknown {
  const text = utf8Text(bytes);
  if (text instanceof ValueProblem) return new BadJson(text.message);
  const tooLarge = taskJsonBudget.take(bytes);
  if (tooLarge !== undefined) return new BadJson(tooLarge);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    return new BadJson((err as Error).message);
  }
}

function utf8Text(bytes: Uint8Array): string | ValueProblem {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return new ValueProblem('bytes that are not valid UTF-8 cannot become a string');
  }
}

function identity(v: unknown): unknown {
  return v;
}

/** An int64 as JSON: a number when exact, else its decimal string. */
function intJson(v: number | bigint): number | string {
  if (typeof v === 'number') return v;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
}

/** The unscaled integer of a raw DECIMAL value: INT32, INT64, or big-endian two's complement bytes. */
function unscaled(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  const bytes = v as Uint8Array;
  if (bytes.length === 0) return 0n;
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  if ((bytes[0] as number) & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return value;
}

/** The exact decimal text of a raw DECIMAL value with `scale` digits after the point. */
export function decimalText(v: unknown, scale: number): string {
  const u = unscaled(v);
  const negative = u < 0n;
  const digits = (negative ? -u : u).toString();
  if (scale <= 0) return (negative ? '-' : '') + digits + '0'.repeat(-scale);
  const padded = digits.padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
}
