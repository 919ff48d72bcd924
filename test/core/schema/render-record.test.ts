import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRenderer } from '../../../src/core/schema/render-record.ts';
import { compileSchema } from '../../../src/core/schema/compile-schema.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { evolveSchema } from '../../../src/core/schema/evolve-schema.ts';
import type { TableDef } from '../../../src/core/schema/table-def.ts';

const NOW = 1_700_000_000_000;

const V1 = parseTableDef(
  {
    name: 'payments',
    shardKey: 'account_id',
    fields: [
      { name: 'account_id', type: 'string', required: true },
      { name: 'amount_cents', type: 'int', required: true },
      { name: 'price', type: 'decimal' },
      { name: 'ts', type: 'timestamp' },
      { name: 'raw', type: 'bytes' },
      { name: 'meta', type: 'json' },
      { name: 'ok', type: 'bool' },
      { name: 'ratio', type: 'float' },
    ],
  },
  NOW,
);

test('same version: JSON-ready values', () => {
  const render = compileRenderer(V1, V1);
  const r = compileSchema(V1).normalize(
    { account_id: 'a', amount_cents: '9223372036854775807', price: '012.50', ts: '2024-05-01T12:00:00Z', raw: 'AQI=', meta: { x: [1] }, ok: true, ratio: 0.5 },
    NOW,
  );
  assert.ok(r.ok);
  const out = render(r.values);
  assert.deepEqual(out, { account_id: 'a', amount_cents: '9223372036854775807', price: '12.50', ts: Date.UTC(2024, 4, 1, 12), raw: 'AQI=', meta: { x: [1] }, ok: true, ratio: 0.5 });
  assert.deepEqual(Object.keys(out), V1.fields.map((f) => f.name), 'keys in field order');
  // Nulls stay null; a safe int stays a number even if a decoder hands back a bigint.
  assert.deepEqual(render(['a', 5n, null, null, null, null, null, null]), { account_id: 'a', amount_cents: 5, price: null, ts: null, raw: null, meta: null, ok: null, ratio: null });
  assert.equal(render(['a', -9007199254740993n, null, null, new Uint8Array([255]), null, null, null]).amount_cents, '-9007199254740993');
  assert.equal(render(['a', 1, null, null, new Uint8Array([255]), null, null, null]).raw, '/w==');
});

test('renamed field shows its new name; added field its initial default or null; removed field is gone', () => {
  const v2 = evolveSchema(
    V1,
    {
      fields: [
        { name: 'account_id', type: 'string', required: true },
        { name: 'cents', type: 'int', required: true, aliases: ['amount_cents'] },
        { name: 'price', type: 'decimal' },
        { name: 'ts', type: 'timestamp' },
        { name: 'raw', type: 'bytes' },
        { name: 'ok', type: 'bool' },
        { name: 'ratio', type: 'float' },
        { name: 'currency', type: 'string', required: true, default: 'EUR' },
        { name: 'note', type: 'string' },
        { name: 'tags', type: 'json', default: { t: [] } },
      ],
    },
    NOW,
  );
  const oldValues = ['a', 7, '1.5', 0, null, { m: 1 }, false, 1.25];
  const render = compileRenderer(v2, V1);
  const out = render(oldValues);
  assert.deepEqual(out, { account_id: 'a', cents: 7, price: '1.5', ts: 0, raw: null, ok: false, ratio: 1.25, currency: 'EUR', note: null, tags: { t: [] } });
  assert.ok(!('meta' in out) && !('amount_cents' in out));
  // A json default object is not shared between rendered records.
  (out.tags as { t: unknown[] }).t.push(1);
  assert.deepEqual(render(oldValues).tags, { t: [] });
  // Changing the default later does not rewrite how old records read.
  const v3 = evolveSchema(v2, { fields: v2.fields.map((f) => (f.name === 'currency' ? { name: 'currency', type: 'string', required: true, default: 'USD' } : { name: f.name, type: f.type, required: f.required, ...(f.default !== undefined ? { default: f.default } : {}), ...(f.aliases ? { aliases: f.aliases.map((a) => a.name) } : {}) })) }, NOW);
  assert.equal(v3.version, 3);
  assert.equal(compileRenderer(v3, V1)(oldValues).currency, 'EUR');
  // A record written under v2 renders under v2 with v2's values, positions included.
  const r = compileSchema(v2).normalize({ account_id: 'b', amount_cents: 3 }, NOW);
  assert.ok(r.ok);
  assert.deepEqual(compileRenderer(v2, v2)(r.values), { account_id: 'b', cents: 3, price: null, ts: null, raw: null, ok: null, ratio: null, currency: 'EUR', note: null, tags: { t: [] } });
});

