import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { evolveSchema } from '../../../src/core/schema/evolve-schema.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { compileSchema } from '../../../src/core/schema/compile-schema.ts';
import { compileRenderer } from '../../../src/core/schema/render-record.ts';
import { parquetExportPlan } from '../../../src/api/parquet-export.ts';
import { SluiceError } from '../../../src/core/errors.ts';
import type { TableDef } from '../../../src/core/schema/table-def.ts';

const NOW = 1_700_000_000_000;
const DAY = 86_400_000;

const BASE_FIELDS = [
  { name: 'account_id', type: 'string', required: true },
  { name: 'txn_id', type: 'string', required: true },
  { name: 'amount', type: 'int', required: true },
  { name: 'ts', type: 'timestamp', required: true },
  { name: 'memo', type: 'string' },
  { name: 'qty', type: 'int' },
];
const BASE = parseTableDef({ name: 'payments', shardKey: 'account_id', primaryKey: 'txn_id', timeField: 'ts', fields: BASE_FIELDS }, NOW);

type FieldIn = Record<string, unknown>;
const withField = (name: string, change: FieldIn): FieldIn[] => BASE_FIELDS.map((f) => (f.name === name ? { ...f, ...change } : f));
const without = (name: string): FieldIn[] => BASE_FIELDS.filter((f) => f.name !== name);

/** The error code and problem paths `patch` is refused with. */
function refused(patch: unknown, current: TableDef = BASE): { code: string; paths: string[] } {
  try {
    evolveSchema(current, patch, NOW);
  } catch (err) {
    assert.ok(err instanceof SluiceError, String(err));
    return { code: err.code, paths: err.details.map((d) => d.path ?? '?') };
  }
  return assert.fail(`accepted ${JSON.stringify(patch)}`);
}

test('a patch that changes nothing returns the current definition', () => {
  assert.equal(evolveSchema(BASE, { fields: BASE_FIELDS }, NOW), BASE);
  assert.equal(evolveSchema(BASE, { fields: BASE_FIELDS, shardKey: 'account_id', primaryKey: 'txn_id', timeField: 'ts', version: 1, name: 'payments', replicationFactor: 1, extraFields: 'reject' }, NOW), BASE);
  // A described table sent back (ids, alias objects) is also a no-op.
  const renamed = evolveSchema(BASE, { fields: withField('memo', { name: 'note', aliases: ['memo'] }) }, NOW);
  const described = JSON.parse(JSON.stringify(renamed)) as TableDef;
  assert.equal(evolveSchema(renamed, { fields: described.fields }, NOW + DAY), renamed);
  const added = evolveSchema(renamed, { fields: [...described.fields, { name: 'cur', type: 'string', default: 'EUR' }] }, NOW);
  const addedDescribed = JSON.parse(JSON.stringify(added)) as TableDef;
  assert.equal(evolveSchema(added, { ...addedDescribed, fields: addedDescribed.fields.map((f) => ({ ...f, initialDefault: 'ignored' })) }, NOW), added);
});

test('add an optional field: version + 1, next id', () => {
  const v2 = evolveSchema(BASE, { fields: [...BASE_FIELDS, { name: 'tag', type: 'string' }] }, NOW);
  assert.equal(v2.version, 2);
  assert.deepEqual(v2.fields.at(-1), { id: 7, name: 'tag', type: 'string', required: false });
  assert.equal(v2.lastFieldId, 7);
  const withDefault = evolveSchema(BASE, { fields: [...BASE_FIELDS, { name: 'tag', type: 'string', default: 'x' }] }, NOW);
  assert.deepEqual(withDefault.fields.at(-1), { id: 7, name: 'tag', type: 'string', required: false, default: 'x', initialDefault: 'x' });
  assert.equal(BASE.version, 1, 'the input is not mutated');
});

