/**
 * The canonical string of a normalized shard-key or primary-key value: what
 * routing hashes and what dedupe compares. Two inputs that mean the same key
 * must give the same string, so decimals drop trailing fraction zeros here
 * ("12.50" and "12.5" are one key) even though the stored value keeps its
 * scale.
 */
import assert from 'node:assert/strict';
import type { FieldType } from './table-def.ts';

/** Canonical key string of a normalized key value of `type` (string, int, decimal, timestamp, bool). */
export function keyString(value: unknown, type: FieldType): string {
  switch (type) {
    case 'string':
      assert(typeof value === 'string', 'string key must be a string');
      return value;
    case 'int':
    case 'timestamp':
      // A normalized int is a number only when safe and a bigint only when not, so one value has one spelling.
      assert(typeof value === 'number' || typeof value === 'bigint', `${type} key must be a number or bigint`);
      return String(value);
    case 'decimal': {
      assert(typeof value === 'string', 'decimal key must be a canonical decimal string');
      if (!value.includes('.')) return value;
      let end = value.length;
      while (value.charCodeAt(end - 1) === 48 /* 0 */) end--;
      if (value.charCodeAt(end - 1) === 46 /* . */) end--;
      const text = value.slice(0, end);
      return text === '-0' ? '0' : text;
    }
    case 'bool':
      assert(typeof value === 'boolean', 'bool key must be a boolean');
      return value ? 'true' : 'false';
    default:
      assert.fail(`a ${type} field cannot be a key`);
  }
}
