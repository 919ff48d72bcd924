import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENTS_TABLE, parseTableDef, TABLE_DEF_DEFAULTS, TABLE_NAME_RE } from '../../../src/core/schema/parse-table-def.ts';
import { compileSchema } from '../../../src/core/schema/compile-schema.ts';
import { SluiceError } from '../../../src/core/errors.ts';

const NOW = 1_700_000_000_000;

const PAYMENTS = {
  name: 'payments',
  shardKey: 'account_id',
  timeField: 'ts',
  primaryKey: 'txn_id',
  replicationFactor: 3,
  fields: [
    { name: 'account_id', type: 'string', required: true },
    { name: 'txn_id', type: 'string', required: true },
    { name: 'amount', type: 'decimal', required: true },
    { name: 'ts', type: 'timestamp', required: true },
    { name: 'memo', type: 'string' },
  ],
};

/** The paths of the problems `input` is refused with. */
function problemPaths(input: unknown): string[] {
  try {
    parseTableDef(input, NOW);
  } catch (err) {
    assert.ok(err instanceof SluiceError, String(err));
    assert.equal(err.code, 'INVALID_TABLE_DEFINITION');
    assert.equal(err.status, 400);
    assert.ok(err.details.length > 0);
    for (const d of err.details) assert.equal(typeof d.message, 'string');
    return err.details.map((d) => d.path ?? '?');
  }
  return assert.fail(`accepted ${JSON.stringify(input)}`);
}

function withFields(fields: unknown[], top: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, ...fields], ...top };
}

test('the DESIGN example normalizes to version 1 with ids in order', () => {
  assert.deepEqual(parseTableDef(PAYMENTS, NOW), {
    name: 'payments',
    fields: [
      { id: 1, name: 'account_id', type: 'string', required: true },
      { id: 2, name: 'txn_id', type: 'string', required: true },
      { id: 3, name: 'amount', type: 'decimal', required: true },
      { id: 4, name: 'ts', type: 'timestamp', required: true },
      { id: 5, name: 'memo', type: 'string', required: false },
    ],
    shardKey: 'account_id',
    timeField: 'ts',
    primaryKey: 'txn_id',
    replicationFactor: 3,
    extraFields: 'reject',
    version: 1,
    lastFieldId: 5,
  });
});

test('defaults: replicationFactor 1, extraFields reject, optional fields', () => {
  const def = parseTableDef({ name: 'logs', shardKey: 'host', fields: [{ name: 'host', type: 'string', required: true }, { name: 'msg', type: 'string' }] }, NOW);
  assert.equal(def.replicationFactor, 1);
  assert.equal(def.extraFields, 'reject');
  assert.equal(def.fields[1]?.required, false);
  assert.equal(def.timeField, undefined);
  assert.equal(def.primaryKey, undefined);
  assert.equal(parseTableDef({ ...PAYMENTS, extraFields: 'keep' }, NOW).extraFields, 'keep');
});

test('aliases get an expiry of now + aliasTtlMs (7 days unless told)', () => {
  const input = withFields([{ name: 'cents', type: 'int', aliases: ['amount_cents'] }]);
  assert.deepEqual(parseTableDef(input, NOW).fields[1]?.aliases, [{ name: 'amount_cents', expiresAtMs: NOW + 7 * 24 * 3600 * 1000 }]);
  assert.equal(TABLE_DEF_DEFAULTS.aliasTtlMs, 604_800_000);
  assert.deepEqual(parseTableDef(input, NOW, { aliasTtlMs: 5 }).fields[1]?.aliases, [{ name: 'amount_cents', expiresAtMs: NOW + 5 }]);
});

