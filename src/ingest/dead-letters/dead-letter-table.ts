/**
 * The dead-letter table of a table: `<table>__dead_letters`, created on its
 * first letter with the definition below, readable and exportable like any
 * table. Its shard key is the letter's id, a hash or a random UUID, so the
 * letters of one busy source spread over every shard. The id is also its
 * primary key: `sluice dlq replay` marks a letter replayed by writing it
 * again under the same id (last writer wins), never by a second letter.
 */
import { SluiceError } from '../../core/errors.ts';
import { evolveSchema } from '../../core/schema/evolve-schema.ts';
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
  // The dedupe key the record was sent with, when it had one: `sluice dlq replay` writes under it (decision 50).
  { name: 'dedupe_key', type: 'string' },
] as const;

/**
 * Letter fields added after dead-letter tables were first made: a table
 * created before may lack them (it is on users' disks with the fields of
 * its day), and the writer adds them, optional, as a schema change when a
 * letter first carries one (`withLetterFields`).
 */
const LETTER_FIELDS_ADDED_LATER: ReadonlySet<string> = new Set(['dedupe_key']);

/** The letter fields `def` lacks among those added later (none for a table made now). */
export function missingLetterFields(def: TableDef): string[] {
  return [...LETTER_FIELDS_ADDED_LATER].filter((name) => !def.fields.some((f) => f.name === name));
}

/**
 * `def`, a dead-letter table's definition, with the letter fields added
 * later that it lacks, as optional fields: an ordinary compatible schema
 * change (evolve-schema.ts: add an optional field), so its stored letters
 * stay as they are. `def` itself when it lacks none.
 */
export function withLetterFields(def: TableDef, nowMs: number): TableDef {
  const missing = new Set(missingLetterFields(def));
  if (missing.size === 0) return def;
  const added = DEAD_LETTER_FIELDS.filter((f) => missing.has(f.name)).map((f) => ({ name: f.name, type: f.type }));
  // The current fields sent back as described (ids, aliases, defaults), then the new ones.
  return evolveSchema(def, { fields: [...def.fields, ...added] }, nowMs);
}

/**
 * Why `def`, a dead-letter table's definition, would refuse the letters
 * the node writes into it (dead-letter-record.ts): every letter field under
 * its name and type, no required field a letter does not carry, and the
 * letter's id as primary key (`sluice dlq replay` rewrites a letter under
 * its id). A letter it refused would fail the whole write that
 * dead-letters (INTERNAL), valid records included. A field added later
 * may be missing (the writer adds it), not of another type nor required.
 * Empty when it takes them.
 */
export function letterTableProblems(def: TableDef): { path: string; message: string }[] {
  const problems = DEAD_LETTER_FIELDS.flatMap((want) => {
    const have = def.fields.find((f) => f.name === want.name);
    if (have === undefined) return LETTER_FIELDS_ADDED_LATER.has(want.name) ? [] : [{ path: '/fields', message: `the dead-letter field ${JSON.stringify(want.name)} is missing: every letter carries it` }];
    if (have.type !== want.type) return [{ path: '/fields', message: `the dead-letter field ${JSON.stringify(want.name)} must be of type ${want.type}` }];
    // Letters of records sent without a dedupe key carry none.
    const absentFromSome = LETTER_FIELDS_ADDED_LATER.has(want.name) && have.required && have.default === undefined;
    return absentFromSome ? [{ path: '/fields', message: `the dead-letter field ${JSON.stringify(want.name)} must be optional (or have a default): not every letter carries it` }] : [];
  });
  const letterField = new Set<string>(DEAD_LETTER_FIELDS.map((f) => f.name));
  for (const f of def.fields) {
    if (!letterField.has(f.name) && f.required && f.default === undefined) problems.push({ path: '/fields', message: `field ${JSON.stringify(f.name)} is required, and no letter carries it: give it a default or make it optional` });
  }
  if (def.primaryKey !== 'dead_letter_id') problems.push({ path: '/primaryKey', message: 'a dead-letter table\'s primary key is dead_letter_id' });
  return problems;
}

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