test('add a required field: only with a default', () => {
  const v2 = evolveSchema(BASE, { fields: [...BASE_FIELDS, { name: 'currency', type: 'string', required: true, default: 'EUR' }] }, NOW);
  assert.deepEqual(v2.fields.at(-1), { id: 7, name: 'currency', type: 'string', required: true, default: 'EUR', initialDefault: 'EUR' });
  assert.deepEqual(refused({ fields: [...BASE_FIELDS, { name: 'currency', type: 'string', required: true }] }), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/fields/6'] });
});

test('rename: same id, old name accepted until the alias expires', () => {
  const v2 = evolveSchema(BASE, { fields: withField('amount', { name: 'amount_cents', aliases: ['amount'] }) }, NOW);
  assert.equal(v2.version, 2);
  const f = v2.fields.find((x) => x.name === 'amount_cents');
  assert.deepEqual(f, { id: 3, name: 'amount_cents', type: 'int', required: true, aliases: [{ name: 'amount', expiresAtMs: NOW + 7 * DAY }] });
  assert.equal(evolveSchema(BASE, { fields: withField('amount', { name: 'amount_cents', aliases: ['amount'] }) }, NOW, 1000).fields[2]?.aliases?.[0]?.expiresAtMs, NOW + 1000);
  const s = compileSchema(v2);
  const rec = { account_id: 'a', txn_id: 't', amount: 5, ts: 0 };
  assert.ok(s.normalize(rec, NOW + 7 * DAY - 1).ok);
  const late = s.normalize(rec, NOW + 7 * DAY);
  assert.ok(!late.ok && late.errors[0]?.code === 'ALIAS_EXPIRED');
  // Re-sending the alias later keeps its original expiry.
  const again = evolveSchema(v2, { fields: withField('amount', { name: 'amount_cents', aliases: ['amount'] }), version: 2 }, NOW + 3 * DAY);
  assert.equal(again, v2);
  // Renaming back: the other name becomes the alias.
  const back = evolveSchema(v2, { fields: withField('amount', { aliases: ['amount_cents'] }) }, NOW + DAY);
  assert.deepEqual(back.fields[2], { id: 3, name: 'amount', type: 'int', required: true, aliases: [{ name: 'amount_cents', expiresAtMs: NOW + 8 * DAY }] });
  // Dropping an alias early is allowed.
  const dropped = evolveSchema(v2, { fields: withField('amount', { name: 'amount_cents' }) }, NOW);
  assert.equal(dropped.fields[2]?.aliases, undefined);
});

test('renaming a key or time field: the definition follows it by id', () => {
  const v2 = evolveSchema(
    BASE,
    { fields: BASE_FIELDS.map((f) => (f.name === 'account_id' ? { ...f, name: 'acct', aliases: ['account_id'] } : f.name === 'ts' ? { ...f, name: 'event_time', aliases: ['ts'] } : f)) },
    NOW,
  );
  assert.equal(v2.shardKey, 'acct');
  assert.equal(v2.timeField, 'event_time');
  assert.equal(v2.primaryKey, 'txn_id');
  assert.equal(compileSchema(v2).shardKeyIndex, 0);
});

test('type changes: refused except int → float and int → decimal', () => {
  const toFloat = evolveSchema(BASE, { fields: withField('qty', { type: 'float' }) }, NOW);
  assert.equal(toFloat.fields[5]?.type, 'float');
  assert.equal(toFloat.fields[5]?.id, 6);
  assert.equal(evolveSchema(BASE, { fields: withField('amount', { type: 'decimal' }) }, NOW).fields[2]?.type, 'decimal');
  for (const [name, type] of [['memo', 'int'], ['qty', 'string'], ['qty', 'bool'], ['ts', 'int'], ['memo', 'json']] as const) {
    assert.deepEqual(refused({ fields: withField(name, { type }) }), { code: 'SCHEMA_INCOMPATIBLE', paths: [`/fields/${BASE_FIELDS.findIndex((f) => f.name === name)}/type`] }, `${name} → ${type}`);
  }
  assert.deepEqual(refused({ fields: withField('qty', { type: 'int' }) }, toFloat), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/fields/5/type'] }, 'float → int narrows');
  const keyed = parseTableDef({ name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'int', required: true }] }, NOW);
  assert.equal(refused({ fields: [{ name: 'k', type: 'decimal', required: true }] }, keyed).code, 'SCHEMA_INCOMPATIBLE', 'a key field keeps its type');
});

