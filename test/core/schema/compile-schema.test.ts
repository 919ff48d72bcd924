import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchema, type CompileSchemaOptions, type CompiledSchema, type NormalizeResult } from '../../../src/core/schema/compile-schema.ts';
import { EVENTS_TABLE, parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { compileRenderer } from '../../../src/core/schema/render-record.ts';
import { normalizeFieldValue, ValueProblem } from '../../../src/core/schema/field-value.ts';
import { FIELD_TYPES, type FieldType, type JsonValue } from '../../../src/core/schema/table-def.ts';
import { prng } from '../../support/prng.ts';

/** A table with a string shard key `k` and one field `v` under test. */
function oneField(type: FieldType, field: Record<string, unknown> = {}, options: CompileSchemaOptions = {}, extraFields = 'reject'): CompiledSchema {
  const def = parseTableDef({ name: 't', shardKey: 'k', extraFields, fields: [{ name: 'k', type: 'string', required: true }, { name: 'v', type, ...field }] }, 0);
  return compileSchema(def, options);
}

function valueOf(r: NormalizeResult, index = 1): unknown {
  assert.ok(r.ok, `expected ok, got ${JSON.stringify(r.ok ? null : r.errors)}`);
  return r.values[index];
}

function codesOf(r: NormalizeResult): string[] {
  assert.ok(!r.ok, `expected violations, got values ${String(r.ok && r.values)}`);
  return r.errors.map((e) => `${e.path} ${e.code}`);
}

type Case = [input: unknown, expected: unknown] | [input: unknown, expected: { code: string }];

function runCases(type: FieldType, cases: readonly Case[], options: CompileSchemaOptions = {}): void {
  const s = oneField(type, {}, options);
  for (const [input, expected] of cases) {
    const r = s.normalize({ k: 'x', v: input }, 0);
    const label = `${type} ${typeof input === 'bigint' ? input : JSON.stringify(input)}`;
    if (typeof expected === 'object' && expected !== null && 'code' in expected && !Buffer.isBuffer(expected)) {
      assert.deepEqual(codesOf(r), [`/v ${expected.code}`], label);
    } else {
      const got = valueOf(r);
      assert.ok(Object.is(got, expected) || (Buffer.isBuffer(expected) && Buffer.isBuffer(got) && expected.equals(got)), `${label}: got ${String(got)}`);
    }
  }
}

test('int: safe numbers, decimal strings, int64 bounds', () => {
  runCases('int', [
    [0, 0],
    [-0, 0],
    [42, 42],
    [-42, -42],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    [Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
    ['42', 42],
    ['-0', 0],
    ['000000000000000000000000042', 42],
    ['9007199254740991', 9007199254740991],
    ['9007199254740993', 9007199254740993n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    ['9223372036854775808', { code: 'RANGE' }],
    ['-9223372036854775809', { code: 'RANGE' }],
    ['99999999999999999999999999', { code: 'RANGE' }],
    [2 ** 53, { code: 'RANGE' }],
    [JSON.parse('9007199254740993'), { code: 'RANGE' }], // JSON.parse already lost the last digit
    [2 ** 63, { code: 'RANGE' }],
    [-(2 ** 63), { code: 'RANGE' }],
    [1e300, { code: 'RANGE' }],
    [1.5, { code: 'TYPE' }],
    [-0.1, { code: 'TYPE' }],
    ['1.0', { code: 'FORMAT' }],
    ['', { code: 'FORMAT' }],
    ['+1', { code: 'FORMAT' }],
    [' 1', { code: 'FORMAT' }],
    ['1e3', { code: 'FORMAT' }],
    ['0x10', { code: 'FORMAT' }],
    [true, { code: 'TYPE' }],
    [[1], { code: 'TYPE' }],
    [{}, { code: 'TYPE' }],
  ]);
});

test('int: a number beyond the safe range says to send a string', () => {
  const r = oneField('int').normalize(JSON.parse('{"k":"x","v":9223372036854775807}'), 0);
  assert.ok(!r.ok);
  assert.match(r.errors[0]?.message ?? '', /decimal string/);
});

test('float', () => {
  runCases('float', [
    [1.5, 1.5],
    [0, 0],
    [-0, -0],
    [42, 42],
    [1e308, 1e308],
    [-2.5e-300, -2.5e-300],
    [Number.NaN, { code: 'RANGE' }],
    [Number.POSITIVE_INFINITY, { code: 'RANGE' }],
    ['1.5', { code: 'TYPE' }],
    [true, { code: 'TYPE' }],
  ]);
});

test('bool', () => {
  runCases('bool', [
    [true, true],
    [false, false],
    ['true', { code: 'TYPE' }],
    [0, { code: 'TYPE' }],
    [[], { code: 'TYPE' }],
  ]);
});

test('string: type, UTF-8 byte bound, well-formed Unicode', () => {
  runCases(
    'string',
    [
      ['', ''],
      ['héllo', 'héllo'],
      ['1234567890', '1234567890'],
      ['ééééé', 'ééééé'], // 10 UTF-8 bytes
      ['12345678901', { code: 'TOO_LONG' }],
      ['éééééé', { code: 'TOO_LONG' }], // 6 chars, 12 bytes
      ['😀😀', '😀😀'], // 8 bytes
      ['😀😀😀', { code: 'TOO_LONG' }], // 12 bytes
      ['\ud800', { code: 'FORMAT' }],
      ['a\udc00b', { code: 'FORMAT' }],
      [5, { code: 'TYPE' }],
      [{}, { code: 'TYPE' }],
    ],
    { stringBytesMax: 10 },
  );
  // The default bound is 1 MiB.
  runCases('string', [
    ['x'.repeat(1024 * 1024), 'x'.repeat(1024 * 1024)],
    ['x'.repeat(1024 * 1024 + 1), { code: 'TOO_LONG' }],
  ]);
});

test('timestamp: ISO-8601 with a zone, or integer epoch ms', () => {
  const noon = Date.UTC(2024, 4, 1, 12);
  runCases('timestamp', [
    ['2024-05-01T12:00:00Z', noon],
    ['2024-05-01T14:00:00.250+02:00', noon + 250],
    ['2024-05-01T07:00:00-0500', noon],
    ['2024-05-01T12:00:00.123456Z', noon + 123],
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    [noon, noon],
    [0, 0],
    [-1, -1],
    [-0, 0],
    [8.64e15, 8.64e15],
    [-8.64e15, -8.64e15],
    [8.64e15 + 1, { code: 'RANGE' }],
    [2 ** 60, { code: 'RANGE' }],
    [noon + 0.5, { code: 'TYPE' }],
    ['2024-02-30T00:00:00Z', { code: 'FORMAT' }],
    ['2023-02-29T00:00:00Z', { code: 'FORMAT' }],
    ['2024-05-01T12:00:00', { code: 'FORMAT' }],
    ['1714557600123', { code: 'FORMAT' }],
    ['', { code: 'FORMAT' }],
    [true, { code: 'TYPE' }],
    [{}, { code: 'TYPE' }],
  ]);
  const r = oneField('timestamp').normalize({ k: 'x', v: '2024-05-01T12:00:00' }, 0);
  assert.ok(!r.ok);
  assert.match(r.errors[0]?.message ?? '', /timezone/);
});

test('decimal: strings only, canonical, at most 38 digits', () => {
  runCases('decimal', [
    ['12.50', '12.50'],
    ['-0.50', '-0.50'],
    ['+1.5', '1.5'],
    ['007.10', '7.10'],
    ['-007', '-7'],
    ['0', '0'],
    ['-0', '0'],
    ['-0.00', '0.00'],
    ['+0', '0'],
    ['00.5', '0.5'],
    ['1'.repeat(38), '1'.repeat(38)],
    [`0.${'1'.repeat(38)}`, `0.${'1'.repeat(38)}`],
    [`${'0'.repeat(10)}${'9'.repeat(38)}`, '9'.repeat(38)], // leading zeros are not digits of precision
    [`1${'0'.repeat(18)}.${'0'.repeat(19)}`, `1${'0'.repeat(18)}.${'0'.repeat(19)}`],
    ['1'.repeat(39), { code: 'RANGE' }],
    [`1.${'0'.repeat(38)}`, { code: 'RANGE' }],
    [`0.${'1'.repeat(39)}`, { code: 'RANGE' }],
    [12.5, { code: 'TYPE' }],
    [12, { code: 'TYPE' }],
    ['1e5', { code: 'FORMAT' }],
    ['.5', { code: 'FORMAT' }],
    ['5.', { code: 'FORMAT' }],
    ['', { code: 'FORMAT' }],
    ['1,5', { code: 'FORMAT' }],
    [' 1', { code: 'FORMAT' }],
    ['NaN', { code: 'FORMAT' }],
    ['--1', { code: 'FORMAT' }],
    [true, { code: 'TYPE' }],
  ]);
  const r = oneField('decimal').normalize({ k: 'x', v: 12.5 }, 0);
  assert.ok(!r.ok);
  assert.match(r.errors[0]?.message ?? '', /JSON strings/);
});

test('bytes: strict padded base64', () => {
  runCases(
    'bytes',
    [
      ['', Buffer.alloc(0)],
      ['aGVsbG8=', Buffer.from('hello')],
      ['aGVsbA==', Buffer.from('hell')],
      ['aGVsbG8h', Buffer.from('hello!')],
      ['+/8=', Buffer.from([0xfb, 0xff])],
      ['aGVsbG8', { code: 'FORMAT' }], // unpadded
      ['aGVsbG8*', { code: 'FORMAT' }],
      ['aGVsbB==', { code: 'FORMAT' }], // non-zero padding bits
      ['aGVsbG9=', { code: 'FORMAT' }],
      ['-_8=', { code: 'FORMAT' }], // base64url
      ['aGVs bG8=', { code: 'FORMAT' }],
      ['====', { code: 'FORMAT' }],
      ['a===', { code: 'FORMAT' }],
      ['aG=v', { code: 'FORMAT' }],
      ['aGVsbG8=aGVs', { code: 'FORMAT' }],
      ['éGVs', { code: 'FORMAT' }],
      ['QUJDREVGR0hJSks=', { code: 'TOO_LONG' }],
      [5, { code: 'TYPE' }],
      [[1, 2], { code: 'TYPE' }],
    ],
    { stringBytesMax: 12 },
  );
});

function nested(depth: number, leaf: JsonValue = 1): JsonValue {
  let v: JsonValue = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v };
  return v;
}

test('json: any JSON value within the depth limit', () => {
  runCases('json', [
    [1, 1],
    [-2.5, -2.5],
    ['s', 's'],
    [false, false],
  ]);
  const s = oneField('json');
  const deep32 = nested(32);
  assert.equal(valueOf(s.normalize({ k: 'x', v: deep32 }, 0)), deep32);
  const r = s.normalize({ k: 'x', v: nested(33) }, 0);
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0]?.code, 'DEPTH');
  // The path points at the container that is one level too deep: /v then 32 steps.
  const steps = r.errors[0]?.path.split('/').slice(2) ?? [];
  assert.equal(steps.length, 32);
  assert.deepEqual(new Set(steps), new Set(['0', 'a']));
  // A smaller limit, and values no JSON text can hold (from a non-JSON decoder).
  const small = oneField('json', {}, { jsonDepthMax: 2 });
  assert.deepEqual(codesOf(small.normalize({ k: 'x', v: { a: [1, { b: 2 }] } }, 0)), ['/v/a/1 DEPTH']);
  assert.deepEqual(valueOf(small.normalize({ k: 'x', v: { a: [1, 2] } }, 0)), { a: [1, 2] });
  assert.deepEqual(codesOf(s.normalize({ k: 'x', v: { 'a/b': [Number.NaN] } }, 0)), ['/v/a~1b/0 TYPE']);
  assert.deepEqual(codesOf(s.normalize({ k: 'x', v: [undefined] }, 0)), ['/v/0 TYPE']);
  assert.deepEqual(codesOf(s.normalize({ k: 'x', v: 1n }, 0)), ['/v TYPE']);
});

