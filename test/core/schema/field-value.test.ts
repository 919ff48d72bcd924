import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fieldValueToJson,
  intToJson,
  isJsonWithin,
  isPlainDecimal,
  normalizeDecimal,
  normalizeFieldValue,
  normalizeInt,
  ValueProblem,
} from '../../../src/core/schema/field-value.ts';
import { FIELD_TYPES } from '../../../src/core/schema/table-def.ts';
import { prng } from '../../support/prng.ts';

const LIMITS = { stringBytesMax: 1024, jsonDepthMax: 3 };

test('problems carry a code and a message; values are returned as is', () => {
  const p = normalizeInt(1.5);
  assert.ok(p instanceof ValueProblem);
  assert.equal(p.code, 'TYPE');
  assert.equal(p.subPath, '');
  assert.equal(normalizeInt('-9223372036854775808'), -9223372036854775808n);
  assert.equal(normalizeDecimal('1.50'), '1.50');
});

test('a decimal already canonical is returned without copying', () => {
  const text = '123.4500';
  assert.equal(normalizeDecimal(text), text);
});

test('isJsonWithin counts containers: {} is depth 1', () => {
  assert.equal(isJsonWithin(1, 0, 0), true);
  assert.equal(isJsonWithin({}, 0, 0), false);
  assert.equal(isJsonWithin({}, 0, 1), true);
  assert.equal(isJsonWithin({ a: [] }, 0, 1), false);
  assert.equal(isJsonWithin({ a: [] }, 0, 2), true);
  assert.equal(isJsonWithin(undefined, 0, 5), false);
  assert.equal(isJsonWithin(() => 1, 0, 5), false);
  assert.equal(isJsonWithin(Symbol('s'), 0, 5), false);
  assert.equal(isJsonWithin(Number.POSITIVE_INFINITY, 0, 5), false);
});

test('fieldValueToJson inverts normalization for every type', () => {
  const samples: Record<string, unknown[]> = {
    string: ['', 'a'],
    int: [0, -5, '9223372036854775807', '-9007199254740993'],
    float: [1.5, -0.25],
    bool: [true, false],
    timestamp: [0, 1714557600123],
    decimal: ['12.50', '-0.5', '7'],
    bytes: ['', 'AQI=', '/w=='],
    json: [{ a: [1, 'x', null] }, 'x', 3],
  };
  for (const type of FIELD_TYPES) {
    for (const input of samples[type] ?? []) {
      const normalized = normalizeFieldValue(type, input, LIMITS);
      assert.ok(!(normalized instanceof ValueProblem), `${type} ${String(input)}`);
      assert.deepEqual(fieldValueToJson(type, normalized), input, `${type} ${String(input)}`);
    }
  }
  assert.equal(fieldValueToJson('int', null), null);
  assert.equal(intToJson(5n), 5);
  assert.equal(intToJson(9007199254740992n), '9007199254740992');
});

test('isPlainDecimal says true only for texts normalizeDecimal returns unchanged', () => {
  const fixed = ['0', '0.0', '0.50', '00', '01', '0.', '.5', '5.', '1.2.3', '-1', '+1', '-0', '12.50', '7', '1e5', '', '9'.repeat(38), '9'.repeat(39), `${'9'.repeat(37)}.9`, '1 ', ' 1', '١٢'];
  for (const t of fixed) if (isPlainDecimal(t)) assert.equal(normalizeDecimal(t), t, t);
  assert.ok(isPlainDecimal('12.50') && isPlainDecimal('0') && isPlainDecimal('0.007') && isPlainDecimal('1000'));
  assert.ok(!isPlainDecimal('-1') && !isPlainDecimal('01') && !isPlainDecimal('1.') && !isPlainDecimal('.1') && !isPlainDecimal('1..2'));
  const r = prng(38);
  const chars = '0000111999..-+e ';
  for (let i = 0; i < 20_000; i++) {
    let t = '';
    const n = Math.floor(r() * 8);
    for (let k = 0; k < n; k++) t += chars[Math.floor(r() * chars.length)];
    if (isPlainDecimal(t)) assert.equal(normalizeDecimal(t), t, JSON.stringify(t));
  }
});