test('widened int fields read as the new type', () => {
  const base = parseTableDef({ name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'a', type: 'int' }, { name: 'b', type: 'int' }] }, NOW);
  const wide = evolveSchema(base, { fields: [{ name: 'k', type: 'string', required: true }, { name: 'a', type: 'float' }, { name: 'b', type: 'decimal' }] }, NOW);
  const render = compileRenderer(wide, base);
  assert.deepEqual(render(['x', 5, -9223372036854775808n]), { k: 'x', a: 5, b: '-9223372036854775808' });
  assert.deepEqual(render(['x', 2n ** 60n, null]), { k: 'x', a: 2 ** 60, b: null });
});

test('kept extra fields merge in after declared ones; declared fields win', () => {
  const keep: TableDef = parseTableDef({ name: 't', shardKey: 'k', extraFields: 'keep', fields: [{ name: 'k', type: 'string', required: true }] }, NOW);
  const added = evolveSchema(keep, { fields: [{ name: 'k', type: 'string', required: true }, { name: 'user', type: 'string' }] }, NOW);
  const values = ['x', { user: 'from-extras', level: 'info', constructor: 1 }];
  assert.deepEqual(compileRenderer(keep, keep)(values), { k: 'x', user: 'from-extras', level: 'info', constructor: 1 });
  // A field declared later takes the extra of its name (decision 57), shown once.
  assert.deepEqual(compileRenderer(added, keep)(values), { k: 'x', user: 'from-extras', level: 'info', constructor: 1 });
  assert.deepEqual(compileRenderer(keep, keep)(['x', null]), { k: 'x' });
  const poisoned = compileRenderer(keep, keep)(['x', JSON.parse('{"__proto__":{"evil":1}}')]);
  assert.equal(Object.getPrototypeOf(poisoned), Object.prototype);
});

test('refuses pairs no schema change can produce', () => {
  const other = parseTableDef({ name: 'other', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, NOW);
  assert.throws(() => compileRenderer(other, V1));
  const bad: TableDef = { ...V1, fields: V1.fields.map((f) => (f.name === 'ts' ? { ...f, type: 'string' } : f)) };
  assert.throws(() => compileRenderer(bad, V1), /no conversion from timestamp to string/);
});

test('a value kept as an extra reads back under a later version that declares its field (a write through a node behind on the schema)', () => {
  const v1 = parseTableDef({ name: 't', shardKey: 'k', extraFields: 'keep', fields: [{ name: 'k', type: 'string', required: true }] }, NOW);
  const v2 = evolveSchema(v1, { fields: [{ name: 'k', type: 'string', required: true }, { name: 'note', type: 'string' }, { name: 'at', type: 'timestamp' }, { name: 'n', type: 'int' }] }, NOW);
  const render = compileRenderer(v2, v1);
  // Typed as the declared field (a timestamp as epoch ms), shown once; a value the field's type refuses stays hidden, as before.
  assert.deepEqual(render(['a', { note: 'x', at: '2026-01-01T00:00:00Z', n: 'not a number', other: 1 }]), { k: 'a', note: 'x', at: Date.parse('2026-01-01T00:00:00Z'), n: null, other: 1 });
  assert.deepEqual(render(['b', null]), { k: 'b', note: null, at: null, n: null });
});