test('required, default and null', () => {
  const def = parseTableDef(
    {
      name: 't',
      shardKey: 'k',
      fields: [
        { name: 'k', type: 'string', required: true },
        { name: 'req', type: 'int', required: true },
        { name: 'reqDef', type: 'int', required: true, default: '9223372036854775807' },
        { name: 'opt', type: 'string' },
        { name: 'optDef', type: 'timestamp', default: '2024-01-01T00:00:00Z' },
        { name: 'bytesDef', type: 'bytes', default: 'AQI=' },
      ],
    },
    0,
  );
  const s = compileSchema(def);
  const r = s.normalize({ k: 'a', req: 1 }, 0);
  assert.ok(r.ok);
  assert.deepEqual(r.values, ['a', 1, 9223372036854775807n, null, Date.UTC(2024, 0, 1), Buffer.from([1, 2])]);
  assert.deepEqual(codesOf(s.normalize({ k: 'a' }, 0)), ['/req REQUIRED']);
  assert.deepEqual(codesOf(s.normalize({ k: 'a', req: null }, 0)), ['/req REQUIRED']);
  assert.deepEqual(codesOf(s.normalize({ k: 'a', req: 1, reqDef: null }, 0)), ['/reqDef REQUIRED']);
  assert.deepEqual(codesOf(s.normalize({ k: null, req: 1 }, 0)), ['/k REQUIRED']);
  const explicit = s.normalize({ k: 'a', req: 1, opt: null, optDef: null }, 0);
  assert.ok(explicit.ok);
  assert.equal(explicit.values[3], null);
  assert.equal(explicit.values[4], null, 'explicit null on an optional field is stored as null, not the default');
});