test('defaults are normalized through the field validator', () => {
  const def = parseTableDef(
    withFields([
      { name: 'ts', type: 'timestamp', default: '2024-01-01T01:00:00+01:00' },
      { name: 'amount', type: 'decimal', default: '+007.50' },
      { name: 'n', type: 'int', default: '42' },
      { name: 'big', type: 'int', default: '9223372036854775807' },
      { name: 'raw', type: 'bytes', default: 'AQI=' },
      { name: 'meta', type: 'json', default: { a: [1] } },
      { name: 'opt', type: 'string', default: null },
    ]),
    NOW,
  );
  assert.deepEqual(
    def.fields.slice(1).map((f) => f.default),
    [Date.UTC(2024, 0, 1), '7.50', 42, '9223372036854775807', 'AQI=', { a: [1] }, undefined],
  );
  assert.ok(!('default' in (def.fields[7] ?? {})), 'a null default on an optional field means no default');
});

test('table name rules', () => {
  assert.ok(TABLE_NAME_RE.test('a'));
  assert.ok(TABLE_NAME_RE.test(`a${'b'.repeat(62)}`));
  for (const name of ['', '1abc', '_abc', 'a-b', 'a b', 'é', `a${'b'.repeat(63)}`, 5, null]) {
    assert.deepEqual(problemPaths({ ...PAYMENTS, name }), ['/name'], String(name));
  }
});

test('field name rules, reserved names and duplicates', () => {
  for (const name of ['', '1a', 'a-b', 'a.b', `a${'b'.repeat(63)}`, 7]) {
    assert.deepEqual(problemPaths(withFields([{ name, type: 'int' }])), ['/fields/1/name'], String(name));
  }
  for (const name of ['_id', '_ingested_at', '_x', '__proto__']) {
    assert.deepEqual(problemPaths(withFields([{ name, type: 'int' }])), ['/fields/1/name'], name);
  }
  assert.deepEqual(problemPaths(withFields([{ name: 'k', type: 'int' }])), ['/fields/1/name']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int' }, { name: 'b', type: 'int', aliases: ['a'] }])), ['/fields/2/aliases/0']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', aliases: ['x'] }, { name: 'x', type: 'int' }])), ['/fields/2/name']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', aliases: ['a'] }])), ['/fields/1/aliases/0']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', aliases: ['_a', 3] }])), ['/fields/1/aliases/0', '/fields/1/aliases/1']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', aliases: 'old' }])), ['/fields/1/aliases']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', aliases: [{ name: 'old', expiresAtMs: 1 }] }])), ['/fields/1/aliases/0']);
});

test('field shape: type, required, default, unknown properties, bounds', () => {
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'integer' }])), ['/fields/1/type']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a' }])), ['/fields/1/type']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', required: 'yes' }])), ['/fields/1/required']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', nullable: true }])), ['/fields/1/nullable']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', id: 9 }])), ['/fields/1/id']);
  assert.deepEqual(problemPaths(withFields(['a'])), ['/fields/1']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', default: 1.5 }])), ['/fields/1/default']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'decimal', default: 12.5 }])), ['/fields/1/default']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'timestamp', default: '2024-02-30' }])), ['/fields/1/default']);
  assert.deepEqual(problemPaths(withFields([{ name: 'a', type: 'int', required: true, default: null }])), ['/fields/1/default']);
  let deep: unknown = 1;
  for (let i = 0; i < 33; i++) deep = [deep];
  assert.equal(problemPaths(withFields([{ name: 'a', type: 'json', default: deep }]))[0], `/fields/1/default${'/0'.repeat(32)}`);
  assert.deepEqual(problemPaths({ ...PAYMENTS, fields: [] }), ['/fields']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, fields: undefined }), ['/fields']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, fields: {} }), ['/fields']);
  const many = Array.from({ length: 1024 }, (_, i) => ({ name: `f${i}`, type: 'int' }));
  assert.equal(parseTableDef({ name: 't', shardKey: 'f0', fields: [{ name: 'f0', type: 'string', required: true }, ...many.slice(1)] }, NOW).fields.length, 1024);
  assert.deepEqual(problemPaths({ name: 't', shardKey: 'f0', fields: [...many, { name: 'x', type: 'int' }] }), ['/fields']);
});

