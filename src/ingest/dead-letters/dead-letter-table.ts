/**
 * The dead-letter table of a table: `<table>__dead_letters`, created on its
 * first letter with the definition below, readable and exportable like any
 * table. Its shard key is the letter's id, a hash or a random UUID, so the
 * letters of one busy source spread over every shard. The id is also its
 * primary key: `sluice dlq replay` marks a letter replayed by writing it
 * again under the same id (last writer wins), never by a second letter.
 */
import { SluiceError } from '../../core/errors.ts';
import { TABLE_NAME_RE } from '../../core/schema/parse-table-def.ts';
import { DEAD_LETTER_SUFFIX, type TableDef } from '../../core/schema/table-def.ts';

/** The fields of every dead-letter table, as `POST /v1/tables` takes them. */
export const DEAD_LETTER_FIELDS = [
  { name: 'dead_letter_id', type: 'string', required: true },
  // The table that refused the record (a dead-letter table holds one table's letters; this keeps exports self-describing).
  { name: 'table', type: 'string', required: true },
  // The record as its sender sent it: the NDJSON line, JSON array element or protobuf message.
  { name: 'raw', type: 'bytes', required: true },
  { name: 'raw_format', type: 'string', required: true },
  { name: 'code', type: 'string', required: true },
  { name: 'message', type: 'string', required: true },
  { name: 'path', type: 'string' },
  { name: 'source', type: 'string', required: true },
  { name: 'request_id', type: 'string' },
  { name: 'record_index', type: 'int' },
  { name: 'schema_version', type: 'int' },
  { name: 'failed_at', type: 'timestamp', required: true },
  // pending, or replayed (stored in the table by `sluice dlq replay`).
  { name: 'status', type: 'string', required: true },
  { name: 'replayed_at', type: 'timestamp' },
  { name: 'replayed_id', type: 'string' },
] as const;

/** True when `name` is a dead-letter table (its writes never dead-letter: letters of letters would recurse). */
export function isDeadLetterTable(name: string): boolean {
  return name.endsWith(DEAD_LETTER_SUFFIX);
}

/** `<table>__dead_letters`; INVALID_ARGUMENT when the name would pass the table name limit or `table` is one already. */
export function deadLetterTableName(table: string): string {
  if (isDeadLetterTable(table)) throw new SluiceError('INVALID_ARGUMENT', `${table} is a dead-letter table: its writes cannot dead-letter`, [{ path: 'on_invalid', message: 'use reject or skip' }]);
  const name = table + DEAD_LETTER_SUFFIX;
  if (!TABLE_NAME_RE.test(name)) {
    throw new SluiceError('INVALID_ARGUMENT', `table ${table} has no dead-letter table: ${name} passes the 63-character name limit`, [{ path: 'on_invalid', message: 'use reject or skip' }]);
  }
  return name;
}

/** The definition of `table`'s dead-letter table; it keeps as many copies as the table it serves. */
export function deadLetterTableDefinition(table: TableDef): { readonly name: string } & Record<string, unknown> {
  return {
    name: deadLetterTableName(table.name),
    shardKey: 'dead_letter_id',
    primaryKey: 'dead_letter_id',
    timeField: 'failed_at',
    replicationFactor: table.replicationFactor,
    fields: DEAD_LETTER_FIELDS,
  };
}
