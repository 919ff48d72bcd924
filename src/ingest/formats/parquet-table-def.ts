/**
 * A table definition derived from a Parquet schema (`sluice ingest
 * --create-table`): one field per top-level column, typed as the import
 * would read it, required when the column is REQUIRED. The shard key is
 * the named column, or the first column of a key type (a REQUIRED one
 * preferred). The result is the input of `POST /v1/tables`, checked there
 * like any definition.
 *
 *   Parquet column                                  field type
 *   STRING, ENUM, UUID                              string
 *   INT32/INT64 (any width, sign), TIME             int
 *   FLOAT, DOUBLE, FLOAT16                          float
 *   BOOLEAN                                         bool
 *   TIMESTAMP, DATE, INT96                          timestamp
 *   DECIMAL                                         decimal
 *   unannotated BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY    bytes
 *   JSON, LIST, MAP, struct, GEOMETRY, GEOGRAPHY    json
 */
import { parquetSchema, type FileMetaData } from 'hyparquet';
import { SluiceError } from '../../core/errors.ts';
import { FIELD_NAME_RE } from '../../core/schema/parse-field-specs.ts';
import { KEY_FIELD_TYPES, type FieldType } from '../../core/schema/table-def.ts';
import { EXTRA_COLUMN, SYSTEM_COLUMNS, parquetColumnType, type ParquetKind } from './parquet-columns.ts';

const FIELD_TYPE_OF: Readonly<Record<ParquetKind, FieldType | undefined>> = {
  string: 'string',
  uuid: 'string',
  json: 'json',
  bytes: 'bytes',
  int: 'int',
  decimal: 'decimal',
  float: 'float',
  bool: 'bool',
  timestamp: 'timestamp',
  date: 'timestamp',
  time: 'int',
  nested: 'json',
  geo: 'json',
  unsupported: undefined,
};

/** What the caller chooses; the rest comes from the file. */
export interface DerivedTableOptions {
  readonly name: string;
  readonly shardKey?: string;
  readonly timeField?: string;
  readonly primaryKey?: string;
}

/** A table definition (the `POST /v1/tables` body) for the file's columns; throws INVALID_TABLE_DEFINITION when none can be made. */
export function tableDefFromParquet(metadata: FileMetaData, o: DerivedTableOptions): Record<string, unknown> {
  const fields: { name: string; type: FieldType; required: boolean }[] = [];
  let keepsExtras = false;
  for (const node of parquetSchema(metadata).children) {
    const name = node.element.name;
    if (SYSTEM_COLUMNS.has(name)) continue;
    if (name === EXTRA_COLUMN) {
      keepsExtras = true;
      continue;
    }
    const column = parquetColumnType(node);
    const type = FIELD_TYPE_OF[column.kind];
    if (type === undefined) throw new SluiceError('INVALID_TABLE_DEFINITION', `column "${name}" is ${column.label}, which sluice cannot read; drop it from the file or create the table yourself`);
    if (!FIELD_NAME_RE.test(name)) throw new SluiceError('INVALID_TABLE_DEFINITION', `column "${name}" is not a valid field name (${FIELD_NAME_RE.source}); create the table yourself with an alias`);
    fields.push({ name, type, required: column.required });
  }
  const shardKey = o.shardKey ?? defaultShardKey(fields);
  if (shardKey === undefined) {
    throw new SluiceError('INVALID_TABLE_DEFINITION', `no column can be the shard key (one of type ${KEY_FIELD_TYPES.join(', ')}): pass --shard-key`);
  }
  // Key fields must be required; a nullable column (pyarrow's default) becomes one, and a row with a null key is refused.
  for (const f of fields) if (f.name === shardKey || f.name === o.primaryKey) f.required = true;
  return {
    name: o.name,
    shardKey,
    ...(o.timeField === undefined ? {} : { timeField: o.timeField }),
    ...(o.primaryKey === undefined ? {} : { primaryKey: o.primaryKey }),
    ...(keepsExtras ? { extraFields: 'keep' } : {}),
    fields,
  };
}

function defaultShardKey(fields: readonly { name: string; type: FieldType; required: boolean }[]): string | undefined {
  const keyable = fields.filter((f) => KEY_FIELD_TYPES.includes(f.type));
  return (keyable.find((f) => f.required) ?? keyable[0])?.name;
}