test('aliases: accepted until they expire, never together with the name', () => {
  const def = parseTableDef(
    {
      name: 't',
      shardKey: 'k',
      fields: [
        { name: 'k', type: 'string', required: true },
        { name: 'cents', type: 'int', required: true, aliases: ['amount_cents', 'amt'] },
      ],
    },
    0,
    { aliasTtlMs: 1000 },
  );
  const s = compileSchema(def);
  assert.deepEqual(valueOf(s.normalize({ k: 'a', amount_cents: 5 }, 999)), 5);
  assert.deepEqual(valueOf(s.normalize({ k: 'a', amt: '7' }, 0)), 7);
  assert.deepEqual(valueOf(s.normalize({ k: 'a', cents: 6 }, 5000)), 6);
  assert.deepEqual(codesOf(s.normalize({ k: 'a', amount_cents: 5 }, 1000)), ['/amount_cents ALIAS_EXPIRED']);
  assert.deepEqual(codesOf(s.normalize({ k: 'a', cents: 1, amount_cents: 5 }, 0)), ['/amount_cents DUPLICATE_FIELD']);
  assert.deepEqual(codesOf(s.normalize({ k: 'a', amount_cents: 1, amt: 5 }, 0)), ['/amt DUPLICATE_FIELD']);
  // A bad value sent under an alias is reported under the name the client used.
  assert.deepEqual(codesOf(s.normalize({ k: 'a', amount_cents: 1.5 }, 0)), ['/amount_cents TYPE']);
  assert.deepEqual(codesOf(s.normalize({ k: 'a' }, 0)), ['/cents REQUIRED']);
});

