import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';

test('fields round-trip: strings, numbers, int64 beyond 2^53, bytes, null, json', () => {
  const values = ['a', 1.5, -7, 2n ** 62n, Buffer.from([1, 2, 3]), null, true, { a: [1, { b: 'c' }] }];
  const back = decodeFields(encodeFields(values));
  assert.deepEqual(back.slice(0, 3), ['a', 1.5, -7]);
  assert.equal(back[3], 2n ** 62n);
  assert.deepEqual(Buffer.from(back[4] as Uint8Array), Buffer.from([1, 2, 3]));
  assert.deepEqual(back.slice(5), [null, true, { a: [1, { b: 'c' }] }]);
});

test('a json object with its own "constructor" and "toJSON" keys is data, not a hook (it used to throw)', () => {
  for (const text of ['{"constructor":1,"toJSON":1}', '{"constructor":{},"toJSON":"x","k":[1]}', '{"toJSON":1}']) {
    const value = JSON.parse(text) as unknown;
    assert.deepEqual(decodeFields(encodeFields([value])), [value], text);
  }
});
