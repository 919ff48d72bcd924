/**
 * Dead-letter tables made before a letter field existed: they still take
 * letters (letterTableProblems), and the field is added to them as an
 * optional field by an ordinary schema change (withLetterFields), leaving
 * every field they had as it was.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSchema } from '../../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { deadLetterRecord } from '../../../src/ingest/dead-letters/dead-letter-record.ts';
import { DEAD_LETTER_FIELDS, deadLetterTableDefinition, letterTableProblems, missingLetterFields, withLetterFields } from '../../../src/ingest/dead-letters/dead-letter-table.ts';

const SOURCE = parseTableDef({ name: 'orders', shardKey: 'id', fields: [{ name: 'id', type: 'string', required: true }] }, 0);

/** A dead-letter table as made before letters kept their dedupe key. */
function yesterdaysTable() {
  const def = deadLetterTableDefinition(SOURCE);
  return parseTableDef({ ...def, fields: DEAD_LETTER_FIELDS.filter((f) => f.name !== 'dedupe_key') }, 0);
}

test("a table made with yesterday's fields still takes letters; the missing field is listed to add", () => {
  const old = yesterdaysTable();
  assert.deepEqual(letterTableProblems(old), []);
  assert.deepEqual(missingLetterFields(old), ['dedupe_key']);
  assert.deepEqual(missingLetterFields(parseTableDef(deadLetterTableDefinition(SOURCE), 0)), [], 'a table made now has every field');
});

test('withLetterFields adds dedupe_key as an optional string in a new schema version, every other field unchanged', () => {
  const old = yesterdaysTable();
  const next = withLetterFields(old, 1_000);
  assert.equal(next.version, old.version + 1);
  assert.deepEqual(next.fields.slice(0, old.fields.length), old.fields, 'ids, types and required-ness kept');
  const added = next.fields.at(-1);
  assert.deepEqual({ name: added?.name, type: added?.type, required: added?.required }, { name: 'dedupe_key', type: 'string', required: false });
  assert.ok((added?.id ?? 0) > Math.max(...old.fields.map((f) => f.id)), 'a fresh field id');
  assert.deepEqual(letterTableProblems(next), []);
  assert.equal(withLetterFields(next, 2_000), next, 'nothing left to add: the same definition, no new version');
  const letter = { id: 'k1', table: 'orders', raw: Buffer.from('{}'), rawFormat: 'json' as const, code: 'TYPE', message: 'm', path: '', source: 'http', dedupeKey: 'file:ab:0000000000000001', failedAtMs: 5 };
  assert.ok(compileSchema(next).normalize(deadLetterRecord(letter), 0).ok, 'the evolved table takes a keyed letter');
  assert.ok(!compileSchema(old).normalize(deadLetterRecord(letter), 0).ok, 'the old one would refuse it (why the writer adds the field first)');
});

test('a dead-letter table whose dedupe_key is of another type, or required, is refused', () => {
  const def = deadLetterTableDefinition(SOURCE);
  const withKey = (spec: Record<string, unknown>) => parseTableDef({ ...def, fields: DEAD_LETTER_FIELDS.map((f) => (f.name === 'dedupe_key' ? { name: f.name, ...spec } : f)) }, 0);
  assert.deepEqual(letterTableProblems(withKey({ type: 'int' })).map((p) => p.message), ['the dead-letter field "dedupe_key" must be of type string']);
  assert.deepEqual(letterTableProblems(withKey({ type: 'string', required: true })).map((p) => p.message), ['the dead-letter field "dedupe_key" must be optional (or have a default): not every letter carries it']);
  assert.deepEqual(letterTableProblems(withKey({ type: 'string', required: true, default: '' })), []);
});