test('unknown and system fields: reject vs keep', () => {
  const reject = oneField('int');
  assert.deepEqual(codesOf(reject.normalize({ k: 'a', v: 1, extra: 2 }, 0)), ['/extra UNKNOWN_FIELD']);
  assert.deepEqual(codesOf(reject.normalize({ k: 'a', _id: '1' }, 0)), ['/_id RESERVED_FIELD']);
  assert.deepEqual(codesOf(reject.normalize({ k: 'a', 'a/b~c': 1 }, 0)), ['/a~1b~0c UNKNOWN_FIELD']);

  const keep = oneField('int', {}, {}, 'keep');
  const r = keep.normalize({ k: 'a', v: 1, extra: { x: [1] }, more: 's' }, 0);
  assert.ok(r.ok);
  assert.deepEqual(r.values, ['a', 1, { extra: { x: [1] }, more: 's' }]);
  const none = keep.normalize({ k: 'a' }, 0);
  assert.ok(none.ok);
  assert.deepEqual(none.values, ['a', null, null]);
  assert.deepEqual(codesOf(keep.normalize({ k: 'a', _ingested_at: 1, ok: 1 }, 0)), ['/_ingested_at RESERVED_FIELD']);
  assert.deepEqual(codesOf(keep.normalize({ k: 'a', deep: nested(33) }, 0)).map((c) => c.split(' ')[1]), ['DEPTH']);
  assert.ok(keep.normalize({ k: 'a', deep: nested(32) }, 0).ok);
});