test('shardKey and primaryKey: an existing, required field of a key type', () => {
  assert.deepEqual(problemPaths({ ...PAYMENTS, shardKey: undefined }), ['/shardKey']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, shardKey: 'nope' }), ['/shardKey']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, shardKey: 'memo' }), ['/shardKey'], 'optional');
  for (const type of ['float', 'json', 'bytes']) {
    assert.deepEqual(problemPaths(withFields([{ name: 'x', type, required: true }], { shardKey: 'x' })), ['/shardKey'], type);
    assert.deepEqual(problemPaths(withFields([{ name: 'x', type, required: true }], { primaryKey: 'x' })), ['/primaryKey'], type);
  }
  for (const type of ['string', 'int', 'decimal', 'timestamp', 'bool']) {
    assert.equal(parseTableDef(withFields([{ name: 'x', type, required: true }], { shardKey: 'x', primaryKey: 'x' }), NOW).shardKey, 'x');
  }
  assert.deepEqual(problemPaths({ ...PAYMENTS, primaryKey: 'memo' }), ['/primaryKey']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, primaryKey: 'nope' }), ['/primaryKey']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, primaryKey: 3 }), ['/primaryKey']);
});

test('timeField must be a timestamp field', () => {
  assert.deepEqual(problemPaths({ ...PAYMENTS, timeField: 'amount' }), ['/timeField']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, timeField: 'when' }), ['/timeField']);
  assert.equal(parseTableDef({ ...PAYMENTS, timeField: 'ts' }, NOW).timeField, 'ts');
});

test('top level: object only, no unknown keys, replicationFactor and extraFields bounded', () => {
  for (const input of [null, [], 'payments', 3]) assert.deepEqual(problemPaths(input), ['']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, version: 1 }), ['/version']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, shard_key: 'x' }), ['/shard_key']);
  for (const rf of [0, -1, 1.5, 8, '3', null]) assert.deepEqual(problemPaths({ ...PAYMENTS, replicationFactor: rf }), ['/replicationFactor'], String(rf));
  assert.equal(parseTableDef({ ...PAYMENTS, replicationFactor: 5 }, NOW, { replicationFactorMax: 5 }).replicationFactor, 5);
  assert.deepEqual(problemPaths({ ...PAYMENTS, extraFields: 'drop' }), ['/extraFields']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, extraFields: null }), ['/extraFields']);
  assert.deepEqual(problemPaths({ ...PAYMENTS, timeField: null }), ['/timeField']);
});

test('every problem is reported at once', () => {
  const paths = problemPaths({
    name: '9',
    shardKey: 'f',
    timeField: 'f',
    extra: 1,
    fields: [
      { name: 'f', type: 'float', required: true },
      { name: 'f', type: 'int' },
      { name: 'g', type: 'money' },
    ],
  });
  assert.deepEqual(paths.sort(), ['/extra', '/fields/1/name', '/fields/2/type', '/name', '/shardKey', '/timeField'].sort());
});

test('EVENTS_TABLE: trace_id shard key, extra fields kept, frozen', () => {
  assert.equal(EVENTS_TABLE.name, 'events');
  assert.equal(EVENTS_TABLE.shardKey, 'trace_id');
  assert.equal(EVENTS_TABLE.extraFields, 'keep');
  assert.equal(EVENTS_TABLE.timeField, undefined);
  assert.deepEqual(EVENTS_TABLE.fields, [{ id: 1, name: 'trace_id', type: 'string', required: true }]);
  assert.ok(Object.isFrozen(EVENTS_TABLE) && Object.isFrozen(EVENTS_TABLE.fields[0]));
  // The same definition passes the user-facing checks.
  const { version: _v, lastFieldId: _l, fields, ...top } = EVENTS_TABLE;
  const reparsed = parseTableDef({ ...top, fields: fields.map(({ id: _id, ...f }) => f) }, NOW);
  assert.deepEqual(reparsed, { ...EVENTS_TABLE });
  assert.ok(compileSchema(EVENTS_TABLE).normalize({ trace_id: 'x', a: 1 }, NOW).ok);
});