test('removing fields: optional ok (id never reused), required or key refused', () => {
  const v2 = evolveSchema(BASE, { fields: without('qty') }, NOW);
  assert.deepEqual(v2.fields.map((f) => f.id), [1, 2, 3, 4, 5]);
  assert.equal(v2.lastFieldId, 6);
  const v3 = evolveSchema(v2, { fields: [...without('qty'), { name: 'qty', type: 'string' }] }, NOW);
  assert.deepEqual(v3.fields.at(-1), { id: 7, name: 'qty', type: 'string', required: false });
  assert.deepEqual(refused({ fields: without('amount') }), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/fields'] });
  for (const key of ['account_id', 'txn_id', 'ts']) assert.equal(refused({ fields: without(key) }).code, 'SCHEMA_INCOMPATIBLE', key);
  // Legacy definitions without lastFieldId still never reuse the highest id.
  const { lastFieldId: _l, ...legacy } = BASE;
  assert.equal(evolveSchema(evolveSchema(legacy, { fields: without('qty') }, NOW), { fields: [...without('qty'), { name: 'n', type: 'int' }] }, NOW).fields.at(-1)?.id, 7);
});

test('required-ness: optional → required needs a default; key fields stay required', () => {
  assert.deepEqual(refused({ fields: withField('memo', { required: true }) }), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/fields/4/required'] });
  const v2 = evolveSchema(BASE, { fields: withField('memo', { required: true, default: '' }) }, NOW);
  assert.deepEqual(v2.fields[4], { id: 5, name: 'memo', type: 'string', required: true, default: '' });
  assert.equal(evolveSchema(BASE, { fields: withField('amount', { required: false }) }, NOW).fields[2]?.required, false);
  for (const key of ['account_id', 'txn_id', 'ts']) {
    assert.equal(refused({ fields: withField(key, { required: false }) }).code, 'SCHEMA_INCOMPATIBLE', key);
  }
});

test('defaults may change; records written before the field keep its initial default', () => {
  const v2 = evolveSchema(BASE, { fields: [...BASE_FIELDS, { name: 'cur', type: 'string', default: 'EUR' }] }, NOW);
  const v3 = evolveSchema(v2, { fields: [...BASE_FIELDS, { name: 'cur', type: 'string', default: 'USD' }] }, NOW);
  assert.deepEqual(v3.fields.at(-1), { id: 7, name: 'cur', type: 'string', required: false, default: 'USD', initialDefault: 'EUR' });
  const v4 = evolveSchema(BASE, { fields: withField('qty', { default: 1 }) }, NOW);
  assert.deepEqual(v4.fields[5], { id: 6, name: 'qty', type: 'int', required: false, default: 1 });
});

test('shardKey, primaryKey and timeField cannot change', () => {
  assert.deepEqual(refused({ fields: BASE_FIELDS, shardKey: 'txn_id' }), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/shardKey'] });
  assert.deepEqual(refused({ fields: BASE_FIELDS, primaryKey: 'account_id' }), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/primaryKey'] });
  assert.deepEqual(refused({ fields: [...BASE_FIELDS, { name: 't2', type: 'timestamp' }], timeField: 't2' }), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/timeField'] });
  const noPk = parseTableDef({ name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'id', type: 'string', required: true }] }, NOW);
  assert.deepEqual(refused({ fields: [{ name: 'k', type: 'string', required: true }, { name: 'id', type: 'string', required: true }], primaryKey: 'id' }, noPk), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/primaryKey'] });
});

test('extraFields may switch between reject and keep', () => {
  const keep = evolveSchema(BASE, { fields: BASE_FIELDS, extraFields: 'keep' }, NOW);
  assert.equal(keep.extraFields, 'keep');
  assert.equal(keep.version, 2);
  assert.equal(evolveSchema(keep, { fields: BASE_FIELDS, extraFields: 'reject' }, NOW).extraFields, 'reject');
});

test('a stale version is a conflict', () => {
  assert.deepEqual(refused({ fields: [...BASE_FIELDS, { name: 'x', type: 'int' }], version: 3 }), { code: 'SCHEMA_INCOMPATIBLE', paths: ['/version'] });
  assert.equal(evolveSchema(BASE, { fields: [...BASE_FIELDS, { name: 'x', type: 'int' }], version: 1 }, NOW).version, 2);
});

test('malformed patches are INVALID_TABLE_DEFINITION', () => {
  const invalid = (patch: unknown, paths: string[]): void => assert.deepEqual(refused(patch), { code: 'INVALID_TABLE_DEFINITION', paths }, JSON.stringify(patch));
  invalid(null, ['']);
  invalid([], ['']);
  invalid({}, ['/fields']);
  invalid({ fields: [] }, ['/fields']);
  invalid({ fields: BASE_FIELDS, colour: 1 }, ['/colour']);
  invalid({ fields: BASE_FIELDS, name: 'other' }, ['/name']);
  invalid({ fields: BASE_FIELDS, replicationFactor: 3 }, ['/replicationFactor']);
  invalid({ fields: BASE_FIELDS, extraFields: 'drop' }, ['/extraFields']);
  invalid({ fields: withField('memo', { type: 'text' }) }, ['/fields/4/type']);
  invalid({ fields: [...BASE_FIELDS, { name: 'memo', type: 'string' }] }, ['/fields/6/name']);
  invalid({ fields: withField('qty', { default: 'many' }) }, ['/fields/5/default']);
  // An alias may not name another field that still exists, nor two of them.
  invalid({ fields: without('qty').map((f) => (f.name === 'memo' ? { ...f, aliases: ['qty'] } : f)) }, ['/fields/4/aliases']);
  invalid({ fields: [...without('memo').filter((f) => f.name !== 'qty'), { name: 'both', type: 'string', aliases: ['memo', 'qty'] }] }, ['/fields/4/aliases']);
  // An id from a described table must match the field found by name or alias.
  invalid({ fields: withField('memo', { id: 6 }) }, ['/fields/4/id']);
  invalid({ fields: [...BASE_FIELDS, { name: 'new', type: 'int', id: 3 }] }, ['/fields/6/id']);
});

test('an alias still serving one field cannot move to another', () => {
  const v2 = evolveSchema(BASE, { fields: withField('memo', { name: 'note', aliases: ['memo'] }) }, NOW);
  const fields = [...v2.fields.map((f) => ({ name: f.name, type: f.type, required: f.required })), { name: 'comment', type: 'string', aliases: ['memo'] }];
  assert.deepEqual(refused({ fields }, v2), { code: 'INVALID_TABLE_DEFINITION', paths: ['/fields/6/aliases/0'] });
  // Once it has expired it may.
  assert.equal(evolveSchema(v2, { fields }, NOW + 8 * DAY).fields.at(-1)?.aliases?.[0]?.name, 'memo');
});

test('every incompatible change is reported at once', () => {
  const fields = BASE_FIELDS.filter((f) => f.name !== 'amount').map((f) => (f.name === 'memo' ? { ...f, type: 'int' } : f.name === 'qty' ? { ...f, required: true } : f));
  const r = refused({ fields: [...fields, { name: 'must', type: 'int', required: true }] });
  assert.equal(r.code, 'SCHEMA_INCOMPATIBLE');
  assert.deepEqual(r.paths.sort(), ['/fields', '/fields/3/type', '/fields/4/required', '/fields/5'].sort());
});

test('a described proto-bound table sent back with a new field evolves; its binding cannot change', () => {
  const source = readFileSync(new URL('../fixtures/payment.proto', import.meta.url), 'utf8');
  const bound = parseTableDef({ name: 'payments', shardKey: 'account_id', proto: { message: 'shop.v1.Payment', source } }, NOW);
  // What GET /v1/tables/{t} shows (the binding as its stored descriptor), plus one field.
  const described = JSON.parse(JSON.stringify(bound)) as TableDef;
  const v2 = evolveSchema(bound, { ...described, fields: [...described.fields, { name: 'note', type: 'string' }] }, NOW);
  assert.equal(v2.version, 2);
  assert.deepEqual(v2.proto, bound.proto);
  assert.equal(evolveSchema(bound, described, NOW), bound);
  // The binding is not changed through a schema patch.
  const other = { ...described, proto: { message: 'shop.v1.Other', descriptor: described.proto?.descriptor } };
  assert.deepEqual(refused(other, bound), { code: 'INVALID_TABLE_DEFINITION', paths: ['/proto'] });
});

test('widening a field keeps what records written before it existed read back, in the new type', () => {
  // qty2 added with a default (old records read 5), then widened: old records must read it as the new type does.
  const added = evolveSchema(BASE, { fields: [...BASE_FIELDS, { name: 'qty2', type: 'int', default: 5 }] }, NOW);
  const toDecimal = evolveSchema(added, { fields: [...BASE_FIELDS, { name: 'qty2', type: 'decimal' }] }, NOW);
  const toFloat = evolveSchema(added, { fields: [...BASE_FIELDS, { name: 'qty2', type: 'float' }] }, NOW);
  const v1Record = ['acct', 'txn', 1, 0, null, null];
  const asDecimal = compileRenderer(toDecimal, BASE)(v1Record);
  assert.equal(asDecimal['qty2'], '5', 'a decimal reads back as its string, like every decimal value');
  assert.equal(compileRenderer(toFloat, BASE)(v1Record)['qty2'], 5);
  // An int default past 2^53 is kept as its decimal string; as a float it is a number.
  const big = evolveSchema(BASE, { fields: [...BASE_FIELDS, { name: 'qty2', type: 'int', default: '9007199254740993' }] }, NOW);
  const bigFloat = evolveSchema(big, { fields: [...BASE_FIELDS, { name: 'qty2', type: 'float' }] }, NOW);
  assert.equal(compileRenderer(bigFloat, BASE)(v1Record)['qty2'], 9007199254740992);
  // The Parquet export of the widened table takes the old record (a number in a decimal column threw).
  const column = parquetExportPlan(toDecimal, false).columns.find((c) => c.name === 'qty2');
  assert.deepEqual(column?.take({ id: 1n, fields: asDecimal, ingestedAtMs: NOW }), Buffer.from('5'));
});