test('__proto__ and Object.prototype names cannot leak in', () => {
  const def = parseTableDef(
    { name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'constructor', type: 'string' }, { name: 'toString', type: 'int', required: true, default: 3 }] },
    0,
  );
  const s = compileSchema(def);
  const r = s.normalize({ k: 'a' }, 0);
  assert.ok(r.ok);
  assert.deepEqual(r.values, ['a', null, 3]);
  assert.deepEqual(valueOf(s.normalize({ k: 'a', constructor: 'c' }, 0)), 'c');
  const proto = JSON.parse('{"k":"a","__proto__":{"polluted":1}}') as unknown;
  assert.deepEqual(codesOf(s.normalize(proto, 0)), ['/__proto__ RESERVED_FIELD']);
  const keep = compileSchema(EVENTS_TABLE);
  assert.deepEqual(codesOf(keep.normalize(JSON.parse('{"trace_id":"a","__proto__":{"x":1}}'), 0)), ['/__proto__ RESERVED_FIELD']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('a record must be an object', () => {
  const s = oneField('int');
  for (const input of [null, [], [{ k: 'a' }], 'x', 1, true, undefined]) {
    assert.deepEqual(codesOf(s.normalize(input, 0)), [' TYPE'], JSON.stringify(input));
  }
});

test('every violation of a record is reported, in field order, bounded', () => {
  const def = parseTableDef(
    {
      name: 't',
      shardKey: 'k',
      fields: [
        { name: 'k', type: 'string', required: true },
        { name: 'amount', type: 'decimal', required: true },
        { name: 'ts', type: 'timestamp' },
        { name: 'meta', type: 'json' },
      ],
    },
    0,
  );
  const r = compileSchema(def, { jsonDepthMax: 1 }).normalize({ amount: 1.5, ts: 'nope', meta: { a: [0] }, zz: 1, _id: 2 }, 0);
  assert.deepEqual(codesOf(r), ['/k REQUIRED', '/amount TYPE', '/ts FORMAT', '/meta/a DEPTH', '/zz UNKNOWN_FIELD', '/_id RESERVED_FIELD']);
  const flood: Record<string, unknown> = { k: 'a' };
  for (let i = 0; i < 500; i++) flood[`x${i}`] = i;
  const bounded = compileSchema(def, { violationsMax: 5 }).normalize(flood, 0);
  assert.equal(codesOf(bounded).length, 5);
  assert.equal(codesOf(compileSchema(def).normalize(flood, 0)).length, 100);
});

test('event time too far ahead of the clock', () => {
  const def = parseTableDef({ name: 't', shardKey: 'k', timeField: 'ts', fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp' }, { name: 'other', type: 'timestamp' }] }, 0);
  const now = Date.UTC(2024, 0, 1);
  const s = compileSchema(def);
  const max = now + 3_600_000;
  assert.ok(s.normalize({ k: 'a', ts: now + 3_600_000, other: now + 1e10 }, now, max).ok, 'the bound itself is accepted; only the time field is checked');
  assert.deepEqual(codesOf(s.normalize({ k: 'a', ts: now + 3_600_001 }, now, max)), ['/ts EVENT_TIME_IN_FUTURE']);
  assert.deepEqual(codesOf(s.normalize({ k: 'a', ts: new Date(now + 7_200_000).toISOString() }, now, max)), ['/ts EVENT_TIME_IN_FUTURE'], 'an ISO time is checked after parsing');
  assert.ok(s.normalize({ k: 'a' }, now, max).ok, 'a missing optional time is not in the future');
  assert.ok(s.normalize({ k: 'a', ts: now - 1e12 }, now, max).ok, 'past times are not bounded');
  assert.ok(s.normalize({ k: 'a', ts: now + 1e12 }, now).ok, 'no bound given: no check');
  const msg = s.normalize({ k: 'a', ts: now + 3_600_001 }, now, max);
  assert.ok(!msg.ok && /3600000 ms ahead/.test(msg.errors[0]?.message ?? ''), 'the message names the bound');
});

test('key indexes and canonical key strings', () => {
  const def = parseTableDef(
    {
      name: 't',
      shardKey: 'acct',
      primaryKey: 'amt',
      timeField: 'ts',
      fields: [
        { name: 'ts', type: 'timestamp', required: true },
        { name: 'acct', type: 'int', required: true },
        { name: 'amt', type: 'decimal', required: true },
      ],
    },
    0,
  );
  const s = compileSchema(def);
  assert.deepEqual([s.shardKeyIndex, s.primaryKeyIndex, s.timeIndex], [1, 2, 0]);
  const r = s.normalize({ ts: 0, acct: '9223372036854775807', amt: '012.50' }, 0);
  assert.ok(r.ok);
  assert.equal(s.shardKeyOf(r.values), '9223372036854775807');
  assert.equal(s.primaryKeyOf(r.values), '12.5');
  const noPk = compileSchema(EVENTS_TABLE);
  assert.deepEqual([noPk.shardKeyIndex, noPk.primaryKeyIndex, noPk.timeIndex], [0, -1, -1]);
  assert.equal(noPk.primaryKeyOf(['x', null]), undefined);
});

test('events table: trace_id routes, everything else is kept', () => {
  const s = compileSchema(EVENTS_TABLE);
  const r = s.normalize({ trace_id: 't1', level: 'info', n: 1.5 }, 0);
  assert.ok(r.ok);
  assert.deepEqual(r.values, ['t1', { level: 'info', n: 1.5 }]);
  assert.deepEqual(codesOf(s.normalize({ level: 'info' }, 0)), ['/trace_id REQUIRED']);
});


const TRICKY_STRINGS = ['', '0', '-0', '12.50', '1e5', '9223372036854775808', '9007199254740993', '2024-05-01T12:00:00Z', '2024-02-30', 'aGVsbG8=', 'aGVsbG8', '\ud800', '__proto__', 'constructor', '-', '.', '+'];

function randomJson(rand: () => number, depth: number): unknown {
  const pick = Math.floor(rand() * (depth > 0 ? 10 : 7));
  switch (pick) {
    case 0: return null;
    case 1: return rand() < 0.5;
    case 2: return Math.floor((rand() - 0.5) * 2 ** (rand() * 70));
    case 3: return (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
    case 4: return TRICKY_STRINGS[Math.floor(rand() * TRICKY_STRINGS.length)];
    case 5: return String.fromCharCode(...Array.from({ length: Math.floor(rand() * 16) }, () => Math.floor(rand() * 0xffff)));
    case 6: return new Date(Math.floor(rand() * 4e12)).toISOString();
    case 7: return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(rand, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(rand() * 5);
      // defineProperty, like JSON.parse: an assignment to `__proto__` would set the prototype instead.
      for (let i = 0; i < n; i++) {
        Object.defineProperty(o, KEYS[Math.floor(rand() * KEYS.length)] as string, { value: randomJson(rand, depth - 1), enumerable: true, writable: true, configurable: true });
      }
      return o;
    }
  }
}
const KEYS = ['k', 'i', 'f', 'b', 'ts', 'd', 'by', 'j', 's', 'old', 'x', '_id', '__proto__', 'constructor', 'a/b'];

function fuzzDef(extraFields: string): CompiledSchema {
  const def = parseTableDef(
    {
      name: 'fz',
      shardKey: 'k',
      extraFields,
      fields: [
        { name: 'k', type: 'string', required: true },
        { name: 'i', type: 'int', aliases: ['old'] },
        { name: 'f', type: 'float' },
        { name: 'b', type: 'bool', required: true, default: false },
        { name: 'ts', type: 'timestamp' },
        { name: 'd', type: 'decimal' },
        { name: 'by', type: 'bytes' },
        { name: 'j', type: 'json' },
        { name: 's', type: 'string', default: 'dflt' },
      ],
    },
    0,
  );
  return compileSchema(def, { jsonDepthMax: 4 });
}

test('fuzz: random JSON never makes normalize throw, and accepted records round-trip through the renderer', () => {
  const rand = prng(20240501);
  for (const mode of ['reject', 'keep']) {
    const s = fuzzDef(mode);
    const render = compileRenderer(s.def, s.def);
    let accepted = 0;
    for (let n = 0; n < 30000; n++) {
      let input = randomJson(rand, 6);
      if (rand() < 0.7 && typeof input === 'object' && input !== null && !Array.isArray(input)) (input as Record<string, unknown>).k = 'key';
      if (rand() < 0.05) input = JSON.parse(JSON.stringify(input ?? null)) as unknown;
      const r = s.normalize(input, 0);
      if (!r.ok) {
        assert.ok(r.errors.length > 0 && r.errors.length <= 100);
        for (const e of r.errors) assert.ok(e.path === '' || e.path.startsWith('/'), e.path);
        continue;
      }
      accepted++;
      assert.equal(r.values.length, s.def.fields.length + (mode === 'keep' ? 1 : 0));
      // Property: rendering and normalizing again is the identity on stored values.
      const again = s.normalize(JSON.parse(JSON.stringify(render(r.values))) as unknown, 0);
      assert.ok(again.ok, JSON.stringify(again.ok ? null : again.errors));
      assert.deepEqual(again.values, r.values);
    }
    assert.ok(accepted > 1000, `only ${accepted} random records accepted: the fuzz is not exercising the ok path`);
  }
});

test('fuzz: the inlined fast paths agree with the per-type helpers', () => {
  const rand = prng(7);
  const limits = { stringBytesMax: 30, jsonDepthMax: 3 };
  const schemas = new Map(FIELD_TYPES.map((t) => [t, oneField(t, {}, limits)]));
  for (let n = 0; n < 20000; n++) {
    const v = randomJson(rand, 4);
    if (v === null) continue;
    for (const type of FIELD_TYPES) {
      const r = (schemas.get(type) as CompiledSchema).normalize({ k: 'x', v }, 0);
      const h = normalizeFieldValue(type, v, limits);
      if (h instanceof ValueProblem) {
        assert.ok(!r.ok, `${type} ${JSON.stringify(v)} refused by the helper, accepted compiled`);
        assert.equal(r.errors[0]?.code, h.code);
      } else {
        assert.ok(r.ok, `${type} ${JSON.stringify(v)} accepted by the helper, refused compiled`);
        assert.deepEqual(r.values[1], h);
      }
    }
  }
});

test('throughput of a 7-field record (measured, not asserted)', (t) => {
  const def = parseTableDef(
    {
      name: 'payments',
      shardKey: 'account_id',
      primaryKey: 'txn_id',
      timeField: 'ts',
      fields: [
        { name: 'account_id', type: 'string', required: true },
        { name: 'txn_id', type: 'string', required: true },
        { name: 'amount', type: 'decimal', required: true },
        { name: 'ts', type: 'timestamp', required: true },
        { name: 'memo', type: 'string' },
        { name: 'qty', type: 'int' },
        { name: 'settled', type: 'bool' },
      ],
    },
    0,
  );
  const s = compileSchema(def);
  const records = Array.from({ length: 50_000 }, (_, i) => JSON.parse(
    JSON.stringify({ account_id: `acct-${i % 1000}`, txn_id: `txn-${i}`, amount: `${i % 10000}.25`, ts: new Date(1714557600123 + i).toISOString(), memo: 'coffee', qty: i, settled: i % 2 === 0 }),
  ) as unknown);
  const rounds = 6;
  let ok = 0;
  let start = 0n;
  for (let round = 0; round < rounds; round++) {
    if (round === 2) start = process.hrtime.bigint(); // two warm-up rounds
    for (const r of records) if (s.normalize(r, 0).ok) ok++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  assert.equal(ok, rounds * records.length);
  t.diagnostic(`normalize: ${((records.length * (rounds - 2)) / seconds / 1e6).toFixed(2)} M records/s (7 fields, ISO timestamps, one core)`);
});
