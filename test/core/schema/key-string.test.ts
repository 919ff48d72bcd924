import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyString } from '../../../src/core/schema/key-string.ts';
import type { FieldType } from '../../../src/core/schema/table-def.ts';

test('canonical key strings', () => {
  const cases: [unknown, FieldType, string][] = [
    ['acct-1', 'string', 'acct-1'],
    ['', 'string', ''],
    [42, 'int', '42'],
    [-7, 'int', '-7'],
    [9223372036854775807n, 'int', '9223372036854775807'],
    [-9223372036854775808n, 'int', '-9223372036854775808'],
    [1714557600123, 'timestamp', '1714557600123'],
    [-1, 'timestamp', '-1'],
    ['12.50', 'decimal', '12.5'],
    ['12.5', 'decimal', '12.5'],
    ['1.000', 'decimal', '1'],
    ['100', 'decimal', '100'],
    ['0.00', 'decimal', '0'],
    ['-0.50', 'decimal', '-0.5'],
    ['-3.0', 'decimal', '-3'],
    [true, 'bool', 'true'],
    [false, 'bool', 'false'],
  ];
  for (const [value, type, expected] of cases) assert.equal(keyString(value, type), expected, `${type} ${String(value)}`);
});

test('non-key types and wrong values are programmer errors', () => {
  for (const type of ['float', 'json', 'bytes'] as const) assert.throws(() => keyString(1, type), assert.AssertionError);
  assert.throws(() => keyString(null, 'string'), assert.AssertionError);
  assert.throws(() => keyString('1', 'int'), assert.AssertionError);
});
