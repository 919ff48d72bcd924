/**
 * A table's `onInvalid` default: a plain field of the definition, checked
 * at creation, settable (and kept) by a schema patch, never `dead_letter`
 * on a dead-letter table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSluiceError } from '../../../src/core/errors.ts';
import { evolveSchema } from '../../../src/core/schema/evolve-schema.ts';
import { parseTableDef, withOnInvalid } from '../../../src/core/schema/parse-table-def.ts';

const base = { name: 'orders', shardKey: 'id', fields: [{ name: 'id', type: 'string', required: true }] };

test('onInvalid is optional, one of reject, skip, dead_letter', () => {
  assert.equal(parseTableDef(base, 0).onInvalid, undefined);
  for (const p of ['reject', 'skip', 'dead_letter'] as const) assert.equal(parseTableDef({ ...base, onInvalid: p }, 0).onInvalid, p);
  assert.throws(() => parseTableDef({ ...base, onInvalid: 'drop' }, 0), (e) => isSluiceError(e, 'INVALID_TABLE_DEFINITION') && e.details[0]?.path === '/onInvalid');
});

test('a dead-letter table cannot dead-letter, nor a table whose letters table name would be too long', () => {
  assert.throws(() => parseTableDef({ ...base, name: 'orders__dead_letters', onInvalid: 'dead_letter' }, 0), (e) => isSluiceError(e, 'INVALID_TABLE_DEFINITION'));
  assert.equal(parseTableDef({ ...base, name: 'orders__dead_letters', onInvalid: 'skip' }, 0).onInvalid, 'skip');
  assert.throws(() => parseTableDef({ ...base, name: 'o'.repeat(50), onInvalid: 'dead_letter' }, 0), (e) => isSluiceError(e, 'INVALID_TABLE_DEFINITION'));
});

test('a schema patch sets onInvalid, keeps it when silent, and refuses a bad one', () => {
  const v1 = parseTableDef(base, 0);
  const v2 = evolveSchema(v1, { fields: base.fields, onInvalid: 'dead_letter' }, 0);
  assert.equal(v2.onInvalid, 'dead_letter');
  assert.equal(v2.version, 2);
  const v3 = evolveSchema(v2, { fields: [...base.fields, { name: 'note', type: 'string' }] }, 0);
  assert.equal(v3.onInvalid, 'dead_letter', 'a patch without onInvalid keeps it');
  assert.equal(evolveSchema(v3, { ...v3 }, 0), v3, 'a described table sent back changes nothing');
  assert.throws(() => evolveSchema(v1, { fields: base.fields, onInvalid: 'nope' }, 0), (e) => isSluiceError(e, 'INVALID_TABLE_DEFINITION'));
});

test('withOnInvalid: a new schema version with the policy, none when unchanged, null back to the default', () => {
  const v1 = parseTableDef(base, 0);
  const v2 = withOnInvalid(v1, 'dead_letter');
  assert.deepEqual({ p: v2.onInvalid, v: v2.version, fields: v2.fields }, { p: 'dead_letter', v: 2, fields: v1.fields });
  assert.equal(withOnInvalid(v2, 'dead_letter'), v2);
  const v3 = withOnInvalid(v2, null);
  assert.equal(v3.onInvalid, undefined);
  assert.equal(v3.version, 3);
  assert.throws(() => withOnInvalid(v1, 'sometimes'), (e) => isSluiceError(e, 'INVALID_TABLE_DEFINITION'));
  assert.throws(() => withOnInvalid(parseTableDef({ ...base, name: 'x__dead_letters' }, 0), 'dead_letter'), (e) => isSluiceError(e, 'INVALID_TABLE_DEFINITION'));
});
